// MemoryPlanner: least-squares fit on synthetic measurements, predictions with the loader and the
// evaluation pass, fitting a batch under a limit, and a real probe on the CPU checked against a
// measurement at a larger batch.

#include "sanitizerskip.h"
#include "metrics/memoryprobe.h"
#include "train/memoryplanner.h"
#include "train/stepprobe_p.h"

#include <QJsonArray>
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

private Q_SLOTS:
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

    // The real thing on the CPU: probes at 4..32 images predict the host peak at 128 within 15%.
    void cpuProbePredictsALargerBatchWithin15Percent()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c;
        c.model.name = QStringLiteral("smallcnn");
        c.model.inputSize = 32;
        c.model.channels = 1;
        c.model.classes = 4;
        c.device = QStringLiteral("cpu");
        c.threads = 1;
        QString error;
        MemoryPlanner::ProbeOptions o;
        o.batchSizes = { 8, 16, 32, 64 };
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(c, o, &error);
        QVERIFY2(plan, qPrintable(error));
        QVERIFY(!plan->onDevice);
        QCOMPARE(int(plan->trainProbes.size()), 4);
        QVERIFY(plan->train.isValid());
        QVERIFY(plan->train.perImageBytes > 0.0);
        QVERIFY(plan->capacityBytes > 0);
        // Measure the training part at 128 the same way (no loader in this measurement).
        std::unique_ptr<StepProbe> probe = StepProbe::create(c, torch::Device(torch::kCPU), &error);
        QVERIFY2(probe, qPrintable(error));
        probe->train(8, 1);
        const std::int64_t measured = probe->measurePeak([&] { probe->train(128, 2); });
        const std::int64_t predicted = plan->train.predict(128);
        const double err = std::abs(double(predicted - measured)) / double(measured);
        qInfo("host peak at batch 128: predicted %lld, measured %lld (error %.1f%%)",
            (long long)predicted, (long long)measured, err * 100.0);
        QVERIFY2(err < 0.15, qPrintable(QString::number(err)));
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
