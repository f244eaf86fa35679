#pragma once
// Private header (includes torch).

#include "config/runconfig.h"
#include "prune/magnitudepruner_p.h"

#include <QString>

#include <functional>

namespace leantune {

// The sensitivity scan a run with --prune-scope sensitivity takes its targets from: the file it
// names, else the --init run folder's scan of its granularity (defaultSensitivityFileName());
// empty when neither is given.
QString sensitivityScanFile(const RunConfig &config);

// RUNDIR/prune-targets.json: the per-layer final sparsities a sensitivity-scoped run was given.
QString layerTargetsFile(const QString &runDir);

// Sensitivity scope: gives PRUNER each layer's final sparsity. A new run allocates them from the
// scan (allocateLayerTargets(), for the schedule's final sparsity) and, when WRITER, records them
// in the run folder; a resumed run reads the recorded ones, so it keeps its targets even if the
// scan changed. Other scopes: nothing to do. False + *error for a missing scan, a scan of another
// architecture or granularity, or targets that do not fit the model.
bool applyLayerTargets(const RunConfig &config, bool resume, bool writer, MagnitudePruner &pruner,
    const std::function<void(const QString &)> &log, QString *error);

} // namespace leantune
