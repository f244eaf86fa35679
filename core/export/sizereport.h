#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QtGlobal>

namespace leantune {

// What an exported model costs on disk, against the dense float32 model it came from. All sizes in
// bytes. Plain value (torch-free), for the CLI, the JSON report and the GUI export dialog.
struct SizeReport {
    qint64 parameters = 0; // parameters in the exported model (after channel removal)
    qint64 nonzeroParameters = 0; // of those, non-zero
    qint64 denseParameters = 0; // the dense architecture's parameters, BatchNorm folded
    qint64 denseFp32Bytes = 0; // 4 × denseParameters: the dense float32 weights
    qint64 fileBytes = 0; // the written file
    qint64 zipBytes = 0; // the file compressed with deflate (zlib, level 9), as TF-MOT reports
    qint64 sparseBytes = 0; // bitmask encoding: per weight tensor ⌈n/8⌉ mask bytes + non-zero
                            // values; other tensors dense

    double sparsity() const; // 1 − nonzero / parameters
    // denseFp32Bytes / BYTES: how many times smaller than the dense float32 weights (0 when BYTES ≤
    // 0).
    double ratio(qint64 bytes) const;
    QJsonObject toJson() const;
};

// Size of BYTES after deflate (zlib, level 9; the 6 bytes of zlib framing included). −1 on failure.
qint64 deflatedSize(const QByteArray &bytes);
// Bytes of a bitmask sparse encoding of a tensor of ELEMENTS values of VALUEBYTES each with NONZERO
// non-zero values: ⌈elements / 8⌉ + nonzero × valueBytes.
qint64 bitmaskEncodedBytes(qint64 elements, qint64 nonzero, int valueBytes);

} // namespace leantune
