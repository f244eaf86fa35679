#pragma once
// Outliers and near duplicates in embedding space, and near-constant images (torch-free).
//
// Embeddings are compared by cosine: each row is L2-normalized, the distance of two images is
// 1 − cos (0: the same direction, 2: opposite), searched with an HNSW approximate nearest-neighbour
// index (hnswlib) so it scales past brute force.

#include <QString>

#include <optional>
#include <utility>
#include <vector>

namespace leantune {

struct OutlierOptions {
    int neighbours = 10; // k of the k-nearest-neighbour distance
    // An image is an outlier when its distance is beyond Q3 + iqrFactor · (Q3 − Q1) of all
    // images' distances (Tukey's far-out fence), at most maxShare of the images, furthest first.
    double iqrFactor = 3.0;
    double maxShare = 0.01;
    // A decoded image whose grey levels have a standard deviation below this (0..255) is
    // near-constant: an outlier whatever its embedding, scored 2 (the largest cosine distance).
    double constantStdDev = 2.0;
};

struct OutlierScore {
    int index = -1; // the image
    double score = 0.0; // mean cosine distance to its k nearest neighbours; 2 for near-constant
    bool nearConstant = false;
};

// Each row's K nearest other rows (fewer when there are fewer rows) as (cosine distance, row),
// nearest first. std::nullopt + *error for sizes that disagree or an index that fails.
std::optional<std::vector<std::vector<std::pair<float, int>>>> nearestNeighbours(
    const std::vector<float> &embeddings, int rows, int dim, int neighbours, QString *error);

// Each image's mean cosine distance to its K nearest other images (N × D row-major EMBEDDINGS;
// fewer neighbours when there are fewer images). std::nullopt + *error for sizes that disagree or
// an index that fails.
std::optional<std::vector<double>> knnDistances(
    const std::vector<float> &embeddings, int rows, int dim, int neighbours, QString *error);

// The outliers by OPTIONS among DISTANCES (from knnDistances), plus the images flagged in
// NEARCONSTANT (one per image, may be empty), furthest first (ties by index).
std::vector<OutlierScore> findOutliers(const std::vector<double> &distances,
    const std::vector<bool> &nearConstant, const OutlierOptions &options = {});

// Whether each image at PATHS is near-constant (grey-level standard deviation below
// MAXSTDDEV); an image that does not decode is not.
std::vector<bool> nearConstantImages(const std::vector<QString> &paths, double maxStdDev);

// A pair of images whose embeddings are nearly the same direction.
struct EmbeddingPair {
    int a = -1; // a < b
    int b = -1;
    double similarity = 0.0; // cosine, 0..1
};

// The pairs among each image's NEIGHBOURS nearest with cosine similarity ≥ MINSIMILARITY, each
// once, most similar first. std::nullopt + *error as knnDistances.
std::optional<std::vector<EmbeddingPair>> similarEmbeddingPairs(
    const std::vector<float> &embeddings, int rows, int dim, double minSimilarity, int neighbours,
    QString *error);

} // namespace leantune
