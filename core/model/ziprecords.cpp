#include "model/ziprecords_p.h"

#include <QFile>

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace leantune {

namespace {

// A LibTorch archive has a record per storage and two per class (resnet18's checkpoint: ~250).
constexpr std::uint64_t MaxCentralDirectory = 16 * 1024 * 1024;
constexpr std::uint64_t MaxEntries = std::uint64_t(1) << 17;
constexpr std::uint64_t InflateAllowance = 64 * 1024 * 1024;
constexpr std::uint64_t InflateFactor = 8;
constexpr std::uint32_t Eocd = 0x06054b50, Zip64Locator = 0x07064b50, Zip64Eocd = 0x06064b50,
                        CentralHeader = 0x02014b50, LocalHeader = 0x04034b50;

std::uint64_t le(const char *p, int n)
{
    std::uint64_t u = 0;
    for (int k = n - 1; k >= 0; --k)
        u = (u << 8) | std::uint8_t(p[k]);
    return u;
}

template <typename T> std::optional<T> failed(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return std::nullopt;
}

// NAME, from the archive, as a message shows it: at most 80 characters.
QString shown(const std::string &name)
{
    QString s = QString::fromUtf8(name.data(), qsizetype(std::min<std::size_t>(name.size(), 80)));
    for (QChar &c : s)
        if (c.category() == QChar::Other_Control)
            c = QLatin1Char('?');
    return name.size() > 80 ? s + QStringLiteral("... (%1 bytes)").arg(name.size()) : s;
}

} // namespace

std::optional<ZipRecords> ZipRecords::openFile(const QString &path, QString *error)
{
    auto file = std::make_shared<QFile>(path);
    if (!file->open(QIODevice::ReadOnly))
        return failed<ZipRecords>(error, file->errorString());
    const std::uint64_t size = std::uint64_t(file->size());
    return open(
        size,
        [file](std::uint64_t offset, char *into, std::uint64_t n) {
            if (!file->seek(qint64(offset)))
                return false;
            while (n > 0) {
                const qint64 got = file->read(into, qint64(std::min<std::uint64_t>(n, 1 << 24)));
                if (got <= 0)
                    return false;
                into += got;
                n -= std::uint64_t(got);
            }
            return true;
        },
        error);
}

std::optional<ZipRecords> ZipRecords::fromBytes(const QByteArray &bytes, QString *error)
{
    return open(
        std::uint64_t(bytes.size()),
        [bytes](std::uint64_t offset, char *into, std::uint64_t n) {
            std::memcpy(into, bytes.constData() + offset, n);
            return true;
        },
        error);
}

bool ZipRecords::readAt(std::uint64_t offset, char *into, std::uint64_t n) const
{
    return offset <= m_archiveSize && n <= m_archiveSize - offset && m_readAt(offset, into, n);
}

std::optional<ZipRecords> ZipRecords::open(std::uint64_t archiveSize, ReadAt readAt, QString *error)
{
    ZipRecords z;
    z.m_archiveSize = archiveSize;
    z.m_readAt = std::move(readAt);
    z.m_inflateBudget = InflateAllowance + InflateFactor * archiveSize;
    const auto bad = [error](const QString &why) {
        return failed<ZipRecords>(error,
            QStringLiteral("not a readable PyTorch file (truncated or not a zip archive: %1)")
                .arg(why));
    };

    // The end of central directory record: in the last 22 + 65,535 (comment) bytes.
    const std::uint64_t tail = std::min<std::uint64_t>(archiveSize, 22 + 65535);
    std::string end(tail, '\0');
    if (tail < 22 || !z.readAt(archiveSize - tail, end.data(), tail))
        return bad(QStringLiteral("too short"));
    std::size_t at = std::string::npos;
    for (std::size_t k = tail - 22 + 1; k-- > 0;)
        if (le(end.data() + k, 4) == Eocd) {
            at = k;
            break;
        }
    if (at == std::string::npos)
        return bad(QStringLiteral("no end of central directory"));
    const std::uint64_t eocd = archiveSize - tail + at;
    std::uint64_t entries = le(end.data() + at + 10, 2);
    std::uint64_t cdSize = le(end.data() + at + 12, 4);
    std::uint64_t cdOffset = le(end.data() + at + 16, 4);
    if (eocd >= 20) {
        char locator[20];
        if (z.readAt(eocd - 20, locator, 20) && le(locator, 4) == Zip64Locator) {
            char record[56];
            if (!z.readAt(le(locator + 8, 8), record, 56) || le(record, 4) != Zip64Eocd)
                return bad(QStringLiteral("bad zip64 end of central directory"));
            entries = le(record + 32, 8);
            cdSize = le(record + 40, 8);
            cdOffset = le(record + 48, 8);
        }
    }
    if (entries > MaxEntries || cdSize > MaxCentralDirectory)
        return failed<ZipRecords>(error,
            QStringLiteral("the archive lists %1 records in %2 bytes, more than a PyTorch file "
                           "has (%3 records, %4 bytes)")
                .arg(entries)
                .arg(cdSize)
                .arg(MaxEntries)
                .arg(MaxCentralDirectory));
    if (cdOffset > archiveSize || cdSize > archiveSize - cdOffset)
        return bad(QStringLiteral("central directory out of bounds"));
    std::string cd(cdSize, '\0');
    if (!z.readAt(cdOffset, cd.data(), cdSize))
        return bad(QStringLiteral("unreadable central directory"));

    std::string folder;
    std::size_t pos = 0;
    for (std::uint64_t n = 0; n < entries; ++n) {
        if (cd.size() - pos < 46 || le(cd.data() + pos, 4) != CentralHeader)
            return bad(QStringLiteral("malformed central directory"));
        const char *h = cd.data() + pos;
        const std::uint64_t flags = le(h + 8, 2), nameLength = le(h + 28, 2),
                            extraLength = le(h + 30, 2), commentLength = le(h + 32, 2);
        if (cd.size() - pos - 46 < nameLength + extraLength + commentLength)
            return bad(QStringLiteral("malformed central directory"));
        Entry e;
        e.method = std::uint16_t(le(h + 10, 2));
        e.compressedSize = le(h + 20, 4);
        e.size = le(h + 24, 4);
        e.localHeader = le(h + 42, 4);
        std::string name(h + 46, nameLength);
        // zip64: the 64-bit values of the fields that hold 0xffffffff, in this order.
        const char *extra = h + 46 + nameLength;
        for (std::uint64_t x = 0; x + 4 <= extraLength;) {
            const std::uint64_t id = le(extra + x, 2), length = le(extra + x + 2, 2);
            if (x + 4 + length > extraLength)
                return bad(QStringLiteral("malformed extra field"));
            if (id == 1) {
                const char *f = extra + x + 4;
                std::uint64_t left = length;
                for (std::uint64_t *field : { &e.size, &e.compressedSize, &e.localHeader }) {
                    if (*field != 0xffffffffu)
                        continue;
                    if (left < 8)
                        return bad(QStringLiteral("malformed zip64 field"));
                    *field = le(f, 8);
                    f += 8;
                    left -= 8;
                }
            }
            x += 4 + length;
        }
        pos += 46 + nameLength + extraLength + commentLength;
        if (flags & 1)
            return bad(QStringLiteral("encrypted record %1").arg(shown(name)));
        const std::size_t slash = name.find('/');
        if (slash == std::string::npos || slash == 0)
            continue; // not below a top folder: no record of a PyTorch archive
        if (folder.empty())
            folder = name.substr(0, slash + 1);
        if (name.compare(0, folder.size(), folder) != 0)
            continue;
        name.erase(0, folder.size());
        if (!z.m_entries.emplace(name, e).second)
            return bad(QStringLiteral("record %1 appears twice").arg(shown(name)));
    }
    return z;
}

bool ZipRecords::has(const std::string &name) const
{
    return m_entries.count(name) > 0;
}

std::optional<std::uint64_t> ZipRecords::size(const std::string &name) const
{
    const auto it = m_entries.find(name);
    return it == m_entries.end() ? std::nullopt : std::optional<std::uint64_t>(it->second.size);
}

std::optional<std::string> ZipRecords::read(
    const std::string &name, std::uint64_t maxBytes, QString *error)
{
    const auto it = m_entries.find(name);
    if (it == m_entries.end())
        return failed<std::string>(error, QStringLiteral("record %1 is missing").arg(shown(name)));
    const Entry &e = it->second;
    const auto bad = [&](const QString &why) {
        return failed<std::string>(error, QStringLiteral("record %1 %2").arg(shown(name), why));
    };
    if (e.size > maxBytes)
        return bad(QStringLiteral("is %1 bytes, more than the %2 it may have (a crafted file?)")
                       .arg(e.size)
                       .arg(maxBytes));
    char local[30];
    if (!readAt(e.localHeader, local, 30) || le(local, 4) != LocalHeader)
        return bad(QStringLiteral("has no valid local header (truncated file?)"));
    const std::uint64_t data = e.localHeader + 30 + le(local + 26, 2) + le(local + 28, 2);
    if (data > m_archiveSize || e.compressedSize > m_archiveSize - data)
        return bad(QStringLiteral("runs past the end of the file (truncated file?)"));
    std::string out;
    if (e.method == 0) {
        if (e.compressedSize != e.size)
            return bad(QStringLiteral("is stored with two different sizes"));
        out.resize(e.size);
        if (!readAt(data, out.data(), e.size))
            return bad(QStringLiteral("cannot be read (truncated file?)"));
        return out;
    }
    if (e.method != 8)
        return bad(
            QStringLiteral("uses compression method %1, which PyTorch never writes").arg(e.method));
    if (e.size > m_inflateBudget)
        return bad(QStringLiteral("inflates to %1 bytes, more than this archive may inflate to "
                                  "(a zip bomb?)")
                       .arg(e.size));
    m_inflateBudget -= e.size;
    out.resize(e.size);
    z_stream zs {};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return bad(QStringLiteral("cannot be inflated"));
    std::string chunk;
    std::uint64_t done = 0;
    int rc = Z_OK;
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = 0;
    std::uint64_t outLeft = e.size;
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            const std::uint64_t n
                = std::min<std::uint64_t>(e.compressedSize - done, std::uint64_t(1) << 20);
            if (n == 0)
                break;
            chunk.resize(n);
            if (!readAt(data + done, chunk.data(), n)) {
                inflateEnd(&zs);
                return bad(QStringLiteral("cannot be read (truncated file?)"));
            }
            done += n;
            zs.next_in = reinterpret_cast<Bytef *>(chunk.data());
            zs.avail_in = uInt(n);
        }
        if (zs.avail_out == 0) {
            // One spare byte past the declared size shows a record that inflates to more.
            const std::uint64_t n = std::min<std::uint64_t>(outLeft, std::uint64_t(1) << 30);
            if (n == 0) {
                char spare;
                zs.next_out = reinterpret_cast<Bytef *>(&spare);
                zs.avail_out = 1;
                rc = inflate(&zs, Z_NO_FLUSH);
                if (zs.avail_out == 0) {
                    inflateEnd(&zs);
                    return bad(
                        QStringLiteral("inflates to more than its declared %1 bytes").arg(e.size));
                }
                continue;
            }
            zs.avail_out = uInt(n);
            outLeft -= n;
        }
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            return bad(QStringLiteral("is corrupt (inflate failed)"));
        }
    }
    const std::uint64_t produced = zs.total_out;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || produced != e.size)
        return bad(QStringLiteral("inflates to another size than its declared %1 bytes (truncated "
                                  "or corrupt file?)")
                       .arg(e.size));
    return out;
}

} // namespace leantune
