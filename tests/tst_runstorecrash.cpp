// RunStore after kill -9: the suite re-runs itself as a writer (--writer DBPATH ROUND) that records
// runs and metric samples through RunStore as fast as it can and reports each committed write on
// stdout; the test sends it SIGKILL as it starts a samples transaction, then checks that the
// database is intact, that every write reported as committed is there with its data, that no
// transaction is there in part, and that the store takes new writes. Three rounds kill three
// writers on one file.

#include "store/runstore.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QHash>
#include <QProcess>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>

using namespace leantune;

namespace {

constexpr int kSamplesPerCommit = 500; // samples in one addSamples transaction
constexpr int kCommitsPerRun = 3; // addSamples calls per run

// Everything the writer records is a function of the run id and step, so the test can recompute it.
// Fields RunStore does not read back (micro_batch, accumulation_steps, loss_scale) keep their
// defaults.
MetricsSample sample(qint64 run, std::int64_t step)
{
    MetricsSample s;
    s.step = step;
    s.epoch = int(step / 100);
    s.epochProgress = double(step % 100) / 100.0;
    s.images = step * 64;
    s.imagesPerSec = 1000.0 + double(run);
    s.loss = 1.0 / double(step + run);
    s.accuracy = double(step % 97) / 97.0;
    s.learningRate = 0.05;
    s.hostRssBytes = 100'000'000 + run * 1000 + step;
    s.batchSize = 64;
    s.elapsedSec = 0.01 * double(step);
    s.event = step % 250 == 0 ? QStringLiteral("checkpoint") : QString();
    return s;
}

RunConfig config(int round, int index)
{
    RunConfig c;
    c.dataDir = QStringLiteral("/data/crash");
    c.outDir = QStringLiteral("/runs/round%1-run%2").arg(round).arg(index);
    c.batchSize = 64;
    c.epochs = round + 1;
    return c;
}

// Summary fields RunStore does not read back (batch_size, micro_batch, ...) keep their defaults.
RunSummary summary(qint64 run)
{
    RunSummary s;
    s.device = QStringLiteral("CPU");
    s.valAccuracy = 0.5 + double(run % 40) / 100.0;
    s.steps = kSamplesPerCommit * kCommitsPerRun;
    s.epochs = 2;
    s.wallSeconds = double(run);
    s.runDir = QStringLiteral("/runs/%1").arg(run);
    return s;
}

void report(const char *line)
{
    std::fputs(line, stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// The writer. One line on stdout after each committed write:
//   begun ID ROUND INDEX    beginRun     (ID: the new run)
//   samples ID N            addSamples   (the run now holds N samples)
//   finished ID             finishRun    (every other run; the rest stay "running")
// and, just before each samples transaction starts, "writing ID N" (N: the count it would reach).
int runWriter(const QString &dbPath, int round)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
    RunStore store;
    if (!store.open(dbPath)) {
        std::fprintf(stderr, "writer: %s\n", qPrintable(store.lastError()));
        return 2;
    }
    for (int index = 0; index < 100000; ++index) {
        const std::optional<qint64> id = store.beginRun(config(round, index));
        if (!id) {
            std::fprintf(stderr, "writer: %s\n", qPrintable(store.lastError()));
            return 2;
        }
        report(QByteArray("begun " + QByteArray::number(*id) + ' ' + QByteArray::number(round) + ' '
            + QByteArray::number(index))
                   .constData());
        for (int commit = 0; commit < kCommitsPerRun; ++commit) {
            QVector<MetricsSample> samples;
            for (int i = 1; i <= kSamplesPerCommit; ++i)
                samples << sample(*id, std::int64_t(commit) * kSamplesPerCommit + i);
            const QByteArray count = QByteArray::number((commit + 1) * kSamplesPerCommit);
            report(QByteArray("writing " + QByteArray::number(*id) + ' ' + count).constData());
            if (!store.addSamples(*id, samples)) {
                std::fprintf(stderr, "writer: %s\n", qPrintable(store.lastError()));
                return 2;
            }
            report(QByteArray("samples " + QByteArray::number(*id) + ' ' + count).constData());
        }
        if (index % 2 == 0) {
            if (!store.finishRun(*id, summary(*id))) {
                std::fprintf(stderr, "writer: %s\n", qPrintable(store.lastError()));
                return 2;
            }
            report(QByteArray("finished " + QByteArray::number(*id)).constData());
        }
    }
    return 0; // the test kills the writer long before
}

// What the writers reported as committed, per run.
struct Reported {
    int round = 0;
    int index = 0;
    qint64 samples = 0;
    bool finished = false;
};

} // namespace

class TestRunStoreCrash : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QHash<qint64, Reported> m_reported;
    int m_rolledBack = 0; // rounds whose kill landed inside a samples transaction

    QString dbPath() const { return m_dir.filePath(QStringLiteral("runs.sqlite")); }

