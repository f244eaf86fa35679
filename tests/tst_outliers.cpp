// Outliers and near duplicates in embedding space (hnswlib), and near-constant images.

#include "audit/outliers.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <random>

using namespace leantune;

namespace {

// ROWS points of DIM dimensions near two directions (rows alternate), each jittered by 0.05.
std::vector<float> twoClusters(int rows, int dim, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> jitter(0.0f, 0.05f);
    std::vector<float> out;
    for (int r = 0; r < rows; ++r)
        for (int d = 0; d < dim; ++d)
            out.push_back((d == r % 2 ? 1.0f : 0.0f) + jitter(rng));
    return out;
}

} // namespace

class TestOutliers : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void knnDistanceOfAFarPointIsLargest();
    void outlierIsTheFarPointFirst();
    void nearConstantImagesComeFirst();
    void similarPairsFindTheCopy();
    void refusesBadSizes();
};

void TestOutliers::knnDistanceOfAFarPointIsLargest()
{
    const int dim = 8;
    std::vector<float> e = twoClusters(200, dim, 1);
    std::vector<float> far(dim, 0.0f);
    far[5] = 1.0f; // orthogonal to both clusters: cosine distance about 1
    e.insert(e.end(), far.begin(), far.end());
    QString error;
    const auto d = knnDistances(e, 201, dim, 5, &error);
    QVERIFY2(d, qPrintable(error));
    QCOMPARE(d->size(), std::size_t(201));
    const auto most = std::max_element(d->begin(), d->end()) - d->begin();
    QCOMPARE(int(most), 200);
    QVERIFY((*d)[200] > 0.8);
    QVERIFY((*d)[0] < 0.05);
}

void TestOutliers::outlierIsTheFarPointFirst()
{
    const int dim = 8;
    std::vector<float> e = twoClusters(300, dim, 2);
    std::vector<float> far(dim, 0.0f);
    far[6] = 1.0f;
    e.insert(e.end(), far.begin(), far.end());
    const auto d = knnDistances(e, 301, dim, 10, nullptr);
    QVERIFY(d);
    const std::vector<OutlierScore> out = findOutliers(*d, {});
    QVERIFY(!out.empty());
    QVERIFY(out.size() <= std::size_t(3)); // at most maxShare (1 %) of the 301 images
    QCOMPARE(out[0].index, 300);
    for (std::size_t k = 1; k < out.size(); ++k)
        QVERIFY(out[k].score < out[0].score / 2);
    QVERIFY(!out[0].nearConstant);
    QCOMPARE(out[0].score, (*d)[300]);
}

void TestOutliers::nearConstantImagesComeFirst()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    cv::Mat flat(28, 28, CV_8UC1, cv::Scalar(200));
    flat.at<unsigned char>(3, 3) = 201; // one grey level off: still near-constant
    cv::Mat textured(28, 28, CV_8UC1);
    for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x)
            textured.at<unsigned char>(y, x) = static_cast<unsigned char>((x * 9) % 256);
    const QString a = dir.filePath(QStringLiteral("flat.png"));
    const QString b = dir.filePath(QStringLiteral("textured.png"));
    QVERIFY(cv::imwrite(QFile::encodeName(a).toStdString(), flat));
    QVERIFY(cv::imwrite(QFile::encodeName(b).toStdString(), textured));
    const std::vector<bool> constant = nearConstantImages(
        { a, b, dir.filePath(QStringLiteral("missing.png")) }, OutlierOptions().constantStdDev);
    QCOMPARE(constant, (std::vector<bool> { true, false, false }));

    const std::vector<double> distances { 0.1, 0.1, 0.1 };
    const std::vector<OutlierScore> out = findOutliers(distances, constant);
    QCOMPARE(out.size(), std::size_t(1));
    QCOMPARE(out[0].index, 0);
    QVERIFY(out[0].nearConstant);
    QCOMPARE(out[0].score, 2.0);
}

void TestOutliers::similarPairsFindTheCopy()
{
    const int dim = 16;
    std::vector<float> e = twoClusters(100, dim, 3);
    // Row 100 is row 7 scaled (cosine 1), row 101 row 8 with a small change.
    for (int d = 0; d < dim; ++d)
        e.push_back(3.0f * e[std::size_t(7 * dim + d)]);
    for (int d = 0; d < dim; ++d)
        e.push_back(e[std::size_t(8 * dim + d)] + (d == 3 ? 0.01f : 0.0f));
    QString error;
    const auto pairs = similarEmbeddingPairs(e, 102, dim, 0.9999, 5, &error);
    QVERIFY2(pairs, qPrintable(error));
    QCOMPARE(pairs->size(), std::size_t(2));
    QCOMPARE((*pairs)[0].a, 7);
    QCOMPARE((*pairs)[0].b, 100);
    QVERIFY((*pairs)[0].similarity > 0.99999);
    QCOMPARE((*pairs)[1].a, 8);
    QCOMPARE((*pairs)[1].b, 101);
}

void TestOutliers::refusesBadSizes()
{
    QString error;
    QVERIFY(!knnDistances(std::vector<float>(10, 1.0f), 3, 4, 2, &error));
    QVERIFY2(
        error.contains(QStringLiteral("10 embedding values for 3 rows of 4")), qPrintable(error));
    const auto single = knnDistances(std::vector<float>(4, 1.0f), 1, 4, 2, &error);
    QVERIFY(single); // one image has no neighbour: distance 0
    QCOMPARE(single->front(), 0.0);
}

QTEST_GUILESS_MAIN(TestOutliers)
#include "tst_outliers.moc"
