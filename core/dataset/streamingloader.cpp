#include "dataset/streamingloader_p.h"
#include "dataset/seededrandom_p.h"

#include <opencv2/core.hpp>

#include <QDebug>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace leantune {

namespace {

// Distinct salts keep the shuffle's and the augmentation's generators unrelated.
constexpr std::uint64_t kShuffleSalt = 0x53485546464c4531ULL; // "SHUFFLE1"
constexpr std::uint64_t kAugmentSalt = 0x4155474d454e5431ULL; // "AUGMENT1"

std::uint64_t epochSeed(std::uint64_t seed, int epoch, std::uint64_t salt)
{
    return mix64(mix64(seed ^ salt) ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(epoch)));
}

double millisecondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

constexpr std::int64_t kMaxLoggedFailures = 10;

} // namespace

// Image buffers for unpinned batches, recycled. Shared by the loader and by the deleter of every
// tensor it handed out, so a batch the consumer keeps after the loader is gone still frees cleanly.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
public:
    BufferPool(std::size_t bytes, std::size_t maxIdle)
        : m_bytes(bytes)
        , m_maxIdle(maxIdle)
    {
    }
    ~BufferPool()
    {
        for (void *p : m_idle)
            std::free(p);
    }

    // A float tensor of SHAPE over a pooled buffer; throws std::bad_alloc (caught per batch).
    torch::Tensor acquire(at::IntArrayRef shape)
    {
        void *buffer = nullptr;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (!m_idle.empty()) {
                buffer = m_idle.back();
                m_idle.pop_back();
            }
        }
        if (!buffer)
            buffer = std::aligned_alloc(64, (m_bytes + 63) / 64 * 64);
        if (!buffer)
            throw std::bad_alloc();
        std::shared_ptr<BufferPool> self = shared_from_this();
        return torch::from_blob(
            buffer, shape, [self](void *p) { self->release(p); },
            torch::TensorOptions().dtype(torch::kFloat32));
    }

private:
    void release(void *buffer)
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_idle.size() < m_maxIdle) {
                m_idle.push_back(buffer);
                return;
            }
        }
        std::free(buffer);
    }

    const std::size_t m_bytes;
    const std::size_t m_maxIdle;
    std::mutex m_mutex;
    std::vector<void *> m_idle; // guarded by m_mutex
};

// A batch being decoded: its buffers and which of its images are claimed and done.
struct Slot {
    std::int64_t index = 0;
    std::int64_t begin = 0; // first position in the epoch's order
    std::int64_t count = 0;
    torch::Tensor images, labels;
    float *imageData = nullptr;
    std::int64_t *labelData = nullptr;
    std::vector<char> ok; // per image; each element written by the thread that claimed it
    std::int64_t nextItem = 0; // guarded by Private::mutex
    std::int64_t done = 0; // guarded by Private::mutex
    bool lost = false; // the buffers could not be allocated: every image counts as skipped
};

// The samples as the loader keeps them for the whole run: their paths' common prefix once, the
// rest of each path as UTF-8 in one block, and the labels. A std::vector<Sample> holds one UTF-16
// string per file, allocated one by one wherever the scan left room in the heap; this is the
// path's tail and 12 bytes per file in three allocations, so memory grows little with the files.
class PackedSamples {
public:
    explicit PackedSamples(std::vector<Sample> samples)
    {
        if (!samples.empty()) {
            m_prefix = samples.front().path;
            for (const Sample &sample : samples) { // the common prefix, cut after a separator
                qsizetype n = 0;
                const qsizetype most = std::min(m_prefix.size(), sample.path.size());
                while (n < most && m_prefix[n] == sample.path[n])
                    ++n;
                m_prefix.truncate(n);
            }
            m_prefix.truncate(m_prefix.lastIndexOf(QLatin1Char('/')) + 1);
        }
        std::size_t total = 0;
        for (const Sample &sample : samples)
            total += std::size_t(sample.path.size() - m_prefix.size());
        m_bytes.reserve(total); // exact for ASCII paths
        m_ends.reserve(samples.size());
        m_labels.reserve(samples.size());
        for (Sample &sample : samples) {
            const QByteArray utf8 = QStringView(sample.path).mid(m_prefix.size()).toUtf8();
            m_bytes.append(utf8.constData(), std::size_t(utf8.size()));
            m_ends.push_back(m_bytes.size());
            m_labels.push_back(sample.label);
            sample.path = QString(); // each file's string goes as soon as it is packed
        }
    }

