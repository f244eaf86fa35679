#include "export/sizereport.h"

#include <zlib.h>

#include <vector>

namespace leantune {

double SizeReport::sparsity() const
{
    return parameters > 0 ? 1.0 - double(nonzeroParameters) / double(parameters) : 0.0;
}

double SizeReport::ratio(qint64 bytes) const
{
    return bytes > 0 ? double(denseFp32Bytes) / double(bytes) : 0.0;
}

QJsonObject SizeReport::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("parameters")] = parameters;
    o[QStringLiteral("nonzero_parameters")] = nonzeroParameters;
    o[QStringLiteral("sparsity")] = sparsity();
    o[QStringLiteral("dense_parameters")] = denseParameters;
    o[QStringLiteral("dense_fp32_bytes")] = denseFp32Bytes;
    o[QStringLiteral("file_bytes")] = fileBytes;
    o[QStringLiteral("zip_bytes")] = zipBytes;
    o[QStringLiteral("sparse_bytes")] = sparseBytes;
    o[QStringLiteral("file_ratio")] = ratio(fileBytes);
    o[QStringLiteral("zip_ratio")] = ratio(zipBytes);
    o[QStringLiteral("sparse_ratio")] = ratio(sparseBytes);
    o[QStringLiteral("parameter_fraction")]
        = denseParameters > 0 ? double(parameters) / double(denseParameters) : 0.0;
    return o;
}

qint64 deflatedSize(const QByteArray &bytes)
{
    uLongf size = compressBound(uLong(bytes.size()));
    std::vector<Bytef> out(size);
    if (compress2(out.data(), &size, reinterpret_cast<const Bytef *>(bytes.constData()),
            uLong(bytes.size()), 9)
        != Z_OK)
        return -1;
    return qint64(size);
}

qint64 bitmaskEncodedBytes(qint64 elements, qint64 nonzero, int valueBytes)
{
    return (elements + 7) / 8 + nonzero * valueBytes;
}

} // namespace leantune
