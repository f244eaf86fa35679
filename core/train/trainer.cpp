#include "train/trainer.h"
#include "train/exceptiontext_p.h"

#include "metrics/memoryprobe.h"
#include "metrics/throughputmeter.h"
#include "prune/pruningschedule.h"
#include "config/distenv.h"
#include "train/evaluator_p.h"
#include "train/runlog.h"
#include "train/runsetup_p.h"
#include "train/trainstep_p.h"

#include <opencv2/core.hpp>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QSaveFile>

#include <cmath>

namespace leantune {

namespace {

constexpr qint64 kEmitIntervalMs = 50; // ≤ 20 samples a second
constexpr int kCheckpointsKept = 3;

double learningRateAt(const RunConfig &c, std::int64_t step, std::int64_t totalSteps)
{
    if (c.lrSchedule == LrSchedule::Constant || totalSteps <= 1)
        return c.learningRate;
    const double p = std::clamp(double(step) / double(totalSteps), 0.0, 1.0);
    return c.learningRate * 0.5 * (1.0 + std::cos(M_PI * p));
}

// Loss and correct predictions summed on the device since the last emission (read back once per
// emission: no host sync per batch on CUDA), and the epoch's totals read so far.
struct Sums {
    torch::Tensor loss, correct;
    double epochLoss = 0.0;
    std::int64_t epochCorrect = 0, epochImages = 0;
    void add(const TrainStep::Sums &step)
    {
        loss = loss.defined() ? loss + step.loss : step.loss;
        correct = correct.defined() ? correct + step.correct : step.correct;
    }
};

} // namespace

// Everything that lives for one run on the worker thread.
struct Trainer::Private {
    Trainer *q;
    RunConfig &c;
    RunSetup s;
    std::unique_ptr<TrainStep> step;
    std::int64_t stepsPerEpoch = 0, totalSteps = 0;
    ThroughputMeter meter;
    QElapsedTimer clock;
    QFile metricsFile;
    RunLog runLog; // RUNDIR/run.log, open once the run folder is ready
    double lastValAccuracy = -1.0, lastValLoss = -1.0;
    // The last whole validation pass, image by image: predictions-val.csv, written by finish().
    std::optional<PassPredictions> lastValPredictions;
    int evalChunk = 0; // images per evaluation forward pass after an OOM; 0 = whole batches
    int evalRecoveries = 0;

    explicit Private(Trainer *trainer)
        : q(trainer)
        , c(trainer->m_config)
    {
    }
    bool stopRequested() const
    {
        return (s.dist ? s.dist->stopAgreed() : q->m_cancel.load()) // all ranks stop together
            || (q->m_paused.load() && !q->waitWhilePaused());
    }
    void log(const QString &message) { Q_EMIT q->logMessage(message); }

