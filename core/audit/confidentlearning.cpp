#include "audit/confidentlearning.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace leantune {

QString labelIssueFilterName(LabelIssueFilter filter)
{
    switch (filter) {
    case LabelIssueFilter::ConfidentJoint:
        return QStringLiteral("confident_joint");
    case LabelIssueFilter::PruneByNoiseRate:
        return QStringLiteral("prune_by_noise_rate");
    case LabelIssueFilter::PruneByClass:
        return QStringLiteral("prune_by_class");
    case LabelIssueFilter::Both:
        return QStringLiteral("both");
    }
    return {};
}

std::optional<LabelIssueFilter> labelIssueFilterFromName(const QString &name)
{
    for (LabelIssueFilter f :
        { LabelIssueFilter::ConfidentJoint, LabelIssueFilter::PruneByNoiseRate,
            LabelIssueFilter::PruneByClass, LabelIssueFilter::Both })
        if (labelIssueFilterName(f) == name)
            return f;
    return std::nullopt;
}

QString labelIssueRankingName(LabelIssueRanking ranking)
{
    switch (ranking) {
    case LabelIssueRanking::SelfConfidence:
        return QStringLiteral("self_confidence");
    case LabelIssueRanking::NormalizedMargin:
        return QStringLiteral("normalized_margin");
    case LabelIssueRanking::RelativeSelfConfidence:
        return QStringLiteral("relative_self_confidence");
    }
    return {};
}

std::optional<LabelIssueRanking> labelIssueRankingFromName(const QString &name)
{
    for (LabelIssueRanking r : { LabelIssueRanking::SelfConfidence,
             LabelIssueRanking::NormalizedMargin, LabelIssueRanking::RelativeSelfConfidence })
        if (labelIssueRankingName(r) == name)
            return r;
    return std::nullopt;
}

std::int64_t ConfidentJoint::estimatedIssues() const
{
    const std::int64_t n = std::accumulate(labelCounts.begin(), labelCounts.end(), std::int64_t(0));
    double trace = 0.0;
    for (int i = 0; i < classes; ++i)
        trace += q(i, i);
    return std::llround(double(n) * std::max(0.0, 1.0 - trace));
}

double ConfidentJoint::noiseRate(int given, int truth) const
{
    double column = 0.0;
    for (int i = 0; i < classes; ++i)
        column += q(i, truth);
    return column > 0.0 ? q(given, truth) / column : 0.0;
}

std::optional<ConfidentJoint> estimateConfidentJoint(const std::vector<double> &probabilities,
    const std::vector<int> &labels, int classes, QString *error)
{
    const auto fail = [error](const QString &why) {
        if (error)
            *error = why;
        return std::nullopt;
    };
    if (classes < 2)
        return fail(
            QStringLiteral("confident learning needs at least 2 classes (got %1)").arg(classes));
    const std::size_t n = labels.size();
    const auto m = std::size_t(classes);
    if (probabilities.size() != n * m)
        return fail(QStringLiteral("%1 probabilities for %2 examples of %3 classes")
                        .arg(probabilities.size())
                        .arg(n)
                        .arg(classes));
    for (std::size_t k = 0; k < n; ++k)
        if (labels[k] < 0 || labels[k] >= classes)
            return fail(QStringLiteral("example %1 has label %2, outside 0..%3")
                            .arg(k)
                            .arg(labels[k])
                            .arg(classes - 1));
    for (std::size_t k = 0; k < probabilities.size(); ++k)
        if (!std::isfinite(probabilities[k]))
            return fail(
                QStringLiteral("example %1 has a probability that is not finite").arg(k / m));

    ConfidentJoint cj;
    cj.classes = classes;
    cj.labelCounts.assign(m, 0);
    std::vector<double> selfSum(m, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
        const auto i = std::size_t(labels[k]);
        ++cj.labelCounts[i];
        selfSum[i] += probabilities[k * m + i];
    }
    // A class nobody is labelled with has no threshold: no example counts as confidently it.
    cj.thresholds.assign(m, std::numeric_limits<double>::infinity());
    for (std::size_t j = 0; j < m; ++j)
        if (cj.labelCounts[j] > 0)
            cj.thresholds[j] = selfSum[j] / double(cj.labelCounts[j]);

    cj.counts.assign(m * m, 0);
    cj.confidentClass.assign(n, -1);
    for (std::size_t k = 0; k < n; ++k) {
        const double *p = probabilities.data() + k * m;
        int best = -1;
        for (std::size_t j = 0; j < m; ++j)
            if (p[j] >= cj.thresholds[j] && (best < 0 || p[j] > p[best]))
                best = int(j);
        cj.confidentClass[k] = best;
        if (best >= 0)
            ++cj.counts[std::size_t(labels[k]) * m + std::size_t(best)];
    }

    // Calibration: each row of C rescaled to its label count, then normalized to sum to 1.
    cj.joint.assign(m * m, 0.0);
    double total = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        const std::int64_t row = std::accumulate(cj.counts.begin() + std::ptrdiff_t(i * m),
            cj.counts.begin() + std::ptrdiff_t((i + 1) * m), std::int64_t(0));
        if (row == 0) {
            cj.joint[i * m + i] = double(cj.labelCounts[i]);
        } else {
            for (std::size_t j = 0; j < m; ++j)
                cj.joint[i * m + j]
                    = double(cj.counts[i * m + j]) / double(row) * double(cj.labelCounts[i]);
        }
        total += double(cj.labelCounts[i]);
    }
    if (total > 0.0)
        for (double &v : cj.joint)
            v /= total;
    return cj;
}

