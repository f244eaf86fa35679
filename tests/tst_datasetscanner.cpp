// Tests for scanDataset()/DatasetScanner and the header probe: classes and labels, content-based
// format detection, the reason given for each kind of invalid file, size statistics, JSON,
// symlinks, cancellation, root errors, and the worker QObject on a QThread.

#include "dataset/datasetscanner.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QtEndian>

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

using namespace leantune;

Q_DECLARE_METATYPE(std::vector<int>)
Q_DECLARE_METATYPE(leantune::ImageFormat)

namespace {

cv::Mat noise(int width, int height, int channels)
{
    cv::Mat image(height, width, CV_8UC(channels));
    cv::randu(image, 0, 256);
    return image;
}

QByteArray encode(const cv::Mat &image, const char *extension, const std::vector<int> &params = {})
{
    std::vector<uchar> bytes;
    if (!cv::imencode(extension, image, bytes, params))
        return {};
    return QByteArray(reinterpret_cast<const char *>(bytes.data()), int(bytes.size()));
}

quint32 crc32(const QByteArray &data)
{
    quint32 crc = 0xffffffffu;
    for (char ch : data) {
        crc ^= uchar(ch);
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

QByteArray pngChunk(const char *type, const QByteArray &payload)
{
    const QByteArray typed = QByteArray(type) + payload;
    QByteArray chunk(4, '\0');
    qToBigEndian<quint32>(quint32(payload.size()), chunk.data());
    QByteArray crc(4, '\0');
    qToBigEndian<quint32>(crc32(typed), crc.data());
    return chunk + typed + crc;
}

// A PNG whose IHDR claims WIDTH x HEIGHT RGB pixels; no real pixel data.
QByteArray pngHeaderOnly(quint32 width, quint32 height)
{
    QByteArray ihdr(13, '\0');
    qToBigEndian<quint32>(width, ihdr.data());
    qToBigEndian<quint32>(height, ihdr.data() + 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    return QByteArray("\x89PNG\r\n\x1A\n", 8) + pngChunk("IHDR", ihdr)
        + pngChunk("IDAT", QByteArray(16, '\0')) + pngChunk("IEND", {});
}

// An application segment of LENGTH payload bytes (zeros).
QByteArray jpegSegment(uchar marker, int length)
{
    QByteArray segment(4 + length, '\0');
    segment[0] = char(0xFF);
    segment[1] = char(marker);
    qToBigEndian<quint16>(quint16(length + 2), segment.data() + 2);
    return segment;
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

// 1x1 GIF89a.
const QByteArray kGif
    = QByteArray::fromHex("474946383961010001008000000000ffffff2c000000000100010000020244"
                          "01003b");

struct ValidImage {
    const char *path; // relative to the fixture root
    int width, height, channels;
    ImageFormat format;
};

// Every valid image of the fixture; the scan must find exactly these.
const std::vector<ValidImage> kValid = {
    { "ant/a1.png", 32, 24, 3, ImageFormat::Png }, { "ant/a2.jpg", 40, 30, 3, ImageFormat::Jpeg },
    { "ant/gray.png", 20, 10, 1, ImageFormat::Png }, { "ant/rgba.png", 8, 8, 4, ImageFormat::Png },
    { "ant/nested/deep/n1.png", 16, 16, 3, ImageFormat::Png },
    { "ant/png_named.jpg", 12, 12, 3, ImageFormat::Png },
    { "ant/zero_padded.jpg", 24, 18, 3, ImageFormat::Jpeg },
    { "cat/c1.png", 64, 48, 3, ImageFormat::Png },
    { "cat/big_metadata.jpg", 36, 20, 1, ImageFormat::Jpeg },
    { "dog/d1.png", 100, 80, 3, ImageFormat::Png }, { "dog/d2.jpg", 30, 60, 3, ImageFormat::Jpeg },
    { "dog/link.png", 32, 24, 3, ImageFormat::Png }, // symlink to ant/a1.png: followed by default
};

// Every invalid entry of the fixture (default options) and the start of its reason.
const std::vector<std::pair<const char *, const char *>> kInvalid = {
    { "cat/empty.png", "empty file" },
    { "cat/truncated.jpg", "truncated JPEG (no end-of-image marker)" },
    { "cat/header_only.jpg", "truncated JPEG (header incomplete)" },
    { "cat/truncated.png", "truncated PNG (no IEND chunk)" },
    { "cat/notes.png", "not an image (text file)" },
    { "cat/error_page.jpg", "not an image (HTML page)" },
    { "cat/anim.gif", "unsupported format (GIF)" },
    { "cat/huge.png", "too large: 100000x100000 pixels" },
    { "cat/random.bin", "not an image (unknown format)" },
    { "ant/nested/loop", "symbolic link loop (points to a parent folder)" },
};
constexpr int kProbedFiles = 21; // valid images + invalid regular files

} // namespace

class TestDatasetScanner : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    QString m_root;
    DatasetIndex m_index; // default-options scan of m_root

    QString abs(const char *relative) const
    {
        return m_root + QLatin1Char('/') + QLatin1String(relative);
    }

    QString reasonFor(const DatasetIndex &index, const QString &path) const
    {
        for (const InvalidFile &file : index.invalid) {
            if (file.path == path)
                return file.reason;
        }
        return {};
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_root = m_tmp.filePath(QStringLiteral("data"));
        cv::theRNG().state = 42;
        auto png = [](int w, int h, int c) { return encode(noise(w, h, c), ".png"); };
        auto jpg = [](int w, int h, int c) { return encode(noise(w, h, c), ".jpg"); };

        // Valid images.
        QVERIFY(writeFile(abs("ant/a1.png"), png(32, 24, 3)));
        QVERIFY(writeFile(abs("ant/a2.jpg"), jpg(40, 30, 3)));
        QVERIFY(writeFile(abs("ant/gray.png"), png(20, 10, 1)));
        QVERIFY(writeFile(abs("ant/rgba.png"), png(8, 8, 4)));
        QVERIFY(writeFile(abs("ant/nested/deep/n1.png"), png(16, 16, 3)));
        QVERIFY(writeFile(abs("ant/png_named.jpg"), png(12, 12, 3))); // content decides
        QVERIFY(writeFile(abs("ant/zero_padded.jpg"), jpg(24, 18, 3) + QByteArray(5, '\0')));
        QVERIFY(writeFile(abs("cat/c1.png"), png(64, 48, 3)));
        // Start-of-frame ~128 KiB into the file, behind two large application segments.
        const QByteArray gray = jpg(36, 20, 1);
        QVERIFY(writeFile(abs("cat/big_metadata.jpg"),
            gray.left(2) + jpegSegment(0xEB, 65533) + jpegSegment(0xEC, 65533) + gray.mid(2)));
        QVERIFY(writeFile(abs("dog/d1.png"), png(100, 80, 3)));
        QVERIFY(writeFile(abs("dog/d2.jpg"), jpg(30, 60, 3)));

        // Invalid files.
        const QByteArray jpeg = jpg(64, 64, 3);
        const QByteArray pngBytes = png(64, 64, 3);
        QVERIFY(writeFile(abs("cat/empty.png"), {}));
        QVERIFY(writeFile(abs("cat/truncated.jpg"), jpeg.left(jpeg.size() / 2)));
        QVERIFY(writeFile(abs("cat/header_only.jpg"), jpeg.left(20)));
        QVERIFY(writeFile(abs("cat/truncated.png"), pngBytes.left(pngBytes.size() * 6 / 10)));
        QVERIFY(writeFile(abs("cat/notes.png"), "name,label\nant,0\ncat,1\n"));
        QVERIFY(writeFile(abs("cat/error_page.jpg"),
            "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n"));
        QVERIFY(writeFile(abs("cat/anim.gif"), kGif));
        QVERIFY(writeFile(abs("cat/huge.png"), pngHeaderOnly(100000, 100000)));
        QVERIFY(writeFile(abs("cat/random.bin"), QByteArray::fromHex("00010203fffe00aa55")));
        QVERIFY(QFile::link(QStringLiteral("../ant/a1.png"), abs("dog/link.png")));
        QVERIFY(QFile::link(QStringLiteral("../.."), abs("ant/nested/loop"))); // -> root

        // Skipped or ignored.
        QVERIFY(writeFile(abs("ant/.hidden.png"), png(8, 8, 3)));
        QVERIFY(writeFile(abs(".hidden_class/h.png"), png(8, 8, 3)));
        QVERIFY(writeFile(abs("stray.png"), png(8, 8, 3))); // directly in root
        QVERIFY(writeFile(abs("readme.txt"), "not a class"));
        QVERIFY(QDir().mkpath(abs("unused"))); // empty class

        QString error;
        const std::optional<DatasetIndex> index = scanDataset(m_root, {}, &error);
        QVERIFY2(index, qPrintable(error));
        m_index = *index;
    }

    void classesAreSortedSubfoldersIncludingEmptyOnes()
    {
        const QStringList expected { QStringLiteral("ant"), QStringLiteral("cat"),
            QStringLiteral("dog"), QStringLiteral("unused") };
        QCOMPARE(m_index.classes, expected);
        QCOMPARE(m_index.classCounts(), (QVector<int> { 7, 2, 3, 0 }));
    }

    void labelsMatchTheClassFolder()
    {
        for (const ImageEntry &image : m_index.images) {
            const QString relative = QDir(m_root).relativeFilePath(image.path);
            QVERIFY(image.label >= 0 && image.label < m_index.classes.size());
            QCOMPARE(relative.section(QLatin1Char('/'), 0, 0), m_index.classes.at(image.label));
        }
    }

    void imagesAreOrderedByClassThenPath()
    {
        for (size_t i = 1; i < m_index.images.size(); ++i) {
            const ImageEntry &a = m_index.images[i - 1], &b = m_index.images[i];
            QVERIFY(a.label < b.label || (a.label == b.label && a.path < b.path));
        }
    }

    void validImageHeaderIsRead_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("channels");
        QTest::addColumn<ImageFormat>("format");
        for (const ValidImage &v : kValid)
            QTest::newRow(v.path) << abs(v.path) << v.width << v.height << v.channels << v.format;
    }

    void validImageHeaderIsRead()
    {
        QFETCH(QString, path);
        QFETCH(int, width);
        QFETCH(int, height);
        QFETCH(int, channels);
        QFETCH(ImageFormat, format);
        const auto it = std::find_if(m_index.images.begin(), m_index.images.end(),
            [&](const ImageEntry &e) { return e.path == path; });
        QVERIFY2(it != m_index.images.end(), qPrintable(reasonFor(m_index, path)));
        QCOMPARE(it->width, width);
        QCOMPARE(it->height, height);
        QCOMPARE(it->channels, channels);
        QCOMPARE(it->format, format);
        QCOMPARE(it->bytes, QFileInfo(path).size());
        // OpenCV agrees with the header-only probe.
        const cv::Mat decoded
            = cv::imread(QFile::encodeName(path).toStdString(), cv::IMREAD_UNCHANGED);
        QCOMPARE(decoded.cols, width);
        QCOMPARE(decoded.rows, height);
    }

    void onlyTheFixtureImagesAreValid()
    {
        QCOMPARE(int(m_index.images.size()), int(kValid.size()));
    }

    void invalidFileHasReason_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("reason");
        for (const auto &[path, reason] : kInvalid)
            QTest::newRow(path) << abs(path) << QString::fromUtf8(reason);
    }

    void invalidFileHasReason()
    {
        QFETCH(QString, path);
        QFETCH(QString, reason);
        const QString found = reasonFor(m_index, path);
        QVERIFY2(found.startsWith(reason), qPrintable(QStringLiteral("got \"%1\"").arg(found)));
    }

    void onlyTheFixtureFilesAreInvalid()
    {
        QCOMPARE(int(m_index.invalid.size()), int(kInvalid.size()));
    }

    void hiddenAndRootLevelFilesAreSkipped()
    {
        auto mentioned = [this](const QString &needle) {
            for (const ImageEntry &e : m_index.images)
                if (e.path.contains(needle))
                    return true;
            for (const InvalidFile &f : m_index.invalid)
                if (f.path.contains(needle))
                    return true;
            return false;
        };
        QVERIFY(!mentioned(QStringLiteral("hidden")));
        QVERIFY(!mentioned(QStringLiteral("stray.png")));
        QVERIFY(!mentioned(QStringLiteral("readme.txt")));
        QVERIFY(!m_index.classes.contains(QStringLiteral(".hidden_class")));
    }

    void sizeStatsSummarizeValidImages()
    {
        const SizeStats s = m_index.sizeStats();
        // widths 8 12 16 20 24 [30 32] 32 36 40 64 100; heights 8 10 12 16 18 [20 24] 24 30 48 60
        // 80
        QCOMPARE(s.minWidth, 8);
        QCOMPARE(s.medianWidth, 31);
        QCOMPARE(s.maxWidth, 100);
        QCOMPARE(s.minHeight, 8);
        QCOMPARE(s.medianHeight, 22);
        QCOMPARE(s.maxHeight, 80);
    }

    void medianOfEvenCountAveragesTheMiddlePair()
    {
        DatasetIndex index;
        for (int w : { 40, 10, 30, 20 }) {
            ImageEntry e;
            e.width = w;
            e.height = w / 10;
            index.images.push_back(e);
        }
        QCOMPARE(index.sizeStats().medianWidth, 25);
        QCOMPARE(index.sizeStats().medianHeight, 2); // (2 + 3) / 2, rounded down
        QCOMPARE(DatasetIndex().sizeStats().maxWidth, 0);
    }

    void jsonHasDocumentedShape()
    {
        const QJsonObject json = m_index.toJson();
        QCOMPARE(json.value(QStringLiteral("root")).toString(), QDir::cleanPath(m_root));
        QCOMPARE(json.value(QStringLiteral("images")).toInt(), int(kValid.size()));
        const QJsonArray classes = json.value(QStringLiteral("classes")).toArray();
        QCOMPARE(classes.size(), 4);
        QCOMPARE(classes.at(0).toObject().value(QStringLiteral("name")).toString(),
            QStringLiteral("ant"));
        QCOMPARE(classes.at(0).toObject().value(QStringLiteral("count")).toInt(), 7);
        QCOMPARE(classes.at(3).toObject().value(QStringLiteral("count")).toInt(), 0);
        const QJsonArray invalid = json.value(QStringLiteral("invalid")).toArray();
        QCOMPARE(invalid.size(), int(kInvalid.size()));
        for (const QJsonValue &entry : invalid) {
            QVERIFY(!entry.toObject().value(QStringLiteral("path")).toString().isEmpty());
            QVERIFY(!entry.toObject().value(QStringLiteral("reason")).toString().isEmpty());
        }
        const QJsonObject sizes = json.value(QStringLiteral("sizes")).toObject();
        QCOMPARE(sizes.value(QStringLiteral("min_width")).toInt(), 8);
        QCOMPARE(sizes.value(QStringLiteral("median_width")).toInt(), 31);
        QCOMPARE(sizes.value(QStringLiteral("max_width")).toInt(), 100);
        QCOMPARE(sizes.value(QStringLiteral("min_height")).toInt(), 8);
        QCOMPARE(sizes.value(QStringLiteral("median_height")).toInt(), 22);
        QCOMPARE(sizes.value(QStringLiteral("max_height")).toInt(), 80);
        qint64 bytes = 0;
        for (const ValidImage &v : kValid)
            bytes += QFileInfo(abs(v.path)).size();
        QCOMPARE(json.value(QStringLiteral("total_bytes")).toInteger(), bytes);
        QCOMPARE(m_index.totalBytes(), bytes);
    }

    void defaultOptionsFollowSymlinks()
    {
        QVERIFY(ScanOptions().followSymlinks); // the trainer scans with {}
    }

    void notFollowingSymlinksReportsThem()
    {
        ScanOptions options;
        options.followSymlinks = false;
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(m_root, options, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(index->classCounts(), (QVector<int> { 7, 2, 2, 0 })); // dog/link.png left out
        QCOMPARE(
            reasonFor(*index, abs("dog/link.png")), QStringLiteral("symbolic link (not followed)"));
        QCOMPARE(reasonFor(*index, abs("ant/nested/loop")),
            QStringLiteral("symbolic link (not followed)"));
    }

    // A data set made only of links (how subsets, DVC and git-annex look): linked files and linked
    // class folders count; links back up, to themselves or to folders already scanned are reported,
    // never walked, and no image is counted twice.
    void dataSetOfSymlinksIsScannedOnce()
    {
        const QString base = m_tmp.filePath(QStringLiteral("links"));
        const QString data = base + QStringLiteral("/data");
        const QByteArray png = encode(noise(10, 10, 3), ".png");
        for (int i = 0; i < 3; ++i) {
            QVERIFY(writeFile(base + QStringLiteral("/pool/p%1.png").arg(i), png));
            QVERIFY(writeFile(base + QStringLiteral("/pool-c/c%1.png").arg(i), png));
        }
        QVERIFY(writeFile(data + QStringLiteral("/a/sub/real.png"), png));
        QVERIFY(QDir().mkpath(data + QStringLiteral("/b")));
        const auto link = [&](const QString &target, const QString &at) {
            return QFile::link(target, data + QLatin1Char('/') + at);
        };
        for (int i = 0; i < 3; ++i) {
            QVERIFY(link(
                QStringLiteral("../../pool/p%1.png").arg(i), QStringLiteral("a/p%1.png").arg(i)));
            QVERIFY(link(
                QStringLiteral("../../pool/p%1.png").arg(i), QStringLiteral("b/p%1.png").arg(i)));
        }
        QVERIFY(link(QStringLiteral("../pool-c"), QStringLiteral("c"))); // linked class
        QVERIFY(link(QStringLiteral("a"), QStringLiteral("a-again"))); // same class twice
        QVERIFY(link(QStringLiteral("a/sub"), QStringLiteral("a-sub"))); // into a class
        QVERIFY(link(QStringLiteral(".."), QStringLiteral("up"))); // class -> parent
        QVERIFY(link(QStringLiteral(".."), QStringLiteral("a/root"))); // -> data folder
        QVERIFY(link(QStringLiteral("."), QStringLiteral("a/sub/self"))); // -> own folder
        QVERIFY(link(QStringLiteral("../../.."), QStringLiteral("b/above"))); // above the data
        QVERIFY(link(QStringLiteral("spin"), QStringLiteral("b/spin"))); // ELOOP
        QVERIFY(link(QStringLiteral("../c"), QStringLiteral("b/c-again"))); // folder scanned
        QVERIFY(link(QStringLiteral("../nowhere.png"), QStringLiteral("b/gone.png"))); // broken

        QString error;
        const std::optional<DatasetIndex> index = scanDataset(data, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(index->classes,
            (QStringList { QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c") }));
        QCOMPARE(index->classCounts(), (QVector<int> { 4, 3, 3 }));
        QSet<QString> paths;
        for (const ImageEntry &e : index->images)
            paths.insert(e.path);
        QCOMPARE(paths.size(), int(index->images.size())); // nothing listed twice
        QVERIFY(paths.contains(data + QStringLiteral("/c/c0.png"))); // by its path in the data set

        const QString loop = QStringLiteral("symbolic link loop (points to a parent folder)");
        const QString scanned = QStringLiteral("symbolic link to a folder already scanned");
        const std::vector<std::pair<QString, QString>> expected {
            { QStringLiteral("a-again"), scanned }, { QStringLiteral("a-sub"), scanned },
            { QStringLiteral("a/root"), loop }, { QStringLiteral("a/sub/self"), loop },
            { QStringLiteral("b/above"), loop }, { QStringLiteral("b/c-again"), scanned },
            { QStringLiteral("b/gone.png"), QStringLiteral("broken symbolic link") },
            { QStringLiteral("b/spin"),
                QStringLiteral("symbolic link loop (the links point at each other)") },
            { QStringLiteral("up"), loop }
        };
        QCOMPARE(int(index->invalid.size()), int(expected.size()));
        for (const auto &[path, reason] : expected)
            QCOMPARE(reasonFor(*index, data + QLatin1Char('/') + path), reason);
    }

    // A name with bytes that are not UTF-8 (0xff) decodes lossily in Qt (U+FFFD), so its QString
    // path opens nothing. Such files and folders are reported, never silently dropped: valid +
    // invalid = entries on disk. Created by their raw bytes with POSIX calls.
    void namesThatAreNotUtf8AreReported()
    {
        const QString data = m_tmp.filePath(QStringLiteral("badnames"));
        const QByteArray png = encode(noise(8, 8, 3), ".png");
        for (int i = 0; i < 40; ++i)
            QVERIFY(writeFile(data + QStringLiteral("/a/ok%1.png").arg(i), png));
        QVERIFY(writeFile(data + QStringLiteral("/b/ok.png"), png));
        const QByteArray raw = QFile::encodeName(data);
        const auto rawFile = [&](const QByteArray &relative) {
            const int fd = ::open(
                QByteArray(raw + relative).constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0)
                return false;
            const bool ok = ::write(fd, png.constData(), size_t(png.size())) == png.size();
            return ::close(fd) == 0 && ok;
        };
        QVERIFY(rawFile("/a/bad\xffname.png")); // the 41st file of class a
        QVERIFY(rawFile("/b/x\xfe.png")); // two names that decode the same
        QVERIFY(rawFile("/b/x\xfd.png"));
        QVERIFY(::mkdir(QByteArray(raw + "/b/dir\xff").constData(), 0755) == 0); // a nested folder
        QVERIFY(rawFile("/b/dir\xff/inside.png"));
        QVERIFY(::mkdir(QByteArray(raw + "/class\xff").constData(), 0755) == 0); // a class folder
        QVERIFY(rawFile("/class\xff/inside.png"));

        QString error;
        const std::optional<DatasetIndex> index = scanDataset(data, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(index->classes, (QStringList { QStringLiteral("a"), QStringLiteral("b") }));
        QCOMPARE(index->classCounts(), (QVector<int> { 40, 1 }));
        const QString lost(QChar::ReplacementCharacter);
        const QString file = QStringLiteral("file name is not valid UTF-8; rename it");
        const QString folder = QStringLiteral("folder name is not valid UTF-8; rename it");
        std::vector<std::pair<QString, QString>> found;
        for (const InvalidFile &f : index->invalid)
            found.emplace_back(QDir(data).relativeFilePath(f.path), f.reason);
        QCOMPARE(int(found.size()), 5);
        QCOMPARE(found[0].first, QStringLiteral("a/bad") + lost + QStringLiteral("name.png"));
        QCOMPARE(found[0].second, file);
        QCOMPARE(found[1].first, QStringLiteral("b/dir") + lost);
        QVERIFY2(found[1].second.startsWith(folder), qPrintable(found[1].second));
        QCOMPARE(found[2].first, QStringLiteral("b/x") + lost + QStringLiteral(".png"));
        QCOMPARE(found[2].second, file);
        QCOMPARE(found[3], found[2]);
        QCOMPARE(found[4].first, QStringLiteral("class") + lost);
        QVERIFY2(found[4].second.startsWith(folder), qPrintable(found[4].second));
        // Class a: 41 files on disk, 40 valid + 1 invalid.
        const int invalidInA = int(std::count_if(found.begin(), found.end(),
            [](const auto &f) { return f.first.startsWith(QLatin1String("a/")); }));
        QCOMPARE(index->classCounts().at(0) + invalidInA, 41);

        // QTemporaryDir cannot remove what Qt cannot name.
        for (const char *name : { "/a/bad\xffname.png", "/b/x\xfe.png", "/b/x\xfd.png",
                 "/b/dir\xff/inside.png", "/class\xff/inside.png" })
            QCOMPARE(::unlink(QByteArray(raw + name).constData()), 0);
        for (const char *name : { "/b/dir\xff", "/class\xff" })
            QCOMPARE(::rmdir(QByteArray(raw + name).constData()), 0);
    }

    void decodedBytesLimitRejectsLargerImages()
    {
        ScanOptions options;
        // ant/a1.png (32x24 RGB) is exactly at the limit: its pixels and a gray copy.
        options.limits.maxDecodedBytes = decodedBytesOf(32, 24, 3, 1);
        QCOMPARE(options.limits.maxDecodedBytes, qint64(32 * 24 * 4));
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(m_root, options, &error);
        QVERIFY2(index, qPrintable(error));
        QVERIFY(reasonFor(*index, abs("ant/a1.png")).isEmpty());
        QVERIFY(
            reasonFor(*index, abs("ant/a2.jpg")).startsWith(QStringLiteral("too large: 40x30")));
    }

    void progressEndsWithAllFiles()
    {
        std::vector<std::pair<int, int>> calls;
        QString error;
        QVERIFY(scanDataset(
            m_root, {}, &error, [&](int done, int total) { calls.emplace_back(done, total); }));
        QVERIFY(!calls.empty());
        QCOMPARE(calls.back(), std::make_pair(kProbedFiles, kProbedFiles));
        for (size_t i = 1; i < calls.size(); ++i)
            QVERIFY(calls[i].first >= calls[i - 1].first);
    }

    void presetCancelFlagReturnsCancelled()
    {
        const std::atomic_bool cancel { true };
        QString error;
        QVERIFY(!scanDataset(m_root, {}, &error, {}, &cancel));
        QCOMPARE(error, QStringLiteral("cancelled"));
    }

    void cancelDuringProbingReturnsCancelled()
    {
        std::atomic_bool cancel { false };
        int lastDone = 0;
        QString error;
        const auto index = scanDataset(
            m_root, {}, &error,
            [&](int done, int) {
                lastDone = done;
                if (done == 3)
                    cancel.store(true);
            },
            &cancel);
        QVERIFY(!index);
        QCOMPARE(error, QStringLiteral("cancelled"));
        QCOMPARE(lastDone, 3); // stopped at the next file
    }

    void missingRootIsAnError()
    {
        const QString missing = m_tmp.filePath(QStringLiteral("does-not-exist"));
        QString error;
        QVERIFY(!scanDataset(missing, {}, &error));
        QCOMPARE(error, QStringLiteral("no such folder: %1").arg(missing));
    }

    void rootThatIsAFileIsAnError()
    {
        QString error;
        QVERIFY(!scanDataset(abs("stray.png"), {}, &error));
        QVERIFY2(error.startsWith(QStringLiteral("not a folder: ")), qPrintable(error));
    }

    void emptyRootGivesEmptyIndex()
    {
        const QString empty = m_tmp.filePath(QStringLiteral("empty-root"));
        QVERIFY(QDir().mkpath(empty));
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(empty, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QVERIFY(index->classes.isEmpty());
        QVERIFY(index->images.empty());
        QVERIFY(index->invalid.empty());
    }

    void unreadableFileIsReported()
    {
        const QString path = m_tmp.filePath(QStringLiteral("locked/cls/locked.png"));
        QVERIFY(writeFile(path, encode(noise(8, 8, 3), ".png")));
        QVERIFY(QFile::setPermissions(path, QFileDevice::Permissions()));
        const bool readable = QFile(path).open(QIODevice::ReadOnly);
        if (readable) {
            QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
            QSKIP("permissions do not block reads here (running as root)");
        }
        QString error;
        const std::optional<DatasetIndex> index
            = scanDataset(m_tmp.filePath(QStringLiteral("locked")), {}, &error);
        QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(int(index->invalid.size()), 1);
        QVERIFY2(index->invalid.front().reason.startsWith(QStringLiteral("unreadable")),
            qPrintable(index->invalid.front().reason));
    }

    void probeOfMissingFileSaysUnreadable()
    {
        QString error;
        QVERIFY(!probeImageFile(m_tmp.filePath(QStringLiteral("gone.png")), &error));
        QVERIFY2(error.startsWith(QStringLiteral("unreadable (")), qPrintable(error));
    }

    void probeReadsEncoderOutput_data()
    {
        QTest::addColumn<QString>("extension");
        QTest::addColumn<int>("inputChannels");
        QTest::addColumn<std::vector<int>>("params");
        QTest::addColumn<ImageFormat>("format");
        QTest::addColumn<int>("channels");
        const std::vector<int> none;
        QTest::newRow("png gray") << QStringLiteral(".png") << 1 << none << ImageFormat::Png << 1;
        QTest::newRow("png bgra") << QStringLiteral(".png") << 4 << none << ImageFormat::Png << 4;
        QTest::newRow("jpeg gray") << QStringLiteral(".jpg") << 1 << none << ImageFormat::Jpeg << 1;
        QTest::newRow("jpeg progressive")
            << QStringLiteral(".jpg") << 3 << std::vector<int> { cv::IMWRITE_JPEG_PROGRESSIVE, 1 }
            << ImageFormat::Jpeg << 3;
        QTest::newRow("bmp gray") << QStringLiteral(".bmp") << 1 << none << ImageFormat::Bmp << 1;
        QTest::newRow("bmp bgr") << QStringLiteral(".bmp") << 3 << none << ImageFormat::Bmp << 3;
        QTest::newRow("bmp bgra") << QStringLiteral(".bmp") << 4 << none << ImageFormat::Bmp << 4;
        QTest::newRow("webp lossy")
            << QStringLiteral(".webp") << 3 << none << ImageFormat::Webp << 3;
        QTest::newRow("webp lossless")
            << QStringLiteral(".webp") << 3 << std::vector<int> { cv::IMWRITE_WEBP_QUALITY, 101 }
            << ImageFormat::Webp << 3;
        QTest::newRow("webp alpha")
            << QStringLiteral(".webp") << 4 << none << ImageFormat::Webp << 4;
        QTest::newRow("tiff gray")
            << QStringLiteral(".tiff") << 1 << none << ImageFormat::Tiff << 1;
        QTest::newRow("tiff bgr") << QStringLiteral(".tiff") << 3 << none << ImageFormat::Tiff << 3;
        QTest::newRow("pgm") << QStringLiteral(".pgm") << 1 << none << ImageFormat::Pnm << 1;
        QTest::newRow("ppm") << QStringLiteral(".ppm") << 3 << none << ImageFormat::Pnm << 3;
        QTest::newRow("pgm ascii")
            << QStringLiteral(".pgm") << 1 << std::vector<int> { cv::IMWRITE_PXM_BINARY, 0 }
            << ImageFormat::Pnm << 1;
        QTest::newRow("pam") << QStringLiteral(".pam") << 4 << none << ImageFormat::Pnm << 4;
    }

    void probeReadsEncoderOutput()
    {
        QFETCH(QString, extension);
        QFETCH(int, inputChannels);
        QFETCH(std::vector<int>, params);
        QFETCH(ImageFormat, format);
        QFETCH(int, channels);
        const QByteArray bytes
            = encode(noise(37, 21, inputChannels), extension.toLatin1().constData(), params);
        if (bytes.isEmpty())
            QSKIP("this OpenCV build cannot encode the format");
        QString error;
        const std::optional<ImageHeader> header = probeImageBytes(bytes, {}, bytes.size(), &error);
        QVERIFY2(header, qPrintable(error));
        QCOMPARE(header->format, format);
        QCOMPARE(header->width, 37);
        QCOMPARE(header->height, 21);
        QCOMPARE(header->channels, channels);
    }

    void probeDetectsTruncatedPixelData_data()
    {
        QTest::addColumn<QString>("extension");
        QTest::addColumn<QString>("reason");
        QTest::newRow("bmp") << QStringLiteral(".bmp") << QStringLiteral("truncated BMP");
        QTest::newRow("ppm") << QStringLiteral(".ppm") << QStringLiteral("truncated PNM");
        QTest::newRow("webp") << QStringLiteral(".webp") << QStringLiteral("truncated WebP");
    }

    void probeDetectsTruncatedPixelData()
    {
        QFETCH(QString, extension);
        QFETCH(QString, reason);
        const QByteArray bytes = encode(noise(40, 40, 3), extension.toLatin1().constData());
        QVERIFY(!bytes.isEmpty());
        const QByteArray cut = bytes.left(bytes.size() - 50);
        QString error;
        QVERIFY(!probeImageBytes(cut, {}, cut.size(), &error));
        QVERIFY2(error.startsWith(reason), qPrintable(error));
    }

    void workerOnThreadEmitsFinished()
    {
        QThread thread;
        auto *scanner = new DatasetScanner(m_root);
        scanner->moveToThread(&thread);
        QSignalSpy finishedSpy(scanner, &DatasetScanner::finished);
        QSignalSpy failedSpy(scanner, &DatasetScanner::failed);
        QSignalSpy progressSpy(scanner, &DatasetScanner::progress);
        std::optional<DatasetIndex> received;
        QThread *receivedOn = nullptr;
        connect(scanner, &DatasetScanner::finished, this, [&](const DatasetIndex &index) {
            received = index; // queued: crosses threads as a registered metatype
            receivedOn = QThread::currentThread();
        });
        connect(&thread, &QThread::started, scanner, &DatasetScanner::start);
        // Direct (QThread::quit is thread-safe): queued to this thread, the quit could still be
        // waiting in the event queue behind the result when thread.wait() below blocks the loop.
        // Under ThreadSanitizer's slower timing that happened and wait() timed out.
        connect(scanner, &DatasetScanner::finished, &thread, &QThread::quit, Qt::DirectConnection);
        connect(scanner, &DatasetScanner::failed, &thread, &QThread::quit, Qt::DirectConnection);
        connect(&thread, &QThread::finished, scanner, &QObject::deleteLater);
        thread.start();

        QTRY_VERIFY_WITH_TIMEOUT(received.has_value(), 30000);
        QVERIFY(thread.wait(30000));
        // The spies were written on the worker thread; it has ended, so reading them is safe.
        QCOMPARE(finishedSpy.count(), 1);
        QCOMPARE(failedSpy.count(), 0);
        QCOMPARE(receivedOn, QThread::currentThread());
        QCOMPARE(received->classCounts(), m_index.classCounts());
        const auto last = finishedSpy.at(0).at(0).value<DatasetIndex>();
        QCOMPARE(int(last.images.size()), int(kValid.size()));
        QVERIFY(progressSpy.count() >= 1);
        QCOMPARE(progressSpy.last().at(0).toInt(), kProbedFiles);
        QCOMPARE(progressSpy.last().at(1).toInt(), kProbedFiles);
    }

    void workerCancelledBeforeStartEmitsFailed()
    {
        DatasetScanner scanner(m_root);
        QSignalSpy finishedSpy(&scanner, &DatasetScanner::finished);
        QSignalSpy failedSpy(&scanner, &DatasetScanner::failed);
        scanner.cancel();
        scanner.start();
        QCOMPARE(finishedSpy.count(), 0);
        QCOMPARE(failedSpy.count(), 1);
        QCOMPARE(failedSpy.at(0).at(0).toString(), QStringLiteral("cancelled"));
    }

    void workerReportsMissingRoot()
    {
        const QString missing = m_tmp.filePath(QStringLiteral("nope"));
        DatasetScanner scanner(missing);
        QSignalSpy failedSpy(&scanner, &DatasetScanner::failed);
        scanner.start();
        QCOMPARE(failedSpy.count(), 1);
        QCOMPARE(
            failedSpy.at(0).at(0).toString(), QStringLiteral("no such folder: %1").arg(missing));
    }
};

QTEST_GUILESS_MAIN(TestDatasetScanner)
#include "tst_datasetscanner.moc"