    bool setUp(QString *error);
    bool trainEpoch(QString *error);
    bool flushInterval(Sums &sums, QString *error);
    bool endEpoch(const Sums &sums, double seconds, QString *error);
    bool evaluate(StreamingLoader &loader, const QString &what, EvaluationReport *report,
        PassPredictions *predictions);
    bool writePredictions(const QString &name, const PassPredictions &predictions,
        const StreamingLoader &loader, QString *error);
    bool finish(bool stopped, double testAccuracy, QString *error);
    void onOutOfMemory(std::int64_t step, int failed, int next, const QString &what);
    MetricsSample makeSample(const ThroughputMeter::Interval &interval) const;
    void emitSample(MetricsSample sample);
    bool checkpoint(QString *error);
};

Trainer::Trainer(RunConfig config, Options options, QObject *parent)
    : QObject(parent)
    , m_config(std::move(config))
    , m_options(std::move(options))
{
    qRegisterMetaType<leantune::MetricsSample>();
    qRegisterMetaType<leantune::EpochSummary>();
    qRegisterMetaType<leantune::RunSummary>();
}

Trainer::~Trainer() = default;

void Trainer::requestCancel()
{
    m_cancel.store(true);
    std::lock_guard<std::mutex> lock(m_pauseMutex);
    m_pauseChanged.notify_all();
}

void Trainer::setPaused(bool paused)
{
    m_paused.store(paused);
    std::lock_guard<std::mutex> lock(m_pauseMutex);
    m_pauseChanged.notify_all();
}

bool Trainer::waitWhilePaused()
{
    Q_EMIT pauseChanged(true);
    {
        std::unique_lock<std::mutex> lock(m_pauseMutex);
        m_pauseChanged.wait(lock, [this] { return !m_paused.load() || m_cancel.load(); });
    }
    Q_EMIT pauseChanged(false);
    return !m_cancel.load();
}

// The run folder, its log, the set-up (data, memory plan, model), the step helper and metrics.csv.
bool Trainer::Private::setUp(QString *error)
{
    if (!c.validate(error))
        return false;
    const std::optional<DistEnv> &rank = q->m_options.distEnv;
    const bool writer = rank ? rank->isWriter() : DistEnv::writerProcess(); // rank 0 alone writes
    if (writer && !prepareRunDir(c.outDir, q->m_options.resume, q->m_options.force, error))
        return false;
    if (writer && !runLog.open(RunInfo { c.outDir, {}, {} }.logFile(), q->m_options.resume, error))
        return false;
    std::optional<RunSetup> setup = setUpRun(
        c, q->m_options.resume, &q->m_cancel, [this](const QString &m) { log(m); }, error,
        rank ? &*rank : nullptr);
    if (!setup)
        return false;
    s = std::move(*setup);
    stepsPerEpoch = s.trainLoader->batchesPerEpoch();
    totalSteps = stepsPerEpoch * c.epochs;
    // A schedule whose masks never change in this run would train it dense without a word; the
    // run dialog refuses it the same way.
    if (const auto schedule = PruningSchedule::parse(c.prune, nullptr);
        schedule && !schedule->updatesWithin(totalSteps, error))
        return false;
    step = std::make_unique<TrainStep>(
        *s.model, *s.optimizer, s.device, c.precision, s.memory.microBatch, s.dist.get());
    step->onRecovery([this](std::int64_t at, int failed, int next, const QString &what) {
        onOutOfMemory(at, failed, next, what);
    });
    if (q->m_options.beforeForward)
        step->beforeForward(q->m_options.beforeForward);
    if (!writer)
        return true;
    metricsFile.setFileName(s.run.metricsFile());
    const bool append = q->m_options.resume && metricsFile.exists();
    if (!metricsFile.open(
            append ? (QIODevice::WriteOnly | QIODevice::Append) : QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write %1: %2")
                     .arg(s.run.metricsFile(), metricsFile.errorString());
        return false;
    }
    if (!append)
        metricsFile.write(MetricsSample::csvHeader().join(QLatin1Char(',')).toUtf8() + '\n');
    return true;
}

// One epoch: a step per batch, the pruning schedule after each, a sample at most every 50 ms; then
// validation and a checkpoint. Returns false when the run failed; a stop returns true mid-epoch.
bool Trainer::Private::trainEpoch(QString *error)
{
    s.model->train();
    s.fineTune.beginEpoch(*s.model, s.state.epoch); // frozen epochs: the classifier alone trains
    s.trainLoader->startEpoch(s.state.epoch, s.state.batchInEpoch);
    Sums sums;
    QElapsedTimer sinceEmit, epochClock;
    sinceEmit.start();
    epochClock.start();
    while (!stopRequested()) {
        std::optional<Batch> batch = s.trainLoader->next();
        if (!batch)
            break;
        QElapsedTimer compute;
        compute.start();
        s.state.batchInEpoch = batch->index + 1;
        const std::int64_t n = batch->images.size(0);
        if (n == 0)
            continue; // every file of the batch failed to decode (counted by the loader)
        s.fineTune.setLearningRate(*s.optimizer, learningRateAt(c, s.state.step, totalSteps));
        torch::Tensor x = batch->images.to(s.device, /*non_blocking=*/true);
        if (s.channelsLast)
            x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const std::optional<TrainStep::Sums> stepSums = step->run(
            x, batch->labels.to(s.device, /*non_blocking=*/true), s.state.step + 1, error);
        if (!stepSums)
            return false;
        if (s.pruner->step(++s.state.step) && s.dist)
            s.dist->checkMasks(s.pruner->masks(), s.state.step); // identical on every rank
        sums.add(*stepSums);
        s.state.images += stepSums->images; // the global batch's when data parallel
        meter.addBatch(stepSums->images, batch->waitMs, double(compute.nsecsElapsed()) / 1e6);
        if (sinceEmit.elapsed() >= kEmitIntervalMs) {
            if (!flushInterval(sums, error))
                return false;
            sinceEmit.restart();
        }
    }
    if (meter.hasData() && !flushInterval(sums, error))
        return false;
    if (q->m_cancel.load()) {
        s.trainLoader->stop();
        return true; // the caller saves the checkpoint
    }
    return endEpoch(sums, double(epochClock.elapsed()) / 1000.0, error);
}

// Reads the interval's loss and accuracy back, checks for divergence and emits a sample.
bool Trainer::Private::flushInterval(Sums &sums, QString *error)
{
    const double loss = sums.loss.defined() ? sums.loss.item<double>() : 0.0;
    const std::int64_t correct = sums.correct.defined() ? sums.correct.item<std::int64_t>() : 0;
    sums.loss = sums.correct = torch::Tensor();
    const ThroughputMeter::Interval interval = meter.take(loss, correct);
    if (!std::isfinite(loss)) {
        *error = QStringLiteral(
            "training diverged at step %1 (loss is not finite); try a lower learning rate (--lr)")
                     .arg(s.state.step);
        return false;
    }
    sums.epochLoss += loss;
    sums.epochCorrect += correct;
    sums.epochImages += interval.images;
    emitSample(makeSample(interval));
    return true;
}

// End of an epoch: validate, checkpoint, report. The training steps' free heap goes back first, so
// the pass's peak is its own, as the planner measured it. A stop during validation ends the epoch
// uncounted.
bool Trainer::Private::endEpoch(const Sums &sums, double seconds, QString *error)
{
    releaseFreeHostMemory();
    EvaluationReport val;
    PassPredictions predictions;
    if (!evaluate(*s.valLoader, QStringLiteral("validation"), &val, &predictions))
        return true;
    lastValPredictions = std::move(predictions);
    lastValAccuracy = val.accuracy;
    lastValLoss = val.loss;
    EpochSummary summary;
    summary.epoch = s.state.epoch;
    summary.step = s.state.step;
    summary.trainLoss = sums.epochImages ? sums.epochLoss / double(sums.epochImages) : 0.0;
    summary.trainAccuracy
        = sums.epochImages ? double(sums.epochCorrect) / double(sums.epochImages) : 0.0;
    summary.valLoss = val.loss;
    summary.valAccuracy = val.accuracy;
    summary.measuredSparsity = s.pruner->measuredSparsity();
    summary.seconds = seconds;
    s.state.epoch += 1;
    s.state.batchInEpoch = 0;
    releaseFreeHostMemory(); // the validation pass's free heap
    if (!checkpoint(error))
        return false;
    MetricsSample sample = makeSample({});
    sample.epoch = summary.epoch;
    sample.epochProgress = 1.0;
    sample.imagesPerSec = 0.0;
    sample.loss = summary.trainLoss;
    sample.accuracy = summary.trainAccuracy;
    sample.event = QStringLiteral("epoch_end");
    emitSample(sample);
    Q_EMIT q->epochFinished(summary);
    return true;
}

// A validation or test pass (WHAT names it in the log); out-of-memory errors split its batches.
// PREDICTIONS, unless null, receives every image's result (in a data-parallel run, gathered from
// every rank's shard).
bool Trainer::Private::evaluate(StreamingLoader &loader, const QString &what,
    EvaluationReport *report, PassPredictions *predictions)
{
    // A pause asked for as the pass began is honoured before it: within it, there is none.
    if (!s.dist && q->m_paused.load() && !q->waitWhilePaused())
        return false;
    if (q->m_options.beforeEvalPass)
        q->m_options.beforeEvalPass(what);
    report->chunk = evalChunk;
    if (s.dist) // each rank evaluates its shard with rank 0's BatchNorm statistics
        s.dist->broadcastBuffers(*s.model);
    QElapsedTimer sinceEmit;
    const auto progress = [&](std::int64_t done, std::int64_t total) {
        if (done > 0 && done < total && sinceEmit.isValid()
            && sinceEmit.elapsed() < kEmitIntervalMs)
            return;
        sinceEmit.start();
        Q_EMIT q->evaluationProgress(what, done, total);
    };
    const bool done = evaluateModel(*s.model, loader, int(s.classes.size()), s.device, report,
        &q->m_cancel, q->m_options.beforeEvalForward, predictions, progress);
    if (done && s.dist) {
        s.dist->reduceReport(*report); // the whole set's figures on every rank
        if (predictions) // and every image's result, which rank 0 writes
            s.dist->gatherPredictions(*predictions, std::int64_t(loader.size()));
    }
    if (report->oomRecoveries > 0) {
        evalRecoveries += report->oomRecoveries;
        evalChunk = report->chunk;
        log(QStringLiteral(
            "out of memory in the %1 pass; emptied the cache and continued with %2 images per "
            "forward pass")
                .arg(what)
                .arg(evalChunk));
    }
    return done;
}

// RUNDIR/NAME from a pass's PREDICTIONS over LOADER's images (rank 0 of a run only).
bool Trainer::Private::writePredictions(const QString &name, const PassPredictions &predictions,
    const StreamingLoader &loader, QString *error)
{
    return !s.isWriter()
        || writePassPredictions(
            QDir(c.outDir).filePath(name), predictions, loader.samples(), s.classes, error);
}

void Trainer::Private::onOutOfMemory(std::int64_t at, int failed, int next, const QString &what)
{
    const int effective = c.batchSize;
    log(QStringLiteral(
        "out of memory at step %1 with micro-batch %2 (%3); released the batch and emptied the "
        "cache, "
        "continuing with micro-batches of %4 (%5 accumulation steps, effective batch %6 unchanged)")
            .arg(at)
            .arg(failed)
            .arg(what)
            .arg(next)
            .arg((effective + next - 1) / next)
            .arg(effective));
    MetricsSample sample = makeSample({});
    sample.imagesPerSec = 0.0;
    sample.event = QStringLiteral("oom_recovered");
    emitSample(sample);
}

MetricsSample Trainer::Private::makeSample(const ThroughputMeter::Interval &interval) const
{
    MetricsSample m;
    m.step = s.state.step;
    m.epoch = s.state.epoch;
    m.epochProgress = stepsPerEpoch > 0
        ? std::min(1.0, double(s.state.batchInEpoch) / double(stepsPerEpoch))
        : 0.0;
    m.images = s.state.images;
    m.imagesPerSec = interval.imagesPerSec;
    m.dataWaitMs = interval.dataWaitMs;
    m.computeMs = interval.computeMs;
    m.loss = interval.loss;
    m.accuracy = interval.accuracy;
    m.valLoss = lastValLoss;
    m.valAccuracy = lastValAccuracy;
    m.learningRate = s.optimizer->param_groups().front().options().get_lr();
    m.targetSparsity = s.pruner->targetSparsity();
    m.measuredSparsity = s.pruner->measuredSparsity();
    m.hostRssBytes = hostRssBytes();
    m.hostPeakRssBytes = hostPeakRssBytes();
    if (s.device.is_cuda()) {
        const DeviceMemory d = deviceMemory(s.device.index());
        m.deviceAllocatedBytes = d.allocated;
        m.deviceReservedBytes = d.reserved;
        m.devicePeakBytes = d.peak;
        m.deviceUsedBytes = d.used;
        m.deviceTotalBytes = d.total;
    }
    m.batchSize = c.batchSize;
    m.microBatch = step->microBatch() > 0 ? std::min(step->microBatch(), m.batchSize) : m.batchSize;
    m.accumulationSteps = m.microBatch > 0 ? (m.batchSize + m.microBatch - 1) / m.microBatch : 1;
    m.lossScale = step->lossScale();
    m.elapsedSec = double(clock.elapsed()) / 1000.0;
    return m;
}

void Trainer::Private::emitSample(MetricsSample sample)
{
    if (s.dist)
        s.dist->exchangeFigures(sample); // every rank's memory and images/s (MetricsSample::ranks)
    if (metricsFile.isOpen() && metricsFile.write(sample.toCsvRow().toUtf8() + '\n') > 0)
        metricsFile.flush(); // not open on the ranks other than 0
    Q_EMIT q->sampleReady(sample);
}

bool Trainer::Private::checkpoint(QString *error)
{
    const QString path = QDir(s.run.checkpointDir()).filePath(checkpointFileName(s.state.step));
    if (s.isWriter()
        && !saveCheckpoint(path, *s.model, *s.optimizer, s.pruner->masks(), s.state, error))
        return false;
    if (s.isWriter())
        pruneOldCheckpoints(s.run.checkpointDir(), kCheckpointsKept);
    return true;
}

// The run's end: a stopped run saves a checkpoint to resume from; a run that trained all its epochs
// writes model.pt; either writes predictions-val.csv (the last whole validation pass; once here,
// not per epoch) and summary.json (test accuracy only from a whole test pass, TESTACCURACY < 0
// otherwise) and ends in finished().
bool Trainer::Private::finish(bool stopped, double testAccuracy, QString *error)
{
    if (stopped) {
        if (!checkpoint(error))
            return false;
        log(QStringLiteral("stopped at step %1; continue with train --resume, or Resume in the run "
                           "history")
                .arg(s.state.step));
    }
    if (s.state.epoch >= c.epochs && s.isWriter()
        && !writeCheckedFile(s.run.modelFile(), serializeModule(*s.model), error))
        return false;
    if (lastValPredictions
        && !writePredictions(
            QStringLiteral("predictions-val.csv"), *lastValPredictions, *s.valLoader, error))
        return false;
    RunSummary summary;
    summary.status = stopped ? QStringLiteral("stopped") : QStringLiteral("finished");
    summary.runDir = c.outDir;
    summary.device = s.deviceName;
    summary.testAccuracy = testAccuracy;
    summary.valAccuracy = lastValAccuracy;
    summary.valLoss = lastValLoss;
    summary.finalSparsity = s.pruner->measuredSparsity();
    summary.targetSparsity = s.pruner->targetSparsity();
    summary.imagesPerSec = meter.medianImagesPerSec();
    summary.peakHostRssBytes = hostPeakRssBytes();
    if (s.device.is_cuda())
        summary.peakDeviceBytes = deviceMemory(s.device.index()).peak;
    summary.steps = s.state.step;
    summary.epochs = s.state.epoch;
    summary.skippedFiles = s.trainLoader->skippedTotal() + s.valLoader->skippedTotal()
        + (s.testLoader ? s.testLoader->skippedTotal() : 0);
    summary.wallSeconds = double(clock.elapsed()) / 1000.0;
    summary.batchSize = c.batchSize;
    summary.microBatch
        = step->microBatch() > 0 ? std::min(step->microBatch(), c.batchSize) : c.batchSize;
    summary.oomRecoveries = step->recoveries() + evalRecoveries;
    summary.predictedPeakBytes = s.memory.predictedPeak;
    summary.memoryBudgetBytes = c.memoryBudgetBytes;
    QSaveFile file(s.run.summaryFile());
    if (s.isWriter()
        && (!file.open(QIODevice::WriteOnly)
            || file.write(QJsonDocument(summary.toJson()).toJson()) < 0 || !file.commit())) {
        *error = QStringLiteral("cannot write %1: %2").arg(s.run.summaryFile(), file.errorString());
        return false;
    }
    metricsFile.close();
    Q_EMIT q->finished(summary);
    return true;
}

void Trainer::run()
{
    // Destroyed after d: the run's model, loaders and batches go back to the system however the run
    // ends (the GUI process lives on).
    struct ReleaseAtEnd {
        ~ReleaseAtEnd() { releaseFreeHostMemory(); }
    } releaseAtEnd;
    Private d(this);
    d.runLog.attach(this); // everything the run says also goes to RUNDIR/run.log
    d.clock.start();
    QString error;
    try {
        if (!d.setUp(&error)) {
            Q_EMIT failed(error);
            return;
        }
        Q_EMIT started(deviceDescription(d.s.deviceName, m_config.effectiveThreads()), d.totalSteps,
            d.stepsPerEpoch);
        if (d.s.device.is_cuda())
            resetDevicePeak(d.s.device.index());
        if (m_options.resume) {
            MetricsSample s = d.makeSample({});
            s.event = QStringLiteral("resume");
            d.emitSample(s);
        }
        while (d.s.state.epoch < m_config.epochs && !m_cancel.load()) {
            if (!d.trainEpoch(&error)) {
                Q_EMIT failed(error);
                return;
            }
        }
        double testAccuracy = -1.0;
        if (!m_cancel.load() && d.s.testLoader) {
            EvaluationReport test;
            PassPredictions predictions;
            if (d.evaluate(*d.s.testLoader, QStringLiteral("test"), &test, &predictions)) {
                testAccuracy = test.accuracy;
                if (!d.writePredictions(
                        QStringLiteral("predictions.csv"), predictions, *d.s.testLoader, &error)) {
                    Q_EMIT failed(error);
                    return;
                }
            }
        }
        if (!d.finish(m_cancel.load(), testAccuracy, &error))
            Q_EMIT failed(error);
    } catch (const c10::Error &e) {
        Q_EMIT failed(
            QStringLiteral("training failed: %1").arg(firstLine(e.what_without_backtrace())));
    } catch (const cv::Exception &e) {
        Q_EMIT failed(QStringLiteral("image processing failed: %1").arg(firstLine(e.what())));
    } catch (const std::exception &e) {
        Q_EMIT failed(QStringLiteral("training failed: %1").arg(firstLine(e.what())));
    }
}

} // namespace leantune
