#include "train/sensitivityscanner.h"

#include "dataset/datasetscanner.h"
#include "dataset/datasplit.h"
#include "prune/magnitudepruner_p.h"
#include "train/exceptiontext_p.h"
#include "train/rundir_p.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QThread>

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

namespace leantune {

namespace {

bool fail(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

// The images a scan measures on: the run's validation images, PER_CLASS... (see the header).
std::optional<std::vector<Sample>> scanImages(
    const RunInfo &run, const QString &dataDir, int images, QString *error)
{
    QString why;
    const std::optional<DatasetIndex> index = scanDataset(dataDir, {}, &why);
    if (!index) {
        fail(error, why);
        return std::nullopt;
    }
    if (index->classes != run.classNames) {
        fail(error,
            QStringLiteral("the classes of %1 (%2) do not match the run's (%3)")
                .arg(dataDir, index->classes.join(QStringLiteral(", ")),
                    run.classNames.join(QStringLiteral(", "))));
        return std::nullopt;
    }
    const RunConfig &c = run.config;
    const bool trainingFolder = c.valDir.isEmpty()
        && QFileInfo(dataDir).canonicalFilePath() == QFileInfo(c.dataDir).canonicalFilePath();
    std::vector<Sample> pool = trainingFolder
        ? splitStratified(*index, c.valSplit, c.seed).validation
        : samplesOf(*index);
    // An equal share of each class (the first classes take the remainder), by a fixed shuffle.
    const int classes = int(run.classNames.size());
    std::vector<std::vector<Sample>> byClass(static_cast<std::size_t>(classes));
    for (Sample &s : pool)
        if (s.label >= 0 && s.label < classes)
            byClass[std::size_t(s.label)].push_back(std::move(s));
    std::mt19937_64 rng(20261207);
    std::vector<Sample> chosen;
    for (int k = 0; k < classes; ++k) {
        std::vector<Sample> &list = byClass[std::size_t(k)];
        std::shuffle(list.begin(), list.end(), rng);
        const int quota = images / classes + (k < images % classes ? 1 : 0);
        for (int i = 0; i < std::min(quota, int(list.size())); ++i)
            chosen.push_back(list[std::size_t(i)]);
    }
    if (chosen.empty()) {
        fail(error, QStringLiteral("%1 has no images to measure on").arg(dataDir));
        return std::nullopt;
    }
    return chosen;
}

struct Measured {
    double accuracy = 0.0, loss = 0.0;
};

Measured measure(ClassifierImpl &model, const torch::Tensor &x, const torch::Tensor &y, int batch)
{
    std::int64_t correct = 0;
    double loss = 0.0;
    const std::int64_t n = x.size(0);
    for (std::int64_t off = 0; off < n; off += batch) {
        const std::int64_t len = std::min<std::int64_t>(batch, n - off);
        const torch::Tensor logits = model.forward(x.narrow(0, off, len)).to(torch::kFloat32);
        const torch::Tensor labels = y.narrow(0, off, len);
        loss += torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
        correct += logits.argmax(1).eq(labels).sum().item<std::int64_t>();
    }
    return { double(correct) / double(n), loss / double(n) };
}

// One model copy with its pruner and the dense weights to restore.
struct Copy {
    std::shared_ptr<ClassifierImpl> model;
    std::unique_ptr<MagnitudePruner> pruner;
    std::vector<torch::Tensor> dense;

    void restore()
    {
        torch::NoGradGuard noGrad;
        const auto params = model->parameters();
        for (std::size_t i = 0; i < params.size(); ++i)
            params[i].copy_(dense[i]);
    }
};

std::optional<SensitivityScan> scan(const QString &runDir, const QString &dataDir,
    const SensitivityOptions &o, const std::function<void(int, int)> &progress,
    const std::atomic_bool *cancel, QString *error)
{
    QElapsedTimer clock;
    clock.start();
    if (o.sparsities.isEmpty() || o.images < 1 || o.batchSize < 1) {
        fail(error, QStringLiteral("a scan needs sparsities, images and a batch size"));
        return std::nullopt;
    }
    for (double s : o.sparsities)
        if (!(s > 0.0 && s < 1.0)) {
            fail(error, QStringLiteral("sparsity %1 is not in (0, 1)").arg(s));
            return std::nullopt;
        }
    if (!QFileInfo(runDir).isDir()) {
        fail(error, QStringLiteral("%1 is not a run folder").arg(runDir));
        return std::nullopt;
    }
    const std::optional<RunInfo> run = readRunInfo(runDir, error);
    if (!run)
        return std::nullopt;
    const std::optional<std::vector<Sample>> samples = scanImages(*run, dataDir, o.images, error);
    if (!samples)
        return std::nullopt;

    const int cores = o.threads > 0 ? o.threads : QThread::idealThreadCount();
    const int copies = o.modelCopies ? std::max(1, cores) : 1;
    torch::set_num_threads(o.modelCopies ? 1 : cores);
    torch::NoGradGuard noGrad;

    // Decode once, in parallel over the files.
    const DecodeOptions decode = decodeOptionsFor(run->config, false);
    const auto n = std::int64_t(samples->size());
    torch::Tensor x = torch::empty({ n, decode.channels, decode.inputSize, decode.inputSize });
    torch::Tensor y = torch::empty({ n }, torch::kLong);
    const std::int64_t floats = std::int64_t(decode.channels) * decode.inputSize * decode.inputSize;
    std::atomic<std::int64_t> failed { -1 };
    {
        std::vector<std::thread> decoders;
        for (int t = 0; t < cores; ++t)
            decoders.emplace_back([&, t] {
                std::mt19937_64 rng(0); // augmentation only, which evaluation does not use
                for (std::int64_t i = t; i < n; i += cores) {
                    QString why;
                    if (!decodeFileInto((*samples)[std::size_t(i)].path, decode, rng,
                            x.data_ptr<float>() + i * floats, &why))
                        failed.store(i);
                    y.data_ptr<std::int64_t>()[i] = (*samples)[std::size_t(i)].label;
                }
            });
        for (std::thread &d : decoders)
            d.join();
    }
    if (failed.load() >= 0) {
        fail(error, QStringLiteral("cannot decode %1").arg((*samples)[std::size_t(failed)].path));
        return std::nullopt;
    }

    std::vector<Copy> pool;
    for (int i = 0; i < copies; ++i) {
        Copy c;
        c.model = loadRunModel(*run, error);
        if (!c.model)
            return std::nullopt;
        c.model->eval();
        c.pruner = std::make_unique<MagnitudePruner>(
            *c.model, PruningSchedule(), o.granularity, PruneScope::Sensitivity);
        for (const torch::Tensor &p : c.model->parameters())
            c.dense.push_back(p.detach().clone());
        pool.push_back(std::move(c));
    }

    SensitivityScan result;
    const RunConfig &c = run->config;
    result.model = c.model.name;
    result.inputSize = c.model.inputSize;
    result.channels = c.model.channels;
    result.classes = int(run->classNames.size());
    result.granularity = o.granularity;
    result.runDir = QFileInfo(runDir).absoluteFilePath();
    result.images = int(n);
    result.threads = copies;
    const MagnitudePruner &first = *pool.front().pruner;
    const std::vector<std::string> names = first.prunableNames();
    const auto shapes = first.shapes();
    std::vector<std::size_t> prunable;
    for (std::size_t i = 0; i < names.size(); ++i) {
        result.tensorNames << QString::fromStdString(names[i]);
        result.tensorShapes << QVector<std::int64_t>(shapes[i].begin(), shapes[i].end());
        if (first.isPrunable(i)) {
            prunable.push_back(i);
            SensitivityLayer l;
            l.name = result.tensorNames.back();
            l.shape = result.tensorShapes.back();
            l.parameters = 1;
            for (std::int64_t d : shapes[i])
                l.parameters *= d;
            l.points.resize(o.sparsities.size());
            result.layers.push_back(l);
        }
    }
    if (prunable.empty()) {
        fail(error,
            QStringLiteral("the model has no layer to prune at %1 granularity")
                .arg(enumName(o.granularity)));
        return std::nullopt;
    }
    const Measured base = measure(*pool.front().model, x, y, o.batchSize);
    result.baseAccuracy = base.accuracy;
    result.baseLoss = base.loss;

    // The points, handed out to the copies one at a time.
    const int total = int(prunable.size()) * int(o.sparsities.size());
    std::vector<Measured> measured(static_cast<std::size_t>(total));
    std::atomic_int next { 0 }, done { 0 };
    std::mutex reportMutex; // serializes PROGRESS; guards firstError
    QString firstError;
    const auto work = [&](Copy &copy) {
        torch::NoGradGuard guard; // grad mode is thread-local
        if (o.modelCopies)
            torch::set_num_threads(1);
        try {
            for (int job = next++; job < total; job = next++) {
                if (cancel && cancel->load())
                    return;
                const int layer = job / int(o.sparsities.size());
                const int point = job % int(o.sparsities.size());
                std::vector<double> scales(names.size(), 0.0);
                scales[prunable[std::size_t(layer)]] = 1.0;
                copy.pruner->setLayerScales(scales);
                copy.pruner->updateMasks(o.sparsities[point]);
                copy.pruner->applyMasks();
                const Measured m = measure(*copy.model, x, y, o.batchSize);
                copy.restore();
                measured[std::size_t(job)] = m; // each slot written by one thread only
                const int finished = ++done;
                std::lock_guard<std::mutex> lock(reportMutex);
                if (progress)
                    progress(finished, total);
            }
        } catch (const std::exception &e) {
            std::lock_guard<std::mutex> lock(reportMutex);
            if (firstError.isEmpty())
                firstError = firstLine(e.what());
            next.store(total);
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < pool.size(); ++i)
        threads.emplace_back(work, std::ref(pool[i]));
    work(pool.front());
    for (std::thread &t : threads)
        t.join();
    if (!firstError.isEmpty()) {
        fail(error, QStringLiteral("sensitivity scan failed: %1").arg(firstError));
        return std::nullopt;
    }
    if (cancel && cancel->load()) {
        fail(error, QStringLiteral("sensitivity scan stopped"));
        return std::nullopt;
    }
    for (int job = 0; job < total; ++job) {
        const int point = job % int(o.sparsities.size());
        const Measured &m = measured[std::size_t(job)];
        result.layers[job / int(o.sparsities.size())].points[point]
            = { o.sparsities[point], m.accuracy, m.loss };
    }
    result.seconds = double(clock.elapsed()) / 1000.0;
    return result;
}

} // namespace

bool scanFitsRun(
    const SensitivityScan &scan, const QString &runDir, const QString &source, QString *error)
{
    try {
        const std::optional<RunInfo> run = readRunInfo(runDir, error);
        if (!run)
            return false;
        ModelSpec spec = run->config.model;
        spec.classes = int(run->classNames.size());
        const std::shared_ptr<ClassifierImpl> model = createModel(spec, error);
        if (!model)
            return false;
        const MagnitudePruner pruner(*model, PruningSchedule(), scan.granularity);
        QStringList names;
        QVector<QVector<std::int64_t>> shapes;
        for (const std::string &n : pruner.prunableNames())
            names << QString::fromStdString(n);
        for (const std::vector<std::int64_t> &s : pruner.shapes())
            shapes << QVector<std::int64_t>(s.begin(), s.end());
        return scan.matchesTensors(names, shapes, source, error);
    } catch (const std::exception &e) {
        fail(error,
            QStringLiteral("cannot build the model of %1: %2").arg(runDir, firstLine(e.what())));
        return false;
    }
}

std::optional<SensitivityScan> scanSensitivity(const QString &runDir, const QString &dataDir,
    const SensitivityOptions &options, const std::function<void(int done, int total)> &progress,
    const std::atomic_bool *cancel, QString *error)
{
    try {
        return scan(runDir, dataDir, options, progress, cancel, error);
    } catch (const std::exception &e) {
        fail(error, QStringLiteral("sensitivity scan failed: %1").arg(firstLine(e.what())));
        return std::nullopt;
    }
}

} // namespace leantune
