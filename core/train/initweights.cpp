#include "train/initweights_p.h"

#include "model/torcharchive_p.h"
#include "model/weightfile_p.h"
#include "model/weightloader_p.h"
#include "train/rundir_p.h"

#include "config/runenums.h"

#include <QFile>
#include <QFileInfo>

#include <algorithm>

namespace leantune {

namespace {

// ImageNet's per-channel statistics (RGB), which torchvision's and timm's weights were trained
// with.
const std::vector<double> ImageNetMean { 0.485, 0.456, 0.406 };
const std::vector<double> ImageNetStd { 0.229, 0.224, 0.225 };

std::optional<InitWeights> fromRun(
    const RunInfo &run, const std::shared_ptr<ClassifierImpl> &model, const QString &format)
{
    InitWeights w;
    w.info.format = format;
    w.info.architecture = run.config.model.name;
    w.info.classes = int(run.classNames.size());
    w.info.channels = run.config.model.channels;
    w.info.inputSize = run.config.model.inputSize;
    w.info.normMean = run.config.normMean;
    w.info.normStd = run.config.normStd;
    for (const auto &[name, t] : namedTensorsOf(*model)) {
        w.tensors.emplace_back(name, t.detach().to(torch::kCPU).contiguous().clone());
        w.info.parameters += t.numel();
    }
    w.info.tensors = int(w.tensors.size()); // the log said "0 tensors" for a run or an export
    return w;
}

} // namespace

QString WeightInfo::summary() const
{
    QStringList parts;
    parts << (architecture.isEmpty() ? QStringLiteral("no known architecture") : architecture);
    parts << QStringLiteral("%1 tensors (%2 M values)")
                 .arg(tensors)
                 .arg(double(parameters) / 1e6, 0, 'f', 2);
    if (classes > 0)
        parts << QStringLiteral("%1 classes").arg(classes);
    if (channels > 0)
        parts << QStringLiteral("%1 channel%2")
                     .arg(channels)
                     .arg(channels == 1 ? QString() : QStringLiteral("s"));
    const auto list = [](const std::vector<double> &v) {
        QStringList s;
        for (double x : v)
            s << QString::number(x, 'g', 4);
        return s.join(QLatin1Char(','));
    };
    if (!normMean.empty())
        parts << QStringLiteral("normalization mean %1 std %2").arg(list(normMean), list(normStd));
    return format + QStringLiteral(": ") + parts.join(QStringLiteral(", "));
}

std::optional<InitWeights> readInitWeights(const QString &path, QString *error)
{
    const QFileInfo fi(path);
    if (fi.isDir()) {
        std::optional<RunInfo> run = readRunInfo(path, error);
        if (!run)
            return std::nullopt;
        std::shared_ptr<ClassifierImpl> model = loadRunModel(*run, error);
        if (!model)
            return std::nullopt;
        return fromRun(*run, model, QStringLiteral("LeanTune run"));
    }
    if (!fi.isFile()) {
        if (error)
            *error = QStringLiteral("%1: no such file or run folder").arg(path);
        return std::nullopt;
    }
    std::optional<NamedTensors> tensors;
    InitWeights w;
    if (isSafetensorsFile(path)) {
        w.info.format = QStringLiteral("safetensors");
        tensors = readSafetensorsFile(path, error);
    } else if (isLibTorchArchiveFile(path)) {
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly)) {
            if (error)
                *error = QStringLiteral("%1: %2").arg(path, f.errorString());
            return std::nullopt;
        }
        RunInfo run;
        std::shared_ptr<ClassifierImpl> model = loadExportedModel(f.readAll(), path, &run, error);
        if (!model)
            return std::nullopt;
        return fromRun(run, model, QStringLiteral("LeanTune export"));
    } else {
        w.info.format = QStringLiteral("torchvision state_dict");
        tensors = readStateDictFile(path, error);
    }
    if (!tensors)
        return std::nullopt;
    w.tensors = std::move(*tensors);
    for (const auto &[name, t] : w.tensors) {
        w.info.parameters += t.numel();
        if (t.dim() == 4 && w.info.channels == 0)
            w.info.channels = int(t.size(1));
        if (t.dim() == 2)
            w.info.classes = int(t.size(0)); // the last 2-d tensor: the classifier
    }
    w.info.tensors = int(w.tensors.size());
    // A state_dict or safetensors file carries no normalization. Three input channels: assume
    // ImageNet's, as torchvision's weights use; any other count was not trained on ImageNet's RGB
    // statistics, so the file says nothing about it.
    if (w.info.channels == 3) {
        w.info.normMean = ImageNetMean;
        w.info.normStd = ImageNetStd;
    }
    return w;
}

