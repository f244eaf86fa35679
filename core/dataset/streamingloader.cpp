#include "dataset/streamingloader_p.h"

#include <opencv2/core.hpp>

#include <QDebug>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace leantune {

namespace {

// splitmix64 finalizer: turns (seed, epoch, position) into well-mixed generator seeds.
std::uint64_t mix64(std::uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Distinct salts keep the shuffle's and the augmentation's generators unrelated.
constexpr std::uint64_t kShuffleSalt = 0x53485546464c4531ULL;   // "SHUFFLE1"
constexpr std::uint64_t kAugmentSalt = 0x4155474d454e5431ULL;   // "AUGMENT1"

std::uint64_t epochSeed(std::uint64_t seed, int epoch, std::uint64_t salt)
{
    return mix64(mix64(seed ^ salt) ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(epoch)));
}

// Unbiased uniform integer in [0, n), n > 0; platform-independent (unlike std::shuffle).
std::uint64_t uniformBelow(std::mt19937_64 &rng, std::uint64_t n)
{
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
        const std::uint64_t r = rng();
        if (r >= threshold)
            return r % n;
    }
}

double millisecondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

constexpr std::int64_t kMaxLoggedFailures = 10;

} // namespace

struct StreamingLoader::Private {
    Private(std::vector<Sample> s, LoaderOptions o) : samples(std::move(s)), options(std::move(o)) {}

    Batch decodeBatch(std::int64_t index, int forEpoch);
    void workerLoop(int forEpoch);
    void stopWorkers();   // consumer thread only

    const std::vector<Sample> samples;
    LoaderOptions options;            // sanitized in the constructor, then constant
    std::int64_t batches = 0;         // per epoch
    std::int64_t samplesPerEpoch = 0; // batches × batchSize with dropLast, else samples.size()
    std::size_t sampleFloats = 0;     // floats per decoded image
    bool pinned = false;              // allocate batches in pinned memory

    // The current epoch's sample order. Written by startEpoch() only while no decode thread runs and
    // read-only while they run (thread start orders the accesses), so it needs no lock.
    std::vector<std::int64_t> order;
    std::vector<std::thread> threads; // consumer thread only

    std::atomic<std::int64_t> skippedTotal{0};

    mutable std::mutex mutex;
    std::condition_variable workCv;   // decode threads: the window moved, or stopping
    std::condition_variable readyCv;  // consumer: a batch is ready, or stopping
    bool started = false;             // guarded by mutex
    bool stopping = false;            // guarded by mutex
    std::int64_t nextClaim = 0;       // guarded by mutex: next batch a decode thread takes
    std::int64_t nextToConsume = 0;   // guarded by mutex: next batch next() hands out
    std::map<std::int64_t, Batch> ready;   // guarded by mutex: decoded, waiting for their turn
    std::size_t inFlight = 0;         // guarded by mutex: claimed and not handed out
    std::size_t peakInFlight = 0;     // guarded by mutex
    bool consumerWaiting = false;     // guarded by mutex
};

