// libFuzzer target: a whole .safetensors file (8-byte header length, JSON header, data) through
// parseSafetensors(); the tensors it accepts are loaded into a tiny conv/BatchNorm/linear model
// (names "0.weight", "1.running_var", "2.bias", ...), as `train --init` would.
#include "model/weightfile_p.h"
#include "model/weightloader_p.h"

#include <QByteArray>
#include <QString>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static torch::nn::Sequential model = [] {
        torch::set_num_threads(1);
        return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 1)),
            torch::nn::BatchNorm2d(2), torch::nn::Linear(2, 2));
    }();
    const QByteArray bytes = QByteArray::fromRawData(reinterpret_cast<const char *>(data),
        qsizetype(std::min<std::size_t>(size, std::size_t(1) << 30)));
    QString error, note;
    const std::optional<leantune::NamedTensors> tensors = leantune::parseSafetensors(bytes, &error);
    if (!tensors) {
        // Each refusal is one line, and quotes nothing from the file at length.
        if (error.isEmpty() || error.contains(QLatin1Char('\n')) || error.size() > 1000)
            __builtin_trap();
        return 0;
    }
    if (!leantune::loadNamedTensors(*model, *tensors, &note, &error)
        && (error.isEmpty() || error.contains(QLatin1Char('\n')) || error.size() > 1000))
        __builtin_trap();
    return 0;
}
