// Confident learning on small matrices computed by hand: thresholds, the confident joint and its
// calibration, the noise estimate, the filters (confident joint, prune by noise rate, prune by
// class, both), the rankings, the overlapping class pairs, and refused input.

#include "audit/confidentlearning.h"
#include "audit/labelaudit.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <vector>

using namespace leantune;

namespace {

struct Data {
    std::vector<double> p;
    std::vector<int> labels;
    int classes = 0;
};

// Six examples of three classes; example 1 is labelled 0 but the model says 1.
//   t = (0.5, 0.8, 0.8); confident classes 0, 1, -1, 1, 2, 2; C = [[1,1,0],[0,1,0],[0,0,2]];
//   calibrated: rows rescaled to the label counts (2 each): [[1,1,0],[0,2,0],[0,0,2]] / 6.
Data oneFlip()
{
    return { { 0.9, 0.1, 0.0, /**/ 0.1, 0.8, 0.1, /**/ 0.2, 0.7, 0.1, /**/ 0.0, 0.9, 0.1,
                 /**/ 0.1, 0.1, 0.8, /**/ 0.0, 0.2, 0.8 },
        { 0, 0, 1, 1, 2, 2 }, 3 };
}

// Eight examples where the filters disagree. Class 0: e0, x = e1 (least self-confidence, not
// confidently anything), y = e2 (confidently 1), e7.
//   t = (0.55, 0.7, 0.9); C row 0 = [2, 1, 0] → calibrated [8/3, 4/3, 0]; n·Q[0][1] = 4/3 → 1.
Data filtersDisagree()
{
    return { { 0.9, 0.05, 0.05, /**/ 0.2, 0.1, 0.7, /**/ 0.25, 0.7, 0.05, /**/ 0.1, 0.6, 0.3,
                 /**/ 0.1, 0.8, 0.1, /**/ 0.05, 0.05, 0.9, /**/ 0.05, 0.05, 0.9,
                 /**/ 0.85, 0.1, 0.05 },
        { 0, 0, 0, 1, 1, 2, 2, 0 }, 3 };
}

std::vector<int> indices(const std::vector<LabelIssue> &issues)
{
    std::vector<int> out;
    for (const LabelIssue &i : issues)
        out.push_back(i.index);
    return out;
}

} // namespace

class TestConfidentLearning : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void thresholdsAreMeanSelfConfidence();
    void confidentJointCountsAndCalibrates();
    void ambiguousExampleCountsUnderItsMostProbableConfidentClass();
    void exampleBelowEveryThresholdIsNotCounted();
    void noiseEstimate();
    void filtersFindTheFlippedExample_data();
    void filtersFindTheFlippedExample();
    void pruneByNoiseRateTakesLargestMarginPruneByClassLeastConfidence();
    void rankingOrdersByScore();
    void relativeSelfConfidenceWeighsTheClassThreshold();
    void overlappingPairs();
    void neighbourVoteIsTheShareOfNeighbourLabels();
    void neighbourVoteFlagsAnImageAmongAnotherClass();
    void smallDataSetsTrainMoreEpochsUpToTheCap();
    void refusesBadInput_data();
    void refusesBadInput();
    void names();
};

void TestConfidentLearning::thresholdsAreMeanSelfConfidence()
{
    const Data d = oneFlip();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->thresholds.size(), std::size_t(3));
    QCOMPARE(cj->thresholds[0], 0.5);
    QCOMPARE(cj->thresholds[1], 0.8);
    QCOMPARE(cj->thresholds[2], 0.8);
    QCOMPARE(cj->labelCounts, (std::vector<std::int64_t> { 2, 2, 2 }));
}

void TestConfidentLearning::confidentJointCountsAndCalibrates()
{
    const Data d = oneFlip();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->confidentClass, (std::vector<int> { 0, 1, -1, 1, 2, 2 }));
    QCOMPARE(cj->counts, (std::vector<std::int64_t> { 1, 1, 0, 0, 1, 0, 0, 0, 2 }));
    const std::vector<double> q { 1, 1, 0, 0, 2, 0, 0, 0, 2 };
    double sum = 0.0;
    for (std::size_t k = 0; k < q.size(); ++k) {
        QVERIFY2(
            qFuzzyCompare(1.0 + cj->joint[k], 1.0 + q[k] / 6.0), qPrintable(QString::number(k)));
        sum += cj->joint[k];
    }
    QVERIFY(qFuzzyCompare(sum, 1.0));
}

