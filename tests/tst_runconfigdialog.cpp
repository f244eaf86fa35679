// RunConfigDialog: data-driven validation (what blocks Start, what only warns), the schedule
// preview against the engine's schedule (leantune-cli schedule) and the reference values, steps per
// epoch as the engine splits the data, the command line (run for real), remembered settings, and
// the batch-size finder button (its answer in the field, as BatchSizeFinder::find gives it). Set
// LEANTUNE_SCREENSHOT_DIR to save the dialog with the finder's note as a PNG.

#include "guiscreenshot.h"
#include "guitestdata.h"

#include "dataset/datasplit.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "widgets/dialogs/startfromfield.h"
#include "metrics/memoryprobe.h"
#include "metrics/bytesize.h"
#include "prune/pruningschedule.h"
#include "config/runfields.h"
#include "train/batchsizefinder.h"
#include "train/memoryplanner.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

using namespace leantune;

namespace {

void setField(QWidget *dialog, const QString &name, const QVariant &value)
{
    QWidget *w = dialog->findChild<QWidget *>(name);
    QVERIFY2(w, qPrintable(QStringLiteral("no field %1").arg(name)));
    if (auto *s = qobject_cast<QSpinBox *>(w))
        s->setValue(value.toInt());
    else if (auto *d = qobject_cast<QDoubleSpinBox *>(w))
        d->setValue(value.toDouble());
    else if (auto *c = qobject_cast<QComboBox *>(w)) {
        int i = c->findData(value);
        if (i < 0)
            i = c->findText(value.toString());
        QVERIFY2(
            i >= 0, qPrintable(QStringLiteral("%1 has no item %2").arg(name, value.toString())));
        c->setCurrentIndex(i);
    } else if (auto *e = qobject_cast<QLineEdit *>(w))
        e->setText(value.toString());
    else
        QFAIL("unknown field type");
}

using Fields = QList<QPair<QString, QVariant>>;

} // namespace

Q_DECLARE_METATYPE(Fields)

