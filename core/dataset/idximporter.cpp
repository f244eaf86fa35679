#include "dataset/idximporter.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSet>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <vector>

namespace leantune {

QStringList fashionMnistClassNames()
{
    return { QStringLiteral("T-shirt_top"), QStringLiteral("Trouser"), QStringLiteral("Pullover"),
        QStringLiteral("Dress"), QStringLiteral("Coat"), QStringLiteral("Sandal"),
        QStringLiteral("Shirt"), QStringLiteral("Sneaker"), QStringLiteral("Bag"),
        QStringLiteral("Ankle_boot") };
}

namespace {

constexpr int kProgressEvery = 100; // images between progress callbacks
constexpr quint32 kMaxSide = 65535;

// A raw or gzip-compressed file read through zlib: gzread recognises the gzip magic (1f 8b) and
// passes any other file through unchanged.
class IdxFile {
public:
    explicit IdxFile(QString path)
        : m_path(std::move(path))
    {
    }
    ~IdxFile()
    {
        if (m_gz)
            gzclose(m_gz);
    }
    IdxFile(const IdxFile &) = delete;
    IdxFile &operator=(const IdxFile &) = delete;

    const QString &path() const { return m_path; }

    bool open(QString *error)
    {
        const QFileInfo info(m_path);
        if (!info.exists()) {
            *error = QStringLiteral("no such file: %1").arg(m_path);
            return false;
        }
        if (!info.isFile()) {
            *error = QStringLiteral("not a file: %1").arg(m_path);
            return false;
        }
#ifdef _WIN32
        m_gz = gzopen_w(reinterpret_cast<const wchar_t *>(m_path.utf16()), "rb");
#else
        m_gz = gzopen(QFile::encodeName(m_path).constData(), "rb");
#endif
        if (!m_gz) {
            *error = QStringLiteral("cannot open %1 (%2)")
                         .arg(m_path, QString::fromLocal8Bit(strerror(errno)));
            return false;
        }
        gzbuffer(m_gz, 256 * 1024);
        return true;
    }

    // Reads up to n bytes; returns how many were read (fewer at the end of the data), or -1 on
    // corrupt or truncated compressed data (*error set).
    qint64 read(void *buffer, qint64 n, QString *error)
    {
        char *out = static_cast<char *>(buffer);
        qint64 total = 0;
        while (total < n) {
            const unsigned chunk = unsigned(std::min<qint64>(n - total, 1 << 30));
            const int got = gzread(m_gz, out + total, chunk);
            int code = Z_OK;
            const char *message = gzerror(m_gz, &code);
            // gzread reports a gzip stream cut short as Z_BUF_ERROR without failing the read.
            if (got < 0 || (got == 0 && code == Z_BUF_ERROR)) {
                if (code == Z_BUF_ERROR)
                    *error = QStringLiteral("%1: compressed data ends early (truncated file)")
                                 .arg(m_path);
                else
                    *error = QStringLiteral("%1: corrupt compressed data (%2)")
                                 .arg(m_path, QString::fromLocal8Bit(message));
                return -1;
            }
            if (got == 0)
                break;
            total += got;
        }
        return total;
    }

