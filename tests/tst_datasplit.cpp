// Tests for samplesOf() and splitStratified(): stratified counts, disjoint and complete splits,
// determinism per seed.

#include "dataset/datasplit.h"

#include <QSet>
#include <QTest>

#include <map>

using namespace leantune;

Q_DECLARE_METATYPE(std::vector<int>)

namespace {

// An index with COUNTS[c] images in class c, interleaved across classes (as a scanner never orders
// them, to check that stratification does not rely on grouping). Paths are unique: "c<label>/<n>".
DatasetIndex makeIndex(const std::vector<int> &counts)
{
    DatasetIndex index;
    index.root = QStringLiteral("/data");
    for (std::size_t c = 0; c < counts.size(); ++c)
        index.classes << QStringLiteral("class%1").arg(c);
    int most = 0;
    for (int count : counts)
        most = std::max(most, count);
    for (int n = 0; n < most; ++n) {
        for (std::size_t c = 0; c < counts.size(); ++c) {
            if (n >= counts[c])
                continue;
            ImageEntry entry;
            entry.label = static_cast<int>(c);
            entry.path = QStringLiteral("/data/c%1/%2.png").arg(c).arg(n);
            entry.width = entry.height = 28;
            entry.channels = 1;
            entry.format = ImageFormat::Png;
            index.images.push_back(entry);
        }
    }
    return index;
}

std::map<int, int> countPerLabel(const std::vector<Sample> &samples)
{
    std::map<int, int> counts;
    for (const Sample &s : samples)
        ++counts[s.label];
    return counts;
}

QStringList pathsOf(const std::vector<Sample> &samples)
{
    QStringList paths;
    for (const Sample &s : samples)
        paths << s.path;
    return paths;
}

} // namespace

class TestDataSplit : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void samplesOfKeepsIndexOrderAndSkipsUnlabelled();
    void stratifiedCounts_data();
    void stratifiedCounts();
    void splitsAreDisjointAndComplete();
    void sameSeedSameSplit();
    void differentSeedsDiffer();
    void zeroFractionKeepsEverythingForTraining();
    void emptyIndexGivesEmptySplit();
};

void TestDataSplit::samplesOfKeepsIndexOrderAndSkipsUnlabelled()
{
    DatasetIndex index = makeIndex({ 2, 2 });
    ImageEntry unlabelled;
    unlabelled.path = QStringLiteral("/data/stray.png");
    unlabelled.label = -1;
    index.images.insert(index.images.begin() + 1, unlabelled);

    const std::vector<Sample> samples = samplesOf(index);
    QCOMPARE(samples.size(), std::size_t(4));
    QCOMPARE(samples[0].path, index.images[0].path);
    QCOMPARE(samples[1].path, index.images[2].path);
    QCOMPARE(samples[2].path, index.images[3].path);
    QCOMPARE(samples[3].path, index.images[4].path);
    for (std::size_t i = 0; i < samples.size(); ++i)
        QVERIFY(samples[i].label == 0 || samples[i].label == 1);
    QCOMPARE(samples[0].label, 0);
    QCOMPARE(samples[1].label, 1);
}

void TestDataSplit::stratifiedCounts_data()
{
    QTest::addColumn<std::vector<int>>("counts");
    QTest::addColumn<double>("valFraction");
    QTest::addColumn<std::vector<int>>("expectedValidation");

    QTest::newRow("20% of 10/20/30")
        << std::vector<int> { 10, 20, 30 } << 0.2 << std::vector<int> { 2, 4, 6 };
    QTest::newRow("rounds to nearest")
        << std::vector<int> { 7, 13 } << 0.25 << std::vector<int> { 2, 3 };
    QTest::newRow("half rounds up")
        << std::vector<int> { 5, 3 } << 0.1 << std::vector<int> { 1, 1 };
    QTest::newRow("at least one of two")
        << std::vector<int> { 2, 4 } << 0.05 << std::vector<int> { 1, 1 };
    QTest::newRow("single image stays in training")
        << std::vector<int> { 1, 10 } << 0.5 << std::vector<int> { 0, 5 };
    QTest::newRow("keeps one training image")
        << std::vector<int> { 3, 10 } << 0.9 << std::vector<int> { 2, 9 };
    QTest::newRow("fraction 1 takes all")
        << std::vector<int> { 3, 1 } << 1.0 << std::vector<int> { 3, 1 };
    QTest::newRow("fraction 0") << std::vector<int> { 4, 5 } << 0.0 << std::vector<int> { 0, 0 };
    QTest::newRow("negative fraction is 0")
        << std::vector<int> { 4, 5 } << -0.3 << std::vector<int> { 0, 0 };
}

