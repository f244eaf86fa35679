#include "audit/outliers.h"

// hnswlib defines non-inline functions in its headers, and duplicates.cpp includes it too: the
// copy here gets internal linkage (its system headers first, so only hnswlib's own code is
// wrapped).
#include <algorithm>
#include <assert.h>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#include <x86intrin.h>
#endif
namespace {
// clang-format off
#include <hnswlib/hnswlib.h>
// clang-format on
} // namespace

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QFile>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <utility>

namespace leantune {

namespace {

using Neighbours = std::vector<std::vector<std::pair<float, int>>>; // (cosine distance, image)

// Each row's K nearest other rows by cosine distance, nearest first.
std::optional<Neighbours> nearest(
    const std::vector<float> &embeddings, int rows, int dim, int k, QString *error)
{
    if (rows < 0 || dim <= 0 || embeddings.size() != std::size_t(rows) * std::size_t(dim)) {
        if (error)
            *error = QStringLiteral("%1 embedding values for %2 rows of %3")
                         .arg(embeddings.size())
                         .arg(rows)
                         .arg(dim);
        return std::nullopt;
    }
    Neighbours out(static_cast<std::size_t>(rows));
    const int want = std::min(std::max(k, 1), rows - 1);
    if (want <= 0)
        return out;
    std::vector<float> unit(embeddings);
    for (int r = 0; r < rows; ++r) {
        float *v = unit.data() + std::size_t(r) * std::size_t(dim);
        double norm = 0.0;
        for (int d = 0; d < dim; ++d)
            norm += double(v[d]) * double(v[d]);
        if (norm > 0.0)
            for (int d = 0; d < dim; ++d)
                v[d] = float(double(v[d]) / std::sqrt(norm));
    }
    try {
        hnswlib::InnerProductSpace space(static_cast<std::size_t>(dim));
        hnswlib::HierarchicalNSW<float> index(&space, std::size_t(rows), 16, 100, 42);
        for (int r = 0; r < rows; ++r)
            index.addPoint(unit.data() + std::size_t(r) * std::size_t(dim), hnswlib::labeltype(r));
        index.setEf(std::size_t(std::max(2 * want + 1, 64)));
        for (int r = 0; r < rows; ++r) {
            auto found = index.searchKnn(unit.data() + std::size_t(r) * std::size_t(dim), want + 1);
            auto &list = out[std::size_t(r)];
            while (!found.empty()) {
                const auto [distance, label] = found.top();
                found.pop();
                if (int(label) != r)
                    list.push_back({ std::max(0.0f, distance), int(label) });
            }
            std::sort(list.begin(), list.end());
            if (int(list.size()) > want)
                list.resize(std::size_t(want));
        }
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("nearest-neighbour index failed: %1")
                         .arg(QString::fromUtf8(e.what()));
        return std::nullopt;
    }
    return out;
}

double quantile(std::vector<double> sorted, double q)
{
    if (sorted.empty())
        return 0.0;
    std::sort(sorted.begin(), sorted.end());
    const double pos = q * double(sorted.size() - 1);
    const auto lo = std::size_t(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
}

} // namespace

std::optional<std::vector<std::vector<std::pair<float, int>>>> nearestNeighbours(
    const std::vector<float> &embeddings, int rows, int dim, int neighbours, QString *error)
{
    return nearest(embeddings, rows, dim, neighbours, error);
}

std::optional<std::vector<double>> knnDistances(
    const std::vector<float> &embeddings, int rows, int dim, int neighbours, QString *error)
{
    const std::optional<Neighbours> found = nearest(embeddings, rows, dim, neighbours, error);
    if (!found)
        return std::nullopt;
    std::vector<double> out(std::size_t(rows), 0.0);
    for (int r = 0; r < rows; ++r) {
        const auto &list = (*found)[std::size_t(r)];
        double sum = 0.0;
        for (const auto &n : list)
            sum += n.first;
        out[std::size_t(r)] = list.empty() ? 0.0 : sum / double(list.size());
    }
    return out;
}

std::vector<OutlierScore> findOutliers(const std::vector<double> &distances,
    const std::vector<bool> &nearConstant, const OutlierOptions &options)
{
    std::vector<OutlierScore> far;
    const double q1 = quantile(distances, 0.25), q3 = quantile(distances, 0.75);
    const double fence = q3 + options.iqrFactor * (q3 - q1);
    for (std::size_t k = 0; k < distances.size(); ++k) {
        const bool constant = k < nearConstant.size() && nearConstant[k];
        if (!constant && distances[k] > fence)
            far.push_back({ int(k), distances[k], false });
    }
    const auto byScore = [](const OutlierScore &a, const OutlierScore &b) {
        return a.score != b.score ? a.score > b.score : a.index < b.index;
    };
    std::sort(far.begin(), far.end(), byScore);
    const auto cap = std::size_t(std::floor(options.maxShare * double(distances.size())));
    if (far.size() > cap)
        far.resize(cap);
    std::vector<OutlierScore> out;
    for (std::size_t k = 0; k < nearConstant.size(); ++k)
        if (nearConstant[k])
            out.push_back({ int(k), 2.0, true });
    out.insert(out.end(), far.begin(), far.end());
    std::stable_sort(out.begin(), out.end(), byScore);
    return out;
}

std::vector<bool> nearConstantImages(const std::vector<QString> &paths, double maxStdDev)
{
    std::vector<bool> out(paths.size(), false);
    for (std::size_t k = 0; k < paths.size(); ++k) {
        try {
            const cv::Mat image
                = cv::imread(QFile::encodeName(paths[k]).toStdString(), cv::IMREAD_GRAYSCALE);
            if (image.empty())
                continue;
            cv::Scalar mean, stddev;
            cv::meanStdDev(image, mean, stddev);
            out[k] = stddev[0] < maxStdDev;
        } catch (const cv::Exception &) {
            // an image that does not decode is reported by the scan, not here
        }
    }
    return out;
}

std::optional<std::vector<EmbeddingPair>> similarEmbeddingPairs(
    const std::vector<float> &embeddings, int rows, int dim, double minSimilarity, int neighbours,
    QString *error)
{
    const std::optional<Neighbours> found = nearest(embeddings, rows, dim, neighbours, error);
    if (!found)
        return std::nullopt;
    std::vector<EmbeddingPair> pairs;
    for (int r = 0; r < rows; ++r)
        for (const auto &[distance, other] : (*found)[std::size_t(r)]) {
            const double similarity = 1.0 - double(distance);
            if (similarity >= minSimilarity)
                pairs.push_back({ std::min(r, other), std::max(r, other), similarity });
        }
    std::sort(pairs.begin(), pairs.end(), [](const EmbeddingPair &x, const EmbeddingPair &y) {
        return x.a != y.a ? x.a < y.a : x.b < y.b;
    });
    pairs.erase(std::unique(pairs.begin(), pairs.end(),
                    [](const EmbeddingPair &x, const EmbeddingPair &y) {
                        return x.a == y.a && x.b == y.b;
                    }),
        pairs.end());
    std::stable_sort(pairs.begin(), pairs.end(),
        [](const EmbeddingPair &x, const EmbeddingPair &y) { return x.similarity > y.similarity; });
    return pairs;
}

} // namespace leantune
