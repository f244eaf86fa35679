#pragma once

#include "config/runconfig.h"

#include <QString>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

namespace leantune {

// What the memory planner decided for a run: how the batch is split, how deep the loader queue is,
// how large evaluation batches are, and the peak it predicts for all of it.
struct RunMemoryPlan {
    int batchSize = 0; // the global batch: the configuration's, or the finder's for batch size auto
    int microBatch = 0; // images per forward/backward; 0 = whole batches
    int queueDepth = 4; // loader queue depth (bounded by a host budget)
    int evalBatch = 256; // evaluation batch size
    std::int64_t predictedPeak = -1; // bytes; -1 when not planned
    std::int64_t cacheBudget
        = -1; // decoded-cache bytes a host budget leaves; -1: the cache's default
};

// Plans the run's memory when it asks for it (batch size auto, or a host memory budget): probes the
// model on DEVICENAME (the run's resolved device), runs the BatchSizeFinder for batch size auto
// (the size found is the plan's batchSize), and fits micro-batches, queue depth and
// evaluation batch under the limit. Without either, only the evaluation batch is chosen. LOG
// receives what was decided. std::nullopt + *error when the limit cannot be met or the probes fail
// (or CANCEL was set).
std::optional<RunMemoryPlan> planRunMemory(const RunConfig &config, std::int64_t trainImages,
    std::int64_t evalImages, const QString &deviceName, const std::atomic_bool *cancel,
    const std::function<void(const QString &)> &log, QString *error);

} // namespace leantune
