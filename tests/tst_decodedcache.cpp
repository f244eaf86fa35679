// Tests for DecodedCache: images round-trip through the file and survive a reopen; the cache is
// rebuilt when the data or the key change; the budget bounds it; a second user is refused; and a
// loader served from the cache gives exactly the batches of decoding (non-augmented), and the same
// batches whether or not an image was already cached (augmented).

#include "dataset/decodedcache.h"
#include "dataset/streamingloader_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>
#include <sys/time.h>

using namespace leantune;

namespace {

std::vector<Batch> collectEpoch(StreamingLoader &loader, int epoch)
{
    loader.startEpoch(epoch);
    std::vector<Batch> batches;
    while (std::optional<Batch> batch = loader.next())
        batches.push_back(std::move(*batch));
    return batches;
}

bool sameBatches(const std::vector<Batch> &a, const std::vector<Batch> &b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].index != b[i].index || !torch::equal(a[i].images, b[i].images)
            || !torch::equal(a[i].labels, b[i].labels))
            return false;
    }
    return true;
}

std::vector<std::uint8_t> pattern(int bytes, int salt)
{
    std::vector<std::uint8_t> v(static_cast<std::size_t>(bytes));
    for (int i = 0; i < bytes; ++i)
        v[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((i * 31 + salt) & 0xff);
    return v;
}

} // namespace

class TestDecodedCache : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void insertedImagesAreFoundAgainAfterReopening();
    void changedFileInvalidatesTheCache();
    void changedKey_data();
    void changedKey();
    void changedFileListInvalidatesTheCache();
    void budgetBoundsThePixelBytes();
    void secondUserOfTheFileIsRefused();
    void cachedLoaderGivesExactlyTheDecodedBatches();
    void augmentedBatchesDoNotDependOnWhatWasCached();

private:
    QString cachePath(const QString &name) const { return m_dir.filePath(name); }

    QTemporaryDir m_dir;
    std::vector<Sample> m_samples; // 12 colour JPEGs, 40 × 30, 3 classes
    const DecodedCacheKey m_key { 16, 3, false };
};

void TestDecodedCache::initTestCase()
{
    QVERIFY(m_dir.isValid());
    cv::RNG rng(11);
    for (int n = 0; n < 12; ++n) {
        cv::Mat image(30, 40, CV_8UC3);
        rng.fill(image, cv::RNG::UNIFORM, 0, 256);
        cv::GaussianBlur(image, image, cv::Size(5, 5), 0); // photo-like, not pure noise
        const QString path = m_dir.filePath(QStringLiteral("img_%1.jpg").arg(n));
        QVERIFY(cv::imwrite(path.toStdString(), image));
        m_samples.push_back(Sample { path, n % 3 });
    }
}

void TestDecodedCache::insertedImagesAreFoundAgainAfterReopening()
{
    const QString path = cachePath(QStringLiteral("roundtrip.ltcache"));
    const std::vector<std::uint8_t> a = pattern(16 * 16 * 3, 1), b = pattern(20 * 17 * 3, 2);
    QString error;
    {
        std::shared_ptr<DecodedCache> cache
            = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
        QVERIFY2(cache, qPrintable(error));
        QVERIFY(!cache->reused());
        QCOMPARE(cache->cachedCount(), std::size_t(0));
        QVERIFY(!cache->find(3).pixels);
        QVERIFY(cache->insert(3, a.data(), 16, 16, 3));
        QVERIFY(cache->insert(7, b.data(), 20, 17, 3));
        QVERIFY(!cache->insert(3, b.data(), 20, 17, 3)); // already there
        QVERIFY(!cache->insert(99, a.data(), 16, 16, 3)); // no such sample
        QVERIFY(!cache->insert(4, a.data(), 16, 16, 1)); // wrong channel count
        const DecodedCache::Image found = cache->find(3);
        QVERIFY(found.pixels);
        QCOMPARE(found.width, 16);
        QVERIFY(std::equal(a.begin(), a.end(), found.pixels));
        QCOMPARE(cache->bytesUsed(), std::int64_t(a.size() + b.size()));
    }
    std::shared_ptr<DecodedCache> reopened
        = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
    QVERIFY2(reopened, qPrintable(error));
    QVERIFY(reopened->reused());
    QCOMPARE(reopened->cachedCount(), std::size_t(2));
    const DecodedCache::Image found = reopened->find(7);
    QVERIFY(found.pixels);
    QCOMPARE(found.width, 20);
    QCOMPARE(found.height, 17);
    QVERIFY(std::equal(b.begin(), b.end(), found.pixels));
}