namespace {

// The most probable class other than GIVEN.
int otherArgmax(const double *p, int classes, int given)
{
    int best = -1;
    for (int j = 0; j < classes; ++j)
        if (j != given && (best < 0 || p[j] > p[best]))
            best = j;
    return best;
}

// For each off-diagonal (i, j), the round(n·Q[i][j]) examples labelled i of largest margin
// p̂_j − p̂_i. Marks them in SELECTED with the j of their largest selected margin in SUGGESTED.
void pruneByNoiseRate(const std::vector<double> &p, const std::vector<int> &labels,
    const ConfidentJoint &cj, const std::vector<std::vector<int>> &byClass,
    std::vector<char> &selected, std::vector<int> &suggested)
{
    const int m = cj.classes;
    const auto n = double(labels.size());
    std::vector<double> bestMargin(labels.size(), -std::numeric_limits<double>::infinity());
    for (int i = 0; i < m; ++i) {
        std::vector<int> members = byClass[std::size_t(i)];
        for (int j = 0; j < m; ++j) {
            if (i == j)
                continue;
            const auto take
                = std::min<std::size_t>(std::size_t(std::llround(n * cj.q(i, j))), members.size());
            if (take == 0)
                continue;
            const auto margin = [&](int k) {
                const double *row = p.data() + std::size_t(k) * std::size_t(m);
                return row[j] - row[i];
            };
            std::partial_sort(members.begin(), members.begin() + std::ptrdiff_t(take),
                members.end(), [&](int a, int b) {
                    const double ma = margin(a), mb = margin(b);
                    return ma != mb ? ma > mb : a < b;
                });
            for (std::size_t t = 0; t < take; ++t) {
                const int k = members[t];
                selected[std::size_t(k)] = 1;
                if (margin(k) > bestMargin[std::size_t(k)]) {
                    bestMargin[std::size_t(k)] = margin(k);
                    suggested[std::size_t(k)] = j;
                }
            }
        }
    }
}

// For each class i, the round(n·Σ_{j≠i} Q[i][j]) examples labelled i of least p̂_i.
void pruneByClass(const std::vector<double> &p, const std::vector<int> &labels,
    const ConfidentJoint &cj, const std::vector<std::vector<int>> &byClass,
    std::vector<char> &selected)
{
    const int m = cj.classes;
    const auto n = double(labels.size());
    for (int i = 0; i < m; ++i) {
        std::vector<int> members = byClass[std::size_t(i)];
        double off = 0.0;
        for (int j = 0; j < m; ++j)
            if (j != i)
                off += cj.q(i, j);
        const auto take = std::min<std::size_t>(std::size_t(std::llround(n * off)), members.size());
        const auto self
            = [&](int k) { return p[std::size_t(k) * std::size_t(m) + std::size_t(i)]; };
        std::partial_sort(members.begin(), members.begin() + std::ptrdiff_t(take), members.end(),
            [&](int a, int b) { return self(a) != self(b) ? self(a) < self(b) : a < b; });
        for (std::size_t t = 0; t < take; ++t)
            selected[std::size_t(members[t])] = 1;
    }
}

} // namespace

