#pragma once

#include "metrics/metricssample.h"
#include "config/distenv.h"
#include "config/runconfig.h"
#include "config/runsummary.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace leantune {

// Runs one training run: scans the data, streams batches, trains with the pruning schedule,
// evaluates, checkpoints and writes the run folder (config.json, metrics.csv, run.log,
// checkpoints/, model.pt, summary.json). A worker QObject on its own thread; front ends do not
// drive it directly but through RunJob (job/runjob.h), which owns that thread. requestCancel() and
// setPaused() may be called from any thread; a stop takes effect between batches (training and
// evaluation ones), a pause between training batches and before an evaluation pass, never within
// one (RunJob refuses pausing during a pass, which evaluationProgress() announces). Errors
// (c10::Error, cv::Exception, std::exception, bad data) end in failed(message). A stopped run saves
// a checkpoint of where it stopped and ends in finished() with status "stopped"; a stop during a
// validation or test pass reports no figure of that pass.
//
// The set-up (data, split, memory plan, model, optimizer, pruner, resume) is setUpRun()
// (runsetup_p.h); one optimizer step with mixed precision, accumulation and out-of-memory recovery
// is TrainStep (trainstep_p.h). Hooks that exist only to show and test recovery:
//   LEANTUNE_INJECT_OOM_AT_STEP=N[,N...]  the first forward pass of step N throws an out-of-memory
//   error LEANTUNE_FORCE_DEVICE_LIMIT=SIZE      caps the CUDA allocator at SIZE after planning
//   (real OOMs)
class Trainer : public QObject {
    Q_OBJECT
public:
    struct Options {
        bool resume = false; // continue from the newest valid checkpoint in the run folder
        bool force = false; // replace an existing run in the run folder
        // Test hook: called on the worker thread before each forward pass with the step about to be
        // taken (from 1) and the micro-batch size; it may throw (c10::OutOfMemoryError) to inject a
        // failure. Empty in real runs.
        std::function<void(std::int64_t step, int microBatch)> beforeForward = nullptr;
        // Test hook: the same before each forward pass of the validation and test passes, with the
        // number of images.
        std::function<void(std::int64_t images)> beforeEvalForward = nullptr;
        // Test hook: called on the worker thread when a "validation" or "test" pass begins.
        std::function<void(const QString &pass)> beforeEvalPass = nullptr;
        // Data parallel: the rank this run is (RunJob's in-process rank 0 of a run it spawned the
        // other ranks for); unset: the process's environment says (torchrun, --nproc workers).
        std::optional<DistEnv> distEnv;
    };

    explicit Trainer(RunConfig config, Options options, QObject *parent = nullptr);
    ~Trainer() override;

    void requestCancel();
    void setPaused(bool paused);
    bool isPaused() const { return m_paused.load(); }
    const RunConfig &config() const { return m_config; }

public Q_SLOTS:
    void run();

Q_SIGNALS:
    // The run is set up: the device in words, and the total number of optimizer steps planned.
    void started(const QString &deviceDescription, qint64 totalSteps, qint64 stepsPerEpoch);
    void sampleReady(const leantune::MetricsSample &sample);
    void epochFinished(const leantune::EpochSummary &summary);
    void logMessage(const QString &message);
    // A validation or test pass (PASS) has evaluated DONE of its TOTAL images: 0 when it begins,
    // then at most every 50 ms, and TOTAL when it has evaluated them all.
    void evaluationProgress(const QString &pass, qint64 done, qint64 total);
    // The run has come to rest between batches after setPaused(true) (true), or goes on again
    // (false).
    void pauseChanged(bool paused);
    void finished(const leantune::RunSummary &summary);
    void failed(const QString &message);

private:
    struct Private;
    friend struct Private;
    bool waitWhilePaused(); // false when cancelled

    RunConfig m_config;
    Options m_options;
    std::atomic_bool m_cancel { false };
    std::atomic_bool m_paused { false };
    std::mutex m_pauseMutex;
    std::condition_variable m_pauseChanged; // guarded by m_pauseMutex
};

} // namespace leantune