    std::size_t size() const { return m_labels.size(); }
    int label(std::size_t i) const { return m_labels[i]; }
    QString path(std::size_t i) const
    {
        const std::size_t begin = i == 0 ? 0 : m_ends[i - 1];
        return m_prefix + QString::fromUtf8(m_bytes.data() + begin, qsizetype(m_ends[i] - begin));
    }
    std::vector<Sample> all() const
    {
        std::vector<Sample> samples(size());
        for (std::size_t i = 0; i < samples.size(); ++i)
            samples[i] = Sample { path(i), m_labels[i] };
        return samples;
    }

private:
    QString m_prefix;
    std::string m_bytes;
    std::vector<std::size_t> m_ends; // of each path in m_bytes
    std::vector<int> m_labels;
};

struct StreamingLoader::Private {
    Private(std::vector<Sample> s, LoaderOptions o)
        : samples(std::move(s))
        , options(std::move(o))
    {
    }

    std::unique_ptr<Slot> openSlot(std::int64_t index);
    bool decodeItem(std::int64_t position, std::uint64_t augmentSeed, float *out);
    Batch finish(std::unique_ptr<Slot> slot);
    void workerLoop(int forEpoch);
    void stopWorkers(); // consumer thread only

    const PackedSamples samples;
    LoaderOptions options; // sanitized in the constructor, then constant
    std::int64_t batches = 0; // per epoch
    std::int64_t samplesPerEpoch = 0; // batches × batchSize with dropLast, else shardSamples
    std::int64_t shardSamples = 0; // samples.size(), or this shard's share of them
    std::size_t sampleFloats = 0; // floats per decoded image
    std::int64_t chunk = 1; // images claimed at a time
    bool pinned = false; // allocate batches in pinned memory
    std::shared_ptr<BufferPool> pool; // unpinned image buffers; null when not recycling
    std::shared_ptr<DecodedCache> cache; // null when not caching

    // The current epoch's sample order. Written by startEpoch() only while no decode thread runs
    // and read-only while they run (thread start orders the accesses), so it needs no lock.
    std::vector<std::int64_t> order;
    std::vector<std::thread> threads; // consumer thread only

    std::atomic<std::int64_t> skippedTotal { 0 };

    mutable std::mutex mutex;
    std::condition_variable workCv; // decode threads: the window moved, a slot opened, or stopping
    std::condition_variable readyCv; // consumer: a batch is ready, or stopping
    bool started = false; // guarded by mutex
    bool stopping = false; // guarded by mutex
    std::int64_t nextClaim = 0; // guarded by mutex: next batch a decode thread opens
    std::int64_t nextToConsume = 0; // guarded by mutex: next batch next() hands out
    std::deque<std::unique_ptr<Slot>> open; // guarded by mutex: opened, not complete, index order
    int opening = 0; // guarded by mutex: batches claimed whose slot is being allocated
    std::map<std::int64_t, Batch> ready; // guarded by mutex: decoded, waiting for their turn
    std::size_t inFlight = 0; // guarded by mutex: claimed and not handed out
    std::size_t peakInFlight = 0; // guarded by mutex
    bool consumerWaiting = false; // guarded by mutex
};

