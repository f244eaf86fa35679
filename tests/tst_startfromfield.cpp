// The run dialog's "Start from" (StartFromField): random weights or a file, what the file
// was recognized as before Start, an inline error (Start disabled) for an unreadable file or one
// that does not fit the run's model, channels or input size, the weights' normalization taken or
// offered, the fine-tuning controls, and the choice through config.json and the command line. The
// weight files are made here: .safetensors by hand (u64 header length, JSON header, raw data) and a
// torchvision resnet18 state_dict by /usr/bin/python3 (skipped without python3-torchvision). Set
// LEANTUNE_SCREENSHOT_DIR to save the dialog as PNGs.

#include "clirunner.h"
#include "guiscreenshot.h"
#include "guitestdata.h"
#include "safetensorsfixture.h"

#include "widgets/dialogs/runconfigdialog.h"
#include "widgets/dialogs/startfromfield.h"
#include "config/runfields.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using testweights::smallCnn;
using testweights::Tensor;
using testweights::writeSafetensors;

class TestStartFromField : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_resnet18; // torchvision's resnet18 state_dict (1000 classes); empty without python

    QString file(const char *name) const { return m_dir.filePath(QLatin1String(name)); }

    RunConfig base() const
    {
        RunConfig c;
        c.dataDir = m_dir.filePath(QStringLiteral("data"));
        c.outDir = m_dir.filePath(QStringLiteral("runs/new"));
        c.device = QStringLiteral("cpu");
        return c;
    }

    static StartFromField *field(RunConfigDialog &dialog)
    {
        return dialog.findChild<StartFromField *>(QStringLiteral("init"));
    }

    // The dialog once the weights of PATH were read (the inspection runs on a worker thread).
    static bool startFrom(RunConfigDialog &dialog, const QString &path)
    {
        StartFromField *f = field(dialog);
        if (!f)
            return false;
        f->setPath(path);
        const auto reading = [&dialog] {
            return dialog.errorText().startsWith(QLatin1String("reading the starting weights"));
        };
        return QTest::qWaitFor([&] { return !reading(); }, 120000);
    }

    // Saves the dialog, shown at its own size, when LEANTUNE_SCREENSHOT_DIR is set.
    static bool shot(RunConfigDialog &dialog, const char *name)
    {
        if (qEnvironmentVariableIsEmpty("LEANTUNE_SCREENSHOT_DIR"))
            return true;
        dialog.show();
        if (!QTest::qWaitForWindowExposed(&dialog))
            return false;
        QTest::qWait(200); // the layout's pending requests (a shown dialog grows to fit)
        return guitestdata::saveScreenshot(&dialog, name);
    }

    // Sets the dialog's combo box KEY to the item whose data is VALUE.
    static void choose(RunConfigDialog &dialog, const char *key, const QString &value)
    {
        auto *box = dialog.findChild<QComboBox *>(QLatin1String(key));
        QVERIFY(box);
        QVERIFY2(box->findData(value) >= 0, qPrintable(value));
        box->setCurrentIndex(box->findData(value));
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_CONFIG_HOME", file("config").toUtf8());
        qputenv("LEANTUNE_DATA_DIR", file("userdata").toUtf8());
        QVERIFY(QDir(m_dir.path()).mkpath(QStringLiteral("data")));
        QVERIFY(writeSafetensors(file("smallcnn1.safetensors"), smallCnn(1, 10)));
        QVERIFY(writeSafetensors(file("smallcnn3.safetensors"), smallCnn(3, 10)));
        QVERIFY(writeSafetensors(file("unknown.safetensors"),
            { { QStringLiteral("encoder.weight"), { 8, 1, 3, 3 } },
                { QStringLiteral("head.weight"), { 10, 8 } } }));
        QFile whole(file("smallcnn1.safetensors"));
        QVERIFY(whole.open(QIODevice::ReadOnly));
        QFile cut(file("truncated.safetensors"));
        QVERIFY(cut.open(QIODevice::WriteOnly));
        cut.write(whole.read(whole.size() / 2));
        cut.close();

        // torchvision's own resnet18 file, as users have it (1000 ImageNet classes).
        QProcess python;
        python.start(QStringLiteral("/usr/bin/python3"),
            { QStringLiteral("-c"),
                QStringLiteral(
                    "import sys, torch, torchvision; torch.manual_seed(0); "
                    "torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])"),
                file("resnet18.pth") });
        if (python.waitForFinished(180000) && python.exitCode() == 0)
            m_resnet18 = file("resnet18.pth");
        else
            qWarning("no torchvision resnet18 (python3-torchvision is needed): %s",
                python.readAllStandardError().right(300).constData());
    }

    void randomWeightsByDefault()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        StartFromField *f = field(dialog);
        QVERIFY(f);
        QVERIFY(!f->fromFile());
        QCOMPARE(f->path(), QString());
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QVERIFY(f->summaryText().contains(QLatin1String("random")));
        QCOMPARE(dialog.config().initWeights, QString());
        QVERIFY(shot(dialog, "startfrom-random"));
    }

    // A file that fits the run: what it is, before Start, and Start enabled.
    void matchingFileShowsItsSummary()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.setClassCounts({ 4, 4, 4 });
        QVERIFY(startFrom(dialog, file("smallcnn1.safetensors")));
        StartFromField *f = field(dialog);
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QVERIFY(dialog.startButton()->isEnabled());
        QVERIFY(f->info());
        QCOMPARE(f->info()->architecture, QStringLiteral("smallcnn"));
        QCOMPARE(f->info()->channels, 1);
        QCOMPARE(f->info()->classes, 10);
        const QString summary = f->summaryText();
        for (const char *part : { "safetensors", "smallcnn", "19 tensors", "1 input channel",
                 "10 classes", "classifier replaced for 3" })
            QVERIFY2(summary.contains(QLatin1String(part)), qPrintable(summary));
        // One input channel: not ImageNet's RGB statistics, so no normalization is claimed.
        QVERIFY(f->info()->normMean.empty());
        QVERIFY2(!summary.contains(QLatin1String("normalization")), qPrintable(summary));
        QCOMPARE(dialog.config().initWeights, file("smallcnn1.safetensors"));
        QVERIFY(shot(dialog, "startfrom-smallcnn"));
    }

    void mismatchIsAnInlineError_data()
    {
        QTest::addColumn<QString>("weights");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("channels");
        QTest::addColumn<QString>("message");
        QTest::newRow("other architecture") << "smallcnn1.safetensors"
                                            << "resnet8"
                                            << "1"
                                            << "are a smallcnn, the run's model is resnet8";
        QTest::newRow("other channel count") << "smallcnn3.safetensors"
                                             << "smallcnn"
                                             << "1"
                                             << "take 3-channel input";
        QTest::newRow("no LeanTune model fits") << "unknown.safetensors"
                                                << "smallcnn"
                                                << "1"
                                                << "fit none of LeanTune's models";
        QTest::newRow("truncated") << "truncated.safetensors"
                                   << "smallcnn"
                                   << "1"
                                   << "truncated";
        QTest::newRow("missing") << "missing.pth"
                                 << "smallcnn"
                                 << "1"
                                 << "no such file";
    }

    void mismatchIsAnInlineError()
    {
        QFETCH(QString, weights);
        QFETCH(QString, model);
        QFETCH(QString, channels);
        QFETCH(QString, message);
        RunConfigDialog dialog;
        dialog.setConfig(base());
        choose(dialog, "model", model);
        choose(dialog, "channels", channels);
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QVERIFY(startFrom(dialog, m_dir.filePath(weights)));
        QVERIFY2(dialog.errorText().contains(message), qPrintable(dialog.errorText()));
        QVERIFY(!dialog.canStart());
        QVERIFY(!dialog.startButton()->isEnabled());
        if (qstrcmp(QTest::currentDataTag(), "other architecture") == 0)
            QVERIFY(shot(dialog, "startfrom-mismatch"));
        if (qstrcmp(QTest::currentDataTag(), "truncated") == 0)
            QVERIFY(shot(dialog, "startfrom-truncated"));

        // Back to random weights: the run can start again.
        field(dialog)->setPath(QString());
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
    }

    // A user's TorchScript model may take weights of any names: that is left to Start.
    void torchScriptModelIsCheckedAtStart()
    {
        RunConfigDialog dialog;
        RunConfig c = base();
        c.model.name = QStringLiteral("torchscript:") + file("mine.pt");
        dialog.setConfig(c);
        QVERIFY(startFrom(dialog, file("smallcnn1.safetensors")));
        QVERIFY2(!dialog.errorText().contains(QLatin1String("starting weights")),
            qPrintable(dialog.errorText()));
        QVERIFY2(field(dialog)->summaryText().contains(QLatin1String("checked at Start")),
            qPrintable(field(dialog)->summaryText()));
        QVERIFY(dialog.findChild<QPushButton *>(QStringLiteral("matchWeights"))->isHidden());
    }

    // "Match the run" sets the model and channels the weights were made for.
    void matchTheRunToTheWeights()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        choose(dialog, "model", QStringLiteral("resnet8"));
        QVERIFY(startFrom(dialog, file("smallcnn3.safetensors")));
        QVERIFY(!dialog.canStart());
        auto *match = dialog.findChild<QPushButton *>(QStringLiteral("matchWeights"));
        QVERIFY(match);
        QVERIFY(!match->isHidden());
        match->click();
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QCOMPARE(dialog.config().model.name, QStringLiteral("smallcnn"));
        QCOMPARE(dialog.config().model.channels, 3);
        QVERIFY(match->isHidden());
    }

    // Weights with a normalization: the run takes it when its own is at the default (and says
    // so), gives it back with random weights, and keeps its own when it has one (offering the
    // weights').
    void normalizationFollowsTheWeights()
    {
        RunConfigDialog dialog;
        RunConfig c = base();
        c.model.channels = 3;
        dialog.setConfig(c);
        QVERIFY(startFrom(dialog, file("smallcnn3.safetensors")));
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        StartFromField *f = field(dialog);
        QCOMPARE(dialog.config().normMean, (std::vector<double> { 0.485, 0.456, 0.406 }));
        QCOMPARE(dialog.config().normStd, (std::vector<double> { 0.229, 0.224, 0.225 }));
        QVERIFY2(f->normalizationNote().contains(QLatin1String("set to ImageNet's normalization")),
            qPrintable(f->normalizationNote()));
        QVERIFY(RunConfigDialog::commandLine(dialog.config())
                    .contains(QLatin1String("--norm-mean 0.485,0.456,0.406")));

        f->setPath(QString());
        QCOMPARE(dialog.config().normMean, RunConfig().normMean);
        QCOMPARE(dialog.config().normStd, RunConfig().normStd);

        c.normMean = { 0.2 };
        c.normStd = { 0.3 };
        dialog.setConfig(c);
        QVERIFY(startFrom(dialog, file("smallcnn3.safetensors")));
        QCOMPARE(dialog.config().normMean, std::vector<double> { 0.2 });
        QVERIFY2(f->normalizationNote().contains(QLatin1String("keeps its own")),
            qPrintable(f->normalizationNote()));
        auto *use = dialog.findChild<QPushButton *>(QStringLiteral("useWeightsNormalization"));
        QVERIFY(use && !use->isHidden());
        use->click();
        QCOMPARE(dialog.config().normMean, (std::vector<double> { 0.485, 0.456, 0.406 }));
        QVERIFY(use->isHidden());
    }

    // The choice survives config.json ("Run again") and the command line.
    void choiceRoundTripsThroughConfig()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        QVERIFY(startFrom(dialog, file("smallcnn1.safetensors")));
        const RunConfig chosen = dialog.config();
        QCOMPARE(chosen.initWeights, file("smallcnn1.safetensors"));
        QString error;
        const std::optional<RunConfig> read = RunConfig::fromJson(chosen.toJson(), &error);
        QVERIFY2(read, qPrintable(error));
        QCOMPARE(read->initWeights, chosen.initWeights);
        QVERIFY(RunConfigDialog::commandLine(*read).contains(
            QStringLiteral("--init ") + shellQuote(chosen.initWeights)));

        RunConfigDialog again;
        again.setConfig(*read);
        QVERIFY(field(again)->fromFile());
        QCOMPARE(field(again)->path(), chosen.initWeights);
        QVERIFY(QTest::qWaitFor([&again] { return again.canStart(); }, 120000));
        QCOMPARE(again.config().toJson(), read->toJson());

        // Random weights again: no --init.
        field(again)->setPath(QString());
        QCOMPARE(again.config().initWeights, QString());
        QVERIFY(!RunConfigDialog::commandLine(again.config()).contains(QLatin1String("--init")));
    }

    // The fine-tuning controls are in the group, bound to their fields, and enabled only when
    // starting from a file.
    void fineTuningControls()
    {
        if (!findRunField(QStringLiteral("freeze_epochs"))
            || !findRunField(QStringLiteral("backbone_lr_scale")))
            QSKIP("the field table has no freeze_epochs / backbone_lr_scale yet");
        RunConfigDialog dialog;
        RunConfig c = base();
        c.epochs = 5;
        dialog.setConfig(c);
        StartFromField *f = field(dialog);
        auto *freeze = f->findChild<QSpinBox *>(QStringLiteral("freeze_epochs"));
        auto *scale = f->findChild<QDoubleSpinBox *>(QStringLiteral("backbone_lr_scale"));
        QVERIFY(freeze && scale);
        QVERIFY(!freeze->isEnabledTo(&dialog));
        QVERIFY(startFrom(dialog, file("smallcnn1.safetensors")));
        QVERIFY(freeze->isEnabledTo(&dialog) && scale->isEnabledTo(&dialog));
        freeze->setValue(2);
        scale->setValue(0.1);
        const QString line = RunConfigDialog::commandLine(dialog.config());
        QVERIFY2(line.contains(QLatin1String("--freeze-epochs 2"))
                && line.contains(QLatin1String("--backbone-lr-scale 0.1")),
            qPrintable(line));
        freeze->setValue(9); // more than the epochs: the field's own check
        QVERIFY(!dialog.canStart());
        QVERIFY2(
            dialog.errorText().contains(QLatin1String("freeze")), qPrintable(dialog.errorText()));
    }

    // A LeanTune run folder (written by `train --init ... --epochs 0`): its model, input size,
    // classes and normalization, which a run at the default normalization takes.
    void leanTuneRunFolder()
    {
        const QString data = file("images"), run = file("runs/pretrained");
        guitestdata::writeImageFolder(data, 3, 4, 32);
        const testcli::Result r = testcli::runCli(
            { QStringLiteral("train"), QStringLiteral("--data"), data, QStringLiteral("--out"), run,
                QStringLiteral("--init"), file("smallcnn1.safetensors"), QStringLiteral("--epochs"),
                QStringLiteral("0"), QStringLiteral("--input-size"), QStringLiteral("32"),
                QStringLiteral("--norm-mean"), QStringLiteral("0.2"), QStringLiteral("--norm-std"),
                QStringLiteral("0.3"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));

        RunConfigDialog dialog;
        dialog.setConfig(base());
        QVERIFY(startFrom(dialog, run));
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        StartFromField *f = field(dialog);
        const QString summary = f->summaryText();
        for (const char *part : { "LeanTune run", "smallcnn", "1 input channel", "trained at 32 px",
                 "3 classes", "normalization mean 0.2, std 0.3" })
            QVERIFY2(summary.contains(QLatin1String(part)), qPrintable(summary));
        QCOMPARE(dialog.config().normMean, std::vector<double> { 0.2 });
        QCOMPARE(dialog.config().normStd, std::vector<double> { 0.3 });
        QVERIFY2(f->normalizationNote().contains(QLatin1String("set to the weights'")),
            qPrintable(f->normalizationNote()));
    }

    // After "Match the run", choosing the model it replaced again gives back that model's input
    // size and channels, each unless the user set it since.
    void theModelBeforeMatchComesBackWithItsSizeAndChannels()
    {
        const QString data = file("images-rgb"), run = file("runs/pretrained-rgb");
        guitestdata::writeImageFolder(data, 3, 4, 32);
        const testcli::Result r = testcli::runCli({ QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), run, QStringLiteral("--init"),
            file("smallcnn3.safetensors"), QStringLiteral("--epochs"), QStringLiteral("0"),
            QStringLiteral("--input-size"), QStringLiteral("32"), QStringLiteral("--channels"),
            QStringLiteral("3"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));

        RunConfigDialog dialog;
        RunConfig c = base();
        c.model.name = QStringLiteral("resnet8");
        c.model.inputSize = 24;
        c.model.channels = 1;
        dialog.setConfig(c);
        QVERIFY(startFrom(dialog, run));
        auto *match = dialog.findChild<QPushButton *>(QStringLiteral("matchWeights"));
        match->click();
        QCOMPARE(dialog.config().model.name, QStringLiteral("smallcnn"));
        QCOMPARE(dialog.config().model.inputSize, 32);
        QCOMPARE(dialog.config().model.channels, 3);
        choose(dialog, "model", QStringLiteral("resnet8"));
        QCOMPARE(dialog.config().model.inputSize, 24);
        QCOMPARE(dialog.config().model.channels, 1);

        // The size set by hand after matching stays; the channels, untouched, come back.
        QTRY_VERIFY(!match->isHidden());
        match->click();
        QCOMPARE(dialog.config().model.channels, 3);
        auto *size = dialog.findChild<QSpinBox *>(QStringLiteral("input_size"));
        QVERIFY(size);
        size->setValue(40);
        choose(dialog, "model", QStringLiteral("resnet8"));
        QCOMPARE(dialog.config().model.inputSize, 40);
        QCOMPARE(dialog.config().model.channels, 1);

        // Another model than the one replaced keeps what the match set.
        match->click();
        choose(dialog, "model", QStringLiteral("mobilenet_v2"));
        QCOMPARE(dialog.config().model.channels, 3);
    }

    // torchvision's resnet18 as users have it: recognized, 1000 classes replaced, ImageNet's
    // normalization; the run builds its ImageNet stem at the run's size, so only a stem set by hand
    // to the other one is refused.
    void torchvisionResnet18()
    {
        if (m_resnet18.isEmpty())
            QSKIP("python3-torchvision is needed (scripts/setup installs it)");
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.setClassCounts({ 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 });
        QVERIFY(startFrom(dialog, m_resnet18));
        StartFromField *f = field(dialog);
        const QString summary = f->summaryText();
        for (const char *part :
            { "torchvision state_dict", "resnet18", "122 tensors", "3 input channels",
                "1000 classes → classifier replaced for 10", "ImageNet normalization" })
            QVERIFY2(summary.contains(QString::fromUtf8(part)), qPrintable(summary));
        QVERIFY2(dialog.errorText().contains(QLatin1String("the run's model is smallcnn")),
            qPrintable(dialog.errorText()));
        QVERIFY(shot(dialog, "startfrom-resnet18-mismatch"));

        choose(dialog, "model", QStringLiteral("resnet18"));
        choose(dialog, "channels", QStringLiteral("3"));
        const int size = dialog.config().model.inputSize;
        QVERIFY(size < kResNet18ImageNetStemFrom);
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        RunConfig small = dialog.config();
        small.model.stem = ResNetStem::Small;
        dialog.setConfig(small);
        QTRY_VERIFY2_WITH_TIMEOUT(
            dialog.errorText().contains(QLatin1String("set the ResNet stem to auto or imagenet")),
            qPrintable(dialog.errorText()), 20000);
        small.model.stem = ResNetStem::Auto;
        dialog.setConfig(small);
        QTRY_VERIFY2_WITH_TIMEOUT(dialog.canStart(), qPrintable(dialog.errorText()), 20000);

        dialog.findChild<QPushButton *>(QStringLiteral("matchWeights"))->click();
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QCOMPARE(dialog.config().model.inputSize, size);
        // Three channels fit ImageNet's normalization: the run takes it.
        QCOMPARE(dialog.config().normMean, (std::vector<double> { 0.485, 0.456, 0.406 }));
        QCOMPARE(dialog.config().normStd, (std::vector<double> { 0.229, 0.224, 0.225 }));
        QVERIFY(shot(dialog, "startfrom-resnet18"));
    }
};

QTEST_MAIN(TestStartFromField)
#include "tst_startfromfield.moc"
