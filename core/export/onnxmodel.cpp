#include "export/onnxmodel.h"

#include "export/dnnrunner_p.h"
#include "export/onnxdequantizer_p.h"
#include "train/evaluator_p.h"
#include "train/exceptiontext_p.h"
#include "train/rundir_p.h"

#include <opencv2/core/utils/logger.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <map>

namespace leantune {

namespace {

bool readVarint(const QByteArray &b, qsizetype &pos, std::uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && pos < b.size(); shift += 7) {
        const auto byte = std::uint8_t(b[pos++]);
        *v |= std::uint64_t(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

// The length-delimited fields numbered NUMBER at the top level of message B (no copies of others).
// False on bytes that are not a protobuf message.
bool fieldsOf(const QByteArray &b, int number, QList<QByteArray> *out)
{
    qsizetype pos = 0;
    while (pos < b.size()) {
        std::uint64_t key = 0, v = 0;
        if (!readVarint(b, pos, &key))
            return false;
        switch (key & 7) {
        case 0:
            if (!readVarint(b, pos, &v))
                return false;
            break;
        case 1:
            pos += 8;
            break;
        case 5:
            pos += 4;
            break;
        case 2:
            if (!readVarint(b, pos, &v) || v > std::uint64_t(b.size() - pos))
                return false;
            if (int(key >> 3) == number)
                out->push_back(b.mid(pos, qsizetype(v)));
            pos += qsizetype(v);
            break;
        default:
            return false;
        }
        if (pos > b.size())
            return false;
    }
    return true;
}

// ModelProto.metadata_props (field 14: StringStringEntryProto, key 1, value 2).
std::map<QString, QString> onnxMetadata(const QByteArray &onnx)
{
    std::map<QString, QString> m;
    QList<QByteArray> entries;
    if (!fieldsOf(onnx, 14, &entries))
        return m;
    for (const QByteArray &e : entries) {
        QList<QByteArray> key, value;
        if (fieldsOf(e, 1, &key) && fieldsOf(e, 2, &value) && !key.isEmpty())
            m[QString::fromUtf8(key.front())]
                = value.isEmpty() ? QString() : QString::fromUtf8(value.front());
    }
    return m;
}

// The ONNX file loaded for OpenCV DNN (through its float twin when the file has int8 weights),
// with its classes and input from its metadata or the run folder beside it.
std::optional<LoadedClassifier> loadOnnxClassifier(const QString &path, QString *error)
{
    const auto fail = [error](const QString &message) -> std::optional<LoadedClassifier> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
    const QByteArray bytes = file.readAll();

    LoadedClassifier model;
    model.source = path;
    const std::map<QString, QString> meta = onnxMetadata(bytes);
    const auto value = [&meta](const char *key) {
        const auto it = meta.find(QLatin1String(key));
        return it == meta.end() ? QString() : it->second;
    };
    const QJsonArray names = QJsonDocument::fromJson(value("class_names").toUtf8()).array();
    bool sizeOk = false, channelsOk = false;
    const int inputSize = value("input_size").toInt(&sizeOk);
    const int channels = value("input_channels").toInt(&channelsOk);
    if (!names.isEmpty() && sizeOk && channelsOk) {
        for (const QJsonValue &n : names)
            model.classes << n.toString();
        model.decode.inputSize = inputSize;
        model.decode.channels = channels;
    } else {
        const QString dir = QFileInfo(path).absolutePath();
        if (!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("config.json")))) {
            QStringList missing;
            if (names.isEmpty())
                missing << QStringLiteral("class_names");
            if (!sizeOk)
                missing << QStringLiteral("input_size");
            if (!channelsOk)
                missing << QStringLiteral("input_channels");
            return fail(QStringLiteral("%1 carries no %2 metadata and no run folder (config.json) "
                                       "is beside it: export it with 'leantune-cli export', or put "
                                       "it in its run folder")
                            .arg(path, missing.join(QStringLiteral(", "))));
        }
        QString runError;
        const std::optional<RunInfo> run = readRunInfo(dir, &runError);
        if (!run)
            return fail(QStringLiteral("%1 carries no class_names/input_size/input_channels "
                                       "metadata and the run folder beside it cannot be read: %2")
                            .arg(path, runError));
        model.classes = run->classNames;
        model.decode = decodeOptionsFor(run->config, false);
    }
    model.decode.augment = false;
    for (int c = 0; c < 3; ++c) { // the exported graph normalizes its [0, 1] input
        model.decode.mean[c] = 0.f;
        model.decode.std[c] = 1.f;
    }
    if (model.decode.channels != 1 && model.decode.channels != 3)
        return fail(QStringLiteral("%1 says its input has %2 channels; 1 or 3 are supported")
                        .arg(path)
                        .arg(model.decode.channels));
    if (model.decode.inputSize < 1 || model.decode.inputSize > 4096)
        return fail(QStringLiteral("%1 says its input is %2 pixels wide; 1 to 4096 are supported")
                        .arg(path)
                        .arg(model.decode.inputSize));

    // OpenCV logs importer errors to stderr itself; they are reported below.
    QString loadError;
    const auto level = cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    std::optional<DnnRunner> dnn = DnnRunner::load(bytes, &loadError);
    if (!dnn) {
        // OpenCV 4.6 does not take DequantizeLinear as float weights: run the dequantized twin.
        QString twinError;
        const std::optional<QByteArray> twin = OnnxDequantizer::floatTwin(bytes, &twinError);
        if (twin)
            dnn = DnnRunner::load(*twin, &twinError);
    }
    cv::utils::logging::setLogLevel(level);
    if (!dnn)
        return fail(QStringLiteral("%1: %2").arg(path, loadError.simplified()));
    auto runner = std::make_shared<DnnRunner>(std::move(*dnn));
    model.forward = [runner](const torch::Tensor &x) { return runner->run(x); };
    return model;
}

} // namespace

bool isOnnxModelFile(const QString &path)
{
    return path.endsWith(QLatin1String(".onnx"), Qt::CaseInsensitive);
}

std::optional<EvaluationReport> evaluateOnnx(
    const QString &file, const QString &dataDir, const EvaluateOptions &options, QString *error)
{
    try {
        const std::optional<LoadedClassifier> model = loadOnnxClassifier(file, error);
        if (!model)
            return std::nullopt;
        return evaluateLoaded(*model, dataDir, options, error);
    } catch (const cv::Exception &e) {
        if (error)
            *error = QStringLiteral("OpenCV DNN failed on %1: %2")
                         .arg(file, QString::fromStdString(e.msg).simplified());
        return std::nullopt;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("evaluation failed: %1").arg(firstLine(e.what()));
        return std::nullopt;
    }
}

std::optional<QVector<Prediction>> predictOnnx(const QString &file, const QStringList &images,
    int topK, const EvaluateOptions &options, QString *error)
{
    try {
        const std::optional<LoadedClassifier> model = loadOnnxClassifier(file, error);
        if (!model)
            return std::nullopt;
        return predictLoaded(*model, images, topK, options.batchSize, error);
    } catch (const cv::Exception &e) {
        if (error)
            *error = QStringLiteral("OpenCV DNN failed on %1: %2")
                         .arg(file, QString::fromStdString(e.msg).simplified());
        return std::nullopt;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("prediction failed: %1").arg(firstLine(e.what()));
        return std::nullopt;
    }
}

} // namespace leantune
