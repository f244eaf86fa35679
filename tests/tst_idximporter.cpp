// Tests for importIdx(): raw and gzip-compressed IDX files become one grayscale PNG per image in
// per-class folders with exact pixel values; limit; and refusal of malformed input before any file
// is written.

#include "dataset/idximporter.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <zlib.h>

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <utility>
#include <vector>

using namespace leantune;

namespace {

constexpr int kCount = 12;
constexpr int kRows = 5;
constexpr int kCols = 4; // not square, so a rows/columns mix-up shows

// An IDX file: magic 0x0000 08 NDIMS, big-endian sizes, then DATA.
QByteArray idx(
    int ndims, const std::vector<quint32> &dims, const QByteArray &data, uchar type = 0x08)
{
    QByteArray bytes(4 + 4 * int(dims.size()), '\0');
    bytes[2] = char(type);
    bytes[3] = char(ndims);
    for (size_t i = 0; i < dims.size(); ++i)
        qToBigEndian<quint32>(dims[i], bytes.data() + 4 + 4 * i);
    return bytes + data;
}

uchar pixel(int image, int row, int col)
{
    return uchar(image * 31 + row * 7 + col * 3);
}

QByteArray imageData(int count)
{
    QByteArray data;
    for (int i = 0; i < count; ++i)
        for (int r = 0; r < kRows; ++r)
            for (int c = 0; c < kCols; ++c)
                data.append(char(pixel(i, r, c)));
    return data;
}

QByteArray labelData(int count, int classes = 3)
{
    QByteArray data;
    for (int i = 0; i < count; ++i)
        data.append(char(i % classes));
    return data;
}

QByteArray images(int count = kCount)
{
    return idx(3, { quint32(count), kRows, kCols }, imageData(count));
}
QByteArray labels(int count = kCount)
{
    return idx(1, { quint32(count) }, labelData(count));
}

bool writeRaw(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

bool writeGz(const QString &path, const QByteArray &bytes)
{
    gzFile gz = gzopen(QFile::encodeName(path).constData(), "wb");
    if (!gz)
        return false;
    const int written
        = bytes.isEmpty() ? 0 : gzwrite(gz, bytes.constData(), unsigned(bytes.size()));
    return gzclose(gz) == Z_OK && written == bytes.size();
}

int countPngs(const QString &dir)
{
    int n = 0;
    QDirIterator it(dir, { QStringLiteral("*.png") }, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        ++n;
    }
    return n;
}

const QStringList kClasses { QStringLiteral("zero"), QStringLiteral("one"), QStringLiteral("two") };

} // namespace

class TestIdxImporter : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    int m_case = 0;

    // A fresh folder per test, so outputs never mix.
    QString freshDir()
    {
        const QString dir = m_tmp.filePath(QStringLiteral("case%1").arg(++m_case));
        QDir().mkpath(dir);
        return dir;
    }

