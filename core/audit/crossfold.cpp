#include "audit/crossfold.h"

#include "audit/heldoutviews_p.h"

#include "dataset/datasetscanner.h"
#include "dataset/streamingloader_p.h"
#include "job/runjob.h"
#include "metrics/memoryprobe.h"
#include "metrics/predictions.h"
#include "model/modelzoo_p.h"
#include "train/rundir.h"
#include "train/rundir_p.h"

#include <QDataStream>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QJsonDocument>
#include <QSaveFile>
#include <QTimer>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace leantune {

namespace {

constexpr char kEmbeddingMagic[] = "LTEMBED1";

QString foldDir(const QString &auditDir, int fold)
{
    return QDir(auditDir).filePath(QStringLiteral("folds/%1").arg(fold));
}

bool fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return false;
}

bool writeJson(const QString &path, const QJsonObject &json, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(json).toJson()) < 0
        || !file.commit())
        return fail(error, QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
    return true;
}

QJsonObject readJson(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}

// A fold's data folders: links to the images, named "INDEX_NAME" inside their class folder, for
// training (the other folds) and validation (the held-out one).
bool linkFoldData(const QString &dir, const std::vector<Sample> &samples,
    const QStringList &classes, const std::vector<int> &folds, int fold, QString *error)
{
    QDir data(QDir(dir).filePath(QStringLiteral("data")));
    if (data.exists() && !data.removeRecursively())
        return fail(error, QStringLiteral("cannot clear %1").arg(data.path()));
    for (const char *part : { "train", "heldout" })
        for (const QString &name : classes)
            if (!QDir().mkpath(data.filePath(QLatin1String(part) + QLatin1Char('/') + name)))
                return fail(error, QStringLiteral("cannot create %1").arg(data.path()));
    for (std::size_t k = 0; k < samples.size(); ++k) {
        const Sample &s = samples[k];
        const QString link = data.filePath(
            QStringLiteral("%1/%2/%3_%4")
                .arg(QLatin1String(folds[k] == fold ? "heldout" : "train"), classes[s.label])
                .arg(k)
                .arg(QFileInfo(s.path).fileName()));
        if (!QFile::link(QFileInfo(s.path).absoluteFilePath(), link))
            return fail(error, QStringLiteral("cannot link %1 to %2").arg(link, s.path));
    }
    return true;
}

// Runs CONFIG with the run engine, blocking on its events. True when it finished; false + *error
// when it failed or was cancelled ("cancelled").
bool trainFold(const RunConfig &config, const RunJob::Options &jobOptions, int fold, int folds,
    int foldsToTrain, const std::function<void(const CrossFoldProgress &)> &progress,
    const std::atomic_bool *cancel, QString *error)
{
    RunJob job(config, jobOptions);
    QElapsedTimer clock;
    clock.start();
    QElapsedTimer lastReport;
    CrossFoldProgress p;
    p.fold = fold;
    p.folds = folds;
    p.stage = QStringLiteral("training");
    p.epochs = config.epochs;
    QObject::connect(&job, &RunJob::sampleReady, &job, [&](const MetricsSample &sample) {
        p.epoch = sample.epoch;
        p.epochProgress = sample.epochProgress;
        p.imagesPerSec = sample.imagesPerSec;
        if (sample.valAccuracy >= 0)
            p.valAccuracy = sample.valAccuracy;
        const double left = job.secondsLeft();
        if (left >= 0) {
            const double foldSeconds = clock.elapsed() / 1000.0 + left;
            p.secondsLeft = left + foldSeconds * (foldsToTrain - 1);
        }
        if (progress && (!lastReport.isValid() || lastReport.elapsed() >= 50)) {
            lastReport.start();
            progress(p);
        }
    });
    QString failure;
    bool stopped = false;
    QObject::connect(&job, &RunJob::failed, &job, [&](const QString &m) { failure = m; });
    QObject::connect(&job, &RunJob::finished, &job,
        [&](const RunSummary &s) { stopped = s.status != QLatin1String("finished"); });
    QTimer cancelPoll;
    QObject::connect(&cancelPoll, &QTimer::timeout, &job, [&] {
        if (cancel && cancel->load() && job.isActive())
            job.stop();
    });
    cancelPoll.start(100);
    QString startError;
    if (!job.start(&startError))
        return fail(error, QStringLiteral("fold %1: %2").arg(fold + 1).arg(startError));
    job.waitForFinished();
    if (!failure.isEmpty())
        return fail(error, QStringLiteral("fold %1: %2").arg(fold + 1).arg(failure));
    if (stopped || (cancel && cancel->load()))
        return fail(error, QStringLiteral("cancelled"));
    return true;
}

