#include "train/rundir_p.h"

#include "train/checkpoint_p.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStringBuilder>
#include <QUuid>

namespace leantune {

QString RunInfo::configFile() const
{
    return QDir(runDir).filePath(QStringLiteral("config.json"));
}
QString RunInfo::metricsFile() const
{
    return QDir(runDir).filePath(QStringLiteral("metrics.csv"));
}
QString RunInfo::summaryFile() const
{
    return QDir(runDir).filePath(QStringLiteral("summary.json"));
}
QString RunInfo::logFile() const
{
    return QDir(runDir).filePath(QStringLiteral("run.log"));
}
QString RunInfo::modelFile() const
{
    return QDir(runDir).filePath(QStringLiteral("model.pt"));
}
QString RunInfo::checkpointDir() const
{
    return QDir(runDir).filePath(QStringLiteral("checkpoints"));
}

std::optional<RunInfo> readRunInfo(const QString &runDir, QString *error)
{
    RunInfo info;
    info.runDir = runDir;
    if (!QFileInfo(runDir).isDir()) {
        if (error)
            *error = QStringLiteral("no such run folder: %1").arg(runDir);
        return std::nullopt;
    }
    QFile file(info.configFile());
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("%1 is not a run folder (no config.json)").arg(runDir);
        return std::nullopt;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (!doc.isObject()) {
        if (error)
            *error = parseError.error == QJsonParseError::NoError
                ? QStringLiteral("%1 is not a JSON object").arg(info.configFile())
                : QStringLiteral("%1 is not valid JSON: %2")
                      .arg(info.configFile(), parseError.errorString());
        return std::nullopt;
    }
    std::optional<RunInfo> parsed = RunInfo::fromJson(doc.object(), info.configFile(), error);
    if (parsed)
        parsed->runDir = runDir;
    return parsed;
}

QJsonObject RunInfo::toJson() const
{
    QJsonObject o = config.toJson();
    o[QStringLiteral("class_names")] = QJsonArray::fromStringList(classNames);
    return o;
}

std::optional<RunInfo> RunInfo::fromJson(
    const QJsonObject &o, const QString &source, QString *error)
{
    RunInfo info;
    std::optional<RunConfig> config = RunConfig::fromJson(o, error);
    if (!config)
        return std::nullopt;
    info.config = *config;
    for (const auto &v : o.value(QLatin1String("class_names")).toArray())
        info.classNames << v.toString();
    if (info.classNames.size() < 2 || info.classNames.size() != info.config.model.classes) {
        if (error)
            *error = QStringLiteral("%1 lists no valid class names").arg(source);
        return std::nullopt;
    }
    return info;
}

bool writeRunInfo(const RunInfo &info, QString *error)
{
    QSaveFile file(info.configFile());
    if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(info.toJson()).toJson()) < 0
        || !file.commit()) {
        if (error)
            *error
                = QStringLiteral("cannot write %1: %2").arg(info.configFile(), file.errorString());
        return false;
    }
    return true;
}

namespace {

// Whether DIR holds only what a run that failed before its first checkpoint leaves: its run.log
// and an empty checkpoints folder, no config.json (written once the set-up succeeded).
bool holdsOnlyAFailedStart(const QDir &dir, const QStringList &entries)
{
    for (const QString &name : entries) {
        if (name == QLatin1String("run.log"))
            continue;
        if (name == QLatin1String("checkpoints")
            && QDir(dir.filePath(name))
                   .entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden)
                   .isEmpty())
            continue;
        return false;
    }
    return true;
}

