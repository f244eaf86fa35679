#include "train/trainer.h"

#include "dataset/datasetscanner.h"
#include "dataset/streamingloader_p.h"
#include "metrics/bytesize.h"
#include "metrics/cudashim_p.h"
#include "metrics/memoryprobe.h"
#include "metrics/throughputmeter.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "train/batchsizefinder.h"
#include "train/checkpoint_p.h"
#include "train/evaluator_p.h"
#include "train/gradscaler_p.h"
#include "train/memoryplanner.h"
#include "train/rundir_p.h"
#include "train/stepprobe_p.h"

#include <opencv2/core.hpp>

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStringBuilder>
#include <QTextStream>

#include <cmath>
#include <set>

namespace leantune {

namespace {

constexpr qint64 kEmitIntervalMs = 50;   // ≤ 20 samples a second
constexpr int kCheckpointsKept = 3;

QString firstLine(const char *what) { return QString::fromUtf8(what).section(QLatin1Char('\n'), 0, 0).trimmed(); }

// Scans a folder and insists on at least two classes with images.
std::optional<DatasetIndex> scanForTraining(const QString &dir, bool followSymlinks, const char *role, QString *error)
{
    QString scanError;
    ScanOptions options;
    options.followSymlinks = followSymlinks;
    std::optional<DatasetIndex> index = scanDataset(dir, options, &scanError);
    if (!index) {
        *error = QStringLiteral("%1 data: %2").arg(QLatin1String(role), scanError);
        return std::nullopt;
    }
    int nonEmpty = 0;
    for (int c : index->classCounts())
        nonEmpty += c > 0;
    if (nonEmpty < 2) {
        *error = QStringLiteral("%1 data folder %2 needs at least two class sub-folders with valid images "
                                "(found %3)")
                     .arg(QLatin1String(role), dir)
                     .arg(nonEmpty);
        return std::nullopt;
    }
    return index;
}

double learningRateAt(const RunConfig &c, std::int64_t step, std::int64_t totalSteps)
{
    if (c.lrSchedule == LrSchedule::Constant || totalSteps <= 1)
        return c.learningRate;
    const double p = std::clamp(double(step) / double(totalSteps), 0.0, 1.0);
    return c.learningRate * 0.5 * (1.0 + std::cos(M_PI * p));
}

// CUDA autocast for the forward pass of a mixed-precision step; off again however the scope ends.
class AutocastScope {
public:
    AutocastScope(bool enabled, const QString &precision) : m_enabled(enabled), m_precision(precision)
    {
        if (m_enabled)
            cudashim::setAutocast(true, m_precision);
    }
    ~AutocastScope()
    {
        if (m_enabled)
            cudashim::setAutocast(false, m_precision);
    }
    AutocastScope(const AutocastScope &) = delete;
    AutocastScope &operator=(const AutocastScope &) = delete;

private:
    bool m_enabled;
    QString m_precision;
};

// LEANTUNE_INJECT_OOM_AT_STEP=N[,N...]: steps whose first forward pass throws an out-of-memory error.
std::set<std::int64_t> injectedOomSteps()
{
    std::set<std::int64_t> steps;
    const QString spec = qEnvironmentVariable("LEANTUNE_INJECT_OOM_AT_STEP");
    for (const QString &part : spec.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const qint64 step = part.trimmed().toLongLong(&ok);
        if (ok && step > 0)
            steps.insert(step);
    }
    return steps;
}

} // namespace

// Everything that lives for one run on the worker thread.
struct Trainer::Private {
    Trainer *q;
    RunInfo run;
    torch::Device device{torch::kCPU};
    QString deviceName;
    bool channelsLast = false;   // config.useChannelsLast() on this device
    std::shared_ptr<ClassifierImpl> model;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    std::unique_ptr<MagnitudePruner> pruner;
    std::unique_ptr<StreamingLoader> trainLoader, valLoader, testLoader;
    QStringList classes;
    CheckpointState state;
    ThroughputMeter meter;
    QElapsedTimer clock;
    QFile metricsFile;
    QFile logFile;   // RUNDIR/run.log, open once the run folder is ready
    void writeLog(const QString &message);
    double lastValAccuracy = -1.0, lastValLoss = -1.0;
    // Memory (issue 5): what the planner or an out-of-memory recovery decided.
    int microBatch = 0;                 // images per forward/backward; 0 = whole batches
    int queueDepth = 4;                 // loader queue depth (bounded by a host budget)
    int evalBatch = 256;                // evaluation batch size
    int evalChunk = 0;                  // images per evaluation forward pass after an OOM; 0 = whole batches
    int oomRecoveries = 0;
    std::int64_t predictedPeak = -1;    // planner's predicted peak (bytes), -1 when not planned
    std::int64_t cacheBudget = -1;      // decoded-cache bytes a host budget leaves; -1: the cache's default
    std::set<std::int64_t> injectOomAt; // LEANTUNE_INJECT_OOM_AT_STEP (test and bench hook)
    std::unique_ptr<GradScaler> scaler; // fp16 only

