#include "model/weightfile_p.h"

#include "model/ziprecords_p.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>

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

// Bounds of a safetensors header. Parsed, a header of nested empty arrays takes ~50 times its size
// (16 MiB: 770 MB), so its depth and container count are checked on the raw text first; the format
// needs 3 levels ({name: {shape: [...]}}) and 3 containers per tensor.
constexpr std::uint64_t MaxSafetensorsHeader = std::uint64_t(16) << 20;
constexpr int MaxSafetensorsDepth = 3;
constexpr qsizetype MaxSafetensorsTensors = 65536;
constexpr qsizetype MaxSafetensorsDims = 8;
constexpr std::uint64_t MaxSafetensorsSpan = std::uint64_t(1) << 40;

// One tensor of a safetensors header, checked: its bytes are [begin, end) of the data section.
struct SafetensorsEntry {
    QString name;
    torch::ScalarType type = torch::kFloat;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

bool refuse(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

// V as JSON text, quoted at most 80 characters long.
QString jsonText(const QJsonValue &v)
{
    const QByteArray json = QJsonDocument(QJsonArray { v }).toJson(QJsonDocument::Compact);
    return textFromFile(QString::fromUtf8(json.mid(1, json.size() - 2)));
}

// Whether V is a non-negative integer (a whole JSON number that fits in 64 bits), then *N = V.
bool jsonCount(const QJsonValue &v, std::uint64_t *n)
{
    if (!v.isDouble() || v.toVariant().userType() != QMetaType::LongLong || v.toInteger() < 0)
        return false;
    *n = std::uint64_t(v.toInteger());
    return true;
}

// Why JSON is too deep or holds too many containers for a safetensors header; empty when it fits.
QString headerTooComplex(const QByteArray &json)
{
    int depth = 0;
    qsizetype containers = 0;
    bool inString = false, escaped = false;
    for (const char c : json) {
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            if (++depth > MaxSafetensorsDepth)
                return QStringLiteral(
                    "safetensors header nested deeper than the format's %1 levels")
                    .arg(MaxSafetensorsDepth);
            if (++containers > 3 * MaxSafetensorsTensors + 2)
                return QStringLiteral("safetensors header names more than %1 tensors")
                    .arg(MaxSafetensorsTensors);
        } else if ((c == '}' || c == ']') && --depth < 0) {
            return QStringLiteral("safetensors header is not JSON: a bracket closes nothing");
        }
    }
    return {};
}

// The size of the JSON header from a safetensors file's first 8 bytes HEAD, checked against the
// file's SIZE and MaxSafetensorsHeader.
std::optional<std::uint64_t> safetensorsHeaderSize(
    const QByteArray &head, std::uint64_t size, QString *error)
{
    if (head.size() < 8 || size < 8) {
        refuse(error, QStringLiteral("too short for a safetensors file (truncated?)"));
        return std::nullopt;
    }
    std::uint64_t headerSize = 0;
    for (int k = 7; k >= 0; --k)
        headerSize = (headerSize << 8) | std::uint8_t(head.at(k));
    if (headerSize > size - 8) {
        refuse(error, QStringLiteral("safetensors header larger than the file (truncated?)"));
        return std::nullopt;
    }
    if (headerSize > MaxSafetensorsHeader) {
        refuse(error,
            QStringLiteral("safetensors header of %1 bytes is over the limit of %2 MiB")
                .arg(headerSize)
                .arg(MaxSafetensorsHeader >> 20));
        return std::nullopt;
    }
    return headerSize;
}

// The tensors JSON describes, checked against a data section of DATASIZE bytes (see
// readSafetensorsFile()).
std::optional<std::vector<SafetensorsEntry>> parseSafetensorsHeader(
    const QByteArray &json, std::uint64_t dataSize, QString *error)
{
    if (const QString why = headerTooComplex(json); !why.isEmpty()) {
        refuse(error, why);
        return std::nullopt;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (!doc.isObject()) {
        refuse(error,
            parseError.error == QJsonParseError::NoError
                ? QStringLiteral("safetensors header is not a JSON object")
                : QStringLiteral("safetensors header is not JSON: %1 at byte %2")
                      .arg(parseError.errorString())
                      .arg(parseError.offset));
        return std::nullopt;
    }
    const QJsonObject header = doc.object();
    std::vector<SafetensorsEntry> entries;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == QLatin1String("__metadata__"))
            continue;
        SafetensorsEntry e;
        e.name = it.key();
        const auto bad = [&](const QString &what) {
            refuse(error, QStringLiteral("tensor '%1' %2").arg(textFromFile(e.name), what));
            return std::nullopt;
        };
        if (!it.value().isObject())
            return bad(QStringLiteral("is not a {dtype, shape, data_offsets} object"));
        const QJsonObject entry = it.value().toObject();
        const QJsonValue dtype = entry.value(QLatin1String("dtype"));
        const std::optional<torch::ScalarType> type = safetensorsType(dtype.toString());
        if (!type)
            return bad(QStringLiteral("has an unsupported dtype %1").arg(jsonText(dtype)));
        e.type = *type;
        const QJsonValue shape = entry.value(QLatin1String("shape"));
        const QString badShape = QStringLiteral("has a bad shape %1 (at most %2 non-negative "
                                                "integers, their product below 2^40)")
                                     .arg(jsonText(shape))
                                     .arg(MaxSafetensorsDims);
        if (!shape.isArray() || shape.toArray().size() > MaxSafetensorsDims)
            return bad(badShape);
        // SPAN counts a 0 as 1, so [2^39, 2^39, 0] is refused too: torch's strides multiply the
        // sizes that way and would overflow.
        std::uint64_t numel = 1, span = 1;
        const QJsonArray dims = shape.toArray();
        for (const auto &d : dims) {
            std::uint64_t n = 0;
            if (!jsonCount(d, &n)
                || __builtin_mul_overflow(span, std::max<std::uint64_t>(n, 1), &span)
                || span >= MaxSafetensorsSpan)
                return bad(badShape);
            numel *= n;
            e.shape.push_back(std::int64_t(n));
        }
        std::uint64_t bytes = 0;
        const QJsonValue offsets = entry.value(QLatin1String("data_offsets"));
        const QJsonArray pair = offsets.toArray();
        if (pair.size() != 2 || !jsonCount(pair.at(0), &e.begin) || !jsonCount(pair.at(1), &e.end)
            || e.end < e.begin)
            return bad(QStringLiteral("has bad data_offsets %1 (two integers, begin <= end)")
                           .arg(jsonText(offsets)));
        if (e.end > dataSize)
            return bad(QStringLiteral("has data_offsets %1 outside the file's %2 bytes of data "
                                      "(truncated?)")
                           .arg(jsonText(offsets))
                           .arg(dataSize));
        if (__builtin_mul_overflow(numel, std::uint64_t(c10::elementSize(e.type)), &bytes)
            || e.end - e.begin != bytes)
            return bad(QStringLiteral("has data_offsets %1 spanning %2 bytes, but %3 of shape "
                                      "%4 takes %5")
                           .arg(jsonText(offsets))
                           .arg(e.end - e.begin)
                           .arg(jsonText(dtype), jsonText(shape))
                           .arg(bytes));
        entries.push_back(std::move(e));
    }
    if (entries.empty()) {
        refuse(error, QStringLiteral("the safetensors file holds no tensors"));
        return std::nullopt;
    }
    // No byte belongs to two tensors: sorted by offset, each non-empty range starts at or after
    // the furthest end before it.
    std::vector<const SafetensorsEntry *> byOffset;
    for (const SafetensorsEntry &e : entries)
        if (e.end > e.begin)
            byOffset.push_back(&e);
    std::sort(byOffset.begin(), byOffset.end(), [](const auto *a, const auto *b) {
        return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
    });
    const SafetensorsEntry *furthest = nullptr;
    for (const SafetensorsEntry *e : byOffset) {
        if (furthest && e->begin < furthest->end) {
            refuse(error,
                QStringLiteral("tensors '%1' and '%2' share bytes of the file (overlapping "
                               "data_offsets)")
                    .arg(textFromFile(furthest->name), textFromFile(e->name)));
            return std::nullopt;
        }
        if (!furthest || e->end > furthest->end)
            furthest = e;
    }
    return entries;
}