// prepareRunDir()'s work: the reason DIR cannot hold the run, empty when it can.
QString runDirProblem(const QString &dir, bool resume, bool force)
{
    QDir d(dir);
    const QFileInfo fi(dir);
    if (fi.exists() && !fi.isDir())
        return QStringLiteral("run folder %1 exists and is not a folder").arg(dir);
    if (!fi.exists() && !QDir().mkpath(dir))
        return QStringLiteral("cannot create run folder %1 (check the path and permissions)")
            .arg(dir);
    const QStringList entries = d.entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden);
    // A start that failed (a refused --init, a data problem) leaves its run.log: the corrected
    // command may use the folder again, and the new run's log replaces it.
    const bool failedStart = !entries.isEmpty() && holdsOnlyAFailedStart(d, entries);
    const bool empty = entries.isEmpty() || failedStart;
    if (resume) {
        if (empty || !QFileInfo::exists(d.filePath(QStringLiteral("config.json"))))
            return QStringLiteral("nothing to resume in %1 (no config.json)").arg(dir);
    } else if (!empty && !force) {
        return QStringLiteral(
            "run folder %1 is not empty; use --resume to continue that run or --force "
            "to replace it")
            .arg(dir);
    }
    // Writability: create and remove a probe file (catches read-only folders and file systems).
    const QString probe
        = d.filePath(QStringLiteral(".write-test-") % QUuid::createUuid().toString(QUuid::Id128));
    QFile f(probe);
    if (!f.open(QIODevice::WriteOnly))
        return QStringLiteral("run folder %1 is not writable: %2").arg(dir, f.errorString());
    f.close();
    f.remove();
    if (failedStart && !resume) {
        d.remove(QStringLiteral("run.log"));
        d.rmdir(QStringLiteral("checkpoints"));
    }
    if (force && !resume) {
        for (const char *name : { "config.json", "metrics.csv", "summary.json", "model.pt",
                 "run.log", "predictions.csv", "predictions-val.csv" })
            d.remove(QLatin1String(name));
        QDir(d.filePath(QStringLiteral("checkpoints"))).removeRecursively();
    }
    return {};
}

} // namespace

bool prepareRunDir(const QString &dir, bool resume, bool force, QString *error)
{
    const QString reason = runDirProblem(dir, resume, force);
    if (error && !reason.isEmpty())
        *error = reason;
    return reason.isEmpty();
}

DecodeOptions decodeOptionsFor(const RunConfig &config, bool augment)
{
    DecodeOptions o;
    o.inputSize = config.model.inputSize;
    o.channels = config.model.channels;
    o.augment = augment && config.augment;
    for (int c = 0; c < 3; ++c) {
        o.mean[c] = float(config.normMeanOf(c));
        o.std[c] = float(config.normStdOf(c));
    }
    return o;
}

namespace {

// The run's zoo model with fresh weights: its spec, with one output per class name.
std::shared_ptr<ClassifierImpl> createRunModel(const RunInfo &run, QString *error)
{
    ModelSpec spec = run.config.model;
    spec.classes = int(run.classNames.size());
    return createModel(spec, error);
}

} // namespace

std::shared_ptr<ClassifierImpl> loadRunModel(const RunInfo &run, QString *error)
{
    std::shared_ptr<ClassifierImpl> model = createRunModel(run, error);
    if (!model)
        return nullptr;
    if (QFileInfo::exists(run.modelFile())) {
        std::optional<QByteArray> bytes = readCheckedFile(run.modelFile(), error);
        if (!bytes)
            return nullptr;
        if (!loadModule(*model, std::move(*bytes), error)) {
            if (error)
                *error = QStringLiteral("%1: %2").arg(run.modelFile(), *error);
            return nullptr;
        }
        return model;
    }
    QString lastError;
    for (const QString &ckpt : listCheckpoints(run.checkpointDir())) {
        if (loadCheckpointModel(ckpt, *model, &lastError))
            return model;
    }
    if (error)
        *error = lastError.isEmpty()
            ? QStringLiteral("run folder %1 has no trained model (no model.pt, no checkpoint)")
                  .arg(run.runDir)
            : lastError;
    return nullptr;
}

std::shared_ptr<ClassifierImpl> loadExportedModel(
    QByteArray bytes, const QString &file, RunInfo *run, QString *error)
{
    torch::serialize::InputArchive archive;
    QString why;
    if (!readArchive(std::move(bytes), archive, &why)) {
        if (error)
            *error = QStringLiteral("%1 is not a model exported by LeanTune (%2); export it with "
                                    "'leantune-cli export RUNDIR --format libtorch', or pass the "
                                    "run folder")
                         .arg(file, why);
        return nullptr;
    }
    const QByteArray description = archiveDescription(archive);
    if (description.isEmpty()) {
        if (error)
            *error = QStringLiteral(
                "%1 is not a model exported by LeanTune (export it with "
                "'leantune-cli export RUNDIR --format libtorch', or pass the run folder)")
                         .arg(file);
        return nullptr;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(description, &parseError);
    std::optional<RunInfo> info
        = doc.isObject() ? RunInfo::fromJson(doc.object(), file, error) : std::nullopt;
    if (!info) {
        if (error && !doc.isObject())
            *error = QStringLiteral("%1: the stored run description is not valid JSON").arg(file);
        return nullptr;
    }
    std::shared_ptr<ClassifierImpl> model = createRunModel(*info, error);
    if (!model || !loadModule(*model, archive, error))
        return nullptr;
    *run = *info;
    return model;
}

} // namespace leantune
