#pragma once

#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace leantune {

struct IdxImportOptions {
    int limit = -1; // import at most this many images (first N); -1 = all
    QStringList classNames; // empty: Fashion-MNIST names for 10 classes
};

struct IdxImportResult {
    int images = 0;
    QStringList classes;
};

// Fashion-MNIST class names, label order.
QStringList fashionMnistClassNames();

// Converts an IDX image file (magic 0x00000803, uint8, N×rows×cols) and an IDX label file
// (magic 0x00000801) - raw or gzip-compressed - into OUTDIR/<class name>/<index>.png.
// Rejects wrong magic numbers, wrong dimensions, mismatched counts and short files with a clear
// error (returns std::nullopt, *error set). Files already present are overwritten.
std::optional<IdxImportResult> importIdx(const QString &imagesPath, const QString &labelsPath,
    const QString &outDir, const IdxImportOptions &options, QString *error,
    const std::function<void(int done, int total)> &progress = {});

} // namespace leantune
