#include "store/runstore.h"

#include "dataset/sampledata.h"
#include "prune/pruningschedule.h"

#include <QAtomicInteger>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringBuilder>
#include <QVariant>

namespace leantune {

namespace {

QAtomicInteger<int> g_connectionCounter;

QString toText(const QJsonObject &o)
{
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}
QJsonObject fromText(const QString &s)
{
    return QJsonDocument::fromJson(s.toUtf8()).object();
}

double num(const QJsonObject &o, const char *key, double fallback)
{
    const QJsonValue v = o.value(QLatin1String(key));
    return v.isDouble() ? v.toDouble() : fallback;
}

} // namespace

double StoredRun::targetSparsity() const
{
    QString error;
    const auto schedule = PruningSchedule::parse(config.prune, &error);
    return schedule ? schedule->finalSparsity() : 0.0;
}

RunStore::RunStore()
    : m_connection(
        QStringLiteral("leantune-runstore-%1").arg(g_connectionCounter.fetchAndAddRelaxed(1)))
{
}

RunStore::~RunStore()
{
    if (QSqlDatabase::contains(m_connection)) {
        QSqlDatabase::database(m_connection, false).close();
        QSqlDatabase::removeDatabase(m_connection);
    }
}

namespace {

// Runs stopped by the user were recorded as "cancelled" before they were called "stopped".
QString normalizedStatus(const QString &status)
{
    return status == QLatin1String("cancelled") ? QStringLiteral("stopped") : status;
}

} // namespace

QString RunStore::defaultPath()
{
    const QString chosen = qEnvironmentVariable("LEANTUNE_HISTORY");
    return chosen.isEmpty() ? userDataDir() % QStringLiteral("/runs.sqlite") : chosen;
}

bool RunStore::isOpen() const
{
    return QSqlDatabase::contains(m_connection)
        && QSqlDatabase::database(m_connection, false).isOpen();
}

bool RunStore::exec(const QString &sql)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    if (!q.exec(sql)) {
        m_error = q.lastError().text();
        return false;
    }
    return true;
}

bool RunStore::open(const QString &path)
{
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE"))) {
        m_error = QStringLiteral("the Qt SQLite driver (QSQLITE) is not installed");
        return false;
    }
    const QString folder = QFileInfo(path).absolutePath();
    if (!QDir().mkpath(folder)) {
        m_error = QStringLiteral("cannot create the folder of %1").arg(path);
        return false;
    }
    // SQLite writes its journal beside the database: a folder this user cannot write to leaves
    // the history unwritable (or unreadable, in WAL mode) whatever the file's own permissions.
    if (!QFileInfo(folder).isWritable()) {
        m_error = QStringLiteral("the history folder %1 is not writable (check its permissions, or "
                                 "set LEANTUNE_HISTORY to a file in a writable folder)")
                      .arg(folder);
        return false;
    }
    if (QFileInfo::exists(path) && !QFileInfo(path).isWritable()) {
        m_error
            = QStringLiteral("the run history %1 is read-only (check its permissions)").arg(path);
        return false;
    }
    QSqlDatabase db = QSqlDatabase::contains(m_connection)
        ? QSqlDatabase::database(m_connection, false)
        : QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connection);
    db.close();
    db.setDatabaseName(path);
    // The CLI and the GUI may write to the same history at once: wait for the other's write.
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
    if (!db.open()) {
        m_error
            = QStringLiteral("cannot open the run history %1: %2").arg(path, db.lastError().text());
        return false;
    }
    m_path = path;
    return exec(QStringLiteral("PRAGMA foreign_keys = ON"))
        && exec(QStringLiteral("PRAGMA journal_mode = WAL"))
        && exec(QStringLiteral("CREATE TABLE IF NOT EXISTS runs ("
                               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               " created TEXT NOT NULL,"
                               " status TEXT NOT NULL,"
                               " message TEXT NOT NULL DEFAULT '',"
                               " config TEXT NOT NULL,"
                               " summary TEXT)"))
        && exec(QStringLiteral("CREATE TABLE IF NOT EXISTS samples ("
                               " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
                               " step INTEGER NOT NULL,"
                               " data TEXT NOT NULL)"))
        && exec(QStringLiteral("CREATE INDEX IF NOT EXISTS samples_run ON samples(run_id, step)"));
}

std::optional<qint64> RunStore::beginRun(const RunConfig &config, const QDateTime &created)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.prepare(
        QStringLiteral("INSERT INTO runs (created, status, config) VALUES (?, 'running', ?)"));
    q.addBindValue(created.toUTC().toString(Qt::ISODateWithMs));
    q.addBindValue(toText(config.toJson()));
    if (!q.exec()) {
        m_error = q.lastError().text();
        return std::nullopt;
    }
    return q.lastInsertId().toLongLong();
}

