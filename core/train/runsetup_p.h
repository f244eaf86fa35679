#pragma once
// Private header (includes torch).

#include "dataset/streamingloader_p.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "train/checkpoint_p.h"
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
    std::unique_ptr<MagnitudePruner> pruner;
    std::unique_ptr<StreamingLoader> trainLoader, valLoader,
        testLoader; // testLoader without a test folder: null
    RunMemoryPlan memory;
    CheckpointState state; // where training starts (resumed: the checkpoint's)
};

// Sets up a run in CONFIG.outDir, a folder prepareRunDir() has made ready: resolves the device,
// scans and splits the data, plans memory, builds the loaders, model, optimizer and pruner, resumes
// from the newest valid checkpoint when RESUME, and writes the run description (config.json).
// CONFIG gets what the set-up decided (classes, a batch size found). LOG receives what a user
// should know. std::nullopt + *error when anything fails (CANCEL set during planning included).
std::optional<RunSetup> setUpRun(RunConfig &config, bool resume, const std::atomic_bool *cancel,
    const std::function<void(const QString &)> &log, QString *error);

} // namespace leantune
