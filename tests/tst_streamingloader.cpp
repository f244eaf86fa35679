// Tests for StreamingLoader: every sample once per epoch, determinism across instances and worker
// counts, per-epoch shuffling, the bounded queue, skipping of corrupt files, stop(), resume and
// teardown mid-epoch.

#include "dataset/decodedcache.h"
#include "dataset/streamingloader_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QElapsedTimer>
#include <QFile>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <atomic>
#include <memory>
#include <thread>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

using namespace leantune;

namespace {

constexpr int kClasses = 3;
constexpr int kPerClass = 20;
constexpr int kGood = kClasses * kPerClass;

// Decoding of the id fixtures: 8 × 8 gray, no normalization, so a pixel reads back as value / 255.
LoaderOptions idOptions(int batchSize, int workers, int queueDepth = 4, bool shuffle = true)
{
    LoaderOptions options;
    options.decode.inputSize = 8;
    options.decode.channels = 1;
    options.batchSize = batchSize;
    options.workers = workers;
    options.queueDepth = queueDepth;
    options.shuffle = shuffle;
    options.seed = 2024;
    return options;
}

// The fixture id of every row of a batch (file n is a flat image of value 4n).
std::vector<int> idsOf(const Batch &batch)
{
    std::vector<int> ids;
    const torch::Tensor firstPixels
        = batch.images.select(1, 0).select(1, 0).select(1, 0).contiguous();
    const float *values = firstPixels.data_ptr<float>();
    for (std::int64_t i = 0; i < firstPixels.size(0); ++i)
        ids.push_back(static_cast<int>(std::lround(values[i] * 255.f / 4.f)));
    return ids;
}

std::vector<Batch> collectEpoch(StreamingLoader &loader)
{
    std::vector<Batch> batches;
    while (std::optional<Batch> batch = loader.next())
        batches.push_back(std::move(*batch));
    return batches;
}

bool sameBatches(const std::vector<Batch> &a, const std::vector<Batch> &b, QString *why)
{
    if (a.size() != b.size()) {
        *why = QStringLiteral("%1 vs %2 batches").arg(a.size()).arg(b.size());
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].index != b[i].index || a[i].skipped != b[i].skipped
            || !torch::equal(a[i].images, b[i].images) || !torch::equal(a[i].labels, b[i].labels)) {
            *why = QStringLiteral("batch %1 differs").arg(i);
            return false;
        }
    }
    return true;
}

// Deliberate consumer work between next() calls (a slow training step), no sleeping.
double busyWork(const Batch &batch)
{
    double acc = 0.0;
    const float *values = batch.images.data_ptr<float>();
    for (int round = 0; round < 20000; ++round)
        acc += std::sin(values[round % batch.images.numel()] + round);
    return acc;
}

} // namespace

class TestStreamingLoader : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void everySampleOncePerEpoch_data();
    void everySampleOncePerEpoch();
    void dropLastDropsThePartialBatch();
    void sameSeedGivesSameBatchesWhateverTheWorkers();
    void differentSeedsGiveDifferentBatches();
    void epochsAreShuffledDifferently();
    void queueIsBounded_data();
    void queueIsBounded();
    void corruptFilesAreSkippedAndCounted();
    void batchWhoseFilesAllFailIsNotDelivered();
    void stopUnblocksAWaitingNext();
    void stopBeforeNextReturnsNulloptUntilNextEpoch();
    void startEpochResumesAtFirstBatch_data();
    void startEpochResumesAtFirstBatch();
    void startEpochDiscardsTheRestOfTheEpoch();
    void nextWithoutStartEpochStartsEpochZero();
    void destructorMidEpochDoesNotHang();
    void sameBatchesWhateverTheChunkSize();
    void threadsShareABatch();
    void recycledBuffersOutliveTheLoader();
    void samplesComeBackAsGiven();

