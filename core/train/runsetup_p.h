#pragma once
// Private header (includes torch).

#include "dataset/streamingloader_p.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "train/checkpoint_p.h"
#include "train/distributed_p.h"
#include "train/finetune_p.h"
#include "train/rundir.h"
#include "train/runmemoryplan.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <memory>

namespace leantune {

// Everything a run trains with, as set up before its first step.
struct RunSetup {
    RunInfo run; // the run folder and what is written to it
    torch::Device device { torch::kCPU };
    QString deviceName; // "cpu", "cuda:0"
    bool channelsLast = false; // config.useChannelsLast() on this device
    QStringList classes;
    std::shared_ptr<ClassifierImpl> model;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    FineTune fineTune; // --freeze-epochs, --backbone-lr-scale: the classifier split, the groups' lr
    std::unique_ptr<MagnitudePruner> pruner;
    std::unique_ptr<StreamingLoader> trainLoader, valLoader,
        testLoader; // testLoader without a test folder: null
    RunMemoryPlan memory;
    std::int64_t decodeShare = 0; // bytes one decode thread may take under a host budget; 0: no cap
    CheckpointState state; // where training starts (resumed: the checkpoint's)
    // Data parallel (launched with RANK/WORLD_SIZE...): the process group; null otherwise. Only
    // its rank 0 (isWriter()) writes the run folder.
    std::unique_ptr<DistributedRun> dist;
    bool isWriter() const { return !dist || dist->isWriter(); }
};

// Sets up a run in CONFIG.outDir, a folder prepareRunDir() has made ready: resolves the device,
// scans and splits the data, plans memory, builds the loaders, model, optimizer and pruner, resumes
// from the newest valid checkpoint when RESUME, and writes the run description (config.json).
// CONFIG gets what the set-up decided (classes, a batch size found). LOG receives what a user
// should know. std::nullopt + *error when anything fails (CANCEL set during planning included).
// Launched as a rank of a data-parallel run (run/distenv.h), it joins the process group first,
// shards the loaders, starts from rank 0's weights (or checkpoint), and only rank 0 writes; a stop
// any rank requests is agreed at a step and then set in CANCEL on every rank.
// RANK, when given, is the rank to join as instead of the environment's.
std::optional<RunSetup> setUpRun(RunConfig &config, bool resume, std::atomic_bool *cancel,
    const std::function<void(const QString &)> &log, QString *error, const DistEnv *rank = nullptr);

} // namespace leantune
