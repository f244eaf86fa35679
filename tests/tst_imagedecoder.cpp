// Tests for decodeImageInto()/decodeFileInto(): pixel formats and normalization, reduced JPEG
// decoding, seeded augmentation, and refusal of corrupt or oversized data.

#include "dataset/imagedecoder_p.h"
#include "dataset/jpegregiondecoder_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <cmath>
#include <vector>

using namespace leantune;

Q_DECLARE_METATYPE(std::vector<int>)

namespace {

QByteArray encode(const cv::Mat &image, const char *extension, const std::vector<int> &params = {})
{
    std::vector<uchar> bytes;
    if (!cv::imencode(extension, image, bytes, params))
        return {};
    return QByteArray(reinterpret_cast<const char *>(bytes.data()), static_cast<int>(bytes.size()));
}

quint32 crc32(const QByteArray &data)
{
    quint32 crc = 0xffffffffu;
    for (char ch : data) {
        crc ^= static_cast<uchar>(ch);
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

QByteArray pngChunk(const char *type, const QByteArray &payload)
{
    QByteArray typed = QByteArray(type) + payload;
    QByteArray chunk(4, '\0');
    qToBigEndian<quint32>(static_cast<quint32>(payload.size()), chunk.data());
    chunk += typed;
    QByteArray crc(4, '\0');
    qToBigEndian<quint32>(crc32(typed), crc.data());
    return chunk + crc;
}

// An 8-bit gray+alpha PNG (colour type 4), which cv::imwrite cannot write.
QByteArray grayAlphaPng(int width, int height, uchar gray, uchar alpha)
{
    QByteArray header(13, '\0');
    qToBigEndian<quint32>(static_cast<quint32>(width), header.data());
    qToBigEndian<quint32>(static_cast<quint32>(height), header.data() + 4);
    header[8] = 8; // bit depth
    header[9] = 4; // gray + alpha
    QByteArray raw;
    for (int y = 0; y < height; ++y) {
        raw += '\0'; // filter: none
        for (int x = 0; x < width; ++x) {
            raw += static_cast<char>(gray);
            raw += static_cast<char>(alpha);
        }
    }
    const QByteArray zlibStream = qCompress(raw).mid(4); // qCompress prefixes the length
    return QByteArray("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", header)
        + pngChunk("IDAT", zlibStream) + pngChunk("IEND", QByteArray());
}

cv::Mat uniform(int width, int height, int type, const cv::Scalar &value)
{
    return cv::Mat(height, width, type, value);
}

// A photo-like 256 × 192 colour test image: smooth gradients, a disc and some sharp bars.
cv::Mat photoLike()
{
    cv::Mat image(192, 256, CV_8UC3);
    for (int y = 0; y < image.rows; ++y) {
        for (int x = 0; x < image.cols; ++x)
            image.at<cv::Vec3b>(y, x) = cv::Vec3b(
                static_cast<uchar>(x), static_cast<uchar>(y + 40), static_cast<uchar>((x + y) / 2));
    }
    cv::circle(image, cv::Point(150, 90), 50, cv::Scalar(30, 200, 250), cv::FILLED, cv::LINE_AA);
    for (int i = 0; i < 6; ++i)
        cv::rectangle(
            image, cv::Rect(20 + 12 * i, 120, 6, 50), cv::Scalar(255, 255, 255), cv::FILLED);
    return image;
}

DecodeOptions optionsFor(int inputSize, int channels)
{
    DecodeOptions options;
    options.inputSize = inputSize;
    options.channels = channels;
    return options;
}

std::vector<float> decode(const QByteArray &bytes, const DecodeOptions &options, quint64 seed = 0,
    bool *ok = nullptr, QString *error = nullptr)
{
    std::vector<float> out(
        static_cast<std::size_t>(options.channels * options.inputSize * options.inputSize),
        -1000.f);
    std::mt19937_64 rng(seed);
    QString message;
    const bool decoded = decodeImageInto(bytes, options, rng, out.data(), &message);
    if (ok)
        *ok = decoded;
    if (error)
        *error = message;
    return out;
}

} // namespace

class TestImageDecoder : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void pixelFormatsAreConvertedAndNormalized_data();
    void pixelFormatsAreConvertedAndNormalized();
    void normalizationMapsFullRange();
    void jpegReductionFactor_data();
    void jpegReductionFactor();
    void reducedJpegMatchesFullDecode_data();
    void reducedJpegMatchesFullDecode();
    void jpegCropReductionFactor_data();
    void jpegCropReductionFactor();
    void regionDecodeMatchesFullDecode_data();
    void regionDecodeMatchesFullDecode();
    void regionDecodeRefusesTruncatedJpeg();
    void augmentedCropDecodeMatchesOpenCvPath_data();
    void augmentedCropDecodeMatchesOpenCvPath();
    void storedImageGivesExactlyTheDecodedOutput_data();
    void storedImageGivesExactlyTheDecodedOutput();
    void augmentationIsDeterministicPerSeed();
    void augmentationFlipsAboutHalfTheTime();
    void corruptDataIsRefused_data();
    void corruptDataIsRefused();
    void imageOverDecodedBytesLimitIsRefused();
    void invalidOptionsAreRefused();
    void decodeFileReadsFilesAndReportsMissingOnes();
};

void TestImageDecoder::pixelFormatsAreConvertedAndNormalized_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<int>("channels");
    QTest::addColumn<std::vector<int>>("expected"); // 8-bit value per output channel (RGB order)
    QTest::addColumn<int>("tolerance"); // in 8-bit levels