void TestDecodedCache::changedFileInvalidatesTheCache()
{
    QTemporaryDir dir;
    std::vector<Sample> samples;
    for (int n = 0; n < 3; ++n) {
        const QString path = dir.filePath(QStringLiteral("%1.png").arg(n));
        QVERIFY(cv::imwrite(path.toStdString(), cv::Mat(8, 8, CV_8UC3, cv::Scalar(n, n, n))));
        samples.push_back(Sample { path, n });
    }
    const QString path = dir.filePath(QStringLiteral("c.ltcache"));
    const std::vector<std::uint8_t> a = pattern(16 * 16 * 3, 5);
    QString error;
    {
        auto cache = DecodedCache::open(path, samples, m_key, 1 << 20, &error);
        QVERIFY2(cache, qPrintable(error));
        QVERIFY(cache->insert(0, a.data(), 16, 16, 3));
    }
    { // unchanged data: reused
        auto cache = DecodedCache::open(path, samples, m_key, 1 << 20, &error);
        QVERIFY(cache && cache->reused() && cache->cachedCount() == 1);
    }
    // Same size, new modification time (set explicitly: no waiting for the clock).
    const QByteArray name = QFile::encodeName(samples[1].path);
    struct timeval times[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    QCOMPARE(::utimes(name.constData(), times), 0);
    auto cache = DecodedCache::open(path, samples, m_key, 1 << 20, &error);
    QVERIFY2(cache, qPrintable(error));
    QVERIFY(!cache->reused());
    QCOMPARE(cache->cachedCount(), std::size_t(0));
    QVERIFY(!cache->find(0).pixels);
}

void TestDecodedCache::changedKey_data()
{
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<int>("channels");
    QTest::addColumn<bool>("augment");
    QTest::newRow("input size") << 24 << 3 << false;
    QTest::newRow("channels") << 16 << 1 << false;
    QTest::newRow("augmentation layout") << 16 << 3 << true;
}

void TestDecodedCache::changedKey()
{
    QFETCH(int, inputSize);
    QFETCH(int, channels);
    QFETCH(bool, augment);
    const QString path = cachePath(QStringLiteral("key.ltcache"));
    const std::vector<std::uint8_t> a = pattern(16 * 16 * 3, 3);
    QString error;
    {
        auto cache = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
        QVERIFY2(cache, qPrintable(error));
        cache->insert(0, a.data(), 16, 16, 3);
        QVERIFY(cache->find(0).pixels);
    }
    const DecodedCacheKey other { inputSize, channels, augment };
    QVERIFY(
        DecodedCache::fingerprint(m_samples, other) != DecodedCache::fingerprint(m_samples, m_key));
    QVERIFY(
        DecodedCache::fileNameFor(m_samples, other) != DecodedCache::fileNameFor(m_samples, m_key));
    auto cache = DecodedCache::open(path, m_samples, other, 1 << 20, &error);
    QVERIFY2(cache, qPrintable(error));
    QVERIFY(!cache->reused());
    QVERIFY(!cache->find(0).pixels);
}

void TestDecodedCache::changedFileListInvalidatesTheCache()
{
    const QString path = cachePath(QStringLiteral("list.ltcache"));
    const std::vector<std::uint8_t> a = pattern(16 * 16 * 3, 4);
    QString error;
    {
        auto cache = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
        QVERIFY2(cache, qPrintable(error));
        QVERIFY(cache->insert(1, a.data(), 16, 16, 3));
    }
    std::vector<Sample> fewer(m_samples.begin(), m_samples.end() - 1);
    QVERIFY(DecodedCache::fileNameFor(fewer, m_key) != DecodedCache::fileNameFor(m_samples, m_key));
    auto cache = DecodedCache::open(path, fewer, m_key, 1 << 20, &error);
    QVERIFY2(cache, qPrintable(error));
    QVERIFY(!cache->reused());
    QVERIFY(!cache->find(1).pixels);

    std::vector<Sample> relabelled = m_samples;
    relabelled[0].label = 2;
    QVERIFY(DecodedCache::fingerprint(relabelled, m_key)
        != DecodedCache::fingerprint(m_samples, m_key));
}

void TestDecodedCache::budgetBoundsThePixelBytes()
{
    const std::vector<std::uint8_t> a = pattern(16 * 16 * 3, 6);
    QString error;
    auto cache = DecodedCache::open(cachePath(QStringLiteral("budget.ltcache")), m_samples, m_key,
        std::int64_t(a.size()) * 2 + 10, &error);
    QVERIFY2(cache, qPrintable(error));
    QCOMPARE(cache->capacityBytes(), std::int64_t(a.size()) * 2 + 10);
    QVERIFY(cache->insert(0, a.data(), 16, 16, 3));
    QVERIFY(cache->insert(1, a.data(), 16, 16, 3));
    QVERIFY(!cache->insert(2, a.data(), 16, 16, 3)); // would pass the budget
    QVERIFY(!cache->find(2).pixels);
    QCOMPARE(cache->cachedCount(), std::size_t(2));
    QVERIFY(cache->bytesUsed() <= cache->capacityBytes());
    // The file is the header, the slot table and at most the budget.
    QVERIFY(QFileInfo(cache->path()).size() <= 2 * 4096 + cache->capacityBytes());
}

void TestDecodedCache::secondUserOfTheFileIsRefused()
{
    const QString path = cachePath(QStringLiteral("locked.ltcache"));
    QString error;
    auto first = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
    QVERIFY2(first, qPrintable(error));
    auto second = DecodedCache::open(path, m_samples, m_key, 1 << 20, &error);
    QVERIFY(!second);
    QVERIFY2(error.contains(QStringLiteral("in use")), qPrintable(error));
    first.reset();
    QVERIFY(DecodedCache::open(path, m_samples, m_key, 1 << 20, &error));
}

void TestDecodedCache::cachedLoaderGivesExactlyTheDecodedBatches()
{
    LoaderOptions options;
    options.decode.inputSize = 16;
    options.decode.channels = 3;
    options.decode.mean[0] = 0.4f;
    options.decode.std[1] = 0.3f;
    options.batchSize = 5;
    options.workers = 3;
    options.seed = 7;
    StreamingLoader plain(m_samples, options);
    const std::vector<Batch> expected0 = collectEpoch(plain, 0);
    const std::vector<Batch> expected1 = collectEpoch(plain, 1);

    QString error;
    options.cache = DecodedCache::open(
        cachePath(QStringLiteral("exact.ltcache")), m_samples, m_key, 1 << 20, &error);
    QVERIFY2(options.cache, qPrintable(error));
    StreamingLoader cached(m_samples, options);
    QVERIFY(sameBatches(collectEpoch(cached, 0), expected0)); // decoding, filling the cache
    QCOMPARE(options.cache->cachedCount(), m_samples.size());
    QCOMPARE(options.cache->bytesUsed(), std::int64_t(m_samples.size() * 16 * 16 * 3));
    QVERIFY(sameBatches(collectEpoch(cached, 1), expected1)); // every image from the cache
}

void TestDecodedCache::augmentedBatchesDoNotDependOnWhatWasCached()
{
    LoaderOptions options;
    options.decode.inputSize = 16;
    options.decode.channels = 3;
    options.decode.augment = true;
    options.batchSize = 4;
    options.workers = 2;
    options.seed = 3;
    const DecodedCacheKey key { 16, 3, true };
    QString error;

    // Warm: epoch 0 fills the cache, epoch 2 comes entirely from it.
    options.cache = DecodedCache::open(
        cachePath(QStringLiteral("aug-warm.ltcache")), m_samples, key, 1 << 20, &error);
    QVERIFY2(options.cache, qPrintable(error));
    StreamingLoader warm(m_samples, options);
    collectEpoch(warm, 0);
    QCOMPARE(options.cache->cachedCount(), m_samples.size());
    // Stored at ceil(16 / 0.8) = 20 px on the shorter side, aspect kept (40 × 30 → 27 × 20).
    QCOMPARE(options.cache->find(0).height, 20);
    QCOMPARE(options.cache->find(0).width, 27);
    const std::vector<Batch> fromCache = collectEpoch(warm, 2);

    // Cold: a new cache, epoch 2 decodes every file.
    options.cache = DecodedCache::open(
        cachePath(QStringLiteral("aug-cold.ltcache")), m_samples, key, 1 << 20, &error);
    QVERIFY2(options.cache, qPrintable(error));
    StreamingLoader cold(m_samples, options);
    QVERIFY(sameBatches(collectEpoch(cold, 2), fromCache));

    // And augmentation still changes between epochs.
    QVERIFY(!sameBatches(collectEpoch(cold, 3), fromCache));
}

QTEST_GUILESS_MAIN(TestDecodedCache)
#include "tst_decodedcache.moc"
