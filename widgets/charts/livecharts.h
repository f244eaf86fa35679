#pragma once

#include "widgets/charts/seriesbuffer.h"
#include "metrics/metricssample.h"

#include <QPair>
#include <QPen>
#include <QString>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <functional>
#include <optional>
#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPTextElement;

namespace leantune {

// The four live charts of a run, fed by MetricsSample values: throughput (images/s with the share
// of batch time spent waiting for data), memory (host RSS; device allocated, reserved, peak, used
// and total on CUDA), sparsity (target and measured) and loss/accuracy (train and validation).
// A data-parallel run (samples with MetricsSample::ranks) gets one memory line per rank (host RSS,
// and device allocated on CUDA) instead of one, and each rank's images/s under the total.
// Every sample is kept for the whole run; the charts draw a decimated copy and redraw at most every
// 50 ms (≤ 20 Hz) with queued replots, so feeding samples never blocks the GUI thread.
// Legends sit under their plots and only while they have entries. Validation figures are drawn as
// markers (one per epoch) and the keys leave room for the first and last ones.
// Keys follow the run until the user drags or zooms; a double click follows again. Hovering shows
// the values under the mouse; the context menu saves a chart as PNG or PDF. GUI thread only.
class LiveCharts : public QWidget {
    Q_OBJECT
public:
    enum Chart { Throughput, Memory, Sparsity, LossAccuracy, ChartCount };
    Q_ENUM(Chart)

    explicit LiveCharts(QWidget *parent = nullptr);
    ~LiveCharts() override;

    // Live mode, one run: clears the charts.
    void clear();
    void addSample(const MetricsSample &sample);
    void setSamples(const QVector<MetricsSample> &samples); // a finished run, all at once
    // Comparison mode: one line per run and chart (images/s, host RSS or device peak, measured
    // sparsity, train loss and validation accuracy).
    void setOverlay(const QVector<QPair<QString, QVector<MetricsSample>>> &runs);

    QCustomPlot *plot(Chart chart) const { return m_plots[chart]; }
    static QString chartTitle(Chart chart);
    int pointCount(Chart chart) const; // samples kept (whole run), over the chart's lines
    int displayedPointCount(Chart chart) const; // points handed to QCustomPlot at the last redraw
    int redrawCount() const { return m_redraws; }
    void setMaxDisplayPoints(int points) { m_maxDisplayPoints = points; }
    // Saves one chart; the format follows the suffix (.png or .pdf). False + *error on failure.
    bool saveChart(Chart chart, const QString &path, QString *error = nullptr) const;
    // The text of the hover tool-tip at key X (optimizer step) of a chart; empty without data.
    QString toolTipAt(Chart chart, double step) const;
    QString throughputVerdict() const; // "input-bound: ..." / "compute-bound: ..." or empty

    void flush(); // redraws now (tests, screenshots)

Q_SIGNALS:
    void redrawn();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    using Extract = std::function<std::optional<double>(const MetricsSample &)>;
    struct Line {
        Chart chart;
        QString name;
        Extract value;
        bool rightAxis = false;
        bool stepwise = false; // append only when the value changes (validation figures)
        bool perInterval = false; // a figure of the training interval: event samples carry none
        QPen pen;
        QString unit;
        SeriesBuffer buffer;
        QCPGraph *graph = nullptr;
    };

    void addLine(Chart chart, const QString &name, Extract value, const QPen &pen,
        const QString &unit, bool rightAxis = false, bool stepwise = false,
        bool perInterval = false);
    void markEvent(const MetricsSample &sample);
    void addRankLines(const MetricsSample &sample); // data parallel: lines for ranks not seen yet
    void resetLines();
    void append(Line &line, const MetricsSample &sample);
    void scheduleRedraw();
    void redraw();
    void showContextMenu(Chart chart, const QPoint &pos);
    static void placeLegend(QCustomPlot *plot); // under the plot with entries, else out of it
    Chart chartOf(QObject *object) const;

    QCustomPlot *m_plots[ChartCount] = {};
    QCPTextElement *m_verdict = nullptr;
    std::vector<Line> m_lines;
    bool m_overlay = false;
    bool m_follow[ChartCount] = { true, true, true, true };
    QTimer m_redrawTimer;
    int m_maxDisplayPoints = 2000;
    int m_redraws = 0;
    int m_displayed[ChartCount] = {};
    QVector<double> m_recentWaitShare;
    std::size_t m_rankLines = 0; // ranks with lines of their own
};

} // namespace leantune
