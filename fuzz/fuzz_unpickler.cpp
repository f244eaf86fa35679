// libFuzzer target: the restricted unpickler and the bounded zip reader of weight files. The first
// byte picks what the rest is: 0 a state_dict's data.pkl, 1 a LibTorch module archive's data.pkl
// (its attributes written into an OutputArchive, saved and loaded back), 2 a whole zip archive
// (ZipRecords; its data.pkl unpickled as a state_dict with the storages read from its records). In
// modes 0 and 1 every storage record named "0" to "99" holds 4 KiB.
#include "model/statedictunpickler_p.h"
#include "model/ziprecords_p.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size < 1)
        return 0;
    const int mode = data[0] % 3;
    const std::string rest(reinterpret_cast<const char *>(data + 1), size - 1);
    QString error;
    if (mode == 2) {
        std::optional<leantune::ZipRecords> zip
            = leantune::ZipRecords::fromBytes(QByteArray::fromStdString(rest), &error);
        if (!zip || !zip->has("data.pkl"))
            return 0;
        const std::optional<std::string> pickle
            = zip->read("data.pkl", leantune::kMaxPickleBytes, &error);
        if (!pickle)
            return 0;
        leantune::unpickleStateDict(
            *pickle,
            [&](const std::string &key) {
                return zip->read("data/" + key, std::uint64_t(1) << 24, &error);
            },
            &error);
        return 0;
    }
    const leantune::StorageReader read = [](const std::string &key) -> std::optional<std::string> {
        if (key.empty() || key.size() > 2
            || key.find_first_not_of("0123456789") != std::string::npos)
            return std::nullopt;
        return std::string(4096, '\x01');
    };
    if (mode == 0) {
        leantune::unpickleStateDict(rest, read, &error);
    } else {
        // An accepted archive goes the rest of loadLibTorchArchive's way: saved by OutputArchive
        // and loaded back (torch::jit::load of the generated classes). Torch's errors there are
        // reported by loadLibTorchArchive (e.g. an attribute named like a keyword).
        torch::serialize::OutputArchive out;
        if (!leantune::unpickleModuleArchive(rest, read, out, &error))
            return 0;
        try {
            QByteArray bytes;
            out.save_to([&bytes](const void *data, size_t n) -> size_t {
                bytes.append(static_cast<const char *>(data), qsizetype(n));
                return n;
            });
            torch::serialize::InputArchive in;
            in.load_from(bytes.constData(), size_t(bytes.size()));
        } catch (const c10::Error &) {
        }
    }
    return 0;
}
