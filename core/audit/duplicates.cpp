#include "audit/duplicates.h"

#include "dataset/imagedecoder_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <QCryptographicHash>
#include <QHash>
#include <QThread>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <chrono>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

namespace leantune {

namespace {

constexpr int kThumb = 32; // side of the gray thumbnail near duplicates are confirmed on
constexpr int kThumbPixels = kThumb * kThumb;
constexpr double kThumbBlur = 0.6; // Gaussian sigma, thumbnail pixels
// The perceptual hash: a block mean hash (256 bits: each block of a 16 × 16 grid brighter than the
// mean block or not), as OpenCV's img_hash BlockMeanHash (mode 0) computes it but on the 32 × 32
// thumbnail rather than a 256 × 256 enlargement, 40 times faster. It tells Fashion-MNIST's
// look-alike images apart better than the 64-bit pHash (bench/README.md).
using Hash = std::array<std::uint64_t, 4>;
constexpr int kHashBits = 256;
constexpr int kVariants = 9; // the image, and the image moved by one pixel in 8 directions
constexpr int kOffsets[kVariants][2] = { { 0, 0 }, { -1, 0 }, { 1, 0 }, { 0, -1 }, { 0, 1 },
    { -1, -1 }, { -1, 1 }, { 1, -1 }, { 1, 1 } };

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

struct Item {
    QString path;
    AuditSplit split = AuditSplit::Train;
    QString label;
    const ImageEntry *entry = nullptr;
};

// What hashing one image leaves: its pixel digest, its perceptual hashes and its thumbnail.
struct Features {
    bool ok = false;
    QString error;
    std::array<std::uint64_t, 2> digest {};
    std::array<Hash, kVariants> hashes {};
    // An image of at most kThumb × kThumb pixels, also kept at its own size (gray): a one-pixel
    // shift of a small image is compared exactly there, without resampling.
    std::vector<std::uint8_t> native;
    int nativeWidth = 0;
    int nativeHeight = 0;
};

Hash blockMeanHash(const cv::Mat &thumb)
{
    cv::Mat blocks;
    cv::resize(thumb, blocks, cv::Size(16, 16), 0, 0, cv::INTER_AREA);
    std::array<uchar, 256> values;
    std::memcpy(values.data(), blocks.data, values.size()); // 16 × 16 × 1 byte, continuous
    // Against the mean block, not the median: on a dark background the median block is black, and
    // JPEG noise would flip the background's bits.
    int sum = 0;
    for (uchar v : values)
        sum += v;
    const int mean = (sum + 128) / 256;
    Hash bits {};
    for (int i = 0; i < 256; ++i) {
        if (values[std::size_t(i)] > mean)
            bits[std::size_t(i >> 6)] |= std::uint64_t(1) << (i & 63);
    }
    return bits;
}

int distance(const Hash &a, const Hash &b)
{
    int d = 0;
    for (std::size_t k = 0; k < a.size(); ++k)
        d += __builtin_popcountll(a[k] ^ b[k]);
    return d;
}

bool bit(const Hash &h, int i)
{
    return (h[std::size_t(i >> 6)] >> (i & 63)) & 1;
}

// True when every pixel of a 3-channel image has equal channels: it is hashed as gray, so a gray
// image saved as RGB is still the same image.
bool channelsEqual(const StoredImage &image)
{
    const std::uint8_t *p = image.pixels.data();
    const std::size_t n = image.pixels.size();
    for (std::size_t i = 0; i + 2 < n; i += 3) {
        if (p[i] != p[i + 1] || p[i] != p[i + 2])
            return false;
    }
    return true;
}

// Decodes ITEM at its own size (8 bits, gray or BGR, alpha dropped) and computes its features and
// its thumbnail into THUMB (kThumbPixels bytes).
Features computeFeatures(const Item &item, const DuplicateOptions &options, std::uint8_t *thumb)
{
    Features f;
    // The decoder's stored form with augmentation keeps an image whose shorter side is at most
    // inputSize / 0.8 at its own size, undecimated: with inputSize = the shorter side, that is
    // every image, decoded whole under the loader's checks and limits.
    DecodeOptions decode;
    decode.channels = 3;
    decode.augment = true;
    decode.inputSize = std::max(1, std::min(item.entry->width, item.entry->height));
    decode.maxDecodedBytes = options.maxDecodedBytes;
    StoredImage image;
    if (!decodeFileToStored(item.path, decode, &image, &f.error))
        return f;
    try {
        cv::Mat mat(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
            image.pixels.data());
        cv::Mat gray = mat;
        bool asGray = image.channels == 1;
        if (image.channels == 3 && channelsEqual(image)) {
            cv::extractChannel(mat, gray, 0);
            asGray = true;
        } else if (image.channels == 3) {
            cv::cvtColor(mat, gray, cv::COLOR_BGR2GRAY);
        }

        QCryptographicHash md5(QCryptographicHash::Md5);
        const std::int32_t shape[3] = { image.width, image.height, asGray ? 1 : 3 };
        md5.addData(QByteArrayView(reinterpret_cast<const char *>(shape), sizeof shape));
        const cv::Mat &hashed = asGray ? gray : mat;
        for (int y = 0; y < hashed.rows; ++y)
            md5.addData(QByteArrayView(reinterpret_cast<const char *>(hashed.ptr<uchar>(y)),
                qsizetype(hashed.cols) * hashed.channels()));
        const QByteArray digest = md5.result();
        std::memcpy(f.digest.data(), digest.constData(), 16);

        if (options.near) {
            cv::Mat small(kThumb, kThumb, CV_8UC1, thumb);
            const bool shrinking = gray.cols > kThumb || gray.rows > kThumb;
            cv::resize(gray, small, cv::Size(kThumb, kThumb), 0, 0,
                shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
            // A small image is moved by whole pixels of its own (a one-pixel shift there is a
            // large one); a large one by a pixel of its thumbnail.
            const bool small32 = gray.cols <= 2 * kThumb && gray.rows <= 2 * kThumb;
            cv::Mat moved, movedSmall;
            for (int v = 0; v < kVariants; ++v) {
                if (v == 0) {
                    f.hashes[0] = blockMeanHash(small);
                } else {
                    const cv::Mat shift
                        = (cv::Mat_<double>(2, 3) << 1, 0, kOffsets[v][0], 0, 1, kOffsets[v][1]);
                    if (small32) {
                        cv::warpAffine(gray, moved, shift, gray.size(), cv::INTER_NEAREST,
                            cv::BORDER_REPLICATE);
                        cv::resize(moved, movedSmall, cv::Size(kThumb, kThumb), 0, 0,
                            shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
                    } else {
                        cv::warpAffine(small, movedSmall, shift, small.size(), cv::INTER_NEAREST,
                            cv::BORDER_REPLICATE);
                    }
                    f.hashes[std::size_t(v)] = blockMeanHash(movedSmall);
                }
            }
            // Blurred a little, the thumbnail forgives JPEG noise and resampling (bench/README).
            cv::GaussianBlur(small, small, cv::Size(0, 0), kThumbBlur);
            if (gray.cols <= kThumb && gray.rows <= kThumb) {
                f.nativeWidth = gray.cols;
                f.nativeHeight = gray.rows;
                f.native.resize(std::size_t(gray.cols) * std::size_t(gray.rows));
                for (int y = 0; y < gray.rows; ++y)
                    std::memcpy(f.native.data() + std::size_t(y) * std::size_t(gray.cols),
                        gray.ptr<uchar>(y), std::size_t(gray.cols));
            }
        }
        f.ok = true;
    } catch (const std::exception &e) {
        f.error = QStringLiteral("cannot hash image: %1").arg(QString::fromLocal8Bit(e.what()));
    }
    return f;
}

// Pearson correlation of two WIDTH × HEIGHT gray images, the best over offsets of up to one pixel
// (on their overlap). Two flat images correlate 1 when their levels are within 2 of 255, else 0.
double correlation(const std::uint8_t *a, const std::uint8_t *b, int width, int height)
{
    double best = -1.0;
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            std::int64_t sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, n = 0;
            for (int y = std::max(0, -dy); y < height - std::max(0, dy); ++y) {
                const std::uint8_t *pa = a + std::ptrdiff_t(y) * width;
                const std::uint8_t *pb = b + std::ptrdiff_t(y + dy) * width + dx;
                for (int x = std::max(0, -dx); x < width - std::max(0, dx); ++x) {
                    const int u = pa[x], v = pb[x];
                    sa += u;
                    sb += v;
                    saa += u * u;
                    sbb += v * v;
                    sab += u * v;
                }
                n += width - std::abs(dx);
            }
            if (n == 0)
                continue;
            const double va = double(saa) - double(sa) * double(sa) / double(n);
            const double vb = double(sbb) - double(sb) * double(sb) / double(n);
            const double flat = double(n); // variance below 1 grey level squared per pixel
            if (va < flat || vb < flat) {
                if (va < flat && vb < flat && std::abs(double(sa) - double(sb)) <= 2.0 * double(n))
                    return 1.0;
                continue;
            }
            const double cov = double(sab) - double(sa) * double(sb) / double(n);
            best = std::max(best, cov / std::sqrt(va * vb));
        }
    }
    return best;
}

// Whether candidates I and J are near duplicates: two small images of one size are compared
// themselves (sharper than thumbnails, which blur look-alike silhouettes together); any other
// pair on their blurred thumbnails.
bool confirmed(const Features &fi, const Features &fj, const std::uint8_t *ti,
    const std::uint8_t *tj, const DuplicateOptions &options)
{
    if (!fi.native.empty() && fi.nativeWidth == fj.nativeWidth
        && fi.nativeHeight == fj.nativeHeight)
        return correlation(fi.native.data(), fj.native.data(), fi.nativeWidth, fi.nativeHeight)
            >= options.minNativeCorrelation;
    return correlation(ti, tj, kThumb, kThumb) >= options.minCorrelation;
}

struct UnionFind {
    std::vector<int> parent;
    explicit UnionFind(int n)
        : parent(std::size_t(n))
    {
        std::iota(parent.begin(), parent.end(), 0);
    }
    int find(int x)
    {
        while (parent[std::size_t(x)] != x) {
            parent[std::size_t(x)] = parent[std::size_t(parent[std::size_t(x)])];
            x = parent[std::size_t(x)];
        }
        return x;
    }
    void unite(int a, int b)
    {
        a = find(a);
        b = find(b);
        if (a != b)
            parent[std::size_t(std::max(a, b))] = std::min(a, b);
    }
};

// The hash's bits dealt into BANDS bands (a fixed shuffle, so that the bits every image shares,
// such as a black border's, spread over all bands): two hashes within BANDS - 1 bits agree on at
// least one whole band (pigeonhole), so one sorted table per band finds every such pair without
// comparing all pairs (multi-index hashing).
struct BandIndex {
    struct Band {
        std::vector<int> bits;
        std::vector<std::pair<std::uint64_t, int>> table; // (band value, item), sorted
    };
    std::vector<Band> bands;