    // SQLite's own check of the file, on a plain connection (this also recovers the WAL).
    static QString integrityCheck(const QString &path)
    {
        const QString connection = QStringLiteral("integrity-check");
        QString result;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
            db.setDatabaseName(path);
            if (!db.open())
                return QStringLiteral("cannot open: ") + db.lastError().text();
            QSqlQuery q(db);
            if (!q.exec(QStringLiteral("PRAGMA integrity_check")))
                return q.lastError().text();
            while (q.next())
                result += q.value(0).toString();
            if (!q.exec(QStringLiteral("PRAGMA foreign_key_check")))
                return q.lastError().text();
            while (q.next())
                result += QStringLiteral(" orphan row in ") + q.value(0).toString();
            if (!q.exec(QStringLiteral("PRAGMA journal_mode")) || !q.next())
                return q.lastError().text();
            result += QStringLiteral(" journal ") + q.value(0).toString();
            db.close();
        }
        QSqlDatabase::removeDatabase(connection);
        return result;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void killedWriterLosesNothingCommitted_data()
    {
        QTest::addColumn<int>("round");
        QTest::addColumn<int>("commitsBeforeKill");
        QTest::newRow("round 1") << 1 << 12;
        QTest::newRow("round 2") << 2 << 25;
        QTest::newRow("round 3") << 3 << 40;
    }

    void killedWriterLosesNothingCommitted()
    {
        QFETCH(int, round);
        QFETCH(int, commitsBeforeKill);
        const qint64 reportedBefore = m_reported.size();

        QProcess writer;
        writer.setProcessChannelMode(QProcess::SeparateChannels);
        QByteArray pending; // an incomplete last line
        QList<QByteArray> lines;
        int commits = 0;
        bool killSent = false;
        connect(&writer, &QProcess::readyReadStandardOutput, &writer, [&] {
            pending += writer.readAllStandardOutput();
            int end;
            while ((end = pending.indexOf('\n')) >= 0) {
                const QByteArray line = pending.left(end);
                pending.remove(0, end + 1);
                lines << line;
                if (!line.startsWith("writing"))
                    ++commits;
                else if (commits >= commitsBeforeKill && !killSent) {
                    // It is starting a transaction of kSamplesPerCommit rows: kill it in there.
                    writer.kill(); // SIGKILL
                    killSent = true;
                }
            }
        });
        writer.start(QCoreApplication::applicationFilePath(),
            { QStringLiteral("--writer"), dbPath(), QString::number(round) });
        QVERIFY2(writer.waitForStarted(), qPrintable(writer.errorString()));
        QTRY_VERIFY_WITH_TIMEOUT(killSent || writer.state() == QProcess::NotRunning, 120000);
        QTRY_COMPARE_WITH_TIMEOUT(writer.state(), QProcess::NotRunning, 10000);
        QVERIFY2(killSent, writer.readAllStandardError().constData()); // it did not end on its own
        QCOMPARE(writer.exitStatus(), QProcess::CrashExit);
        pending += writer.readAllStandardOutput(); // whatever it wrote before it died
        for (const QByteArray &line : pending.split('\n'))
            if (!line.isEmpty())
                lines << line;

        // What it reported as committed. The last "writing" without its "samples" is the
        // transaction the kill was aimed at: committed or not, but never in part.
        qint64 pendingRun = -1, pendingCount = 0;
        for (const QByteArray &line : std::as_const(lines)) {
            const QList<QByteArray> f = line.split(' ');
            const qint64 id = f.value(1).toLongLong();
            if (f.first() == "begun") {
                m_reported.insert(id, Reported { f.value(2).toInt(), f.value(3).toInt() });
            } else if (f.first() == "writing") {
                pendingRun = id;
                pendingCount = f.value(2).toLongLong();
            } else if (f.first() == "samples") {
                QVERIFY(m_reported.contains(id));
                m_reported[id].samples = f.value(2).toLongLong();
                pendingRun = -1;
            } else if (f.first() == "finished") {
                QVERIFY(m_reported.contains(id));
                m_reported[id].finished = true;
            } else {
                QFAIL(line.constData());
            }
        }
        QVERIFY(m_reported.size() > reportedBefore);

        // Killed with the write-ahead log open: a clean close would have checkpointed and removed
        // it.
        QVERIFY(QFileInfo(dbPath() + QStringLiteral("-wal")).size() > 0);
        QCOMPARE(integrityCheck(dbPath()), QStringLiteral("ok journal wal"));

        RunStore store;
        QVERIFY2(store.open(dbPath()), qPrintable(store.lastError()));
        const QVector<StoredRun> runs = store.runs();
        int found = 0;
        for (const StoredRun &run : runs)
            found += m_reported.contains(run.id) ? 1 : 0;
        QCOMPARE(found, int(m_reported.size())); // every reported run is there
        qint64 lastReported = 0;
        int nextIndex = 0; // of this round's writer
        for (auto it = m_reported.cbegin(); it != m_reported.cend(); ++it) {
            lastReported = std::max(lastReported, it.key());
            if (it->round == round)
                nextIndex = std::max(nextIndex, it->index + 1);
        }
        // At most one write is there unreported: committed, then killed before it printed its line.
        // The store is the truth from here on: the next round's checks start from it.
        int unreportedWrites = 0;
        QString inFlight = QStringLiteral("none (killed between transactions)");
        for (const StoredRun &run : runs) {
            const QByteArray what = "run " + QByteArray::number(run.id);
            QCOMPARE(run.sampleCount % kSamplesPerCommit, 0); // no transaction in part
            const QVector<MetricsSample> samples = store.samples(run.id);
            QCOMPARE(samples.size(), run.sampleCount);
            for (int i = 0; i < samples.size(); ++i)
                QVERIFY2(samples[i].toJson() == sample(run.id, i + 1).toJson(), what.constData());
            if (!m_reported.contains(run.id)) {
                // Only the run begun after every reported one, with nothing in it yet.
                QVERIFY2(run.id > lastReported && run.sampleCount == 0, what.constData());
                QCOMPARE(run.status, QStringLiteral("running"));
                QCOMPARE(run.config.toJson(), config(round, nextIndex).toJson());
                m_reported.insert(run.id, Reported { round, nextIndex });
                ++unreportedWrites;
                continue;
            }
            Reported &r = m_reported[run.id];
            QCOMPARE(run.config.toJson(), config(r.round, r.index).toJson());
            if (run.id == pendingRun) {
                inFlight = run.sampleCount == r.samples
                    ? QStringLiteral("rolled back")
                    : QStringLiteral("committed (not yet reported)");
                m_rolledBack += run.sampleCount == r.samples ? 1 : 0;
            }
            if (run.sampleCount != r.samples) {
                QVERIFY2(run.id == pendingRun && run.sampleCount == pendingCount, what.constData());
                r.samples = run.sampleCount;
                ++unreportedWrites;
            }
            if (!r.finished && run.status == QLatin1String("finished")) {
                QVERIFY2(run.id == lastReported && r.samples == kSamplesPerCommit * kCommitsPerRun,
                    what.constData());
                r.finished = true;
                ++unreportedWrites;
            }
            if (r.finished) {
                QCOMPARE(run.status, QStringLiteral("finished"));
                QVERIFY(run.hasSummary);
                QCOMPARE(run.summary.toJson(), summary(run.id).toJson());
            } else {
                QCOMPARE(
                    run.status, QStringLiteral("running")); // interrupted runs stay visible as such
                QVERIFY(!run.hasSummary);
            }
        }
        QVERIFY2(unreportedWrites <= 1, qPrintable(QString::number(unreportedWrites)));
        qInfo("%d runs stored; the transaction in flight at the kill: %s", int(runs.size()),
            qPrintable(inFlight));
    }

