#include "train/runsetup_p.h"

#include "dataset/datasetscanner.h"
#include "dataset/datasplit.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "config/runfields.h"
#include "train/initweights_p.h"
#include "train/layertargets_p.h"
#include "train/rundir_p.h"

#include <opencv2/core.hpp>

#include <QDir>
#include <QStringBuilder>
#include <QTemporaryFile>

namespace leantune {

namespace {

using Log = std::function<void(const QString &)>;

// Scans a folder and insists on at least two classes with images.
std::optional<DatasetIndex> scanForTraining(
    const QString &dir, const RunConfig &c, const char *role, QString *error)
{
    QString scanError;
    ScanOptions options;
    options.followSymlinks = c.followSymlinks;
    options.applyCorrections = c.applyCorrections;
    std::optional<DatasetIndex> index = scanDataset(dir, options, &scanError);
    if (!index) {
        *error = QStringLiteral("%1 data: %2").arg(QLatin1String(role), scanError);
        return std::nullopt;
    }
    const QStringList none = index->classesWithoutImages();
    int nonEmpty = 0;
    for (int c : index->classCounts())
        nonEmpty += c > 0;
    if (nonEmpty < 2) {
        *error = QStringLiteral(
            "%1 data folder %2 needs at least two class sub-folders with valid images "
            "(found %3%4)")
                     .arg(QLatin1String(role), dir)
                     .arg(nonEmpty)
                     .arg(none.isEmpty() ? QString()
                                         : QString(QStringLiteral("; without one: ")
                                             + none.join(QStringLiteral(", "))));
        return std::nullopt;
    }
    // A training class without an image would be a dead output of the model: refused by name.
    if (qstrcmp(role, "training") == 0 && !none.isEmpty()) {
        *error = QStringLiteral("training data: %1 %2 %3 no valid image; add images, fix or "
                                "remove the files, or move the folder out of %4")
                     .arg(none.size() == 1 ? QStringLiteral("class") : QStringLiteral("classes"),
                         none.join(QStringLiteral(", ")),
                         none.size() == 1 ? QStringLiteral("has") : QStringLiteral("have"), dir);
        return std::nullopt;
    }
    return index;
}

std::unique_ptr<StreamingLoader> makeLoader(const RunConfig &c, const RunSetup &setup,
    std::vector<Sample> samples, bool training, const std::function<void(const QString &)> &log)
{
    LoaderOptions lo;
    lo.decode = decodeOptionsFor(c, training);
    if (setup.decodeShare > 0) // under a host budget: what one decode thread may take
        lo.decode.maxDecodedBytes = std::min(lo.decode.maxDecodedBytes, setup.decodeShare);
    lo.batchSize = training ? c.batchSize : setup.memory.evalBatch;
    if (setup.dist) { // this rank's share of each global batch (DistributedSampler's order)
        lo.shardIndex = setup.dist->rank();
        lo.shardCount = setup.dist->worldSize();
        lo.equalShardBatches = training;
        if (training)
            lo.batchSize = c.batchSize / lo.shardCount;
    }
    lo.workers = c.workers;
    lo.queueDepth = setup.memory.queueDepth;
    lo.shuffle = training;
    lo.seed = c.seed;
    lo.pinMemory = setup.device.is_cuda();
    if (c.cache) { // decoded cache; a cache that cannot be opened only costs speed
        const DecodedCacheKey key { lo.decode.inputSize, lo.decode.channels, lo.decode.augment };
        const QString dir = c.cacheDir.isEmpty() ? DecodedCache::defaultDirectory() : c.cacheDir;
        QString cacheError;
        lo.cache = DecodedCache::open(QDir(dir).filePath(DecodedCache::fileNameFor(samples, key)),
            samples, key,
            setup.memory.cacheBudget >= 0 ? setup.memory.cacheBudget
                                          : DecodedCache::defaultBudgetBytes(),
            &cacheError);
        log(lo.cache ? QStringLiteral("decoded cache %1%2")
                           .arg(lo.cache->path(),
                               lo.cache->reused() ? QStringLiteral(" (reused)") : QString())
                     : QStringLiteral("decoded cache off: %1").arg(cacheError));
    }
    return std::make_unique<StreamingLoader>(std::move(samples), lo);
}

struct Samples {
    std::vector<Sample> train, validation, test;
    int invalidFiles = 0;
    QStringList corrected; // "training data: N relabeled, M excluded by leantune-corrections.csv"
    DecodeDemand decode; // what decoding the images takes, for a host budget
};

// Scans the training data (and the validation and test folders), checks that their classes agree,
// and splits off the validation images when there is no validation folder.
std::optional<Samples> loadSamples(const RunConfig &c, QStringList *classes, QString *error)
{
    const std::optional<DatasetIndex> trainIndex = scanForTraining(c.dataDir, c, "training", error);
    if (!trainIndex)
        return std::nullopt;
    *classes = trainIndex->classes;
    Samples s;
    s.invalidFiles = int(trainIndex->invalid.size());
    const auto noteCorrections = [&s](const DatasetIndex &index, const char *role) {
        if (const QString text = index.correctionsSummary(); !text.isEmpty())
            s.corrected << QStringLiteral("%1 data: %2").arg(QLatin1String(role), text);
    };
    noteCorrections(*trainIndex, "training");
    const DecodeOptions evaluated = decodeOptionsFor(c, false);
    s.decode.add(*trainIndex, { decodeOptionsFor(c, true), evaluated });
    // Another folder with the same classes: its images, or std::nullopt.
    const auto other
        = [&](const QString &dir, const char *role) -> std::optional<std::vector<Sample>> {
        const std::optional<DatasetIndex> index = scanForTraining(dir, c, role, error);
        if (!index)
            return std::nullopt;
        if (index->classes != *classes) {
            *error = QStringLiteral(
                "%1 folder %2 has classes (%3) that differ from the training data's (%4)")
                         .arg(QLatin1String(role), dir, index->classes.join(QStringLiteral(", ")),
                             classes->join(QStringLiteral(", ")));
            return std::nullopt;
        }
        s.decode.add(*index, { evaluated });
        noteCorrections(*index, role);
        return samplesOf(*index);
    };
    if (c.valDir.isEmpty()) {
        DataSplit split = splitStratified(*trainIndex, c.valSplit, c.seed);
        s.train = std::move(split.train);
        s.validation = std::move(split.validation);
    } else {
        std::optional<std::vector<Sample>> validation = other(c.valDir, "validation");
        if (!validation)
            return std::nullopt;
        s.train = samplesOf(*trainIndex);
        s.validation = std::move(*validation);
    }
    if (!c.testDir.isEmpty()) {
        std::optional<std::vector<Sample>> test = other(c.testDir, "test");
        if (!test)
            return std::nullopt;
        s.test = std::move(*test);
    }
    if (s.train.empty()) {
        *error = QStringLiteral("no training images left after the validation split");
        return std::nullopt;
    }
    return s;
}

// Under a host budget, decoding must fit beside the run's predicted peak: each decode thread may
// hold the largest image's decoded pixels at once. Decoding may use the planner's margin (the
// budget itself bounds the peak plus decoding); it takes its room from the decoded cache's share,
// and each loader refuses a larger file it meets later (skipped and counted).
bool fitDecoding(
    const RunConfig &c, const DecodeDemand &demand, RunSetup &s, const Log &log, QString *error)
{
    if (c.memoryBudgetBytes <= 0 || s.memory.cacheBudget < 0 || demand.largest.path.isEmpty())
        return true;
    const int threads = std::max(1, c.workers);
    const std::int64_t peak = s.device.is_cuda() // the host's part of the plan
        ? c.memoryBudgetLimitBytes() - s.memory.cacheBudget
        : s.memory.predictedPeak;
    const std::int64_t room = std::max<std::int64_t>(0, c.memoryBudgetBytes - peak);
    const std::int64_t need = threads * demand.largestBytes;
    const ImageEntry &big = demand.largest;
    const QString image = QStringLiteral("%1 (%2x%3 %4, %5-bit, %6 channels)")
                              .arg(big.path)
                              .arg(big.width)
                              .arg(big.height)
                              .arg(imageFormatName(big.format))
                              .arg(big.bitDepth)
                              .arg(big.channels);
    if (need > room) {
        *error = QStringLiteral(
            "the memory budget %1 leaves %2 for decoding images beside the run's predicted peak "
            "of %3, but the largest image, %4, decodes to %5 and %6 decode threads may hold %7 "
            "at once; %8 images decode to more than %9 each: downscale or remove them, lower "
            "--workers, or raise --memory-budget")
                     .arg(formatBytes(c.memoryBudgetBytes), formatBytes(room), formatBytes(peak),
                         image, formatBytes(demand.largestBytes))
                     .arg(threads)
                     .arg(formatBytes(need))
                     .arg(demand.countOver(room / threads))
                     .arg(formatBytes(room / threads));
        return false;
    }
    s.memory.cacheBudget = std::max<std::int64_t>(0, s.memory.cacheBudget - need);
    s.decodeShare = room / threads;
    log(QStringLiteral("decoding: %1 threads of up to %2 each (the largest image, %3, decodes to "
                       "%4)")
            .arg(threads)
            .arg(formatBytes(s.decodeShare), image, formatBytes(demand.largestBytes)));
    return true;
}

// The model (from INIT's weights when given) on its device and layout, its optimizer and the
// pruner.
bool buildModel(
    const RunConfig &c, const InitWeights *init, RunSetup &s, const Log &log, QString *error)
{
    s.model = createModel(c.model, error);
    if (!s.model || (init && !applyInitWeights(*init, c.initWeights, *s.model, log, error)))
        return false;
    s.model->to(s.device);
    s.channelsLast = c.useChannelsLast(s.device.is_cuda());
    if (c.memoryFormat == MemoryFormat::Auto)
        log(QStringLiteral("memory format: %1 (auto for %2 on %3)")
                .arg(
                    s.channelsLast ? QStringLiteral("channels-last") : QStringLiteral("contiguous"),
                    c.model.name, s.deviceName));
    if (s.channelsLast)
        useChannelsLastWeights(*s.model);
    if (s.dist) {
        s.dist->broadcastModel(*s.model); // the same starting weights on every rank
        s.dist->attach(*s.model);
    }
    std::optional<FineTune> fineTune = FineTune::create(c, *s.model, error);
    if (!fineTune)
        return false;
    s.fineTune = std::move(*fineTune);
    if (const QString split = s.fineTune.describe(); !split.isEmpty())
        log(split);
    s.optimizer = s.fineTune.makeOptimizer(c, *s.model); // the classifier's group first
    std::optional<PruningSchedule> schedule = PruningSchedule::parse(c.prune, error);
    if (!schedule)
        return false;
    s.pruner
        = std::make_unique<MagnitudePruner>(*s.model, *schedule, c.pruneGranularity, c.pruneScope);
    return true;
}

// Data parallel: rank 0's checkpoint (PATH, empty when it has none) loaded on every other rank,
// sent through the process group (the other ranks need not see the run folder).
bool resumeFromRankZero(RunSetup &s, const QString &path, QString *error)
{
    QByteArray bytes;
    if (s.dist->isWriter() && !path.isEmpty()) {
        QFile file(path);
        if (file.open(QIODevice::ReadOnly))
            bytes = file.readAll();
    }
    bytes = s.dist->broadcastBytes(bytes);
    if (s.dist->isWriter())
        return true;
    QTemporaryFile copy;
    std::vector<torch::Tensor> masks;
    if (bytes.isEmpty() || !copy.open() || copy.write(bytes) != bytes.size() || !copy.flush()
        || !loadCheckpoint(copy.fileName(), *s.model, *s.optimizer, &masks, &s.state, error)) {
        *error = QStringLiteral("cannot resume: rank 0's checkpoint did not reach rank %1%2")
                     .arg(s.dist->rank())
                     .arg(error->isEmpty() ? QString()
                                           : QStringLiteral(" (") + *error + QLatin1Char(')'));
        return false;
    }
    for (torch::Tensor &m : masks)
        m = m.to(s.device);
    s.pruner->setMasks(masks, s.state.targetSparsity);
    return true;
}

// The starting weights' normalization (ImageNet's for torchvision's), unless the run sets its own
// or it does not fit the run's channels.
void adoptNormalization(RunConfig &c, const WeightInfo &weights, const Log &log)
{
    const auto fits = [&c](const std::vector<double> &v) {
        return v.size() == 1 || int(v.size()) == c.model.channels;
    };
    if (c.normMean != RunConfig().normMean || c.normStd != RunConfig().normStd
        || !fits(weights.normMean) || !fits(weights.normStd) || weights.normMean.empty())
        return;
    c.normMean = weights.normMean;
    c.normStd = weights.normStd;
    log(QStringLiteral("normalization from the starting weights: mean %1, std %2")
            .arg(numberList(c.normMean), numberList(c.normStd)));
}

// Loads the newest valid checkpoint of the run folder into the model, optimizer, pruner and state.
bool resumeFromCheckpoint(RunSetup &s, const Log &log, QString *error)
{
    if (s.dist && !s.dist->isWriter())
        return resumeFromRankZero(s, QString(), error);
    QString lastError = QStringLiteral("no checkpoint in %1").arg(s.run.checkpointDir());
    for (const QString &path : listCheckpoints(s.run.checkpointDir())) {
        std::vector<torch::Tensor> masks;
        if (loadCheckpoint(path, *s.model, *s.optimizer, &masks, &s.state, &lastError)) {
            for (torch::Tensor &m : masks)
                m = m.to(s.device);
            s.pruner->setMasks(masks, s.state.targetSparsity);
            log(QStringLiteral("resuming from %1 (step %2, epoch %3)")
                    .arg(QDir(s.run.runDir).relativeFilePath(path))
                    .arg(s.state.step)
                    .arg(s.state.epoch + 1));
            return !s.dist || resumeFromRankZero(s, path, error);
        }
        log(QStringLiteral("skipping unusable checkpoint: %1").arg(lastError));
    }
    *error = QStringLiteral("cannot resume: %1").arg(lastError);
    QString ignored;
    if (s.dist)
        resumeFromRankZero(s, QString(), &ignored); // tells the other ranks there is none
    return false;
}

// Joins the process group when launched as a rank of a data-parallel run.
bool joinProcessGroup(const RunConfig &c, RunSetup &s, std::atomic_bool *cancel, const Log &log,
    QString *error, const DistEnv *rank)
{
    const std::optional<DistEnv> env = rank ? *rank : DistEnv::fromEnvironment(error);
    if (!env)
        return false;
    if (!env->present)
        return true;
    if (!c.checkWorldSize(env->worldSize, error))
        return false;
    s.dist = DistributedRun::join(*env, c, s.device, cancel, error);
    if (!s.dist)
        return false;
    log(QStringLiteral("data parallel: rank %1 of %2 on %3 over %4 (%5 images per rank and step; "
                       "BatchNorm statistics per replica, rank 0's kept)")
            .arg(env->rank)
            .arg(env->worldSize)
            .arg(s.deviceName, s.dist->backendName())
            .arg(c.batchSize / env->worldSize));
    return true;
}

} // namespace

std::optional<RunSetup> setUpRun(RunConfig &c, bool resume, std::atomic_bool *cancel,
    const Log &log, QString *error, const DistEnv *rank)
{
    RunSetup s;
    s.run.runDir = c.outDir;
    const std::optional<QString> resolved = resolveDevice(c.device, error);
    if (!resolved)
        return std::nullopt;
    s.deviceName = *resolved;
    s.device = torch::Device(s.deviceName.toStdString());
    if (c.precision != Precision::Fp32 && !s.device.is_cuda()) {
        *error = QStringLiteral("--precision %1 needs a CUDA device; this run is on %2")
                     .arg(enumName(c.precision), s.deviceName);
        return std::nullopt;
    }
    torch::set_num_threads(c.effectiveThreads());
    torch::manual_seed(c.seed);
    if (!joinProcessGroup(c, s, cancel, log, error, rank))
        return std::nullopt;
    std::optional<InitWeights> init; // --init: read first, a bad file fails at once
    if (!resume && !c.initWeights.isEmpty() && !(init = readInitWeights(c.initWeights, error)))
        return std::nullopt;
    std::optional<QString> stem; // resnet18's stem from the weights, logged once they load
    if (init) { // normalization and resnet18's stem follow the weights unless set
        adoptNormalization(c, init->info, log);
        if (!(stem = adoptStem(c.model, *init, error)))
            return std::nullopt;
    }
    cv::setNumThreads(1); // decode threads parallelize over files; OpenCV's own pool would compete

    std::optional<Samples> samples = loadSamples(c, &s.classes, error);
    if (!samples)
        return std::nullopt;
    c.model.classes = int(s.classes.size());
    log(QStringLiteral(
        "data: %1 classes, %2 training and %3 validation images, %4 invalid files skipped")
            .arg(s.classes.size())
            .arg(samples->train.size())
            .arg(samples->validation.size())
            .arg(samples->invalidFiles));
    for (const QString &line : samples->corrected)
        log(line);
    const std::optional<RunMemoryPlan> memory
        = planRunMemory(c, std::int64_t(samples->train.size()),
            std::int64_t(std::max(samples->validation.size(), samples->test.size())), s.deviceName,
            cancel, log, error);
    if (!memory)
        return std::nullopt;
    // The run trains with the plan's batch, and config.json keeps it: a resumed run trains with it.
    c.batchSize = memory->batchSize;
    c.batchSizeAuto = false;
    if (cancel && cancel->load()) {
        *error = QStringLiteral("stopped while planning memory");
        return std::nullopt;
    }
    s.memory = *memory;
    if (!fitDecoding(c, samples->decode, s, log, error))
        return std::nullopt;
    s.trainLoader = makeLoader(c, s, std::move(samples->train), true, log);
    s.valLoader = makeLoader(c, s, std::move(samples->validation), false, log);
    if (!samples->test.empty())
        s.testLoader = makeLoader(c, s, std::move(samples->test), false, log);
    if (s.device.is_cuda()) {
        // LEANTUNE_FORCE_DEVICE_LIMIT=SIZE caps the CUDA allocator after planning, so that a batch
        // the plan accepted runs out of memory for real: it exists to show recovery
        // (bench/gpu-check.sh).
        const QString limit = qEnvironmentVariable("LEANTUNE_FORCE_DEVICE_LIMIT");
        if (const std::optional<std::int64_t> bytes = parseByteSize(limit);
            bytes && limitDeviceMemory(s.device.index(), *bytes))
            log(QStringLiteral("LEANTUNE_FORCE_DEVICE_LIMIT: CUDA allocator capped at %1")
                    .arg(formatBytes(*bytes)));
    }
    if (!buildModel(c, init ? &*init : nullptr, s, log, error)
        || !applyLayerTargets(c, resume, s.isWriter(), *s.pruner, log, error))
        return std::nullopt;
    if (stem && !stem->isEmpty())
        log(*stem);

    s.run.config = c;
    s.run.classNames = s.classes;
    if (s.isWriter())
        QDir().mkpath(s.run.checkpointDir());
    if (resume && !resumeFromCheckpoint(s, log, error))
        return std::nullopt;
    if (s.isWriter() && !writeRunInfo(s.run, error))
        return std::nullopt;
    return s;
}

} // namespace leantune
