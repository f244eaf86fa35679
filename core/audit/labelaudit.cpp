#include "audit/labelaudit.h"

#include "dataset/datasplit.h"
#include "metrics/memoryprobe.h"

#include <algorithm>
#include <utility>

namespace leantune {

RunConfig auditRunDefaults()
{
    RunConfig c;
    c.epochs = 8;
    c.augment = true; // out-of-sample predictions ranked the moved files better with it
    return c;
}

LabelAuditOptions::LabelAuditOptions()
{
    crossFold.run = auditRunDefaults();
    // 3,333 images a fold at batch 64 fit better in 16 epochs than in 8 (bench/README.md); 60,000
    // images give 5,000 steps in 8 epochs and train as set.
    crossFold.minimumSteps = 800;
}

std::optional<LabelAuditResult> labelAuditOf(
    const CrossFoldResult &folds, const LabelAuditOptions &options, QString *error)
{
    const int classes = int(folds.classes.size());
    const int foldCount = int(*std::max_element(folds.folds.begin(), folds.folds.end())) + 1;
    const int dim = folds.embeddingSize;
    const std::vector<int> &labels = folds.labels;

    // Each fold model embeds only the images it held out, and two models' spaces are not
    // comparable: neighbours are searched within each fold.
    std::vector<std::vector<int>> foldMembers(std::size_t(std::max(foldCount, 0)));
    for (std::size_t k = 0; k < folds.paths.size(); ++k)
        foldMembers[std::size_t(folds.folds[k])].push_back(int(k));
    const auto foldEmbeddings = [&](const std::vector<int> &members) {
        std::vector<float> embeddings;
        embeddings.reserve(members.size() * std::size_t(std::max(dim, 0)));
        for (const int k : members) {
            const auto row = folds.embeddings.begin() + std::ptrdiff_t(k) * std::ptrdiff_t(dim);
            embeddings.insert(embeddings.end(), row, row + dim);
        }
        return embeddings;
    };

    std::vector<double> probabilities = folds.probabilities;
    if (options.labelVoteNeighbours > 0 && options.labelVoteWeight > 0.0) {
        std::vector<std::vector<int>> neighbours(folds.paths.size());
        for (const std::vector<int> &members : foldMembers) {
            const std::optional<std::vector<std::vector<std::pair<float, int>>>> found
                = nearestNeighbours(foldEmbeddings(members), int(members.size()), dim,
                    options.labelVoteNeighbours, error);
            if (!found)
                return std::nullopt;
            for (std::size_t r = 0; r < members.size(); ++r)
                for (const auto &[distance, other] : (*found)[r])
                    neighbours[std::size_t(members[r])].push_back(members[std::size_t(other)]);
        }
        probabilities = blendProbabilities(probabilities,
            neighbourLabelVote(neighbours, labels, classes), options.labelVoteWeight);
    }

    const std::optional<ConfidentJoint> joint
        = estimateConfidentJoint(probabilities, labels, classes, error);
    if (!joint)
        return std::nullopt;
    LabelAuditResult result;
    result.images = int(folds.paths.size());
    result.folds = foldCount;
    result.reusedFolds = folds.reusedFolds;
    result.crossFoldSeconds = folds.trainSeconds;
    result.estimatedLabelErrors = joint->estimatedIssues();
    for (const LabelIssue &issue :
        findLabelIssues(probabilities, labels, *joint, options.labelIssues))
        result.labelIssues.push_back({ folds.paths[std::size_t(issue.index)],
            folds.classes[issue.given], folds.classes[issue.suggested], issue.score });
    for (const ClassOverlap &pair : overlappingClasses(*joint, options.minOverlapShare))
        result.overlappingClasses.push_back(
            { folds.classes[pair.classA], folds.classes[pair.classB], pair.share });

    std::vector<double> distances(folds.paths.size(), 0.0);
    for (const std::vector<int> &members : foldMembers) {
        const std::vector<float> embeddings = foldEmbeddings(members);
        const int rows = int(members.size());
        const std::optional<std::vector<double>> d
            = knnDistances(embeddings, rows, dim, options.outliers.neighbours, error);
        if (!d)
            return std::nullopt;
        for (int r = 0; r < rows; ++r)
            distances[std::size_t(members[std::size_t(r)])] = (*d)[std::size_t(r)];
        if (options.embeddingDuplicateSimilarity > 1.0)
            continue;
        const std::optional<std::vector<EmbeddingPair>> pairs = similarEmbeddingPairs(
            embeddings, rows, dim, options.embeddingDuplicateSimilarity, 5, error);
        if (!pairs)
            return std::nullopt;
        for (const EmbeddingPair &p : *pairs)
            result.embeddingDuplicates.push_back(
                { folds.paths[std::size_t(members[std::size_t(p.a)])],
                    folds.paths[std::size_t(members[std::size_t(p.b)])] });
    }
    const std::vector<bool> constant
        = nearConstantImages(folds.paths, options.outliers.constantStdDev);
    for (const OutlierScore &o : findOutliers(distances, constant, options.outliers))
        result.outliers.push_back({ folds.paths[std::size_t(o.index)], o.score });
    return result;
}

std::optional<LabelAuditResult> runLabelAudit(const LabelAuditOptions &options,
    const std::function<void(const CrossFoldProgress &)> &progress, const std::atomic_bool *cancel,
    QString *error)
{
    const std::optional<CrossFoldResult> folds
        = runCrossFold(options.crossFold, progress, cancel, error);
    if (!folds)
        return std::nullopt;
    if (folds->paths.empty()) {
        if (error)
            *error = QStringLiteral("no image could be predicted");
        return std::nullopt;
    }
    return labelAuditOf(*folds, options, error);
}

AuditModelPass labelAuditPass(LabelAuditOptions options,
    std::function<void(const CrossFoldProgress &)> progress, const std::atomic_bool *cancel)
{
    return [options = std::move(options), progress = std::move(progress), cancel](
               const AuditInputs &inputs, QString *error) -> std::optional<AuditModelFindings> {
        LabelAuditOptions o = options;
        o.crossFold.run.dataDir = inputs.train.root;
        o.crossFold.samples = samplesOf(inputs.train);
        o.crossFold.classes = inputs.train.classes;
        const std::optional<LabelAuditResult> result = runLabelAudit(o, progress, cancel, error);
        // The folds' results and the neighbour indexes are freed: the next stage (duplicates)
        // starts from a trimmed heap.
        releaseFreeHostMemory();
        if (!result)
            return std::nullopt;
        AuditModelFindings findings;
        findings.folds = result->folds;
        findings.labelIssues = result->labelIssues;
        findings.outliers = result->outliers;
        findings.overlappingClasses = result->overlappingClasses;
        findings.similarPairs = result->embeddingDuplicates;
        return findings;
    };
}

} // namespace leantune