    bool rewind()
    {
        return gzrewind(m_gz) == 0;
    }

private:
    QString m_path;
    gzFile m_gz = nullptr;
};

quint32 be32(const uchar *p)
{
    return quint32(p[0]) << 24 | quint32(p[1]) << 16 | quint32(p[2]) << 8 | p[3];
}

// Reads and checks an IDX header: magic 0x0000 08 DIMS (unsigned bytes), then DIMS big-endian
// sizes.
bool readHeader(IdxFile &file, int expectedDims, const QString &what, std::vector<quint32> *dims,
    QString *error)
{
    uchar magic[4];
    const qint64 got = file.read(magic, 4, error);
    if (got < 0)
        return false;
    const QString expectedMagic
        = QStringLiteral("0x%1").arg(0x800 + expectedDims, 8, 16, QLatin1Char('0'));
    if (got < 4) {
        *error = QStringLiteral("%1: too short for an IDX header").arg(file.path());
        return false;
    }
    const quint32 found = be32(magic);
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08) {
        *error = QStringLiteral("%1: not an IDX file of unsigned bytes (magic 0x%2, expected %3)")
                     .arg(file.path())
                     .arg(found, 8, 16, QLatin1Char('0'))
                     .arg(expectedMagic);
        return false;
    }
    if (magic[3] != expectedDims) {
        *error
            = QStringLiteral("%1: %2 must have %3 dimension(s) (magic %4), found %5 (magic 0x%6)")
                  .arg(file.path(), what)
                  .arg(expectedDims)
                  .arg(expectedMagic)
                  .arg(magic[3])
                  .arg(found, 8, 16, QLatin1Char('0'));
        return false;
    }
    std::vector<uchar> raw(size_t(expectedDims) * 4);
    const qint64 rawGot = file.read(raw.data(), qint64(raw.size()), error);
    if (rawGot < 0)
        return false;
    if (rawGot < qint64(raw.size())) {
        *error = QStringLiteral("%1: IDX header incomplete").arg(file.path());
        return false;
    }
    dims->resize(size_t(expectedDims));
    for (int i = 0; i < expectedDims; ++i)
        (*dims)[size_t(i)] = be32(raw.data() + 4 * std::ptrdiff_t(i));
    return true;
}

bool validClassName(const QString &name)
{
    return !name.isEmpty() && !name.startsWith(QLatin1Char('.')) && !name.contains(QLatin1Char('/'))
        && !name.contains(QLatin1Char('\\')) && !name.contains(QLatin1Char(':'))
        && name.trimmed() == name;
}

std::optional<IdxImportResult> import(const QString &imagesPath, const QString &labelsPath,
    const QString &outDir, const IdxImportOptions &options, QString *error,
    const std::function<void(int, int)> &progress)
{
    const QStringList classes
        = options.classNames.isEmpty() ? fashionMnistClassNames() : options.classNames;
    QSet<QString> seen;
    for (const QString &name : classes) {
        if (!validClassName(name) || seen.contains(name)) {
            *error = QStringLiteral(
                "invalid class name \"%1\" (must be unique, non-empty, not hidden, "
                "without path separators)")
                         .arg(name);
            return std::nullopt;
        }
        seen.insert(name);
    }

    // Labels: small, read whole and checked first.
    IdxFile labelFile(labelsPath);
    std::vector<quint32> labelDims;
    if (!labelFile.open(error)
        || !readHeader(labelFile, 1, QStringLiteral("IDX labels"), &labelDims, error))
        return std::nullopt;
    const quint32 labelCount = labelDims[0];
    // Read in chunks: the header's count is untrusted, so memory follows the bytes actually present
    // (a 10-byte file claiming 4 billion labels must not allocate 4 GB; found by fuzz_idx).
    std::vector<uchar> labels;
    qint64 labelsGot = 0;
    constexpr qint64 kChunk = qint64(64) * 1024;
    while (labelsGot < qint64(labelCount)) {
        const qint64 want = std::min<qint64>(kChunk, qint64(labelCount) - labelsGot);
        labels.resize(size_t(labelsGot + want));
        const qint64 got = labelFile.read(labels.data() + labelsGot, want, error);
        if (got < 0)
            return std::nullopt;
        labelsGot += got;
        if (got < want)
            break;
    }
    labels.resize(size_t(labelsGot));
    if (labelsGot < qint64(labelCount)) {
        *error = QStringLiteral("%1: file is shorter than its header says (%2 labels declared, %3 "
                                "present)")
                     .arg(labelsPath)
                     .arg(labelCount)
                     .arg(labelsGot);
        return std::nullopt;
    }
    for (quint32 i = 0; i < labelCount; ++i) {
        if (labels[i] >= classes.size()) {
            *error = QStringLiteral("%1: label %2 of item %3 is out of range (%4 class names)")
                         .arg(labelsPath)
                         .arg(labels[i])
                         .arg(i)
                         .arg(classes.size());
            return std::nullopt;
        }
    }

    // Images: the header, then a first pass that checks the data is complete before anything is
    // written; a second pass writes the PNGs one image at a time (bounded memory).
    IdxFile imageFile(imagesPath);
    std::vector<quint32> imageDims;
    if (!imageFile.open(error)
        || !readHeader(imageFile, 3, QStringLiteral("IDX images"), &imageDims, error))
        return std::nullopt;
    const quint32 imageCount = imageDims[0], rows = imageDims[1], cols = imageDims[2];
    if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide) {
        *error = QStringLiteral("%1: unsupported image size %2x%3")
                     .arg(imagesPath)
                     .arg(cols)
                     .arg(rows);
        return std::nullopt;
    }
    if (imageCount != labelCount) {
        *error = QStringLiteral("count mismatch: %1 holds %2 images but %3 holds %4 labels")
                     .arg(imagesPath)
                     .arg(imageCount)
                     .arg(labelsPath)
                     .arg(labelCount);
        return std::nullopt;
    }
    const qint64 imageBytes = qint64(rows) * cols;
    const qint64 dataBytes = imageBytes * imageCount;
    {
        std::vector<char> chunk(size_t(1) << 20);
        qint64 verified = 0;
        while (verified < dataBytes) {
            const qint64 got = imageFile.read(
                chunk.data(), std::min<qint64>(dataBytes - verified, qint64(chunk.size())), error);
            if (got < 0)
                return std::nullopt;
            if (got == 0)
                break;
            verified += got;
        }
        if (verified < dataBytes) {
            *error = QStringLiteral("%1: file is shorter than its header says (%2 images of %3x%4 "
                                    "declared, data for %5)")
                         .arg(imagesPath)
                         .arg(imageCount)
                         .arg(cols)
                         .arg(rows)
                         .arg(verified / imageBytes);
            return std::nullopt;
        }
    }
    std::vector<quint32> ignored;
    if (!imageFile.rewind()
        || !readHeader(imageFile, 3, QStringLiteral("IDX images"), &ignored, error)) {
        if (error->isEmpty())
            *error = QStringLiteral("%1: cannot re-read the file").arg(imagesPath);
        return std::nullopt;
    }

