#pragma once
// Label issues by confident learning (torch-free), written from Northcutt, Jiang and Chuang,
// "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 70, 2021.
//
// Input: out-of-sample predicted probabilities p̂(y = j | x) of N examples over M classes
// (row-major, N × M, each row summing to about 1) and each example's given label.

#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace leantune {

// Which examples are reported as label issues.
enum class LabelIssueFilter {
    ConfidentJoint, // the off-diagonal entries of the confident joint C
    PruneByNoiseRate, // per off-diagonal (i, j): the n·Q[i][j] examples labelled i of largest
                      // margin p̂_j − p̂_i
    PruneByClass, // per class i: the n·Σ_{j≠i} Q[i][j] examples labelled i of least p̂_i
    Both, // in both PruneByNoiseRate and PruneByClass
};

// How the reported issues are ordered (most likely wrong first) and scored.
enum class LabelIssueRanking {
    SelfConfidence, // score p̂_given
    NormalizedMargin, // score (p̂_given − max_{j≠given} p̂_j + 1) / 2
    // score p̂_given / (p̂_given + t_given): self-confidence against the class's threshold (its
    // mean self-confidence), so a class the model is unsure of as a whole does not crowd out the
    // rest; orders as p̂_given / t_given
    RelativeSelfConfidence,
};

// Names for the command line and reports: "confident_joint", "prune_by_noise_rate",
// "prune_by_class", "both"; "self_confidence", "normalized_margin", "relative_self_confidence".
// std::nullopt for others.
QString labelIssueFilterName(LabelIssueFilter filter);
std::optional<LabelIssueFilter> labelIssueFilterFromName(const QString &name);
QString labelIssueRankingName(LabelIssueRanking ranking);
std::optional<LabelIssueRanking> labelIssueRankingFromName(const QString &name);

// The estimate of the joint distribution of given and true labels.
struct ConfidentJoint {
    int classes = 0;
    std::vector<double> thresholds; // t_j: mean p̂_j over the examples labelled j (M)
    std::vector<std::int64_t> labelCounts; // examples labelled i (M)
    // C[i][j] (M × M, row-major): examples labelled i counted as confidently j, i.e. the j of
    // largest p̂_j among those with p̂_j ≥ t_j; an example with none is not counted.
    std::vector<std::int64_t> counts;
    // Q[i][j] (M × M, row-major): C with each row rescaled to the class's label count, then
    // divided by the total, so it sums to 1 (a row without counts keeps its label count on the
    // diagonal).
    std::vector<double> joint;
    // Per example, the class it was counted under (-1: none above its threshold).
    std::vector<int> confidentClass;

    std::int64_t count(int given, int truth) const { return counts[given * classes + truth]; }
    double q(int given, int truth) const { return joint[given * classes + truth]; }
    // The estimated number of label errors: n · (1 − trace Q), rounded.
    std::int64_t estimatedIssues() const;
    // The noise rate P(given = i | true = j) = Q[i][j] / Σ_i Q[i][j] (0 for a column of zeros).
    double noiseRate(int given, int truth) const;
};

// Estimates the confident joint. std::nullopt + *error when the sizes disagree, a label is out of
// range, a probability is not finite, or there are fewer than 2 classes.
std::optional<ConfidentJoint> estimateConfidentJoint(const std::vector<double> &probabilities,
    const std::vector<int> &labels, int classes, QString *error);

struct LabelIssue {
    int index = -1; // the example
    int given = -1;
    int suggested = -1; // the class it most likely belongs to
    double score = 0.0; // label quality in [0, 1] by the ranking: lower is more likely wrong
};

struct LabelIssueOptions {
    // Defaults from the Fashion-MNIST benchmark (bench/README.md, "Data audit: label issues"):
    // prune by class found more of the moved files than prune by noise rate; self-confidence
    // ranked them far better than the normalized margin, and as well as the relative
    // self-confidence on the runs made after that was chosen.
    LabelIssueFilter filter = LabelIssueFilter::PruneByClass;
    LabelIssueRanking ranking = LabelIssueRanking::SelfConfidence;
};

// The label issues of the examples, most likely wrong first (ties by index). The suggested class
// is the one the filter found (the confident class, or the off-diagonal cell that pruned it),
// else the most probable other class. JOINT must come from the same probabilities and labels.
std::vector<LabelIssue> findLabelIssues(const std::vector<double> &probabilities,
    const std::vector<int> &labels, const ConfidentJoint &joint,
    const LabelIssueOptions &options = {});

// The given labels of each example's nearest neighbours as a class distribution: row k of the
// result (N × M, row-major) is the share of NEIGHBOURS[k] (indices into LABELS) given each class;
// an example without neighbours gets a uniform row. A second, independent opinion beside the
// model's: a moved image sits among images of its true class in the fold model's embedding space.
std::vector<double> neighbourLabelVote(
    const std::vector<std::vector<int>> &neighbours, const std::vector<int> &labels, int classes);

// (1 − WEIGHT) · PROBABILITIES + WEIGHT · VOTE, element by element (same sizes; rows still sum
// to 1 when both do).
std::vector<double> blendProbabilities(
    const std::vector<double> &probabilities, const std::vector<double> &vote, double weight);

// A class pair the joint says is often swapped: share = Q[a][b] + Q[b][a], the part of all
// examples labelled one of the two and confidently the other.
struct ClassOverlap {
    int classA = -1; // classA < classB
    int classB = -1;
    double share = 0.0;
};

// The pairs whose share is at least MINSHARE, largest first (ties by class order).
std::vector<ClassOverlap> overlappingClasses(const ConfidentJoint &joint, double minShare);

} // namespace leantune
