#pragma once
// One audit of a data set, for the command line and the desktop (torch-free): scan the splits,
// run the model-based pass when asked, find duplicates and leaks, and put the report together.

#include "audit/auditreport.h"
#include "audit/duplicates.h"
#include "dataset/datasetindex.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace leantune {

struct AuditOptions {
    QString data; // the training folder (one sub-folder per class)
    QString val; // optional: a validation folder, audited as the split "val"
    QString test; // optional: a test folder, audited as the split "test"
    bool duplicatesOnly = false; // no model pass: exact and near duplicates alone
    DuplicateOptions duplicates; // its keptPixelBytes counts in a duplicates-only audit alone
};

// The scanned splits, as the model-based pass receives them.
struct AuditInputs {
    const AuditOptions &options;
    const DatasetIndex &train;
    const DatasetIndex *val = nullptr; // null when not given
    const DatasetIndex *test = nullptr;
};

// What the model-based pass (cross-training) adds to an audit.
struct AuditModelFindings {
    int folds = 0;
    std::vector<AuditLabelIssue> labelIssues; // most likely wrong first
    std::vector<AuditOutlier> outliers; // furthest first
    std::vector<AuditClassOverlap> overlappingClasses; // largest share first
    std::vector<std::pair<QString, QString>> similarPairs; // near duplicates by embedding (paths)
};

// The model-based pass: std::nullopt + *error when it fails ("cancelled" when cancelled).
using AuditModelPass
    = std::function<std::optional<AuditModelFindings>(const AuditInputs &inputs, QString *error)>;

// A stage of the audit ("scanning", "hashing", "comparing", or the model pass's own) and its
// images done out of total.
using AuditProgress = std::function<void(const QString &stage, int done, int total)>;

struct AuditOutcome {
    AuditReport report;
    QStringList warnings; // e.g. images that did not decode, left out of the duplicates
};

// Scans the splits (a split with no valid image, or a missing folder, is an error), runs
// MODELPASS unless options.duplicatesOnly (it must be set then), finds duplicates, and returns
// the report (not yet written). std::nullopt + *error on failure, "cancelled" when CANCEL was set.
std::optional<AuditOutcome> runAudit(const AuditOptions &options, const AuditModelPass &modelPass,
    QString *error, const AuditProgress &progress = {}, const std::atomic_bool *cancel = nullptr);

} // namespace leantune