bool applyInitWeights(const InitWeights &weights, const QString &path, ClassifierImpl &model,
    const std::function<void(const QString &)> &log, QString *error)
{
    QString note, reason;
    if (!loadNamedTensors(model, weights.tensors, &note, &reason)) {
        if (error)
            *error = QStringLiteral("--init %1: %2").arg(path, reason);
        return false;
    }
    log(QStringLiteral("starting weights: %1 (%2)").arg(path, weights.info.summary()));
    if (!note.isEmpty())
        log(note);
    return true;
}

std::optional<WeightInfo> inspectWeights(const QString &path, QString *error)
{
    try {
        std::optional<InitWeights> w = readInitWeights(path, error);
        if (!w)
            return std::nullopt;
        WeightInfo info = w->info;
        info.tensors = int(w->tensors.size());
        info.parameters = 0;
        for (const auto &[name, t] : w->tensors)
            info.parameters += t.numel();
        if (info.architecture.isEmpty() && info.channels > 0) {
            // The zoo model these tensors fit (a throwaway model of each; the first that loads).
            for (const QString &name : modelNames()) {
                ModelSpec spec;
                spec.name = name;
                spec.inputSize = 224;
                spec.channels = info.channels;
                spec.classes = std::max(2, info.classes);
                QString ignored;
                std::shared_ptr<ClassifierImpl> model = createModel(spec, &ignored);
                if (model && loadNamedTensors(*model, w->tensors, &ignored, &ignored)) {
                    info.architecture = name;
                    break;
                }
            }
        }
        return info;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(
                path, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return std::nullopt;
    }
}

std::optional<QString> adoptStem(ModelSpec &spec, const InitWeights &weights, QString *error)
{
    if (spec.name != QLatin1String("resnet18"))
        return QString();
    const auto conv1 = std::find_if(weights.tensors.begin(), weights.tensors.end(),
        [](const auto &named) { return named.first == "conv1.weight"; });
    if (conv1 == weights.tensors.end() || conv1->second.dim() != 4)
        return QString();
    const std::int64_t kernel = conv1->second.size(3);
    if (kernel != 7 && kernel != 3)
        return QString(); // not a stem this zoo builds: the load names the mismatch
    const ResNetStem file = kernel == 7 ? ResNetStem::ImageNet : ResNetStem::Small;
    const QString described = file == ResNetStem::ImageNet
        ? QStringLiteral("ImageNet's 7×7 stride-2 conv with max-pool")
        : QStringLiteral("the small 3×3 stride-1 conv without max-pool");
    if (spec.stem != ResNetStem::Auto && spec.stem != file) {
        if (error)
            *error = QStringLiteral("the starting weights have resnet18's %1 stem (conv1 %2×%2), "
                                    "but --resnet-stem %3 asks for the other one: use "
                                    "--resnet-stem %1 or auto")
                         .arg(enumName(file))
                         .arg(kernel)
                         .arg(enumName(spec.stem));
        return std::nullopt;
    }
    const bool bySize = usesImageNetStem(spec) == (file == ResNetStem::ImageNet);
    spec.stem = file;
    return QStringLiteral("resnet18 stem: %1, as the starting weights have it%2")
        .arg(described,
            bySize ? QString()
                   : QStringLiteral(" (at %1 px the size alone would give the other)")
                         .arg(spec.inputSize));
}

} // namespace leantune
