// MemoryPlanner: least-squares fit on synthetic measurements, predictions with the loader and the
// evaluation pass, fitting a batch under a limit, a real probe on the CPU, and the predictions of
// real training runs checked against their measured peaks.

#include "clirunner.h"
#include "sanitizerskip.h"
#include "testconfigs.h"
#include "testdata.h"
#include "metrics/memoryprobe.h"
#include "train/memoryplanner.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

constexpr std::int64_t MiB = 1 << 20;

MemoryPlan hostPlan(double fixed, double perImage, std::int64_t loaderPerImage, int queue)
{
    MemoryPlan p;
    p.device = QStringLiteral("cpu");
    p.train.fixedBytes = fixed;
    p.train.perImageBytes = perImage;
    p.train.points = 3;
    p.loaderBytesPerImage = loaderPerImage;
    p.queueDepth = queue;
    return p;
}

} // namespace

class TestMemoryPlanner : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() { usePredictableHostAllocator(); } // as the programs do (see memoryprobe.h)

    void fitRecoversAnExactLine()
    {
        std::vector<MemoryProbe> probes;
        for (int b : { 4, 8, 16, 32 })
            probes.push_back({ b, 300 * MiB + std::int64_t(b) * 2 * MiB });
        const MemoryFit f = MemoryPlanner::fitLinear(probes);
        QVERIFY(f.isValid());
        QCOMPARE(f.points, 4);
        QVERIFY(std::abs(f.fixedBytes - 300.0 * MiB) < 1.0);
        QVERIFY(std::abs(f.perImageBytes - 2.0 * MiB) < 1e-3);
        QVERIFY(f.maxResidualFraction < 1e-9);
        QCOMPARE(f.predict(256), 300 * MiB + 512 * MiB);
    }

    void fitAveragesOutNoise()
    {
        // ±1 MiB of noise on a 1 MiB-per-image line: the slope stays within 5%.
        const std::int64_t noise[] = { MiB, -MiB, MiB, -MiB, 0 };
        std::vector<MemoryProbe> probes;
        int i = 0;
        for (int b : { 8, 16, 32, 64, 128 })
            probes.push_back({ b, 200 * MiB + std::int64_t(b) * MiB + noise[i++] });
        const MemoryFit f = MemoryPlanner::fitLinear(probes);
        QVERIFY2(std::abs(f.perImageBytes / MiB - 1.0) < 0.05,
            qPrintable(QString::number(f.perImageBytes / MiB)));
        QVERIFY(f.maxResidualFraction > 0.0 && f.maxResidualFraction < 0.01);
    }

    void fitNeedsTwoBatchSizesAndNeverShrinksWithTheBatch()
    {
        const MemoryFit one = MemoryPlanner::fitLinear({ { 8, 100 * MiB }, { 8, 102 * MiB } });
        QVERIFY(!one.isValid());
        QVERIFY(std::abs(one.fixedBytes - 101.0 * MiB) < 1.0);
        QVERIFY(!MemoryPlanner::fitLinear({}).isValid());
        // Noise that makes the bigger batch look smaller gives a flat line, not a negative slope.
        const MemoryFit flat = MemoryPlanner::fitLinear({ { 4, 101 * MiB }, { 8, 100 * MiB } });
        QCOMPARE(flat.perImageBytes, 0.0);
        QVERIFY(flat.predict(1024) > 0);
    }

    void hostPredictionCountsTheLoaderQueueAndTheEvaluationPass()
    {
        MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 4096, 4);
        // Training part only: fixed + activations of the micro-batch + (queue + 1) loader batches.
        QCOMPARE(p.predictPeak(64), 100 * MiB + 64 * MiB + 5 * 64 * 4096);
        QCOMPARE(p.predictPeak(64, 16), 100 * MiB + 16 * MiB + 5 * 64 * 4096);
        QCOMPARE(p.predictPeak(64, 0, 1), 100 * MiB + 64 * MiB + 2 * 64 * 4096);
        // Evaluation runs at the training batch size; when it needs more, it sets the peak.
        p.eval.fixedBytes = 100.0 * MiB;
        p.eval.perImageBytes = 1.5 * MiB;
        p.eval.points = 3;
        QCOMPARE(MemoryPlanner::evalBatchFor(64), 64);
        QCOMPARE(MemoryPlanner::evalBatchFor(512), 512);
        QCOMPARE(p.predictPeak(64), 100 * MiB + 96 * MiB + 5 * 64 * 4096);
        // An explicit evaluation batch is taken as given.
        QCOMPARE(p.predictPeak(64, 0, -1, 128), 100 * MiB + 192 * MiB + 5 * 128 * 4096);
        // A device plan has no loader term (here evaluation at 512 needs more than training).
        p.onDevice = true;
        QCOMPARE(p.predictPeak(512), 100 * MiB + 768 * MiB);
    }

    void fittingKeepsWholeBatchesWhenTheyFit()
    {
        const MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 0, 4);
        const MemoryFitting f = MemoryPlanner::fitToLimit(p, 128, 4, 1024 * MiB);
        QVERIFY(f.fits);
        QCOMPARE(f.microBatch, 128);
        QCOMPARE(f.accumulationSteps, 1);
        QCOMPARE(f.queueDepth, 4);
        QCOMPARE(f.predictedPeakBytes, 228 * MiB);
    }

    void fittingShortensTheQueueBeforeSplittingTheBatch()
    {
        // 1 MiB per image in the loader: queue 4 holds 5 × 64 MiB, queue 1 holds 2 × 64 MiB.
        const MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, MiB, 4);
        const MemoryFitting f
            = MemoryPlanner::fitToLimit(p, 64, 4, 100 * MiB + 64 * MiB + 3 * 64 * MiB);
        QVERIFY(f.fits);
        QCOMPARE(f.microBatch, 64);
        QCOMPARE(f.queueDepth, 2);
        QVERIFY(f.predictedPeakBytes <= 100 * MiB + 64 * MiB + 3 * 64 * MiB);
    }

    void fittingSplitsABatchThatDoesNotFitIntoMicroBatches()
    {
        const MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 0, 4);
        // 256 images need 356 MiB; the limit allows 100 + 70 MiB: micro-batches of 64 (4 steps).
        const MemoryFitting f = MemoryPlanner::fitToLimit(p, 256, 4, 170 * MiB);
        QVERIFY(f.fits);
        QCOMPARE(f.batchSize, 256);
        QCOMPARE(f.microBatch, 64);
        QCOMPARE(f.accumulationSteps, 4);
        QCOMPARE(f.queueDepth, 4);
        QCOMPARE(f.predictedPeakBytes, 164 * MiB);
    }

    void aGivenBatchOverTheLimitByLessThanTheProbeSpreadTrainsWhole()
    {
        // 128 images need 228 MiB: 1.3 % over a 225 MiB limit, within the probes' 2 % spread.
        const MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 0, 4);
        QCOMPARE(MemoryPlanner::fitToLimit(p, 128, 4, 225 * MiB).microBatch, 64);
        const MemoryFitting f = MemoryPlanner::fitGivenBatch(p, 128, 4, 225 * MiB);
        QVERIFY(f.fits);
        QCOMPARE(f.microBatch, 128);
        QCOMPARE(f.queueDepth, 4);
        QCOMPARE(f.predictedPeakBytes, 228 * MiB);
        QVERIFY(f.limitBytes > 225 * MiB);
        QVERIFY(f.limitBytes <= std::int64_t(225 * MiB * (1.0 + MemoryPlanner::kProbeSpread)));
        // 4 % over a 219 MiB limit is more than noise: split as fitToLimit does.
        const MemoryFitting g = MemoryPlanner::fitGivenBatch(p, 128, 4, 219 * MiB);
        QCOMPARE(g.microBatch, 64);
        QCOMPARE(g.accumulationSteps, 2);
        QCOMPARE(g.limitBytes, 219 * MiB);
        // A batch that fits is fitted to the limit itself.
        QCOMPARE(MemoryPlanner::fitGivenBatch(p, 64, 4, 225 * MiB).limitBytes, 225 * MiB);
    }

    void fittingReportsWhenNothingFits()
    {
        const MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 0, 4);
        const MemoryFitting f = MemoryPlanner::fitToLimit(p, 256, 4, 50 * MiB);
        QVERIFY(!f.fits);
        QCOMPARE(f.microBatch, 1);
        QVERIFY(f.predictedPeakBytes > 50 * MiB);
    }

    void planSerializesItsFitsAndProbes()
    {
        MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 4096, 4);
        p.trainProbes = { { 4, 104 * MiB }, { 8, 108 * MiB } };
        p.capacityBytes = 1000 * MiB;
        const QJsonObject o = p.toJson();
        QCOMPARE(o.value(QStringLiteral("measures")).toString(), QStringLiteral("host_rss_peak"));
        QCOMPARE(o.value(QStringLiteral("train_probes")).toArray().size(), 2);
        QCOMPARE(o.value(QStringLiteral("limit_bytes")).toInteger(), qint64(900 * MiB));
    }

    // The real thing on the CPU: each probe runs real steps and a larger batch peaks higher.
    void cpuProbeMeasuresEachBatchSizeAndFitsALine()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = testconfigs::smallCnnOnCpu();
        QString error;
        MemoryPlanner::ProbeOptions o;
        o.batchSizes = { 64, 8, 16, 32, 8 };
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(plan, qPrintable(error));
        QVERIFY(!plan->onDevice);
        QCOMPARE(int(plan->trainProbes.size()), 4); // sorted, duplicates dropped
        QCOMPARE(plan->trainProbes.front().batchSize, 8);
        QCOMPARE(plan->trainProbes.back().batchSize, 64);
        // Batch 64's activations and gradients (tens of MiB) show in the host peak.
        QVERIFY(
            plan->trainProbes.back().peakBytes > plan->trainProbes.front().peakBytes + 20 * MiB);
        QVERIFY(plan->train.isValid());
        QVERIFY(plan->train.perImageBytes > 0.0);
        QVERIFY(plan->capacityBytes > 0);
    }

    // A run's own batch above the probe sizes is probed too (its peak measured, not extrapolated);
    // one within them adds nothing.
    void theRunsOwnBatchAboveTheProbeSizesIsProbedToo()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = testconfigs::smallCnnOnCpu();
        QString error;
        MemoryPlanner::ProbeOptions o;
        o.batchSizes = { 8, 16 };
        o.steps = 1;
        o.runBatch = 40;
        std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(plan, qPrintable(error));
        QCOMPARE(int(plan->trainProbes.size()), 3);
        QCOMPARE(plan->trainProbes.back().batchSize, 40);
        QCOMPARE(plan->evalProbes.back().batchSize, 40);
        o.runBatch = 12;
        plan = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(plan, qPrintable(error));
        QCOMPARE(int(plan->trainProbes.size()), 2);
        QCOMPARE(plan->trainProbes.back().batchSize, 16);
    }

    // Under a host budget the probes are part of the run's peak: a probe size that the probes
    // before it put over the limit is replaced by the largest size they put under it.
    void probesUnderABudgetStopAtTheLargestSizeUnderTheLimit()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = testconfigs::smallCnnOnCpu();
        QString error;
        MemoryPlanner::ProbeOptions o;
        o.batchSizes = { 8, 16, 32, 256 };
        const std::optional<MemoryPlan> free = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(free, qPrintable(error));
        QCOMPARE(free->trainProbes.back().batchSize, 256);
        // A budget whose limit lies at batch 96 on the line through the unbudgeted probes.
        c.memoryBudgetBytes
            = std::int64_t(double(free->train.predict(96)) / (1.0 - c.memoryMarginFor(false)));
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(plan, qPrintable(error));
        QVERIFY(hostAllocatorBounded()); // a budget on the CPU: the bounded policy
        const int last = plan->trainProbes.back().batchSize;
        QVERIFY2(last > 32 && last < 256, qPrintable(QStringLiteral("last probe at %1").arg(last)));
        QCOMPARE(int(plan->trainProbes.size()), 4);
        c.memoryBudgetBytes = 0;
        QVERIFY(MemoryPlanner::probe(c, { { 8, 16 }, 1 }, &error));
        QVERIFY(!hostAllocatorBounded()); // no budget: the default policy again
    }

    // What the planner is for: the peak RSS of a whole training run (a fresh leantune-cli process,
    // 28 px images, smallcnn) against the plan the run made before its first step, at three batch
    // sizes. A single probe-sized measurement in this process is no judge: glibc's heap reuses
    // blocks differently from one short measurement to the next (316-378 MiB at batch 128 for the
    // same two steps), while a run's peak is the worst over all its steps.
    void realRunsPeakWithin15PercentOfThePrediction_data()
    {
        QTest::addColumn<int>("batch");
        QTest::newRow("32") << 32;
        QTest::newRow("64") << 64;
        QTest::newRow("128") << 128;
    }
    void realRunsPeakWithin15PercentOfThePrediction()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        QFETCH(int, batch);
        QVERIFY(m_dir.isValid());
        const QString data = m_dir.filePath(QStringLiteral("data"));
        if (!QFileInfo::exists(data))
            testdata::writeImageFolder(data, 10, 80, 28, 3);
        const QString run = m_dir.filePath(QStringLiteral("run%1").arg(batch));
        // A budget far above the run: it only makes the run plan its memory (and report the plan).
        const testcli::Result r = testcli::runCli(
            { QStringLiteral("train"), QStringLiteral("--data"), data, QStringLiteral("--out"), run,
                QStringLiteral("--input-size"), QStringLiteral("28"), QStringLiteral("--device"),
                QStringLiteral("cpu"), QStringLiteral("--batch-size"), QString::number(batch),
                QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--memory-budget"),
                QStringLiteral("64G"), QStringLiteral("--progress"), QStringLiteral("none") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject s
            = testdata::readJson(QDir(run).filePath(QStringLiteral("summary.json")));
        const qint64 predicted = s.value(QStringLiteral("predicted_peak_bytes")).toInteger();
        const qint64 measured = s.value(QStringLiteral("peak_host_rss_bytes")).toInteger();
        QVERIFY(predicted > 0);
        QVERIFY(measured > 0);
        const double err = std::abs(double(predicted - measured)) / double(measured);
        QFile log(QDir(run).filePath(QStringLiteral("run.log")));
        QVERIFY(log.open(QIODevice::ReadOnly));
        const QString probes = QString::fromUtf8(log.readAll())
                                   .section(QStringLiteral("memory probes"), 1)
                                   .section(QLatin1Char('\n'), 0, 0);
        qInfo("batch %d: predicted %lld MiB, measured %lld MiB (error %.1f%%); probes%s", batch,
            (long long)(predicted / MiB), (long long)(measured / MiB), err * 100.0,
            qPrintable(probes));
        QVERIFY2(err < 0.15, qPrintable(QString::number(err)));
    }

    // A run's peak is not only its training steps: after each epoch it writes a checkpoint (model,
    // momentum and pruning masks: ~135 MB for resnet18), at the end model.pt. At a small batch that
    // write is the run's peak (resnet18 64 px batch 8: steps 619 MiB, the run 818 MiB), so the
    // prediction, and the finder's answer built on it, must cover it: the plan measures the write.
    void predictionCoversTheCheckpointWriteAtASmallBatch()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        QVERIFY(m_dir.isValid());
        const QString data = m_dir.filePath(QStringLiteral("data-small"));
        testdata::writeImageFolder(data, 4, 10, 16);
        const QString run = m_dir.filePath(QStringLiteral("run-checkpoint"));
        const testcli::Result r = testcli::runCli({ QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), run, QStringLiteral("--model"),
            QStringLiteral("resnet18"), QStringLiteral("--input-size"), QStringLiteral("16"),
            QStringLiteral("--channels"), QStringLiteral("1"), QStringLiteral("--device"),
            QStringLiteral("cpu"), QStringLiteral("--batch-size"), QStringLiteral("2"),
            QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--val-split"),
            QStringLiteral("0.2"), QStringLiteral("--memory-budget"), QStringLiteral("64G"),
            QStringLiteral("--progress"), QStringLiteral("none"), QStringLiteral("--no-history") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject s
            = testdata::readJson(QDir(run).filePath(QStringLiteral("summary.json")));
        const qint64 predicted = s.value(QStringLiteral("predicted_peak_bytes")).toInteger();
        const qint64 measured = s.value(QStringLiteral("peak_host_rss_bytes")).toInteger();
        qInfo("resnet18 16 px batch 2: predicted %lld MiB, measured %lld MiB",
            (long long)(predicted / MiB), (long long)(measured / MiB));
        QVERIFY(predicted > 0);
        // The budget's margin (10 %) is what is left for the difference.
        QVERIFY2(double(measured) <= double(predicted) * 1.10,
            qPrintable(QStringLiteral("measured %1 MiB, predicted %2 MiB")
                           .arg(measured / MiB)
                           .arg(predicted / MiB)));
    }

    // The finder's plan carries the checkpoint write it was measured with.
    void planSerializesTheCheckpointPeak()
    {
        MemoryPlan p = hostPlan(100.0 * MiB, 1.0 * MiB, 0, 1);
        p.checkpointPeakBytes = 500 * MiB;
        QCOMPARE(p.predictPeak(8), qint64(500 * MiB));
        QCOMPARE(p.toJson().value(QStringLiteral("checkpoint_peak_bytes")).toInteger(),
            qint64(500 * MiB));
        QCOMPARE(p.predictPeak(1000), qint64(1100 * MiB));
    }

    void probeOnAMissingDeviceFailsWithAMessage()
    {
        if (cudaDeviceCount() > 0)
            QSKIP("a CUDA device is present");
        RunConfig c;
        c.model.classes = 3;
        c.device = QStringLiteral("cuda");
        QString error;
        QVERIFY(!MemoryPlanner::probe(c, &error));
        QVERIFY2(error.contains(QStringLiteral("no CUDA device")), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestMemoryPlanner)
#include "tst_memoryplanner.moc"