    // Writes images and labels (gzip-compressed when GZ) into DIR; returns their paths.
    std::pair<QString, QString> writeInputs(
        const QString &dir, const QByteArray &imageBytes, const QByteArray &labelBytes, bool gz)
    {
        const QString suffix = gz ? QStringLiteral(".gz") : QString();
        const QString imagesPath = dir + QStringLiteral("/images-idx3-ubyte") + suffix;
        const QString labelsPath = dir + QStringLiteral("/labels-idx1-ubyte") + suffix;
        const bool ok = gz ? writeGz(imagesPath, imageBytes) && writeGz(labelsPath, labelBytes)
                           : writeRaw(imagesPath, imageBytes) && writeRaw(labelsPath, labelBytes);
        return ok ? std::make_pair(imagesPath, labelsPath) : std::make_pair(QString(), QString());
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_tmp.isValid()); }

    void importWritesOnePngPerImageIntoClassFolders_data()
    {
        QTest::addColumn<bool>("gz");
        QTest::newRow("raw") << false;
        QTest::newRow("gzip") << true;
    }

    void importWritesOnePngPerImageIntoClassFolders()
    {
        QFETCH(bool, gz);
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), gz);
        QVERIFY(!imagesPath.isEmpty());
        const QString out = dir + QStringLiteral("/out");
        IdxImportOptions options;
        options.classNames = kClasses;
        QString error;
        const std::optional<IdxImportResult> result
            = importIdx(imagesPath, labelsPath, out, options, &error);
        QVERIFY2(result, qPrintable(error));
        QCOMPARE(result->images, kCount);
        QCOMPARE(result->classes, kClasses);
        for (const QString &name : kClasses)
            QCOMPARE(countPngs(out + QLatin1Char('/') + name), kCount / 3);
        // Zero-padded global index: image 4 has label 1.
        QVERIFY(QFile::exists(out + QStringLiteral("/one/00004.png")));
        QVERIFY(QFile::exists(out + QStringLiteral("/two/00011.png")));
    }

    void pixelValuesRoundTrip_data() { importWritesOnePngPerImageIntoClassFolders_data(); }

    void pixelValuesRoundTrip()
    {
        QFETCH(bool, gz);
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), gz);
        const QString out = dir + QStringLiteral("/out");
        IdxImportOptions options;
        options.classNames = kClasses;
        QString error;
        QVERIFY2(importIdx(imagesPath, labelsPath, out, options, &error), qPrintable(error));
        for (int i = 0; i < kCount; ++i) {
            const QString path = QStringLiteral("%1/%2/%3.png")
                                     .arg(out, kClasses.at(i % 3))
                                     .arg(i, 5, 10, QLatin1Char('0'));
            const cv::Mat png
                = cv::imread(QFile::encodeName(path).toStdString(), cv::IMREAD_UNCHANGED);
            QVERIFY2(!png.empty(), qPrintable(path));
            QCOMPARE(png.type(), CV_8UC1);
            QCOMPARE(png.rows, kRows);
            QCOMPARE(png.cols, kCols);
            for (int r = 0; r < kRows; ++r)
                for (int c = 0; c < kCols; ++c)
                    QCOMPARE(png.at<uchar>(r, c), pixel(i, r, c));
        }
    }

    void limitImportsTheFirstImages()
    {
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), true);
        const QString out = dir + QStringLiteral("/out");
        IdxImportOptions options;
        options.classNames = kClasses;
        options.limit = 5;
        QString error;
        const std::optional<IdxImportResult> result
            = importIdx(imagesPath, labelsPath, out, options, &error);
        QVERIFY2(result, qPrintable(error));
        QCOMPARE(result->images, 5);
        QCOMPARE(countPngs(out), 5);
        QVERIFY(QFile::exists(out + QStringLiteral("/one/00004.png")));
        QVERIFY(!QFile::exists(out + QStringLiteral("/two/00005.png")));
        for (const QString &name : kClasses)
            QVERIFY(QFileInfo(out + QLatin1Char('/') + name).isDir()); // every class has a folder
    }

    void defaultClassNamesAreFashionMnist()
    {
        const QStringList expected { QStringLiteral("T-shirt_top"), QStringLiteral("Trouser"),
            QStringLiteral("Pullover"), QStringLiteral("Dress"), QStringLiteral("Coat"),
            QStringLiteral("Sandal"), QStringLiteral("Shirt"), QStringLiteral("Sneaker"),
            QStringLiteral("Bag"), QStringLiteral("Ankle_boot") };
        QCOMPARE(fashionMnistClassNames(), expected);

        const QString dir = freshDir();
        const auto [imagesPath, labelsPath]
            = writeInputs(dir, images(), idx(1, { kCount }, labelData(kCount, 10)), false);
        const QString out = dir + QStringLiteral("/out");
        QString error;
        const std::optional<IdxImportResult> result
            = importIdx(imagesPath, labelsPath, out, {}, &error);
        QVERIFY2(result, qPrintable(error));
        QCOMPARE(result->classes, expected);
        QStringList folders = QDir(out).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QStringList sortedExpected = expected;
        folders.sort();
        sortedExpected.sort();
        QCOMPARE(folders, sortedExpected);
        QVERIFY(QFile::exists(out + QStringLiteral("/Ankle_boot/00009.png")));
    }

    void progressEndsWithTheImageCount()
    {
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), false);
        IdxImportOptions options;
        options.classNames = kClasses;
        std::vector<std::pair<int, int>> calls;
        QString error;
        QVERIFY2(importIdx(imagesPath, labelsPath, dir + QStringLiteral("/out"), options, &error,
                     [&](int done, int total) { calls.emplace_back(done, total); }),
            qPrintable(error));
        QVERIFY(!calls.empty());
        QCOMPARE(calls.back(), std::make_pair(kCount, kCount));
    }

    void malformedInputIsRejected_data()
    {
        QTest::addColumn<QByteArray>("imageBytes");
        QTest::addColumn<QByteArray>("labelBytes");
        QTest::addColumn<bool>("gz");
        QTest::addColumn<QString>("expected"); // part of the error message

        const QByteArray img = imageData(kCount);
        QTest::newRow("image magic not IDX")
            << idx(3, { kCount, kRows, kCols }, img, 0x0D) << labels() << false
            << QStringLiteral("not an IDX file of unsigned bytes (magic 0x00000d03, expected "
                              "0x00000803)");
        QTest::newRow("labels given as images")
            << labels() << labels() << false << QStringLiteral("must have 3 dimension(s)");
        QTest::newRow("label file with 2 dimensions")
            << images() << idx(2, { kCount, 1 }, labelData(kCount)) << false
            << QStringLiteral("must have 1 dimension(s)");
        QTest::newRow("count mismatch")
            << images() << labels(kCount - 1) << false << QStringLiteral("count mismatch");
        QTest::newRow("short image data")
            << idx(3, { kCount, kRows, kCols }, img.left(img.size() - 1)) << labels() << false
            << QStringLiteral("shorter than its header says");
        QTest::newRow("short image data gzip")
            << idx(3, { kCount, kRows, kCols }, img.left(img.size() - 1)) << labels() << true
            << QStringLiteral("shorter than its header says");
        QTest::newRow("short label data")
            << images() << idx(1, { kCount }, labelData(kCount - 2)) << false
            << QStringLiteral("shorter than its header says");
        QTest::newRow("header cut")
            << images().left(10) << labels() << false << QStringLiteral("IDX header incomplete");
        QTest::newRow("empty image file")
            << QByteArray() << labels() << false << QStringLiteral("too short for an IDX header");
        // fuzz_idx found this one: a label header claiming 0xffffffff labels made the importer
        // allocate 4 GB before noticing the file holds 3 bytes.
        QTest::newRow("absurd label count (fuzz_idx oom)")
            << images() << idx(1, { 0xffffffffu }, labelData(3)) << false
            << QStringLiteral(
                   "shorter than its header says (4294967295 labels declared, 3 present)");
        QTest::newRow("label out of range")
            << images() << idx(1, { kCount }, labelData(kCount, 4)) << false
            << QStringLiteral("label 3 of item 3 is out of range (3 class names)");
    }

    void malformedInputIsRejected()
    {
        QFETCH(QByteArray, imageBytes);
        QFETCH(QByteArray, labelBytes);
        QFETCH(bool, gz);
        QFETCH(QString, expected);
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, imageBytes, labelBytes, gz);
        QVERIFY(!imagesPath.isEmpty());
        const QString out = dir + QStringLiteral("/out");
        IdxImportOptions options;
        options.classNames = kClasses;
        QString error;
        QVERIFY(!importIdx(imagesPath, labelsPath, out, options, &error));
        QVERIFY2(error.contains(expected), qPrintable(error));
        QCOMPARE(countPngs(dir), 0); // checked before anything is written
    }

    void truncatedGzipStreamIsRejected()
    {
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(200), labels(200), true);
        QFile file(imagesPath);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.resize(file.size() / 2));
        file.close();
        IdxImportOptions options;
        options.classNames = kClasses;
        QString error;
        QVERIFY(!importIdx(imagesPath, labelsPath, dir + QStringLiteral("/out"), options, &error));
        QVERIFY2(error.contains(imagesPath) && error.contains(QStringLiteral("truncated")),
            qPrintable(error));
        QCOMPARE(countPngs(dir), 0);
    }

    void missingFileIsRejected()
    {
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), false);
        const QString missing = dir + QStringLiteral("/missing-idx3-ubyte");
        QString error;
        QVERIFY(!importIdx(missing, labelsPath, dir + QStringLiteral("/out"), {}, &error));
        QCOMPARE(error, QStringLiteral("no such file: %1").arg(missing));
    }

    void invalidClassNameIsRejected()
    {
        const QString dir = freshDir();
        const auto [imagesPath, labelsPath] = writeInputs(dir, images(), labels(), false);
        IdxImportOptions options;
        options.classNames
            = { QStringLiteral("a"), QStringLiteral("../escape"), QStringLiteral("c") };
        QString error;
        QVERIFY(!importIdx(imagesPath, labelsPath, dir + QStringLiteral("/out"), options, &error));
        QVERIFY2(error.startsWith(QStringLiteral("invalid class name \"../escape\"")),
            qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestIdxImporter)
#include "tst_idximporter.moc"
