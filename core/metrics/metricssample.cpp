#include "metrics/metricssample.h"

#include <QJsonArray>
#include <QStringBuilder>

namespace leantune {

namespace {
QString num(double v)
{
    return QString::number(v, 'g', 8);
}
QString num(std::int64_t v)
{
    return QString::number(v);
}
// A figure that is not available (negative: no evaluation yet, no device) is an empty cell, which
// pandas reads as NaN and spreadsheets as blank; -1 would be plotted as a value.
QString numOrEmpty(double v)
{
    return v < 0 ? QString() : num(v);
}
QString numOrEmpty(std::int64_t v)
{
    return v < 0 ? QString() : num(v);
}
// One value per rank, ';'-separated (a CSV cell); empty when not data parallel.
template <typename Get>
QString perRank(const std::vector<MetricsSample::RankFigures> &ranks, Get get)
{
    QStringList values;
    for (const MetricsSample::RankFigures &r : ranks)
        values << get(r);
    return values.join(QLatin1Char(';'));
}
} // namespace

QJsonObject MetricsSample::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("step")] = qint64(step);
    o[QStringLiteral("epoch")] = epoch;
    o[QStringLiteral("epoch_progress")] = epochProgress;
    o[QStringLiteral("images")] = qint64(images);
    o[QStringLiteral("images_per_sec")] = imagesPerSec;
    o[QStringLiteral("data_wait_ms")] = dataWaitMs;
    o[QStringLiteral("compute_ms")] = computeMs;
    o[QStringLiteral("loss")] = loss;
    o[QStringLiteral("accuracy")] = accuracy;
    o[QStringLiteral("val_loss")] = valLoss;
    o[QStringLiteral("val_accuracy")] = valAccuracy;
    o[QStringLiteral("lr")] = learningRate;
    o[QStringLiteral("target_sparsity")] = targetSparsity;
    o[QStringLiteral("measured_sparsity")] = measuredSparsity;
    o[QStringLiteral("host_rss_bytes")] = qint64(hostRssBytes);
    o[QStringLiteral("host_peak_rss_bytes")] = qint64(hostPeakRssBytes);
    o[QStringLiteral("device_allocated_bytes")] = qint64(deviceAllocatedBytes);
    o[QStringLiteral("device_reserved_bytes")] = qint64(deviceReservedBytes);
    o[QStringLiteral("device_peak_bytes")] = qint64(devicePeakBytes);
    o[QStringLiteral("device_used_bytes")] = qint64(deviceUsedBytes);
    o[QStringLiteral("device_total_bytes")] = qint64(deviceTotalBytes);
    o[QStringLiteral("batch_size")] = batchSize;
    o[QStringLiteral("elapsed_sec")] = elapsedSec;
    if (!event.isEmpty())
        o[QStringLiteral("event")] = event;
    o[QStringLiteral("micro_batch")] = microBatch;
    o[QStringLiteral("accumulation_steps")] = accumulationSteps;
    if (lossScale > 0.0)
        o[QStringLiteral("loss_scale")] = lossScale;
    if (!ranks.empty()) {
        QJsonArray list;
        for (const RankFigures &r : ranks)
            list.append(QJsonObject { { QStringLiteral("images_per_sec"), r.imagesPerSec },
                { QStringLiteral("host_rss_bytes"), qint64(r.hostRssBytes) },
                { QStringLiteral("device_allocated_bytes"), qint64(r.deviceAllocatedBytes) } });
        o[QStringLiteral("ranks")] = list;
    }
    return o;
}

QStringList MetricsSample::csvHeader()
{
    return { QStringLiteral("step"), QStringLiteral("epoch"), QStringLiteral("epoch_progress"),
        QStringLiteral("images"), QStringLiteral("images_per_sec"), QStringLiteral("data_wait_ms"),
        QStringLiteral("compute_ms"), QStringLiteral("loss"), QStringLiteral("accuracy"),
        QStringLiteral("val_loss"), QStringLiteral("val_accuracy"), QStringLiteral("lr"),
        QStringLiteral("target_sparsity"), QStringLiteral("measured_sparsity"),
        QStringLiteral("host_rss_bytes"), QStringLiteral("host_peak_rss_bytes"),
        QStringLiteral("device_allocated_bytes"), QStringLiteral("device_reserved_bytes"),
        QStringLiteral("device_peak_bytes"), QStringLiteral("device_used_bytes"),
        QStringLiteral("device_total_bytes"), QStringLiteral("batch_size"),
        QStringLiteral("elapsed_sec"), QStringLiteral("event"), QStringLiteral("micro_batch"),
        QStringLiteral("accumulation_steps"), QStringLiteral("loss_scale"),
        QStringLiteral("rank_images_per_sec"), QStringLiteral("rank_host_rss_bytes"),
        QStringLiteral("rank_device_allocated_bytes") };
}

QString MetricsSample::toCsvRow() const
{
    const QStringList fields { num(step), num(std::int64_t(epoch)), num(epochProgress), num(images),
        num(imagesPerSec), num(dataWaitMs), num(computeMs), num(loss), num(accuracy),
        numOrEmpty(valLoss), numOrEmpty(valAccuracy), num(learningRate), num(targetSparsity),
        num(measuredSparsity), num(hostRssBytes), num(hostPeakRssBytes),
        numOrEmpty(deviceAllocatedBytes), numOrEmpty(deviceReservedBytes),
        numOrEmpty(devicePeakBytes), numOrEmpty(deviceUsedBytes), numOrEmpty(deviceTotalBytes),
        num(std::int64_t(batchSize)), num(elapsedSec), event, num(std::int64_t(microBatch)),
        num(std::int64_t(accumulationSteps)),
        lossScale > 0.0 ? num(lossScale) : QString(), // 0: not used
        perRank(ranks, // a rank not heard from yet (no RSS) is an empty value
            [](const RankFigures &r) {
                return r.hostRssBytes > 0 ? num(r.imagesPerSec) : QString();
            }),
        perRank(ranks,
            [](const RankFigures &r) {
                return r.hostRssBytes > 0 ? num(r.hostRssBytes) : QString();
            }),
        perRank(ranks, [](const RankFigures &r) { return numOrEmpty(r.deviceAllocatedBytes); }) };
    return fields.join(QLatin1Char(','));
}

} // namespace leantune