void TestConfidentLearning::ambiguousExampleCountsUnderItsMostProbableConfidentClass()
{
    // t = (0.375, 0.5, 0.4). Example 1 (labelled 1) is above t_1 and t_2; example 3 (labelled 0)
    // is above t_1 = 0.5 by 0 and t_2 = 0.4 by 0.05: both count under the larger probability, 1.
    const std::vector<double> p { 0.7, 0.2, 0.1, /**/ 0.1, 0.5, 0.4, /**/ 0.3, 0.3, 0.4,
        /**/ 0.05, 0.5, 0.45 };
    const auto cj = estimateConfidentJoint(p, { 0, 1, 2, 0 }, 3, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->confidentClass, (std::vector<int> { 0, 1, 2, 1 }));
    QCOMPARE(cj->count(0, 1), std::int64_t(1));
    QCOMPARE(cj->count(0, 2), std::int64_t(0));
}

void TestConfidentLearning::exampleBelowEveryThresholdIsNotCounted()
{
    // t = (0.6, 0.8): example 2 (labelled 0, p = 0.3/0.7) is confidently neither class.
    const std::vector<double> p { 0.6, 0.4, /**/ 0.9, 0.1, /**/ 0.3, 0.7, /**/ 0.2, 0.8 };
    const std::vector<int> labels { 0, 0, 0, 1 };
    const auto cj = estimateConfidentJoint(p, labels, 2, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->confidentClass, (std::vector<int> { 0, 0, -1, 1 }));
    QCOMPARE(cj->counts, (std::vector<std::int64_t> { 2, 0, 0, 1 }));
    QCOMPARE(cj->estimatedIssues(), std::int64_t(0));
    for (LabelIssueFilter f :
        { LabelIssueFilter::ConfidentJoint, LabelIssueFilter::PruneByNoiseRate,
            LabelIssueFilter::PruneByClass, LabelIssueFilter::Both })
        QVERIFY(findLabelIssues(p, labels, *cj, { f, LabelIssueRanking::SelfConfidence }).empty());
}

void TestConfidentLearning::noiseEstimate()
{
    const Data d = oneFlip();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->estimatedIssues(), std::int64_t(1)); // 6 · (1 − 5/6)
    // P(given 0 | true 1) = (1/6) / (1/6 + 2/6)
    QVERIFY(qFuzzyCompare(cj->noiseRate(0, 1), 1.0 / 3.0));
    QCOMPARE(cj->noiseRate(1, 0), 0.0);
    QVERIFY(qFuzzyCompare(cj->noiseRate(0, 0), 1.0));
}

void TestConfidentLearning::filtersFindTheFlippedExample_data()
{
    QTest::addColumn<LabelIssueFilter>("filter");
    QTest::newRow("confident joint") << LabelIssueFilter::ConfidentJoint;
    QTest::newRow("prune by noise rate") << LabelIssueFilter::PruneByNoiseRate;
    QTest::newRow("prune by class") << LabelIssueFilter::PruneByClass;
    QTest::newRow("both") << LabelIssueFilter::Both;
}

void TestConfidentLearning::filtersFindTheFlippedExample()
{
    QFETCH(LabelIssueFilter, filter);
    const Data d = oneFlip();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    const std::vector<LabelIssue> issues
        = findLabelIssues(d.p, d.labels, *cj, { filter, LabelIssueRanking::SelfConfidence });
    QCOMPARE(issues.size(), std::size_t(1));
    QCOMPARE(issues[0].index, 1);
    QCOMPARE(issues[0].given, 0);
    QCOMPARE(issues[0].suggested, 1);
    QCOMPARE(issues[0].score, 0.1);
    const std::vector<LabelIssue> byMargin
        = findLabelIssues(d.p, d.labels, *cj, { filter, LabelIssueRanking::NormalizedMargin });
    QCOMPARE(byMargin.size(), std::size_t(1));
    QVERIFY(qFuzzyCompare(byMargin[0].score, 0.15)); // (0.1 − 0.8 + 1) / 2
}

