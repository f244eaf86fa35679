#pragma once
// The model-based part of an audit (torch-free): cross-training, then label issues, outliers,
// overlapping classes and embedding near duplicates from its out-of-sample results.

#include "audit/auditreport.h"
#include "audit/auditrunner.h"
#include "audit/confidentlearning.h"
#include "audit/crossfold.h"
#include "audit/outliers.h"

#include <QString>

#include <atomic>
#include <functional>
#include <optional>
#include <vector>

namespace leantune {

// The run each fold trains unless told otherwise (`audit`'s defaults): see bench/README.md, "Data
// audit: label issues".
RunConfig auditRunDefaults();

struct LabelAuditOptions {
    LabelAuditOptions();
    CrossFoldOptions crossFold; // its run starts from auditRunDefaults()
    LabelIssueOptions labelIssues;
    // Confident learning reads the fold models' probabilities blended with a vote of each
    // image's nearest neighbours (given labels, cosine, held out in the same fold):
    // (1 − labelVoteWeight) · p̂ + labelVoteWeight · vote. 0 neighbours: the probabilities alone.
    // Chosen on development seeds (bench/README.md, "Data audit: label issues").
    int labelVoteNeighbours = 40;
    double labelVoteWeight = 0.4;
    OutlierOptions outliers;
    // Class pairs whose share of the confident joint (Q[a][b] + Q[b][a]) is at least this.
    double minOverlapShare = 0.005;
    // Image pairs whose embeddings have at least this cosine similarity are near duplicates
    // (searched among each image's 5 nearest held out in the same fold, since each fold model
    // embeds its own held-out images); above 1: none.
    double embeddingDuplicateSimilarity = 0.9995;
};

// What the model-based part found, with paths absolute.
struct LabelAuditResult {
    int images = 0; // images that got an out-of-sample prediction
    int folds = 0;
    std::vector<AuditLabelIssue> labelIssues; // most likely wrong first
    std::vector<AuditOutlier> outliers; // furthest first
    std::vector<AuditClassOverlap> overlappingClasses; // largest share first
    // Near duplicates by embedding, as pairs of paths (for the duplicates' grouping).
    std::vector<std::pair<QString, QString>> embeddingDuplicates;
    std::int64_t estimatedLabelErrors = 0; // n · (1 − trace Q)
    int reusedFolds = 0;
    double crossFoldSeconds = 0.0;
};

// Runs runCrossFold with OPTIONS.crossFold (PROGRESS and CANCEL as there), then the findings.
// std::nullopt + *error on failure ("cancelled" when cancelled).
std::optional<LabelAuditResult> runLabelAudit(const LabelAuditOptions &options,
    const std::function<void(const CrossFoldProgress &)> &progress = {},
    const std::atomic_bool *cancel = nullptr, QString *error = nullptr);

// The audit's model-based pass (auditrunner.h): cross-trains on the scanned training split
// (corrections applied) with OPTIONS and returns its findings. PROGRESS and CANCEL as runCrossFold.
AuditModelPass labelAuditPass(LabelAuditOptions options,
    std::function<void(const CrossFoldProgress &)> progress = {},
    const std::atomic_bool *cancel = nullptr);

// The findings from cross-training results alone (no training).
std::optional<LabelAuditResult> labelAuditOf(
    const CrossFoldResult &folds, const LabelAuditOptions &options, QString *error);

} // namespace leantune
