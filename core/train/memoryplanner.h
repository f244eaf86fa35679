#pragma once

#include "config/runconfig.h"

#include <QJsonObject>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace leantune {

// One measurement: the peak memory (bytes) of a few training steps at a batch size.
struct MemoryProbe {
    int batchSize = 0;
    std::int64_t peakBytes = 0;
};

// Peak memory as a straight line in the batch size: peak(b) = fixedBytes + perImageBytes × b.
struct MemoryFit {
    double fixedBytes = 0.0;
    double perImageBytes = 0.0;
    int points = 0;
    double maxResidualFraction = 0.0; // worst |measured − fitted| / measured over the probes

    bool isValid() const { return points >= 2; }
    std::int64_t predict(int batch) const;
};

// What a run will need: fits of probe measurements for training steps and evaluation passes, plus
// the loader's host memory, against a capacity. Bytes are the device's CUDA allocator peak on a
// CUDA run (onDevice), the whole process's host RSS peak on a CPU run.
struct MemoryPlan {
    QString device; // "cpu", "cuda:0"
    bool onDevice = false;
    std::vector<MemoryProbe> trainProbes, evalProbes;
    MemoryFit train, eval;
    // Host plans: the process's peak while a checkpoint is serialized (model, optimizer state and
    // pruning masks, as the Trainer writes after each epoch), measured after the probes; the
    // evaluation passes and this write are part of the run's peak like its training steps.
    std::int64_t checkpointPeakBytes = 0;
    std::int64_t loaderBytesPerImage = 0; // host plans: one image and label in a loader batch
    int queueDepth = 4; // the run's loader queue depth
    std::int64_t capacityBytes = 0; // device memory this process may use, or the host budget
    double margin = 0.10;

    std::int64_t limitBytes() const { return std::int64_t(double(capacityBytes) * (1.0 - margin)); }
    // Predicted peak of a run with effective batch BATCH trained in micro-batches of MICRO images
    // (0: whole batches), a loader queue of QUEUE batches (-1: queueDepth) and evaluation batches
    // of EVAL images (0: MemoryPlanner::evalBatchFor(batch)): the largest of the training steps',
    // the evaluation passes' and the checkpoint write's peaks. The loader holds at most QUEUE + 1
    // batches.
    std::int64_t predictPeak(
        int batch, int microBatch = 0, int queue = -1, int evalBatch = 0) const;
    QJsonObject toJson() const;
};

// How a run fits under a limit: the largest micro-batch first, then the deepest loader queue.
struct MemoryFitting {
    int batchSize = 0; // effective batch (unchanged)
    int microBatch = 0; // images per forward/backward
    int accumulationSteps = 1; // ceil(batchSize / microBatch)
    int queueDepth = 1;
    int evalBatch = 0;
    std::int64_t predictedPeakBytes = 0;
    bool fits = false; // false: not even micro-batch 1 with queue depth 1 fits
    std::int64_t limitBytes = 0; // the limit it was fitted to
};

// Predicts peak memory from short probes. probe() runs a few real training steps at small batch
// sizes on the run's device (in this process, on the calling thread), measures each peak (CUDA
// allocator peak, or host VmHWM reset between probes), and fits a line by least squares. Never
// throws: errors come back as std::nullopt and a message; an out-of-memory during a probe ends the
// probing at the sizes measured so far.
class MemoryPlanner {
public:
    struct ProbeOptions {
        // Probed in increasing order; empty: 8, 16, 32, 64 on the CPU (smaller probes alone predict
        // large batches low: small batches fill holes the heap already has), 16 to 128 on a CUDA
        // device. Under a host budget on the CPU, a size the earlier probes put over the budget's
        // limit is replaced by the largest they put under it, and probing ends there: the probes
        // are part of the run's peak. Figures: bench/README.md, "Memory probes".
        std::vector<int> batchSizes;
        // Optimizer steps per probe (after a warm-up); 0: 4 on the CPU, where a host peak is the
        // worst over the steps and glibc's heap varies from step to step, 2 on a CUDA device, whose
        // allocator's peak repeats. Figures: bench/README.md, "Memory probes".
        int steps = 0;
        // The batch the run will train with, probed besides batchSizes when it is larger than all
        // of them: the run then pays a few of its own steps to measure its peak instead of
        // extrapolating it (smallcnn's probes to 64 put a run at 128 9-17 % high, as the heap
        // happened to lie). 0: none.
        int runBatch = 0;
    };

    // Least-squares line through the probes (needs two distinct batch sizes for a valid fit).
    static MemoryFit fitLinear(const std::vector<MemoryProbe> &probes);
    // The evaluation batch the Trainer uses for training batch BATCH: the same, so that the pass
    // without gradients never sets the peak. (At 256, smallcnn's end-of-epoch validation added
    // 60-100 MiB to a 240 MiB training peak on 28 px Fashion-MNIST, and that peak varied by 40 MiB
    // from run to run.)
    static int evalBatchFor(int batch) { return batch; }
    // The largest micro-batch (halving) and queue depth (≤ QUEUE) whose predicted peak stays ≤
    // LIMIT, with evaluation batches of at most EVAL_BATCH images (0: evalBatchFor(batch)).
    static MemoryFitting fitToLimit(
        const MemoryPlan &plan, int batch, int queue, std::int64_t limitBytes, int evalBatch = 0);
    // How far apart two probes of the same batch size read on the CPU under the bounded host
    // allocator: resnet18 64 px batch 29 peaked at 955-962 MiB over eight runs; runs' probes at
    // find-batch-size's answer read 901 MiB where the search had predicted 894 (0.8 %), and 939
    // where it had predicted 931 (0.9 %).
    static constexpr double kProbeSpread = 0.02;
    // For a batch size the user chose (often find-batch-size's answer, which sits at the limit): as
    // fitToLimit(), but a batch that would be split only because its whole-batch peak is over LIMIT
    // by no more than kProbeSpread trains whole (the result's limitBytes says which limit held), so
    // that noise at the edge does not split the finder's answer in the run that re-probes it.
    static MemoryFitting fitGivenBatch(
        const MemoryPlan &plan, int batch, int queue, std::int64_t limitBytes, int evalBatch = 0);
    // Probes CONFIG's model on CONFIG's device (model.classes must be set). The capacity is the
    // CUDA memory free to this process (at most its limitDeviceMemory() cap), or
    // config.memoryBudgetBytes on the CPU (else the available host memory plus this process's RSS).
    // Sets torch's intra-op threads to config.effectiveThreads() and seeds torch's RNG from
    // config.seed; a caller that needs its own RNG state re-seeds.
    static std::optional<MemoryPlan> probe(
        const RunConfig &config, const ProbeOptions &options, QString *error);
    static std::optional<MemoryPlan> probe(const RunConfig &config, QString *error)
    {
        return probe(config, ProbeOptions {}, error);
    }
};

} // namespace leantune
