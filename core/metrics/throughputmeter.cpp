#include "metrics/throughputmeter.h"

#include <algorithm>

namespace leantune {

void ThroughputMeter::addBatch(std::int64_t images, double waitMs, double computeMs)
{
    m_images += images;
    ++m_batches;
    m_waitMs += waitMs;
    m_computeMs += computeMs;
}

ThroughputMeter::Interval ThroughputMeter::take(double lossSum, std::int64_t correct)
{
    Interval r;
    if (m_batches == 0)
        return r;
    const double ms = m_waitMs + m_computeMs;
    r.images = m_images;
    r.imagesPerSec = ms > 0 ? double(m_images) * 1000.0 / ms : 0.0;
    r.dataWaitMs = m_waitMs / double(m_batches);
    r.computeMs = m_computeMs / double(m_batches);
    r.loss = m_images > 0 ? lossSum / double(m_images) : 0.0;
    r.accuracy = m_images > 0 ? double(correct) / double(m_images) : 0.0;
    if (r.imagesPerSec > 0)
        m_history.push_back(r.imagesPerSec);
    m_images = m_batches = 0;
    m_waitMs = m_computeMs = 0;
    return r;
}

double ThroughputMeter::medianImagesPerSec() const
{
    if (m_history.empty())
        return 0.0;
    std::vector<double> v = m_history;
    const auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    if (v.size() % 2 == 1)
        return *mid;
    const double upper = *mid;
    const double lower = *std::max_element(v.begin(), mid);
    return (lower + upper) / 2.0;
}

} // namespace leantune