private:
    LoaderOptions noiseOptions(int workers) const;

    QTemporaryDir m_dir;
    std::vector<Sample> m_good; // sample n: flat image of value 4n, label n / kPerClass
    std::vector<Sample> m_noise; // 30 colour noise images, 24 × 24, for augmentation
    std::vector<Sample> m_corrupt; // empty, text, truncated PNG
};

void TestStreamingLoader::initTestCase()
{
    QVERIFY(m_dir.isValid());
    for (int n = 0; n < kGood; ++n) {
        const QString path = m_dir.filePath(QStringLiteral("good_%1.png").arg(n));
        QVERIFY(cv::imwrite(path.toStdString(), cv::Mat(8, 8, CV_8UC1, cv::Scalar(4 * n))));
        m_good.push_back(Sample { path, n / kPerClass });
    }
    cv::RNG rng(7);
    for (int n = 0; n < 30; ++n) {
        cv::Mat noise(24, 24, CV_8UC3);
        rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
        const QString path = m_dir.filePath(QStringLiteral("noise_%1.png").arg(n));
        QVERIFY(cv::imwrite(path.toStdString(), noise));
        m_noise.push_back(Sample { path, n % kClasses });
    }

    auto writeFile = [this](const QString &name, const QByteArray &bytes) {
        QFile file(m_dir.filePath(name));
        if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
            return false;
        m_corrupt.push_back(Sample { file.fileName(), 0 });
        return true;
    };
    QFile png(m_good.front().path);
    QVERIFY(png.open(QIODevice::ReadOnly));
    const QByteArray pngBytes = png.readAll();
    QVERIFY(writeFile(QStringLiteral("corrupt_empty.png"), QByteArray()));
    QVERIFY(writeFile(QStringLiteral("corrupt_text.png"), QByteArray("not an image\n")));
    QVERIFY(writeFile(QStringLiteral("corrupt_truncated.png"), pngBytes.left(pngBytes.size() / 2)));
}

LoaderOptions TestStreamingLoader::noiseOptions(int workers) const
{
    LoaderOptions options;
    options.decode.inputSize = 16;
    options.decode.channels = 3;
    options.decode.augment = true;
    options.batchSize = 4; // 30 samples: 7 full batches and one of 2
    options.workers = workers;
    options.queueDepth = 3;
    options.seed = 99;
    return options;
}

void TestStreamingLoader::everySampleOncePerEpoch_data()
{
    QTest::addColumn<int>("batchSize");
    QTest::addColumn<int>("workers");
    QTest::addColumn<int>("queueDepth");
    QTest::addColumn<bool>("shuffle");

    QTest::newRow("1 worker, batch 7") << 7 << 1 << 4 << true;
    QTest::newRow("2 workers, batch 7") << 7 << 2 << 4 << true;
    QTest::newRow("4 workers, depth 1") << 7 << 4 << 1 << true;
    QTest::newRow("3 workers, batch 16, no shuffle") << 16 << 3 << 2 << false;
    QTest::newRow("batch of 1") << 1 << 2 << 8 << true;
    QTest::newRow("batch larger than the set") << 100 << 2 << 2 << true;
}

