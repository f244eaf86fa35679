#include "dataset/imagedecoder_p.h"

#include "dataset/imageprobe.h"
#include "dataset/jpegregiondecoder_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QDebug>
#include <QFile>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <exception>
#include <limits>

namespace leantune {

namespace {

constexpr double kMinCropScale = 0.8; // augmentation crops 0.8–1.0 of the shorter side

// Shorter side of a stored (cache) image with augmentation: the smallest crop still covers
// inputSize.
int storedShorterSide(int inputSize)
{
    return static_cast<int>(std::ceil(inputSize / kMinCropScale - 1e-9));
}

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
        image.convertTo(image, CV_8U, 1.0 / 257.0); // 65535 → 255
        return true;
    case CV_32F:
    case CV_64F:
        image.convertTo(image, CV_8U, 255.0); // HDR/EXR: [0, 1] → [0, 255], saturating
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
    case 2: // gray + alpha (not produced by OpenCV 4.6's decoders, handled anyway)
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
                const uchar *bgr = row + 3 * std::ptrdiff_t(sx);
                for (int c = 0; c < channels; ++c) // channels == 3 here: RGB = BGR reversed
                    outRow[c * plane + static_cast<std::size_t>(x)] = table[c][bgr[2 - c]];
            }
        }
    }
}

