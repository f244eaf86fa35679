#pragma once

#include "metrics/exportreports.h"

#include <QJsonObject>
#include <QList>
#include <QPoint>
#include <QRectF>
#include <QString>
#include <QStringList>
#include <QWidget>

class QComboBox;
class QCPItemLine;
class QCPItemText;
class QCustomPlot;
class QLabel;

namespace leantune {

// One point of the accuracy-size-speed chart: an export of a run (from its report's JSON, the one
// `leantune-cli export --json` prints) or the run's dense checkpoint.
struct ExportChartPoint {
    QString file; // the exported file ("out"); empty for the dense checkpoint
    QString label; // "fp32", "int8 weights", "static int8", "+ structured"; "dense checkpoint"
    bool dense = false;
    double accuracy = 0.0; // fraction in [0, 1]: the file on its report's images
    double denseAccuracy = 0.0; // the trained fp32 model on the same images ("accuracy_before")
    QString dataSet; // the report's data_set ("test", "validation", ...)
    int images = 0;
    qint64 fileBytes = 0; // the written file; for the dense checkpoint 4 × dense parameters
    qint64 zipBytes = 0;
    double latencyMs = -1.0; // median at the chart's batch in `runtime`; < 0: not measured
    double p90Ms = -1.0;
    QString runtime;

    bool hasLatency() const { return latencyMs >= 0.0; }
};

struct ExportChartData {
    QList<ExportChartPoint> points; // the dense checkpoint first when any report names it
    int batch = 1;
    QString runtime; // the one runtime whose latencies the chart compares; empty: none timed
    int recommended = -1; // index into points, or -1
    QString recommendation; // the sentence the chart shows about it
};

// The chart's points from REPORTS at batch BATCH (1 or 32). Latencies come from one runtime: the
// one that timed the most reports at that batch (ONNX Runtime on a tie; OpenCV 4.6 loads no int8
// file). The dense checkpoint takes its accuracy from the report verified on the most images and
// its latency from an fp32 export without channel removal (the same computation), if there is one.
// The recommendation: of the exports within TOLERANCE (1 point) of their dense accuracy, the
// fastest, and among those within 5 % of its latency the smallest file; with no latency measured,
// the smallest file that keeps the accuracy.
ExportChartData exportChartData(
    const QList<QJsonObject> &reports, int batch = 1, double tolerance = 0.01);

// The chart: accuracy (%) against latency (ms) with the file size as the marker's area, one point
// per export and one for the dense checkpoint; the recommended export ringed and named in a label
// below. Exports without a latency sit at 0 ms, hollow, and the label says so. Hovering names the
// file and its figures; the context menu saves the chart as PNG or PDF. GUI thread only.
class ExportChart : public QWidget {
    Q_OBJECT
public:
    explicit ExportChart(QWidget *parent = nullptr);

    // Reads RUNDIR's export reports (readExportReports) and shows them.
    void setRunDir(const QString &runDir);
    void setReports(const QList<QJsonObject> &reports);
    void setBatch(int batch); // 1 or 32
    int batch() const;

    const ExportChartData &data() const { return m_data; }
    QString recommendationText() const; // the label below the chart
    // "model.int8.onnx: static int8, 91.2 % accuracy (dense 91.5 %), 0.45 MB, 1.3 ms at batch 1
    // (ONNX Runtime ...)" for the point nearest POS (within 24 px), else empty.
    QString toolTipAt(const QPoint &pos) const;
    QPoint pointPosition(int index) const; // plot coordinates of point INDEX, for tests
    double markerSize(int index) const; // its marker's diameter in pixels
    // Where point INDEX's name is drawn, in the plot's pixels (after a replot).
    QRectF labelRect(int index) const;
    bool save(const QString &path, QString *error) const; // .png or .pdf
    QCustomPlot *plot() const { return m_plot; }

private:
    void rebuild();
    void placeLabels();
    double xOf(const ExportChartPoint &p) const;
    void showContextMenu(const QPoint &pos);

    QComboBox *m_batch;
    QCustomPlot *m_plot;
    QLabel *m_label;
    QList<QJsonObject> m_reports;
    QStringList m_problems;
    ExportChartData m_data;
    QList<double> m_sizes;
    QList<QCPItemText *> m_labels; // one per point
    QList<QCPItemLine *> m_leaders; // from a point to its label when the label had to move off
    QCPItemText *m_floorLabel = nullptr;
};

} // namespace leantune
