#pragma once

#include "prune/sensitivity.h"

#include <QPointF>
#include <QWidget>

class QCustomPlot;

namespace leantune {

// A sensitivity scan as a chart: the model's accuracy (%) against one layer's sparsity (%), one
// line per layer (from the dense baseline at 0 %), the baseline dashed. Hovering names the nearest
// layer's point; the context menu saves the chart as PNG or PDF.
class SensitivityPlot : public QWidget {
    Q_OBJECT
public:
    explicit SensitivityPlot(QWidget *parent = nullptr);

    void setScan(const SensitivityScan &scan);
    void clear();
    int lineCount() const; // one per layer of the scan shown
    // The tool tip at widget position POS of the plot: "conv2.weight: 71.5 % accuracy at 80 %
    // sparsity" for the point nearest POS (within 24 px), else empty.
    QString toolTipAt(const QPoint &pos) const;
    // Where layer LAYER's point at sparsity index POINT is drawn (plot coordinates); for tests.
    QPoint pointPosition(int layer, int point) const;
    bool save(const QString &path, QString *error) const; // .png or .pdf
    QCustomPlot *plot() const { return m_plot; }

private:
    void showContextMenu(const QPoint &pos);

    QCustomPlot *m_plot;
    SensitivityScan m_scan;
};

} // namespace leantune
