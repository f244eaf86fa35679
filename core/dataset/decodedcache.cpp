#include "dataset/decodedcache.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace leantune {

namespace {

constexpr char kMagic[8] = { 'L', 'T', 'D', 'C', 'A', 'C', 'H', '1' };
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kPage = 4096;

// The file's first page. Plain little-endian fields, written and read on the same machine.
struct Header {
    char magic[8];
    std::uint32_t version;
    std::uint32_t inputSize;
    std::uint32_t channels;
    std::uint32_t augment;
    std::uint64_t fingerprint;
    std::uint64_t samples;
    std::uint64_t capacity; // pixel-area bytes
    std::uint64_t used; // pixel-area bytes handed out (guarded by m_mutex while open)
};

std::size_t alignUp(std::size_t value, std::size_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

// FNV-1a, 64 bits: stable across runs and platforms (std::hash is not).
struct Fnv {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    void add(const void *data, std::size_t size)
    {
        const auto *p = static_cast<const unsigned char *>(data);
        for (std::size_t i = 0; i < size; ++i) {
            h ^= p[i];
            h *= 0x100000001b3ULL;
        }
    }
    template <typename T> void add(T value) { add(&value, sizeof value); }
};

void addKeyAndNames(Fnv &fnv, const std::vector<Sample> &samples, const DecodedCacheKey &key)
{
    fnv.add(kVersion);
    fnv.add(std::int32_t(key.inputSize));
    fnv.add(std::int32_t(key.channels));
    fnv.add(std::int32_t(key.augment ? 1 : 0));
    fnv.add(std::uint64_t(samples.size()));
    for (const Sample &s : samples) {
        const QByteArray name = s.path.toUtf8();
        fnv.add(std::uint64_t(name.size()));
        fnv.add(name.constData(), static_cast<std::size_t>(name.size()));
        fnv.add(std::int32_t(s.label));
    }
}

QString errnoText()
{
    return QString::fromLocal8Bit(std::strerror(errno));
}

} // namespace

struct DecodedCache::Entry {
    std::uint64_t offset; // into the pixel area
    std::uint32_t width;
    std::uint32_t height;
    std::uint32_t state; // 0 empty, 1 filled (release-stored after the pixels)
    std::uint32_t reserved;
};

std::uint64_t DecodedCache::fingerprint(
    const std::vector<Sample> &samples, const DecodedCacheKey &key)
{
    Fnv fnv;
    addKeyAndNames(fnv, samples, key);
    for (const Sample &s : samples) {
        struct stat st { };
        const QByteArray name = QFile::encodeName(s.path);
        if (::stat(name.constData(), &st) == 0) {
            fnv.add(std::int64_t(st.st_size));
            fnv.add(std::int64_t(st.st_mtim.tv_sec));
            fnv.add(std::int64_t(st.st_mtim.tv_nsec));
        } else {
            fnv.add(std::int64_t(-1));
        }
    }
    return fnv.h;
}

QString DecodedCache::fileNameFor(const std::vector<Sample> &samples, const DecodedCacheKey &key)
{
    Fnv fnv;
    addKeyAndNames(fnv, samples, key);
    return QStringLiteral("decoded-%1.ltcache").arg(fnv.h, 16, 16, QLatin1Char('0'));
}

QString DecodedCache::defaultDirectory()
{
    QString base = QStandardPaths::writableLocation(QStandardPaths::GenericCacheLocation);
    if (base.isEmpty())
        base = QDir::tempPath();
    return QDir(base).filePath(QStringLiteral("LeanTune/decoded"));
}

std::int64_t DecodedCache::defaultBudgetBytes()
{
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long pageSize = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || pageSize <= 0)
        return std::int64_t(1) << 30;
    return std::int64_t(pages) * pageSize / 4;
}

