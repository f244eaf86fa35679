#include "config/runconfig.h"

#include "config/runfields.h"

#include "metrics/memoryprobe.h"

#include <QJsonValue>
#include <QStringBuilder>
#include <QThread>

#include <algorithm>

namespace leantune {

QJsonObject RunConfig::toJson() const
{
    QJsonObject o;
    for (const RunField &f : runFields())
        o[f.key] = f.toJson(*this);
    return o;
}

std::optional<RunConfig> RunConfig::fromJson(const QJsonObject &o, QString *error)
{
    RunConfig c;
    QStringList problems;
    for (const RunField &f : runFields()) {
        const QJsonValue v = o.value(f.key);
        QString problem;
        if (!v.isUndefined() && !f.fromJson(c, v, &problem))
            problems << problem;
    }
    // Runs written before prune_scope existed pruned each layer to the target.
    if (o.value(QLatin1String("prune_scope")).isUndefined())
        c.pruneScope = PruneScope::Layer;
    // Runs written before memory_format existed: a flag, off by default.
    if (o.value(QLatin1String("memory_format")).isUndefined()) {
        const QJsonValue legacy = o.value(QLatin1String("channels_last"));
        if (!legacy.isUndefined() && !legacy.isBool())
            problems << QStringLiteral("wrong type for channels_last");
        c.memoryFormat = legacy.toBool() ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
    }
    if (!problems.isEmpty()) {
        if (error)
            *error = QStringLiteral("run configuration: ") % problems.join(QStringLiteral("; "));
        return std::nullopt;
    }
    return c;
}

bool RunConfig::validate(QString *error) const
{
    const auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    for (const RunField &f : runFields()) {
        if (f.check && !f.check(*this, error))
            return false;
    }
    ModelSpec spec = model;
    spec.classes = qMax(spec.classes, 2); // classes come from the data; checked after the scan
    if (!validateModelSpec(spec, error))
        return false;
    if (precision != Precision::Fp32 && device == QLatin1String("cpu"))
        return fail(QStringLiteral("--precision %1 needs a CUDA device (use --device cuda or auto)")
                        .arg(enumName(precision)));
    return true;
}

bool RunConfig::useChannelsLast(bool onCuda) const
{
    switch (memoryFormat) {
    case MemoryFormat::ChannelsLast:
        return true;
    case MemoryFormat::Contiguous:
        return false;
    case MemoryFormat::Auto:
        break;
    }
    if (onCuda)
        return precision != Precision::Fp32;
    return model.name.startsWith(QLatin1String("resnet"));
}

int RunConfig::effectiveThreads() const
{
    return threads > 0 ? threads : qMax(1, QThread::idealThreadCount());
}

int RunConfig::localWorldSize() const
{
    if (device == QLatin1String("cuda:all") && nproc <= 1)
        return std::max(1, cudaDeviceCount());
    if (nproc == 0)
        return std::max(1, QThread::idealThreadCount());
    return std::max(1, nproc);
}

int RunConfig::threadsPerRank(int worldSize) const
{
    return threads > 0 ? threads
                       : std::max(1, QThread::idealThreadCount() / std::max(1, worldSize));
}

bool RunConfig::checkWorldSize(int worldSize, QString *error) const
{
    if (worldSize <= 1 || (!batchSizeAuto && batchSize % worldSize == 0))
        return true;
    if (error)
        *error = batchSizeAuto
            ? QStringLiteral("data parallel: %1 processes need a fixed batch size (auto is not "
                             "available in data parallel)")
                  .arg(worldSize)
            : QStringLiteral("data parallel: the batch size (%1, the global batch) must be a "
                             "multiple of the %2 processes: each takes an equal share of every "
                             "batch")
                  .arg(batchSize)
                  .arg(worldSize);
    return false;
}

double RunConfig::memoryMarginFor(bool onDevice) const
{
    if (memoryMargin != kAutoMemoryMargin)
        return memoryMargin;
    return onDevice ? 0.10 : 0.04;
}

std::int64_t RunConfig::memoryBudgetLimitBytes() const
{
    return memoryBudgetBytes > 0
        ? std::int64_t(double(memoryBudgetBytes) * (1.0 - memoryMarginFor(false)))
        : 0;
}

std::optional<QString> resolveDevice(const QString &requested, QString *error)
{
    const int count = cudaDeviceCount();
    // Data parallel: each local rank takes its own GPU (cuda:LOCAL_RANK) for cuda:all, and for auto
    // and cuda when launched with a world size (run/distenv.h).
    QString device = requested;
    const bool distributed = qEnvironmentVariableIsSet("WORLD_SIZE");
    if (device == QLatin1String("cuda:all")
        || (distributed && count > 0
            && (device == QLatin1String("auto") || device == QLatin1String("cuda"))))
        device = QStringLiteral("cuda:%1").arg(qEnvironmentVariableIntValue("LOCAL_RANK"));
    if (device == QLatin1String("auto"))
        return count > 0 ? QStringLiteral("cuda:0") : QStringLiteral("cpu");
    if (device == QLatin1String("cpu"))
        return device;
    if (device.startsWith(QLatin1String("cuda"))) {
        bool ok = true;
        const int index = device.contains(QLatin1Char(':'))
            ? device.section(QLatin1Char(':'), 1).toInt(&ok)
            : 0;
        if (!ok || index < 0) {
            if (error)
                *error = QStringLiteral("unknown device '%1' (choose auto, cpu, cuda or cuda:N)")
                             .arg(device);
            return std::nullopt;
        }
        if (count == 0) {
            if (error)
                *error = QStringLiteral("device '%1' asked for, but no CUDA device is available "
                                        "(this build %2 CUDA); use --device cpu")
                             .arg(device,
                                 QLatin1String(
#ifdef LEANTUNE_WITH_CUDA
                                     "has"
#else
                                     "has no"
#endif
                                     ));
            return std::nullopt;
        }
        if (index >= count) {
            if (error)
                *error = QStringLiteral("device '%1' asked for, but only %2 CUDA device(s) found")
                             .arg(device)
                             .arg(count);
            return std::nullopt;
        }
        return QStringLiteral("cuda:%1").arg(index);
    }
    if (error)
        *error
            = QStringLiteral("unknown device '%1' (choose auto, cpu, cuda or cuda:N)").arg(device);
    return std::nullopt;
}

} // namespace leantune
