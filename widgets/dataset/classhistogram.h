#pragma once

#include <QStringList>
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QCPBars;

namespace leantune {

// Bars of images per class. Classes with less than half the largest class's images are drawn in
// orange and the title gives the largest/smallest ratio, so imbalance is visible at a glance.
class ClassHistogram : public QWidget {
    Q_OBJECT
public:
    explicit ClassHistogram(QWidget *parent = nullptr);
    void setCounts(const QStringList &classes, const QVector<int> &counts);
    QCustomPlot *plot() const { return m_plot; }
    int barCount() const;

private:
    QCustomPlot *m_plot;
    QCPBars *m_bars = nullptr;
    QCPBars *m_small = nullptr;
};

} // namespace leantune