void TestDataSplit::stratifiedCounts()
{
    QFETCH(std::vector<int>, counts);
    QFETCH(double, valFraction);
    QFETCH(std::vector<int>, expectedValidation);

    const DataSplit split = splitStratified(makeIndex(counts), valFraction, 7);
    const std::map<int, int> validation = countPerLabel(split.validation);
    const std::map<int, int> train = countPerLabel(split.train);
    for (std::size_t c = 0; c < counts.size(); ++c) {
        const int label = static_cast<int>(c);
        const int val = validation.count(label) ? validation.at(label) : 0;
        const int tr = train.count(label) ? train.at(label) : 0;
        QCOMPARE(val, expectedValidation[c]);
        QCOMPARE(tr, counts[c] - expectedValidation[c]);
    }
}

void TestDataSplit::splitsAreDisjointAndComplete()
{
    const DatasetIndex index = makeIndex({ 17, 9, 30, 4 });
    const DataSplit split = splitStratified(index, 0.3, 123);

    const QStringList train = pathsOf(split.train);
    const QStringList validation = pathsOf(split.validation);
    const QSet<QString> trainSet(train.cbegin(), train.cend());
    const QSet<QString> validationSet(validation.cbegin(), validation.cend());
    QCOMPARE(trainSet.size(), train.size()); // no duplicates inside a split
    QCOMPARE(validationSet.size(), validation.size());
    QVERIFY(!trainSet.intersects(validationSet)); // no overlap

    QSet<QString> all;
    for (const ImageEntry &e : index.images)
        all.insert(e.path);
    QCOMPARE(trainSet + validationSet, all); // union = every image

    // Labels travel with their files, and both lists keep index order.
    std::map<QString, int> labelOf;
    std::map<QString, std::size_t> position;
    for (std::size_t i = 0; i < index.images.size(); ++i) {
        labelOf[index.images[i].path] = index.images[i].label;
        position[index.images[i].path] = i;
    }
    for (const std::vector<Sample> *list : { &split.train, &split.validation }) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            QCOMPARE((*list)[i].label, labelOf[(*list)[i].path]);
            if (i > 0)
                QVERIFY(position[(*list)[i - 1].path] < position[(*list)[i].path]);
        }
    }
}

void TestDataSplit::sameSeedSameSplit()
{
    const DatasetIndex index = makeIndex({ 50, 40, 30 });
    const DataSplit a = splitStratified(index, 0.2, 42);
    const DataSplit b = splitStratified(index, 0.2, 42);
    QCOMPARE(pathsOf(a.train), pathsOf(b.train));
    QCOMPARE(pathsOf(a.validation), pathsOf(b.validation));
}

void TestDataSplit::differentSeedsDiffer()
{
    // 10 of 50 per class: the chance that two seeds pick the same 30 images is negligible, and the
    // generator is deterministic, so this cannot flake.
    const DatasetIndex index = makeIndex({ 50, 50, 50 });
    const DataSplit a = splitStratified(index, 0.2, 1);
    const DataSplit b = splitStratified(index, 0.2, 2);
    QCOMPARE(a.validation.size(), b.validation.size());
    QVERIFY(pathsOf(a.validation) != pathsOf(b.validation));
}

void TestDataSplit::zeroFractionKeepsEverythingForTraining()
{
    const DatasetIndex index = makeIndex({ 5, 8, 3 });
    const DataSplit split = splitStratified(index, 0.0, 9);
    QVERIFY(split.validation.empty());
    QCOMPARE(pathsOf(split.train), pathsOf(samplesOf(index)));
}

void TestDataSplit::emptyIndexGivesEmptySplit()
{
    const DataSplit split = splitStratified(DatasetIndex(), 0.2, 0);
    QVERIFY(split.train.empty());
    QVERIFY(split.validation.empty());
}

QTEST_GUILESS_MAIN(TestDataSplit)
#include "tst_datasplit.moc"
