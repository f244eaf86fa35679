#include "dataset/imagedecoder_p.h"

#include "dataset/imageprobe.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QFile>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

namespace leantune {

namespace {

constexpr double kMinCropScale = 0.8;   // augmentation crops 0.8–1.0 of the shorter side

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

// Uniform double in [0, 1) from the top 53 bits: the same on every platform, unlike
// std::uniform_real_distribution.
double uniformUnit(std::mt19937_64 &rng)
{
    return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

// Uniform integer in [0, n), n > 0 (unbiased, platform-independent).
int uniformBelow(std::mt19937_64 &rng, int n)
{
    const auto un = static_cast<std::uint64_t>(n);
    const std::uint64_t threshold = (0 - un) % un;
    for (;;) {
        const std::uint64_t r = rng();
        if (r >= threshold)
            return static_cast<int>(r % un);
    }
}

// Converts any depth OpenCV decodes to 8 bits. Returns false for depths images never carry.
bool toEightBit(cv::Mat &image)
{
    switch (image.depth()) {
    case CV_8U:
        return true;
    case CV_16U:
        image.convertTo(image, CV_8U, 1.0 / 257.0);   // 65535 → 255
        return true;
    case CV_32F:
    case CV_64F:
        image.convertTo(image, CV_8U, 255.0);         // HDR/EXR: [0, 1] → [0, 255], saturating
        return true;
    default:
        return false;
    }
}

// Reduces the decoded image to 1 channel (gray) or 3 channels (kept in BGR order; the writer swaps
// to RGB). Alpha is dropped. Gray stays 1 channel for a 3-channel target: the writer replicates it.
bool toTargetChannels(cv::Mat &image, int channels)
{
    switch (image.channels()) {
    case 1:
        return true;
    case 2:   // gray + alpha (not produced by OpenCV 4.6's decoders, handled anyway)
        cv::extractChannel(image, image, 0);
        return true;
    case 3:
        if (channels == 1)
            cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
        return true;
    case 4:
        cv::cvtColor(image, image, channels == 1 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGRA2BGR);
        return true;
    default:
        return false;
    }
}

// Writes SOURCE (size × size, 8-bit, 1 or 3 channels in BGR order) as normalized CHW floats.
void writeNormalized(const cv::Mat &source, const DecodeOptions &options, bool flip, float *out)
{
    const int size = options.inputSize;
    const int channels = options.channels;
    const std::size_t plane = static_cast<std::size_t>(size) * static_cast<std::size_t>(size);

    // (x/255 - mean) / std as a table per output channel: one lookup per pixel.
    float table[3][256];
    for (int c = 0; c < channels; ++c) {
        const float scale = 1.0f / (255.0f * options.std[c]);
        const float bias = options.mean[c] / options.std[c];
        for (int v = 0; v < 256; ++v)
            table[c][v] = static_cast<float>(v) * scale - bias;
    }

    const int sourceChannels = source.channels();
    for (int y = 0; y < size; ++y) {
        const uchar *row = source.ptr<uchar>(y);
        float *outRow = out + static_cast<std::size_t>(y) * static_cast<std::size_t>(size);
        for (int x = 0; x < size; ++x) {
            const int sx = flip ? size - 1 - x : x;
            if (sourceChannels == 1) {
                const uchar v = row[sx];
                for (int c = 0; c < channels; ++c)
                    outRow[c * plane + static_cast<std::size_t>(x)] = table[c][v];
            } else {
                const uchar *bgr = row + 3 * sx;
                for (int c = 0; c < channels; ++c)   // channels == 3 here: RGB = BGR reversed
                    outRow[c * plane + static_cast<std::size_t>(x)] = table[c][bgr[2 - c]];
            }
        }
    }
}

bool decodeImpl(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
                float *out, QString *error)
{
    if (!out || options.inputSize < 1 || (options.channels != 1 && options.channels != 3)) {
        setError(error, QStringLiteral("invalid decode options (input size %1, %2 channels)")
                            .arg(options.inputSize)
                            .arg(options.channels));
        return false;
    }
    if (encoded.isEmpty()) {
        setError(error, QStringLiteral("empty file"));
        return false;
    }
    if (encoded.size() > std::numeric_limits<int>::max()) {
        setError(error, QStringLiteral("too large: %1 bytes").arg(encoded.size()));
        return false;
    }

    // Header first: refuse decompression bombs before OpenCV allocates anything, and learn the size
    // for reduced JPEG decoding. A header the probe cannot read is left to OpenCV to judge (its own
    // limit, OPENCV_IO_MAX_IMAGE_PIXELS, still applies); the size is checked again after decoding.
    ProbeLimits noLimit;
    noLimit.maxPixels = std::numeric_limits<qint64>::max();
    QString probeError;
    // The whole file as the probe's head: it then needs no separate tail.
    const std::optional<ImageHeader> header =
        probeImageBytes(encoded, QByteArray(), encoded.size(), &probeError, noLimit);
    if (header) {
        const qint64 pixels = static_cast<qint64>(header->width) * header->height;
        if (pixels > options.maxPixels) {
            setError(error, QStringLiteral("too large: %1 × %2 pixels (limit %3)")
                                .arg(header->width)
                                .arg(header->height)
                                .arg(options.maxPixels));
            return false;
        }
    }

    int flags = cv::IMREAD_UNCHANGED;
    if (header && header->format == ImageFormat::Jpeg) {
        // JPEGs are 8-bit gray or colour: let libjpeg convert and, where it fits, scale in the DCT
        // domain, which skips most of the decoding work for large photos.
        const bool gray = options.channels == 1;
        switch (jpegReductionFactor(header->width, header->height, options)) {
        case 8:
            flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
            break;
        case 4:
            flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
            break;
        case 2:
            flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
            break;
        default:
            flags = gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
            break;
        }
        flags |= cv::IMREAD_IGNORE_ORIENTATION;   // as IMREAD_UNCHANGED does for other formats
    }

    // imdecode only reads the buffer: wrap it without copying.
    const cv::Mat buffer(1, static_cast<int>(encoded.size()), CV_8U,
                         const_cast<char *>(encoded.constData()));
    cv::Mat image = cv::imdecode(buffer, flags);
    if (image.empty()) {
        setError(error, header ? QStringLiteral("cannot decode %1 data (corrupt or truncated)")
                                     .arg(imageFormatName(header->format))
                               : (probeError.isEmpty() ? QStringLiteral("not an image")
                                                       : probeError));
        return false;
    }
    if (static_cast<qint64>(image.cols) * image.rows > options.maxPixels) {
        setError(error, QStringLiteral("too large: %1 × %2 pixels (limit %3)")
                            .arg(image.cols)
                            .arg(image.rows)
                            .arg(options.maxPixels));
        return false;
    }
    if (!toEightBit(image) || !toTargetChannels(image, options.channels)) {
        setError(error, QStringLiteral("unsupported pixel format (depth %1, %2 channels)")
                            .arg(image.depth())
                            .arg(image.channels()));
        return false;
    }

    // Region to scale to inputSize × inputSize: the whole image, or (augmenting) a random square of
    // 0.8–1.0 of the shorter side at a random position. The draws are always made in the same order,
    // so a seed gives the same crop and flip whatever the image.
    cv::Rect region(0, 0, image.cols, image.rows);
    bool flip = false;
    if (options.augment) {
        const int shorter = std::min(image.cols, image.rows);
        const double scale = kMinCropScale + (1.0 - kMinCropScale) * uniformUnit(rng);
        const int side = std::clamp(static_cast<int>(std::lround(scale * shorter)), 1, shorter);
        const int x = uniformBelow(rng, image.cols - side + 1);
        const int y = uniformBelow(rng, image.rows - side + 1);
        flip = uniformUnit(rng) < 0.5;
        region = cv::Rect(x, y, side, side);
    }

    const int size = options.inputSize;
    cv::Mat source = image(region);
    if (region.width != size || region.height != size) {
        const bool shrinking = region.width > size || region.height > size;
        cv::Mat resized;
        cv::resize(source, resized, cv::Size(size, size), 0, 0,
                   shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
        source = resized;
    }
    writeNormalized(source, options, flip, out);
    return true;
}

} // namespace

int jpegReductionFactor(int width, int height, const DecodeOptions &options)
{
    const int shorter = std::min(width, height);
    if (shorter <= 0 || options.inputSize < 1)
        return 1;
    const int needed = options.augment
                           ? static_cast<int>(std::ceil(options.inputSize / kMinCropScale - 1e-9))
                           : options.inputSize;
    for (int factor : {8, 4, 2}) {
        const int reduced = (shorter + factor - 1) / factor;   // libjpeg rounds scaled sizes up
        if (reduced >= needed)
            return factor;
    }
    return 1;
}

bool decodeImageInto(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
                     float *out, QString *error)
{
    try {
        return decodeImpl(encoded, options, rng, out, error);
    } catch (const cv::Exception &e) {
        setError(error, QStringLiteral("cannot decode image: %1").arg(QString::fromStdString(e.msg)));
    } catch (const std::exception &e) {
        setError(error, QStringLiteral("cannot decode image: %1").arg(QString::fromLocal8Bit(e.what())));
    } catch (...) {
        setError(error, QStringLiteral("cannot decode image: unknown error"));
    }
    return false;
}

bool decodeFileInto(const QString &path, const DecodeOptions &options, std::mt19937_64 &rng,
                    float *out, QString *error)
{
    QByteArray encoded;
    try {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            setError(error, QStringLiteral("cannot open %1: %2").arg(path, file.errorString()));
            return false;
        }
        encoded = file.readAll();
        if (file.error() != QFileDevice::NoError) {
            setError(error, QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
            return false;
        }
    } catch (const std::exception &e) {   // std::bad_alloc for a huge file
        setError(error, QStringLiteral("cannot read %1: %2").arg(path, QString::fromLocal8Bit(e.what())));
        return false;
    }
    return decodeImageInto(encoded, options, rng, out, error);
}

} // namespace leantune