    const cv::Scalar bgr(50, 100, 200); // R = 200, G = 100, B = 50
    const int grayOfBgr = 124; // 0.299 R + 0.587 G + 0.114 B = 124.2
    const cv::Mat gray8 = uniform(40, 30, CV_8UC1, cv::Scalar(200));
    const cv::Mat bgr8 = uniform(40, 30, CV_8UC3, bgr);
    const cv::Mat bgra8 = uniform(40, 30, CV_8UC4, cv::Scalar(50, 100, 200, 128));
    const cv::Mat gray16 = uniform(40, 30, CV_16UC1, cv::Scalar(51400)); // 51400 / 257 = 200
    const cv::Mat bgr16 = uniform(40, 30, CV_16UC3, cv::Scalar(12850, 25700, 51400));

    QTest::newRow("gray png, 1 channel")
        << encode(gray8, ".png") << 1 << std::vector<int> { 200 } << 0;
    QTest::newRow("gray png, 3 channels replicate")
        << encode(gray8, ".png") << 3 << std::vector<int> { 200, 200, 200 } << 0;
    QTest::newRow("gray png, upscaled") << encode(uniform(5, 7, CV_8UC1, cv::Scalar(77)), ".png")
                                        << 1 << std::vector<int> { 77 } << 0;
    QTest::newRow("colour png, RGB order")
        << encode(bgr8, ".png") << 3 << std::vector<int> { 200, 100, 50 } << 0;
    QTest::newRow("colour png, to gray")
        << encode(bgr8, ".png") << 1 << std::vector<int> { grayOfBgr } << 1;
    QTest::newRow("rgba png, alpha dropped")
        << encode(bgra8, ".png") << 3 << std::vector<int> { 200, 100, 50 } << 0;
    QTest::newRow("rgba png, to gray")
        << encode(bgra8, ".png") << 1 << std::vector<int> { grayOfBgr } << 1;
    QTest::newRow("gray+alpha png, 1 channel")
        << grayAlphaPng(40, 30, 90, 40) << 1 << std::vector<int> { 90 } << 0;
    QTest::newRow("gray+alpha png, 3 channels")
        << grayAlphaPng(40, 30, 90, 40) << 3 << std::vector<int> { 90, 90, 90 } << 0;
    QTest::newRow("16-bit gray png")
        << encode(gray16, ".png") << 1 << std::vector<int> { 200 } << 0;
    QTest::newRow("16-bit colour png")
        << encode(bgr16, ".png") << 3 << std::vector<int> { 200, 100, 50 } << 0;
    QTest::newRow("16-bit gray tiff")
        << encode(gray16, ".tiff") << 1 << std::vector<int> { 200 } << 0;
    QTest::newRow("colour bmp") << encode(bgr8, ".bmp") << 3 << std::vector<int> { 200, 100, 50 }
                                << 0;
    // JPEG is lossy, but a flat colour survives within a few levels (chroma rounding).
    QTest::newRow("gray jpeg") << encode(gray8, ".jpg", { cv::IMWRITE_JPEG_QUALITY, 95 }) << 1
                               << std::vector<int> { 200 } << 2;
    QTest::newRow("colour jpeg, reduced decode")
        << encode(uniform(256, 192, CV_8UC3, bgr), ".jpg", { cv::IMWRITE_JPEG_QUALITY, 95 }) << 3
        << std::vector<int> { 200, 100, 50 } << 4;
}