    const int count
        = options.limit >= 0 ? int(std::min<qint64>(options.limit, imageCount)) : int(imageCount);
    const QDir out(outDir);
    QStringList classDirs;
    for (const QString &name : classes) {
        const QString dir = out.absoluteFilePath(name);
        if (!QDir().mkpath(dir)) {
            *error = QStringLiteral("cannot create folder %1").arg(dir);
            return std::nullopt;
        }
        classDirs.append(dir + QLatin1Char('/'));
    }

    const int digits
        = std::max(5, int(QString::number(std::max<qint64>(imageCount, 1) - 1).size()));
    const std::vector<int> pngParams { cv::IMWRITE_PNG_COMPRESSION, 1 };
    cv::Mat image(int(rows), int(cols), CV_8UC1);
    if (progress)
        progress(0, count);
    for (int i = 0; i < count; ++i) {
        const qint64 got = imageFile.read(image.data, imageBytes, error);
        if (got < 0)
            return std::nullopt;
        if (got < imageBytes) {
            *error = QStringLiteral("%1: data ended early at image %2").arg(imagesPath).arg(i);
            return std::nullopt;
        }
        const QString path = classDirs.at(labels[size_t(i)])
            % QString::number(i).rightJustified(digits, QLatin1Char('0')) % QStringLiteral(".png");
        if (!cv::imwrite(QFile::encodeName(path).toStdString(), image, pngParams)) {
            *error = QStringLiteral("cannot write %1").arg(path);
            return std::nullopt;
        }
        if (progress && ((i + 1) % kProgressEvery == 0 || i + 1 == count))
            progress(i + 1, count);
    }

    IdxImportResult result;
    result.images = count;
    result.classes = classes;
    return result;
}

} // namespace

std::optional<IdxImportResult> importIdx(const QString &imagesPath, const QString &labelsPath,
    const QString &outDir, const IdxImportOptions &options, QString *error,
    const std::function<void(int done, int total)> &progress)
{
    QString ignored;
    if (!error)
        error = &ignored;
    error->clear();
    try {
        return import(imagesPath, labelsPath, outDir, options, error, progress);
    } catch (const cv::Exception &e) {
        *error = QStringLiteral("cannot write PNG: %1").arg(QString::fromStdString(e.msg));
    } catch (const std::bad_alloc &) {
        *error = QStringLiteral("out of memory while importing %1").arg(imagesPath);
    } catch (const std::exception &e) {
        *error = QStringLiteral("import failed: %1").arg(QString::fromLocal8Bit(e.what()));
    }
    return std::nullopt;
}

} // namespace leantune