std::unique_ptr<Slot> StreamingLoader::Private::openSlot(std::int64_t index)
{
    auto slot = std::make_unique<Slot>();
    slot->index = index;
    slot->begin = index * options.batchSize;
    slot->count = std::min<std::int64_t>(options.batchSize, samplesPerEpoch - slot->begin);
    const DecodeOptions &decode = options.decode;
    try {
        slot->ok.assign(static_cast<std::size_t>(slot->count), 0);
        // Plain allocations only: no torch op here may start intra-op threads.
        const std::vector<std::int64_t> shape { slot->count, decode.channels, decode.inputSize,
            decode.inputSize };
        slot->images = pool
            ? pool->acquire(shape)
            : torch::empty(
                shape, torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pinned));
        slot->labels = torch::empty({ slot->count }, torch::TensorOptions().dtype(torch::kInt64));
        slot->imageData = slot->images.data_ptr<float>();
        slot->labelData = slot->labels.data_ptr<std::int64_t>();
    } catch (const std::exception &e) { // c10::Error (allocation) or std::bad_alloc
        qWarning().noquote() << "StreamingLoader: batch" << index << "lost:" << e.what();
        slot->images = torch::Tensor();
        slot->labels = torch::Tensor();
        slot->lost = true;
    }
    return slot;
}

bool StreamingLoader::Private::decodeItem(
    std::int64_t position, std::uint64_t augmentSeed, float *out)
{
    const auto sampleIndex = static_cast<std::size_t>(order[static_cast<std::size_t>(position)]);
    const QString path = samples.path(sampleIndex);
    // Seeded by position in the epoch, not by thread: the same augmentation whoever decodes.
    std::mt19937_64 rng(mix64(augmentSeed ^ static_cast<std::uint64_t>(position)));
    QString error;
    bool decoded = false;
    if (cache) {
        const DecodedCache::Image hit = cache->find(sampleIndex);
        if (hit.pixels) {
            writeFromStored(hit.pixels, hit.width, hit.height, options.decode, rng, out);
            return true;
        }
        StoredImage stored;
        decoded = decodeFileToStored(path, options.decode, &stored, &error);
        if (decoded) {
            cache->insert(
                sampleIndex, stored.pixels.data(), stored.width, stored.height, stored.channels);
            writeFromStored(
                stored.pixels.data(), stored.width, stored.height, options.decode, rng, out);
        }
    } else {
        decoded = decodeFileInto(path, options.decode, rng, out, &error);
    }
    if (!decoded && skippedTotal.fetch_add(1) < kMaxLoggedFailures)
        qWarning().noquote() << "StreamingLoader: skipped" << path << "-" << error;
    return decoded;
}

// Turns a complete slot into a batch: failed images are compacted out, keeping the order.
Batch StreamingLoader::Private::finish(std::unique_ptr<Slot> slot)
{
    Batch batch;
    batch.index = slot->index;
    if (slot->lost) {
        skippedTotal.fetch_add(slot->count);
        batch.skipped = static_cast<int>(slot->count);
        return batch;
    }
    std::int64_t rows = 0;
    batch.samples.reserve(static_cast<std::size_t>(slot->count));
    for (std::int64_t i = 0; i < slot->count; ++i) {
        if (!slot->ok[static_cast<std::size_t>(i)]) {
            ++batch.skipped;
            continue;
        }
        batch.samples.push_back(order[static_cast<std::size_t>(slot->begin + i)]);
        if (rows != i) {
            std::memmove(slot->imageData + static_cast<std::size_t>(rows) * sampleFloats,
                slot->imageData + static_cast<std::size_t>(i) * sampleFloats,
                sampleFloats * sizeof(float));
            slot->labelData[rows] = slot->labelData[i];
        }
        ++rows;
    }
    batch.images = std::move(slot->images);
    batch.labels = std::move(slot->labels);
    if (rows < slot->count) {
        batch.images = batch.images.narrow(0, 0, rows);
        batch.labels = batch.labels.narrow(0, 0, rows);
    }
    return batch;
}

