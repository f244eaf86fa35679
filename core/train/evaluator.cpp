#include "train/evaluator_p.h"

#include "dataset/datasetscanner.h"
#include "train/checkpoint_p.h"
#include "train/exceptiontext_p.h"
#include "train/rundir_p.h"
#include "config/runconfig.h"
#include "train/stepprobe_p.h"
#include "metrics/memoryprobe.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QStringBuilder>
#include <QTextStream>
#include <QThread>

namespace leantune {

bool evaluateForward(const std::function<torch::Tensor(const torch::Tensor &)> &forward,
    StreamingLoader &loader, int classes, const torch::Device &device, EvaluationReport *report,
    const std::atomic_bool *cancel, const std::function<void(std::int64_t images)> &beforeForward,
    PassPredictions *predictions, const PassProgress &progress)
{
    torch::NoGradGuard noGrad;
    report->confusion = QVector<QVector<int>>(classes, QVector<int>(classes, 0));
    report->oomRecoveries = 0; // report->chunk is where the caller starts (0: whole batches)
    const int k = predictionsTopK(classes);
    report->topK = k;
    if (predictions) {
        const bool all = predictions->allProbabilities;
        *predictions = PassPredictions();
        predictions->allProbabilities = all;
        predictions->topK = k;
        predictions->classes = classes;
    }
    double lossSum = 0.0;
    std::int64_t count = 0, correct = 0, inTopK = 0;
    loader.startEpoch(0);
    const std::int64_t total = loader.samplesPerEpoch();
    std::int64_t done = 0; // images decoded or skipped
    if (progress)
        progress(0, total);
    bool completed = true;
    while (std::optional<Batch> batch = loader.next()) {
        if (cancel && cancel->load()) {
            loader.stop();
            completed = false;
            break;
        }
        done += batch->images.size(0) + batch->skipped;
        if (batch->images.size(0) == 0) {
            if (progress)
                progress(done, total);
            continue;
        }
        const torch::Tensor x = batch->images.to(device, /*non_blocking=*/true);
        const torch::Tensor y = batch->labels.to(device);
        const std::int64_t n = x.size(0);
        torch::Tensor logits;
        for (;;) {
            const std::int64_t step
                = report->chunk > 0 ? std::min<std::int64_t>(report->chunk, n) : n;
            try {
                std::vector<torch::Tensor> parts;
                for (std::int64_t off = 0; off < n; off += step) {
                    const std::int64_t len = std::min(step, n - off);
                    if (beforeForward)
                        beforeForward(len);
                    parts.push_back(
                        forward(len == n ? x : x.narrow(0, off, len)).to(torch::kFloat32));
                }
                logits = parts.size() == 1 ? parts.front() : torch::cat(parts);
                break;
            } catch (const c10::Error &e) {
                if (!isOutOfMemoryError(e) || step <= 1)
                    throw;
                emptyDeviceCache();
                report->chunk = int((step + 1) / 2);
                ++report->oomRecoveries;
            }
        }
        // Each image's loss, top-k and (when asked) probabilities, in one copy to the host:
        // [loss, k probabilities, k class indices (exact as floats), all probabilities].
        const torch::Tensor logp = torch::log_softmax(logits, 1);
        const auto top = logp.topk(k, 1);
        std::vector<torch::Tensor> columns { -logp.gather(1, y.unsqueeze(1)),
            std::get<0>(top).exp(), std::get<1>(top).to(torch::kFloat32) };
        const bool all = predictions && predictions->allProbabilities;
        if (all)
            columns.push_back(logp.exp());
        const torch::Tensor host = torch::cat(columns, 1).to(torch::kCPU).contiguous();
        const std::int64_t width = host.size(1);
        const float *h = host.data_ptr<float>();
        const auto t = batch->labels.accessor<std::int64_t, 1>();
        for (std::int64_t i = 0; i < n; ++i) {
            const float *row = h + i * width;
            const std::int64_t truth = t[i];
            const auto predicted = std::int64_t(row[1 + k]);
            lossSum += row[0];
            report->confusion[int(truth)][int(predicted)] += 1;
            correct += predicted == truth;
            for (int j = 0; j < k; ++j)
                inTopK += std::int64_t(row[1 + k + j]) == truth;
            if (!predictions)
                continue;
            predictions->samples.push_back(
                i < std::int64_t(batch->samples.size()) ? batch->samples[std::size_t(i)] : -1);
            predictions->labels.push_back(truth);
            predictions->losses.push_back(row[0]);
            for (int j = 0; j < k; ++j) {
                predictions->topProb.push_back(row[1 + j]);
                predictions->topIndex.push_back(std::int64_t(row[1 + k + j]));
            }
            if (all)
                predictions->probabilities.insert(
                    predictions->probabilities.end(), row + 1 + 2 * k, row + 1 + 2 * k + classes);
        }
        count += n;
        if (progress)
            progress(done, total);
    }
    report->images = int(count);
    report->skipped = int(loader.skippedTotal());
    report->accuracy = count ? double(correct) / double(count) : 0.0;
    report->topKAccuracy = count ? double(inTopK) / double(count) : 0.0;
    report->loss = count ? lossSum / double(count) : 0.0;
    report->perClassAccuracy.clear();
    for (int c = 0; c < classes; ++c) {
        int total = 0;
        for (int v : report->confusion[c])
            total += v;
        report->perClassAccuracy.push_back(total ? double(report->confusion[c][c]) / total : -1.0);
    }
    return completed;
}

bool evaluateModel(ClassifierImpl &model, StreamingLoader &loader, int classes,
    const torch::Device &device, EvaluationReport *report, const std::atomic_bool *cancel,
    const std::function<void(std::int64_t images)> &beforeForward, PassPredictions *predictions,
    const PassProgress &progress)
{
    model.eval();
    const bool completed
        = evaluateForward([&model](const torch::Tensor &x) { return model.forward(x); }, loader,
            classes, device, report, cancel, beforeForward, predictions, progress);
    model.train();
    return completed;
}

QVector<Prediction> predictionRows(const PassPredictions &predictions,
    const std::vector<Sample> &samples, const QStringList &classes)
{
    QVector<Prediction> rows;
    const std::size_t n = predictions.labels.size();
    const auto k = std::size_t(predictions.topK);
    const auto c = std::size_t(predictions.classes);
    rows.reserve(int(n));
    for (std::size_t i = 0; i < n; ++i) {
        Prediction p;
        const std::int64_t sample = predictions.samples[i];
        if (sample >= 0 && std::size_t(sample) < samples.size())
            p.path = QFileInfo(samples[std::size_t(sample)].path).absoluteFilePath();
        p.label = classes.value(int(predictions.labels[i]));
        p.loss = predictions.losses[i];
        for (std::size_t j = 0; j < k; ++j)
            p.top.push_back({ classes.value(int(predictions.topIndex[i * k + j])),
                double(predictions.topProb[i * k + j]) });
        if (!p.top.isEmpty()) {
            p.predicted = p.top.front().first;
            p.confidence = p.top.front().second;
        }
        if (predictions.probabilities.size() >= (i + 1) * c)
            for (std::size_t j = 0; j < c; ++j)
                p.probabilities.push_back(double(predictions.probabilities[i * c + j]));
        rows.push_back(std::move(p));
    }
    return rows;
}

bool writePassPredictions(const QString &path, const PassPredictions &predictions,
    const std::vector<Sample> &samples, const QStringList &classes, QString *error)
{
    return writePredictions(path, predictionRows(predictions, samples, classes), predictions.topK,
        predictions.allProbabilities ? classes : QStringList(), error);
}

QVector<EvaluationReport::ClassFigures> EvaluationReport::classFigures() const
{
    return classFiguresOf(confusion);
}

double EvaluationReport::macroF1() const
{
    return macroF1Of(classFigures());
}

QJsonObject EvaluationReport::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("images")] = images;
    o[QStringLiteral("skipped_files")] = skipped;
    o[QStringLiteral("accuracy")] = accuracy;
    o[QStringLiteral("loss")] = loss;
    // Top-5 accuracy; with fewer than five classes, top-k (top_k: k = the number of classes).
    o[QStringLiteral("top5_accuracy")] = topKAccuracy;
    o[QStringLiteral("top_k")] = topK;
    o[QStringLiteral("macro_f1")] = macroF1();
    const auto orNull = [](double v) { return v < 0 ? QJsonValue() : QJsonValue(v); };
    const QVector<ClassFigures> figures = classFigures();
    QJsonArray perClass, matrix;
    for (int c = 0; c < classes.size(); ++c) {
        QJsonObject e;
        e[QStringLiteral("name")] = classes[c];
        e[QStringLiteral("accuracy")] = orNull(perClassAccuracy.value(c, -1.0));
        const ClassFigures f = figures.value(c);
        e[QStringLiteral("precision")] = orNull(f.precision);
        e[QStringLiteral("recall")] = orNull(f.recall);
        e[QStringLiteral("f1")] = orNull(f.f1);
        e[QStringLiteral("support")] = f.support;
        perClass.append(e);
        QJsonArray row;
        for (int v : confusion.value(c))
            row.append(v);
        matrix.append(row);
    }
    o[QStringLiteral("per_class")] = perClass;
    o[QStringLiteral("confusion")] = matrix;
    return o;
}