void TestImageDecoder::pixelFormatsAreConvertedAndNormalized()
{
    QFETCH(QByteArray, bytes);
    QFETCH(int, channels);
    QFETCH(std::vector<int>, expected);
    QFETCH(int, tolerance);
    QVERIFY(!bytes.isEmpty());

    DecodeOptions options = optionsFor(16, channels);
    const float mean[3] = { 0.5f, 0.4f, 0.3f };
    const float stdDev[3] = { 0.25f, 0.2f, 0.5f };
    for (int c = 0; c < 3; ++c) {
        options.mean[c] = mean[c];
        options.std[c] = stdDev[c];
    }
    bool ok = false;
    QString error;
    const std::vector<float> out = decode(bytes, options, 0, &ok, &error);
    QVERIFY2(ok, qPrintable(error));

    const std::size_t plane = 16 * 16;
    for (int c = 0; c < channels; ++c) {
        for (std::size_t i = 0; i < plane; ++i) {
            const float level = (out[c * plane + i] * stdDev[c] + mean[c]) * 255.f;
            if (std::abs(level - static_cast<float>(expected[c])) > tolerance + 1e-3f)
                QFAIL(qPrintable(QStringLiteral("channel %1 pixel %2: level %3, expected %4")
                                     .arg(c)
                                     .arg(i)
                                     .arg(level)
                                     .arg(expected[c])));
        }
    }
}

void TestImageDecoder::normalizationMapsFullRange()
{
    // A 16 × 16 checkerboard of 0 and 255 at output size (no resampling): with mean 0.5 and std 0.5
    // every value must be exactly -1 or +1.
    cv::Mat board(16, 16, CV_8UC1);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)
            board.at<uchar>(y, x) = ((x + y) % 2) ? 255 : 0;
    DecodeOptions options = optionsFor(16, 1);
    options.mean[0] = 0.5f;
    options.std[0] = 0.5f;
    bool ok = false;
    const std::vector<float> out = decode(encode(board, ".png"), options, 0, &ok);
    QVERIFY(ok);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)
            QCOMPARE(out[static_cast<std::size_t>(y * 16 + x)], ((x + y) % 2) ? 1.f : -1.f);
}

void TestImageDecoder::jpegReductionFactor_data()
{
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("height");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<bool>("augment");
    QTest::addColumn<int>("factor");

    QTest::newRow("192 short side, 64 out") << 256 << 192 << 64 << false << 2;
    QTest::newRow("exactly 8x") << 256 << 192 << 24 << false << 8;
    QTest::newRow("just under 8x") << 256 << 192 << 25 << false << 4;
    QTest::newRow("augment needs input/0.8") << 256 << 192 << 28 << true << 4;
    QTest::newRow("augment, 2x only") << 256 << 192 << 48 << true << 2;
    QTest::newRow("under 2x: full decode") << 100 << 100 << 64 << false << 1;
    QTest::newRow("odd size rounds up") << 255 << 193 << 97 << false << 2;
    QTest::newRow("portrait uses shorter side") << 120 << 640 << 30 << false << 4;
    QTest::newRow("smaller than output") << 20 << 20 << 28 << false << 1;
}

void TestImageDecoder::jpegReductionFactor()
{
    QFETCH(int, width);
    QFETCH(int, height);
    QFETCH(int, inputSize);
    QFETCH(bool, augment);
    QFETCH(int, factor);
    DecodeOptions options = optionsFor(inputSize, 3);
    options.augment = augment;
    QCOMPARE(leantune::jpegReductionFactor(width, height, options), factor);
}

