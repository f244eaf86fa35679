#include "dataset/sampledata.h"

#include "dataset/idximporter.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <QStringBuilder>

namespace leantune {

QString fashionMnistIdxDir()
{
    return QStringLiteral("/usr/share/datasets/fashion-mnist");
}

QString userDataDir()
{
    QString env = qEnvironmentVariable("LEANTUNE_DATA_DIR");
    if (!env.isEmpty())
        return env;
    QString dir = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
    if (dir.isEmpty())
        dir = QDir::homePath() % QStringLiteral("/.local/share");
    return dir % QStringLiteral("/LeanTune");
}

std::optional<SampleDataset> ensureSampleDataset(
    QString *error, const std::function<void(const QString &, int, int)> &progress)
{
    const QString root = userDataDir() % QStringLiteral("/fashion-mnist");
    SampleDataset sample { root % QStringLiteral("/train"), root % QStringLiteral("/test") };
    const QString stamp = root % QStringLiteral("/.complete");
    if (QFileInfo::exists(stamp))
        return sample;

    const QString idx = fashionMnistIdxDir();
    struct Part {
        const char *images, *labels;
        QString out;
        const char *stage;
    };
    const Part parts[] = {
        { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", sample.trainDir, "train" },
        { "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", sample.testDir, "test" },
    };
    for (const Part &p : parts) {
        const QString images = idx % QLatin1Char('/') % QLatin1String(p.images);
        if (!QFileInfo::exists(images)) {
            if (error)
                *error = QStringLiteral(
                    "the Fashion-MNIST sample needs Debian's dataset-fashion-mnist package "
                    "(%1 not found); run scripts/setup or apt-get install dataset-fashion-mnist")
                             .arg(images);
            return std::nullopt;
        }
        QDir(p.out).removeRecursively(); // a partial earlier import
        const auto stageProgress = [&](int done, int total) {
            if (progress)
                progress(QLatin1String(p.stage), done, total);
        };
        if (!importIdx(images, idx % QLatin1Char('/') % QLatin1String(p.labels), p.out, {}, error,
                stageProgress))
            return std::nullopt;
    }
    QFile f(stamp);
    if (!f.open(QIODevice::WriteOnly)) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(stamp, f.errorString());
        return std::nullopt;
    }
    return sample;
}

} // namespace leantune