void TestConfidentLearning::pruneByNoiseRateTakesLargestMarginPruneByClassLeastConfidence()
{
    const Data d = filtersDisagree();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    QCOMPARE(cj->confidentClass, (std::vector<int> { 0, -1, 1, -1, 1, 2, 2, 0 }));
    QVERIFY(qFuzzyCompare(8.0 * cj->q(0, 1), 4.0 / 3.0));
    const auto run = [&](LabelIssueFilter f) {
        return findLabelIssues(d.p, d.labels, *cj, { f, LabelIssueRanking::SelfConfidence });
    };
    // Margin p̂_1 − p̂_0 is largest for y (0.45); x has the least p̂_0 (0.2).
    const std::vector<LabelIssue> byRate = run(LabelIssueFilter::PruneByNoiseRate);
    QCOMPARE(indices(byRate), (std::vector<int> { 2 }));
    QCOMPARE(byRate[0].suggested, 1);
    const std::vector<LabelIssue> byClass = run(LabelIssueFilter::PruneByClass);
    QCOMPARE(indices(byClass), (std::vector<int> { 1 }));
    QCOMPARE(byClass[0].suggested, 2); // its most probable other class
    QVERIFY(run(LabelIssueFilter::Both).empty());
    QCOMPARE(indices(run(LabelIssueFilter::ConfidentJoint)), (std::vector<int> { 2 }));
}

void TestConfidentLearning::rankingOrdersByScore()
{
    // Both examples labelled 0 and confidently 1: A has the lower self-confidence (0.2 < 0.3),
    // B the lower normalized margin ((0.3 − 0.7 + 1) / 2 = 0.3 < (0.2 − 0.4 + 1) / 2 = 0.4).
    const std::vector<double> p { 0.2, 0.4, 0.4, /**/ 0.3, 0.7, 0.0 };
    const std::vector<int> labels { 0, 0 };
    ConfidentJoint cj;
    cj.classes = 3;
    cj.confidentClass = { 1, 1 };
    const auto bySelf = findLabelIssues(
        p, labels, cj, { LabelIssueFilter::ConfidentJoint, LabelIssueRanking::SelfConfidence });
    QCOMPARE(indices(bySelf), (std::vector<int> { 0, 1 }));
    const auto byMargin = findLabelIssues(
        p, labels, cj, { LabelIssueFilter::ConfidentJoint, LabelIssueRanking::NormalizedMargin });
    QCOMPARE(indices(byMargin), (std::vector<int> { 1, 0 }));
    QVERIFY(qFuzzyCompare(byMargin[0].score, 0.3));
    QVERIFY(qFuzzyCompare(byMargin[1].score, 0.4));
}

void TestConfidentLearning::relativeSelfConfidenceWeighsTheClassThreshold()
{
    // A (labelled 0, a class the model is unsure of: t0 = 0.4) has the lower self-confidence,
    // B (labelled 1, t1 = 0.9) the lower one against its class: 0.4 / 1.3 < 0.3 / 0.7.
    const std::vector<double> p { 0.3, 0.7, /**/ 0.6, 0.4 };
    const std::vector<int> labels { 0, 1 };
    ConfidentJoint cj;
    cj.classes = 2;
    cj.thresholds = { 0.4, 0.9 };
    cj.confidentClass = { 1, 0 };
    const auto bySelf = findLabelIssues(
        p, labels, cj, { LabelIssueFilter::ConfidentJoint, LabelIssueRanking::SelfConfidence });
    QCOMPARE(indices(bySelf), (std::vector<int> { 0, 1 }));
    const auto byRelative = findLabelIssues(p, labels, cj,
        { LabelIssueFilter::ConfidentJoint, LabelIssueRanking::RelativeSelfConfidence });
    QCOMPARE(indices(byRelative), (std::vector<int> { 1, 0 }));
    QVERIFY(qFuzzyCompare(byRelative[0].score, 0.4 / 1.3));
    QVERIFY(qFuzzyCompare(byRelative[1].score, 0.3 / 0.7));
}