void TestStreamingLoader::everySampleOncePerEpoch()
{
    QFETCH(int, batchSize);
    QFETCH(int, workers);
    QFETCH(int, queueDepth);
    QFETCH(bool, shuffle);

    StreamingLoader loader(m_good, idOptions(batchSize, workers, queueDepth, shuffle));
    const std::int64_t expectedBatches = (kGood + batchSize - 1) / batchSize;
    QCOMPARE(loader.batchesPerEpoch(), expectedBatches);
    QCOMPARE(loader.size(), std::size_t(kGood));
    QCOMPARE(loader.samplesPerEpoch(), std::int64_t(kGood));

    for (int epoch = 0; epoch < 2; ++epoch) {
        loader.startEpoch(epoch);
        const std::vector<Batch> batches = collectEpoch(loader);
        QCOMPARE(static_cast<std::int64_t>(batches.size()), expectedBatches);

        std::vector<int> delivered;
        for (std::size_t b = 0; b < batches.size(); ++b) {
            const Batch &batch = batches[b];
            const std::int64_t rows = std::min<std::int64_t>(
                batchSize, kGood - static_cast<std::int64_t>(b) * batchSize);
            QCOMPARE(batch.index, static_cast<std::int64_t>(b));
            QCOMPARE(batch.skipped, 0);
            QVERIFY(batch.waitMs >= 0.0);
            QCOMPARE(batch.images.scalar_type(), torch::kFloat32);
            QCOMPARE(batch.images.sizes().vec(), (std::vector<std::int64_t> { rows, 1, 8, 8 }));
            QCOMPARE(batch.labels.scalar_type(), torch::kInt64);
            QCOMPARE(batch.labels.sizes().vec(), (std::vector<std::int64_t> { rows }));
            const std::vector<int> ids = idsOf(batch);
            for (std::size_t i = 0; i < ids.size(); ++i)
                QCOMPARE(batch.labels[static_cast<std::int64_t>(i)].item<std::int64_t>(),
                    static_cast<std::int64_t>(ids[i] / kPerClass));
            delivered.insert(delivered.end(), ids.begin(), ids.end());
        }

        // Exactly the epoch's permutation: every file once, none twice, in the seeded order.
        const std::vector<std::int64_t> order = loader.permutation(epoch);
        QCOMPARE(delivered.size(), order.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            QCOMPARE(static_cast<std::int64_t>(delivered[i]), order[i]);
        QSet<int> unique(delivered.begin(), delivered.end());
        QCOMPARE(unique.size(), kGood);
    }
}

void TestStreamingLoader::dropLastDropsThePartialBatch()
{
    LoaderOptions options = idOptions(7, 2);
    options.dropLast = true;
    StreamingLoader loader(m_good, options);
    QCOMPARE(loader.batchesPerEpoch(), std::int64_t(kGood / 7));
    loader.startEpoch(0);
    const std::vector<Batch> batches = collectEpoch(loader);
    QCOMPARE(batches.size(), std::size_t(kGood / 7));
    QSet<int> unique;
    for (const Batch &batch : batches) {
        QCOMPARE(batch.images.size(0), std::int64_t(7));
        for (int id : idsOf(batch))
            unique.insert(id);
    }
    QCOMPARE(unique.size(), (kGood / 7) * 7);
}

void TestStreamingLoader::sameSeedGivesSameBatchesWhateverTheWorkers()
{
    std::vector<std::vector<Batch>> runs; // [workers 1, 2, 4] × epochs 0, 1
    for (int workers : { 1, 2, 4 }) {
        StreamingLoader loader(m_noise, noiseOptions(workers));
        for (int epoch = 0; epoch < 2; ++epoch) {
            loader.startEpoch(epoch);
            runs.push_back(collectEpoch(loader));
            QCOMPARE(runs.back().size(), std::size_t(8));
        }
    }
    QString why;
    for (std::size_t run = 2; run < runs.size(); ++run)
        QVERIFY2(sameBatches(runs[run % 2], runs[run], &why), qPrintable(why));
    // Augmentation is on and seeded per epoch: two epochs never give the same tensors.
    QVERIFY(!sameBatches(runs[0], runs[1], &why));
}

void TestStreamingLoader::differentSeedsGiveDifferentBatches()
{
    LoaderOptions options = noiseOptions(2);
    StreamingLoader a(m_noise, options);
    options.seed += 1;
    StreamingLoader b(m_noise, options);
    a.startEpoch(0);
    b.startEpoch(0);
    QString why;
    QVERIFY(!sameBatches(collectEpoch(a), collectEpoch(b), &why));
}

void TestStreamingLoader::epochsAreShuffledDifferently()
{
    StreamingLoader shuffled(m_good, idOptions(8, 1));
    const std::vector<std::int64_t> first = shuffled.permutation(0);
    const std::vector<std::int64_t> second = shuffled.permutation(1);
    QVERIFY(first != second);
    QCOMPARE(shuffled.permutation(0), first); // stable for an epoch

    std::vector<std::int64_t> identity(kGood);
    for (int i = 0; i < kGood; ++i)
        identity[static_cast<std::size_t>(i)] = i;
    std::vector<std::int64_t> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    QCOMPARE(sorted, identity); // a permutation
    QVERIFY(first != identity);

    StreamingLoader ordered(m_good, idOptions(8, 1, 4, false));
    QCOMPARE(ordered.permutation(0), identity);
    QCOMPARE(ordered.permutation(5), identity);
}

void TestStreamingLoader::queueIsBounded_data()
{
    QTest::addColumn<int>("queueDepth");
    QTest::newRow("depth 1") << 1;
    QTest::newRow("depth 2") << 2;
    QTest::newRow("depth 3") << 3;
}

void TestStreamingLoader::queueIsBounded()
{
    QFETCH(int, queueDepth);
    // More decode threads than the queue allows, and a consumer slower than decoding: the threads
    // would run ahead if the window did not hold them.
    StreamingLoader loader(m_good, idOptions(4, 3, queueDepth));
    QCOMPARE(loader.batchBytes(), std::size_t(4 * 1 * 8 * 8 * sizeof(float)));
    loader.startEpoch(0);
    double sink = 0.0;
    int batches = 0;
    while (std::optional<Batch> batch = loader.next()) {
        sink += busyWork(*batch);
        ++batches;
        QVERIFY(loader.peakBatchesInFlight() <= static_cast<std::size_t>(queueDepth));
    }
    QVERIFY(std::isfinite(sink));
    QCOMPARE(batches, kGood / 4);
    QVERIFY(loader.peakBatchesInFlight() >= 1);
    QVERIFY(loader.peakBatchesInFlight() <= static_cast<std::size_t>(queueDepth));
}

void TestStreamingLoader::corruptFilesAreSkippedAndCounted()
{
    std::vector<Sample> samples = m_good;
    samples.insert(samples.begin() + 5, m_corrupt[0]);
    samples.insert(samples.begin() + 30, m_corrupt[1]);
    samples.push_back(m_corrupt[2]);
    StreamingLoader loader(samples, idOptions(8, 2));

    for (int epoch = 0; epoch < 2; ++epoch) {
        loader.startEpoch(epoch);
        int rows = 0, skipped = 0;
        QSet<int> ids;
        for (const Batch &batch : collectEpoch(loader)) {
            QVERIFY(batch.images.size(0) > 0);
            // 63 samples: 7 batches of 8 and one of 7; failed files are compacted out.
            QCOMPARE(batch.images.size(0) + batch.skipped,
                batch.index < 7 ? std::int64_t(8) : std::int64_t(7));
            rows += static_cast<int>(batch.images.size(0));
            skipped += batch.skipped;
            for (int id : idsOf(batch))
                ids.insert(id);
        }
        QCOMPARE(rows, kGood);
        QCOMPARE(ids.size(), kGood);
        QCOMPARE(skipped, 3);
        QCOMPARE(loader.skippedTotal(), std::int64_t(3 * (epoch + 1)));
    }
}

void TestStreamingLoader::batchWhoseFilesAllFailIsNotDelivered()
{
    std::vector<Sample> samples = m_corrupt; // batch 0: all three fail
    samples.insert(samples.end(), m_good.begin(), m_good.begin() + 4);
    StreamingLoader loader(samples, idOptions(3, 2, 2, false));
    loader.startEpoch(0);

    std::optional<Batch> first = loader.next();
    QVERIFY(first);
    QCOMPARE(first->index, std::int64_t(1));
    QCOMPARE(first->skipped, 3); // carried over from batch 0
    QCOMPARE(idsOf(*first), (std::vector<int> { 0, 1, 2 }));
    std::optional<Batch> second = loader.next();
    QVERIFY(second);
    QCOMPARE(second->index, std::int64_t(2));
    QCOMPARE(second->skipped, 0);
    QCOMPARE(idsOf(*second), (std::vector<int> { 3 }));
    QVERIFY(!loader.next());

    StreamingLoader hopeless(m_corrupt, idOptions(2, 2));
    hopeless.startEpoch(0);
    QVERIFY(!hopeless.next());
    QCOMPARE(hopeless.skippedTotal(), std::int64_t(3));
}

void TestStreamingLoader::stopUnblocksAWaitingNext()
{
#ifdef Q_OS_UNIX
    // A FIFO as the only file: the decode thread's open() blocks until a writer appears, so next()
    // can only return because of stop(), whatever the timing.
    const QString fifo = m_dir.filePath(QStringLiteral("blocking.png"));
    const QByteArray fifoName = QFile::encodeName(fifo);
    QCOMPARE(::mkfifo(fifoName.constData(), 0600), 0);

    {
        auto loader = std::make_unique<StreamingLoader>(
            std::vector<Sample> { Sample { fifo, 0 } }, idOptions(1, 1));
        loader->startEpoch(0);

        std::optional<Batch> result = Batch();
        std::thread consumer([&] { result = loader->next(); });
        // Wait (spinning, bounded) until the consumer blocks in next() and the decode thread has
        // claimed the batch, i.e. is on its way into the FIFO.
        QElapsedTimer waitingFor;
        waitingFor.start();
        while (!(loader->isConsumerWaiting() && loader->peakBatchesInFlight() == 1)
            && waitingFor.elapsed() < 10000)
            std::this_thread::yield();
        const bool waited = loader->isConsumerWaiting() && loader->peakBatchesInFlight() == 1;

        QElapsedTimer timer;
        timer.start();
        loader->stop();
        consumer.join();
        const qint64 elapsed = timer.elapsed();

        // Release the decode thread so the destructor can join it, whenever it reaches open(): a
        // non-blocking writer opens as soon as a reader waits in open(), and closing it gives the
        // reader an empty read. Keep doing so until the loader is gone (the thread may get to the
        // FIFO only after stop(), or not at all).
        std::atomic_bool released { false };
        std::thread releaser([&] {
            while (!released.load()) {
                const int writer = ::open(fifoName.constData(), O_WRONLY | O_NONBLOCK);
                if (writer >= 0)
                    ::close(writer);
                std::this_thread::yield();
            }
        });
        loader.reset();
        released.store(true);
        releaser.join();

        QVERIFY(waited);
        QVERIFY(!result.has_value());
        QVERIFY2(elapsed < 1000, qPrintable(QStringLiteral("%1 ms").arg(elapsed)));
    }
    QFile::remove(fifo);
#else
    QSKIP("needs a FIFO");
#endif
}

void TestStreamingLoader::stopBeforeNextReturnsNulloptUntilNextEpoch()
{
    StreamingLoader loader(m_good, idOptions(8, 2));
    loader.startEpoch(0);
    loader.stop();
    QVERIFY(!loader.next());
    QVERIFY(!loader.next());
    loader.startEpoch(1); // a new epoch clears the stop
    QCOMPARE(collectEpoch(loader).size(), std::size_t(loader.batchesPerEpoch()));
}

void TestStreamingLoader::startEpochResumesAtFirstBatch_data()
{
    QTest::addColumn<std::int64_t>("firstBatch");
    QTest::newRow("from the start") << std::int64_t(0);
    QTest::newRow("mid-epoch") << std::int64_t(3);
    QTest::newRow("last batch") << std::int64_t(7);
    QTest::newRow("past the end") << std::int64_t(8);
}

void TestStreamingLoader::startEpochResumesAtFirstBatch()
{
    QFETCH(std::int64_t, firstBatch);
    StreamingLoader reference(m_noise, noiseOptions(2));
    reference.startEpoch(2);
    const std::vector<Batch> full = collectEpoch(reference);
    QCOMPARE(full.size(), std::size_t(8));

    StreamingLoader resumed(m_noise, noiseOptions(3));
    resumed.startEpoch(2, firstBatch);
    const std::vector<Batch> rest = collectEpoch(resumed);
    const std::vector<Batch> expected(full.begin() + firstBatch, full.end());
    QString why;
    QVERIFY2(sameBatches(expected, rest, &why), qPrintable(why));
    if (!rest.empty())
        QCOMPARE(rest.front().index, firstBatch);
}

void TestStreamingLoader::startEpochDiscardsTheRestOfTheEpoch()
{
    StreamingLoader fresh(m_noise, noiseOptions(2));
    fresh.startEpoch(1);
    const std::vector<Batch> expected = collectEpoch(fresh);

    StreamingLoader loader(m_noise, noiseOptions(2));
    loader.startEpoch(0);
    QVERIFY(loader.next());
    QVERIFY(loader.next());
    loader.startEpoch(1);
    QString why;
    QVERIFY2(sameBatches(expected, collectEpoch(loader), &why), qPrintable(why));
}

void TestStreamingLoader::nextWithoutStartEpochStartsEpochZero()
{
    StreamingLoader implicit(m_good, idOptions(16, 2));
    StreamingLoader explicitStart(m_good, idOptions(16, 2));
    explicitStart.startEpoch(0);
    QString why;
    QVERIFY2(
        sameBatches(collectEpoch(explicitStart), collectEpoch(implicit), &why), qPrintable(why));
}

void TestStreamingLoader::destructorMidEpochDoesNotHang()
{
    QElapsedTimer timer;
    timer.start();
    {
        StreamingLoader neverStarted(m_good, idOptions(4, 2));
    }
    {
        StreamingLoader justStarted(m_good, idOptions(4, 2));
        justStarted.startEpoch(0);
    }
    {
        StreamingLoader midEpoch(m_good, idOptions(4, 3, 2));
        midEpoch.startEpoch(0);
        QVERIFY(midEpoch.next());
        QVERIFY(midEpoch.next());
    }
    QVERIFY2(timer.elapsed() < 1000, qPrintable(QStringLiteral("%1 ms").arg(timer.elapsed())));
}

void TestStreamingLoader::sameBatchesWhateverTheChunkSize()
{
    // Chunk 1, 3, automatic, and whole batches (the old one-thread-per-batch model) all give the
    // same batches: augmentation is seeded per position and rows keep their place.
    std::vector<std::vector<Batch>> runs;
    for (int chunk : { 0, 1, 3, 4, 100 }) {
        LoaderOptions options = noiseOptions(3);
        options.chunkSize = chunk;
        StreamingLoader loader(m_noise, options);
        loader.startEpoch(1);
        runs.push_back(collectEpoch(loader));
    }
    QString why;
    for (std::size_t i = 1; i < runs.size(); ++i)
        QVERIFY2(sameBatches(runs[0], runs[i], &why), qPrintable(why));
}

void TestStreamingLoader::threadsShareABatch()
{
#ifdef Q_OS_UNIX
    // One batch in flight (queue depth 1) whose first file is a FIFO: the thread that claims it
    // blocks in open(). The rest of the batch is decoded all the same, by the other thread, which
    // the decoded cache shows (it fills up while the FIFO still blocks). With whole-batch claiming
    // it would stay at zero until the FIFO is released.
    const QString fifo = m_dir.filePath(QStringLiteral("share.png"));
    const QByteArray fifoName = QFile::encodeName(fifo);
    QCOMPARE(::mkfifo(fifoName.constData(), 0600), 0);
    std::vector<Sample> samples { Sample { fifo, 0 } };
    samples.insert(samples.end(), m_good.begin(), m_good.begin() + 9);

    LoaderOptions options = idOptions(10, 2, 1, false);
    options.chunkSize = 1;
    QTemporaryDir cacheDir;
    QString error;
    options.cache = DecodedCache::open(cacheDir.filePath(QStringLiteral("c.ltcache")), samples,
        DecodedCacheKey { 8, 1, false }, 1 << 20, &error);
    QVERIFY2(options.cache, qPrintable(error));
    {
        StreamingLoader loader(samples, options);
        loader.startEpoch(0);
        QElapsedTimer waitingFor;
        waitingFor.start();
        while (options.cache->cachedCount() < 9 && waitingFor.elapsed() < 10000)
            std::this_thread::yield();
        const std::size_t cachedWhileBlocked = options.cache->cachedCount();

        int writer = -1; // release the blocked thread: an empty file, which is skipped
        while ((writer = ::open(fifoName.constData(), O_WRONLY | O_NONBLOCK)) < 0)
            std::this_thread::yield();
        ::close(writer);

        QCOMPARE(cachedWhileBlocked, std::size_t(9));
        std::optional<Batch> batch = loader.next();
        QVERIFY(batch);
        QCOMPARE(batch->skipped, 1);
        QCOMPARE(idsOf(*batch), (std::vector<int> { 0, 1, 2, 3, 4, 5, 6, 7, 8 }));
        QVERIFY(!loader.next());
    }
    QFile::remove(fifo);
#else
    QSKIP("needs a FIFO");
#endif
}

void TestStreamingLoader::recycledBuffersOutliveTheLoader()
{
    LoaderOptions options = noiseOptions(2);
    StreamingLoader reference(m_noise, [&] {
        LoaderOptions o = options;
        o.recycleBuffers = false;
        return o;
    }());
    reference.startEpoch(0);
    const std::vector<Batch> expected = collectEpoch(reference);

    std::vector<Batch> kept;
    {
        StreamingLoader loader(m_noise, options);
        loader.startEpoch(0);
        while (loader.next()) {
            // each batch is released at once: its buffer goes back to the pool
        }
        loader.startEpoch(0);
        kept = collectEpoch(loader); // the first batches are written into recycled buffers
    } // the loader is gone; the batches and their pooled buffers are not
    QString why;
    QVERIFY2(sameBatches(expected, kept, &why), qPrintable(why));
    kept.clear(); // returns the buffers to a pool that no loader owns any more: no crash, no leak
}

// The loader keeps its samples packed (a common folder, UTF-8 tails): what it gives back is what it
// was given, whatever the paths.
void TestStreamingLoader::samplesComeBackAsGiven()
{
    const std::vector<std::vector<Sample>> cases {
        { { QStringLiteral("/data/shoes/ü1.png"), 0 }, { QStringLiteral("/data/shirts/x.png"), 1 },
            { QStringLiteral("/data/shirts/x.png"), 1 }, { QStringLiteral("/other/ä é.png"), 2 } },
        { { QStringLiteral("/data/a/1.png"), 0 }, { QStringLiteral("/data/a/12.png"), 1 } },
        { { QStringLiteral("only.png"), 0 }, { QStringLiteral("/abs/two.png"), 1 } },
        { { QStringLiteral("/data/a/1.png"), 3 } },
    };
    for (const std::vector<Sample> &given : cases) {
        const StreamingLoader loader(given, idOptions(2, 1));
        const std::vector<Sample> back = loader.samples();
        QCOMPARE(back.size(), given.size());
        for (std::size_t i = 0; i < given.size(); ++i) {
            QCOMPARE(back[i].path, given[i].path);
            QCOMPARE(back[i].label, given[i].label);
        }
    }
}

QTEST_GUILESS_MAIN(TestStreamingLoader)
#include "tst_streamingloader.moc"
