// RunStore: a run's configuration, samples and summary round-trip through SQLite; failed, deleted
// and interrupted runs; the store survives a reopen.

#include "store/runstore.h"

#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

MetricsSample sample(std::int64_t step)
{
    MetricsSample s;
    s.step = step;
    s.epoch = int(step / 10);
    s.epochProgress = double(step % 10) / 10.0;
    s.images = step * 32;
    s.imagesPerSec = 1000.0 + double(step);
    s.dataWaitMs = 1.5;
    s.computeMs = 12.25;
    s.loss = 2.0 / double(step);
    s.accuracy = 0.5;
    s.valLoss = step > 5 ? 0.7 : -1.0;
    s.valAccuracy = step > 5 ? 0.81 : -1.0;
    s.learningRate = 0.05;
    s.targetSparsity = 0.5;
    s.measuredSparsity = 0.4999;
    s.hostRssBytes = 300'000'000 + step;
    s.hostPeakRssBytes = 400'000'000;
    s.deviceAllocatedBytes = step % 2 ? -1 : 5'000'000'000; // 64-bit values survive
    s.batchSize = 32;
    s.elapsedSec = 0.1 * double(step);
    s.event = step == 3 ? QStringLiteral("checkpoint") : QString();
    // Every field is stored, the memory ones included (they were once dropped on the way back).
    s.microBatch = 16;
    s.accumulationSteps = 2;
    s.lossScale = step == 4 ? 65536.0 : 0.0;
    return s;
}

RunConfig config(const QString &out)
{
    RunConfig c;
    c.dataDir = QStringLiteral("/data/fashion mnist/train");
    c.outDir = out;
    c.model.name = QStringLiteral("resnet8");
    c.model.inputSize = 32;
    c.batchSize = 128;
    c.prune = QStringLiteral("polynomial:0.5:0.8:0:500:3:50");
    return c;
}

} // namespace

class TestRunStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString dbPath() const { return m_dir.filePath(QStringLiteral("runs.sqlite")); }

private Q_SLOTS:
    void roundTrip()
    {
        RunStore store;
        QVERIFY2(store.open(dbPath()), qPrintable(store.lastError()));
        const QDateTime created
            = QDateTime::fromString(QStringLiteral("2026-01-02T03:04:05.678Z"), Qt::ISODateWithMs);
        const auto id = store.beginRun(config(QStringLiteral("/runs/a")), created);
        QVERIFY2(id, qPrintable(store.lastError()));

        QVector<MetricsSample> samples;
        for (int i = 1; i <= 25; ++i)
            samples << sample(i);
        QVERIFY(store.addSamples(*id, samples.mid(0, 10)));
        QVERIFY(store.addSamples(*id, samples.mid(10)));

        std::optional<StoredRun> running = store.run(*id);
        QVERIFY(running);
        QCOMPARE(running->status, QStringLiteral("running"));
        QVERIFY(!running->hasSummary);

        RunSummary summary;
        summary.status = QStringLiteral("finished");
        summary.device = QStringLiteral("CPU, 2 threads");
        summary.valAccuracy = 0.875;
        summary.testAccuracy = 0.86;
        summary.finalSparsity = 0.79;
        summary.targetSparsity = 0.8;
        summary.imagesPerSec = 2345.5;
        summary.peakHostRssBytes = 512'000'000;
        summary.steps = 25;
        summary.epochs = 3;
        summary.runDir = QStringLiteral("/runs/a");
        summary.batchSize = 128;
        summary.microBatch = 64;
        summary.oomRecoveries = 1;
        summary.predictedPeakBytes = 6'000'000'000;
        summary.memoryBudgetBytes = 700 << 20;
        QVERIFY(store.finishRun(*id, summary));

        const std::optional<StoredRun> r = store.run(*id);
        QVERIFY(r);
        QCOMPARE(r->status, QStringLiteral("finished"));
        QCOMPARE(r->created, created);
        QCOMPARE(r->config.toJson(), config(QStringLiteral("/runs/a")).toJson());
        QVERIFY(r->hasSummary);
        QCOMPARE(r->summary.toJson(), summary.toJson());
        QCOMPARE(r->sampleCount, 25);
        QCOMPARE(r->targetSparsity(), 0.8);

        const QVector<MetricsSample> back = store.samples(*id);
        QCOMPARE(back.size(), samples.size());
        for (int i = 0; i < samples.size(); ++i)
            QCOMPARE(back[i].toJson(), samples[i].toJson());
    }

    void failedDeletedAndOrdered()
    {
        RunStore store;
        QVERIFY(store.open(dbPath()));
        const int before = store.runs().size();
        const auto older = store.beginRun(
            config(QStringLiteral("/runs/b")), QDateTime::currentDateTimeUtc().addDays(-1));
        const auto newer = store.beginRun(config(QStringLiteral("/runs/c")));
        QVERIFY(older && newer);
        QVERIFY(store.failRun(*older, QStringLiteral("the data folder has only one class")));
        QVERIFY(store.addSamples(*newer, { sample(1), sample(2) }));

        QVector<StoredRun> runs = store.runs();
        QCOMPARE(runs.size(), before + 2);
        QCOMPARE(runs.first().id, *newer); // newest first
        const auto failed = store.run(*older);
        QCOMPARE(failed->status, QStringLiteral("failed"));
        QCOMPARE(failed->message, QStringLiteral("the data folder has only one class"));

        QVERIFY(store.removeRun(*newer));
        QVERIFY(!store.run(*newer));
        QVERIFY(store.samples(*newer).isEmpty()); // samples go with the run
        QVERIFY(!store.removeRun(*newer));
        QVERIFY(!store.finishRun(987654, RunSummary()));
    }

    void survivesReopen()
    {
        qint64 id = 0;
        {
            RunStore store;
            QVERIFY(store.open(dbPath()));
            id = *store.beginRun(config(QStringLiteral("/runs/d")));
            QVERIFY(store.addSamples(id, { sample(7) }));
            // No finishRun: as if the application was killed during the run.
        }
        RunStore again;
        QVERIFY(again.open(dbPath()));
        const auto r = again.run(id);
        QVERIFY(r);
        QCOMPARE(r->status, QStringLiteral("running"));
        QCOMPARE(again.samples(id).size(), 1);
        QCOMPARE(again.samples(id).first().step, std::int64_t(7));
    }

    void twoStoresOnOneFile()
    {
        RunStore a, b;
        QVERIFY(a.open(dbPath()));
        QVERIFY(b.open(dbPath()));
        const auto id = a.beginRun(config(QStringLiteral("/runs/e")));
        QVERIFY(id);
        QVERIFY(b.run(*id));
    }

    void unwritableLocation()
    {
        RunStore store;
        QVERIFY(!store.open(QStringLiteral("/proc/leantune/runs.sqlite")));
        QVERIFY(!store.lastError().isEmpty());
        QVERIFY(!store.isOpen());
    }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "tst_runstore.moc"