    explicit Private(Trainer *trainer) : q(trainer) {}

    bool setUp(QString *error);
    bool planMemory(std::int64_t trainImages, std::int64_t evalImages, QString *error);
    bool recoverFromOutOfMemory(std::int64_t micro, std::int64_t batchImages, const c10::Error &e,
                                std::int64_t stepsPerEpoch, QString *error);
    bool trainEpoch(std::int64_t totalSteps, std::int64_t stepsPerEpoch, QString *error);
    // A validation or test pass (WHAT names it in the log); out-of-memory errors split its batches.
    bool evaluate(StreamingLoader &loader, const QString &what, EvaluationReport *report);
    MetricsSample makeSample(const ThroughputMeter::Interval &interval, std::int64_t stepsPerEpoch) const;
    void emitSample(MetricsSample sample);
    bool checkpoint(QString *error);
    std::unique_ptr<StreamingLoader> makeLoader(std::vector<Sample> samples, bool training) const;
};

Trainer::Trainer(RunConfig config, Options options, QObject *parent)
    : QObject(parent), m_config(std::move(config)), m_options(options)
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
    std::unique_lock<std::mutex> lock(m_pauseMutex);
    m_pauseChanged.wait(lock, [this] { return !m_paused.load() || m_cancel.load(); });
    return !m_cancel.load();
}

std::unique_ptr<StreamingLoader> Trainer::Private::makeLoader(std::vector<Sample> samples, bool training) const
{
    const RunConfig &c = q->m_config;
    LoaderOptions lo;
    lo.decode = decodeOptionsFor(c, training);
    lo.batchSize = training ? c.batchSize : evalBatch;
    lo.workers = c.workers;
    lo.queueDepth = queueDepth;
    lo.shuffle = training;
    lo.seed = c.seed;
    lo.pinMemory = device.is_cuda();
    if (c.cache) {   // decoded cache (issue 6); a cache that cannot be opened only costs speed
        const DecodedCacheKey key{lo.decode.inputSize, lo.decode.channels, lo.decode.augment};
        const QString dir = c.cacheDir.isEmpty() ? DecodedCache::defaultDirectory() : c.cacheDir;
        QString cacheError;
        lo.cache = DecodedCache::open(QDir(dir).filePath(DecodedCache::fileNameFor(samples, key)), samples, key,
                                      cacheBudget >= 0 ? cacheBudget : DecodedCache::defaultBudgetBytes(), &cacheError);
        Q_EMIT q->logMessage(lo.cache ? QStringLiteral("decoded cache %1%2").arg(lo.cache->path(), lo.cache->reused() ? QStringLiteral(" (reused)") : QString())
                                      : QStringLiteral("decoded cache off: %1").arg(cacheError));
    }
    return std::make_unique<StreamingLoader>(std::move(samples), lo);
}

