#include "train/evaluator_p.h"

#include "dataset/datasetscanner.h"
#include "train/checkpoint_p.h"
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

bool evaluateModel(ClassifierImpl &model, StreamingLoader &loader, int classes,
    const torch::Device &device, EvaluationReport *report, const std::atomic_bool *cancel,
    const std::function<void(std::int64_t images)> &beforeForward)
{
    torch::NoGradGuard noGrad;
    model.eval();
    report->confusion = QVector<QVector<int>>(classes, QVector<int>(classes, 0));
    report->oomRecoveries = 0; // report->chunk is where the caller starts (0: whole batches)
    double lossSum = 0.0;
    std::int64_t count = 0, correct = 0;
    loader.startEpoch(0);
    bool completed = true;
    while (std::optional<Batch> batch = loader.next()) {
        if (cancel && cancel->load()) {
            loader.stop();
            completed = false;
            break;
        }
        if (batch->images.size(0) == 0)
            continue;
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
                        model.forward(len == n ? x : x.narrow(0, off, len)).to(torch::kFloat32));
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
        lossSum += torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .item<double>();
        const torch::Tensor pred = logits.argmax(1).to(torch::kCPU);
        const torch::Tensor truth = batch->labels;
        const auto p = pred.accessor<std::int64_t, 1>();
        const auto t = truth.accessor<std::int64_t, 1>();
        for (std::int64_t i = 0; i < p.size(0); ++i) {
            report->confusion[int(t[i])][int(p[i])] += 1;
            correct += p[i] == t[i];
        }
        count += p.size(0);
    }
    model.train();
    report->images = int(count);
    report->skipped = int(loader.skippedTotal());
    report->accuracy = count ? double(correct) / double(count) : 0.0;
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

QJsonObject EvaluationReport::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("images")] = images;
    o[QStringLiteral("skipped_files")] = skipped;
    o[QStringLiteral("accuracy")] = accuracy;
    o[QStringLiteral("loss")] = loss;
    QJsonArray perClass, matrix;
    for (int c = 0; c < classes.size(); ++c) {
        QJsonObject e;
        e[QStringLiteral("name")] = classes[c];
        e[QStringLiteral("accuracy")]
            = perClassAccuracy.value(c) < 0 ? QJsonValue() : QJsonValue(perClassAccuracy.value(c));
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
    out << "\n\nper-class accuracy:\n";
    int width = 5;
    for (const QString &c : classes)
        width = qMax(width, int(c.size()));
    for (int c = 0; c < classes.size(); ++c) {
        const double a = perClassAccuracy.value(c);
        out << "  " << classes[c].leftJustified(width) << "  "
            << (a < 0 ? QStringLiteral("   n/a")
                      : QString::number(a * 100.0, 'f', 2).rightJustified(6) + QLatin1Char('%'))
            << '\n';
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

std::optional<EvaluationReport> evaluateRun(
    const QString &runDir, const QString &dataDir, const EvaluateOptions &options, QString *error)
{
    try {
        // A run folder, or a LibTorch archive exported from one (it carries the run's description).
        std::optional<RunInfo> run;
        std::shared_ptr<ClassifierImpl> model;
        if (QFileInfo(runDir).isFile()) {
            QFile file(runDir);
            if (!file.open(QIODevice::ReadOnly)) {
                if (error)
                    *error = QStringLiteral("cannot read %1: %2").arg(runDir, file.errorString());
                return std::nullopt;
            }
            run.emplace();
            model = loadExportedModel(file.readAll(), runDir, &*run, error);
            if (!model)
                return std::nullopt;
        } else {
            run = readRunInfo(runDir, error);
            if (!run)
                return std::nullopt;
        }
        QString scanError;
        const std::optional<DatasetIndex> index = scanDataset(dataDir, {}, &scanError);
        if (!index) {
            if (error)
                *error = scanError;
            return std::nullopt;
        }
        if (index->classes != run->classNames) {
            if (error)
                *error = QStringLiteral("the classes of %1 (%2) do not match the run's (%3)")
                             .arg(dataDir, index->classes.join(QStringLiteral(", ")),
                                 run->classNames.join(QStringLiteral(", ")));
            return std::nullopt;
        }
        const std::optional<QString> deviceName = resolveDevice(options.device, error);
        if (!deviceName)
            return std::nullopt;
        const int threads = options.threads > 0 ? options.threads : QThread::idealThreadCount();
        torch::set_num_threads(threads);
        const torch::Device device(deviceName->toStdString());

        if (!model)
            model = loadRunModel(*run, error);
        if (!model)
            return std::nullopt;
        model->to(device);

        LoaderOptions lo;
        lo.decode = decodeOptionsFor(run->config, false);
        lo.batchSize = options.batchSize;
        lo.workers = options.workers;
        lo.shuffle = false;
        lo.pinMemory = device.is_cuda();
        StreamingLoader loader(samplesOf(*index), lo);
        EvaluationReport report;
        report.classes = index->classes;
        evaluateModel(*model, loader, int(index->classes.size()), device, &report);
        report.skipped = int(loader.skippedTotal());
        return report;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("evaluation failed: %1")
                         .arg(QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return std::nullopt;
    }
}

} // namespace leantune
