#include "model/weightfile_p.h"

#include <caffe2/serialize/inline_container.h>

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstring>
#include <map>

namespace leantune {

namespace {

std::optional<NamedTensors> fail(QString *error, const QString &path, const QString &message)
{
    if (error)
        *error = QStringLiteral("%1: %2").arg(QFileInfo(path).fileName(), message);
    return std::nullopt;
}

std::optional<torch::ScalarType> safetensorsType(const QString &dtype)
{
    static const std::map<QString, torch::ScalarType> types {
        { QStringLiteral("F32"), torch::kFloat },
        { QStringLiteral("F64"), torch::kDouble },
        { QStringLiteral("F16"), torch::kHalf },
        { QStringLiteral("BF16"), torch::kBFloat16 },
        { QStringLiteral("I64"), torch::kLong },
        { QStringLiteral("I32"), torch::kInt },
        { QStringLiteral("I16"), torch::kShort },
        { QStringLiteral("I8"), torch::kChar },
        { QStringLiteral("U8"), torch::kByte },
        { QStringLiteral("BOOL"), torch::kBool },
    };
    const auto it = types.find(dtype);
    return it == types.end() ? std::nullopt : std::optional<torch::ScalarType>(it->second);
}

constexpr std::uint64_t MaxSafetensorsHeader = 100 * 1024 * 1024;

} // namespace

std::optional<NamedTensors> readStateDictFile(const QString &path, QString *error)
{
    if (!QFileInfo(path).isFile())
        return fail(error, path, QStringLiteral("no such file"));
    try {
        caffe2::serialize::PyTorchStreamReader reader(path.toStdString());
        if (!reader.hasRecord("data.pkl"))
            return fail(error, path,
                QStringLiteral("not a torch.save() archive (no data.pkl); save the weights with "
                               "torch.save(model.state_dict(), path)"));
        const auto record = [&reader](const std::string &name) {
            auto [data, size] = reader.getRecord(name);
            return std::string(static_cast<const char *>(data.get()), size);
        };
        const std::string pickle = record("data.pkl");
        QString reason;
        std::optional<NamedTensors> tensors = unpickleStateDict(
            pickle,
            [&](const std::string &key) -> std::optional<std::string> {
                const std::string name = "data/" + key;
                if (!reader.hasRecord(name))
                    return std::nullopt;
                return record(name);
            },
            &reason);
        if (!tensors)
            return fail(error, path, reason);
        return tensors;
    } catch (const c10::Error &e) {
        return fail(error, path,
            QStringLiteral("not a readable PyTorch file (truncated or not a zip archive: %1)")
                .arg(QString::fromUtf8(e.what_without_backtrace())
                         .section(QLatin1Char('\n'), 0, 0)
                         .trimmed()));
    }
}

bool isSafetensorsFile(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return false;
    const QByteArray head = f.read(9);
    return head.size() == 9 && head.at(8) == '{';
}

std::optional<NamedTensors> readSafetensorsFile(const QString &path, QString *error)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return fail(error, path, f.errorString());
    const QByteArray bytes = f.readAll();
    if (bytes.size() < 8)
        return fail(error, path, QStringLiteral("too short for a safetensors file (truncated?)"));
    std::uint64_t headerSize = 0;
    for (int k = 7; k >= 0; --k)
        headerSize = (headerSize << 8) | std::uint8_t(bytes.at(k));
    if (headerSize > MaxSafetensorsHeader || headerSize > std::uint64_t(bytes.size() - 8))
        return fail(
            error, path, QStringLiteral("safetensors header larger than the file (truncated?)"));
    QJsonParseError parseError;
    const QJsonDocument doc
        = QJsonDocument::fromJson(bytes.mid(8, qsizetype(headerSize)), &parseError);
    if (!doc.isObject())
        return fail(error, path,
            QStringLiteral("safetensors header is not a JSON object: %1")
                .arg(parseError.errorString()));
    const std::uint64_t dataStart = 8 + headerSize;
    const std::uint64_t dataSize = std::uint64_t(bytes.size()) - dataStart;
    NamedTensors out;
    const QJsonObject header = doc.object();
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == QLatin1String("__metadata__"))
            continue;
        const QJsonObject entry = it.value().toObject();
        const std::optional<torch::ScalarType> type
            = safetensorsType(entry.value(QLatin1String("dtype")).toString());
        if (!type)
            return fail(error, path,
                QStringLiteral("tensor '%1' has an unsupported dtype '%2'")
                    .arg(it.key(), entry.value(QLatin1String("dtype")).toString()));
        std::vector<std::int64_t> shape;
        std::int64_t numel = 1;
        for (const QJsonValue &d : entry.value(QLatin1String("shape")).toArray()) {
            const double v = d.toDouble(-1);
            if (v < 0 || v > 1e12)
                return fail(
                    error, path, QStringLiteral("tensor '%1' has a bad shape").arg(it.key()));
            shape.push_back(std::int64_t(v));
            numel *= shape.back();
        }
        const QJsonArray offsets = entry.value(QLatin1String("data_offsets")).toArray();
        const double begin = offsets.size() == 2 ? offsets.at(0).toDouble(-1) : -1;
        const double end = offsets.size() == 2 ? offsets.at(1).toDouble(-1) : -1;
        const std::uint64_t expected = std::uint64_t(numel) * c10::elementSize(*type);
        if (begin < 0 || end < begin || std::uint64_t(end) > dataSize
            || std::uint64_t(end - begin) != expected)
            return fail(error, path,
                QStringLiteral("tensor '%1' lies outside the file or has the wrong size "
                               "(truncated?)")
                    .arg(it.key()));
        torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(*type));
        std::memcpy(t.data_ptr(), bytes.constData() + dataStart + std::uint64_t(begin), expected);
        out.emplace_back(it.key().toStdString(), t);
    }
    if (out.empty())
        return fail(error, path, QStringLiteral("the safetensors file holds no tensors"));
    return out;
}

} // namespace leantune
