#include "model/torcharchive_p.h"

#include "model/statedictunpickler_p.h"
#include "model/ziprecords_p.h"

namespace leantune {

namespace {

// WORK's exceptions (torch's own, while it writes and reads the rebuilt archive) as false + *error.
template <typename Work> bool guarded(QString *error, Work &&work)
{
    try {
        return work();
    } catch (const c10::Error &e) {
        if (error)
            *error = QString::fromUtf8(e.what_without_backtrace())
                         .section(QLatin1Char('\n'), 0, 0)
                         .left(300);
    } catch (const std::exception &e) {
        if (error)
            *error = QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0).left(300);
    }
    return false;
}

} // namespace

bool loadLibTorchArchive(QByteArray bytes, torch::serialize::InputArchive &archive, QString *error)
{
    return guarded(error, [&] {
        const qsizetype size = bytes.size();
        QByteArray clean;
        {
            std::optional<ZipRecords> zip = ZipRecords::fromBytes(bytes, error);
            bytes.clear(); // the reader holds the bytes now, and frees them below
            if (!zip)
                return false;
            if (!zip->has("data.pkl")) {
                if (error)
                    *error = QStringLiteral("not a LibTorch archive (no data.pkl)");
                return false;
            }
            std::optional<std::string> pickle = zip->read("data.pkl", kMaxPickleBytes, error);
            if (!pickle)
                return false;
            QString reason;
            const StorageReader read = [&](const std::string &key) {
                return zip->read("data/" + key, ~std::uint64_t(0), &reason);
            };
            torch::serialize::OutputArchive out;
            if (!unpickleModuleArchive(*pickle, read, out, error)) {
                if (error && !reason.isEmpty())
                    *error = reason;
                return false;
            }
            zip.reset();
            pickle.reset();
            clean.reserve(size + 65536); // about the same tensors and names again
            out.save_to([&clean](const void *data, size_t n) -> size_t {
                clean.append(static_cast<const char *>(data), qsizetype(n));
                return n;
            });
        }
        archive.load_from(clean.constData(), size_t(clean.size()));
        return true;
    });
}

bool isLibTorchArchiveFile(const QString &path)
{
    const std::optional<ZipRecords> zip = ZipRecords::openFile(path, nullptr);
    return zip && zip->has("constants.pkl");
}

} // namespace leantune