// The tensors of ENTRIES, each filled by READ(entry, destination) with its end - begin bytes;
// false from READ means the file ended early.
std::optional<NamedTensors> readSafetensors(const std::vector<SafetensorsEntry> &entries,
    const std::function<bool(const SafetensorsEntry &, char *)> &read, QString *error)
{
    NamedTensors out;
    try {
        for (const SafetensorsEntry &e : entries) {
            torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.type));
            char *data = static_cast<char *>(t.data_ptr());
            if (e.end > e.begin && !read(e, data)) {
                refuse(error,
                    QStringLiteral("the file ends inside tensor '%1' (truncated?)")
                        .arg(textFromFile(e.name)));
                return std::nullopt;
            }
            // A bool is one byte of 0 or 1; any other byte is undefined behaviour to compute on.
            if (e.type == torch::kBool && std::any_of(data, data + (e.end - e.begin), [](char c) {
                    return c != 0 && c != 1;
                })) {
                refuse(error,
                    QStringLiteral("tensor '%1' has BOOL bytes other than 0 and 1")
                        .arg(textFromFile(e.name)));
                return std::nullopt;
            }
            out.emplace_back(e.name.toStdString(), std::move(t));
        }
    } catch (const std::exception &ex) { // c10::Error, std::bad_alloc
        refuse(error,
            QStringLiteral("cannot hold the tensors: %1")
                .arg(QString::fromUtf8(ex.what()).section(QLatin1Char('\n'), 0, 0)));
        return std::nullopt;
    }
    return out;
}

} // namespace

