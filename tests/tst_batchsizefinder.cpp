// BatchSizeFinder: doubling and bisection against a fake allocator (OOM at the first trial,
// allocator cleaned between trials, cap, margin, nothing fits, failures), the CPU search against a
// host budget, and the find-batch-size command's JSON.

#include "sanitizerskip.h"
#include "testconfigs.h"
#include "testdata.h"

#include "metrics/memoryprobe.h"
#include "train/batchsizefinder.h"
#include "train/trainer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>
#include <QThread>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

constexpr std::int64_t MiB = 1 << 20;

// A fake device: a trial at batch b allocates fixed + perImage × b on top of what is still live;
// past the capacity it runs out of memory. Memory stays live until release(), as a real allocator's
// cache and leftover tensors would.
class FakeAllocator : public BatchTrialRunner {
public:
    FakeAllocator(std::int64_t capacity, std::int64_t fixed, std::int64_t perImage)
        : m_capacity(capacity)
        , m_fixed(fixed)
        , m_perImage(perImage)
    {
    }

    BatchTrial run(int batchSize) override
    {
        ++runs;
        BatchTrial t;
        t.batchSize = batchSize;
        if (oomOnFirstTrial && runs == 1) { // e.g. fragmentation, or another process's burst
            t.outOfMemory = true;
            m_live += m_capacity / 2; // a failed trial leaves debris behind
            return t;
        }
        const std::int64_t need = m_fixed + m_perImage * batchSize;
        if (m_live + need > m_capacity) {
            t.outOfMemory = true;
            m_live += (m_capacity - m_live) / 2;
            return t;
        }
        m_live += need;
        t.peakBytes = m_live;
        return t;
    }
    void release() override
    {
        ++releases;
        m_live = 0;
    }

    bool oomOnFirstTrial = false;
    int runs = 0, releases = 0;

private:
    std::int64_t m_capacity, m_fixed, m_perImage, m_live = 0;
};

// A runner that reports a fixed peak and fails at one batch size with an error that is not an OOM.
class BrokenRunner : public BatchTrialRunner {
public:
    BatchTrial run(int batchSize) override
    {
        BatchTrial t;
        t.batchSize = batchSize;
        t.peakBytes = MiB;
        if (batchSize >= 8)
            t.error = QStringLiteral("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR");
        return t;
    }
};

QJsonObject runCliJson(const QStringList &args, int *exitCode)
{
    QProcess p;
    p.start(QStringLiteral(LEANTUNE_CLI_PATH), args);
    p.waitForFinished(240000);
    *exitCode = p.exitCode();
    const QByteArray out = p.readAllStandardOutput();
    if (p.exitCode() != 0)
        qWarning("%s", p.readAllStandardError().constData());
    return QJsonDocument::fromJson(out).object();
}

} // namespace

