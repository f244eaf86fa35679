#pragma once
// Exact and near duplicates across the splits of a data set, and the leaks and label conflicts
// they make (torch-free).

#include "audit/auditreport.h"
#include "dataset/datasetindex.h"
#include "dataset/imageprobe.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace leantune {

// One split's scanned images.
struct AuditSplitIndex {
    const DatasetIndex *index = nullptr;
    AuditSplit split = AuditSplit::Train;
};

struct DuplicateOptions {
    bool near = true; // false: exact duplicates only
    // Near-duplicate candidates come from an HNSW index of the images' descriptors (the
    // low-frequency DCT of the thumbnail, centred on its centre of mass, unit length), by squared
    // Euclidean distance: any neighbour within maxLinkDistance, an image's nearest within
    // maxNearestDistance, and its nearest within maxDescriptorDistance when that is at most
    // standoutRatio times the second nearest (a 1-pixel shift that cuts content off can sit at
    // 0.05, where look-alikes crowd: bench/README).
    double maxLinkDistance = 0.005;
    double maxNearestDistance = 0.02;
    double maxDescriptorDistance = 0.06;
    double standoutRatio = 0.5;
    // A candidate pair of two images of one size up to 32 × 32 is a near duplicate when the
    // images correlate at least this much (Pearson, at the offset of up to one pixel their centres
    // of mass suggest) and at most this share of their pixels differ by more than 32 grey levels
    // after a least-squares gain and offset;
    double minNativeCorrelation = 0.99;
    double maxOutlierShare = 0.01;
    // any other pair when its 32 × 32 gray thumbnails (slightly blurred) correlate this much.
    double minCorrelation = 0.995;
    // Candidate pairs are confirmed on their images decoded again, at most this many at a time
    // (their pixels held; at least 2),
    int confirmBatchImages = 4096;
    // except images of up to 32 × 32 pixels whose gray pixels were kept from the first decoding:
    // up to this many bytes in all (0: none), which saves decoding about half the images again
    // for about 0.8 KB an image kept (bench/README).
    std::int64_t keptPixelBytes = std::int64_t(256) << 20;
    int threads = 0; // 0: one per core, at least 2
    std::int64_t maxDecodedBytes = kMaxDecodedBytes; // images that decode larger are left out
};

struct DuplicateResult {
    // Leaks first, then conflicts, then the rest; each group's images by split, then path.
    std::vector<AuditDuplicateGroup> groups;
    int images = 0; // images compared
    QStringList undecodable; // "path: reason" of images that did not decode (left out)
};

// Stage ("hashing", "indexing", "comparing") and its images done out of total.
using DuplicateProgress = std::function<void(const QString &stage, int done, int total)>;

// Decodes every image of SPLITS with the data loader's decoder and its limits (on THREADS
// threads), keeping only a pixel digest and a descriptor an image, and small images' pixels within
// options.keptPixelBytes (the other images of candidate pairs are decoded again, a bounded batch at
// a time), and groups them: exact duplicates share a hash of
// their decoded pixels (a PNG and the same pixels saved as another lossless file are one image,
// colour images whose channels are equal count as gray); near duplicates are found among each
// image's nearest neighbours by a perceptual descriptor (an approximate nearest-neighbour index,
// never all pairs), confirmed on their pixels, and grouped transitively. A group whose images come
// from more than one split is a leak; one whose labels differ, a conflict. std::nullopt + *error
// when cancelled ("cancelled") or when no image decodes. Never throws.
// LINKED: pairs of paths known to be near duplicates by other means (embeddings); they join their
// groups as near duplicates (a path not among SPLITS' decoded images is ignored).
std::optional<DuplicateResult> findDuplicates(const std::vector<AuditSplitIndex> &splits,
    const DuplicateOptions &options, QString *error, const DuplicateProgress &progress = {},
    const std::atomic_bool *cancel = nullptr,
    const std::vector<std::pair<QString, QString>> &linked = {});

} // namespace leantune
