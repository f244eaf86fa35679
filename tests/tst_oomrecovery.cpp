// Out-of-memory recovery in a running job, driven by injected failures: the step is re-run with
// half the micro-batch and gradient accumulation (same effective batch), the event reaches the
// samples and the log; a run whose batch is too big for --memory-budget adapts before it starts
// instead of failing.

#include "sanitizerskip.h"
#include "testdata.h"
#include "trainerharness.h"

#include "metrics/memoryprobe.h"
#include "train/memoryplanner.h"
#include "train/trainer.h"

#include <torch/torch.h>

#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <set>

using namespace leantune;

namespace {

using testtrainer::TrainerHarness;

// The hook the trainer calls before each forward pass: throws a real c10::OutOfMemoryError at the
// listed steps (once each) and records every (step, micro-batch) it saw.
struct OomInjector {
    std::set<std::int64_t> at;
    std::shared_ptr<std::vector<std::pair<std::int64_t, int>>> seen
        = std::make_shared<std::vector<std::pair<std::int64_t, int>>>();
    bool always = false;

    std::function<void(std::int64_t, int)> hook()
    {
        auto steps = std::make_shared<std::set<std::int64_t>>(at);
        auto log = seen;
        const bool every = always;
        return [steps, log, every](std::int64_t step, int micro) {
            log->emplace_back(step, micro);
            if (every || steps->erase(step) > 0)
                TORCH_CHECK_WITH(OutOfMemoryError, false,
                    "CUDA out of memory. Tried to allocate 2.00 GiB (injected)");
        };
    }
};

} // namespace

class TestOomRecovery : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data; // 3 classes × 40 images, 16 px

    RunConfig baseConfig(const QString &name) const
    {
        return testtrainer::smallRunConfig(m_data, m_dir.filePath(name));
    }

