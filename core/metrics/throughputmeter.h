#pragma once

#include <QElapsedTimer>

#include <cstdint>
#include <vector>

namespace leantune {

// Accumulates per-batch figures between emissions and keeps every interval's throughput for the
// run's median. Not thread-safe: owned by the trainer's thread. Times in milliseconds.
class ThroughputMeter {
public:
    void addBatch(std::int64_t images, double waitMs, double computeMs);
    bool hasData() const { return m_batches > 0; }

    struct Interval {
        double imagesPerSec = 0, dataWaitMs = 0, computeMs = 0, loss = 0, accuracy = 0;
        std::int64_t images = 0;
    };
    // Closes the current interval (throughput = images / (wait + compute) time of its batches).
    // lossSum is the interval's summed per-image loss and correct its correct predictions; they are
    // passed here rather than per batch so that a CUDA run reads them back once per interval.
    Interval take(double lossSum = 0.0, std::int64_t correct = 0);
    // Median of the per-interval throughputs so far (0 when none).
    double medianImagesPerSec() const;

private:
    std::int64_t m_images = 0, m_batches = 0;
    double m_waitMs = 0, m_computeMs = 0;
    std::vector<double> m_history;
};

} // namespace leantune
