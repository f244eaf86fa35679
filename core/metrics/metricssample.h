#pragma once

#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <vector>

namespace leantune {

// One point of a run's live figures, emitted by the Trainer at most ~20 times a second.
// A small copyable value: it crosses threads in queued signals. Units are in the field names;
// negative device figures mean "not available" (CPU run).
struct MetricsSample {
    std::int64_t step = 0; // optimizer steps so far (from 1)
    int epoch = 0; // 0-based epoch of the step
    double epochProgress = 0.0; // fraction of the epoch done, 0..1
    std::int64_t images = 0; // training images seen so far
    double imagesPerSec = 0.0; // throughput over the last emission interval (data parallel: of
                               // the global batch, i.e. the sum over the ranks)
    double dataWaitMs = 0.0; // loader wait per batch (mean over the interval)
    double computeMs = 0.0; // forward+backward+step per batch (mean over the interval)
    double loss = 0.0; // training loss (mean over the interval)
    double accuracy = 0.0; // training accuracy over the interval, 0..1
    double valLoss = -1.0; // last validation figures (-1 until the first evaluation)
    double valAccuracy = -1.0;
    double learningRate = 0.0;
    double targetSparsity = 0.0; // schedule's target at the last mask update
    double measuredSparsity = 0.0; // 1 − mean(mask) over prunable weights
    std::int64_t hostRssBytes = 0;
    std::int64_t hostPeakRssBytes = 0;
    std::int64_t deviceAllocatedBytes = -1;
    std::int64_t deviceReservedBytes = -1;
    std::int64_t devicePeakBytes = -1;
    std::int64_t deviceUsedBytes = -1; // device-wide (all processes)
    std::int64_t deviceTotalBytes = -1;
    int batchSize = 0; // effective batch (images per optimizer step)
    double elapsedSec = 0.0;
    QString event; // non-empty for notable events (e.g. "checkpoint", "resume",
                   // "oom_recovered": an out-of-memory was caught and the step re-run
                   // with a smaller micro-batch)
    int microBatch = 0; // images per forward/backward (== batchSize without accumulation)
    int accumulationSteps = 1; // micro-batches per optimizer step
    double lossScale = 0.0; // fp16 dynamic loss scale (0 when not used)

    // Data parallel: each rank's own figures, rank 0 first, as gathered at the last
    // step (a rank's own images/s are its shard's images over its last emission interval, so
    // they add up to imagesPerSec); empty in a single-process run.
    struct RankFigures {
        double imagesPerSec = 0.0;
        std::int64_t hostRssBytes = 0; // 0: not known yet
        std::int64_t deviceAllocatedBytes = -1; // -1: not on CUDA
    };
    std::vector<RankFigures> ranks;

    QJsonObject toJson() const;
    static QStringList csvHeader();
    // One metrics.csv row in csvHeader()'s order. Figures that are not available (negative
    // validation or device values, a loss scale of 0) are empty cells, never -1. The per-rank
    // columns (rank_images_per_sec, rank_host_rss_bytes, rank_device_allocated_bytes) hold one
    // value per rank separated by ';' (rank 0 first), empty in a single-process run.
    QString toCsvRow() const;
};

} // namespace leantune

Q_DECLARE_METATYPE(leantune::MetricsSample)
