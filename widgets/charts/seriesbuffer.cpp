#include "widgets/charts/seriesbuffer.h"

#include <algorithm>
#include <cmath>

namespace leantune {

void SeriesBuffer::append(double x, double y)
{
    m_x.append(x);
    m_y.append(y);
}

void SeriesBuffer::clear()
{
    m_x.clear();
    m_y.clear();
}

void SeriesBuffer::decimated(int maxPoints, QVector<double> *x, QVector<double> *y) const
{
    x->clear();
    y->clear();
    const int n = m_x.size();
    if (n <= maxPoints || maxPoints < 8) {
        *x = m_x;
        *y = m_y;
        return;
    }
    const int buckets = maxPoints / 4;
    x->reserve(buckets * 4);
    y->reserve(buckets * 4);
    for (int b = 0; b < buckets; ++b) {
        const int begin = int(qint64(n) * b / buckets);
        const int end = int(qint64(n) * (b + 1) / buckets);
        if (begin >= end)
            continue;
        int lo = begin, hi = begin;
        for (int i = begin; i < end; ++i) {
            if (m_y[i] < m_y[lo])
                lo = i;
            if (m_y[i] > m_y[hi])
                hi = i;
        }
        int idx[4] = { begin, std::min(lo, hi), std::max(lo, hi), end - 1 };
        int last = -1;
        for (int i : idx) {
            if (i == last)
                continue;
            x->append(m_x[i]);
            y->append(m_y[i]);
            last = i;
        }
    }
}

bool SeriesBuffer::nearest(double x, double *px, double *py) const
{
    if (m_x.isEmpty())
        return false;
    auto it = std::lower_bound(m_x.cbegin(), m_x.cend(), x);
    int i = int(it - m_x.cbegin());
    if (i >= m_x.size())
        i = m_x.size() - 1;
    else if (i > 0 && std::abs(m_x[i - 1] - x) < std::abs(m_x[i] - x))
        --i;
    *px = m_x[i];
    *py = m_y[i];
    return true;
}

} // namespace leantune