void TestConfidentLearning::overlappingPairs()
{
    const Data d = filtersDisagree();
    const auto cj = estimateConfidentJoint(d.p, d.labels, d.classes, nullptr);
    QVERIFY(cj);
    const std::vector<ClassOverlap> pairs = overlappingClasses(*cj, 0.0);
    QCOMPARE(pairs.size(), std::size_t(1)); // only (0, 1) has a share
    QCOMPARE(pairs[0].classA, 0);
    QCOMPARE(pairs[0].classB, 1);
    QVERIFY(qFuzzyCompare(pairs[0].share, (4.0 / 3.0) / 8.0));
    QVERIFY(overlappingClasses(*cj, 0.2).empty());
}

void TestConfidentLearning::neighbourVoteIsTheShareOfNeighbourLabels()
{
    const std::vector<int> labels { 0, 1, 1, 2 };
    // example 0: neighbours 1, 2, 3; example 1: neighbour 0; examples 2 and 3: none
    const std::vector<double> vote = neighbourLabelVote({ { 1, 2, 3 }, { 0 }, {}, {} }, labels, 3);
    QCOMPARE(vote.size(), std::size_t(12));
    QVERIFY(qFuzzyCompare(vote[1], 2.0 / 3.0));
    QVERIFY(qFuzzyCompare(vote[2], 1.0 / 3.0));
    QCOMPARE(vote[0], 0.0);
    QCOMPARE(vote[3], 1.0);
    QCOMPARE(vote[4], 0.0);
    QVERIFY(qFuzzyCompare(vote[6], 1.0 / 3.0)); // no neighbour: uniform
    const std::vector<double> blended
        = blendProbabilities({ 1.0, 0.0, 0.0 }, { 0.0, 0.5, 0.5 }, 0.5);
    QCOMPARE(blended, (std::vector<double> { 0.5, 0.25, 0.25 }));
}

// Two folds of 12 images, 6 a class, embedded in two clusters (two images of class b a fold lie
// between them). One image labelled a lies in the cluster of b, and its fold model is unsure of it
// (0.45 / 0.55: below both classes' mean self-confidence, so the model alone counts it nowhere).
// Its neighbours, all b, outvote that: it is the one issue, suggested b.
void TestConfidentLearning::neighbourVoteFlagsAnImageAmongAnotherClass()
{
    QTemporaryDir dir; // empty files: the outlier pass reads each image (none decodes)
    QVERIFY(dir.isValid());
    CrossFoldResult folds;
    folds.classes = { QStringLiteral("a"), QStringLiteral("b") };
    folds.embeddingSize = 4;
    const int planted = 5;
    for (int fold = 0; fold < 2; ++fold)
        for (int k = 0; k < 12; ++k) {
            const int label = k < 6 ? 0 : 1;
            const int index = int(folds.paths.size());
            folds.paths.push_back(dir.filePath(QStringLiteral("%1.png").arg(index)));
            QFile file(folds.paths.back());
            QVERIFY(file.open(QIODevice::WriteOnly));
            folds.labels.push_back(label);
            folds.folds.push_back(fold);
            const float spread = 0.05f * float(k % 6);
            if (index == planted) {
                folds.probabilities.insert(folds.probabilities.end(), { 0.45, 0.55 });
                folds.embeddings.insert(folds.embeddings.end(), { 0.0f, 1.0f, 0.27f, 0.0f });
            } else if (label == 0) {
                folds.probabilities.insert(folds.probabilities.end(), { 0.9, 0.1 });
                folds.embeddings.insert(folds.embeddings.end(), { 1.0f, 0.0f, spread, 0.0f });
            } else {
                folds.probabilities.insert(folds.probabilities.end(), { 0.4, 0.6 });
                const bool between = k >= 10;
                folds.embeddings.insert(folds.embeddings.end(),
                    { between ? 0.8f : 0.0f, between ? 0.6f : 1.0f, spread, 0.0f });
            }
        }

    LabelAuditOptions options;
    options.labelVoteNeighbours = 3;
    options.labelVoteWeight = 0.5;
    options.embeddingDuplicateSimilarity = 2.0;
    QString error;
    const std::optional<LabelAuditResult> voted = labelAuditOf(folds, options, &error);
    QVERIFY2(voted, qPrintable(error));
    QCOMPARE(voted->labelIssues.size(), std::size_t(1));
    QCOMPARE(voted->labelIssues[0].path, folds.paths[planted]);
    QCOMPARE(voted->labelIssues[0].given, QStringLiteral("a"));
    QCOMPARE(voted->labelIssues[0].suggested, QStringLiteral("b"));

    options.labelVoteNeighbours = 0;
    const std::optional<LabelAuditResult> alone = labelAuditOf(folds, options, &error);
    QVERIFY2(alone, qPrintable(error));
    QVERIFY(alone->labelIssues.empty());
}

