#pragma once

#include "config/runconfig.h"
#include "config/runenums.h"
#include "prune/sensitivity.h"

#include <QJsonObject>
#include <QString>
#include <QVector>

#include <atomic>
#include <functional>
#include <optional>

namespace leantune {

// What the advisor is asked: the accuracy budget and how it searches. Shared by `leantune-cli
// advise` and the desktop's "Prune to a budget" dialog.
struct PruneAdvisorOptions {
    QString dataDir; // the run's training folder
    double maxAccuracyDrop = 1.0; // validation accuracy points (0..100) the proposal may lose
    PruneGranularity granularity = PruneGranularity::Weight;
    int epochs = 1; // fine-tuning epochs of each trial and of the proposal
    int trials = 4; // fine-tuning trials of the sensitivity scope, bisected (+1 of the other)
    double maxSparsity = 0.97; // the highest overall sparsity tried, in (0, kMaxLayerSparsity)
    QString scanFile; // empty: RUNDIR/defaultSensitivityFileName(granularity), made when missing
    QString workDir; // the trials' run folders; empty: RUNDIR/advise
    QString outDir; // the proposed run's folder; empty: RUNDIR-pruned
    QString program = QStringLiteral("leantune-cli"); // the program the printed command names

    // False + a message naming the option for a budget outside 0..100, fewer than 1 epoch or
    // trial, or a highest sparsity outside (0, kMaxLayerSparsity).
    bool validate(QString *error) const;
};

// One fine-tuning trial: the proposal's run at SPARSITY, judged on validation accuracy.
struct PruneTrial {
    double sparsity = 0.0;
    double valAccuracy = -1.0; // 0..1
    double seconds = 0.0;
    bool fits = false; // within the budget
    PruneScope scope = PruneScope::Sensitivity;
};

// The advisor's answer. found is false when no sparsity tried kept the budget (noFitMessage says
// what to change); else sparsity, its measured validation accuracy and the proposed run.
struct PruneAdvice {
    QString runDir;
    double denseValAccuracy = 0.0; // the trained run's, 0..1
    double maxAccuracyDrop = 0.0; // points
    QString scanFile; // absolute
    double scanBound = 0.0; // the scan's one-shot bound, where the bisection starts
    QVector<PruneTrial> trials;
    double scanSeconds = 0.0, seconds = 0.0;
    bool found = false;
    QString noFitMessage;
    double sparsity = 0.0;
    double predictedValAccuracy = 0.0;
    PruneScope scope = PruneScope::Sensitivity;
    RunConfig proposal; // the run that prunes to sparsity (outDir: PruneAdvisorOptions::outDir)
    QString command; // proposal as a `train` command line
    QJsonObject layerTargets; // weight name → final sparsity

    // The `advise --json` report: run_dir, dense_val_accuracy, max_accuracy_drop, scan,
    // scan_bound, trials, scan_seconds, seconds, sparsity (null when not found), and when found
    // predicted_val_accuracy, scope, command and layer_targets.
    QJsonObject toJson() const;
};

// Progress of the advisor: what it does ("Scanning: 40 / 120 points") and how far the stage is
// (0..1). Called from worker threads, one call at a time.
using PruneAdvisorProgress = std::function<void(const QString &text, double fraction)>;

// The trained run an advice starts from: its model must exist and its summary.json hold the dense
// validation accuracy. std::nullopt + a message naming the folder and what to do otherwise.
struct AdvisedRun {
    QString runDir; // absolute
    RunConfig config;
    double denseValAccuracy = 0.0;
    std::int64_t steps = 0;
    int epochs = 0;
};
std::optional<AdvisedRun> readAdvisedRun(const QString &runDir, QString *error);

// RUNDIR's sensitivity scan for OPTIONS.granularity: read from OPTIONS.scanFile (or the run's
// default file) and checked against the run's architecture and the granularity, or made (on all
// cores) and written there when the file does not exist. std::nullopt + *error for a scan of
// another model or granularity, a failed scan, or when CANCEL is set.
std::optional<SensitivityScan> loadOrScanSensitivity(const QString &runDir,
    const PruneAdvisorOptions &options, const PruneAdvisorProgress &progress,
    const std::atomic_bool *cancel, QString *error);

// The highest overall sparsity, each layer to its own target from the scan (--prune-scope
// sensitivity), whose run fine-tuned from RUNDIR's weights for OPTIONS.epochs keeps validation
// accuracy within OPTIONS.maxAccuracyDrop points of the run's: bisected between the scan's one-shot
// bound and OPTIONS.maxSparsity with OPTIONS.trials fine-tuning runs (RunJobs in this thread, not
// recorded in the history, each in workDir/trial-S). Only the sensitivity scope is tried: a trial
// with the global scope proposed higher sparsities that missed the budget on one seed in three (see
// bench/README.md). Blocks: call it on a worker thread in a GUI.
// std::nullopt + *error for bad options, a folder without a trained model or finished summary, a
// bad scan, a failed trial, or when CANCEL is set (the trial going on stops after its batch).
std::optional<PruneAdvice> advisePruning(const QString &runDir, const PruneAdvisorOptions &options,
    const PruneAdvisorProgress &progress, const std::atomic_bool *cancel, QString *error);

} // namespace leantune
