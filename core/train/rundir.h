#pragma once

#include "config/runconfig.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>

namespace leantune {

// A run folder's layout: config.json, metrics.csv, summary.json, model.pt, run.log, checkpoints/.
struct RunInfo {
    QString runDir;
    RunConfig config;
    QStringList classNames; // label order

    QString configFile() const;
    QString metricsFile() const;
    QString summaryFile() const;
    QString logFile() const; // run.log: the Trainer's messages, timestamped (appended on resume)
    QString modelFile() const;
    QString checkpointDir() const;

    // config.json's content: the RunConfig plus "class_names".
    QJsonObject toJson() const;
    // From such an object; SOURCE names where it came from in the error. std::nullopt + *error
    // when it is not a valid run description.
    static std::optional<RunInfo> fromJson(
        const QJsonObject &o, const QString &source, QString *error);
};

// Reads RUNDIR/config.json (written by the trainer). std::nullopt + *error when missing or invalid.
std::optional<RunInfo> readRunInfo(const QString &runDir, QString *error);
// Writes RUNDIR/config.json atomically, with the class names.
bool writeRunInfo(const RunInfo &info, QString *error);

// Makes sure DIR can hold a new run: creates it if missing; refuses a non-empty folder unless
// resume or force; checks that it is writable. False and the reason in *ERROR when it cannot.
// With force, the previous run's files (config, metrics, summary, model, checkpoints) are removed.
bool prepareRunDir(const QString &dir, bool resume, bool force, QString *error);

} // namespace leantune
