#pragma once

#include "metrics/metricssample.h"
#include "config/runconfig.h"
#include "config/runsummary.h"

#include <QDateTime>
#include <QMetaType>
#include <QString>
#include <QVariant>
#include <QVector>

#include <optional>

namespace leantune {

// One recorded run as the history shows it. status: running | finished | stopped | failed
// (a run still "running" in a store opened later was interrupted by a crash or a kill).
struct StoredRun {
    qint64 id = 0;
    QDateTime created; // UTC
    QString status;
    QString message; // the error of a failed run
    RunConfig config;
    RunSummary summary; // meaningful when hasSummary
    bool hasSummary = false;
    qint64 sampleCount = 0;

    double targetSparsity() const; // the schedule's final sparsity (0 without pruning)
};

// Run history in SQLite (QtSql, QSQLITE): each run's configuration, metric samples and summary.
// One instance owns one named database connection and must be used from the thread that opened it
// (the GUI thread in the application). Errors come back as false / std::nullopt with lastError().
class RunStore {
public:
    RunStore();
    ~RunStore();
    RunStore(const RunStore &) = delete;
    RunStore &operator=(const RunStore &) = delete;

    // $LEANTUNE_HISTORY when set, else USERDATA/runs.sqlite (see userDataDir()).
    static QString defaultPath();

    bool open(const QString &path);
    bool isOpen() const;
    QString path() const { return m_path; }
    QString lastError() const { return m_error; }

    std::optional<qint64> beginRun(
        const RunConfig &config, const QDateTime &created = QDateTime::currentDateTimeUtc());
    bool addSamples(qint64 runId, const QVector<MetricsSample> &samples); // one transaction
    bool finishRun(qint64 runId, const RunSummary &summary); // finished or stopped
    bool failRun(qint64 runId, const QString &message);
    // A stopped or failed run goes on (train --resume): its row is running again, and its samples
    // from FROMSTEP on, which the resumed run trains again, are dropped.
    bool resumeRun(qint64 runId);
    bool dropSamplesFrom(qint64 runId, qint64 fromStep);
    bool removeRun(qint64 runId);

    QVector<StoredRun> runs(); // newest first
    std::optional<StoredRun> run(qint64 runId);
    QVector<MetricsSample> samples(qint64 runId);

    static MetricsSample sampleFromJson(const QJsonObject &json);
    static RunSummary summaryFromJson(const QJsonObject &json);

private:
    bool exec(const QString &sql);
    // UPDATE runs SET SET WHERE id = RUNID, VALUES bound to SET's placeholders; false + lastError()
    // also when no row has that id.
    bool updateRun(qint64 runId, const QString &set, const QVariantList &values);
    QString m_connection;
    QString m_path;
    QString m_error;
};

} // namespace leantune

Q_DECLARE_METATYPE(leantune::StoredRun)
