// A run started from leantune-cli appears in the desktop application's run history: the history
// model and widget read it, with its samples, from the same database (runs.sqlite in the data
// folder).

#include "clirunner.h"
#include "guitestdata.h"

#include "widgets/charts/livecharts.h"
#include "widgets/runs/runhistorywidget.h"
#include "widgets/runs/runtablemodel.h"
#include "store/runstore.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

class TestCliHistory : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

    // leantune-cli ARGS with the data folder (and so the history) in this test's folder.
    testcli::Result train(const QStringList &extra, const QString &name)
    {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("LEANTUNE_DATA_DIR"), m_dir.filePath(QStringLiteral("userdata")));
        env.remove(
            QStringLiteral("LEANTUNE_HISTORY")); // the default place: the data folder's runs.sqlite
        p.setProcessEnvironment(env);
        p.start(testcli::cliPath(),
            QStringList { QStringLiteral("train"), QStringLiteral("--data"),
                m_dir.filePath(QStringLiteral("data")), QStringLiteral("--out"),
                m_dir.filePath(name), QStringLiteral("--input-size"), QStringLiteral("16"),
                QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--batch-size"),
                QStringLiteral("16"), QStringLiteral("--device"), QStringLiteral("cpu"),
                QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--progress"),
                QStringLiteral("none") }
                + extra);
        return testcli::finish(p, 180000);
    }
    QString historyPath() const { return m_dir.filePath(QStringLiteral("userdata/runs.sqlite")); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        guitestdata::writeImageFolder(m_dir.filePath(QStringLiteral("data")), 2, 40, 16);
    }

    void aCliRunIsListedWithItsCharts()
    {
        const testcli::Result r = train({}, QStringLiteral("cli-run"));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        RunStore store;
        QVERIFY2(store.open(historyPath()), qPrintable(store.lastError()));
        RunHistoryWidget history(&store);
        history.reload();
        QCOMPARE(history.model()->rowCount(), 1);
        const StoredRun *run = history.model()->runAt(0);
        QVERIFY(run);
        QCOMPARE(run->status, QStringLiteral("finished"));
        QCOMPARE(run->config.outDir, m_dir.filePath(QStringLiteral("cli-run")));
        QVERIFY(run->hasSummary);
        QVERIFY(run->sampleCount > 0);
        history.selectRuns({ run->id });
        QVERIFY(history.charts()->pointCount(LiveCharts::Throughput) > 0);
    }

    void noHistoryLeavesTheHistoryAlone()
    {
        RunStore store;
        QVERIFY(store.open(historyPath()));
        const int before = int(store.runs().size());
        const testcli::Result r
            = train({ QStringLiteral("--no-history") }, QStringLiteral("unrecorded"));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(int(store.runs().size()), before);
    }
};

QTEST_MAIN(TestCliHistory)
#include "tst_clihistory.moc"
