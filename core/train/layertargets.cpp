#include "train/layertargets_p.h"

#include "prune/sensitivity.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSaveFile>

namespace leantune {

QString sensitivityScanFile(const RunConfig &c)
{
    if (!c.pruneSensitivityFile.isEmpty())
        return c.pruneSensitivityFile;
    if (c.initWeights.isEmpty())
        return QString();
    const QFileInfo init(c.initWeights);
    return QDir(init.isDir() ? init.filePath() : init.path())
        .filePath(defaultSensitivityFileName(c.pruneGranularity));
}

QString layerTargetsFile(const QString &runDir)
{
    return QDir(runDir).filePath(QStringLiteral("prune-targets.json"));
}

namespace {

std::optional<LayerTargets> recordedTargets(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    const QJsonDocument doc = QJsonDocument::fromJson(file.read(16 << 20));
    QString why;
    std::optional<LayerTargets> t = LayerTargets::fromJson(doc.object(), &why);
    if (!t)
        *error = QStringLiteral("%1: %2").arg(path, why);
    return t;
}

std::optional<LayerTargets> scannedTargets(
    const RunConfig &c, const MagnitudePruner &pruner, QString *error)
{
    const QString path = sensitivityScanFile(c);
    if (path.isEmpty()) {
        *error = QStringLiteral("--prune-scope sensitivity needs a scan: give sensitivity:FILE, or "
                                "--init a run folder where 'leantune-cli sensitivity' wrote "
                                "its scan");
        return std::nullopt;
    }
    const std::optional<SensitivityScan> scan = readSensitivityScan(path, error);
    if (!scan)
        return std::nullopt;
    if (scan->granularity != c.pruneGranularity) {
        *error = QStringLiteral("the sensitivity scan %1 prunes %2s but this run prunes %3s: run "
                                "'leantune-cli sensitivity --granularity %3'")
                     .arg(path, enumName(scan->granularity), enumName(c.pruneGranularity));
        return std::nullopt;
    }
    QStringList names;
    QVector<QVector<std::int64_t>> shapes;
    for (const std::string &n : pruner.prunableNames())
        names << QString::fromStdString(n);
    for (const std::vector<std::int64_t> &s : pruner.shapes())
        shapes << QVector<std::int64_t>(s.begin(), s.end());
    if (!scan->matchesTensors(names, shapes, path, error))
        return std::nullopt;
    return allocateLayerTargets(*scan, pruner.schedule().finalSparsity(), error);
}

} // namespace

bool applyLayerTargets(const RunConfig &c, bool resume, bool writer, MagnitudePruner &pruner,
    const std::function<void(const QString &)> &log, QString *error)
{
    if (c.pruneScope != PruneScope::Sensitivity || pruner.schedule().isNone())
        return true;
    const QString recorded = layerTargetsFile(c.outDir);
    const bool reuse = resume && QFileInfo::exists(recorded);
    std::optional<LayerTargets> targets
        = reuse ? recordedTargets(recorded, error) : scannedTargets(c, pruner, error);
    if (!targets)
        return false;
    if (!pruner.setLayerTargets(targets->sparsity, pruner.schedule().finalSparsity(), error))
        return false;
    QStringList parts;
    for (const auto &[name, s] : targets->sparsity)
        parts << QStringLiteral("%1 %2%").arg(name).arg(s * 100.0, 0, 'f', 1);
    log(QStringLiteral("per-layer targets %1 (common one-shot accuracy drop %2 points): %3")
            .arg(reuse ? QStringLiteral("kept from prune-targets.json")
                       : QStringLiteral("from the sensitivity scan"))
            .arg(targets->threshold * 100.0, 0, 'f', 2)
            .arg(parts.join(QStringLiteral(", "))));
    if (reuse || !writer)
        return true;
    QJsonObject o = targets->toJson();
    o[QStringLiteral("scan")] = QFileInfo(sensitivityScanFile(c)).absoluteFilePath();
    QSaveFile file(recorded);
    const QByteArray bytes = QJsonDocument(o).toJson(QJsonDocument::Indented);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(recorded, file.errorString());
        return false;
    }
    return true;
}

} // namespace leantune
