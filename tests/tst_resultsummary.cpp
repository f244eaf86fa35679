// A finished run's results as people see them: the training tab's result summary (each accuracy
// named with its set) and the run history's accuracy column, whose header names its set.

#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"

#include "mainwindow.h"
#include "widgets/runs/runtablemodel.h"

#include <QAbstractItemModelTester>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace leantune;

class TestResultSummary : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    static StoredRun run(qint64 id, double test, double val)
    {
        StoredRun r;
        r.id = id;
        r.created = QDateTime::currentDateTimeUtc();
        r.status = QStringLiteral("finished");
        r.config.outDir = QStringLiteral("/runs/r%1").arg(id);
        r.config.testDir = QStringLiteral("/data/test");
        r.hasSummary = true;
        r.summary.testAccuracy = test;
        r.summary.valAccuracy = val;
        return r;
    }

private Q_SLOTS:
    void initTestCase() { guitestdata::isolateSettings(m_dir); }

    // The header says which set the column's accuracies come from; mixed sets name it per cell.
    void historyAccuracyNamesItsSet()
    {
        RunTableModel model;
        QAbstractItemModelTester tester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const auto header = [&] {
            return model.headerData(RunTableModel::AccuracyColumn, Qt::Horizontal).toString();
        };
        const auto cell = [&](int row) {
            return model.index(row, RunTableModel::AccuracyColumn).data().toString();
        };
        model.setRuns({ run(1, 0.91, 0.9), run(2, 0.85, 0.8) });
        QCOMPARE(header(), QStringLiteral("Test accuracy"));
        QCOMPARE(cell(0), QStringLiteral("91.00 %"));
        QSignalSpy changed(&model, &QAbstractItemModel::headerDataChanged);
        model.setRuns({ run(3, -1.0, 0.7) });
        QCOMPARE(changed.size(), 1);
        QCOMPARE(header(), QStringLiteral("Validation accuracy"));
        QCOMPARE(cell(0), QStringLiteral("70.00 %"));
        model.setRuns({ run(1, 0.91, 0.9), run(3, -1.0, 0.7) });
        QCOMPARE(header(), QStringLiteral("Accuracy (set)"));
        QCOMPARE(cell(0), QStringLiteral("91.00 % test"));
        QCOMPARE(cell(1), QStringLiteral("70.00 % val."));
        QVERIFY(model.index(1, RunTableModel::AccuracyColumn)
                    .data(Qt::ToolTipRole)
                    .toString()
                    .contains(QStringLiteral("validation accuracy")));
    }

    // After a run with a test set, the training tab ends with its figures, each accuracy named
    // with its set, and a button that asks for the run's evaluation.
    void finishedRunShowsItsResult()
    {
        const QString data = m_dir.filePath(QStringLiteral("shapes"));
        const QString test = m_dir.filePath(QStringLiteral("shapes-test"));
        guitestdata::writeImageFolder(data, 3, 30, 16, 1);
        guitestdata::writeImageFolder(test, 3, 5, 16, 2);
        MainWindow w;
        w.setConfirmOnClose(false);
        w.resize(1280, 760);
        w.show();
        QCOMPARE(w.resultSummaryText(), QString());
        RunConfig c;
        c.dataDir = data;
        c.testDir = test;
        c.outDir = m_dir.filePath(QStringLiteral("runs/result"));
        c.model.inputSize = 16;
        c.batchSize = 16;
        c.epochs = 1;
        c.device = QStringLiteral("cpu");
        c.workers = 1;
        c.threads = 1;
        QSignalSpy ended(&w, &MainWindow::runEnded);
        QString error;
        QVERIFY2(w.startRun(c, &error), qPrintable(error));
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 180000);
        QVERIFY(ended.first().first().toBool());
        QFile file(QDir(c.outDir).filePath(QStringLiteral("summary.json")));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject summary = QJsonDocument::fromJson(file.readAll()).object();
        const QString text = w.resultSummaryText();
        const auto percent = [&](const char *key) {
            return QStringLiteral("%1 %").arg(
                100.0 * summary.value(QLatin1String(key)).toDouble(), 0, 'f', 2);
        };
        for (const QString &expected : { percent("test_accuracy"), percent("val_accuracy"),
                 QStringLiteral("test accuracy test set: shapes-test"),
                 QStringLiteral("validation accuracy 10 % of shapes, last epoch"),
                 QStringLiteral("sparsity"), QStringLiteral("images/s"),
                 QStringLiteral("peak memory") })
            QVERIFY2(
                text.contains(expected), qPrintable(text + QStringLiteral(" lacks ") + expected));
        auto *button = w.findChild<QPushButton *>(QStringLiteral("openEvaluation"));
        QVERIFY(button && button->isVisibleTo(w.trainingTab()) && button->isEnabled());
        w.showTab(2); // the training tab
        QVERIFY(guitestdata::saveScreenshot(&w, "result-summary"));
        QSignalSpy asked(&w, &MainWindow::evaluationRequested);
        button->click();
        QCOMPARE(asked.size(), 1);
        QCOMPARE(asked.first().first().toString(), c.outDir);
    }
};

QTEST_MAIN(TestResultSummary)
#include "tst_resultsummary.moc"