void TestConfidentLearning::smallDataSetsTrainMoreEpochsUpToTheCap()
{
    CrossFoldOptions options;
    options.run.epochs = 8;
    options.run.batchSize = 64;
    options.minimumSteps = 800;
    options.maxEpochScale = 2;
    QCOMPARE(foldEpochs(options, 40000), 8); // 625 steps an epoch: 8 epochs are 5,000 steps
    QCOMPARE(foldEpochs(options, 6400), 8); // 100 an epoch: 800 steps in 8
    QCOMPARE(foldEpochs(options, 5120), 10); // 80 an epoch
    QCOMPARE(foldEpochs(options, 3333), 16); // 53 an epoch: 16 epochs, the cap
    QCOMPARE(foldEpochs(options, 10), 16);
    options.minimumSteps = 0;
    QCOMPARE(foldEpochs(options, 10), 8);
    options.minimumSteps = 800;
    options.run.batchSizeAuto = true;
    QCOMPARE(foldEpochs(options, 10), 8);
    QCOMPARE(LabelAuditOptions().crossFold.minimumSteps, 800);
}

void TestConfidentLearning::refusesBadInput_data()
{
    QTest::addColumn<std::vector<double>>("p");
    QTest::addColumn<std::vector<int>>("labels");
    QTest::addColumn<int>("classes");
    QTest::addColumn<QString>("message");
    QTest::newRow("one class") << std::vector<double> { 1.0 } << std::vector<int> { 0 } << 1
                               << QStringLiteral("at least 2 classes");
    QTest::newRow("sizes") << std::vector<double> { 0.5, 0.5, 0.5 } << std::vector<int> { 0, 1 }
                           << 2 << QStringLiteral("3 probabilities for 2 examples");
    QTest::newRow("label") << std::vector<double> { 0.5, 0.5 } << std::vector<int> { 2 } << 2
                           << QStringLiteral("label 2, outside 0..1");
    QTest::newRow("nan") << std::vector<double> { 0.5, 0.5, std::nan(""), 0.5 }
                         << std::vector<int> { 0, 1 } << 2
                         << QStringLiteral("example 1 has a probability that is not finite");
}

void TestConfidentLearning::refusesBadInput()
{
    QFETCH(std::vector<double>, p);
    QFETCH(std::vector<int>, labels);
    QFETCH(int, classes);
    QFETCH(QString, message);
    QString error;
    QVERIFY(!estimateConfidentJoint(p, labels, classes, &error));
    QVERIFY2(error.contains(message), qPrintable(error));
}

void TestConfidentLearning::names()
{
    for (LabelIssueFilter f :
        { LabelIssueFilter::ConfidentJoint, LabelIssueFilter::PruneByNoiseRate,
            LabelIssueFilter::PruneByClass, LabelIssueFilter::Both })
        QVERIFY(labelIssueFilterFromName(labelIssueFilterName(f)) == f);
    for (LabelIssueRanking r : { LabelIssueRanking::SelfConfidence,
             LabelIssueRanking::NormalizedMargin, LabelIssueRanking::RelativeSelfConfidence })
        QVERIFY(labelIssueRankingFromName(labelIssueRankingName(r)) == r);
    QVERIFY(!labelIssueFilterFromName(QStringLiteral("cleanest")));
}

QTEST_GUILESS_MAIN(TestConfidentLearning)
#include "tst_confidentlearning.moc"