bool Trainer::Private::setUp(QString *error)
{
    RunConfig &c = q->m_config;
    if (!c.validate(error))
        return false;
    if (const QString e = prepareRunDir(c.outDir, q->m_options.resume, q->m_options.force); !e.isEmpty()) {
        *error = e;
        return false;
    }
    run.runDir = c.outDir;
    logFile.setFileName(run.logFile());
    if (!logFile.open(QIODevice::WriteOnly | (q->m_options.resume ? QIODevice::Append : QIODevice::Truncate))) {
        *error = QStringLiteral("cannot write %1: %2").arg(logFile.fileName(), logFile.errorString());
        return false;
    }
    const std::optional<QString> resolved = resolveDevice(c.device, error);
    if (!resolved)
        return false;
    deviceName = *resolved;
    device = torch::Device(deviceName.toStdString());
    torch::set_num_threads(c.effectiveThreads());
    usePredictableHostAllocator();   // host RSS bounded, and as the planner predicts
    torch::manual_seed(c.seed);
    cv::setNumThreads(1);   // decode threads parallelize over files; OpenCV's own pool would compete

    const std::optional<DatasetIndex> trainIndex = scanForTraining(c.dataDir, c.followSymlinks, "training", error);
    if (!trainIndex)
        return false;
    classes = trainIndex->classes;
    c.model.classes = int(classes.size());

    std::vector<Sample> trainSamples, valSamples, testSamples;
    if (c.valDir.isEmpty()) {
        DataSplit split = splitStratified(*trainIndex, c.valSplit, c.seed);
        trainSamples = std::move(split.train);
        valSamples = std::move(split.validation);
    } else {
        const std::optional<DatasetIndex> valIndex = scanForTraining(c.valDir, c.followSymlinks, "validation", error);
        if (!valIndex)
            return false;
        if (valIndex->classes != classes) {
            *error = QStringLiteral("validation folder %1 has classes (%2) that differ from the training data's (%3)")
                         .arg(c.valDir, valIndex->classes.join(QStringLiteral(", ")), classes.join(QStringLiteral(", ")));
            return false;
        }
        trainSamples = samplesOf(*trainIndex);
        valSamples = samplesOf(*valIndex);
    }
    if (!c.testDir.isEmpty()) {
        const std::optional<DatasetIndex> testIndex = scanForTraining(c.testDir, c.followSymlinks, "test", error);
        if (!testIndex)
            return false;
        if (testIndex->classes != classes) {
            *error = QStringLiteral("test folder %1 has classes (%2) that differ from the training data's (%3)")
                         .arg(c.testDir, testIndex->classes.join(QStringLiteral(", ")), classes.join(QStringLiteral(", ")));
            return false;
        }
        testSamples = samplesOf(*testIndex);
    }
    if (trainSamples.empty()) {
        *error = QStringLiteral("no training images left after the validation split");
        return false;
    }
    Q_EMIT q->logMessage(QStringLiteral("data: %1 classes, %2 training and %3 validation images, %4 invalid files skipped")
                             .arg(classes.size())
                             .arg(trainSamples.size())
                             .arg(valSamples.size())
                             .arg(trainIndex->invalid.size()));
    if (c.precision != Precision::Fp32 && !device.is_cuda()) {
        *error = QStringLiteral("--precision %1 needs a CUDA device; this run is on %2").arg(enumName(c.precision), deviceName);
        return false;
    }
    if (!planMemory(std::int64_t(trainSamples.size()),
                    std::int64_t(std::max(valSamples.size(), testSamples.size())), error))
        return false;
    if (q->m_cancel.load()) {
        *error = QStringLiteral("cancelled while planning memory");
        return false;
    }
    trainLoader = makeLoader(std::move(trainSamples), true);
    valLoader = makeLoader(std::move(valSamples), false);
    if (!testSamples.empty())
        testLoader = makeLoader(std::move(testSamples), false);
    injectOomAt = injectedOomSteps();
    if (device.is_cuda()) {
        // LEANTUNE_FORCE_DEVICE_LIMIT=SIZE caps the CUDA allocator after planning, so that a batch the
        // plan accepted runs out of memory for real: it exists to show recovery (bench/gpu-check.sh).
        const QString limit = qEnvironmentVariable("LEANTUNE_FORCE_DEVICE_LIMIT");
        if (const std::optional<std::int64_t> bytes = parseByteSize(limit); bytes && limitDeviceMemory(device.index(), *bytes))
            Q_EMIT q->logMessage(QStringLiteral("LEANTUNE_FORCE_DEVICE_LIMIT: CUDA allocator capped at %1").arg(formatBytes(*bytes)));
    }
    if (c.precision == Precision::Fp16)
        scaler = std::make_unique<GradScaler>();

    model = createModel(c.model, error);
    if (!model)
        return false;
    model->to(device);
    channelsLast = c.useChannelsLast(device.is_cuda());
    if (c.memoryFormat == MemoryFormat::Auto)
        Q_EMIT q->logMessage(QStringLiteral("memory format: %1 (auto for %2 on %3)")
                                 .arg(channelsLast ? QStringLiteral("channels-last") : QStringLiteral("contiguous"),
                                      c.model.name, deviceName));
    if (channelsLast)
        useChannelsLastWeights(*model);
    if (c.optimizer == Optimizer::Adam) {
        optimizer = std::make_unique<torch::optim::Adam>(
            model->parameters(), torch::optim::AdamOptions(c.learningRate).weight_decay(c.weightDecay));
    } else {
        optimizer = std::make_unique<torch::optim::SGD>(
            model->parameters(),
            torch::optim::SGDOptions(c.learningRate).momentum(c.momentum).weight_decay(c.weightDecay));
    }
    std::optional<PruningSchedule> schedule = PruningSchedule::parse(c.prune, error);
    if (!schedule)
        return false;
    pruner = std::make_unique<MagnitudePruner>(*model, *schedule,
                                               c.pruneGranularity, c.pruneScope);

    run.config = c;
    run.classNames = classes;
    QDir().mkpath(run.checkpointDir());

    if (q->m_options.resume) {
        QString lastError = QStringLiteral("no checkpoint in %1").arg(run.checkpointDir());
        bool loaded = false;
        for (const QString &path : listCheckpoints(run.checkpointDir())) {
            std::vector<torch::Tensor> masks;
            if (loadCheckpoint(path, *model, *optimizer, &masks, &state, &lastError)) {
                for (torch::Tensor &m : masks)
                    m = m.to(device);
                pruner->setMasks(masks, state.targetSparsity);
                loaded = true;
                Q_EMIT q->logMessage(QStringLiteral("resuming from %1 (step %2, epoch %3)")
                                         .arg(QDir(run.runDir).relativeFilePath(path))
                                         .arg(state.step)
                                         .arg(state.epoch + 1));
                break;
            }
            Q_EMIT q->logMessage(QStringLiteral("skipping unusable checkpoint: %1").arg(lastError));
        }
        if (!loaded) {
            *error = QStringLiteral("cannot resume: %1").arg(lastError);
            return false;
        }
    }
    if (!writeRunInfo(run, error))
        return false;

    metricsFile.setFileName(run.metricsFile());
    const bool append = q->m_options.resume && metricsFile.exists();
    if (!metricsFile.open(append ? (QIODevice::WriteOnly | QIODevice::Append) : QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write %1: %2").arg(run.metricsFile(), metricsFile.errorString());
        return false;
    }
    if (!append)
        metricsFile.write(MetricsSample::csvHeader().join(QLatin1Char(',')).toUtf8() + '\n');
    return true;
}

// Runs the memory planner when the run asks for it (batch size auto, or a host memory budget) and sets
// the batch size, micro-batch, loader queue depth and evaluation batch from its prediction.
bool Trainer::Private::planMemory(std::int64_t trainImages, std::int64_t evalImages, QString *error)
{
    // Evaluation batches: max(batch, 256), but never more than the largest evaluation set holds.
    const auto evalBatchFor = [&](int batch) {
        return int(std::max<std::int64_t>(1, std::min<std::int64_t>(MemoryPlanner::evalBatchFor(batch), evalImages)));
    };
    RunConfig &c = q->m_config;
    queueDepth = c.queueDepth;
    microBatch = c.microBatch;
    const bool autoBatch = c.batchSizeAuto;
    if (!autoBatch && c.memoryBudgetBytes <= 0) {
        evalBatch = evalBatchFor(c.batchSize);
        return true;
    }
    std::optional<MemoryPlan> plan;
    if (autoBatch) {
        Q_EMIT q->logMessage(QStringLiteral("batch size auto: probing memory and searching on %1 (margin %2%, cap %3)")
                                 .arg(deviceName)
                                 .arg(c.memoryMargin * 100.0, 0, 'f', 0)
                                 .arg(std::min<std::int64_t>(c.maxBatchSize, trainImages)));
        const std::optional<BatchSizeReport> report = BatchSizeFinder::find(c, trainImages, error, &q->m_cancel);
        if (!report)
            return false;
        c.batchSize = report->search.batchSize;
        c.batchSizeAuto = false;   // config.json keeps the size found: a resumed run trains with it
        plan = report->plan;
        Q_EMIT q->logMessage(QStringLiteral("batch size %1: predicted peak %2%3 of %4 (%5 trials)")
                                 .arg(c.batchSize)
                                 .arg(formatBytes(report->predictedPeakBytes),
                                      report->measured ? QString(QStringLiteral(", measured ") % formatBytes(report->search.peakBytes))
                                                       : QString(),
                                      formatBytes(report->search.capacityBytes))
                                 .arg(report->search.trials.size()));
    } else {
        plan = MemoryPlanner::probe(c, error);
        if (!plan)
            return false;
        QStringList probes;
        for (const MemoryProbe &p : plan->trainProbes)
            probes << QStringLiteral("%1: %2").arg(p.batchSize).arg(formatBytes(p.peakBytes));
        Q_EMIT q->logMessage(QStringLiteral("memory probes (%1 peak at each batch size): %2")
                                 .arg(plan->onDevice ? QStringLiteral("device") : QStringLiteral("host"),
                                      probes.join(QStringLiteral(", "))));
    }
    evalBatch = evalBatchFor(c.batchSize);
    const bool budget = c.memoryBudgetBytes > 0;
    // The limit the run must meet: the host budget on a CPU run; after a search, the capacity less the
    // margin (the search sized training steps; evaluation batches must fit as well).
    std::int64_t limit = 0;
    if (!plan->onDevice && budget)
        limit = std::int64_t(double(c.memoryBudgetBytes) * (1.0 - c.memoryMargin));
    else if (autoBatch)
        limit = plan->limitBytes();
    if (limit > 0) {
        const MemoryFitting f =
            MemoryPlanner::fitToLimit(*plan, c.batchSize, plan->onDevice ? 1 : c.queueDepth, limit, evalBatch);
        if (!f.fits) {
            *error = QStringLiteral("the %1 %2 is too small for this model: even micro-batches of one image with a "
                                    "loader queue of one need about %3 (limit %4 after the %5% margin)")
                         .arg(budget ? QStringLiteral("memory budget") : QStringLiteral("memory of %1").arg(deviceName),
                              formatBytes(budget ? c.memoryBudgetBytes : plan->capacityBytes),
                              formatBytes(f.predictedPeakBytes), formatBytes(limit))
                         .arg(c.memoryMargin * 100.0, 0, 'f', 0);
            return false;
        }
        microBatch = microBatch > 0 ? std::min(microBatch, f.microBatch) : f.microBatch;
        if (microBatch >= c.batchSize)
            microBatch = 0;
        if (!plan->onDevice)
            queueDepth = f.queueDepth;
        evalBatch = f.evalBatch;
    }
    if (plan->onDevice && budget) {
        // The host side of a device run is the process plus the loader's batches (queue + 1).
        const ModelSpec &m = c.model;
        const std::int64_t imageBytes = std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8;
        const std::int64_t hostLimit = std::int64_t(double(c.memoryBudgetBytes) * (1.0 - c.memoryMargin));
        const std::int64_t rss = hostRssBytes();
        while (queueDepth > 1 && rss + (queueDepth + 1) * std::int64_t(c.batchSize) * imageBytes > hostLimit)
            --queueDepth;
    }
    predictedPeak = plan->predictPeak(c.batchSize, microBatch, queueDepth, evalBatch);
    if (budget) {
        // What the budget leaves after the run's predicted peak bounds the decoded cache.
        const std::int64_t hostLimit = std::int64_t(double(c.memoryBudgetBytes) * (1.0 - c.memoryMargin));
        const ModelSpec &m = c.model;
        const std::int64_t hostPeak = plan->onDevice
                                          ? hostRssBytes() + (queueDepth + 1) * std::int64_t(c.batchSize) *
                                                                 (std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8)
                                          : predictedPeak;
        cacheBudget = std::max<std::int64_t>(0, hostLimit - hostPeak);
    }
    const int micro = microBatch > 0 ? microBatch : c.batchSize;
    const QString what = plan->onDevice ? QStringLiteral("device") : QStringLiteral("host");
    if (micro < c.batchSize)
        Q_EMIT q->logMessage(QStringLiteral("memory plan: batch %1 does not fit whole within %2; training it as %3 "
                                            "micro-batches of %4 (gradient accumulation, same effective batch), "
                                            "loader queue %5, evaluation batch %6; predicted %7 peak %8")
                                 .arg(c.batchSize)
                                 .arg(formatBytes(limit))
                                 .arg((c.batchSize + micro - 1) / micro)
                                 .arg(micro)
                                 .arg(queueDepth)
                                 .arg(evalBatch)
                                 .arg(what, formatBytes(predictedPeak)));
    else
        Q_EMIT q->logMessage(QStringLiteral("memory plan: batch %1, loader queue %2, evaluation batch %3; predicted %4 "
                                            "peak %5%6")
                                 .arg(c.batchSize)
                                 .arg(queueDepth)
                                 .arg(evalBatch)
                                 .arg(what, formatBytes(predictedPeak),
                                      limit > 0 ? QString(QStringLiteral(" (limit %1)").arg(formatBytes(limit))) : QString()));
    torch::manual_seed(c.seed);   // the probes drew random numbers: start the model as without them
    return true;
}

// After an out-of-memory in a step: drops the step's gradients, empties the allocator's cache and halves
// the micro-batch (gradient accumulation keeps the effective batch). False when nothing is left to halve.
bool Trainer::Private::recoverFromOutOfMemory(std::int64_t micro, std::int64_t batchImages, const c10::Error &e,
                                              std::int64_t stepsPerEpoch, QString *error)
{
    for (torch::Tensor &p : model->parameters())
        if (p.grad().defined())
            p.mutable_grad() = torch::Tensor();
    emptyDeviceCache();
    const QString what = firstLine(e.what_without_backtrace());
    if (micro <= 1) {
        *error = QStringLiteral("out of memory at step %1 even with micro-batches of one image (%2); use a smaller "
                                "model or input size")
                     .arg(state.step + 1)
                     .arg(what);
        return false;
    }
    const int next = int((micro + 1) / 2);
    microBatch = next;
    ++oomRecoveries;
    const int effective = q->m_config.batchSize;
    Q_EMIT q->logMessage(QStringLiteral("out of memory at step %1 with micro-batch %2 (%3); released the batch and "
                                        "emptied the cache, continuing with micro-batches of %4 (%5 accumulation "
                                        "steps, effective batch %6 unchanged)")
                             .arg(state.step + 1)
                             .arg(micro)
                             .arg(what)
                             .arg(next)
                             .arg((effective + next - 1) / next)
                             .arg(effective));
    MetricsSample s = makeSample({}, stepsPerEpoch);
    s.imagesPerSec = 0.0;
    s.event = QStringLiteral("oom_recovered");
    emitSample(s);
    (void)batchImages;
    return true;
}

bool Trainer::Private::evaluate(StreamingLoader &loader, const QString &what, EvaluationReport *report)
{
    report->chunk = evalChunk;
    const bool done = evaluateModel(*model, loader, int(classes.size()), device, report, &q->m_cancel,
                                    q->m_options.beforeEvalForward);
    if (report->oomRecoveries > 0) {
        oomRecoveries += report->oomRecoveries;
        evalChunk = report->chunk;
        Q_EMIT q->logMessage(QStringLiteral("out of memory in the %1 pass; emptied the cache and continued with "
                                            "%2 images per forward pass")
                                 .arg(what)
                                 .arg(evalChunk));
    }
    return done;
}

MetricsSample Trainer::Private::makeSample(const ThroughputMeter::Interval &interval, std::int64_t stepsPerEpoch) const
{
    MetricsSample s;
    s.step = state.step;
    s.epoch = state.epoch;
    s.epochProgress = stepsPerEpoch > 0 ? std::min(1.0, double(state.batchInEpoch) / double(stepsPerEpoch)) : 0.0;
    s.images = state.images;
    s.imagesPerSec = interval.imagesPerSec;
    s.dataWaitMs = interval.dataWaitMs;
    s.computeMs = interval.computeMs;
    s.loss = interval.loss;
    s.accuracy = interval.accuracy;
    s.valLoss = lastValLoss;
    s.valAccuracy = lastValAccuracy;
    s.learningRate = optimizer->param_groups().front().options().get_lr();
    s.targetSparsity = pruner->targetSparsity();
    s.measuredSparsity = pruner->measuredSparsity();
    s.hostRssBytes = hostRssBytes();
    s.hostPeakRssBytes = hostPeakRssBytes();
    if (device.is_cuda()) {
        const DeviceMemory m = deviceMemory(device.index());
        s.deviceAllocatedBytes = m.allocated;
        s.deviceReservedBytes = m.reserved;
        s.devicePeakBytes = m.peak;
        s.deviceUsedBytes = m.used;
        s.deviceTotalBytes = m.total;
    }
    s.batchSize = q->m_config.batchSize;
    s.microBatch = microBatch > 0 ? std::min(microBatch, s.batchSize) : s.batchSize;
    s.accumulationSteps = s.microBatch > 0 ? (s.batchSize + s.microBatch - 1) / s.microBatch : 1;
    s.lossScale = scaler ? scaler->currentScale() : 0.0;
    s.elapsedSec = double(clock.elapsed()) / 1000.0;
    return s;
}

void Trainer::Private::emitSample(MetricsSample sample)
{
    metricsFile.write(sample.toCsvRow().toUtf8() + '\n');
    metricsFile.flush();
    Q_EMIT q->sampleReady(sample);
}

bool Trainer::Private::checkpoint(QString *error)
{
    const QString path = QDir(run.checkpointDir()).filePath(checkpointFileName(state.step));
    if (!saveCheckpoint(path, *model, *optimizer, pruner->masks(), state, error))
        return false;
    pruneOldCheckpoints(run.checkpointDir(), kCheckpointsKept);
    return true;
}

bool Trainer::Private::trainEpoch(std::int64_t totalSteps, std::int64_t stepsPerEpoch, QString *error)
{
    RunConfig &c = q->m_config;
    const bool mixed = device.is_cuda() && c.precision != Precision::Fp32;
    model->train();
    trainLoader->startEpoch(state.epoch, state.batchInEpoch);
    QElapsedTimer sinceEmit;
    sinceEmit.start();
    double lossSum = 0.0;   // whole epoch, per-image loss summed
    std::int64_t seen = 0, correctSum = 0;
    torch::Tensor intervalLoss, intervalCorrect;   // since the last emission, on the device
    // Reads the interval's loss and accuracy back, checks for divergence and emits a sample.
    const auto flushInterval = [&](QString *err) {
        const double l = intervalLoss.defined() ? intervalLoss.item<double>() : 0.0;
        const std::int64_t k = intervalCorrect.defined() ? intervalCorrect.item<std::int64_t>() : 0;
        intervalLoss = intervalCorrect = torch::Tensor();
        const ThroughputMeter::Interval interval = meter.take(l, k);
        if (!std::isfinite(l)) {
            *err = QStringLiteral("training diverged at step %1 (loss is not finite); try a lower learning "
                                  "rate (--lr)")
                       .arg(state.step);
            return false;
        }
        lossSum += l;
        correctSum += k;
        seen += interval.images;
        emitSample(makeSample(interval, stepsPerEpoch));
        return true;
    };
    QElapsedTimer epochClock;
    epochClock.start();

    while (true) {
        if (q->m_cancel.load() || (q->m_paused.load() && !q->waitWhilePaused()))
            break;
        std::optional<Batch> batch = trainLoader->next();
        if (!batch)
            break;
        QElapsedTimer compute;
        compute.start();
        state.batchInEpoch = batch->index + 1;
        const std::int64_t n = batch->images.size(0);
        if (n == 0)
            continue;   // every file of the batch failed to decode (counted by the loader)
        for (auto &group : optimizer->param_groups())
            group.options().set_lr(learningRateAt(c, state.step, totalSteps));
        torch::Tensor x = batch->images.to(device, /*non_blocking=*/true);
        if (channelsLast)
            x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor y = batch->labels.to(device, /*non_blocking=*/true);
        // Summed on the device and read back once per emission: no host sync per batch on CUDA.
        torch::Tensor lossSumBatch, correctBatch;
        // Re-runs the same batch (same step) after an out-of-memory, in smaller micro-batches.
        for (;;) {
            const std::int64_t micro = microBatch > 0 ? std::min<std::int64_t>(microBatch, n) : n;
            try {
                lossSumBatch = correctBatch = torch::Tensor();
                optimizer->zero_grad();
                for (std::int64_t off = 0; off < n; off += micro) {
                    const std::int64_t len = std::min(micro, n - off);
                    if (q->m_options.beforeForward)
                        q->m_options.beforeForward(state.step + 1, int(micro));
                    if (!injectOomAt.empty() && injectOomAt.erase(state.step + 1) > 0)
                        TORCH_CHECK_WITH(OutOfMemoryError, false,
                                         "out of memory (injected by LEANTUNE_INJECT_OOM_AT_STEP)");
                    const torch::Tensor xs = len == n ? x : x.narrow(0, off, len);
                    const torch::Tensor ys = len == n ? y : y.narrow(0, off, len);
                    torch::Tensor logits, loss;
                    {
                        // Autocast covers the forward pass only, as Python's `with autocast():` does;
                        // turning it off clears its cache of low-precision weight copies, which the
                        // optimizer step makes stale.
                        const AutocastScope autocast(mixed, enumName(c.precision));
                        logits = model->forward(xs);
                        loss = torch::nn::functional::cross_entropy(logits, ys);
                    }
                    const torch::Tensor part = len == n ? loss : loss * (double(len) / double(n));
                    (scaler ? scaler->scale(part) : part).backward();
                    const torch::Tensor l = loss.detach().to(torch::kFloat64) * double(len);
                    const torch::Tensor k = logits.detach().argmax(1).eq(ys).sum();
                    lossSumBatch = lossSumBatch.defined() ? lossSumBatch + l : l;
                    correctBatch = correctBatch.defined() ? correctBatch + k : k;
                }
                if (scaler) {
                    scaler->step(*optimizer);   // skipped when a gradient is inf/NaN
                    scaler->update();
                } else {
                    optimizer->step();
                }
                break;
            } catch (const c10::Error &e) {
                if (!isOutOfMemoryError(e))
                    throw;
                if (!recoverFromOutOfMemory(micro, n, e, stepsPerEpoch, error))
                    return false;
            }
        }
        ++state.step;
        pruner->step(state.step);
        intervalLoss = intervalLoss.defined() ? intervalLoss + lossSumBatch : lossSumBatch;
        intervalCorrect = intervalCorrect.defined() ? intervalCorrect + correctBatch : correctBatch;
        state.images += n;
        meter.addBatch(n, batch->waitMs, double(compute.nsecsElapsed()) / 1e6);
        if (sinceEmit.elapsed() >= kEmitIntervalMs) {
            if (!flushInterval(error))
                return false;
            sinceEmit.restart();
        }
    }
    if (meter.hasData() && !flushInterval(error))
        return false;
    if (q->m_cancel.load()) {
        trainLoader->stop();
        return true;   // the caller saves the checkpoint
    }

    // End of the epoch: validate, checkpoint, report. The training steps' free heap goes back first,
    // so the pass's peak is its own, as the planner measured it.
    releaseFreeHostMemory();
    EvaluationReport val;
    if (!evaluate(*valLoader, QStringLiteral("validation"), &val))
        return true;
    lastValAccuracy = val.accuracy;
    lastValLoss = val.loss;
    EpochSummary summary;
    summary.epoch = state.epoch;
    summary.step = state.step;
    summary.trainLoss = seen ? lossSum / double(seen) : 0.0;
    summary.trainAccuracy = seen ? double(correctSum) / double(seen) : 0.0;
    summary.valLoss = val.loss;
    summary.valAccuracy = val.accuracy;
    summary.measuredSparsity = pruner->measuredSparsity();
    summary.seconds = double(epochClock.elapsed()) / 1000.0;
    state.epoch += 1;
    state.batchInEpoch = 0;
    releaseFreeHostMemory();   // the validation pass's free heap
    if (!checkpoint(error))
        return false;
    MetricsSample s = makeSample({}, stepsPerEpoch);
    s.epoch = summary.epoch;
    s.epochProgress = 1.0;
    s.imagesPerSec = 0.0;
    s.loss = summary.trainLoss;
    s.accuracy = summary.trainAccuracy;
    s.event = QStringLiteral("epoch_end");
    emitSample(s);
    Q_EMIT q->epochFinished(summary);
    return true;
}

void Trainer::Private::writeLog(const QString &message)
{
    if (!logFile.isOpen())
        return;
    logFile.write(QDateTime::currentDateTime().toString(Qt::ISODateWithMs).toUtf8() + ' ' + message.toUtf8() + '\n');
    logFile.flush();
}

void Trainer::run()
{
    // Destroyed after d: the run's model, loaders and batches go back to the system however the run
    // ends (the GUI process lives on).
    struct ReleaseAtEnd {
        ~ReleaseAtEnd() { releaseFreeHostMemory(); }
    } releaseAtEnd;
    Private d(this);
    // Everything the run says also goes to RUNDIR/run.log (direct: written on this thread, in order).
    struct Disconnect {
        QList<QMetaObject::Connection> connections;
        ~Disconnect()
        {
            for (const QMetaObject::Connection &c : connections)
                QObject::disconnect(c);
        }
    } logConnections;
    logConnections.connections
        << connect(this, &Trainer::logMessage, this, [&d](const QString &m) { d.writeLog(m); }, Qt::DirectConnection)
        << connect(this, &Trainer::failed, this, [&d](const QString &m) { d.writeLog(QStringLiteral("failed: ") + m); },
                   Qt::DirectConnection)
        << connect(this, &Trainer::finished, this,
                   [&d](const RunSummary &s) { d.writeLog(QStringLiteral("finished: ") + s.status); }, Qt::DirectConnection);
    d.clock.start();
    QString error;
    try {
        if (!d.setUp(&error)) {
            Q_EMIT failed(error);
            return;
        }
        const std::int64_t stepsPerEpoch = d.trainLoader->batchesPerEpoch();
        const std::int64_t totalSteps = stepsPerEpoch * m_config.epochs;
        Q_EMIT started(deviceDescription(d.deviceName, m_config.effectiveThreads()), totalSteps, stepsPerEpoch);
        if (d.device.is_cuda())
            resetDevicePeak(d.device.index());
        if (m_options.resume) {
            MetricsSample s = d.makeSample({}, stepsPerEpoch);
            s.event = QStringLiteral("resume");
            d.emitSample(s);
        }

        while (d.state.epoch < m_config.epochs && !m_cancel.load()) {
            if (!d.trainEpoch(totalSteps, stepsPerEpoch, &error)) {
                Q_EMIT failed(error);
                return;
            }
        }

        RunSummary summary;
        summary.runDir = m_config.outDir;
        summary.device = d.deviceName;
        if (m_cancel.load()) {
            summary.status = QStringLiteral("cancelled");
            if (!d.checkpoint(&error)) {
                Q_EMIT failed(error);
                return;
            }
            Q_EMIT logMessage(QStringLiteral("cancelled at step %1; continue with --resume").arg(d.state.step));
        } else {
            if (d.testLoader) {
                EvaluationReport test;
                d.evaluate(*d.testLoader, QStringLiteral("test"), &test);
                summary.testAccuracy = test.accuracy;
            }
            if (!writeCheckedFile(d.run.modelFile(), serializeModule(*d.model), &error)) {
                Q_EMIT failed(error);
                return;
            }
        }
        summary.valAccuracy = d.lastValAccuracy;
        summary.valLoss = d.lastValLoss;
        summary.finalSparsity = d.pruner->measuredSparsity();
        summary.targetSparsity = d.pruner->targetSparsity();
        summary.imagesPerSec = d.meter.medianImagesPerSec();
        summary.peakHostRssBytes = hostPeakRssBytes();
        if (d.device.is_cuda())
            summary.peakDeviceBytes = deviceMemory(d.device.index()).peak;
        summary.steps = d.state.step;
        summary.epochs = d.state.epoch;
        summary.skippedFiles = d.trainLoader->skippedTotal() + d.valLoader->skippedTotal() +
                               (d.testLoader ? d.testLoader->skippedTotal() : 0);
        summary.wallSeconds = double(d.clock.elapsed()) / 1000.0;
        summary.batchSize = m_config.batchSize;
        summary.microBatch = d.microBatch > 0 ? std::min(d.microBatch, m_config.batchSize) : m_config.batchSize;
        summary.oomRecoveries = d.oomRecoveries;
        summary.predictedPeakBytes = d.predictedPeak;
        summary.memoryBudgetBytes = m_config.memoryBudgetBytes;

        QSaveFile file(d.run.summaryFile());
        if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(summary.toJson()).toJson()) < 0 ||
            !file.commit()) {
            Q_EMIT failed(QStringLiteral("cannot write %1: %2").arg(d.run.summaryFile(), file.errorString()));
            return;
        }
        d.metricsFile.close();
        Q_EMIT finished(summary);
    } catch (const c10::Error &e) {
        Q_EMIT failed(QStringLiteral("training failed: %1").arg(firstLine(e.what_without_backtrace())));
    } catch (const cv::Exception &e) {
        Q_EMIT failed(QStringLiteral("image processing failed: %1").arg(firstLine(e.what())));
    } catch (const std::exception &e) {
        Q_EMIT failed(QStringLiteral("training failed: %1").arg(firstLine(e.what())));
    }
}

} // namespace leantune