std::shared_ptr<DecodedCache> DecodedCache::open(const QString &path,
    const std::vector<Sample> &samples, const DecodedCacheKey &key, std::int64_t budgetBytes,
    QString *error)
{
    const auto failWith = [error](const QString &message) {
        if (error)
            *error = message;
        return std::shared_ptr<DecodedCache>();
    };
    if (key.inputSize < 1 || (key.channels != 1 && key.channels != 3) || budgetBytes < 0)
        return failWith(QStringLiteral("invalid decoded-cache settings"));
    try {
        std::shared_ptr<DecodedCache> cache(new DecodedCache());
        cache->m_path = path;
        cache->m_key = key;
        cache->m_samples = samples.size();
        cache->m_capacity = budgetBytes;

        const QFileInfo info(path);
        if (!QDir().mkpath(info.absolutePath()))
            return failWith(
                QStringLiteral("cannot create the cache folder %1").arg(info.absolutePath()));
        const QByteArray name = QFile::encodeName(path);
        cache->m_fd = ::open(name.constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (cache->m_fd < 0)
            return failWith(
                QStringLiteral("cannot open the cache file %1: %2").arg(path, errnoText()));
        if (::flock(cache->m_fd, LOCK_EX | LOCK_NB) != 0)
            return failWith(
                QStringLiteral("the cache file %1 is in use by another process").arg(path));

        const std::size_t entriesBytes = sizeof(Entry) * samples.size();
        const std::size_t dataOffset = alignUp(kPage + entriesBytes, kPage);
        cache->m_mapBytes = dataOffset + static_cast<std::size_t>(budgetBytes);

        Header wanted {};
        std::memcpy(wanted.magic, kMagic, sizeof kMagic);
        wanted.version = kVersion;
        wanted.inputSize = static_cast<std::uint32_t>(key.inputSize);
        wanted.channels = static_cast<std::uint32_t>(key.channels);
        wanted.augment = key.augment ? 1 : 0;
        wanted.fingerprint = fingerprint(samples, key);
        wanted.samples = samples.size();
        wanted.capacity = static_cast<std::uint64_t>(budgetBytes);

        Header found {};
        struct stat st { };
        const bool matches = ::fstat(cache->m_fd, &st) == 0
            && std::size_t(st.st_size) == cache->m_mapBytes
            && ::pread(cache->m_fd, &found, sizeof found, 0) == ssize_t(sizeof found)
            && std::memcmp(found.magic, wanted.magic, sizeof kMagic) == 0
            && found.version == wanted.version && found.inputSize == wanted.inputSize
            && found.channels == wanted.channels && found.augment == wanted.augment
            && found.fingerprint == wanted.fingerprint && found.samples == wanted.samples
            && found.capacity == wanted.capacity && found.used <= found.capacity;
        if (!matches) {
            // Stale, foreign or new: start empty. Truncating first zeroes every slot (sparse file).
            if (::ftruncate(cache->m_fd, 0) != 0
                || ::ftruncate(cache->m_fd, static_cast<off_t>(cache->m_mapBytes)) != 0)
                return failWith(
                    QStringLiteral("cannot size the cache file %1: %2").arg(path, errnoText()));
        }
        void *map = ::mmap(
            nullptr, cache->m_mapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, cache->m_fd, 0);
        if (map == MAP_FAILED)
            return failWith(
                QStringLiteral("cannot map the cache file %1: %2").arg(path, errnoText()));
        cache->m_map = static_cast<std::uint8_t *>(map);
        cache->m_entries = reinterpret_cast<Entry *>(cache->m_map + kPage);
        cache->m_data = cache->m_map + dataOffset;
        if (matches) {
            cache->m_reused = true;
            // Distrust any entry that points outside the pixel area (a damaged file).
            for (std::size_t i = 0; i < samples.size(); ++i) {
                Entry &e = cache->m_entries[i];
                const std::uint64_t bytes
                    = std::uint64_t(e.width) * e.height * std::uint64_t(key.channels);
                if (e.state == 2
                    || (e.state == 1 && (e.offset > found.used || bytes > found.used - e.offset)))
                    e.state = 0; // half-written by a process that died, or damaged
            }
        } else {
            std::memcpy(cache->m_map, &wanted, sizeof wanted);
        }
        return cache;
    } catch (const std::exception &e) {
        return failWith(QStringLiteral("cannot open the cache file %1: %2")
                            .arg(path, QString::fromLocal8Bit(e.what())));
    }
}

DecodedCache::~DecodedCache()
{
    if (m_map)
        ::munmap(m_map, m_mapBytes);
    if (m_fd >= 0)
        ::close(m_fd); // releases the flock
}

DecodedCache::Image DecodedCache::find(std::size_t sample) const
{
    Image image;
    if (sample >= m_samples)
        return image;
    Entry &e = m_entries[sample];
    if (__atomic_load_n(&e.state, __ATOMIC_ACQUIRE) != 1)
        return image;
    image.pixels = m_data + e.offset;
    image.width = static_cast<int>(e.width);
    image.height = static_cast<int>(e.height);
    return image;
}

bool DecodedCache::insert(
    std::size_t sample, const std::uint8_t *pixels, int width, int height, int channels)
{
    if (sample >= m_samples || !pixels || width < 1 || height < 1 || channels != m_key.channels)
        return false;
    const std::uint64_t bytes
        = std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(channels);
    Entry &e = m_entries[sample];
    std::uint64_t offset = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        auto *header = reinterpret_cast<Header *>(m_map);
        // state 2 marks a slot being written, so two threads never fill the same one. Readers load
        // the state without the mutex, so it is only ever accessed atomically (ThreadSanitizer
        // reported the plain accesses here against cachedCount()'s atomic load).
        if (__atomic_load_n(&e.state, __ATOMIC_RELAXED) != 0
            || header->used + bytes > header->capacity)
            return false;
        offset = header->used;
        header->used += bytes;
        __atomic_store_n(&e.state, 2u, __ATOMIC_RELAXED);
    }
    std::memcpy(m_data + offset, pixels, static_cast<std::size_t>(bytes));
    e.offset = offset;
    e.width = static_cast<std::uint32_t>(width);
    e.height = static_cast<std::uint32_t>(height);
    __atomic_store_n(&e.state, 1u, __ATOMIC_RELEASE);
    return true;
}

bool DecodedCache::reused() const
{
    return m_reused;
}

QString DecodedCache::path() const
{
    return m_path;
}

const DecodedCacheKey &DecodedCache::key() const
{
    return m_key;
}

std::size_t DecodedCache::sampleCount() const
{
    return m_samples;
}

std::size_t DecodedCache::cachedCount() const
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < m_samples; ++i)
        n += __atomic_load_n(&m_entries[i].state, __ATOMIC_ACQUIRE) == 1;
    return n;
}

std::int64_t DecodedCache::bytesUsed() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return static_cast<std::int64_t>(reinterpret_cast<const Header *>(m_map)->used);
}

std::int64_t DecodedCache::capacityBytes() const
{
    return m_capacity;
}

} // namespace leantune