QString textFromFile(const QString &value)
{
    constexpr qsizetype MaxQuoted = 80;
    QString text = value.size() > MaxQuoted ? value.left(MaxQuoted - 1) + QChar(0x2026) : value;
    for (QChar &c : text)
        if (c.category() == QChar::Other_Control || c.category() == QChar::Other_Format
            || c.isSurrogate() || c == QChar::LineSeparator || c == QChar::ParagraphSeparator)
            c = QLatin1Char('?');
    return text;
}

std::optional<NamedTensors> readStateDictFile(const QString &path, QString *error)
{
    if (!QFileInfo(path).isFile())
        return fail(error, path, QStringLiteral("no such file"));
    QString reason;
    std::optional<ZipRecords> zip = ZipRecords::openFile(path, &reason);
    if (!zip)
        return fail(error, path, reason);
    if (!zip->has("data.pkl"))
        return fail(error, path,
            QStringLiteral("not a torch.save() archive (no data.pkl); save the weights with "
                           "torch.save(model.state_dict(), path)"));
    const std::optional<std::string> pickle = zip->read("data.pkl", kMaxPickleBytes, &reason);
    if (!pickle)
        return fail(error, path, reason);
    QString recordError;
    std::optional<NamedTensors> tensors = unpickleStateDict(
        *pickle,
        [&](const std::string &key) {
            return zip->read("data/" + key, ~std::uint64_t(0), &recordError);
        },
        &reason);
    if (!tensors)
        return fail(error, path, recordError.isEmpty() ? reason : recordError);
    return tensors;
}

bool isSafetensorsFile(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return false;
    const QByteArray head = f.read(9);
    return head.size() == 9 && head.at(8) == '{';
}

std::optional<NamedTensors> parseSafetensors(const QByteArray &bytes, QString *error)
{
    const std::optional<std::uint64_t> headerSize
        = safetensorsHeaderSize(bytes.left(8), std::uint64_t(bytes.size()), error);
    if (!headerSize)
        return std::nullopt;
    const std::uint64_t dataStart = 8 + *headerSize;
    const std::optional<std::vector<SafetensorsEntry>> entries = parseSafetensorsHeader(
        bytes.mid(8, qsizetype(*headerSize)), std::uint64_t(bytes.size()) - dataStart, error);
    if (!entries)
        return std::nullopt;
    return readSafetensors(
        *entries,
        [&](const SafetensorsEntry &e, char *to) {
            std::memcpy(to, bytes.constData() + dataStart + e.begin, e.end - e.begin);
            return true;
        },
        error);
}

std::optional<NamedTensors> readSafetensorsFile(const QString &path, QString *error)
{
    if (!QFileInfo(path).isFile())
        return fail(error, path, QStringLiteral("no such file"));
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return fail(error, path, f.errorString());
    // Read piece by piece: the header, then each tensor straight into its storage, so a file takes
    // its size in memory once, and a crafted header no more than its checked tensors.
    const std::uint64_t size = std::uint64_t(f.size());
    QString reason;
    const std::optional<std::uint64_t> headerSize = safetensorsHeaderSize(f.read(8), size, &reason);
    if (!headerSize)
        return fail(error, path, reason);
    const std::uint64_t dataStart = 8 + *headerSize;
    const std::optional<std::vector<SafetensorsEntry>> entries
        = parseSafetensorsHeader(f.read(qint64(*headerSize)), size - dataStart, &reason);
    if (!entries)
        return fail(error, path, reason);
    std::optional<NamedTensors> tensors = readSafetensors(
        *entries,
        [&](const SafetensorsEntry &e, char *to) {
            const std::uint64_t at = dataStart + e.begin;
            const qint64 n = qint64(e.end - e.begin);
            return f.seek(qint64(at)) && f.read(to, n) == n;
        },
        &reason);
    if (!tensors)
        return fail(error, path, reason);
    return tensors;
}

} // namespace leantune