    void killsLandedInsideTransactions()
    {
        // Not vacuous: at least one kill hit a samples transaction before its commit, and SQLite
        // rolled it back on the next open.
        QVERIFY2(m_rolledBack >= 1, qPrintable(QString::number(m_rolledBack)));
    }

    void storeTakesNewWritesAfterTheKills()
    {
        RunStore store;
        QVERIFY2(store.open(dbPath()), qPrintable(store.lastError()));
        const int before = int(store.runs().size());
        const std::optional<qint64> id = store.beginRun(config(9, 0));
        QVERIFY2(id, qPrintable(store.lastError()));
        QVERIFY2(store.addSamples(*id, { sample(*id, 1), sample(*id, 2) }),
            qPrintable(store.lastError()));
        QVERIFY2(store.finishRun(*id, summary(*id)), qPrintable(store.lastError()));
        QCOMPARE(int(store.runs().size()), before + 1);
        QCOMPARE(store.runs().first().id, *id); // newest first
        const std::optional<StoredRun> run = store.run(*id);
        QVERIFY(run);
        QCOMPARE(run->status, QStringLiteral("finished"));
        QCOMPARE(run->sampleCount, 2);
        QCOMPARE(store.samples(*id).last().toJson(), sample(*id, 2).toJson());
        // An interrupted run can still be closed as failed.
        for (auto it = m_reported.cbegin(); it != m_reported.cend(); ++it) {
            if (!it->finished) {
                QVERIFY(store.failRun(it.key(), QStringLiteral("interrupted")));
                QCOMPARE(store.run(it.key())->status, QStringLiteral("failed"));
                break;
            }
        }
        QCOMPARE(integrityCheck(dbPath()), QStringLiteral("ok journal wal"));
    }
};

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc == 4 && qstrcmp(argv[1], "--writer") == 0)
        return runWriter(QString::fromLocal8Bit(argv[2]), QByteArray(argv[3]).toInt());
    TestRunStoreCrash test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_runstorecrash.moc"