bool RunStore::addSamples(qint64 runId, const QVector<MetricsSample> &samples)
{
    if (samples.isEmpty())
        return true;
    QSqlDatabase db = QSqlDatabase::database(m_connection, false);
    if (!db.transaction()) {
        m_error = db.lastError().text();
        return false;
    }
    QSqlQuery q(db);
    q.prepare(QStringLiteral("INSERT INTO samples (run_id, step, data) VALUES (?, ?, ?)"));
    for (const MetricsSample &s : samples) {
        q.addBindValue(runId);
        q.addBindValue(qint64(s.step));
        q.addBindValue(toText(s.toJson()));
        if (!q.exec()) {
            m_error = q.lastError().text();
            db.rollback();
            return false;
        }
    }
    if (!db.commit()) {
        m_error = db.lastError().text();
        return false;
    }
    return true;
}

bool RunStore::updateRun(qint64 runId, const QString &set, const QVariantList &values)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.prepare(QStringLiteral("UPDATE runs SET %1 WHERE id = ?").arg(set));
    for (const QVariant &v : values)
        q.addBindValue(v);
    q.addBindValue(runId);
    if (!q.exec() || q.numRowsAffected() != 1) {
        m_error = q.lastError().isValid() ? q.lastError().text()
                                          : QStringLiteral("no run %1").arg(runId);
        return false;
    }
    return true;
}

bool RunStore::finishRun(qint64 runId, const RunSummary &summary)
{
    return updateRun(runId, QStringLiteral("status = ?, summary = ?"),
        { summary.status, toText(summary.toJson()) });
}

bool RunStore::resumeRun(qint64 runId)
{
    return updateRun(runId, QStringLiteral("status = 'running', message = '', summary = NULL"), {});
}

bool RunStore::dropSamplesFrom(qint64 runId, qint64 fromStep)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.prepare(QStringLiteral("DELETE FROM samples WHERE run_id = ? AND step >= ?"));
    q.addBindValue(runId);
    q.addBindValue(fromStep);
    if (!q.exec()) {
        m_error = q.lastError().text();
        return false;
    }
    return true;
}

bool RunStore::failRun(qint64 runId, const QString &message)
{
    return updateRun(runId, QStringLiteral("status = 'failed', message = ?"), { message });
}

bool RunStore::removeRun(qint64 runId)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.prepare(QStringLiteral("DELETE FROM samples WHERE run_id = ?"));
    q.addBindValue(runId);
    bool ok = q.exec();
    q.prepare(QStringLiteral("DELETE FROM runs WHERE id = ?"));
    q.addBindValue(runId);
    ok = ok && q.exec() && q.numRowsAffected() == 1;
    if (!ok)
        m_error = q.lastError().isValid() ? q.lastError().text()
                                          : QStringLiteral("no run %1").arg(runId);
    return ok;
}

namespace {

StoredRun runFromQuery(const QSqlQuery &q)
{
    StoredRun r;
    r.id = q.value(0).toLongLong();
    r.created = QDateTime::fromString(q.value(1).toString(), Qt::ISODateWithMs);
    r.created.setTimeSpec(Qt::UTC);
    r.status = normalizedStatus(q.value(2).toString());
    r.message = q.value(3).toString();
    QString error;
    if (auto c = RunConfig::fromJson(fromText(q.value(4).toString()), &error))
        r.config = *c;
    if (!q.value(5).isNull()) {
        r.summary = RunStore::summaryFromJson(fromText(q.value(5).toString()));
        r.hasSummary = true;
    }
    r.sampleCount = q.value(6).toLongLong();
    return r;
}

const char kRunColumns[]
    = "SELECT id, created, status, message, config, summary,"
      " (SELECT COUNT(*) FROM samples WHERE samples.run_id = runs.id) FROM runs";

} // namespace

QVector<StoredRun> RunStore::runs()
{
    QVector<StoredRun> result;
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    if (!q.exec(QLatin1String(kRunColumns) % QStringLiteral(" ORDER BY created DESC, id DESC"))) {
        m_error = q.lastError().text();
        return result;
    }
    while (q.next())
        result.append(runFromQuery(q));
    return result;
}

std::optional<StoredRun> RunStore::run(qint64 runId)
{
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.prepare(QLatin1String(kRunColumns) % QStringLiteral(" WHERE id = ?"));
    q.addBindValue(runId);
    if (!q.exec() || !q.next()) {
        m_error = q.lastError().isValid() ? q.lastError().text()
                                          : QStringLiteral("no run %1").arg(runId);
        return std::nullopt;
    }
    return runFromQuery(q);
}

