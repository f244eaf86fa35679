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
};

struct ProbeLimits {
    qint64 maxPixels
        = 100'000'000; // larger images are rejected as "too large" (decompression bombs)
};

// Probes a file. On failure returns std::nullopt and sets *error to a user-facing reason
// ("empty file", "not an image", "truncated PNG", "unsupported format (GIF)", "too large: ...").
std::optional<ImageHeader> probeImageFile(
    const QString &path, QString *error, const ProbeLimits &limits = {});
// The same for bytes already in memory (used by the decoder path and the fuzzer).
std::optional<ImageHeader> probeImageBytes(const QByteArray &head, const QByteArray &tail,
    qint64 fileSize, QString *error, const ProbeLimits &limits = {});

} // namespace leantune