void StreamingLoader::Private::workerLoop(int forEpoch)
{
    const std::uint64_t augmentSeed = epochSeed(options.seed, forEpoch, kAugmentSalt);
    try {
        std::unique_lock<std::mutex> lock(mutex);
        for (;;) {
            // Work, in order of preference: images of the oldest open batch not yet claimed; else a
            // new batch, while the window allows (bounded: batch k opens only while k <
            // nextToConsume + queueDepth); else wait for either; done when every batch is claimed
            // and none is open.
            Slot *slot = nullptr;
            std::int64_t first = 0, last = 0;
            workCv.wait(lock, [&] {
                if (stopping)
                    return true;
                for (const std::unique_ptr<Slot> &s : open) {
                    if (s->nextItem < s->count) {
                        slot = s.get();
                        return true;
                    }
                }
                return nextClaim < batches ? nextClaim < nextToConsume + options.queueDepth
                                           : opening == 0;
            });
            if (stopping)
                return;
            if (!slot) {
                if (nextClaim >= batches)
                    return; // nothing left to claim: the threads still decoding finish the rest
                const std::int64_t index = nextClaim++;
                peakInFlight = std::max(peakInFlight, ++inFlight);
                ++opening;
                lock.unlock();
                std::unique_ptr<Slot> fresh = openSlot(index);
                lock.lock();
                --opening;
                if (stopping)
                    return;
                if (fresh->lost) {
                    fresh->nextItem = fresh->done = fresh->count;
                    Batch batch = finish(std::move(fresh));
                    ready.emplace(batch.index, std::move(batch));
                    readyCv.notify_all();
                    workCv.notify_all();
                    continue;
                }
                auto at = std::find_if(open.begin(), open.end(),
                    [&](const std::unique_ptr<Slot> &s) { return s->index > index; });
                slot = open.insert(at, std::move(fresh))->get();
                workCv.notify_all(); // others may help with it
            }
            first = slot->nextItem;
            last = std::min(slot->count, first + chunk);
            slot->nextItem = last;
            lock.unlock();

            // The slot stays open (and alive) until its last image is done, which needs this chunk.
            for (std::int64_t i = first; i < last; ++i) {
                float *out = slot->imageData + static_cast<std::size_t>(i) * sampleFloats;
                const bool ok = decodeItem(slot->begin + i, augmentSeed, out);
                slot->ok[static_cast<std::size_t>(i)] = ok ? 1 : 0;
                if (ok)
                    slot->labelData[i] = samples.label(
                        static_cast<std::size_t>(order[static_cast<std::size_t>(slot->begin + i)]));
            }

            lock.lock();
            slot->done += last - first;
            if (slot->done < slot->count)
                continue;
            auto it = std::find_if(open.begin(), open.end(),
                [&](const std::unique_ptr<Slot> &s) { return s.get() == slot; });
            std::unique_ptr<Slot> complete = std::move(*it);
            open.erase(it);
            lock.unlock();
            Batch batch = finish(std::move(complete)); // outside the lock: may move rows
            lock.lock();
            if (stopping)
                return; // the batch is dropped; startEpoch() resets the counters
            ready.emplace(batch.index, std::move(batch));
            readyCv.notify_all();
            workCv.notify_all(); // threads waiting for the last open batch to finish may exit
        }
    } catch (const std::exception &e) {
        // Only a failed container insertion gets here: without the batch the consumer would wait
        // forever.
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

    o.shardCount = std::max(o.shardCount, 1);
    o.shardIndex = std::clamp(o.shardIndex, 0, o.shardCount - 1);
    auto n = static_cast<std::int64_t>(d->samples.size());
    if (o.shardCount > 1) { // this shard's positions of the epoch's order (see LoaderOptions)
        const std::int64_t global = std::int64_t(o.batchSize) * o.shardCount;
        if (o.equalShardBatches && n % global != 0 && n % global < o.shardCount)
            n -= n % global;
        n = n > o.shardIndex ? (n - o.shardIndex + o.shardCount - 1) / o.shardCount : 0;
    }
    d->shardSamples = n;
    d->batches = o.dropLast ? n / o.batchSize : (n + o.batchSize - 1) / o.batchSize;
    d->samplesPerEpoch = o.dropLast ? d->batches * o.batchSize : n;
    d->sampleFloats = static_cast<std::size_t>(std::max(o.decode.channels, 0))
        * static_cast<std::size_t>(std::max(o.decode.inputSize, 0))
        * static_cast<std::size_t>(std::max(o.decode.inputSize, 0));
    // Small chunks spread each batch over the threads; a few images per claim keeps the lock cold.
    d->chunk = o.chunkSize > 0 ? o.chunkSize
                               : std::clamp<std::int64_t>(o.batchSize / (4 * o.workers), 1, 8);
    try {
        d->pinned = o.pinMemory && torch::cuda::is_available();
    } catch (const std::exception &) {
        d->pinned = false;
    }
    if (o.recycleBuffers && !d->pinned && d->sampleFloats > 0) {
        // Idle buffers kept: enough for the window to refill after the consumer returns one.
        d->pool = std::make_shared<BufferPool>(
            static_cast<std::size_t>(o.batchSize) * d->sampleFloats * sizeof(float), 2);
    }
    if (o.cache) {
        const DecodedCacheKey &key = o.cache->key();
        if (key.inputSize == o.decode.inputSize && key.channels == o.decode.channels
            && key.augment == o.decode.augment && o.cache->sampleCount() == d->samples.size())
            d->cache = o.cache;
        else
            qWarning().noquote() << "StreamingLoader: the decoded cache" << o.cache->path()
                                 << "was made for other data or decode options; not used";
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
        discarded.swap(d->ready); // freed outside the lock
        d->open.clear();
        d->opening = 0;
        d->order = permutation(epoch);
        d->nextClaim = first;
        d->nextToConsume = first;
        d->inFlight = 0;
        d->stopping = false;
        d->started = true;
    }

    // Threads cooperate within batches: as many as there are images left, up to workers.
    const std::int64_t imagesLeft
        = first < d->batches ? d->samplesPerEpoch - first * d->options.batchSize : 0;
    const auto wanted = std::min<std::int64_t>(d->options.workers, imagesLeft);
    try {
        for (std::int64_t i = 0; i < wanted; ++i)
            d->threads.emplace_back(&Private::workerLoop, d.get(), epoch);
    } catch (const std::exception &e) { // std::system_error: no more threads
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
    int carriedSkipped = 0; // from batches whose files all failed
    std::unique_lock<std::mutex> lock(d->mutex);
    for (;;) {
        if (d->stopping || d->nextToConsume >= d->batches)
            return std::nullopt;
        auto it = d->ready.find(d->nextToConsume);
        if (it == d->ready.end()) {
            const auto waitStart = std::chrono::steady_clock::now();
            d->consumerWaiting = true;
            d->readyCv.wait(
                lock, [this] { return d->stopping || d->ready.count(d->nextToConsume) > 0; });
            d->consumerWaiting = false;
            waitedMs += millisecondsSince(waitStart);
            continue;
        }
        Batch batch = std::move(it->second);
        d->ready.erase(it);
        ++d->nextToConsume;
        --d->inFlight;
        lock.unlock();
        d->workCv.notify_all(); // the window moved: a decode thread may take the next batch

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

std::int64_t StreamingLoader::samplesPerEpoch() const
{
    return d->samplesPerEpoch;
}

std::size_t StreamingLoader::size() const
{
    return d->samples.size();
}

std::vector<Sample> StreamingLoader::samples() const
{
    return d->samples.all();
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
    if (d->options.shardCount > 1) {
        std::vector<std::int64_t> shard(static_cast<std::size_t>(d->shardSamples));
        for (std::size_t k = 0; k < shard.size(); ++k)
            shard[k] = order[static_cast<std::size_t>(d->options.shardIndex)
                + k * static_cast<std::size_t>(d->options.shardCount)];
        return shard;
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