QString EvaluationReport::toText() const
{
    QString s;
    QTextStream out(&s);
    out << "images " << images << "  accuracy " << QString::number(accuracy * 100.0, 'f', 2)
        << "%  loss " << QString::number(loss, 'f', 4);
    if (skipped)
        out << "  skipped files " << skipped;
    out << "\ntop-" << topK << " accuracy " << QString::number(topKAccuracy * 100.0, 'f', 2)
        << "%  macro F1 " << QString::number(macroF1(), 'f', 4);
    int width = 5;
    for (const QString &c : classes)
        width = qMax(width, int(c.size()));
    const auto percent = [](double v) {
        return v < 0 ? QStringLiteral("   n/a ")
                     : QString::number(v * 100.0, 'f', 2).rightJustified(6) + QLatin1Char('%');
    };
    out << "\n\nper class:\n  " << QStringLiteral("class").leftJustified(width)
        << "  accuracy  precision  recall      F1  support\n";
    const QVector<ClassFigures> figures = classFigures();
    for (int c = 0; c < classes.size(); ++c) {
        const ClassFigures f = figures.value(c);
        out << "  " << classes[c].leftJustified(width) << "   "
            << percent(perClassAccuracy.value(c, -1.0)) << "    " << percent(f.precision) << " "
            << percent(f.recall) << " "
            << (f.f1 < 0 ? QStringLiteral("   n/a")
                         : QString::number(f.f1, 'f', 4).rightJustified(6))
            << QString::number(f.support).rightJustified(9) << '\n';
    }
    out << "\nconfusion matrix (rows: true class, columns: predicted, in class order):\n";
    for (int c = 0; c < classes.size(); ++c) {
        out << "  " << classes[c].leftJustified(width);
        for (int v : confusion.value(c))
            out << QString::number(v).rightJustified(6);
        out << '\n';
    }
    return s;
}