std::vector<LabelIssue> findLabelIssues(const std::vector<double> &probabilities,
    const std::vector<int> &labels, const ConfidentJoint &joint, const LabelIssueOptions &options)
{
    const int m = joint.classes;
    const std::size_t n = labels.size();
    std::vector<std::vector<int>> byClass(std::size_t(std::max(m, 0)));
    for (std::size_t k = 0; k < n; ++k)
        byClass[std::size_t(labels[k])].push_back(int(k));

    std::vector<char> selected(n, 0);
    std::vector<int> suggested(n, -1);
    switch (options.filter) {
    case LabelIssueFilter::ConfidentJoint:
        for (std::size_t k = 0; k < n; ++k)
            if (joint.confidentClass[k] >= 0 && joint.confidentClass[k] != labels[k]) {
                selected[k] = 1;
                suggested[k] = joint.confidentClass[k];
            }
        break;
    case LabelIssueFilter::PruneByNoiseRate:
        pruneByNoiseRate(probabilities, labels, joint, byClass, selected, suggested);
        break;
    case LabelIssueFilter::PruneByClass:
        pruneByClass(probabilities, labels, joint, byClass, selected);
        break;
    case LabelIssueFilter::Both: {
        std::vector<char> byRate(n, 0);
        pruneByNoiseRate(probabilities, labels, joint, byClass, byRate, suggested);
        pruneByClass(probabilities, labels, joint, byClass, selected);
        for (std::size_t k = 0; k < n; ++k)
            selected[k] = char(selected[k] && byRate[k]);
        break;
    }
    }

    std::vector<LabelIssue> issues;
    for (std::size_t k = 0; k < n; ++k) {
        if (!selected[k])
            continue;
        const double *p = probabilities.data() + k * std::size_t(m);
        LabelIssue issue;
        issue.index = int(k);
        issue.given = labels[k];
        issue.suggested = suggested[k] >= 0 ? suggested[k] : otherArgmax(p, m, labels[k]);
        const double self = p[labels[k]];
        switch (options.ranking) {
        case LabelIssueRanking::SelfConfidence:
            issue.score = self;
            break;
        case LabelIssueRanking::NormalizedMargin:
            issue.score = (self - p[otherArgmax(p, m, labels[k])] + 1.0) / 2.0;
            break;
        case LabelIssueRanking::RelativeSelfConfidence: {
            const double t = joint.thresholds.empty() ? 0.0 : joint.thresholds[labels[k]];
            issue.score = self + t > 0.0 ? self / (self + t) : 0.0;
            break;
        }
        }
        issue.score = std::clamp(issue.score, 0.0, 1.0);
        issues.push_back(issue);
    }
    std::sort(issues.begin(), issues.end(), [](const LabelIssue &a, const LabelIssue &b) {
        return a.score != b.score ? a.score < b.score : a.index < b.index;
    });
    return issues;
}

std::vector<double> neighbourLabelVote(
    const std::vector<std::vector<int>> &neighbours, const std::vector<int> &labels, int classes)
{
    const auto m = std::size_t(std::max(classes, 0));
    std::vector<double> vote(neighbours.size() * m, 0.0);
    for (std::size_t k = 0; k < neighbours.size(); ++k) {
        double *row = vote.data() + k * m;
        int counted = 0;
        for (const int other : neighbours[k]) {
            if (other < 0 || std::size_t(other) >= labels.size() || labels[std::size_t(other)] < 0
                || labels[std::size_t(other)] >= classes)
                continue;
            row[std::size_t(labels[std::size_t(other)])] += 1.0;
            ++counted;
        }
        for (std::size_t j = 0; j < m; ++j)
            row[j] = counted > 0 ? row[j] / double(counted) : 1.0 / double(m);
    }
    return vote;
}

std::vector<double> blendProbabilities(
    const std::vector<double> &probabilities, const std::vector<double> &vote, double weight)
{
    std::vector<double> out(probabilities.size());
    for (std::size_t k = 0; k < out.size(); ++k)
        out[k] = (1.0 - weight) * probabilities[k]
            + weight * (k < vote.size() ? vote[k] : probabilities[k]);
    return out;
}

std::vector<ClassOverlap> overlappingClasses(const ConfidentJoint &joint, double minShare)
{
    std::vector<ClassOverlap> pairs;
    for (int a = 0; a < joint.classes; ++a)
        for (int b = a + 1; b < joint.classes; ++b) {
            const double share = joint.q(a, b) + joint.q(b, a);
            if (share > 0.0 && share >= minShare)
                pairs.push_back({ a, b, share });
        }
    std::stable_sort(pairs.begin(), pairs.end(),
        [](const ClassOverlap &x, const ClassOverlap &y) { return x.share > y.share; });
    return pairs;
}

} // namespace leantune
