#pragma once

#include "dataset/datasplit.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace leantune {

// What a cache holds: images decoded for one input size, channel count and storage layout.
struct DecodedCacheKey {
    int inputSize = 0;
    int channels = 0;
    bool augment = false; // layout for augmented loading (see StoredImage in imagedecoder_p.h)
};

// A memory-mapped file of decoded 8-bit images, one slot per sample, filled during the first epoch
// and read (random access, no decoding) in later ones and by later runs. The file starts with a
// header holding a fingerprint of the samples (paths, labels, file sizes, modification times) and
// the key: when either changes the file is rebuilt empty, so stale pixels are never served.
// Bounded: the pixel area never exceeds budgetBytes; samples that no longer fit stay uncached (they
// are decoded from their files every epoch). The mapped pages are the kernel's page cache, shared
// and reclaimable, and count in the process RSS only while touched. Thread-safe: find() and
// insert() may be called from any number of decode threads. Another process using the same file at
// once is refused (flock). Never throws.
class DecodedCache {
public:
    // Opens PATH for SAMPLES and KEY, or creates it (and its folder). std::nullopt-like: nullptr
    // with *error set when the file cannot be created, locked or mapped.
    static std::shared_ptr<DecodedCache> open(const QString &path,
        const std::vector<Sample> &samples, const DecodedCacheKey &key, std::int64_t budgetBytes,
        QString *error);
    // A file name (no folder) for SAMPLES and KEY: the same for the same file list and key, so a
    // changed file under the same names reuses (and rebuilds) the same file.
    static QString fileNameFor(const std::vector<Sample> &samples, const DecodedCacheKey &key);
    // The folder caches go in by default (the user's cache location, "decoded" under it).
    static QString defaultDirectory();
    // A default budget: a quarter of physical memory (bytes).
    static std::int64_t defaultBudgetBytes();
    // The fingerprint the header stores (exposed for tests).
    static std::uint64_t fingerprint(
        const std::vector<Sample> &samples, const DecodedCacheKey &key);

    ~DecodedCache();
    DecodedCache(const DecodedCache &) = delete;
    DecodedCache &operator=(const DecodedCache &) = delete;

    struct Image {
        const std::uint8_t *pixels = nullptr; // null: not cached; else height × width × channels
        int width = 0;
        int height = 0;
    };
    // The cached image of sample SAMPLE (its index in the sample list), or pixels == nullptr.
    Image find(std::size_t sample) const;
    // Copies an image in; false when it is already there, does not fit the budget, or SAMPLE, the
    // size or the channel count is out of range. Another thread may find() it once this returns.
    bool insert(
        std::size_t sample, const std::uint8_t *pixels, int width, int height, int channels);

    bool reused() const; // an existing file matched and was opened as is
    QString path() const;
    const DecodedCacheKey &key() const;
    std::size_t sampleCount() const;
    std::size_t cachedCount() const; // samples with an image
    std::int64_t bytesUsed() const; // pixel bytes taken
    std::int64_t capacityBytes() const; // pixel bytes available (the budget)

private:
    DecodedCache() = default;
    struct Entry;

    QString m_path;
    DecodedCacheKey m_key;
    int m_fd = -1;
    std::uint8_t *m_map = nullptr; // the whole file, MAP_SHARED
    std::size_t m_mapBytes = 0;
    std::size_t m_samples = 0;
    Entry *m_entries = nullptr; // in the mapping; state fields use atomic builtins
    std::uint8_t *m_data = nullptr; // pixel area, in the mapping
    std::int64_t m_capacity = 0;
    bool m_reused = false;
    mutable std::mutex m_mutex; // guards the header's used-bytes counter (allocation)
};

} // namespace leantune