struct FoldOutput {
    std::vector<std::int64_t> samples; // indices into the audit's samples
    std::vector<double> probabilities;
    // Emptied once embeddings.bin holds them, so the later folds train without them in memory.
    std::vector<float> embeddings;
    int dim = 0;
};

} // namespace

torch::Tensor zoomView(const torch::Tensor &x, double scale)
{
    const std::int64_t h = x.size(2), w = x.size(3);
    const std::int64_t ch = std::clamp<std::int64_t>(std::llround(double(h) * scale), 1, h);
    const std::int64_t cw = std::clamp<std::int64_t>(std::llround(double(w) * scale), 1, w);
    const std::int64_t top = (h - ch) / 2, left = (w - cw) / 2;
    namespace F = torch::nn::functional;
    return F::interpolate(x.slice(2, top, top + ch).slice(3, left, left + cw),
        F::InterpolateFuncOptions()
            .size(std::vector<std::int64_t> { h, w })
            .mode(torch::kBilinear)
            .align_corners(false));
}

torch::Tensor heldOutProbabilities(
    ClassifierImpl &model, const torch::Tensor &x, bool augmentedViews, torch::Tensor *features)
{
    const auto probabilities = [&model](const torch::Tensor &view, torch::Tensor *f) {
        torch::Tensor viewFeatures = model.features(view).to(torch::kFloat32).flatten(1);
        torch::Tensor p = torch::softmax(model.classify(viewFeatures).to(torch::kFloat32), 1);
        if (f)
            *f = std::move(viewFeatures);
        return p;
    };
    torch::Tensor p = probabilities(x, features);
    if (!augmentedViews)
        return p;
    // A model trained on random crops and mirrors sees these as other views of the same image;
    // the mean of the views is the steadier out-of-sample estimate (bench/README.md, label issues).
    const torch::Tensor zoomed = zoomView(x);
    p = p + probabilities(x.flip({ 3 }), nullptr) + probabilities(zoomed, nullptr)
        + probabilities(zoomed.flip({ 3 }), nullptr);
    return p * 0.25;
}