class TestBatchSizeFinder : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase()
    {
        usePredictableHostAllocator(); // as the programs do: the planner's probes measure host
                                       // memory
        QVERIFY(m_dir.isValid());
    }

    void findsTheLargestBatchUnderTheLimit_data()
    {
        QTest::addColumn<qint64>("capacity");
        QTest::addColumn<double>("margin");
        QTest::addColumn<int>("start");
        QTest::addColumn<int>("expected");
        // fixed 100 MiB + 1 MiB per image; limit = capacity × (1 − margin).
        QTest::newRow("1 GiB, 10%") << qint64(1024 * MiB) << 0.1 << 1 << 821; // 100 + 821 ≤ 921.6
        QTest::newRow("1 GiB, no margin") << qint64(1024 * MiB) << 0.0 << 1 << 924;
        QTest::newRow("start high") << qint64(1024 * MiB) << 0.1 << 512 << 821;
        QTest::newRow("start above the answer") << qint64(1024 * MiB) << 0.1 << 2048 << 821;
        QTest::newRow("power of two exactly") << qint64(228 * MiB) << 0.0 << 1 << 128;
    }

    void findsTheLargestBatchUnderTheLimit()
    {
        QFETCH(qint64, capacity);
        QFETCH(double, margin);
        QFETCH(int, start);
        QFETCH(int, expected);
        FakeAllocator fake(capacity, 100 * MiB, MiB);
        BatchSearchOptions o;
        o.margin = margin;
        o.startBatch = start;
        const BatchSearchResult r = BatchSizeFinder(o).search(fake, capacity);
        QVERIFY2(r.ok(), qPrintable(r.error));
        QCOMPARE(r.batchSize, expected);
        QVERIFY(r.peakBytes <= r.limitBytes);
        QVERIFY(100 * MiB + (expected + 1) * MiB > r.limitBytes);
        QVERIFY(!r.capped);
        QVERIFY(r.trials.size() < 30);
    }

    void cleansTheAllocatorAfterEveryTrial()
    {
        FakeAllocator fake(1024 * MiB, 100 * MiB, MiB);
        const BatchSearchResult r = BatchSizeFinder().search(fake, 1024 * MiB);
        QVERIFY(r.ok());
        QCOMPARE(fake.releases, fake.runs);
        QCOMPARE(int(r.trials.size()), fake.runs);
        // Without release() the fake's debris would make later, smaller trials fail: they fit.
        bool sawOomThenFit = false;
        for (std::size_t i = 1; i < r.trials.size(); ++i)
            sawOomThenFit |= r.trials[i - 1].outOfMemory && r.trials[i].fits;
        QVERIFY(sawOomThenFit);
    }

    void recoversFromAnOutOfMemoryAtTheFirstTrial()
    {
        FakeAllocator fake(1024 * MiB, 100 * MiB, MiB);
        fake.oomOnFirstTrial = true;
        BatchSearchOptions o;
        o.startBatch = 512; // fits in truth, but the first trial runs out of memory
        const BatchSearchResult r = BatchSizeFinder(o).search(fake, 1024 * MiB);
        QVERIFY2(r.ok(), qPrintable(r.error));
        QVERIFY(r.trials.front().outOfMemory);
        QCOMPARE(r.trials.front().batchSize, 512);
        QVERIFY(!r.trials.front().fits);
        // Bisection below the failed start: the largest size under 512 that fits, found exactly.
        QCOMPARE(r.batchSize, 511);
        QCOMPARE(fake.releases, fake.runs);
    }

    void aToleranceSettlesCloseBelowTheLargestFit()
    {
        FakeAllocator exact(1024 * MiB, 100 * MiB, MiB), rough(1024 * MiB, 100 * MiB, MiB);
        const BatchSearchResult e = BatchSizeFinder().search(exact, 1024 * MiB);
        BatchSearchOptions o;
        o.tolerance = 0.05;
        const BatchSearchResult r = BatchSizeFinder(o).search(rough, 1024 * MiB);
        QCOMPARE(e.batchSize, 821);
        QVERIFY2(r.batchSize <= 821 && r.batchSize >= 821 * 0.95,
            qPrintable(QString::number(r.batchSize)));
        QVERIFY(r.trials.size() < e.trials.size());
    }

    void stopsAtTheCap()
    {
        FakeAllocator fake(1024 * MiB, 100 * MiB, MiB);
        BatchSearchOptions o;
        o.maxBatch = 300;
        const BatchSearchResult r = BatchSizeFinder(o).search(fake, 1024 * MiB);
        QCOMPARE(r.batchSize, 300);
        QVERIFY(r.capped);
        for (const BatchTrial &t : r.trials)
            QVERIFY(t.batchSize <= 300);
    }

    void reportsWhenNotEvenTheSmallestBatchFits()
    {
        FakeAllocator fake(64 * MiB, 100 * MiB, MiB);
        const BatchSearchResult r = BatchSizeFinder().search(fake, 64 * MiB);
        QVERIFY(!r.ok());
        QCOMPARE(r.batchSize, 0);
        QVERIFY2(r.error.contains(QStringLiteral("even batch 1")), qPrintable(r.error));
        QCOMPARE(int(r.trials.size()), 1);
    }

    void aFailureThatIsNotOutOfMemoryEndsTheSearch()
    {
        BrokenRunner broken;
        const BatchSearchResult r = BatchSizeFinder().search(broken, 1024 * MiB);
        QVERIFY(!r.ok());
        QVERIFY2(
            r.error.contains(QStringLiteral("CUDNN_STATUS_INTERNAL_ERROR")), qPrintable(r.error));
        QVERIFY2(r.error.contains(QStringLiteral("batch 8")), qPrintable(r.error));
    }

    void cancelStopsTheSearch()
    {
        FakeAllocator fake(1024 * MiB, 100 * MiB, MiB);
        std::atomic_bool cancel { true };
        const BatchSearchResult r = BatchSizeFinder().search(fake, 1024 * MiB, &cancel);
        QVERIFY(!r.ok());
        QVERIFY(r.error.contains(QStringLiteral("cancelled")));
    }

    // CPU: the search runs against the host budget with the planner's predictions.
    void cpuSearchRespectsTheHostBudget()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = testconfigs::smallCnnOnCpu();
        QString error;
        // First an unbounded plan, to set a budget that allows ~150 images above the fixed part.
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, &error);
        QVERIFY2(plan, qPrintable(error));
        // Trials are predicted with evaluation at the trial's batch (the Trainer sizes evaluation
        // later).
        const std::int64_t budget = std::int64_t(
            double(plan->predictPeak(150, 0, -1, 150)) / (1.0 - c.memoryMarginFor(false)));
        c.memoryBudgetBytes = budget;
        const std::optional<BatchSizeReport> report = BatchSizeFinder::find(c, 100000, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->search.capacityBytes, budget);
        QVERIFY(!report->measured);
        QVERIFY(report->predictedPeakBytes <= report->search.limitBytes);
        const int next = report->search.batchSize + 1;
        QVERIFY(report->plan.predictPeak(next, 0, -1, next) > report->search.limitBytes);
        // A fresh probe sees a slightly different fixed part; the answer stays near 150.
        QVERIFY2(report->search.batchSize > 75 && report->search.batchSize < 300,
            qPrintable(QString::number(report->search.batchSize)));
        const QJsonObject json = report->toJson();
        QCOMPARE(json.value(QStringLiteral("batch_size")).toInt(), report->search.batchSize);
        QCOMPARE(json.value(QStringLiteral("capacity_bytes")).toInteger(), budget);
    }

    // Memory is not the only limit: with room for thousands of images, the answer for 5,400
    // training images is at most a tenth of them, and the report says why.
    void answerIsCappedAtATenthOfTheTrainingImages()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = testconfigs::smallCnnOnCpu();
        c.memoryBudgetBytes = qint64(64) << 30; // room for far more than 540 images
        QString error;
        const std::optional<BatchSizeReport> report = BatchSizeFinder::find(c, 5400, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->search.batchSize, 540);
        QVERIFY(report->search.capped);
        QVERIFY2(report->capText().contains(QLatin1String("a tenth of the 5400 training images")),
            qPrintable(report->capText()));
        QVERIFY(report->toJson()
                    .value(QStringLiteral("cap_reason"))
                    .toString()
                    .contains(QLatin1String("tenth")));
        // A small data set keeps batches up to 32 (or all its images).
        const std::optional<BatchSizeReport> small = BatchSizeFinder::find(c, 150, &error);
        QVERIFY2(small, qPrintable(error));
        QCOMPARE(small->search.batchSize, 32);
    }

    // GPU machine only: real trials under a real allocator cap; the device is left clean, and a run
    // at the size found (--batch-size auto) trains a full epoch without running out of memory.
    void cudaSearchUnderARealLimitThenAFullEpoch()
    {
        if (cudaDeviceCount() == 0)
            QSKIP("no CUDA device (CPU-only LibTorch or no GPU)");
        struct Uncap {
            ~Uncap() { limitDeviceMemory(0, 0); }
        } uncap;
        QVERIFY(limitDeviceMemory(0, qint64(1536) << 20));
        RunConfig c;
        c.model.name = QStringLiteral("resnet18");
        c.model.inputSize = 64;
        c.model.channels = 1;
        c.model.classes = 2;
        c.device = QStringLiteral("cuda");
        QString error;
        const std::optional<BatchSizeReport> report = BatchSizeFinder::find(c, 100000, &error);
        QVERIFY2(report, qPrintable(error));
        QVERIFY(report->measured);
        QVERIFY(report->search.capacityBytes <= (qint64(1536) << 20));
        QVERIFY(report->search.peakBytes <= report->search.limitBytes);
        bool hitTheLimit = false;
        for (const BatchTrial &t : report->search.trials)
            hitTheLimit |= !t.fits;
        QVERIFY(hitTheLimit);
        const double err = double(report->predictedPeakBytes - report->search.peakBytes)
            / double(report->search.peakBytes);
        qInfo("cuda finder: batch %d, predicted %lld MiB, measured %lld MiB (%+.1f%%), %d trials",
            report->search.batchSize, (long long)(report->predictedPeakBytes >> 20),
            (long long)(report->search.peakBytes >> 20), err * 100.0,
            int(report->search.trials.size()));
        QVERIFY2(std::abs(err) < 0.15, qPrintable(QString::number(err)));
        // Nothing of the trials is left but library workspaces (cuBLAS keeps up to 32 MiB on
        // Hopper).
        QVERIFY2(deviceMemory(0).allocated < (qint64(128) << 20),
            "the search leaves the allocator clean");

        // A run with --batch-size auto under the same cap: one full epoch, no out-of-memory.
        const QString data = m_dir.filePath(QStringLiteral("data-cuda"));
        testdata::writeImageFolder(data, 2, 600, 16, 9);
        RunConfig r = c;
        r.dataDir = data;
        r.outDir = m_dir.filePath(QStringLiteral("run-cuda-auto"));
        r.batchSizeAuto = true;
        r.epochs = 1;
        r.valSplit = 0.1;
        QThread thread;
        auto *trainer = new Trainer(r, {});
        trainer->moveToThread(&thread);
        QObject::connect(&thread, &QThread::started, trainer, &Trainer::run);
        QObject::connect(&thread, &QThread::finished, trainer, &QObject::deleteLater);
        QSignalSpy finished(trainer, &Trainer::finished), failed(trainer, &Trainer::failed);
        thread.start();
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 240000);
        thread.quit();
        thread.wait();
        QVERIFY2(failed.isEmpty(),
            qPrintable(failed.isEmpty() ? QString() : failed.first().first().toString()));
        const RunSummary s = finished.first().first().value<RunSummary>();
        qInfo("cuda auto run: batch %d, %lld steps, peak %lld MiB (predicted %lld), %d recoveries",
            s.batchSize, (long long)s.steps, (long long)(s.peakDeviceBytes >> 20),
            (long long)(s.predictedPeakBytes >> 20), s.oomRecoveries);
        QCOMPARE(s.status, QStringLiteral("finished"));
        QCOMPARE(s.epochs, 1);
        QCOMPARE(s.oomRecoveries, 0);
        QVERIFY(s.batchSize > 1);
        QVERIFY(s.peakDeviceBytes <= (qint64(1536) << 20));
    }

    void cliPrintsTheBatchSizeAsJson()
    {
        const QString data = m_dir.filePath(QStringLiteral("data"));
        testdata::writeImageFolder(data, 3, 30, 16, 1);
        int code = -1;
        const QJsonObject o = runCliJson(
            { QStringLiteral("find-batch-size"), QStringLiteral("--data"), data,
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--device"),
                QStringLiteral("cpu"), QStringLiteral("--threads"), QStringLiteral("1"),
                QStringLiteral("--memory-budget"), QStringLiteral("64G"), QStringLiteral("--max"),
                QStringLiteral("64"), QStringLiteral("--predict"), QStringLiteral("8,16"),
                QStringLiteral("--json") },
            &code);
        QCOMPARE(code, 0);
        // A generous budget: the data's cap (a tenth of the 81 training images that the 0.1
        // validation split leaves of 90, at least 32; under --max 64) decides.
        QCOMPARE(o.value(QStringLiteral("batch_size")).toInt(), 32);
        QVERIFY2(o.value(QStringLiteral("cap_reason")).toString().contains(QLatin1String("81")),
            qPrintable(o.value(QStringLiteral("cap_reason")).toString()));
        QCOMPARE(o.value(QStringLiteral("capacity_bytes")).toInteger(), qint64(64) << 30);
        QVERIFY(o.value(QStringLiteral("predicted_peak_bytes")).toInteger() > 0);
        QCOMPARE(o.value(QStringLiteral("predictions")).toArray().size(), 2);
        // The answer holds for the run started with the same memory options: the exact flags.
        QStringList train;
        for (const QJsonValue &v : o.value(QStringLiteral("train_args")).toArray())
            train << v.toString();
        const auto valueOf = [&train](const char *flag) {
            const qsizetype i = train.indexOf(QLatin1String(flag));
            return i >= 0 && i + 1 < train.size() ? train[i + 1] : QString();
        };
        QCOMPARE(valueOf("--batch-size"), QStringLiteral("32"));
        QCOMPARE(valueOf("--data"), data);
        QVERIFY2(!valueOf("--memory-budget").isEmpty(), qPrintable(train.join(QLatin1Char(' '))));
        QCOMPARE(valueOf("--device"), QStringLiteral("cpu"));
        QVERIFY(!train.contains(QStringLiteral("--out")));
    }

    void cliRejectsABadBudget()
    {
        int code = -1;
        runCliJson({ QStringLiteral("find-batch-size"), QStringLiteral("--data"), m_dir.path(),
                       QStringLiteral("--memory-budget"), QStringLiteral("lots") },
            &code);
        QCOMPARE(code, 2);
    }
};

QTEST_GUILESS_MAIN(TestBatchSizeFinder)
#include "tst_batchsizefinder.moc"