class TestRunConfigDialog : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data;

    RunConfig base() const
    {
        RunConfig c;
        c.dataDir = m_data;
        c.outDir = m_dir.filePath(QStringLiteral("runs/new"));
        c.epochs = 1;
        c.batchSize = 64;
        c.device = QStringLiteral("cpu");
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        // As the programs do: the finder's probes measure host memory.
        usePredictableHostAllocator();
        qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
        qputenv("LEANTUNE_DATA_DIR", m_dir.filePath(QStringLiteral("userdata")).toUtf8());
        m_data = m_dir.filePath(QStringLiteral("data"));
        guitestdata::writeImageFolder(m_data, 3, 12, 12);
    }

    void validation_data()
    {
        QTest::addColumn<Fields>("fields");
        QTest::addColumn<bool>("canStart");
        QTest::addColumn<QString>(
            "message"); // part of the error (or, when it can start, the warning)

        const auto f = [](std::initializer_list<QPair<QString, QVariant>> l) { return Fields(l); };
        QTest::newRow("defaults") << f({}) << true << QString();
        QTest::newRow("learning rate 0")
            << f({ { QStringLiteral("lr"), 0.0 } }) << false << QStringLiteral("learning rate");
        QTest::newRow("no loader worker")
            << f({ { QStringLiteral("workers"), 0 } }) << false << QStringLiteral("workers");
        QTest::newRow("validation split 0") << f({ { QStringLiteral("val_split"), 0.0 } }) << false
                                            << QStringLiteral("validation split");
        QTest::newRow("missing data folder")
            << f({ { QStringLiteral("data"), QStringLiteral("/no/such/folder") } }) << false
            << QStringLiteral("does not exist");
        QTest::newRow("no run folder")
            << f({ { QStringLiteral("out"), QString() } }) << false << QStringLiteral("run folder");
        QTest::newRow("bf16 on the CPU") << f({ { QStringLiteral("device"), QStringLiteral("cpu") },
            { QStringLiteral("precision"), QStringLiteral("bf16") } })
                                         << false << QStringLiteral("bf16");
        QTest::newRow("input of 1 pixel")
            << f({ { QStringLiteral("input_size"), 1 } }) << false << QString();
        QTest::newRow("pruning begins after the run")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                   { QStringLiteral("beginStep"), 5000 }, { QStringLiteral("endStep"), 6000 } })
            << false << QStringLiteral("pruning begins at step 5000");
        QTest::newRow("final below initial")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                   { QStringLiteral("initialSparsity"), 0.8 },
                   { QStringLiteral("finalSparsity"), 0.5 }, { QStringLiteral("beginStep"), 0 },
                   { QStringLiteral("endStep"), 1 } })
            << false << QStringLiteral("prune");
        QTest::newRow("end before begin")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                   { QStringLiteral("beginStep"), 3 }, { QStringLiteral("endStep"), 1 } })
            << false << QStringLiteral("prune");
        QTest::newRow("frequency 0")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("constant") },
                   { QStringLiteral("frequency"), 0 } })
            << false << QStringLiteral("prune");
        QTest::newRow("power 0") << f(
            { { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                { QStringLiteral("endStep"), 1 }, { QStringLiteral("power"), 0.0 } })
                                 << false << QStringLiteral("prune");
        QTest::newRow("sparsity 1")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("constant") },
                   { QStringLiteral("finalSparsity"), 1.0 } })
            << false << QStringLiteral("prune");
        QTest::newRow("final sparsity after the run ends (a warning)")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                   { QStringLiteral("initialSparsity"), 0.2 },
                   { QStringLiteral("finalSparsity"), 0.8 }, { QStringLiteral("beginStep"), 0 },
                   { QStringLiteral("endStep"), 1000 }, { QStringLiteral("frequency"), 1 } })
            << true << QStringLiteral("after the run ends");
        QTest::newRow("constant sparsity to the end")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("constant") },
                   { QStringLiteral("finalSparsity"), 0.5 }, { QStringLiteral("beginStep"), 0 },
                   { QStringLiteral("endStep"), -1 }, { QStringLiteral("frequency"), 1 } })
            << true << QString();
        QTest::newRow("masks never updated")
            << f({ { QStringLiteral("pruneKind"), QStringLiteral("polynomial") },
                   { QStringLiteral("beginStep"), 0 }, { QStringLiteral("endStep"), 500 },
                   { QStringLiteral("frequency"), 50 } })
            << false << QStringLiteral("never be updated");
        QTest::newRow("batch larger than the data (a warning)")
            << f({ { QStringLiteral("batch_size"), 1000 } }) << true
            << QStringLiteral("larger than the training set");
    }

    void validation()
    {
        QFETCH(Fields, fields);
        QFETCH(bool, canStart);
        QFETCH(QString, message);
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.setClassCounts({ 12, 12, 12 });
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        for (const auto &[name, value] : fields)
            setField(&dialog, name, value);
        QCOMPARE(dialog.canStart(), canStart);
        QCOMPARE(dialog.startButton()->isEnabled(), canStart);
        if (canStart) {
            QVERIFY(dialog.errorText().isEmpty());
            if (!message.isEmpty())
                QVERIFY2(dialog.warningText().contains(message), qPrintable(dialog.warningText()));
        } else {
            QVERIFY(!dialog.errorText().isEmpty());
            QVERIFY2(dialog.errorText().contains(message), qPrintable(dialog.errorText()));
        }
    }

    void previewMatchesEngine_data()
    {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<int>("epochs");
        QTest::addColumn<int>("batch");
        QTest::newRow("reference") << QStringLiteral("polynomial:0.2:0.8:100:110:3:2") << 120 << 50;
        QTest::newRow("sample run") << QStringLiteral("polynomial:0.5:0.8:0:500:3:50") << 1 << 1;
        QTest::newRow("linear") << QStringLiteral("polynomial:0:0.9:10:90:1:7") << 20 << 6;
        QTest::newRow("constant with end") << QStringLiteral("constant:0.6:5:40:5") << 10 << 8;
        QTest::newRow("constant forever") << QStringLiteral("constant:0.3:0:-1:25") << 30 << 12;
    }

    void previewMatchesEngine()
    {
        QFETCH(QString, spec);
        QFETCH(int, epochs);
        QFETCH(int, batch);
        RunConfigDialog dialog;
        RunConfig c = base();
        c.prune = spec;
        c.epochs = epochs;
        c.batchSize = batch;
        dialog.setConfig(c);
        dialog.setClassCounts({ 20, 20, 20, 20, 20 }); // 90 training images with the 0.1 split
        QCOMPARE(dialog.config().prune.section(QLatin1Char(':'), 0, 0),
            spec.section(QLatin1Char(':'), 0, 0));
        const qint64 total = dialog.totalSteps();
        QCOMPARE(total, qint64((90 + batch - 1) / batch) * epochs);
        const QVector<QPointF> fn = dialog.scheduleCurve();
        const QVector<QPointF> applied = dialog.appliedCurve();
        QVERIFY(!fn.isEmpty());
        QCOMPARE(fn.size(), applied.size());
        QCOMPARE(fn.last().x(), double(total));

        // The engine's own numbers for the previewed steps, with its mask-update marks.
        QStringList steps;
        for (const QPointF &p : fn)
            steps << QString::number(qint64(p.x()));
        QProcess cli;
        cli.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("schedule"), spec, QStringLiteral("--steps"),
                steps.join(QLatin1Char(',')), QStringLiteral("--show-updates") });
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 0);
        const QStringList lines = QString::fromUtf8(cli.readAllStandardOutput())
                                      .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), fn.size());
        // The applied target starts at 0 and takes the schedule's value at every update step; the
        // preview holds every update step, so replaying the engine's marks gives the applied curve.
        QCOMPARE(fn.first().x(), 1.0);
        double appliedNow = 0.0;
        int updates = 0;
        for (int i = 0; i < lines.size(); ++i) {
            const QStringList cols = lines[i].split(QLatin1Char(' '));
            QCOMPARE(cols[0].toLongLong(), qint64(fn[i].x()));
            QVERIFY2(qAbs(cols[1].toDouble() - fn[i].y()) < 1e-6, qPrintable(lines[i]));
            if (cols.value(2) == QLatin1String("update")) {
                appliedNow = cols[1].toDouble();
                ++updates;
            }
            QVERIFY2(qAbs(applied[i].y() - appliedNow) < 1e-6,
                qPrintable(QStringLiteral("step %1: preview %2, engine %3")
                               .arg(fn[i].x())
                               .arg(applied[i].y())
                               .arg(appliedNow)));
        }
        // Every update step of the run is in the preview.
        QString error;
        const auto schedule = PruningSchedule::parse(spec, &error);
        QVERIFY(schedule);
        int expectedUpdates = 0;
        for (qint64 step = 1; step <= total; ++step)
            expectedUpdates += schedule->shouldUpdate(step) ? 1 : 0;
        QCOMPARE(updates, expectedUpdates);
        if (spec.startsWith(QLatin1String("polynomial:0.2:0.8:100:110"))) {
            // DESIGN.md's reference values.
            const auto at = [&](double step) {
                for (const QPointF &p : fn)
                    if (p.x() == step)
                        return p.y();
                return -1.0;
            };
            QVERIFY(qAbs(at(100) - 0.2) < 1e-9);
            QVERIFY(qAbs(at(102) - 0.4928) < 1e-9);
            QVERIFY(qAbs(at(105) - 0.725) < 1e-9);
            QVERIFY(qAbs(at(110) - 0.8) < 1e-9);
        }
    }

    void stepsPerEpochAsTheEngineSplits_data()
    {
        QTest::addColumn<QList<int>>("counts");
        QTest::addColumn<double>("split");
        QTest::addColumn<int>("batch");
        QTest::newRow("balanced") << QList<int> { 100, 100, 100 } << 0.1 << 32;
        QTest::newRow("imbalanced") << QList<int> { 1000, 7, 2, 1 } << 0.25 << 16;
        QTest::newRow("fashion-mnist") << QList<int>(10, 6000) << 0.1 << 64;
        QTest::newRow("rounding") << QList<int> { 15, 25, 35 } << 0.1 << 7;
        QTest::newRow("halves and singletons") << QList<int> { 1, 1, 2, 3, 5 } << 0.5 << 2;
        QTest::newRow("no split") << QList<int> { 4, 9 } << 0.0 << 3;
        QTest::newRow("all to validation") << QList<int> { 5, 3, 1 } << 1.0 << 1;
        QTest::newRow("above 1") << QList<int> { 5, 3 } << 1.5 << 1;
        QTest::newRow("NaN") << QList<int> { 5, 3 } << qQNaN() << 1;
    }

    void stepsPerEpochAsTheEngineSplits()
    {
        QFETCH(QList<int>, counts);
        QFETCH(double, split);
        QFETCH(int, batch);
        DatasetIndex index;
        for (int k = 0; k < counts.size(); ++k) {
            index.classes << QStringLiteral("c%1").arg(k);
            for (int i = 0; i < counts[k]; ++i) {
                ImageEntry e;
                e.path = QStringLiteral("/x/%1/%2.png").arg(k).arg(i);
                e.label = k;
                index.images.push_back(e);
            }
        }
        const qint64 train = qint64(splitStratified(index, split, 42).train.size());
        QCOMPARE(stratifiedTrainCount(index.classCounts(), split), train);
        if (!(split > 0.0 && split < 1.0))
            return; // the dialog's split field takes (0, 1)
        RunConfigDialog dialog;
        RunConfig c = base();
        c.valSplit = split;
        c.batchSize = batch;
        dialog.setConfig(c);
        dialog.setClassCounts(index.classCounts());
        QCOMPARE(dialog.trainImages(), train);
        QCOMPARE(dialog.stepsPerEpoch(), (train + batch - 1) / batch);
    }

    void firstUpdateStepAsShouldUpdate_data()
    {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<qint64>("first");
        QTest::newRow("none") << QStringLiteral("none") << qint64(-1);
        QTest::newRow("begin 0") << QStringLiteral("polynomial:0:0.5:0:100:3:7") << qint64(7);
        QTest::newRow("begin 3") << QStringLiteral("constant:0.5:3:-1:4") << qint64(3);
        QTest::newRow("every step") << QStringLiteral("constant:0.5:0:-1:1") << qint64(1);
        QTest::newRow("end before the first update")
            << QStringLiteral("constant:0.5:0:3:5") << qint64(-1);
        QTest::newRow("end at begin 0") << QStringLiteral("polynomial:0:0.5:0:0:3:5") << qint64(-1);
        QTest::newRow("end at begin 2") << QStringLiteral("polynomial:0:0.5:2:2:3:5") << qint64(2);
    }

    void firstUpdateStepAsShouldUpdate()
    {
        QFETCH(QString, spec);
        QFETCH(qint64, first);
        QString error;
        const auto schedule = PruningSchedule::parse(spec, &error);
        QVERIFY2(schedule, qPrintable(error));
        qint64 brute = -1;
        for (qint64 step = 1; step <= 1000 && brute < 0; ++step)
            brute = schedule->shouldUpdate(step) ? step : -1;
        QCOMPARE(brute, first);
        QCOMPARE(schedule->firstUpdateStep(), first);
    }

    // The default schedule's steps fit the run (END about 2/3 of it, an update step) until the user
    // sets them: a 170-step run was once proposed END 500 and ended at 69 % of an 80 % target.
    void defaultScheduleFitsTheRun_data()
    {
        QTest::addColumn<bool>(
            "firstStart"); // else: no schedule given, then "Polynomial decay" chosen
        QTest::newRow("first start") << true;
        QTest::newRow("schedule chosen") << false;
    }

    void defaultScheduleFitsTheRun()
    {
        QFETCH(bool, firstStart);
        QSettings().remove(QStringLiteral("run"));
        RunConfigDialog dialog;
        RunConfig c = firstStart ? dialog.config() : base();
        c.dataDir = m_data;
        c.outDir = base().outDir;
        c.device = QStringLiteral("cpu");
        c.batchSize = 18;
        c.epochs = 17;
        dialog.setConfig(c);
        dialog.setClassCounts({ 100, 100 }); // 90 + 90 training images: 10 steps per epoch
        if (!firstStart)
            setField(&dialog, QStringLiteral("pruneKind"), QStringLiteral("polynomial"));
        QCOMPARE(dialog.totalSteps(), qint64(170));
        const auto scheduleOf
            = [&dialog] { return *PruningSchedule::parse(dialog.config().prune, nullptr); };
        PruningSchedule s = scheduleOf();
        QCOMPARE(s.kind(), PruningSchedule::Kind::PolynomialDecay);
        QCOMPARE(s.begin(), qint64(0));
        QVERIFY2(s.end() >= 100 && s.end() <= 125,
            qPrintable(dialog.config().prune)); // about 2/3 of 170
        QVERIFY(s.frequency() >= 1 && s.frequency() <= 170 / 10);
        // The engine applies the final sparsity within the run.
        QVERIFY(dialog.canStart());
        QCOMPARE(dialog.appliedCurve().last().y(), s.finalSparsity());
        QVERIFY(dialog.warningText().isEmpty());

        // It follows the run's length...
        setField(&dialog, QStringLiteral("epochs"), 30);
        s = scheduleOf();
        QVERIFY2(s.end() >= 180 && s.end() <= 220, qPrintable(dialog.config().prune));
        QCOMPARE(dialog.appliedCurve().last().y(), s.finalSparsity());
        // ...until the user sets a step.
        setField(&dialog, QStringLiteral("endStep"), 150);
        setField(&dialog, QStringLiteral("epochs"), 17);
        QCOMPARE(scheduleOf().end(), qint64(150));
        setField(&dialog, QStringLiteral("batch_size"), 9);
        dialog.setClassCounts({ 200, 200 });
        QCOMPARE(scheduleOf().end(), qint64(150));
    }

    // A run folder the dialog named after the model follows the model chosen; one the user named
    // stays.
    void runFolderNameFollowsTheModel()
    {
        RunConfigDialog dialog;
        RunConfig c = base();
        c.outDir = RunConfigDialog::defaultRunDir(QStringLiteral("smallcnn"));
        const QString stamp = QFileInfo(c.outDir).fileName().section(QLatin1Char('-'), 0, 1);
        dialog.setConfig(c);
        auto *model = dialog.findChild<QComboBox *>(QStringLiteral("model"));
        QVERIFY(model);
        model->setCurrentIndex(model->findData(QStringLiteral("resnet8")));
        QCOMPARE(QFileInfo(dialog.config().outDir).fileName(), stamp + QStringLiteral("-resnet8"));
        QCOMPARE(QFileInfo(dialog.config().outDir).path(), QFileInfo(c.outDir).path());

        c.outDir = m_dir.filePath(QStringLiteral("runs/20261207-101010-mine"));
        dialog.setConfig(c);
        model->setCurrentIndex(model->findData(QStringLiteral("resnet18")));
        QCOMPARE(dialog.config().outDir, c.outDir);
    }

    // Values a widget shows are the configuration's, exactly; what the dialog does not show (or
    // cannot) is kept from the configuration it was given.
    void valuesSurviveTheDialog()
    {
        RunConfigDialog dialog;
        RunConfig c = base();
        c.valDir = m_data;
        c.precision = Precision::Fp16;
        c.device = QStringLiteral("cuda:3");
        c.seed = 18446744073709551557ULL;
        c.learningRate = 1.2345e-7;
        c.valSplit = 0.125;
        c.momentum = 0.85;
        c.memoryBudgetBytes = 3 * (std::int64_t(1) << 30);
        c.prune = QStringLiteral("polynomial:0.123:0.8765:3:77:2.5:4");
        dialog.setConfig(c);
        QCOMPARE(dialog.config().toJson(), c.toJson());
        QCOMPARE(
            dialog.findChild<QComboBox *>(QStringLiteral("precision"))->currentData().toString(),
            QStringLiteral("fp16"));
        QCOMPARE(dialog.findChild<QLineEdit *>(QStringLiteral("seed"))->text(),
            QStringLiteral("18446744073709551557"));
        // Every choice of every enum field is in its combo box.
        for (const RunField &f : runFields()) {
            if (f.type != RunField::Type::Choice)
                continue;
            auto *box = dialog.findChild<QComboBox *>(f.key);
            QVERIFY2(box, qPrintable(f.key));
            for (const QString &choice : f.choices)
                QVERIFY2(box->findData(choice) >= 0, qPrintable(f.key + QLatin1Char('/') + choice));
        }
        // A value no widget can show is kept, not clamped, and the error says what is wrong with
        // it.
        c.epochs = -3;
        c.prune = QStringLiteral("polynomial:0.5:0.8:0:100"); // shown as its canonical form
        dialog.setConfig(c);
        QCOMPARE(dialog.config().epochs, -3);
        QCOMPARE(dialog.config().prune, c.prune);
        QVERIFY2(
            dialog.errorText().contains(QStringLiteral("epochs")), qPrintable(dialog.errorText()));
        setField(&dialog, QStringLiteral("epochs"), 2);
        QCOMPARE(dialog.config().epochs, 2);
        // A seed above 2^64 - 1 does not parse: said inline.
        setField(&dialog, QStringLiteral("seed"), QStringLiteral("99999999999999999999"));
        QVERIFY2(
            dialog.errorText().contains(QStringLiteral("seed")), qPrintable(dialog.errorText()));
    }

    void commandLineRunsForReal()
    {
        RunConfig c = base();
        QTemporaryDir spaced;
        c.outDir = spaced.filePath(QStringLiteral("my run"));
        c.model.inputSize = 12;
        c.batchSize = 8;
        c.epochs = 1;
        c.workers = 1;
        c.threads = 1;
        c.augment = false;
        c.prune = QStringLiteral("constant:0.5:1:-1:2");
        const QString line = RunConfigDialog::commandLine(c, QStringLiteral(LEANTUNE_CLI_PATH));
        QVERIFY2(line.contains(QStringLiteral("--out '") + c.outDir + QLatin1Char('\'')),
            qPrintable(line));
        QVERIFY(line.contains(QStringLiteral("--prune constant:0.5:1:-1:2")));
        QVERIFY(line.contains(
            RunConfig().augment ? QStringLiteral("--no-augment") : QStringLiteral("train --data")));
        RunConfig flipped = c;
        flipped.augment = !RunConfig().augment;
        QVERIFY(RunConfigDialog::commandLine(flipped).contains(
            flipped.augment ? QStringLiteral("--augment") : QStringLiteral("--no-augment")));
        QVERIFY(line.contains(QStringLiteral(" train --data ")));
        QVERIFY(RunConfigDialog::commandLine(c).startsWith(QStringLiteral("leantune-cli train ")));

        QProcess shell;
        shell.start(QStringLiteral("/bin/sh"),
            { QStringLiteral("-c"), line + QStringLiteral(" --progress none") });
        QVERIFY(shell.waitForFinished(240000));
        QVERIFY2(shell.exitCode() == 0, shell.readAllStandardError().constData());
        QVERIFY(QFileInfo::exists(c.outDir + QStringLiteral("/summary.json")));
        const QByteArray config = [&] {
            QFile f(c.outDir + QStringLiteral("/config.json"));
            return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
        }();
        QVERIFY2(config.contains("constant:0.5:1:-1:2"), config.constData());
    }

    void settingsAreRemembered()
    {
        {
            RunConfigDialog dialog;
            dialog.setConfig(base());
            setField(&dialog, QStringLiteral("model"), QStringLiteral("resnet8"));
            setField(&dialog, QStringLiteral("batch_size"), 48);
            setField(&dialog, QStringLiteral("pruneKind"), QStringLiteral("constant"));
            setField(&dialog, QStringLiteral("finalSparsity"), 0.7);
            setField(&dialog, QStringLiteral("epochs"), 4);
            QVERIFY(dialog.canStart());
            dialog.startButton()->click();
            QCOMPARE(dialog.result(), int(QDialog::Accepted));
        }
        RunConfigDialog again;
        const RunConfig c = again.config();
        QCOMPARE(c.model.name, QStringLiteral("resnet8"));
        QCOMPARE(c.batchSize, 48);
        QCOMPARE(c.epochs, 4);
        QVERIFY2(c.prune.startsWith(QStringLiteral("constant:0.7:")), qPrintable(c.prune));
        QCOMPARE(c.dataDir, m_data);
        // A new run gets a new folder in the user's data folder.
        QVERIFY(c.outDir.startsWith(m_dir.filePath(QStringLiteral("userdata/runs/"))));
    }

    void devicesListed()
    {
        RunConfigDialog dialog;
        dialog.setCudaDevices({ QStringLiteral("CUDA 0: NVIDIA H200, 140 GB"),
            QStringLiteral("CUDA 1: NVIDIA H200, 140 GB") });
        auto *device = dialog.findChild<QComboBox *>(QStringLiteral("device"));
        QCOMPARE(device->count(), 6); // auto, CPU, CPU N processes, two GPUs, all GPUs
        QCOMPARE(device->itemData(4).toString(), QStringLiteral("cuda:1"));
        QVERIFY(device->itemText(3).contains(QStringLiteral("H200")));
        QCOMPARE(device->itemData(5).toString(), QStringLiteral("cuda:all"));
        RunConfig c = base();
        c.device = QStringLiteral("cuda:1");
        dialog.setConfig(c);
        QCOMPARE(dialog.config().device, QStringLiteral("cuda:1"));
    }

    // The dialog keeps the size it opened at whatever the device or the starting weights say (the
    // processes count, GPU warnings, an unreadable weights file's error): the form scrolls.
    void dialogKeepsItsSizeWhenTheDeviceOrWeightsChange()
    {
        RunConfigDialog dialog;
        dialog.setCudaDevices({ QStringLiteral("CUDA 0: NVIDIA H200, 140 GB"),
            QStringLiteral("CUDA 1: NVIDIA H200, 140 GB") });
        dialog.setConfig(base());
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        const QSize opened = dialog.size();
        const auto settle = [] {
            QCoreApplication::sendPostedEvents(); // the layouts' pending requests
            QCoreApplication::processEvents();
        };
        auto *device = dialog.findChild<QComboBox *>(QStringLiteral("device"));
        QVERIFY(device);
        for (int i = 0; i < device->count(); ++i) {
            device->setCurrentIndex(i);
            settle();
            QVERIFY2(dialog.size() == opened,
                qPrintable(QStringLiteral("%1: %2x%3, opened at %4x%5")
                               .arg(device->itemText(i))
                               .arg(dialog.width())
                               .arg(dialog.height())
                               .arg(opened.width())
                               .arg(opened.height())));
        }
        device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
        auto *init = dialog.findChild<StartFromField *>(QStringLiteral("init"));
        QVERIFY(init);
        init->setPath(m_dir.filePath(QStringLiteral("missing-weights.pth")));
        QVERIFY(QTest::qWaitFor(
            [&] { return dialog.errorText().contains(QLatin1String("missing-weights")); }, 60000));
        settle();
        QCOMPARE(dialog.size(), opened);
        init->setPath(QString());
        settle();
        QCOMPARE(dialog.size(), opened);
    }

    // "Find..." on the CPU under a host budget: the search runs on a worker thread (Start waits),
    // and the field takes the finder's answer with its predicted peak.
    void findButtonPutsTheFindersAnswerInTheField()
    {
        RunConfig c = base();
        c.model.name = QStringLiteral("smallcnn");
        c.model.inputSize = 32;
        c.model.channels = 1;
        c.threads = 1;
        c.batchSize = 8;
        // A budget with room for about 150 images above the fixed part (as in tst_batchsizefinder).
        QString error;
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, &error);
        QVERIFY2(plan, qPrintable(error));
        c.memoryBudgetBytes = std::int64_t(double(plan->predictPeak(150, 0, -1, 150)) / 0.9);

        RunConfigDialog dialog;
        dialog.setConfig(c);
        // Class counts as the browser gives them: three classes, many images (the cap, a tenth of
        // the training images, stays far away).
        dialog.setClassCounts({ 10000, 10000, 10000 });
        const RunConfig same = dialog.finderConfig();
        QCOMPARE(same.model.name, c.model.name);
        QCOMPARE(same.model.inputSize, c.model.inputSize);
        QCOMPARE(same.model.classes, 3);
        QCOMPARE(same.device, QStringLiteral("cpu"));
        QCOMPARE(same.memoryBudgetBytes, c.memoryBudgetBytes);
        QCOMPARE(dialog.finderMaxSamples(), dialog.trainImages());

        // The finder called directly with the dialog's configuration, on a worker thread as the
        // dialog calls it.
        std::optional<BatchSizeReport> direct;
        std::thread([&] {
            direct = BatchSizeFinder::find(same, dialog.finderMaxSamples(), &error);
        }).join();
        QVERIFY2(direct, qPrintable(error));

        dialog.show();
        auto *find = dialog.findChild<QPushButton *>(QStringLiteral("findBatchSize"));
        QVERIFY(find);
        QSignalSpy found(&dialog, &RunConfigDialog::batchSizeFound);
        find->click();
        QVERIFY(dialog.isFindingBatchSize());
        QVERIFY(!find->isEnabled());
        QVERIFY(!dialog.startButton()->isEnabled());
        QVERIFY(dialog.batchNoteText().contains(QStringLiteral("probing")));
        QTRY_COMPARE_WITH_TIMEOUT(found.count(), 1, 120000);
        QVERIFY2(found.first().first().toBool(), qPrintable(dialog.batchNoteText()));
        QVERIFY(find->isEnabled());
        QVERIFY(dialog.canStart() && dialog.startButton()->isEnabled());

        const std::optional<BatchSizeReport> report = dialog.batchSizeReport();
        QVERIFY(report);
        QCOMPARE(dialog.config().batchSize, report->search.batchSize);
        QCOMPARE(report->search.capacityBytes, c.memoryBudgetBytes);
        QVERIFY(!report->search.capped);
        QVERIFY(report->predictedPeakBytes <= report->search.limitBytes);
        const QString note = dialog.batchNoteText();
        QVERIFY2(note.contains(QStringLiteral("fits: predicted peak %1 of %2")
                                   .arg(formatBytes(report->predictedPeakBytes),
                                       formatBytes(c.memoryBudgetBytes))),
            qPrintable(note));

        // The dialog's answer is the finder's: the largest batch its own plan fits under the limit.
        const int inDialog = report->search.batchSize, directly = direct->search.batchSize;
        QVERIFY(report->plan.predictPeak(inDialog + 1, 0, -1, inDialog + 1)
            > report->search.limitBytes);
        // And about the direct call's. Not closer: each call probes this process's host memory
        // afresh, and under load (ctest -j2) one call in a few measured a flatter slope than the
        // other (answers of 139 to 226 were seen for this budget). The wiring that a wrong answer
        // would come from (model, input size, classes, device, budget) is compared above.
        qInfo("finder: %d in the dialog, %d directly", inDialog, directly);
        QVERIFY2(inDialog * 2 > directly && directly * 2 > inDialog,
            qPrintable(QStringLiteral("%1 vs %2").arg(inDialog).arg(directly)));

        QVERIFY(guitestdata::saveScreenshot(&dialog, "runconfig-finder"));

        // Editing the batch by hand retires the note.
        setField(&dialog, QStringLiteral("batch_size"), inDialog + 1);
        QVERIFY(dialog.batchNoteText().isEmpty());
    }

    void findButtonSaysInlineWhenNothingFits()
    {
        RunConfig c = base();
        c.model.inputSize = 32;
        c.threads = 1;
        c.batchSize = 24;
        c.memoryBudgetBytes = 1 << 20; // 1 MiB: less than the process itself
        RunConfigDialog dialog;
        dialog.setConfig(c);
        dialog.show();
        QSignalSpy found(&dialog, &RunConfigDialog::batchSizeFound);
        dialog.findChild<QPushButton *>(QStringLiteral("findBatchSize"))->click();
        QTRY_COMPARE_WITH_TIMEOUT(found.count(), 1, 120000);
        QCOMPARE(found.first().first().toBool(), false);
        QVERIFY(!dialog.batchSizeReport());
        QVERIFY2(dialog.batchNoteText().startsWith(QStringLiteral("No batch size found: ")),
            qPrintable(dialog.batchNoteText()));
        QVERIFY(dialog.findChild<QLabel *>(QStringLiteral("batchNote"))
                    ->styleSheet()
                    .contains(QStringLiteral("#b00020")));
        QCOMPARE(dialog.config().batchSize, 24); // unchanged
        QVERIFY(guitestdata::saveScreenshot(&dialog, "runconfig-finder-error"));
    }

    // Closing the dialog while the finder runs stops its search and joins the worker.
    void destroyedWhileFinding()
    {
        auto *dialog = new RunConfigDialog;
        RunConfig c = base();
        c.threads = 1;
        dialog->setConfig(c);
        dialog->findBatchSize();
        QVERIFY(dialog->isFindingBatchSize());
        delete dialog;
        QCoreApplication::processEvents();
    }
};

QTEST_MAIN(TestRunConfigDialog)
#include "tst_runconfigdialog.moc"
