// The "Prune to a budget" dialog: its proposal is `leantune-cli advise --json`'s for the same
// inputs, Cancel stops the advisor, and bad inputs are shown in the dialog. One tiny smallcnn run
// (3 classes, 16 px, one thread so its trials repeat exactly) is trained once for the suite.

#include "clirunner.h"
#include "guiscreenshot.h"
#include "guitestdata.h"

#include "widgets/prune/prunebudgetdialog.h"
#include "widgets/prune/sensitivityplot.h"
#include "prune/sensitivity.h"

#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

// An advice report without what differs between two equal runs of it: the times, and the program
// the command line starts with.
QJsonObject comparable(QJsonObject o)
{
    o.remove(QStringLiteral("seconds"));
    o.remove(QStringLiteral("scan_seconds"));
    QJsonArray trials;
    for (const QJsonValue &t : o.value(QStringLiteral("trials")).toArray()) {
        QJsonObject trial = t.toObject();
        trial.remove(QStringLiteral("seconds"));
        trials.append(trial);
    }
    o[QStringLiteral("trials")] = trials;
    const QString command = o.value(QStringLiteral("command")).toString();
    if (!command.isEmpty())
        o[QStringLiteral("command")] = command.section(QLatin1Char(' '), 1);
    return o;
}

QByteArray text(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Indented);
}

} // namespace

