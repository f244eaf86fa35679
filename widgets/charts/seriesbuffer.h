#pragma once

#include <QVector>

namespace leantune {

// One chart series kept whole for the run, with a decimated copy for display: the x range is split
// into buckets and each keeps its first, minimum, maximum and last point, so spikes stay visible
// however long the run. Appending is amortized O(1); decimation is O(n) and done only on redraw.
class SeriesBuffer {
public:
    void append(double x, double y);
    void clear();
    int size() const { return m_x.size(); }
    bool isEmpty() const { return m_x.isEmpty(); }
    const QVector<double> &x() const { return m_x; }
    const QVector<double> &y() const { return m_y; }
    double lastY() const { return m_y.isEmpty() ? 0.0 : m_y.constLast(); }
    // At most ~maxPoints points (never more than 4 per bucket), x ascending. Returns all points
    // when there are fewer than maxPoints.
    void decimated(int maxPoints, QVector<double> *x, QVector<double> *y) const;
    // The point whose x is nearest to X (false when empty).
    bool nearest(double x, double *px, double *py) const;

private:
    QVector<double> m_x, m_y;
};

} // namespace leantune
