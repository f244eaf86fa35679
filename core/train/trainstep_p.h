#pragma once
// Private header (includes torch).

#include "metrics/memoryprobe.h"
#include "model/modelzoo_p.h"
#include "config/runenums.h"
#include "train/gradscaler_p.h"

#include <QFile>
#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>

namespace leantune {

class DistributedRun;

// One optimizer step on one batch, with the special cases a training loop should not have to spell
// out: CUDA autocast for bf16/fp16 forward passes, fp16 dynamic loss scaling, micro-batches with
// gradient accumulation (the effective batch stays the batch), and recovery from out-of-memory
// errors (c10::OutOfMemoryError, or a c10::Error saying so): the step's gradients are dropped, the
// CUDA cache emptied, the micro-batch halved and the same batch re-run. Lives on the trainer's
// thread. Hook that exists only to show and test recovery: LEANTUNE_INJECT_OOM_AT_STEP=N[,N...]
// makes the first forward pass of step N throw an out-of-memory error. In a data-parallel run
// (DIST), the gradients are averaged over the ranks before the optimizer step (DistributedRun) and
// the sums are the global batch's. Test hook: LEANTUNE_STEP_LOSS_FILE=PATH appends each step's
// mean loss ("STEP LOSS" lines; rank 0 only).
class TrainStep {
public:
    struct Sums {
        torch::Tensor loss; // per-image loss summed over the batch (float64, on the device)
        torch::Tensor correct; // correct predictions (int64, on the device)
        std::int64_t images = 0; // images of the batch (of the global batch when data parallel)
    };
    // Called after a recovery: the step (from 1), the micro-batch that failed, the one that
    // follows, and the error's first line.
    using RecoveryHandler
        = std::function<void(std::int64_t step, int failed, int next, const QString &what)>;
    // Test hook: called before each forward pass with the step (from 1) and micro-batch size; may
    // throw.
    using ForwardHook = std::function<void(std::int64_t step, int microBatch)>;

    TrainStep(ClassifierImpl &model, torch::optim::Optimizer &optimizer,
        const torch::Device &device, Precision precision, int microBatch,
        DistributedRun *dist = nullptr);

    // Trains step STEP (from 1) on images X and labels Y (on the device). std::nullopt + *error
    // when even micro-batches of one image do not fit; other errors are thrown.
    std::optional<Sums> run(
        const torch::Tensor &x, const torch::Tensor &y, std::int64_t step, QString *error);

    int microBatch() const { return m_microBatch; } // 0: whole batches
    int recoveries() const { return m_recoveries; }
    int heapTrims() const { return m_heapGuard.trims(); } // CPU: see HostHeapGuard
    double lossScale() const { return m_scaler ? m_scaler->currentScale() : 0.0; }
    void onRecovery(RecoveryHandler handler) { m_onRecovery = std::move(handler); }
    void beforeForward(ForwardHook hook) { m_beforeForward = std::move(hook); }

private:
    Sums forwardBackward(
        const torch::Tensor &x, const torch::Tensor &y, std::int64_t micro, std::int64_t step);
    void optimizerStep();

    ClassifierImpl &m_model;
    torch::optim::Optimizer &m_optimizer;
    torch::Device m_device;
    Precision m_precision;
    bool m_autocast;
    int m_microBatch;
    int m_recoveries = 0;
    std::unique_ptr<GradScaler> m_scaler; // fp16 only
    std::set<std::int64_t> m_injectOomAt;
    RecoveryHandler m_onRecovery;
    ForwardHook m_beforeForward;
    DistributedRun *m_dist; // null: not data parallel
    std::unique_ptr<QFile> m_stepLossFile; // LEANTUNE_STEP_LOSS_FILE
    HostHeapGuard m_heapGuard; // CPU runs: the heap's resident holes stay one step's
};

} // namespace leantune