class TestPruneBudgetDialog : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data, m_run;

    QString path(const char *name) const { return m_dir.filePath(QLatin1String(name)); }

    // A copy of the trained run's folder without its scan (config, summary, model).
    QString copyRun(const char *name, bool withModel = true) const
    {
        const QString dir = path(name);
        QDir().mkpath(dir);
        QStringList files { QStringLiteral("config.json"), QStringLiteral("summary.json") };
        if (withModel)
            files << QStringLiteral("model.pt");
        for (const QString &f : files)
            QFile::copy(QDir(m_run).filePath(f), QDir(dir).filePath(f));
        return dir;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = path("data");
        guitestdata::writeImageFolder(m_data, 3, 60, 16, 1);
        m_run = path("dense");
        const testcli::Result r = testcli::runCli({ QStringLiteral("train"),
            QStringLiteral("--data"), m_data, QStringLiteral("--out"), m_run,
            QStringLiteral("--model"), QStringLiteral("smallcnn"), QStringLiteral("--input-size"),
            QStringLiteral("16"), QStringLiteral("--epochs"), QStringLiteral("6"),
            QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--val-split"),
            QStringLiteral("0.25"), QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--no-history"),
            QStringLiteral("--progress"), QStringLiteral("none") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }

    // The CLI advises first (it writes the scan, which the dialog then reads); the dialog with the
    // same budget and trials proposes the same: the same trials, sparsity, predicted accuracy,
    // layer targets and command line. Start hands the proposed run on.
    void proposalEqualsAdviseJson()
    {
        const testcli::Result r = testcli::runCli({ QStringLiteral("advise"), m_run,
            QStringLiteral("--data"), m_data, QStringLiteral("--max-accuracy-drop"),
            QStringLiteral("20"), QStringLiteral("--trials"), QStringLiteral("2"),
            QStringLiteral("--epochs"), QStringLiteral("2"), QStringLiteral("--json") });
        const QJsonObject cli = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QVERIFY2(!cli.isEmpty() && (r.exitCode == 0 || r.exitCode == 1), qPrintable(r.err));
        QString error;
        const std::optional<SensitivityScan> scan
            = readSensitivityScan(QDir(m_run).filePath(QStringLiteral("sensitivity.json")), &error);
        QVERIFY2(scan, qPrintable(error));

        PruneBudgetDialog dialog(m_run, m_data);
        QSignalSpy scanShown(&dialog, &PruneBudgetDialog::scanShown);
        QSignalSpy adviceShown(&dialog, &PruneBudgetDialog::adviceShown);
        dialog.resize(1180, 640);
        dialog.show();
        QTRY_VERIFY_WITH_TIMEOUT(scanShown.count() == 1, 60000);
        QCOMPARE(dialog.errorText(), QString());
        // The chart: a line per layer, and hovering a point names its layer.
        QCOMPARE(dialog.plot()->lineCount(), scan->layers.size());
        const QString tip = dialog.plot()->toolTipAt(dialog.plot()->pointPosition(0, 2));
        QVERIFY2(tip.startsWith(scan->layers[0].name + QStringLiteral(": ")), qPrintable(tip));
        // The context menu's save: PNG and PDF, another suffix refused.
        for (const char *name : { "sensitivity.png", "sensitivity.pdf" }) {
            QVERIFY2(dialog.plot()->save(path(name), &error), qPrintable(error));
            QVERIFY(QFileInfo(path(name)).size() > 0);
        }
        QVERIFY(!dialog.plot()->save(path("sensitivity.txt"), &error));
        QVERIFY2(error.contains(QLatin1String(".png or .pdf")), qPrintable(error));

        auto *budget = dialog.findChild<QDoubleSpinBox *>(QStringLiteral("maxAccuracyDrop"));
        auto *trials = dialog.findChild<QSpinBox *>(QStringLiteral("trials"));
        QVERIFY(budget && trials);
        QCOMPARE(budget->value(), 1.0); // the default budget
        budget->setValue(20.0);
        trials->setValue(2);
        dialog.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(2);
        QVERIFY(dialog.findSparsity());
        QVERIFY(dialog.isBusy());
        QTRY_VERIFY_WITH_TIMEOUT(adviceShown.count() == 1, 240000);
        QVERIFY(dialog.advice());
        QCOMPARE(text(comparable(dialog.advice()->toJson())), text(comparable(cli)));
        guitestdata::saveScreenshot(&dialog, "prunebudgetdialog");

        auto *start = dialog.findChild<QPushButton *>(QStringLiteral("start"));
        QVERIFY(start);
        QCOMPARE(start->isEnabled(), dialog.advice()->found);
        if (!dialog.advice()->found)
            QSKIP("no sparsity kept this run within 20 points: Start has nothing to start");
        QCOMPARE(dialog.findChild<QLineEdit *>(QStringLiteral("command"))->text(),
            dialog.advice()->command);
        QSignalSpy started(&dialog, &PruneBudgetDialog::startRequested);
        start->click();
        QCOMPARE(started.count(), 1);
        const auto config = started.first().first().value<RunConfig>();
        QCOMPARE(config.outDir, m_run + QStringLiteral("-pruned"));
        QCOMPARE(enumName(config.pruneScope), cli.value(QStringLiteral("scope")).toString());
        QCOMPARE(config.initWeights, m_run);
        QVERIFY2(config.prune.startsWith(
                     QStringLiteral("polynomial:0:%1:")
                         .arg(cli.value(QStringLiteral("sparsity")).toDouble(), 0, 'f', 3)),
            qPrintable(config.prune));
    }

    // Cancel during a fine-tuning trial ends the advisor without a proposal or an error.
    void cancelStopsTheAdvisor()
    {
        PruneBudgetDialog dialog(m_run, m_data);
        QSignalSpy errors(&dialog, &PruneBudgetDialog::errorShown);
        dialog.show();
        QTRY_VERIFY_WITH_TIMEOUT(!dialog.isBusy(), 60000); // the scan is read
        dialog.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(20);
        QVERIFY(dialog.findSparsity());
        QTRY_VERIFY_WITH_TIMEOUT(
            dialog.statusText().startsWith(QLatin1String("Fine-tuning trial 1")), 60000);
        auto *cancel = dialog.findChild<QPushButton *>(QStringLiteral("cancel"));
        QVERIFY(cancel && cancel->isEnabled());
        cancel->click();
        QTRY_VERIFY_WITH_TIMEOUT(!dialog.isBusy(), 60000);
        QCOMPARE(dialog.statusText(), QStringLiteral("Cancelled"));
        QVERIFY(!dialog.advice());
        QCOMPARE(errors.count(), 0);
        QVERIFY(dialog.findChild<QPushButton *>(QStringLiteral("find"))->isEnabled());
        QVERIFY(!dialog.findChild<QPushButton *>(QStringLiteral("start"))->isEnabled());
    }

    // A budget outside 0..100 and a missing data folder are refused in the dialog; a good budget
    // clears the message.
    void badInputsAreShownInline()
    {
        PruneBudgetDialog dialog(m_run, m_data);
        dialog.show();
        QTRY_VERIFY_WITH_TIMEOUT(!dialog.isBusy(), 60000);
        auto *budget = dialog.findChild<QDoubleSpinBox *>(QStringLiteral("maxAccuracyDrop"));
        auto *find = dialog.findChild<QPushButton *>(QStringLiteral("find"));
        for (const double bad : { -0.5, 100.5 }) {
            budget->setValue(bad);
            QVERIFY2(dialog.errorText().contains(QLatin1String("between 0 and 100 points")),
                qPrintable(dialog.errorText()));
            QVERIFY(!find->isEnabled());
            QVERIFY(!dialog.findSparsity());
        }
        budget->setValue(1.0);
        QCOMPARE(dialog.errorText(), QString());
        QVERIFY(find->isEnabled());
        dialog.findChild<QLineEdit *>(QStringLiteral("dataDir"))->setText(path("missing"));
        QVERIFY(!dialog.findSparsity());
        QVERIFY2(dialog.errorText().contains(QLatin1String("does not exist")),
            qPrintable(dialog.errorText()));
        QVERIFY(!dialog.isBusy());
    }

    void runFolderWithoutAModelIsRefused()
    {
        PruneBudgetDialog dialog(copyRun("no-model", false), m_data);
        QVERIFY2(dialog.errorText().contains(QLatin1String("no trained model")),
            qPrintable(dialog.errorText()));
        QVERIFY(!dialog.isBusy());
        QVERIFY(!dialog.findChild<QPushButton *>(QStringLiteral("find"))->isEnabled());
        QVERIFY(!dialog.findSparsity());
    }

    // The run folder's scan is of another model (conv2 with 48 filters): said when the dialog
    // reads it.
    void scanOfAnotherArchitectureIsRefused()
    {
        const QString other = copyRun("other-architecture");
        QString error;
        std::optional<SensitivityScan> scan
            = readSensitivityScan(QDir(m_run).filePath(QStringLiteral("sensitivity.json")), &error);
        QVERIFY2(scan, qPrintable(error));
        scan->tensorShapes[1][0] = 48;
        QVERIFY(writeSensitivityScan(
            *scan, QDir(other).filePath(QStringLiteral("sensitivity.json")), &error));
        PruneBudgetDialog dialog(other, m_data);
        QSignalSpy errors(&dialog, &PruneBudgetDialog::errorShown);
        QTRY_VERIFY_WITH_TIMEOUT(errors.count() == 1, 60000);
        QVERIFY2(dialog.errorText().contains(QLatin1String("another architecture")),
            qPrintable(dialog.errorText()));
        QCOMPARE(dialog.plot()->lineCount(), 0);
    }
};

QTEST_MAIN(TestPruneBudgetDialog)
#include "tst_prunebudgetdialog.moc"