namespace {

// A run folder's model or a LibTorch export, on the device OPTIONS name.
std::optional<LoadedClassifier> loadTorchClassifier(
    const QString &path, const EvaluateOptions &options, QString *error)
{
    std::optional<RunInfo> run;
    std::shared_ptr<ClassifierImpl> model;
    if (QFileInfo(path).isFile()) {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            if (error)
                *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
            return std::nullopt;
        }
        run.emplace();
        model = loadExportedModel(file.readAll(), path, &*run, error);
        if (!model)
            return std::nullopt;
    } else {
        if (!QFileInfo(path).isDir()) {
            if (error)
                *error = QStringLiteral("%1 does not exist").arg(path);
            return std::nullopt;
        }
        run = readRunInfo(path, error);
        if (!run)
            return std::nullopt;
    }
    const std::optional<QString> deviceName = resolveDevice(options.device, error);
    if (!deviceName)
        return std::nullopt;
    torch::set_num_threads(options.threads > 0 ? options.threads : QThread::idealThreadCount());
    if (!model)
        model = loadRunModel(*run, error);
    if (!model)
        return std::nullopt;
    LoadedClassifier loaded;
    loaded.device = torch::Device(deviceName->toStdString());
    model->to(loaded.device);
    model->eval();
    loaded.classes = run->classNames;
    loaded.decode = decodeOptionsFor(run->config, false);
    loaded.forward = [model](const torch::Tensor &x) { return model->forward(x); };
    loaded.source = path;
    return loaded;
}

} // namespace

