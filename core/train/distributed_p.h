#pragma once
// Private header (includes torch).

#include "metrics/metricssample.h"
#include "model/modelzoo_p.h"
#include "config/distenv.h"
#include "config/runconfig.h"

#include <QByteArray>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace leantune {

struct EvaluationReport;
struct PassPredictions;

// Data-parallel training over a c10d process group: Gloo on the CPU, NCCL on CUDA when
// Torch has it. One process per rank; every rank holds the whole model and trains on its shard of
// each global batch (StreamingLoader's shardIndex/shardCount); rank 0 writes the run folder.
//
// Gradients are averaged by bucketed allreduce: parameters are grouped into buckets of about
// kBucketBytes in reverse registration order (the order backward produces their gradients), a
// gradient hook copies each gradient into its bucket's flat buffer, and a bucket's allreduce starts
// as soon as its last gradient of the step's last micro-batch arrives, in bucket order on every
// rank, overlapping the rest of the backward pass. finishStep() then waits for them and writes the
// global batch's mean gradient into each parameter's grad, so the optimizer steps are identical on
// every rank. Each rank's gradient is weighted by its shard's images, so a short last batch (or a
// file that failed to decode) still gives the global batch's mean.
//
// BatchNorm is per replica: batch statistics come from the rank's shard; the running statistics of
// rank 0 are broadcast before each validation or test pass (and so before each checkpoint).
//
// Faults: every collective is bounded by the c10d timeout (--dist-timeout). A failed collective
// throws std::runtime_error naming the lost rank where it can be told (the other one of two; on one
// machine, a rank whose process is gone). A stop requested on any rank stops every rank after the
// same step. An out-of-memory retry in the middle of a step is not coordinated across ranks (the
// other ranks then fail at the timeout). Lives on the trainer's thread.
class DistributedRun {
public:
    static constexpr std::int64_t kBucketBytes = 1 << 20;

    // Whether this build has c10d (Gloo): LEANTUNE_WITH_C10D.
    static bool available();
    // Joins the process group ENV describes, on DEVICE, with CONFIG's backend and timeout: rank 0
    // serves a TCPStore on MASTER_PORT, the others connect to MASTER_ADDR:MASTER_PORT. nullptr +
    // *error when it cannot (no c10d in this build, the master unreachable within the timeout).
    // STOP: the run's stop flag; a stop requested on any rank is agreed at the next step and then
    // set here on every rank (stopAgreed()).
    static std::unique_ptr<DistributedRun> join(const DistEnv &env, const RunConfig &config,
        const torch::Device &device, std::atomic_bool *stop, QString *error);
    ~DistributedRun();

    int rank() const;
    int worldSize() const;
    bool isWriter() const { return rank() == 0; }
    QString backendName() const; // "gloo", "nccl"

    // Rank 0's parameters and buffers to every rank (identical starting weights).
    void broadcastModel(ClassifierImpl &model);
    // Rank 0's buffers (BatchNorm running statistics) to every rank.
    void broadcastBuffers(ClassifierImpl &model);
    // BYTES of rank 0 on every rank (the others pass anything).
    QByteArray broadcastBytes(const QByteArray &bytes);

    // Buckets MODEL's parameters and hooks their gradients. Once, before the first step.
    void attach(ClassifierImpl &model);
    // A step on LOCALIMAGES images begins (before its first backward pass).
    void beginStep(std::int64_t localImages);
    // The step's last micro-batch is about to run backward: buckets allreduce as they fill.
    void armLastMicroBatch();
    struct StepSums {
        torch::Tensor loss; // summed per-image loss of the global batch (float64)
        torch::Tensor correct; // its correct predictions (int64)
        std::int64_t images = 0; // its images
    };
    // After the step's backward passes: waits for the buckets, writes the averaged gradients and
    // returns the global batch's sums. Also agrees on a stop (see join()).
    StepSums finishStep(
        const torch::Tensor &lossSum, const torch::Tensor &correct, std::int64_t localImages);
    // Whether the ranks agreed to stop after the last step: the training loop's stop condition in a
    // data-parallel run (a local request alone would leave the other ranks waiting).
    bool stopAgreed() const;
    // Throws when the pruning masks differ between ranks (a checksum, compared at each mask update
    // STEP).
    void checkMasks(const std::vector<torch::Tensor> &masks, std::int64_t step);
    // Adds every rank's counts into REPORT (each rank evaluated its shard).
    void reduceReport(EvaluationReport &report);
    // Every rank's per-image results of a pass into PREDICTIONS on every rank, in the order of the
    // loader's SAMPLES (sample index), as one process's pass gives them (a sum of one row per
    // sample; a file that failed to decode has no row). Rank 0 then writes predictions.csv.
    void gatherPredictions(PassPredictions &predictions, std::int64_t samples);
    // Each rank's figures for rank 0's samples (MetricsSample::ranks), called with every sample a
    // rank makes: a training interval's sample notes this rank's host RSS, device memory and its
    // own images/s since its last note; these ride on each step's stats allreduce (3 numbers per
    // rank, no collective of their own) and SAMPLE gets what the last step gathered, with this
    // rank's fresh figures in its slot.
    void exchangeFigures(MetricsSample &sample);
    // Milliseconds the steps spent waiting for the gradient allreduces after their backward pass.
    double allreduceWaitMs() const;
    std::int64_t stepsSynced() const;

private:
    struct Private;
    explicit DistributedRun(std::unique_ptr<Private> d);
    std::unique_ptr<Private> d;
};

} // namespace leantune
