#pragma once

#include <QString>

#include <cstdint>

namespace leantune {

// The outcome of one batch-size trial.
struct BatchTrial {
    int batchSize = 0;
    bool outOfMemory = false;
    std::int64_t peakBytes = -1; // measured or predicted peak; -1 after an out-of-memory
    bool fits = false; // set by the finder: no out-of-memory and peak ≤ its limit
    QString error; // a failure other than out-of-memory ends the search
};

// What BatchSizeFinder tries batch sizes on: real short training runs on a CUDA device, the memory
// planner's prediction on the CPU, a fake allocator in tests. Implementations must not throw.
class BatchTrialRunner {
public:
    virtual ~BatchTrialRunner() = default;
    // Trains (or predicts) a few steps at BATCH_SIZE and reports the peak or an out-of-memory.
    virtual BatchTrial run(int batchSize) = 0;
    // Frees what a trial left behind (tensors, gradients, the allocator's cache). The finder calls
    // it after every trial, the failed ones included.
    virtual void release() { }
};

} // namespace leantune