std::optional<EvaluationReport> evaluateLoaded(const LoadedClassifier &model,
    const QString &dataDir, const EvaluateOptions &options, QString *error)
{
    QString scanError;
    ScanOptions scan;
    scan.applyCorrections = options.applyCorrections;
    const std::optional<DatasetIndex> index = scanDataset(dataDir, scan, &scanError);
    if (!index) {
        if (error)
            *error = scanError;
        return std::nullopt;
    }
    if (index->classes != model.classes) {
        if (error)
            *error = index->classes.size() != model.classes.size()
                ? QStringLiteral("%1 has %2 classes (%3) but %4 has %5 class folders (%6)")
                      .arg(model.source)
                      .arg(model.classes.size())
                      .arg(model.classes.join(QStringLiteral(", ")), dataDir)
                      .arg(index->classes.size())
                      .arg(index->classes.join(QStringLiteral(", ")))
                : QStringLiteral("the classes of %1 (%2) do not match the run's (%3)")
                      .arg(dataDir, index->classes.join(QStringLiteral(", ")),
                          model.classes.join(QStringLiteral(", ")));
        return std::nullopt;
    }
    LoaderOptions lo;
    lo.decode = model.decode;
    lo.batchSize = options.batchSize;
    lo.workers = options.workers;
    lo.shuffle = false;
    lo.pinMemory = model.device.is_cuda();
    StreamingLoader loader(samplesOf(*index), lo);
    EvaluationReport report;
    report.classes = index->classes;
    PassPredictions predictions;
    predictions.allProbabilities = options.allProbabilities;
    const bool keep = !options.predictionsFile.isEmpty();
    if (!evaluateForward(model.forward, loader, int(index->classes.size()), model.device, &report,
            options.cancel, {}, keep ? &predictions : nullptr, options.progress)) {
        if (error)
            *error = QStringLiteral("evaluation cancelled");
        return std::nullopt;
    }
    report.skipped = int(loader.skippedTotal());
    if (keep
        && !writePassPredictions(
            options.predictionsFile, predictions, loader.samples(), report.classes, error))
        return std::nullopt;
    return report;
}

std::optional<QVector<Prediction>> predictLoaded(const LoadedClassifier &model,
    const QStringList &images, int topK, int batchSize, QString *error)
{
    torch::NoGradGuard noGrad;
    const DecodeOptions &o = model.decode;
    const int k = std::max(1, std::min(topK, int(model.classes.size())));
    const int perBatch = std::max(1, batchSize);
    QVector<Prediction> rows;
    for (int first = 0; first < images.size(); first += perBatch) {
        const int n = std::min(perBatch, int(images.size()) - first);
        torch::Tensor x = torch::empty({ n, o.channels, o.inputSize, o.inputSize });
        const std::int64_t floats = std::int64_t(o.channels) * o.inputSize * o.inputSize;
        for (int i = 0; i < n; ++i) {
            const QString &image = images[first + i];
            std::mt19937_64 rng(0); // drives augmentation only, which evaluation does not use
            QString why;
            if (!QFileInfo(image).isFile()) {
                if (error)
                    *error = QStringLiteral("cannot read %1: no such file").arg(image);
                return std::nullopt;
            }
            if (!decodeFileInto(image, o, rng, x.data_ptr<float>() + i * floats, &why)) {
                if (error)
                    *error = QStringLiteral("cannot decode %1: %2").arg(image, why);
                return std::nullopt;
            }
        }
        const torch::Tensor logits = model.forward(x.to(model.device)).to(torch::kFloat32);
        if (logits.dim() != 2 || logits.size(0) != n || logits.size(1) != model.classes.size()) {
            if (error)
                *error = QStringLiteral("%1 gives outputs of shape %2 for %3 images of %4 classes")
                             .arg(model.source, QString::fromStdString(c10::str(logits.sizes())))
                             .arg(n)
                             .arg(model.classes.size());
            return std::nullopt;
        }
        const auto top = torch::log_softmax(logits, 1).topk(k, 1);
        const torch::Tensor p = std::get<0>(top).exp().to(torch::kCPU).contiguous();
        const torch::Tensor idx = std::get<1>(top).to(torch::kCPU).contiguous();
        const auto pa = p.accessor<float, 2>();
        const auto ia = idx.accessor<std::int64_t, 2>();
        for (int i = 0; i < n; ++i) {
            Prediction row;
            row.path = QFileInfo(images[first + i]).absoluteFilePath();
            for (int j = 0; j < k; ++j)
                row.top.push_back({ model.classes.value(int(ia[i][j])), double(pa[i][j]) });
            row.predicted = row.top.front().first;
            row.confidence = row.top.front().second;
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

std::optional<EvaluationReport> evaluateRun(
    const QString &runDir, const QString &dataDir, const EvaluateOptions &options, QString *error)
{
    try {
        const std::optional<LoadedClassifier> model = loadTorchClassifier(runDir, options, error);
        if (!model)
            return std::nullopt;
        return evaluateLoaded(*model, dataDir, options, error);
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("evaluation failed: %1").arg(firstLine(e.what()));
        return std::nullopt;
    }
}

std::optional<QVector<Prediction>> predictImages(const QString &model, const QStringList &images,
    int topK, const EvaluateOptions &options, QString *error)
{
    try {
        const std::optional<LoadedClassifier> loaded = loadTorchClassifier(model, options, error);
        if (!loaded)
            return std::nullopt;
        return predictLoaded(*loaded, images, topK, options.batchSize, error);
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("prediction failed: %1").arg(firstLine(e.what()));
        return std::nullopt;
    }
}

} // namespace leantune
