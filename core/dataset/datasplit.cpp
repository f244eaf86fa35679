#include "dataset/datasplit.h"
#include "dataset/seededrandom_p.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace leantune {

namespace {

// NaN and negative fractions as 0, above 1 as 1.
double clampFraction(double valFraction)
{
    return valFraction > 0.0 ? std::min(valFraction, 1.0) : 0.0;
}

// Images of a class of COUNT that go to validation: round(count × fraction), at least 1 from a
// class of two or more, and (unless the fraction is 1) at most count − 1.
std::size_t validationCount(std::size_t count, double valFraction)
{
    auto take = static_cast<std::size_t>(std::llround(static_cast<double>(count) * valFraction));
    if (valFraction > 0.0 && count >= 2)
        take = std::max<std::size_t>(take, 1);
    if (valFraction < 1.0) // keep at least one training image per class
        take = std::min(take, count > 0 ? count - 1 : 0);
    return take;
}

} // namespace

std::vector<Sample> samplesOf(const DatasetIndex &index)
{
    std::vector<Sample> samples;
    samples.reserve(index.images.size());
    for (const ImageEntry &image : index.images) {
        if (image.label < 0)
            continue; // unlabelled: can never be trained on
        samples.push_back(Sample { image.path, image.label });
    }
    return samples;
}

DataSplit splitStratified(const DatasetIndex &index, double valFraction, std::uint64_t seed)
{
    const std::vector<Sample> samples = samplesOf(index);
    valFraction = clampFraction(valFraction);

    // Positions in `samples` per label, in index order.
    std::map<int, std::vector<std::size_t>> byLabel;
    for (std::size_t i = 0; i < samples.size(); ++i)
        byLabel[samples[i].label].push_back(i);

    std::vector<char> toValidation(samples.size(), 0);
    for (auto &[label, members] : byLabel) {
        const std::size_t count = members.size();
        const std::size_t take = validationCount(count, valFraction);
        if (take == 0)
            continue;

        // Fisher-Yates with a per-class generator: a class's split does not depend on other
        // classes.
        std::mt19937_64 rng(mix64(seed ^ mix64(static_cast<std::uint64_t>(label))));
        for (std::size_t i = count - 1; i > 0; --i) {
            const auto j = static_cast<std::size_t>(uniformBelow(rng, i + 1));
            std::swap(members[i], members[j]);
        }
        for (std::size_t i = 0; i < take; ++i)
            toValidation[members[i]] = 1;
    }

    DataSplit split;
    for (std::size_t i = 0; i < samples.size(); ++i)
        (toValidation[i] ? split.validation : split.train).push_back(samples[i]);
    return split;
}

std::int64_t stratifiedTrainCount(const QVector<int> &classCounts, double valFraction)
{
    valFraction = clampFraction(valFraction);
    std::int64_t train = 0;
    for (int count : classCounts) {
        const std::size_t n = static_cast<std::size_t>(std::max(count, 0));
        train += static_cast<std::int64_t>(n - validationCount(n, valFraction));
    }
    return train;
}

} // namespace leantune