// Scales SOURCE to inputSize × inputSize (area filter when shrinking, bilinear when enlarging) and
// writes it normalized. The one resize every path shares, so the decoded cache's stored images
// equal decoded ones exactly.
cv::Mat resizedToInput(const cv::Mat &source, int size)
{
    if (source.cols == size && source.rows == size)
        return source;
    const bool shrinking = source.cols > size || source.rows > size;
    cv::Mat resized;
    cv::resize(
        source, resized, cv::Size(size, size), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    return resized;
}

// An augmentation crop: a random square of 0.8–1.0 of the shorter side at a random position, and
// whether to flip. The draws are always made in the same order, so a seed gives the same crop and
// flip whatever the image.
struct Crop {
    cv::Rect rect;
    bool flip = false;
};

Crop drawCrop(std::mt19937_64 &rng, int width, int height)
{
    const int shorter = std::min(width, height);
    const double scale = kMinCropScale + (1.0 - kMinCropScale) * uniformUnit(rng);
    const int side = std::clamp(static_cast<int>(std::lround(scale * shorter)), 1, shorter);
    const int x = uniformBelow(rng, width - side + 1);
    const int y = uniformBelow(rng, height - side + 1);
    Crop crop;
    crop.flip = uniformUnit(rng) < 0.5;
    crop.rect = cv::Rect(x, y, side, side);
    return crop;
}

// RECT in a FROMW × FROMH image, mapped onto the same image decoded at TO's size (at least 1
// pixel).
cv::Rect mapRect(const cv::Rect &rect, int fromW, int fromH, const cv::Size &to)
{
    if (fromW == to.width && fromH == to.height)
        return rect;
    const auto lo
        = [](int v, int from, int dst) { return static_cast<int>(std::int64_t(v) * dst / from); };
    const auto hi = [](int v, int from, int dst) {
        return static_cast<int>((std::int64_t(v) * dst + from - 1) / from);
    };
    const int x0 = std::clamp(lo(rect.x, fromW, to.width), 0, to.width - 1);
    const int y0 = std::clamp(lo(rect.y, fromH, to.height), 0, to.height - 1);
    const int x1 = std::clamp(hi(rect.x + rect.width, fromW, to.width), x0 + 1, to.width);
    const int y1 = std::clamp(hi(rect.y + rect.height, fromH, to.height), y0 + 1, to.height);
    return cv::Rect(x0, y0, x1 - x0, y1 - y0);
}

// Checks the options and the bytes, and probes the header: refuses decompression bombs before
// anything is allocated. A header the probe cannot read is left to OpenCV to judge (its own limit,
// OPENCV_IO_MAX_IMAGE_PIXELS, still applies); the size is checked again after decoding.
bool prepare(const QByteArray &encoded, const DecodeOptions &options,
    std::optional<ImageHeader> *header, QString *probeError, QString *error)
{
    if (options.inputSize < 1 || (options.channels != 1 && options.channels != 3)) {
        setError(error,
            QStringLiteral("invalid decode options (input size %1, %2 channels)")
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
    ProbeLimits noLimit;
    noLimit.maxDecodedBytes = std::numeric_limits<qint64>::max();
    // The whole file as the probe's head: it then needs no separate tail.
    *header = probeImageBytes(encoded, QByteArray(), encoded.size(), probeError, noLimit);
    if (*header) {
        const std::int64_t bytes = decodePeakBytes(**header, options);
        if (bytes > options.maxDecodedBytes) {
            setError(error,
                QStringLiteral("too large: %1 × %2 pixels, %3-bit, decodes to %4 (limit %5)")
                    .arg((*header)->width)
                    .arg((*header)->height)
                    .arg((*header)->bitDepth)
                    .arg(decodedSizeText(bytes), decodedSizeText(options.maxDecodedBytes)));
            return false;
        }
    }
    return true;
}

bool isJpeg(const std::optional<ImageHeader> &header)
{
    return header && header->format == ImageFormat::Jpeg;
}

// Decodes the whole image to 8 bits and the target channels (gray, or colour in BGR order). JPEGs
// are reduced by FACTOR in the DCT domain; libjpeg-turbo decodes them where available, OpenCV
// otherwise.
bool decodeWhole(const QByteArray &encoded, const std::optional<ImageHeader> &header,
    const DecodeOptions &options, int factor, const QString &probeError, cv::Mat *image,
    QString *error)
{
    if (isJpeg(header) && options.regionDecode) {
        cv::Rect region;
        cv::Mat decoded;
        if (decodeJpegRegion(encoded.constData(), static_cast<std::size_t>(encoded.size()),
                options.channels, factor, cv::Rect(0, 0, header->width, header->height), &decoded,
                &region)) {
            *image = region.width == decoded.cols ? decoded : decoded(region);
            return true;
        }
    }
    int flags = cv::IMREAD_UNCHANGED;
    if (isJpeg(header)) {
        // JPEGs are 8-bit gray or colour: let libjpeg convert and scale in the DCT domain.
        const bool gray = options.channels == 1;
        switch (factor) {
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
        flags |= cv::IMREAD_IGNORE_ORIENTATION; // as IMREAD_UNCHANGED does for other formats
    }

    // imdecode only reads the buffer: wrap it without copying.
    const cv::Mat buffer(
        1, static_cast<int>(encoded.size()), CV_8U, const_cast<char *>(encoded.constData()));
    *image = cv::imdecode(buffer, flags);
    if (image->empty()) {
        setError(error,
            header ? QStringLiteral("cannot decode %1 data (corrupt or truncated)")
                         .arg(imageFormatName(header->format))
                   : (probeError.isEmpty() ? QStringLiteral("not an image") : probeError));
        return false;
    }
    // A header the probe could not read: the decoded image itself is checked.
    if (const auto bytes = static_cast<std::int64_t>(image->total() * image->elemSize());
        bytes > options.maxDecodedBytes) {
        setError(error,
            QStringLiteral("too large: %1 × %2 pixels decode to %3 (limit %4)")
                .arg(image->cols)
                .arg(image->rows)
                .arg(decodedSizeText(bytes), decodedSizeText(options.maxDecodedBytes)));
        *image = cv::Mat();
        return false;
    }
    if (!toEightBit(*image) || !toTargetChannels(*image, options.channels)) {
        setError(error,
            QStringLiteral("unsupported pixel format (depth %1, %2 channels)")
                .arg(image->depth())
                .arg(image->channels()));
        return false;
    }
    return true;
}

bool decodeImpl(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
    float *out, QString *error)
{
    if (!out) {
        setError(error, QStringLiteral("invalid decode options (no output buffer)"));
        return false;
    }
    std::optional<ImageHeader> header;
    QString probeError;
    if (!prepare(encoded, options, &header, &probeError, error))
        return false;

    if (options.augment && isJpeg(header) && options.regionDecode && jpegRegionDecoderAvailable()) {
        // Draw the crop on the header's geometry, then decode only its window, DCT-scaled when the
        // crop is at least twice the output size.
        const Crop crop = drawCrop(rng, header->width, header->height);
        cv::Mat decoded;
        cv::Rect region;
        if (decodeJpegRegion(encoded.constData(), static_cast<std::size_t>(encoded.size()),
                options.channels,
                jpegCropReductionFactor(crop.rect.width, crop.rect.height, options.inputSize),
                crop.rect, &decoded, &region)) {
            writeNormalized(
                resizedToInput(decoded(region), options.inputSize), options, crop.flip, out);
            return true;
        }
        // libjpeg refused it: decode it whole with OpenCV and take the same crop.
        cv::Mat image;
        if (!decodeWhole(encoded, header, options,
                jpegReductionFactor(header->width, header->height, options), probeError, &image,
                error))
            return false;
        const cv::Rect mapped = mapRect(crop.rect, header->width, header->height, image.size());
        writeNormalized(resizedToInput(image(mapped), options.inputSize), options, crop.flip, out);
        return true;
    }

    const int factor
        = isJpeg(header) ? jpegReductionFactor(header->width, header->height, options) : 1;
    cv::Mat image;
    if (!decodeWhole(encoded, header, options, factor, probeError, &image, error))
        return false;
    cv::Rect region(0, 0, image.cols, image.rows);
    bool flip = false;
    if (options.augment) {
        // Drawn on the file's geometry when the header is known, mapped onto a reduced decode.
        const int width = header ? header->width : image.cols;
        const int height = header ? header->height : image.rows;
        const Crop crop = drawCrop(rng, width, height);
        region = mapRect(crop.rect, width, height, image.size());
        flip = crop.flip;
    }
    writeNormalized(resizedToInput(image(region), options.inputSize), options, flip, out);
    return true;
}

bool decodeToStoredImpl(
    const QByteArray &encoded, const DecodeOptions &options, StoredImage *out, QString *error)
{
    if (!out) {
        setError(error, QStringLiteral("invalid decode options (no output image)"));
        return false;
    }
    std::optional<ImageHeader> header;
    QString probeError;
    if (!prepare(encoded, options, &header, &probeError, error))
        return false;
    const int factor
        = isJpeg(header) ? jpegReductionFactor(header->width, header->height, options) : 1;
    cv::Mat image;
    if (!decodeWhole(encoded, header, options, factor, probeError, &image, error))
        return false;

    cv::Mat stored;
    if (options.augment) {
        const int target = storedShorterSide(options.inputSize);
        const int shorter = std::min(image.cols, image.rows);
        if (shorter > target) {
            const auto scaled = [&](int side) {
                return side == shorter
                    ? target
                    : std::max(
                        target, static_cast<int>(std::lround(double(side) * target / shorter)));
            };
            cv::resize(image, stored, cv::Size(scaled(image.cols), scaled(image.rows)), 0, 0,
                cv::INTER_AREA);
        } else {
            stored = image;
        }
    } else {
        stored = resizedToInput(image, options.inputSize);
    }
    out->width = stored.cols;
    out->height = stored.rows;
    out->channels = stored.channels();
    const std::size_t rowBytes
        = static_cast<std::size_t>(stored.cols) * static_cast<std::size_t>(stored.channels());
    out->pixels.resize(rowBytes * static_cast<std::size_t>(stored.rows));
    for (int y = 0; y < stored.rows; ++y)
        std::memcpy(out->pixels.data() + rowBytes * static_cast<std::size_t>(y),
            stored.ptr<uchar>(y), rowBytes);
    return true;
}

template <typename F> bool guarded(F &&body, QString *error)
{
    try {
        return body();
    } catch (const cv::Exception &e) {
        setError(
            error, QStringLiteral("cannot decode image: %1").arg(QString::fromStdString(e.msg)));
    } catch (const std::exception &e) {
        setError(
            error, QStringLiteral("cannot decode image: %1").arg(QString::fromLocal8Bit(e.what())));
    } catch (...) {
        setError(error, QStringLiteral("cannot decode image: unknown error"));
    }
    return false;
}

bool readWholeFile(const QString &path, QByteArray *encoded, QString *error)
{
    try {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            setError(error, QStringLiteral("cannot open %1: %2").arg(path, file.errorString()));
            return false;
        }
        *encoded = file.readAll();
        if (file.error() != QFileDevice::NoError) {
            setError(error, QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
            return false;
        }
    } catch (const std::exception &e) { // std::bad_alloc for a huge file
        setError(error,
            QStringLiteral("cannot read %1: %2").arg(path, QString::fromLocal8Bit(e.what())));
        return false;
    }
    return true;
}

} // namespace

std::int64_t decodePeakBytes(const ImageHeader &header, const DecodeOptions &options)
{
    if (header.format != ImageFormat::Jpeg)
        return header.decodedBytes;
    // libjpeg scales in the DCT domain and converts to the target channels as it decodes; an
    // augmentation crop decodes a window of the image at a reduction at least as large.
    const int factor = jpegReductionFactor(header.width, header.height, options);
    const std::int64_t width = (std::int64_t(header.width) + factor - 1) / factor;
    const std::int64_t height = (std::int64_t(header.height) + factor - 1) / factor;
    return width * height * (options.channels == 1 ? 1 : 3);
}

std::int64_t decodePeakBytes(const ImageEntry &image, const DecodeOptions &options)
{
    ImageHeader header;
    header.format = image.format;
    header.width = image.width;
    header.height = image.height;
    header.channels = image.channels;
    header.bitDepth = image.bitDepth;
    header.decodedBytes = image.decodedBytes;
    return decodePeakBytes(header, options);
}

void DecodeDemand::add(const DatasetIndex &index, const std::vector<DecodeOptions> &options)
{
    bytes.reserve(bytes.size() + index.images.size());
    for (const ImageEntry &image : index.images) {
        std::int64_t peak = 0;
        for (const DecodeOptions &o : options)
            peak = std::max(peak, decodePeakBytes(image, o));
        bytes.push_back(peak);
        if (peak > largestBytes) {
            largestBytes = peak;
            largest = image;
        }
    }
}

int DecodeDemand::countOver(std::int64_t limit) const
{
    return int(
        std::count_if(bytes.begin(), bytes.end(), [&](std::int64_t b) { return b > limit; }));
}

int jpegReductionFactor(int width, int height, const DecodeOptions &options)
{
    const int shorter = std::min(width, height);
    if (shorter <= 0 || options.inputSize < 1)
        return 1;
    const int needed = options.augment
        ? static_cast<int>(std::ceil(options.inputSize / kMinCropScale - 1e-9))
        : options.inputSize;
    for (int factor : { 8, 4, 2 }) {
        const int reduced = (shorter + factor - 1) / factor; // libjpeg rounds scaled sizes up
        if (reduced >= needed)
            return factor;
    }
    return 1;
}

int jpegCropReductionFactor(int cropWidth, int cropHeight, int inputSize)
{
    const int shorter = std::min(cropWidth, cropHeight);
    if (shorter <= 0 || inputSize < 1)
        return 1;
    for (int factor : { 8, 4, 2 }) {
        if (shorter / factor >= inputSize)
            return factor;
    }
    return 1;
}

bool decodeImageInto(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
    float *out, QString *error)
{
    return guarded([&] { return decodeImpl(encoded, options, rng, out, error); }, error);
}

bool decodeFileInto(const QString &path, const DecodeOptions &options, std::mt19937_64 &rng,
    float *out, QString *error)
{
    QByteArray encoded;
    return readWholeFile(path, &encoded, error)
        && decodeImageInto(encoded, options, rng, out, error);
}

bool decodeToStored(
    const QByteArray &encoded, const DecodeOptions &options, StoredImage *out, QString *error)
{
    return guarded([&] { return decodeToStoredImpl(encoded, options, out, error); }, error);
}

bool decodeFileToStored(
    const QString &path, const DecodeOptions &options, StoredImage *out, QString *error)
{
    QByteArray encoded;
    return readWholeFile(path, &encoded, error) && decodeToStored(encoded, options, out, error);
}

void writeFromStored(const std::uint8_t *pixels, int width, int height,
    const DecodeOptions &options, std::mt19937_64 &rng, float *out)
{
    const cv::Mat image(height, width, options.channels == 1 ? CV_8UC1 : CV_8UC3,
        const_cast<std::uint8_t *>(pixels));
    cv::Rect region(0, 0, width, height);
    bool flip = false;
    if (options.augment) {
        const Crop crop = drawCrop(rng, width, height);
        region = crop.rect;
        flip = crop.flip;
    }
    try {
        writeNormalized(resizedToInput(image(region), options.inputSize), options, flip, out);
    } catch (const std::exception &e) { // cv::resize cannot allocate
        qWarning().noquote() << "writeFromStored:" << e.what();
    }
}

} // namespace leantune
