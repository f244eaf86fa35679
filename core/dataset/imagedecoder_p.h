#pragma once
// Private header (OpenCV-free, but used only with torch-owned buffers): decode one image file into a
// caller-provided float buffer. Used by StreamingLoader's decode threads and by the fuzzer.

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <random>

namespace leantune {

struct DecodeOptions {
    int inputSize = 28;       // output is inputSize × inputSize
    int channels = 1;         // 1 = grayscale, 3 = RGB (colour images are converted; gray is replicated)
    bool augment = false;     // random crop (scale 0.8–1.0 of the shorter side) + horizontal flip
    float mean[3] = {0.f, 0.f, 0.f};   // normalization: (x/255 - mean) / std, per channel
    float std[3] = {1.f, 1.f, 1.f};
    std::int64_t maxPixels = 100'000'000;
};

// Decodes ENCODED bytes into OUT (channels × inputSize × inputSize floats, CHW, normalized).
// rng drives augmentation only. Returns false and sets *error when the bytes do not decode or the
// image has more than maxPixels pixels (checked on the header, before decoding). 16-bit images are
// scaled to 8 bits, alpha is dropped (as PIL's convert("RGB") does), EXIF orientation is ignored.
// Thread-safe (no shared state); never throws. OUT is left unspecified on failure.
bool decodeImageInto(const QByteArray &encoded, const DecodeOptions &options, std::mt19937_64 &rng,
                     float *out, QString *error);

// Reads the file and decodes it as above.
bool decodeFileInto(const QString &path, const DecodeOptions &options, std::mt19937_64 &rng,
                    float *out, QString *error);

// The JPEG DCT-domain reduction (1, 2, 4 or 8) decodeImageInto uses for a WIDTH × HEIGHT JPEG: the
// largest factor whose reduced shorter side still covers what the output needs (inputSize, or
// inputSize / 0.8 with augmentation, whose crop can be 0.8 of the shorter side), so a reduced decode is
// never upscaled more than a full decode would be. Exposed for tests.
int jpegReductionFactor(int width, int height, const DecodeOptions &options);

} // namespace leantune