    BandIndex(int count, const std::vector<int> &items, const std::vector<Features> &features)
    {
        std::vector<int> order(kHashBits);
        std::iota(order.begin(), order.end(), 0);
        std::mt19937 shuffle(20261207);
        for (int i = kHashBits - 1; i > 0; --i) // Fisher-Yates with a fixed seed: the same bands
            std::swap(order[std::size_t(i)], order[std::size_t(shuffle() % unsigned(i + 1))]);
        int start = 0;
        for (int b = 0; b < count; ++b) {
            const int width = std::min(64, (kHashBits - start) / (count - b));
            Band band;
            band.bits.assign(order.begin() + start, order.begin() + start + width);
            band.table.reserve(items.size());
            for (int i : items)
                band.table.emplace_back(value(band, features[std::size_t(i)].hashes[0]), i);
            std::sort(band.table.begin(), band.table.end());
            bands.push_back(std::move(band));
            start += width;
        }
    }

    static std::uint64_t value(const Band &band, const Hash &hash)
    {
        std::uint64_t v = 0;
        for (std::size_t k = 0; k < band.bits.size(); ++k)
            v |= std::uint64_t(bit(hash, band.bits[k])) << k;
        return v;
    }

    // Appends the items whose hash agrees with HASH on some band.
    void candidates(const Hash &hash, std::vector<int> *out) const
    {
        for (const Band &band : bands) {
            const std::uint64_t v = value(band, hash);
            auto it = std::lower_bound(band.table.begin(), band.table.end(),
                std::make_pair(v, std::numeric_limits<int>::min()));
            for (; it != band.table.end() && it->first == v; ++it)
                out->push_back(it->second);
        }
    }
};

// Runs BODY(i) for i in [0, n) on THREADS threads, stopping early when CANCEL is set, and calls
// TICK(done) on the calling thread about every 50 ms. False + *error when BODY threw.
template <typename Body, typename Tick>
bool parallelFor(
    int n, int threads, const std::atomic_bool *cancel, Body body, Tick tick, QString *error)
{
    std::atomic_int next { 0 };
    std::atomic_int done { 0 };
    std::atomic_int running { threads };
    std::mutex mutex;
    QString failure; // guarded by mutex
    constexpr int kChunk = 64;
    const auto work = [&] {
        try {
            for (;;) {
                const int start = next.fetch_add(kChunk);
                if (start >= n || (cancel && cancel->load()))
                    break;
                const int end = std::min(n, start + kChunk);
                for (int i = start; i < end; ++i)
                    body(i);
                done.fetch_add(end - start);
            }
        } catch (const std::exception &e) {
            const std::lock_guard<std::mutex> lock(mutex);
            failure = QString::fromLocal8Bit(e.what());
            next.store(n);
        }
        running.fetch_sub(1);
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back(work);
    while (running.load() > 0) {
        tick(done.load());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (std::thread &t : pool)
        t.join();
    tick(done.load());
    if (!failure.isEmpty()) {
        setError(error, QStringLiteral("cannot compare images: %1").arg(failure));
        return false;
    }
    return true;
}

} // namespace

std::optional<DuplicateResult> findDuplicates(const std::vector<AuditSplitIndex> &splits,
    const DuplicateOptions &options, QString *error, const DuplicateProgress &progress,
    const std::atomic_bool *cancel, const std::vector<std::pair<QString, QString>> &linked)
{
    try {
        std::vector<Item> items;
        for (const AuditSplitIndex &s : splits) {
            if (!s.index)
                continue;
            for (const ImageEntry &e : s.index->images)
                items.push_back({ e.path, s.split, s.index->classes.value(e.label), &e });
        }
        const int n = int(items.size());
        const int threads
            = options.threads > 0 ? options.threads : std::max(2, QThread::idealThreadCount());
        const auto report = [&](const char *stage, int done) {
            if (progress)
                progress(QLatin1String(stage), done, n);
        };

        std::vector<Features> features(static_cast<std::size_t>(n));
        std::vector<std::uint8_t> thumbs(options.near ? std::size_t(n) * kThumbPixels : 0);
        const bool hashed = parallelFor(
            n, threads, cancel,
            [&](int i) {
                features[std::size_t(i)] = computeFeatures(items[std::size_t(i)], options,
                    options.near ? thumbs.data() + std::size_t(i) * kThumbPixels : nullptr);
            },
            [&](int done) { report("hashing", done); }, error);
        if (!hashed)
            return std::nullopt;
        if (cancel && cancel->load()) {
            setError(error, QStringLiteral("cancelled"));
            return std::nullopt;
        }

        DuplicateResult result;
        std::vector<int> decoded;
        for (int i = 0; i < n; ++i) {
            const Features &f = features[std::size_t(i)];
            if (f.ok)
                decoded.push_back(i);
            else
                result.undecodable << items[std::size_t(i)].path + QStringLiteral(": ") + f.error;
        }
        if (decoded.empty() && n > 0) {
            setError(error,
                QStringLiteral("none of the %1 images decodes (first: %2)")
                    .arg(n)
                    .arg(result.undecodable.value(0)));
            return std::nullopt;
        }
        result.images = int(decoded.size());

        // Exact: equal digests. One representative per digest goes on to the near search.
        UnionFind sets(n);
        std::vector<int> byDigest = decoded;
        std::sort(byDigest.begin(), byDigest.end(), [&](int a, int b) {
            return features[std::size_t(a)].digest < features[std::size_t(b)].digest;
        });
        std::vector<int> representatives;
        for (std::size_t k = 0; k < byDigest.size(); ++k) {
            if (k > 0
                && features[std::size_t(byDigest[k])].digest
                    == features[std::size_t(byDigest[k - 1])].digest)
                sets.unite(byDigest[k], byDigest[k - 1]);
            else
                representatives.push_back(byDigest[k]);
        }

        if (options.near && representatives.size() > 1) {
            const int maxDistance = std::clamp(options.maxHashDistance, 0, 30);
            const BandIndex index(maxDistance + 1, representatives, features);
            std::mutex mutex;
            std::vector<std::pair<int, int>> pairs; // guarded by mutex
            const int reps = int(representatives.size());
            const bool compared = parallelFor(
                reps, threads, cancel,
                [&](int k) {
                    const int i = representatives[std::size_t(k)];
                    const Features &fi = features[std::size_t(i)];
                    std::vector<int> found;
                    for (int v = 0; v < kVariants; ++v) {
                        std::vector<int> candidates;
                        index.candidates(fi.hashes[std::size_t(v)], &candidates);
                        for (int j : candidates) {
                            if (j > i
                                && distance(fi.hashes[std::size_t(v)],
                                       features[std::size_t(j)].hashes[0])
                                    <= maxDistance)
                                found.push_back(j);
                        }
                    }
                    std::sort(found.begin(), found.end());
                    found.erase(std::unique(found.begin(), found.end()), found.end());
                    std::vector<std::pair<int, int>> near;
                    for (int j : found) {
                        if (confirmed(fi, features[std::size_t(j)],
                                thumbs.data() + std::size_t(i) * kThumbPixels,
                                thumbs.data() + std::size_t(j) * kThumbPixels, options))
                            near.emplace_back(i, j);
                    }
                    if (!near.empty()) {
                        const std::lock_guard<std::mutex> lock(mutex);
                        pairs.insert(pairs.end(), near.begin(), near.end());
                    }
                },
                [&](int done) { report("comparing", done); }, error);
            if (!compared)
                return std::nullopt;
            if (cancel && cancel->load()) {
                setError(error, QStringLiteral("cancelled"));
                return std::nullopt;
            }
            for (const auto &[a, b] : pairs)
                sets.unite(a, b);
        }

        if (!linked.empty()) {
            QHash<QString, int> byPath;
            for (int i : decoded)
                byPath.insert(items[std::size_t(i)].path, i);
            for (const auto &[a, b] : linked) {
                const auto ia = byPath.constFind(a), ib = byPath.constFind(b);
                if (ia != byPath.cend() && ib != byPath.cend())
                    sets.unite(*ia, *ib);
            }
        }

        std::map<int, std::vector<int>> members;
        for (int i : decoded)
            members[sets.find(i)].push_back(i);
        for (auto &[root, group] : members) {
            if (group.size() < 2)
                continue;
            AuditDuplicateGroup g;
            bool exact = true;
            for (int i : group) {
                const Item &item = items[std::size_t(i)];
                g.images.push_back({ item.path, item.split, item.label });
                exact = exact
                    && features[std::size_t(i)].digest == features[std::size_t(group[0])].digest;
            }
            g.kind = exact ? AuditDuplicateGroup::Kind::Exact : AuditDuplicateGroup::Kind::Near;
            std::sort(
                g.images.begin(), g.images.end(), [](const AuditImage &a, const AuditImage &b) {
                    return a.split != b.split ? a.split < b.split : a.path < b.path;
                });
            for (const AuditImage &image : g.images) {
                g.leak = g.leak || image.split != g.images.front().split;
                g.conflict = g.conflict || image.label != g.images.front().label;
            }
            result.groups.push_back(std::move(g));
        }
        std::stable_sort(result.groups.begin(), result.groups.end(),
            [](const AuditDuplicateGroup &a, const AuditDuplicateGroup &b) {
                const auto rank = [](const AuditDuplicateGroup &g) {
                    return std::make_tuple(!g.leak, !g.conflict, g.kind, g.images.front().path);
                };
                return rank(a) < rank(b);
            });
        return result;
    } catch (const std::exception &e) {
        setError(error,
            QStringLiteral("cannot compare images: %1").arg(QString::fromLocal8Bit(e.what())));
        return std::nullopt;
    }
}

} // namespace leantune