void TestImageDecoder::reducedJpegMatchesFullDecode_data()
{
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<double>("maxMeanAbs"); // 8-bit levels

    // DCT-domain scaling is a box filter, as the area resize of a full decode is; they differ by
    // IDCT rounding and by where the two box grids fall on sharp edges (measured: 0.2–0.5 levels at
    // 2x and 4x). At 8x a 4:2:0 JPEG's colour is averaged over 16 × 16 blocks, coarser than an
    // output pixel (measured 2.1 levels). The bounds leave ~2x margin for other libjpeg builds and
    // stay far below what a wrong scale, offset or channel order gives (tens of levels).
    QTest::newRow("colour, 2x reduced") << 3 << 64 << 1.0;
    QTest::newRow("colour, 8x reduced") << 3 << 24 << 4.0;
    QTest::newRow("gray, 2x reduced") << 1 << 64 << 1.0;
    QTest::newRow("gray, 4x reduced") << 1 << 32 << 1.0;
}

void TestImageDecoder::reducedJpegMatchesFullDecode()
{
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    QFETCH(double, maxMeanAbs);
    const DecodeOptions options = optionsFor(inputSize, channels);
    QVERIFY(leantune::jpegReductionFactor(256, 192, options) > 1);

    const QByteArray jpeg = encode(photoLike(), ".jpg", { cv::IMWRITE_JPEG_QUALITY, 95 });
    bool ok = false;
    const std::vector<float> reduced = decode(jpeg, options, 0, &ok);
    QVERIFY(ok);

    // Reference: full-size decode, then area resize (what the decoder does without reduction).
    const cv::Mat buffer(
        1, static_cast<int>(jpeg.size()), CV_8U, const_cast<char *>(jpeg.constData()));
    cv::Mat full = cv::imdecode(buffer, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    QVERIFY(!full.empty());
    cv::Mat resized;
    cv::resize(full, resized, cv::Size(inputSize, inputSize), 0, 0, cv::INTER_AREA);

    double sumAbs = 0.0;
    const std::size_t plane = static_cast<std::size_t>(inputSize * inputSize);
    for (int c = 0; c < channels; ++c) {
        for (int y = 0; y < inputSize; ++y) {
            for (int x = 0; x < inputSize; ++x) {
                const double expected
                    = channels == 1 ? resized.at<uchar>(y, x) : resized.at<cv::Vec3b>(y, x)[2 - c];
                const double got
                    = reduced[c * plane + static_cast<std::size_t>(y * inputSize + x)] * 255.0;
                sumAbs += std::abs(got - expected);
            }
        }
    }
    const double meanAbs = sumAbs / static_cast<double>(channels * plane);
    QVERIFY2(
        meanAbs < maxMeanAbs, qPrintable(QStringLiteral("mean abs diff %1 levels").arg(meanAbs)));
}

void TestImageDecoder::jpegCropReductionFactor_data()
{
    QTest::addColumn<int>("side");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<int>("factor");
    QTest::newRow("crop under 2x the output: full") << 300 << 224 << 1;
    QTest::newRow("exactly 2x") << 448 << 224 << 2;
    QTest::newRow("just under 2x") << 447 << 224 << 1;
    QTest::newRow("375 to 64: 4x") << 375 << 64 << 4;
    QTest::newRow("600 to 64: 8x") << 600 << 64 << 8;
    QTest::newRow("smaller than the output") << 20 << 28 << 1;
}

void TestImageDecoder::jpegCropReductionFactor()
{
    QFETCH(int, side);
    QFETCH(int, inputSize);
    QFETCH(int, factor);
    QCOMPARE(leantune::jpegCropReductionFactor(side, side, inputSize), factor);
    QCOMPARE(leantune::jpegCropReductionFactor(side + 100, side, inputSize),
        factor); // the shorter side counts
}

void TestImageDecoder::regionDecodeMatchesFullDecode_data()
{
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("factor");
    QTest::addColumn<int>("x");
    QTest::addColumn<int>("y");
    QTest::addColumn<int>("side");
    // Inside the region the pixels are libjpeg's own; only columns next to the iMCU edges of the
    // cropped window may differ (fancy upsampling treats them as image edges): well under a level.
    QTest::newRow("colour, unaligned window") << 3 << 1 << 37 << 21 << 150;
    QTest::newRow("colour, aligned window") << 3 << 1 << 32 << 16 << 128;
    QTest::newRow("colour, 2x reduced") << 3 << 2 << 40 << 30 << 140;
    QTest::newRow("gray, 4x reduced") << 1 << 4 << 64 << 8 << 180;
    QTest::newRow("whole image") << 3 << 1 << 0 << 0 << 192;
}

void TestImageDecoder::regionDecodeMatchesFullDecode()
{
    if (!jpegRegionDecoderAvailable())
        QSKIP("built without libjpeg-turbo");
    QFETCH(int, channels);
    QFETCH(int, factor);
    QFETCH(int, x);
    QFETCH(int, y);
    QFETCH(int, side);
    const QByteArray jpeg = encode(photoLike(), ".jpg", { cv::IMWRITE_JPEG_QUALITY, 90 });
    cv::Mat decoded;
    cv::Rect region;
    QVERIFY(decodeJpegRegion(jpeg.constData(), std::size_t(jpeg.size()), channels, factor,
        cv::Rect(x, y, side, side), &decoded, &region));
    QCOMPARE(decoded.channels(), channels);
    QCOMPARE(region.width, (x + side + factor - 1) / factor - x / factor);
    QCOMPARE(region.height, (y + side + factor - 1) / factor - y / factor);
    QVERIFY(region.x >= 0 && region.x + region.width <= decoded.cols);

    // Reference: OpenCV decodes the whole image at the same scale; take the same window.
    int flags = channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
    if (factor == 2)
        flags = channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
    else if (factor == 4)
        flags = channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
    const cv::Mat buffer(
        1, static_cast<int>(jpeg.size()), CV_8U, const_cast<char *>(jpeg.constData()));
    const cv::Mat full = cv::imdecode(buffer, flags);
    QVERIFY(!full.empty());
    const cv::Mat expected = full(cv::Rect(x / factor, y / factor, region.width, region.height));
    cv::Mat diff;
    cv::absdiff(decoded(region), expected, diff);
    const cv::Scalar mean = cv::mean(diff);
    const double meanAbs = (mean[0] + mean[1] + mean[2]) / channels;
    QVERIFY2(meanAbs < 0.5, qPrintable(QStringLiteral("mean abs diff %1 levels").arg(meanAbs)));
}

void TestImageDecoder::regionDecodeRefusesTruncatedJpeg()
{
    if (!jpegRegionDecoderAvailable())
        QSKIP("built without libjpeg-turbo");
    const QByteArray jpeg = encode(photoLike(), ".jpg");
    const QByteArray truncated = jpeg.left(jpeg.size() * 2 / 3);
    cv::Mat decoded;
    cv::Rect region;
    // libjpeg only warns about the missing data: the region decoder refuses, so OpenCV judges the
    // file as it always has.
    QVERIFY(!decodeJpegRegion(truncated.constData(), std::size_t(truncated.size()), 3, 1,
        cv::Rect(0, 0, 256, 192), &decoded, &region));
    QVERIFY(!decodeJpegRegion("\xff\xd8garbage", 9, 3, 1, cv::Rect(0, 0, 8, 8), &decoded, &region));
    QVERIFY(decodeJpegRegion(jpeg.constData(), std::size_t(jpeg.size()), 3, 1,
        cv::Rect(0, 0, 256, 192), &decoded, &region));
}

void TestImageDecoder::augmentedCropDecodeMatchesOpenCvPath_data()
{
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    QTest::newRow("colour 32 (4x reduced)") << 3 << 32;
    QTest::newRow("colour 96 (full-size crop)") << 3 << 96;
    QTest::newRow("gray 64") << 1 << 64;
}

void TestImageDecoder::augmentedCropDecodeMatchesOpenCvPath()
{
    if (!jpegRegionDecoderAvailable())
        QSKIP("built without libjpeg-turbo");
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    const QByteArray jpeg = encode(photoLike(), ".jpg", { cv::IMWRITE_JPEG_QUALITY, 90 });
    DecodeOptions region = optionsFor(inputSize, channels);
    region.augment = true;
    DecodeOptions opencv = region;
    opencv.regionDecode = false;
    double worst = 0.0;
    for (quint64 seed = 0; seed < 8; ++seed) {
        bool ok1 = false, ok2 = false;
        const std::vector<float> a = decode(jpeg, region, seed, &ok1);
        const std::vector<float> b = decode(jpeg, opencv, seed, &ok2);
        QVERIFY(ok1 && ok2);
        double sumAbs = 0.0;
        for (std::size_t i = 0; i < a.size(); ++i)
            sumAbs += std::abs(a[i] - b[i]) * 255.0;
        worst = std::max(worst, sumAbs / double(a.size()));
    }
    // The same crop and flip from the same seed: only the decode scale of the window may differ
    // (the crop's own factor vs the whole image's), i.e. box-filter rounding.
    QVERIFY2(worst < 2.0, qPrintable(QStringLiteral("mean abs diff %1 levels").arg(worst)));
}

void TestImageDecoder::storedImageGivesExactlyTheDecodedOutput_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    const QByteArray jpeg = encode(photoLike(), ".jpg", { cv::IMWRITE_JPEG_QUALITY, 90 });
    const QByteArray png = encode(photoLike(), ".png");
    QTest::newRow("jpeg colour, reduced decode") << jpeg << 3 << 48;
    QTest::newRow("jpeg gray, full decode") << jpeg << 1 << 150;
    QTest::newRow("png colour") << png << 3 << 32;
    QTest::newRow("png enlarged") << png << 3 << 300;
}