private Q_SLOTS:
    void initTestCase()
    {
        usePredictableHostAllocator(); // as the programs do: the planner's probes measure host
                                       // memory
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        testdata::writeImageFolder(m_data, 3, 40, 16, 1);
    }

    void outOfMemoryHalvesTheMicroBatchAndRerunsTheSameStep()
    {
        OomInjector inject;
        inject.at = { 3 };
        RunJob::Options o;
        o.beforeForward = inject.hook();
        TrainerHarness h(baseConfig(QStringLiteral("run-oom")), o);
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("finished"));
        // 90 training images in batches of 16: 6 steps an epoch, none lost to the failure.
        QCOMPARE(s.steps, qint64(12));
        QCOMPARE(s.oomRecoveries, 1);
        QCOMPARE(s.batchSize, 16);
        QCOMPARE(s.microBatch, 8);
        QVERIFY2(s.valAccuracy > 0.6, qPrintable(QString::number(s.valAccuracy)));

        // Step 3 was tried with 16 images, failed, and re-run as two micro-batches of 8.
        const auto &seen = *inject.seen;
        const auto firstAt3
            = std::find_if(seen.begin(), seen.end(), [](const auto &p) { return p.first == 3; });
        QVERIFY(firstAt3 != seen.end());
        QCOMPARE(firstAt3->second, 16);
        QCOMPARE((firstAt3 + 1)->first, qint64(3));
        QCOMPARE((firstAt3 + 1)->second, 8);
        QCOMPARE((firstAt3 + 2)->first, qint64(3));
        QCOMPARE((firstAt3 + 2)->second, 8);
        QCOMPARE((firstAt3 + 3)->first, qint64(4));

        // The event is on the charts (a sample) and in the log.
        const std::vector<MetricsSample> samples = h.all();
        const auto event = std::find_if(samples.begin(), samples.end(),
            [](const MetricsSample &m) { return m.event == QLatin1String("oom_recovered"); });
        QVERIFY(event != samples.end());
        QCOMPARE(event->step, qint64(2)); // two steps done; step 3 is re-run
        QCOMPARE(event->batchSize, 16);
        QCOMPARE(event->microBatch, 8);
        QCOMPARE(event->accumulationSteps, 2);
        QCOMPARE(samples.back().microBatch, 8);
        QVERIFY2(h.log().contains(QStringLiteral("out of memory at step 3 with micro-batch 16")),
            qPrintable(h.log()));
        QVERIFY(h.log().contains(QStringLiteral("effective batch 16 unchanged")));
    }

    void repeatedOutOfMemoryKeepsHalving()
    {
        OomInjector inject;
        inject.at = { 2, 5 };
        RunJob::Options o;
        o.beforeForward = inject.hook();
        RunConfig c = baseConfig(QStringLiteral("run-oom-twice"));
        c.epochs = 1;
        TrainerHarness h(c, o);
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QCOMPARE(h.summary().steps, qint64(6));
        QCOMPARE(h.summary().oomRecoveries, 2);
        QCOMPARE(h.summary().microBatch, 4);
        int events = 0;
        for (const MetricsSample &m : h.all())
            events += m.event == QLatin1String("oom_recovered");
        QCOMPARE(events, 2);
    }

    void outOfMemoryAtMicroBatchOneFailsWithAMessage()
    {
        OomInjector inject;
        inject.always = true;
        RunJob::Options o;
        o.beforeForward = inject.hook();
        TrainerHarness h(baseConfig(QStringLiteral("run-oom-always")), o);
        QVERIFY(h.run());
        QVERIFY(h.finished->isEmpty());
        QVERIFY2(h.error().contains(QStringLiteral("even with micro-batches of one image")),
            qPrintable(h.error()));
        // 16 → 8 → 4 → 2 → 1, then give up: four recoveries logged.
        QCOMPARE(h.log().count(QStringLiteral("out of memory at step 1")), 4);
    }

    void outOfMemoryInValidationSplitsItsBatches()
    {
        RunConfig c = baseConfig(QStringLiteral("run-val-plain"));
        c.epochs = 1;
        TrainerHarness plain(c, {});
        QVERIFY(plain.run());
        QVERIFY2(plain.failed->isEmpty(), qPrintable(plain.error()));

        // Every evaluation forward pass of more than 4 images runs out of memory.
        auto sizes = std::make_shared<std::vector<std::int64_t>>();
        RunJob::Options o;
        o.beforeEvalForward = [sizes](std::int64_t images) {
            sizes->push_back(images);
            TORCH_CHECK_WITH(
                OutOfMemoryError, images <= 4, "CUDA out of memory (injected in evaluation)");
        };
        c.outDir = m_dir.filePath(QStringLiteral("run-val-oom"));
        c.testDir = m_data;
        TrainerHarness h(c, o);
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error() + QLatin1Char('\n') + h.log()));
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("finished"));
        // The same model and images as the plain run: the split passes give the same accuracy.
        QCOMPARE(s.valAccuracy, plain.summary().valAccuracy);
        QVERIFY(qAbs(s.valLoss - plain.summary().valLoss) < 1e-5);
        QVERIFY(s.testAccuracy > 0.0);
        // Validation (30 images in batches of 16, as training): 16 fails, 8 fails, then chunks of
        // 4; the rest of the pass and the test pass start from 4 right away: two recoveries in all.
        QCOMPARE(s.oomRecoveries, 2);
        QCOMPARE(sizes->at(0), std::int64_t(16));
        QCOMPARE(sizes->at(1), std::int64_t(8));
        for (std::size_t i = 2; i < sizes->size(); ++i)
            QVERIFY(sizes->at(i) <= 4);
        QVERIFY2(h.log().contains(QStringLiteral("out of memory in the validation pass")),
            qPrintable(h.log()));
        QVERIFY(!h.log().contains(QStringLiteral("out of memory in the test pass")));

        // A single image that does not fit is an error, not an endless loop.
        RunJob::Options never;
        never.beforeEvalForward = [](std::int64_t) {
            TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory (injected)");
        };
        c.outDir = m_dir.filePath(QStringLiteral("run-val-never"));
        TrainerHarness fails(c, never);
        QVERIFY(fails.run());
        QVERIFY(fails.finished->isEmpty());
        QVERIFY2(
            fails.error().contains(QStringLiteral("out of memory")), qPrintable(fails.error()));
    }

    void otherTorchErrorsAreNotTakenForOutOfMemory()
    {
        RunJob::Options o;
        o.beforeForward
            = [](std::int64_t step, int) { TORCH_CHECK(step != 2, "shape mismatch (injected)"); };
        TrainerHarness h(baseConfig(QStringLiteral("run-other-error")), o);
        QVERIFY(h.run());
        QVERIFY2(h.error().contains(QStringLiteral("shape mismatch")), qPrintable(h.error()));
        for (const MetricsSample &m : h.all())
            QVERIFY(m.event != QLatin1String("oom_recovered"));
    }

    void environmentHookInjectsAnOutOfMemory()
    {
        qputenv("LEANTUNE_INJECT_OOM_AT_STEP", "2");
        RunConfig c = baseConfig(QStringLiteral("run-oom-env"));
        c.epochs = 1;
        TrainerHarness h(c, {});
        const bool done = h.run();
        qunsetenv("LEANTUNE_INJECT_OOM_AT_STEP");
        QVERIFY(done);
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QCOMPARE(h.summary().oomRecoveries, 1);
        QCOMPARE(h.summary().steps, qint64(6));
        QVERIFY(h.log().contains(QStringLiteral("LEANTUNE_INJECT_OOM_AT_STEP")));
    }

    // The command line end to end, with the environment hook bench/gpu-check.sh uses for its CPU
    // dry run.
    void cliRunRecoversAndRecordsTheEvent()
    {
        const QString out = m_dir.filePath(QStringLiteral("run-cli-oom"));
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("LEANTUNE_INJECT_OOM_AT_STEP"), QStringLiteral("2"));
        p.setProcessEnvironment(env);
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
                out, QStringLiteral("--input-size"), QStringLiteral("16"),
                QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--epochs"),
                QStringLiteral("1"), QStringLiteral("--device"), QStringLiteral("cpu"),
                QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--val-split"),
                QStringLiteral("0.25"), QStringLiteral("--progress"), QStringLiteral("json") });
        QVERIFY(p.waitForFinished(240000));
        const QByteArray err = p.readAllStandardError();
        QVERIFY2(p.exitCode() == 0, err.constData());
        QVERIFY2(err.contains("out of memory at step 2"), err.constData()); // the run log
        QVERIFY(p.readAllStandardOutput().contains("\"event\":\"oom_recovered\"")); // the samples
        QFile summaryFile(out + QStringLiteral("/summary.json"));
        QVERIFY(summaryFile.open(QIODevice::ReadOnly));
        const QJsonObject summary = QJsonDocument::fromJson(summaryFile.readAll()).object();
        QCOMPARE(summary.value(QStringLiteral("oom_recoveries")).toInt(), 1);
        QCOMPARE(summary.value(QStringLiteral("micro_batch")).toInt(), 8);
        QCOMPARE(summary.value(QStringLiteral("batch_size")).toInt(), 16);
        QFile metrics(out + QStringLiteral("/metrics.csv"));
        QVERIFY(metrics.open(QIODevice::ReadOnly));
        const QByteArray csv = metrics.readAll();
        QVERIFY(csv.startsWith("step,epoch,"));
        QVERIFY(csv.contains(",oom_recovered,8,2,"));
    }

    // GPU machine only: a real c10::OutOfMemoryError from the CUDA allocator, capped below what
    // batch 256 needs by the LEANTUNE_FORCE_DEVICE_LIMIT hook, is recovered from without losing the
    // run.
    void cudaOutOfMemoryIsRecoveredForReal()
    {
        if (cudaDeviceCount() == 0)
            QSKIP("no CUDA device (CPU-only LibTorch or no GPU)");
        const QString data = m_dir.filePath(QStringLiteral("data-cuda"));
        testdata::writeImageFolder(data, 2, 150, 16, 5);
        RunConfig c = baseConfig(QStringLiteral("run-cuda-oom"));
        c.dataDir = data;
        c.valSplit = 0.1; // 270 training images: batches of 256 and 14
        c.model.name = QStringLiteral("resnet18");
        c.model.inputSize = 64; // ~1.8 MiB of activations an image: batch 256 needs ~600 MiB
        c.batchSize = 256;
        c.epochs = 1;
        c.device = QStringLiteral("cuda");
        qputenv("LEANTUNE_FORCE_DEVICE_LIMIT", "300M");
        TrainerHarness h(c, {});
        const bool done = h.run();
        qunsetenv("LEANTUNE_FORCE_DEVICE_LIMIT");
        limitDeviceMemory(0, 0);
        QVERIFY(done);
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error() + QLatin1Char('\n') + h.log()));
        const RunSummary s = h.summary();
        qInfo("cuda: %d recoveries, micro-batch %d, peak %lld MiB", s.oomRecoveries, s.microBatch,
            (long long)(s.peakDeviceBytes >> 20));
        QCOMPARE(s.status, QStringLiteral("finished"));
        QCOMPARE(s.steps, qint64(2));
        QVERIFY(s.oomRecoveries >= 1);
        QVERIFY(s.microBatch < 256);
        QVERIFY(s.peakDeviceBytes > 0 && s.peakDeviceBytes <= (qint64(300) << 20));
        QVERIFY(h.log().contains(QStringLiteral("out of memory at step 1 with micro-batch 256")));
    }

    void microBatchesTrainAsWellAsWholeBatches()
    {
        RunConfig c = baseConfig(QStringLiteral("run-micro"));
        c.microBatch = 4;
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QCOMPARE(h.summary().steps, qint64(12));
        QCOMPARE(h.summary().microBatch, 4);
        QCOMPARE(h.all().back().accumulationSteps, 4);
        QVERIFY2(
            h.summary().valAccuracy > 0.6, qPrintable(QString::number(h.summary().valAccuracy)));
    }

    // A batch too big for the host budget: the planner splits it before the run, which then
    // finishes.
    void batchTooBigForTheBudgetAdaptsInsteadOfFailing()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        RunConfig c = baseConfig(QStringLiteral("run-budget"));
        c.model.inputSize = 48; // activations well above the checkpoint write's peak
        c.batchSize = 90; // one step an epoch
        c.epochs = 1;
        const QString data32 = m_dir.filePath(QStringLiteral("data48"));
        testdata::writeImageFolder(data32, 3, 40, 48, 3);
        c.dataDir = data32;
        // The budget: what the planner predicts for micro-batches of a quarter of the batch.
        RunConfig probeConfig = c;
        probeConfig.model.classes = 3;
        QString error;
        const std::optional<MemoryPlan> plan = MemoryPlanner::probe(probeConfig, &error);
        QVERIFY2(plan, qPrintable(error));
        // 30 validation images: evaluation batches of 30.
        const std::int64_t whole = plan->predictPeak(90, 0, -1, 30);
        const std::int64_t quarter = plan->predictPeak(90, 23, -1, 30);
        QVERIFY2(
            whole - quarter > 8 << 20, "the batch's activations must dominate the probe noise");
        c.memoryMargin = 0.0;
        // Just above the quarter-batch peak: the trainer probes again, and host-RSS probes in one
        // process differ with the heap's state (with the budget halfway to the whole-batch peak,
        // the whole batch sometimes fit: about one run in two; at a quarter of the way, one in
        // five).
        // The checkpoint write is part of the plan (it does not shrink with micro-batches): the
        // budget stays a quarter above its probe, whose in-process noise was up to 28 MiB.
        c.memoryBudgetBytes
            = std::max(quarter + (whole - quarter) / 10, plan->checkpointPeakBytes * 5 / 4);
        QVERIFY2(c.memoryBudgetBytes < whole, "the checkpoint write must not set the peak here");
        qInfo("probe: whole %lld MiB, quarter %lld MiB, budget %lld MiB", (long long)(whole >> 20),
            (long long)(quarter >> 20), (long long)(c.memoryBudgetBytes >> 20));
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error() + QLatin1Char('\n') + h.log()));
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("finished"));
        QCOMPARE(s.batchSize, 90);
        QCOMPARE(s.steps, qint64(1)); // the effective batch is unchanged
        QVERIFY2(s.microBatch < 90, qPrintable(QString::number(s.microBatch)));
        QVERIFY(s.predictedPeakBytes > 0 && s.predictedPeakBytes <= c.memoryBudgetBytes);
        QCOMPARE(s.memoryBudgetBytes, c.memoryBudgetBytes);
        QVERIFY2(h.log().contains(QStringLiteral("does not fit whole")), qPrintable(h.log()));
    }

    void aBudgetBelowTheModelItselfFailsBeforeTraining()
    {
        RunConfig c = baseConfig(QStringLiteral("run-budget-tiny"));
        c.memoryBudgetBytes = 1 << 20; // 1 MiB: less than the process itself
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.error().contains(QStringLiteral("memory budget")), qPrintable(h.error()));
        QVERIFY2(h.error().contains(QStringLiteral("too small")), qPrintable(h.error()));
    }

    void autoBatchSizeOnTheCpuPicksAFittingBatchAndTrains()
    {
        RunConfig c = baseConfig(QStringLiteral("run-auto"));
        c.batchSizeAuto = true;
        c.maxBatchSize = 32;
        c.epochs = 1;
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        // Host memory is plentiful for 16-px images: the cap decides.
        QVERIFY2(h.summary().batchSize == 32, qPrintable(h.log()));
        QCOMPARE(h.summary().steps, qint64(3)); // 90 images / 32
        QVERIFY(h.summary().predictedPeakBytes > 0);
        QVERIFY2(h.log().contains(QStringLiteral("batch size 32")), qPrintable(h.log()));
    }
};

QTEST_GUILESS_MAIN(TestOomRecovery)
#include "tst_oomrecovery.moc"