namespace {

// The fold model's probabilities and embeddings of its held-out SAMPLES (indices into ALL).
std::optional<FoldOutput> predictFold(const QString &runDir, const std::vector<Sample> &all,
    const std::vector<std::int64_t> &heldOut, const RunConfig &config, int classes,
    const std::atomic_bool *cancel, QString *error)
{
    const std::optional<RunInfo> run = readRunInfo(runDir, error);
    if (!run)
        return std::nullopt;
    const std::optional<QString> deviceName = resolveDevice(config.device, error);
    if (!deviceName)
        return std::nullopt;
    std::shared_ptr<ClassifierImpl> model = loadRunModel(*run, error);
    if (!model)
        return std::nullopt;
    const torch::Device device(deviceName->toStdString());
    model->to(device);
    model->eval();
    torch::NoGradGuard noGrad;

    std::vector<Sample> samples;
    samples.reserve(heldOut.size());
    for (std::int64_t k : heldOut)
        samples.push_back(all[std::size_t(k)]);
    LoaderOptions lo;
    lo.decode = decodeOptionsFor(run->config, false);
    lo.batchSize = std::max(64, config.batchSize);
    lo.workers = config.workers;
    lo.shuffle = false;
    lo.pinMemory = device.is_cuda();
    StreamingLoader loader(samples, lo);
    loader.startEpoch(0);
    const bool augmentedViews = run->config.augment;
    FoldOutput out;
    // Sized once: grown by doubling, each copy lands above the batches' freed tensors and the
    // heap keeps the holes below resident.
    out.samples.reserve(heldOut.size());
    out.probabilities.reserve(heldOut.size() * std::size_t(classes));
    HostHeapGuard heapGuard; // the pass's resident free heap stays one batch's, as in training
    while (std::optional<Batch> batch = loader.next()) {
        if (cancel && cancel->load()) {
            loader.stop();
            fail(error, QStringLiteral("cancelled"));
            return std::nullopt;
        }
        const std::int64_t n = batch->images.size(0);
        if (n == 0)
            continue;
        const torch::Tensor x = batch->images.to(device, /*non_blocking=*/true);
        torch::Tensor features;
        const torch::Tensor probs = heldOutProbabilities(*model, x, augmentedViews, &features);
        const torch::Tensor p = probs.to(torch::kFloat64).to(torch::kCPU).contiguous();
        const torch::Tensor f = features.to(torch::kCPU).contiguous();
        if (p.size(1) != classes) {
            fail(error,
                QStringLiteral("the fold model gives %1 classes, the data has %2")
                    .arg(p.size(1))
                    .arg(classes));
            return std::nullopt;
        }
        if (out.embeddings.empty())
            out.embeddings.reserve(heldOut.size() * std::size_t(f.size(1)));
        out.dim = int(f.size(1));
        out.probabilities.insert(
            out.probabilities.end(), p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
        out.embeddings.insert(
            out.embeddings.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
        for (std::int64_t i = 0; i < n; ++i)
            out.samples.push_back(heldOut[std::size_t(batch->samples[std::size_t(i)])]);
        heapGuard.afterStep();
    }
    return out;
}

// Writes a fold's results: embeddings.bin, then predictions.csv (the fold is finished once it is
// there).
bool writeFold(const QString &dir, const FoldOutput &out, const std::vector<Sample> &all,
    const QStringList &classes, QString *error)
{
    const int rows = int(out.samples.size());
    if (!writeEmbeddings(QDir(dir).filePath(QStringLiteral("embeddings.bin")), out.embeddings, rows,
            out.dim, error))
        return false;
    const int m = int(classes.size());
    const int k = predictionsTopK(m);
    QVector<Prediction> predictions;
    predictions.reserve(rows);
    for (int r = 0; r < rows; ++r) {
        const Sample &s = all[std::size_t(out.samples[std::size_t(r)])];
        const double *p = out.probabilities.data() + std::size_t(r) * std::size_t(m);
        Prediction row;
        row.path = QFileInfo(s.path).absoluteFilePath();
        row.label = classes[s.label];
        std::vector<int> order(static_cast<std::size_t>(m));
        for (int j = 0; j < m; ++j)
            order[std::size_t(j)] = j;
        std::stable_sort(order.begin(), order.end(), [p](int a, int b) { return p[a] > p[b]; });
        for (int j = 0; j < k; ++j)
            row.top.push_back({ classes[order[std::size_t(j)]], p[order[std::size_t(j)]] });
        row.predicted = row.top.front().first;
        row.confidence = row.top.front().second;
        row.loss = -std::log(std::max(p[s.label], 1e-30));
        row.probabilities = QVector<double>(p, p + m);
        predictions.push_back(std::move(row));
    }
    return writePredictions(
        QDir(dir).filePath(QStringLiteral("predictions.csv")), predictions, k, classes, error);
}

// A finished fold's results, when they are there and belong to these HELDOUT images (a file that
// failed to decode may be missing) and this run configuration.
std::optional<FoldOutput> readFold(const QString &dir, const QJsonObject &config,
    const std::vector<Sample> &all, const std::vector<std::int64_t> &heldOut,
    const QStringList &classes)
{
    const QJsonObject state = readJson(QDir(dir).filePath(QStringLiteral("fold.json")));
    if (state.value(QStringLiteral("config")).toObject() != config)
        return std::nullopt;
    QString ignored;
    const std::optional<PredictionsFile> file
        = readPredictions(QDir(dir).filePath(QStringLiteral("predictions.csv")), &ignored);
    if (!file || file->probabilityClasses != classes)
        return std::nullopt;
    FoldOutput out; // its embeddings stay in the file until the folds are gathered
    int rows = 0;
    if (!readEmbeddings(QDir(dir).filePath(QStringLiteral("embeddings.bin")), nullptr, &rows,
            &out.dim, &ignored)
        || rows != file->rows.size())
        return std::nullopt;
    QHash<QString, std::int64_t> index;
    for (std::int64_t k : heldOut)
        index.insert(QFileInfo(all[std::size_t(k)].path).absoluteFilePath(), k);
    for (const Prediction &row : file->rows) {
        const auto it = index.constFind(row.path);
        if (it == index.constEnd() || classes[all[std::size_t(*it)].label] != row.label)
            return std::nullopt;
        out.samples.push_back(*it);
        out.probabilities.insert(
            out.probabilities.end(), row.probabilities.begin(), row.probabilities.end());
    }
    if (out.samples.empty())
        return std::nullopt;
    return out;
}

} // namespace

std::vector<int> stratifiedFolds(const std::vector<Sample> &samples, int folds, std::uint64_t seed)
{
    std::vector<int> out(samples.size(), 0);
    int classes = 0;
    for (const Sample &s : samples)
        classes = std::max(classes, s.label + 1);
    std::mt19937_64 rng(seed);
    for (int c = 0; c < classes; ++c) {
        std::vector<std::size_t> members;
        for (std::size_t k = 0; k < samples.size(); ++k)
            if (samples[k].label == c)
                members.push_back(k);
        std::shuffle(members.begin(), members.end(), rng);
        for (std::size_t n = 0; n < members.size(); ++n)
            out[members[n]] = int(n % std::size_t(std::max(folds, 1)));
    }
    return out;
}

bool writeEmbeddings(
    const QString &path, const std::vector<float> &embeddings, int rows, int dim, QString *error)
{
    if (rows < 0 || dim < 0 || embeddings.size() != std::size_t(rows) * std::size_t(dim))
        return fail(error,
            QStringLiteral("%1 embedding values for %2 rows of %3")
                .arg(embeddings.size())
                .arg(rows)
                .arg(dim));
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(error, QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
    QDataStream out(&file);
    out.setByteOrder(QDataStream::LittleEndian);
    out.setFloatingPointPrecision(QDataStream::SinglePrecision);
    out.writeRawData(kEmbeddingMagic, 8);
    out << qint32(rows) << qint32(dim);
    for (float v : embeddings)
        out << v;
    if (out.status() != QDataStream::Ok || !file.commit())
        return fail(error, QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
    return true;
}

bool readEmbeddings(
    const QString &path, std::vector<float> *embeddings, int *rows, int *dim, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(error, QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
    QDataStream in(&file);
    in.setByteOrder(QDataStream::LittleEndian);
    in.setFloatingPointPrecision(QDataStream::SinglePrecision);
    char magic[8] = {};
    qint32 r = 0, d = 0;
    if (in.readRawData(magic, 8) != 8 || std::memcmp(magic, kEmbeddingMagic, 8) != 0)
        return fail(error, QStringLiteral("%1 is not an embeddings file").arg(path));
    in >> r >> d;
    if (in.status() != QDataStream::Ok || r < 0 || d < 0
        || file.size() != 16 + qint64(r) * qint64(d) * 4)
        return fail(error, QStringLiteral("%1 is truncated or has a bad size").arg(path));
    if (embeddings) {
        embeddings->resize(std::size_t(r) * std::size_t(d));
        for (float &v : *embeddings)
            in >> v;
        if (in.status() != QDataStream::Ok)
            return fail(error, QStringLiteral("%1 is truncated").arg(path));
    }
    *rows = r;
    *dim = d;
    return true;
}

int foldEpochs(const CrossFoldOptions &options, std::size_t trainImages)
{
    const RunConfig &run = options.run;
    if (options.minimumSteps <= 0 || run.epochs <= 0 || run.batchSizeAuto || run.batchSize <= 0
        || trainImages == 0)
        return run.epochs;
    const auto stepsPerEpoch
        = std::int64_t((trainImages + std::size_t(run.batchSize) - 1) / std::size_t(run.batchSize));
    const auto wanted = (std::int64_t(options.minimumSteps) + stepsPerEpoch - 1) / stepsPerEpoch;
    const std::int64_t cap = std::int64_t(run.epochs) * std::max(1, options.maxEpochScale);
    return int(std::clamp<std::int64_t>(wanted, run.epochs, cap));
}

std::optional<CrossFoldResult> runCrossFold(const CrossFoldOptions &options,
    const std::function<void(const CrossFoldProgress &)> &progress, const std::atomic_bool *cancel,
    QString *error)
{
    try {
        if (options.folds < 2) {
            fail(error, QStringLiteral("--folds must be at least 2 (got %1)").arg(options.folds));
            return std::nullopt;
        }
        const QString auditDir = QFileInfo(options.auditDir).absoluteFilePath();
        const QString dataDir = QFileInfo(options.run.dataDir).absoluteFilePath();
        if (QString(auditDir + QLatin1Char('/')).startsWith(QString(dataDir + QLatin1Char('/')))) {
            fail(error,
                QStringLiteral("the audit folder %1 is inside the data folder %2: put it elsewhere")
                    .arg(auditDir, dataDir));
            return std::nullopt;
        }
        std::vector<Sample> samples = options.samples;
        QStringList classes = options.classes;
        if (samples.empty()) {
            ScanOptions scan;
            scan.followSymlinks = options.run.followSymlinks;
            QString scanError;
            const std::optional<DatasetIndex> index = scanDataset(dataDir, scan, &scanError);
            if (!index) {
                fail(error, scanError);
                return std::nullopt;
            }
            samples = samplesOf(*index);
            classes = index->classes;
        }
        if (classes.size() < 2) {
            fail(error,
                QStringLiteral("%1 has %2 class folder(s): finding label issues needs at least 2")
                    .arg(dataDir)
                    .arg(classes.size()));
            return std::nullopt;
        }
        // Every fold holds out and trains on every class (a run refuses a class without images).
        std::vector<int> perClass(std::size_t(classes.size()), 0);
        for (const Sample &s : samples)
            ++perClass[std::size_t(s.label)];
        for (int c = 0; c < int(classes.size()); ++c)
            if (perClass[std::size_t(c)] < options.folds) {
                fail(error,
                    QStringLiteral("class '%1' has %2 image(s); %3 folds need at least %3 of each "
                                   "class (lower --folds)")
                        .arg(classes[c])
                        .arg(perClass[std::size_t(c)])
                        .arg(options.folds));
                return std::nullopt;
            }
        const std::vector<int> folds = stratifiedFolds(samples, options.folds, options.run.seed);
        std::vector<int> perFold(std::size_t(options.folds), 0);
        for (int f : folds)
            ++perFold[std::size_t(f)];
        for (int f = 0; f < options.folds; ++f)
            if (perFold[std::size_t(f)] == 0) {
                fail(error,
                    QStringLiteral("%1 images are too few for %2 folds")
                        .arg(samples.size())
                        .arg(options.folds));
                return std::nullopt;
            }

        QElapsedTimer clock;
        clock.start();
        CrossFoldResult result;
        result.classes = classes;
        std::vector<FoldOutput> outputs(std::size_t(options.folds));
        std::vector<bool> done(std::size_t(options.folds), false);
        const auto heldOutOf = [&](int fold) {
            std::vector<std::int64_t> heldOut;
            for (std::size_t k = 0; k < samples.size(); ++k)
                if (folds[k] == fold)
                    heldOut.push_back(std::int64_t(k));
            return heldOut;
        };
        const auto foldConfig = [&](int fold) {
            const QString dir = foldDir(auditDir, fold);
            RunConfig c = options.run;
            c.epochs = foldEpochs(options, samples.size() - heldOutOf(fold).size());
            c.dataDir = QDir(dir).filePath(QStringLiteral("data/train"));
            c.valDir = QDir(dir).filePath(QStringLiteral("data/heldout"));
            c.testDir.clear();
            c.outDir = QDir(dir).filePath(QStringLiteral("run"));
            return c;
        };
        if (options.resume) {
            for (int f = 0; f < options.folds; ++f) {
                std::optional<FoldOutput> out = readFold(
                    foldDir(auditDir, f), foldConfig(f).toJson(), samples, heldOutOf(f), classes);
                if (!out)
                    continue;
                outputs[std::size_t(f)] = std::move(*out);
                done[std::size_t(f)] = true;
                ++result.reusedFolds;
                if (progress) {
                    CrossFoldProgress p;
                    p.fold = f;
                    p.folds = options.folds;
                    p.stage = QStringLiteral("reused");
                    progress(p);
                }
            }
        }
        int toTrain = options.folds - result.reusedFolds;
        for (int f = 0; f < options.folds; ++f) {
            if (done[std::size_t(f)])
                continue;
            const QString dir = foldDir(auditDir, f);
            const RunConfig config = foldConfig(f);
            const QJsonObject configJson = config.toJson();
            const QString runDir = config.outDir;
            const QJsonObject state = readJson(QDir(dir).filePath(QStringLiteral("fold.json")));
            const bool sameRun
                = options.resume && state.value(QStringLiteral("config")).toObject() == configJson;
            const bool trained
                = sameRun && QFileInfo::exists(RunInfo { runDir, {}, {} }.modelFile());
            const bool resumable = sameRun && !trained
                && !QDir(RunInfo { runDir, {}, {} }.checkpointDir())
                        .entryList(QDir::Files | QDir::NoDotAndDotDot)
                        .isEmpty();
            if (!QDir().mkpath(dir)) {
                fail(error, QStringLiteral("cannot create %1").arg(dir));
                return std::nullopt;
            }
            if (!linkFoldData(dir, samples, classes, folds, f, error))
                return std::nullopt;
            if (!trained) {
                if (!writeJson(QDir(dir).filePath(QStringLiteral("fold.json")),
                        QJsonObject { { QStringLiteral("config"), configJson } }, error))
                    return std::nullopt;
                RunJob::Options jobOptions;
                jobOptions.recordHistory = false;
                jobOptions.resume = resumable;
                jobOptions.force = !resumable;
                jobOptions.workerProgram = options.workerProgram;
                if (!trainFold(
                        config, jobOptions, f, options.folds, toTrain, progress, cancel, error))
                    return std::nullopt;
            }
            if (progress) {
                CrossFoldProgress p;
                p.fold = f;
                p.folds = options.folds;
                p.stage = QStringLiteral("predicting");
                p.epochs = config.epochs;
                p.epoch = config.epochs - 1;
                p.epochProgress = 1.0;
                progress(p);
            }
            std::optional<FoldOutput> out = predictFold(
                runDir, samples, heldOutOf(f), config, int(classes.size()), cancel, error);
            if (!out)
                return std::nullopt;
            if (!writeFold(dir, *out, samples, classes, error))
                return std::nullopt;
            out->embeddings = std::vector<float>(); // freed: read back from the file at the end
            outputs[std::size_t(f)] = std::move(*out);
            --toTrain;
            // The pass's and the CSV's freed heap, which the next fold's set-up would start on.
            releaseFreeHostMemory();
        }

        // Every fold's images back in the order of the samples, each fold's rows copied into
        // place and then freed, so that the results are held once, not twice.
        const int m = int(classes.size());
        for (const FoldOutput &out : outputs)
            if (!out.samples.empty()) {
                result.embeddingSize = out.dim;
                break;
            }
        for (const FoldOutput &out : outputs)
            if (!out.samples.empty() && out.dim != result.embeddingSize) {
                fail(error, QStringLiteral("the folds' embeddings differ in size"));
                return std::nullopt;
            }
        std::vector<std::int64_t> row(samples.size(), -1); // each sample's row in the result
        for (const FoldOutput &out : outputs)
            for (const std::int64_t k : out.samples)
                row[std::size_t(k)] = 0;
        std::size_t rows = 0;
        for (std::size_t k = 0; k < samples.size(); ++k) {
            if (row[k] < 0)
                continue; // did not decode
            row[k] = std::int64_t(rows++);
            result.paths.push_back(QFileInfo(samples[k].path).absoluteFilePath());
            result.labels.push_back(samples[k].label);
        }
        const auto dim = std::size_t(result.embeddingSize);
        result.folds.resize(rows);
        result.probabilities.resize(rows * std::size_t(m));
        result.embeddings.resize(rows * dim);
        for (int f = 0; f < options.folds; ++f) {
            FoldOutput &out = outputs[std::size_t(f)];
            int embeddedRows = 0, embeddedDim = 0;
            const QString embeddings
                = QDir(foldDir(auditDir, f)).filePath(QStringLiteral("embeddings.bin"));
            if (!out.samples.empty()
                && !readEmbeddings(embeddings, &out.embeddings, &embeddedRows, &embeddedDim, error))
                return std::nullopt;
            if (std::size_t(embeddedRows) != out.samples.size() || embeddedDim != out.dim) {
                fail(error, QStringLiteral("%1 changed while the audit ran").arg(embeddings));
                return std::nullopt;
            }
            for (std::size_t r = 0; r < out.samples.size(); ++r) {
                const auto at = std::size_t(row[std::size_t(out.samples[r])]);
                result.folds[at] = f;
                std::copy_n(out.probabilities.data() + r * std::size_t(m), m,
                    result.probabilities.data() + at * std::size_t(m));
                std::copy_n(
                    out.embeddings.data() + r * dim, dim, result.embeddings.data() + at * dim);
            }
            out = FoldOutput();
        }
        result.trainSeconds = clock.elapsed() / 1000.0;
        return result;
    } catch (const std::exception &e) {
        fail(error,
            QStringLiteral("cross-training failed: %1")
                .arg(QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0)));
        return std::nullopt;
    }
}

} // namespace leantune
