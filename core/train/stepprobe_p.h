#pragma once
// Private header (includes torch): short training steps on synthetic batches, the measuring stick
// of the memory planner and the batch-size finder.

#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "config/runconfig.h"

#include <torch/torch.h>

#include <QString>

#include <cstdint>
#include <functional>
#include <memory>

namespace leantune {

// True for an out-of-memory error: c10::OutOfMemoryError, or (older builds, CPU allocator) a
// c10::Error whose message says so.
bool isOutOfMemoryError(const c10::Error &error);

// Builds its own model and optimizer from a run configuration (config.model.classes must be set) on
// a device and runs training steps and evaluation passes on random inputs of the run's shape, with
// the run's precision and memory format. Not thread-safe; use from one thread. Methods that run
// steps throw what torch throws (out-of-memory included); the caller catches.
class StepProbe {
public:
    static std::unique_ptr<StepProbe> create(
        const RunConfig &config, const torch::Device &device, QString *error);

    // STEPS optimizer steps on a synthetic batch of BATCH images, forward/backward in micro-batches
    // of MICRO images (0: the whole batch) with gradient accumulation, as the Trainer does.
    void train(int batch, int steps, int microBatch = 0);
    // One forward pass without gradients in eval mode, as the evaluator does.
    void evaluate(int batch);
    // Serializes a checkpoint of the model, the optimizer and the pruning masks in memory, as the
    // Trainer writes one after each epoch (its bytes are dropped).
    void serializeCheckpoint();
    // Drops gradients and, on CUDA, empties the allocator cache.
    void release();
    // The peak memory while FN runs: the CUDA allocator's peak on a CUDA device, the process's host
    // high-water mark (VmHWM after a reset) on the CPU. Throws what FN throws.
    std::int64_t measurePeak(const std::function<void()> &fn);
    const torch::Device &device() const { return m_device; }

private:
    StepProbe(RunConfig config, torch::Device device);

    RunConfig m_config;
    torch::Device m_device;
    bool m_channelsLast = false; // config.useChannelsLast() on m_device
    std::shared_ptr<ClassifierImpl> m_model;
    std::unique_ptr<torch::optim::Optimizer> m_optimizer;
    std::unique_ptr<MagnitudePruner> m_pruner; // the run's masks (one per prunable weight)
};

} // namespace leantune