void TestImageDecoder::storedImageGivesExactlyTheDecodedOutput()
{
    QFETCH(QByteArray, bytes);
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    DecodeOptions options = optionsFor(inputSize, channels);
    options.mean[0] = 0.3f;
    options.std[2] = 0.2f;
    bool ok = false;
    const std::vector<float> direct = decode(bytes, options, 0, &ok);
    QVERIFY(ok);
    StoredImage stored;
    QString error;
    QVERIFY2(decodeToStored(bytes, options, &stored, &error), qPrintable(error));
    QCOMPARE(stored.width, inputSize);
    QCOMPARE(stored.height, inputSize);
    QCOMPARE(stored.channels, channels);
    std::vector<float> fromStored(direct.size(), -1000.f);
    std::mt19937_64 rng(0);
    writeFromStored(
        stored.pixels.data(), stored.width, stored.height, options, rng, fromStored.data());
    QVERIFY(fromStored == direct); // bit for bit
}

void TestImageDecoder::augmentationIsDeterministicPerSeed()
{
    const QByteArray png = encode(photoLike(), ".png");
    DecodeOptions options = optionsFor(32, 3);
    options.augment = true;

    bool ok1 = false, ok2 = false, ok3 = false;
    const std::vector<float> a = decode(png, options, 1234, &ok1);
    const std::vector<float> b = decode(png, options, 1234, &ok2);
    const std::vector<float> c = decode(png, options, 98765, &ok3);
    QVERIFY(ok1 && ok2 && ok3);
    QVERIFY(a == b);
    QVERIFY(a != c);

    options.augment = false;
    const std::vector<float> plain1 = decode(png, options, 1);
    const std::vector<float> plain2 = decode(png, options, 2);
    QVERIFY(plain1 == plain2); // without augmentation the rng does not matter
    QVERIFY(plain1 != a);
}

