#pragma once
// Private header (includes torch): for core's .cpp files and the tests only.

#include "dataset/datasplit.h"
#include "dataset/decodedcache.h"
#include "dataset/imagedecoder_p.h"

#include <torch/torch.h>

#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace leantune {

struct LoaderOptions {
    DecodeOptions decode; // input size, channels, augmentation, normalization
    int batchSize = 64;
    int workers = 2; // decode threads
    int queueDepth = 4; // batches decoded ahead; host memory ≤ queueDepth × batchBytes()
    bool shuffle = true; // seeded per-epoch shuffle (seed, epoch)
    bool dropLast = false;
    std::uint64_t seed = 0;
    bool pinMemory = false; // allocate batches in pinned memory (CUDA runs)
    // Images a decode thread claims at a time from the oldest unfinished batch; 0 = automatic
    // (small chunks, so every thread works on the few batches in flight). A value ≥ batchSize makes
    // each thread decode whole batches (the old behaviour; for benchmarks).
    int chunkSize = 0;
    bool recycleBuffers = true; // reuse image buffers the consumer released (unpinned batches)
    // Optional decoded cache built for these samples (same order) and decode options (its key must
    // match inputSize, channels and augment; otherwise it is not used). Shared: it outlives the
    // loader.
    std::shared_ptr<DecodedCache> cache;
    // Data parallel: this loader serves shard shardIndex of shardCount, the positions
    // shardIndex, shardIndex + shardCount, ... of each epoch's order (the same seeded permutation
    // on every rank), as PyTorch's DistributedSampler does. With batchSize = global batch /
    // shardCount, batch b of every shard holds a disjoint share of global batch b. With
    // equalShardBatches, a last global batch with fewer images than shards is left out of the
    // epoch, so that every shard has the same number of batches (each optimizer step is a
    // collective).
    int shardIndex = 0;
    int shardCount = 1;
    bool equalShardBatches = false;
};

// A batch: images float32 [N, C, H, W], labels int64 [N]. N < batchSize for the last batch or when
// files in it failed to decode (they are skipped and counted in `skipped`). N is never 0: a batch
// whose files all failed is not delivered; its skipped count is added to the next batch's, and the
// delivered `index` values then have a gap.
struct Batch {
    torch::Tensor images;
    torch::Tensor labels;
    std::int64_t index = 0; // batch number within the epoch
    int skipped = 0;
    std::vector<std::int64_t> samples; // each row's index into the loader's samples
    double waitMs = 0.0; // time the consumer blocked in next() for this batch (data wait)
};

// Streams batches from disk with bounded memory. Batches follow a seeded permutation; decode
// threads cooperate on them, each claiming a few images at a time of the oldest unfinished batch in
// flight (opening the next batch only when every open one is fully claimed), and write them
// straight into the batch buffer. The consumer receives batches in index order, so a seed gives the
// same batches whatever the thread timing or worker count (augmentation is seeded per sample
// position). Image buffers of unpinned batches come from a small pool and return to it when the
// last tensor viewing them is released (whichever thread that is; the pool outlives the loader if
// it must), so steady-state batches cost no page faults. Pinned batches use torch's caching host
// allocator. With a decoded cache, images found in it are cropped/normalized from it without
// decoding, and decoded ones are stored in it (in their cache form, so output does not depend on
// what was cached). Thread affinity: one consumer thread calls startEpoch()/next(); stop() is safe
// from any thread. Memory: at most queueDepth batches are decoded or being decoded at once, plus
// the one the consumer holds, plus at most two idle buffers kept for reuse (unpinned batches).
// Files that fail to decode are skipped and counted, never fatal; no method throws. The first
// loader sets OpenCV's global thread count to 1 (cv::setNumThreads): the decode threads are the
// parallelism, and nested OpenCV/TBB work would only compete with them and with torch.
class StreamingLoader {
public:
    StreamingLoader(std::vector<Sample> samples, LoaderOptions options);
    ~StreamingLoader(); // stops and joins the decode threads

    StreamingLoader(const StreamingLoader &) = delete;
    StreamingLoader &operator=(const StreamingLoader &) = delete;

    // Begins epoch `epoch` (0-based), discarding whatever is left of the previous one (waits for
    // the files being decoded to finish). Clears a previous stop(). next() without any startEpoch()
    // starts epoch 0.
    void startEpoch(int epoch);
    // Starts mid-epoch at batch `firstBatch` (for resume). startEpoch(e) == startEpoch(e, 0).
    void startEpoch(int epoch, std::int64_t firstBatch);
    // Blocks until the next batch is ready. std::nullopt at the end of the epoch or after stop().
    std::optional<Batch> next();
    // Wakes a blocked next() and stops decoding; safe from any thread.
    void stop();

    std::int64_t batchesPerEpoch() const;
    // Images an epoch hands out (this shard's; whole batches only with dropLast).
    std::int64_t samplesPerEpoch() const;
    std::size_t size() const; // number of samples
    std::vector<Sample> samples() const; // a copy: the loader keeps them packed
    std::int64_t skippedTotal() const; // files that failed to decode, all epochs
    std::size_t batchBytes() const; // bytes of one full image batch
    const LoaderOptions &options() const;
    // The order of sample indices for an epoch (exposed for tests).
    std::vector<std::int64_t> permutation(int epoch) const;
    // Most batches claimed by decode threads and not yet handed out, at any one time (for tests:
    // never more than queueDepth).
    std::size_t peakBatchesInFlight() const;
    // True while a next() call is blocked waiting for a batch (for tests).
    bool isConsumerWaiting() const;

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace leantune