Batch StreamingLoader::Private::decodeBatch(std::int64_t index, int forEpoch)
{
    const std::int64_t begin = index * options.batchSize;
    const std::int64_t count = std::min<std::int64_t>(options.batchSize, samplesPerEpoch - begin);
    const DecodeOptions &decode = options.decode;
    const std::uint64_t augmentSeed = epochSeed(options.seed, forEpoch, kAugmentSalt);

    Batch batch;
    batch.index = index;
    try {
        // Plain allocations and memory writes only: no torch op here may start intra-op threads.
        batch.images = torch::empty({count, decode.channels, decode.inputSize, decode.inputSize},
                                    torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pinned));
        batch.labels = torch::empty({count}, torch::TensorOptions().dtype(torch::kInt64));
        float *images = batch.images.data_ptr<float>();
        std::int64_t *labels = batch.labels.data_ptr<std::int64_t>();

        // Decoded images are packed at the front as they come, so failed files leave no holes.
        std::int64_t rows = 0;
        for (std::int64_t i = 0; i < count; ++i) {
            const Sample &sample = samples[static_cast<std::size_t>(order[static_cast<std::size_t>(begin + i)])];
            // Seeded by position in the epoch, not by thread: the same augmentation whoever decodes.
            std::mt19937_64 rng(mix64(augmentSeed ^ static_cast<std::uint64_t>(begin + i)));
            QString error;
            if (decodeFileInto(sample.path, decode, rng,
                               images + static_cast<std::size_t>(rows) * sampleFloats, &error)) {
                labels[rows++] = sample.label;
            } else {
                ++batch.skipped;
                if (skippedTotal.fetch_add(1) < kMaxLoggedFailures)
                    qWarning().noquote() << "StreamingLoader: skipped" << sample.path << "-" << error;
            }
        }
        if (rows < count) {
            batch.images = batch.images.narrow(0, 0, rows);
            batch.labels = batch.labels.narrow(0, 0, rows);
        }
    } catch (const std::exception &e) {   // c10::Error (allocation) or std::bad_alloc
        qWarning().noquote() << "StreamingLoader: batch" << index << "lost:" << e.what();
        skippedTotal.fetch_add(count - batch.skipped);
        batch.images = torch::Tensor();
        batch.labels = torch::Tensor();
        batch.skipped = static_cast<int>(count);
    }
    return batch;
}

void StreamingLoader::Private::workerLoop(int forEpoch)
{
    try {
        for (;;) {
            std::int64_t index = 0;
            {
                std::unique_lock<std::mutex> lock(mutex);
                // Bounded: batch k may start only while k < nextToConsume + queueDepth.
                workCv.wait(lock, [this] {
                    return stopping || nextClaim >= batches
                        || nextClaim < nextToConsume + options.queueDepth;
                });
                if (stopping || nextClaim >= batches)
                    return;
                index = nextClaim++;
                peakInFlight = std::max(peakInFlight, ++inFlight);
            }
            Batch batch = decodeBatch(index, forEpoch);
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (stopping)
                    return;   // the batch is dropped; startEpoch() resets the counters
                ready.emplace(index, std::move(batch));
            }
            readyCv.notify_all();
        }
    } catch (const std::exception &e) {
        // Only a failed map insertion gets here: without the batch the consumer would wait forever.
        qWarning().noquote() << "StreamingLoader: decode thread failed:" << e.what();
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
        }
        workCv.notify_all();
        readyCv.notify_all();
    }
}

void StreamingLoader::Private::stopWorkers()
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
    }
    workCv.notify_all();
    readyCv.notify_all();
    for (std::thread &thread : threads)
        thread.join();
    threads.clear();
}

StreamingLoader::StreamingLoader(std::vector<Sample> samples, LoaderOptions options)
    : d(std::make_unique<Private>(std::move(samples), std::move(options)))
{
    LoaderOptions &o = d->options;
    o.batchSize = std::max(o.batchSize, 1);
    o.workers = std::max(o.workers, 1);
    o.queueDepth = std::max(o.queueDepth, 1);

    const auto n = static_cast<std::int64_t>(d->samples.size());
    d->batches = o.dropLast ? n / o.batchSize : (n + o.batchSize - 1) / o.batchSize;
    d->samplesPerEpoch = o.dropLast ? d->batches * o.batchSize : n;
    d->sampleFloats = static_cast<std::size_t>(std::max(o.decode.channels, 0))
                      * static_cast<std::size_t>(std::max(o.decode.inputSize, 0))
                      * static_cast<std::size_t>(std::max(o.decode.inputSize, 0));
    try {
        d->pinned = o.pinMemory && torch::cuda::is_available();
    } catch (const std::exception &) {
        d->pinned = false;
    }

    // Process-wide and set once, before the first decode thread exists (see the header).
    static std::once_flag openCvThreads;
    std::call_once(openCvThreads, [] { cv::setNumThreads(1); });
}

StreamingLoader::~StreamingLoader()
{
    d->stopWorkers();
}

void StreamingLoader::startEpoch(int epoch)
{
    startEpoch(epoch, 0);
}