void TestImageDecoder::augmentationFlipsAboutHalfTheTime()
{
    // Left half black, right half white. Any crop (≥ 80 of 100 columns) spans the middle, so an
    // unflipped output starts dark and ends bright, a flipped one the reverse.
    cv::Mat image(100, 100, CV_8UC1, cv::Scalar(0));
    image(cv::Rect(50, 0, 50, 100)).setTo(255);
    const QByteArray png = encode(image, ".png");
    DecodeOptions options = optionsFor(16, 1);
    options.augment = true;

    int flipped = 0, unflipped = 0;
    for (quint64 seed = 0; seed < 64; ++seed) {
        bool ok = false;
        const std::vector<float> out = decode(png, options, seed, &ok);
        QVERIFY(ok);
        const float left = out[8 * 16 + 0];
        const float right = out[8 * 16 + 15];
        if (left < 0.1f && right > 0.9f)
            ++unflipped;
        else if (left > 0.9f && right < 0.1f)
            ++flipped;
        else
            QFAIL("crop lost the left/right structure");
    }
    QCOMPARE(flipped + unflipped, 64);
    QVERIFY2(flipped >= 16 && unflipped >= 16,
        qPrintable(QStringLiteral("%1 flipped of 64").arg(flipped)));
}

void TestImageDecoder::corruptDataIsRefused_data()
{
    QTest::addColumn<QByteArray>("bytes");
    const QByteArray png = encode(photoLike(), ".png");
    const QByteArray jpeg = encode(photoLike(), ".jpg");

    QTest::newRow("empty") << QByteArray();
    QTest::newRow("text") << QByteArray("this is not an image, just a note\n");
    QByteArray garbage(4096, '\0');
    for (int i = 0; i < garbage.size(); ++i)
        garbage[i] = static_cast<char>((i * 7919 + 13) % 251);
    QTest::newRow("garbage") << garbage;
    QTest::newRow("png signature only") << png.left(8);
    QTest::newRow("truncated png") << png.left(png.size() / 2);
    QTest::newRow("jpeg cut before its frame header") << jpeg.left(100);
    QByteArray broken = png;
    for (int i = 100; i < broken.size() - 20; i += 7) // corrupt the compressed data
        broken[i] = static_cast<char>(~broken[i]);
    QTest::newRow("png with corrupt data") << broken;
    QTest::newRow("gif") << QByteArray("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
}

void TestImageDecoder::corruptDataIsRefused()
{
    QFETCH(QByteArray, bytes);
    bool ok = true;
    QString error;
    decode(bytes, optionsFor(16, 3), 0, &ok, &error);
    QVERIFY(!ok);
    QVERIFY(!error.isEmpty());
}

void TestImageDecoder::imageOverDecodedBytesLimitIsRefused()
{
    const QByteArray png = encode(uniform(200, 200, CV_8UC1, cv::Scalar(10)), ".png");
    DecodeOptions options = optionsFor(16, 1);
    options.maxDecodedBytes = 200 * 200 - 1; // 8-bit gray: one byte a pixel, no copy
    bool ok = true;
    QString error;
    decode(png, options, 0, &ok, &error);
    QVERIFY(!ok);
    QVERIFY2(error.contains(QStringLiteral("too large")), qPrintable(error));

    options.maxDecodedBytes = 200 * 200;
    decode(png, options, 0, &ok, &error);
    QVERIFY(ok);
}

void TestImageDecoder::invalidOptionsAreRefused()
{
    const QByteArray png = encode(uniform(20, 20, CV_8UC1, cv::Scalar(10)), ".png");
    bool ok = true;
    QString error;
    std::vector<float> out(2 * 16 * 16);
    std::mt19937_64 rng(0);
    QVERIFY(!decodeImageInto(png, optionsFor(16, 2), rng, out.data(), &error));
    QVERIFY(!error.isEmpty());
    QVERIFY(!decodeImageInto(png, optionsFor(16, 1), rng, nullptr, &error));
    decode(png, optionsFor(0, 1), 0, &ok, &error);
    QVERIFY(!ok);
}

void TestImageDecoder::decodeFileReadsFilesAndReportsMissingOnes()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("gray.png"));
    QVERIFY(cv::imwrite(path.toStdString(), uniform(20, 20, CV_8UC1, cv::Scalar(51))));

    std::vector<float> out(8 * 8, -1.f);
    std::mt19937_64 rng(0);
    QString error;
    QVERIFY2(decodeFileInto(path, optionsFor(8, 1), rng, out.data(), &error), qPrintable(error));
    for (float v : out)
        QCOMPARE(v, 51.f / 255.f);

    error.clear();
    QVERIFY(!decodeFileInto(
        dir.filePath(QStringLiteral("missing.png")), optionsFor(8, 1), rng, out.data(), &error));
    QVERIFY(error.contains(QStringLiteral("missing.png")));
}

QTEST_GUILESS_MAIN(TestImageDecoder)
#include "tst_imagedecoder.moc"
