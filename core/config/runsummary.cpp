#include "config/runsummary.h"

#include <QJsonValue>

namespace leantune {

QJsonObject RunSummary::toJson() const
{
    QJsonObject o;
    // A figure that was not measured (a run without a test folder, or stopped during its pass) is
    // left out.
    const auto measured = [&o](const char *key, double v) {
        if (v >= 0)
            o[QLatin1String(key)] = v;
    };
    o[QStringLiteral("status")] = status;
    o[QStringLiteral("device")] = device;
    measured("val_accuracy", valAccuracy);
    measured("val_loss", valLoss);
    measured("test_accuracy", testAccuracy);
    o[QStringLiteral("final_sparsity")] = finalSparsity;
    o[QStringLiteral("target_sparsity")] = targetSparsity;
    o[QStringLiteral("images_per_sec")] = imagesPerSec;
    o[QStringLiteral("peak_host_rss_bytes")] = qint64(peakHostRssBytes);
    o[QStringLiteral("peak_device_bytes")]
        = peakDeviceBytes < 0 ? QJsonValue() : QJsonValue(qint64(peakDeviceBytes));
    o[QStringLiteral("steps")] = qint64(steps);
    o[QStringLiteral("epochs")] = epochs;
    o[QStringLiteral("skipped_files")] = qint64(skippedFiles);
    o[QStringLiteral("wall_seconds")] = wallSeconds;
    o[QStringLiteral("run_dir")] = runDir;
    o[QStringLiteral("batch_size")] = batchSize;
    o[QStringLiteral("micro_batch")] = microBatch;
    o[QStringLiteral("oom_recoveries")] = oomRecoveries;
    o[QStringLiteral("predicted_peak_bytes")]
        = predictedPeakBytes < 0 ? QJsonValue() : QJsonValue(qint64(predictedPeakBytes));
    o[QStringLiteral("memory_budget_bytes")] = qint64(memoryBudgetBytes);
    return o;
}

} // namespace leantune
