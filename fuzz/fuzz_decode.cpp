// libFuzzer target: bytes -> header probe -> decode into a normalized float tensor buffer.
#include "dataset/imagedecoder_p.h"
#include "dataset/imageprobe.h"

#include <QByteArray>

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QByteArray bytes
        = QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    QString error;
    leantune::probeImageBytes(bytes.left(4096), bytes.right(16), qint64(size), &error);
    leantune::DecodeOptions options;
    options.inputSize = 32;
    options.channels = (size % 2) ? 3 : 1;
    options.augment = (size % 3) == 0;
    options.maxDecodedBytes = 32 << 20; // keep each input cheap; bombs must be refused, not decoded
    std::vector<float> out(std::size_t(options.channels) * 32 * 32);
    std::mt19937_64 rng(size);
    leantune::decodeImageInto(bytes, options, rng, out.data(), &error);
    return 0;
}
