#pragma once

#include "train/batchtrialrunner.h"
#include "train/memoryplanner.h"
#include "config/runconfig.h"

#include <QJsonObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

namespace leantune {

struct BatchSearchOptions {
    int minBatch = 1;
    int maxBatch = 4096; // cap (also capped by the data set size by callers)
    int startBatch = 0; // first trial; 0 = minBatch
    double margin = 0.10; // the peak must stay ≤ capacity × (1 − margin)
    double tolerance
        = 0.0; // bisection stops once the bracket is ≤ max(1, tolerance × the size that fits)
};

struct BatchSearchResult {
    int batchSize = 0; // 0 when not even minBatch fits (see error)
    std::int64_t peakBytes = -1; // peak of the trial at batchSize
    std::int64_t capacityBytes = 0;
    std::int64_t limitBytes = 0; // capacity × (1 − margin)
    bool capped = false; // the cap stopped the search, not memory
    std::vector<BatchTrial> trials; // in the order run
    QString error;

    bool ok() const { return batchSize > 0; }
};

// A batch size for a run configuration, with the plan it came from.
struct BatchSizeReport {
    BatchSearchResult search;
    MemoryPlan plan;
    std::int64_t predictedPeakBytes = 0; // the planner's prediction at search.batchSize
    bool measured = false; // search.peakBytes is a real measurement (CUDA trials)
    // Why the cap is where it is, when the cap (not memory) stopped the search: "a tenth of the
    // 5400 training images" or "the maximum batch (--max-batch-size 4096)".
    QString capReason;

    QJsonObject toJson() const; // {"batch_size", "predicted_peak_bytes", "capacity_bytes", ...}
    QString capText() const; // " (capped: REASON)" when capped, else empty
};

// Finds the largest batch size that fits: doubles from the start batch while trials fit, then
// bisects between the last fitting and the first failing size. A trial fits when it runs without
// running out of memory and its peak stays under capacity × (1 − margin). Calls runner.release()
// after every trial, so the device is clean whatever a trial did. Never throws.
class BatchSizeFinder {
public:
    explicit BatchSizeFinder(BatchSearchOptions options = {})
        : m_options(options)
    {
    }

    BatchSearchResult search(BatchTrialRunner &runner, std::int64_t capacityBytes,
        const std::atomic_bool *cancel = nullptr) const;

    // For a run configuration (model.classes set; caps at config.maxBatchSize and, for
    // MAX_SAMPLES > 0 training images, at a tenth of them, but at least min(32, MAX_SAMPLES): a
    // larger batch leaves under ten steps an epoch): probes memory with MemoryPlanner, then
    // searches with real short trials on a CUDA device, or with the planner's predictions against
    // the host budget on the CPU. Runs on the calling thread.
    static std::optional<BatchSizeReport> find(const RunConfig &config, std::int64_t maxSamples,
        QString *error, const std::atomic_bool *cancel = nullptr);

private:
    BatchSearchOptions m_options;
};

} // namespace leantune