void StreamingLoader::startEpoch(int epoch, std::int64_t firstBatch)
{
    d->stopWorkers();
    const std::int64_t first = std::clamp<std::int64_t>(firstBatch, 0, d->batches);
    std::map<std::int64_t, Batch> discarded;
    {
        std::lock_guard<std::mutex> lock(d->mutex);
        discarded.swap(d->ready);   // freed outside the lock
        d->order = permutation(epoch);
        d->nextClaim = first;
        d->nextToConsume = first;
        d->inFlight = 0;
        d->stopping = false;
        d->started = true;
    }

    const auto wanted = std::min<std::int64_t>(d->options.workers, d->batches - first);
    try {
        for (std::int64_t i = 0; i < wanted; ++i)
            d->threads.emplace_back(&Private::workerLoop, d.get(), epoch);
    } catch (const std::exception &e) {   // std::system_error: no more threads
        qWarning().noquote() << "StreamingLoader: cannot start decode thread:" << e.what();
        if (d->threads.empty()) {
            std::lock_guard<std::mutex> lock(d->mutex);
            d->stopping = true;
        }
    }
}

std::optional<Batch> StreamingLoader::next()
{
    bool started = false;
    {
        std::lock_guard<std::mutex> lock(d->mutex);
        started = d->started;
    }
    if (!started)
        startEpoch(0);

    double waitedMs = 0.0;
    int carriedSkipped = 0;   // from batches whose files all failed
    std::unique_lock<std::mutex> lock(d->mutex);
    for (;;) {
        if (d->stopping || d->nextToConsume >= d->batches)
            return std::nullopt;
        auto it = d->ready.find(d->nextToConsume);
        if (it == d->ready.end()) {
            const auto waitStart = std::chrono::steady_clock::now();
            d->consumerWaiting = true;
            d->readyCv.wait(lock, [this] {
                return d->stopping || d->ready.count(d->nextToConsume) > 0;
            });
            d->consumerWaiting = false;
            waitedMs += millisecondsSince(waitStart);
            continue;
        }
        Batch batch = std::move(it->second);
        d->ready.erase(it);
        ++d->nextToConsume;
        --d->inFlight;
        lock.unlock();
        d->workCv.notify_all();   // the window moved: a decode thread may take the next batch

        if (batch.images.defined() && batch.images.size(0) > 0) {
            batch.skipped += carriedSkipped;
            batch.waitMs = waitedMs;
            return batch;
        }
        carriedSkipped += batch.skipped;
        lock.lock();
    }
}

void StreamingLoader::stop()
{
    {
        std::lock_guard<std::mutex> lock(d->mutex);
        d->stopping = true;
    }
    d->workCv.notify_all();
    d->readyCv.notify_all();
}

std::int64_t StreamingLoader::batchesPerEpoch() const
{
    return d->batches;
}

std::size_t StreamingLoader::size() const
{
    return d->samples.size();
}

std::int64_t StreamingLoader::skippedTotal() const
{
    return d->skippedTotal.load();
}

std::size_t StreamingLoader::batchBytes() const
{
    return static_cast<std::size_t>(d->options.batchSize) * d->sampleFloats * sizeof(float);
}

const LoaderOptions &StreamingLoader::options() const
{
    return d->options;
}

std::vector<std::int64_t> StreamingLoader::permutation(int epoch) const
{
    std::vector<std::int64_t> order(d->samples.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = static_cast<std::int64_t>(i);
    if (d->options.shuffle && order.size() > 1) {
        // Fisher-Yates with our own uniform draw: the same order on every platform for a seed.
        std::mt19937_64 rng(epochSeed(d->options.seed, epoch, kShuffleSalt));
        for (std::size_t i = order.size() - 1; i > 0; --i)
            std::swap(order[i], order[static_cast<std::size_t>(uniformBelow(rng, i + 1))]);
    }
    return order;
}

std::size_t StreamingLoader::peakBatchesInFlight() const
{
    std::lock_guard<std::mutex> lock(d->mutex);
    return d->peakInFlight;
}

bool StreamingLoader::isConsumerWaiting() const
{
    std::lock_guard<std::mutex> lock(d->mutex);
    return d->consumerWaiting;
}

} // namespace leantune
