#pragma once

#include "config/runenums.h"
#include "prune/sensitivity.h"

#include <QString>
#include <QVector>

#include <atomic>
#include <functional>
#include <optional>

namespace leantune {

struct SensitivityOptions {
    QVector<double> sparsities { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95 };
    PruneGranularity granularity = PruneGranularity::Weight;
    int images = 2000; // the class-balanced subset of the validation images
    int threads = 0; // 0: all cores
    // How the threads are used: one model copy per thread, each measuring its own points on one
    // intra-op thread (the default, faster on small models: bench/README.md), or one model whose
    // forward passes use all the threads.
    bool modelCopies = true;
    int batchSize = 500; // images per forward pass
};

// Measures the sensitivity of RUNDIR's trained model (model.pt, else its newest valid checkpoint)
// on the CPU: for each prunable layer and each sparsity, that layer alone is pruned (by magnitude,
// or its output channels by L1 norm, as MagnitudePruner does) and the model's accuracy and loss
// are measured on a fixed, class-balanced subset of the validation images; then the layer is
// restored. The images: the run's own validation split when DATADIR is the run's training folder
// (and it has no --val folder), else DATADIR's images; OPTIONS.images of them, an equal share per
// class chosen by a fixed seed, decoded once. PROGRESS (from worker threads, one call at a time)
// gets the points done and the total; CANCEL stops between points. std::nullopt + *error for a
// folder that is no run or has no model, other classes, bad options, or when cancelled.
std::optional<SensitivityScan> scanSensitivity(const QString &runDir, const QString &dataDir,
    const SensitivityOptions &options, const std::function<void(int done, int total)> &progress,
    const std::atomic_bool *cancel, QString *error);

// Whether SCAN (read from SOURCE) is of RUNDIR's architecture: the same conv/linear weights, names
// and shapes, and the same classes; else false and a message naming the difference in *error.
bool scanFitsRun(
    const SensitivityScan &scan, const QString &runDir, const QString &source, QString *error);

} // namespace leantune
