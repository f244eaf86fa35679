#pragma once
// Private header (OpenCV-free, but used only with torch-owned buffers): decode one image file into
// a caller-provided float buffer. Used by StreamingLoader's decode threads and by the fuzzer.

#include "dataset/datasetindex.h"
#include "dataset/imageprobe.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <random>
#include <vector>

namespace leantune {

struct DecodeOptions {
    int inputSize = 28; // output is inputSize × inputSize
    int channels = 1; // 1 = grayscale, 3 = RGB (colour images are converted; gray is replicated)
    bool augment = false; // random crop (scale 0.8–1.0 of the shorter side) + horizontal flip
    float mean[3] = { 0.f, 0.f, 0.f }; // normalization: (x/255 - mean) / std, per channel
    float std[3] = { 1.f, 1.f, 1.f };
    // Images whose decoding takes more bytes (decodePeakBytes()) are refused before decoding.
    std::int64_t maxDecodedBytes = kMaxDecodedBytes;
    bool regionDecode
        = true; // decode JPEGs with libjpeg-turbo (crop window) where built; false: OpenCV
};

// Decodes ENCODED bytes into OUT (channels × inputSize × inputSize floats, CHW, normalized).
// rng drives augmentation only. JPEGs are decoded with libjpeg-turbo where the build has it: with
// augmentation only the crop window, DCT-scaled when the crop is at least twice the output size;
// OpenCV decodes everything else and is the fallback. Returns false and sets *error when the bytes
// do not decode or decoding would take more than maxDecodedBytes (checked on the header, before
// decoding). 16-bit images are scaled to 8 bits, alpha is dropped (as PIL's convert("RGB") does),
// EXIF orientation is ignored. Thread-safe (no shared state); never throws. OUT is left unspecified
// on failure.
bool decodeImageInto(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
    float *out, QString *error);

// Reads the file and decodes it as above.
bool decodeFileInto(const QString &path, const DecodeOptions &options, std::mt19937_64 &rng,
    float *out, QString *error);

// The most memory decoding an image with HEADER takes under OPTIONS, in bytes: a JPEG's at the
// DCT reduction the decoder uses (in OPTIONS's channels), any other image's decodedBytes.
std::int64_t decodePeakBytes(const ImageHeader &header, const DecodeOptions &options);
// The same for a scanned image.
std::int64_t decodePeakBytes(const ImageEntry &image, const DecodeOptions &options);

// The memory a data set's decoding may take: its image whose decoding takes the most, and each
// image's figure, under the decode options of the loaders that will read it.
struct DecodeDemand {
    ImageEntry largest; // path empty: no image added
    std::int64_t largestBytes = 0;
    std::vector<std::int64_t> bytes; // one figure per image added

    // Adds INDEX's images, each with the most its decoding takes under any of OPTIONS.
    void add(const DatasetIndex &index, const std::vector<DecodeOptions> &options);
    // How many images decoding takes more than LIMIT bytes for.
    int countOver(std::int64_t limit) const;
};

// The JPEG DCT-domain reduction (1, 2, 4 or 8) decodeImageInto uses for a WIDTH × HEIGHT JPEG: the
// largest factor whose reduced shorter side still covers what the output needs (inputSize, or
// inputSize / 0.8 with augmentation, whose crop can be 0.8 of the shorter side), so a reduced
// decode is never upscaled more than a full decode would be. Exposed for tests.
int jpegReductionFactor(int width, int height, const DecodeOptions &options);

// The reduction (1, 2, 4 or 8) for decoding only an augmentation crop of CROPWIDTH × CROPHEIGHT
// full-resolution pixels: the largest factor that leaves the reduced crop at least inputSize on
// each side, so a reduced decode is never upscaled. Exposed for tests.
int jpegCropReductionFactor(int cropWidth, int cropHeight, int inputSize);

// The decoded cache's form of an image: 8-bit, options.channels channels (BGR order for colour),
// before augmentation and normalization. Without augmentation it is the final inputSize × inputSize
// image, so an image served from the cache equals a decoded one exactly. With augmentation it is
// the whole image scaled (aspect kept) so that its shorter side is ceil(inputSize / 0.8) (or left
// as is when smaller): the smallest augmentation crop then still needs no upscaling, and every crop
// is drawn from it with the same seeded draws as from a decoded file.
struct StoredImage {
    std::vector<std::uint8_t> pixels; // height × width × channels, rows packed
    int width = 0;
    int height = 0;
    int channels = 0;
};

// Decodes ENCODED into its stored form. Same checks and errors as decodeImageInto. Never throws.
bool decodeToStored(
    const QByteArray &encoded, const DecodeOptions &options, StoredImage *out, QString *error);
bool decodeFileToStored(
    const QString &path, const DecodeOptions &options, StoredImage *out, QString *error);

// Writes a stored image (see StoredImage; channels == options.channels) as decodeImageInto would:
// with augmentation a seeded crop + flip of it, then resize and normalization. Never fails.
void writeFromStored(const std::uint8_t *pixels, int width, int height,
    const DecodeOptions &options, std::mt19937_64 &rng, float *out);

} // namespace leantune