QVector<MetricsSample> RunStore::samples(qint64 runId)
{
    QVector<MetricsSample> result;
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT data FROM samples WHERE run_id = ? ORDER BY rowid"));
    q.addBindValue(runId);
    if (!q.exec()) {
        m_error = q.lastError().text();
        return result;
    }
    while (q.next())
        result.append(sampleFromJson(fromText(q.value(0).toString())));
    return result;
}

MetricsSample RunStore::sampleFromJson(const QJsonObject &o)
{
    MetricsSample s;
    s.step = std::int64_t(num(o, "step", 0));
    s.epoch = int(num(o, "epoch", 0));
    s.epochProgress = num(o, "epoch_progress", 0);
    s.images = std::int64_t(num(o, "images", 0));
    s.imagesPerSec = num(o, "images_per_sec", 0);
    s.dataWaitMs = num(o, "data_wait_ms", 0);
    s.computeMs = num(o, "compute_ms", 0);
    s.loss = num(o, "loss", 0);
    s.accuracy = num(o, "accuracy", 0);
    s.valLoss = num(o, "val_loss", -1);
    s.valAccuracy = num(o, "val_accuracy", -1);
    s.learningRate = num(o, "lr", 0);
    s.targetSparsity = num(o, "target_sparsity", 0);
    s.measuredSparsity = num(o, "measured_sparsity", 0);
    s.hostRssBytes = std::int64_t(num(o, "host_rss_bytes", 0));
    s.hostPeakRssBytes = std::int64_t(num(o, "host_peak_rss_bytes", 0));
    s.deviceAllocatedBytes = std::int64_t(num(o, "device_allocated_bytes", -1));
    s.deviceReservedBytes = std::int64_t(num(o, "device_reserved_bytes", -1));
    s.devicePeakBytes = std::int64_t(num(o, "device_peak_bytes", -1));
    s.deviceUsedBytes = std::int64_t(num(o, "device_used_bytes", -1));
    s.deviceTotalBytes = std::int64_t(num(o, "device_total_bytes", -1));
    s.batchSize = int(num(o, "batch_size", 0));
    s.elapsedSec = num(o, "elapsed_sec", 0);
    s.event = o.value(QStringLiteral("event")).toString();
    s.microBatch = int(num(o, "micro_batch", 0));
    s.accumulationSteps = int(num(o, "accumulation_steps", 1));
    s.lossScale = num(o, "loss_scale", 0);
    for (const QJsonValue v : o.value(QStringLiteral("ranks")).toArray()) { // data parallel
        const QJsonObject r = v.toObject();
        s.ranks.push_back({ num(r, "images_per_sec", 0), std::int64_t(num(r, "host_rss_bytes", 0)),
            std::int64_t(num(r, "device_allocated_bytes", -1)) });
    }
    return s;
}

RunSummary RunStore::summaryFromJson(const QJsonObject &o)
{
    RunSummary s;
    s.status = normalizedStatus(o.value(QStringLiteral("status")).toString(s.status));
    s.device = o.value(QStringLiteral("device")).toString();
    s.valAccuracy = num(o, "val_accuracy", -1);
    s.valLoss = num(o, "val_loss", -1);
    s.testAccuracy = num(o, "test_accuracy", -1);
    s.finalSparsity = num(o, "final_sparsity", 0);
    s.targetSparsity = num(o, "target_sparsity", 0);
    s.imagesPerSec = num(o, "images_per_sec", 0);
    s.peakHostRssBytes = std::int64_t(num(o, "peak_host_rss_bytes", 0));
    s.peakDeviceBytes = std::int64_t(num(o, "peak_device_bytes", -1));
    s.steps = std::int64_t(num(o, "steps", 0));
    s.epochs = int(num(o, "epochs", 0));
    s.skippedFiles = std::int64_t(num(o, "skipped_files", 0));
    s.wallSeconds = num(o, "wall_seconds", 0);
    s.runDir = o.value(QStringLiteral("run_dir")).toString();
    s.batchSize = int(num(o, "batch_size", 0));
    s.microBatch = int(num(o, "micro_batch", 0));
    s.oomRecoveries = int(num(o, "oom_recoveries", 0));
    s.predictedPeakBytes = std::int64_t(num(o, "predicted_peak_bytes", -1));
    s.memoryBudgetBytes = std::int64_t(num(o, "memory_budget_bytes", 0));
    return s;
}

} // namespace leantune
