#pragma once

#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include <cstdint>

namespace leantune {

// Figures at the end of an epoch.
struct EpochSummary {
    int epoch = 0; // 0-based
    std::int64_t step = 0;
    double trainLoss = 0.0;
    double trainAccuracy = 0.0;
    double valLoss = 0.0;
    double valAccuracy = 0.0;
    double measuredSparsity = 0.0;
    double seconds = 0.0;
};

// The result of a run, saved as RUNDIR/summary.json. Negative values mean "not measured".
struct RunSummary {
    QString status = QStringLiteral("finished"); // finished | stopped (older runs: cancelled)
    QString device;
    double valAccuracy = -1.0;
    double valLoss = -1.0;
    double testAccuracy = -1.0; // -1 without a test folder, or when stopped during its pass
    double finalSparsity = 0.0; // measured
    double targetSparsity = 0.0;
    double imagesPerSec = 0.0; // training, median over the run's intervals
    std::int64_t peakHostRssBytes = 0;
    std::int64_t peakDeviceBytes = -1;
    std::int64_t steps = 0;
    int epochs = 0; // epochs completed
    std::int64_t skippedFiles = 0;
    double wallSeconds = 0.0;
    QString runDir;
    // Memory
    int batchSize = 0; // effective batch trained with
    int microBatch = 0; // images per forward/backward at the end of the run
    int oomRecoveries = 0; // out-of-memory errors caught and recovered from
    std::int64_t predictedPeakBytes = -1; // the memory planner's prediction (-1: not planned)
    std::int64_t memoryBudgetBytes = 0; // host budget (0: none)

    QJsonObject toJson() const;
};

} // namespace leantune

Q_DECLARE_METATYPE(leantune::EpochSummary)
Q_DECLARE_METATYPE(leantune::RunSummary)
