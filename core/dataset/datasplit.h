#pragma once

#include "dataset/datasetindex.h"

#include <cstdint>
#include <vector>

namespace leantune {

// One labelled file to load.
struct Sample {
    QString path;
    int label = -1;
};

struct DataSplit {
    std::vector<Sample> train;
    std::vector<Sample> validation;
};

// All valid images of an index as samples, in index order (images with a negative label are left
// out).
std::vector<Sample> samplesOf(const DatasetIndex &index);

// Stratified split: in each class, round(count × valFraction) images (at least 1 when the class has
// 2 or more and valFraction > 0) go to validation, chosen by a seeded shuffle. Deterministic for a
// seed, on every platform. Unless valFraction >= 1, each class keeps at least one training image (a
// class of one image goes to training). Both lists keep index order.
DataSplit splitStratified(const DatasetIndex &index, double valFraction, std::uint64_t seed);

// The number of training images splitStratified() leaves from classes of these sizes (images per
// class, indexed by label), by the same per-class rule, without an index. For the run dialog's
// steps.
std::int64_t stratifiedTrainCount(const QVector<int> &classCounts, double valFraction);

} // namespace leantune
