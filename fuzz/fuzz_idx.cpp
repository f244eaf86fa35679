// libFuzzer target: IDX image + label files -> PNG class folders. The input is split in two at an
// offset given by its first byte; both halves are written to files in /dev/shm and imported.
#include "dataset/idximporter.h"

#include <QDir>
#include <QFile>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size < 1)
        return 0;
    static const QString dir = QStringLiteral("/dev/shm/leantune-fuzz-idx-%1").arg(::getpid());
    QDir().mkpath(dir);
    const std::size_t split = std::min<std::size_t>(size - 1, std::size_t(data[0]) * 8);
    const QByteArray images(reinterpret_cast<const char *>(data + 1), qsizetype(split));
    const QByteArray labels(
        reinterpret_cast<const char *>(data + 1 + split), qsizetype(size - 1 - split));
    const QString ip = dir + QStringLiteral("/images"), lp = dir + QStringLiteral("/labels");
    for (const auto &[path, bytes] : { std::pair { ip, images }, std::pair { lp, labels } }) {
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly))
            return 0;
        f.write(bytes);
    }
    leantune::IdxImportOptions options;
    options.limit = 3;
    options.classNames = { QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c") };
    QString error;
    leantune::importIdx(ip, lp, dir + QStringLiteral("/out"), options, &error);
    return 0;
}
