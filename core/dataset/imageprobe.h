#pragma once

#include "dataset/datasetindex.h"

#include <QByteArray>
#include <QString>

#include <optional>

namespace leantune {

// What a header-only read of an image file tells: format, size, channels. Reads the first bytes of
// the file (and a few bytes at its end to detect truncation), never decodes pixels.
struct ImageHeader {
    ImageFormat format = ImageFormat::Unknown;
    int width = 0;
    int height = 0;
    int channels = 0;
    int bitDepth = 8; // bits per sample as stored: 1-16, 32 or 64 (floating-point TIFF)
    // The most memory decoding the whole image takes (see decodedBytesOf()), in bytes.
    qint64 decodedBytes = 0;
};

// The fixed cap on an image's decoded size: every image the former 100-megapixel guard accepted
// (at most 1.2 GB, 16-bit RGBA) stays under it; decompression bombs do not.
constexpr qint64 kMaxDecodedBytes = qint64(2) << 30;

struct ProbeLimits {
    // Images whose decoding takes more bytes are rejected as "too large" (decompression bombs).
    qint64 maxDecodedBytes = kMaxDecodedBytes;
};

// Bytes decoding a WIDTH x HEIGHT image takes at most: OpenCV's imread result at the native depth
// (DECODEDCHANNELS samples of BYTESPERSAMPLE each, before any conversion), plus the larger of the
// copies the decoder converts it to (8 bits, then at most 3 channels), as both are alive at once.
qint64 decodedBytesOf(qint64 width, qint64 height, int decodedChannels, int bytesPerSample);

// "1.1 GiB", "800 MiB": a byte count as the decoder's and scanner's reasons write it.
QString decodedSizeText(qint64 bytes);

// Probes a file. On failure returns std::nullopt and sets *error to a user-facing reason
// ("empty file", "not an image", "truncated PNG", "unsupported format (GIF)", "too large: ...").
std::optional<ImageHeader> probeImageFile(
    const QString &path, QString *error, const ProbeLimits &limits = {});
// The same for bytes already in memory (used by the decoder path and the fuzzer).
std::optional<ImageHeader> probeImageBytes(const QByteArray &head, const QByteArray &tail,
    qint64 fileSize, QString *error, const ProbeLimits &limits = {});

} // namespace leantune
