#include "run/runsummary.h"

#include <QJsonValue>

namespace leantune {

QJsonObject RunSummary::toJson() const
{
    const auto orNull = [](double v) { return v < 0 ? QJsonValue() : QJsonValue(v); };
    QJsonObject o;
    o[QStringLiteral("status")] = status;
    o[QStringLiteral("device")] = device;
    o[QStringLiteral("val_accuracy")] = orNull(valAccuracy);
    o[QStringLiteral("val_loss")] = orNull(valLoss);
    o[QStringLiteral("test_accuracy")] = orNull(testAccuracy);
    o[QStringLiteral("final_sparsity")] = finalSparsity;
    o[QStringLiteral("target_sparsity")] = targetSparsity;
    o[QStringLiteral("images_per_sec")] = imagesPerSec;
    o[QStringLiteral("peak_host_rss_bytes")] = qint64(peakHostRssBytes);
    o[QStringLiteral("peak_device_bytes")] =
        peakDeviceBytes < 0 ? QJsonValue() : QJsonValue(qint64(peakDeviceBytes));
    o[QStringLiteral("steps")] = qint64(steps);
    o[QStringLiteral("epochs")] = epochs;
    o[QStringLiteral("skipped_files")] = qint64(skippedFiles);
    o[QStringLiteral("wall_seconds")] = wallSeconds;
    o[QStringLiteral("run_dir")] = runDir;
    o[QStringLiteral("batch_size")] = batchSize;
    o[QStringLiteral("micro_batch")] = microBatch;
    o[QStringLiteral("oom_recoveries")] = oomRecoveries;
    o[QStringLiteral("predicted_peak_bytes")] =
        predictedPeakBytes < 0 ? QJsonValue() : QJsonValue(qint64(predictedPeakBytes));
    o[QStringLiteral("memory_budget_bytes")] = qint64(memoryBudgetBytes);
    return o;
}

} // namespace leantune
