#include "widgets/export/exportchart.h"

#include "metrics/bytesize.h"
#include "metrics/exportreports.h"
#include "widgets/charts/plotfile.h"
#include "widgets/charts/qcp.h"
#include "widgets/dialogs/wrappedlabel.h"

#include <QComboBox>
#include <QFontMetricsF>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QMap>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QString pointLabel(const QJsonObject &r)
{
    const QString q = r.value(QLatin1String("quantize")).toString();
    QString label = r.value(QLatin1String("format")).toString() == QLatin1String("libtorch")
        ? QStringLiteral("LibTorch fp32")
        : q == QLatin1String("int8")        ? QStringLiteral("int8 weights")
        : q == QLatin1String("int8-static") ? QStringLiteral("static int8")
                                            : QStringLiteral("fp32");
    if (r.value(QLatin1String("structured")).toBool())
        label += QStringLiteral(" + structured");
    return label;
}

bool isPlainFp32(const QJsonObject &r)
{
    const QString q = r.value(QLatin1String("quantize")).toString();
    return r.value(QLatin1String("format")).toString() == QLatin1String("onnx")
        && (q.isEmpty() || q == QLatin1String("none"))
        && !r.value(QLatin1String("structured")).toBool();
}

// The median and p90 of REPORT at BATCH in RUNTIME; false when it has none.
bool latencyOf(
    const QJsonObject &report, int batch, const QString &runtime, double *median, double *p90)
{
    for (const QJsonValue &v : report.value(QLatin1String("latency")).toArray()) {
        const QJsonObject l = v.toObject();
        if (l.value(QLatin1String("batch")).toInt() == batch
            && l.value(QLatin1String("runtime")).toString() == runtime) {
            *median = l.value(QLatin1String("median_ms")).toDouble();
            *p90 = l.value(QLatin1String("p90_ms")).toDouble();
            return true;
        }
    }
    return false;
}

bool isOnnxRuntime(const QString &runtime)
{
    return runtime.contains(QLatin1String("onnxruntime"), Qt::CaseInsensitive)
        || runtime.contains(QLatin1String("ONNX Runtime"), Qt::CaseInsensitive);
}

// The report's data_set in words, as ExportReport::dataSetName() says it.
QString setName(const QString &dataSet)
{
    return dataSet == QLatin1String("test")      ? QObject::tr("test set")
        : dataSet == QLatin1String("validation") ? QObject::tr("validation set")
        : dataSet == QLatin1String("data")       ? QObject::tr("training folder")
                                                 : QObject::tr("chosen folder");
}

QString percent(double fraction)
{
    return QString::number(100.0 * fraction, 'f', 1);
}

} // namespace

ExportChartData exportChartData(const QList<QJsonObject> &reports, int batch, double tolerance)
{
    ExportChartData d;
    d.batch = batch;
    // The runtime that timed the most reports at this batch.
    QMap<QString, int> timed;
    for (const QJsonObject &r : reports)
        for (const QJsonValue &v : r.value(QLatin1String("latency")).toArray())
            if (v.toObject().value(QLatin1String("batch")).toInt() == batch)
                ++timed[v.toObject().value(QLatin1String("runtime")).toString()];
    for (auto it = timed.cbegin(); it != timed.cend(); ++it) {
        const int best = d.runtime.isEmpty() ? -1 : timed.value(d.runtime);
        if (it.value() > best || (it.value() == best && isOnnxRuntime(it.key())))
            d.runtime = it.key();
    }

    const QJsonObject *densest = nullptr; // the report verified on the most images
    const QJsonObject *fp32 = nullptr;
    for (const QJsonObject &r : reports) {
        const QJsonObject v = r.value(QLatin1String("verification")).toObject();
        const QJsonObject s = r.value(QLatin1String("size")).toObject();
        ExportChartPoint p;
        p.file = r.value(QLatin1String("out")).toString();
        p.label = pointLabel(r);
        p.accuracy = v.value(QLatin1String("accuracy_after")).toDouble();
        p.denseAccuracy = v.value(QLatin1String("accuracy_before")).toDouble();
        p.dataSet = v.value(QLatin1String("data_set")).toString();
        p.images = v.value(QLatin1String("images")).toInt();
        p.fileBytes = qint64(s.value(QLatin1String("file_bytes")).toDouble());
        p.zipBytes = qint64(s.value(QLatin1String("zip_bytes")).toDouble());
        if (!d.runtime.isEmpty() && latencyOf(r, batch, d.runtime, &p.latencyMs, &p.p90Ms))
            p.runtime = d.runtime;
        d.points.append(p);
        if (!densest
            || p.images > densest->value(QLatin1String("verification"))
                              .toObject()
                              .value(QLatin1String("images"))
                              .toInt())
            densest = &r;
        if (!fp32 && isPlainFp32(r))
            fp32 = &r;
    }
    if (densest) {
        const QJsonObject v = densest->value(QLatin1String("verification")).toObject();
        ExportChartPoint p;
        p.label = QObject::tr("dense checkpoint");
        p.dense = true;
        p.accuracy = p.denseAccuracy = v.value(QLatin1String("accuracy_before")).toDouble();
        p.dataSet = v.value(QLatin1String("data_set")).toString();
        p.images = v.value(QLatin1String("images")).toInt();
        p.fileBytes = qint64(densest->value(QLatin1String("size"))
                                 .toObject()
                                 .value(QLatin1String("dense_fp32_bytes"))
                                 .toDouble());
        if (fp32 && latencyOf(*fp32, batch, d.runtime, &p.latencyMs, &p.p90Ms))
            p.runtime = d.runtime;
        d.points.prepend(p);
    }

    // Within the tolerance of its own dense accuracy (the same images), then fastest, then
    // smallest.
    const auto keeps = [tolerance](const ExportChartPoint &p) {
        return !p.dense && p.accuracy >= p.denseAccuracy - tolerance - 1e-9;
    };
    double fastest = -1.0;
    for (const ExportChartPoint &p : d.points)
        if (keeps(p) && p.hasLatency() && (fastest < 0.0 || p.latencyMs < fastest))
            fastest = p.latencyMs;
    for (int i = 0; i < d.points.size(); ++i) {
        const ExportChartPoint &p = d.points[i];
        const bool near = fastest < 0.0 || (p.hasLatency() && p.latencyMs <= 1.05 * fastest);
        if (keeps(p) && near
            && (d.recommended < 0 || p.fileBytes < d.points[d.recommended].fileBytes))
            d.recommended = i;
    }
    if (d.recommended >= 0) {
        const ExportChartPoint &p = d.points[d.recommended];
        d.recommendation = fastest >= 0.0
            ? QObject::tr("Recommended: %1 (%2), the fastest and smallest within %3 point of the "
                          "dense accuracy:\n%4 % accuracy against %5 % dense, %6, %7 ms at batch "
                          "%8.")
                  .arg(QFileInfo(p.file).fileName(), p.label)
                  .arg(100.0 * tolerance, 0, 'g', 2)
                  .arg(percent(p.accuracy), percent(p.denseAccuracy), formatBytes(p.fileBytes))
                  .arg(p.latencyMs, 0, 'f', 2)
                  .arg(batch)
            : QObject::tr("Recommended: %1 (%2), the smallest within %3 point of the dense "
                          "accuracy (no latency measured):\n%4 % accuracy against %5 % dense, %6.")
                  .arg(QFileInfo(p.file).fileName(), p.label)
                  .arg(100.0 * tolerance, 0, 'g', 2)
                  .arg(percent(p.accuracy), percent(p.denseAccuracy), formatBytes(p.fileBytes));
    } else if (reports.isEmpty()) {
        d.recommendation = QObject::tr("No export reports for this run.");
    } else {
        d.recommendation = QObject::tr("No export keeps its accuracy within %1 point of the dense "
                                       "model's.")
                               .arg(100.0 * tolerance, 0, 'g', 2);
    }
    return d;
}

ExportChart::ExportChart(QWidget *parent)
    : QWidget(parent)
    , m_batch(new QComboBox(this))
    , m_plot(new QCustomPlot(this))
    , m_label(new QLabel(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto *top = new QHBoxLayout;
    auto *batchLabel = new QLabel(tr("&Latency:"), this);
    batchLabel->setBuddy(m_batch);
    m_batch->setObjectName(QStringLiteral("batch"));
    m_batch->addItem(tr("batch 1, median"), 1);
    m_batch->addItem(tr("batch 32, median"), 32);
    top->addWidget(batchLabel);
    top->addWidget(m_batch);
    top->addStretch(1);
    layout->addLayout(top);
    layout->addWidget(m_plot, 1);
    m_label->setObjectName(QStringLiteral("recommendation"));
    // Wrapped, its lines reserved by reserveWrappedLines() (a layout does not grow for wrapped
    // lines): on one line a long file name widened the export dialog past a 1366 px screen.
    m_label->setWordWrap(true);
    m_label->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_label);
    m_plot->setObjectName(QStringLiteral("exportChart"));
    m_plot->setMinimumSize(360, 240);
    m_plot->yAxis->setLabel(tr("accuracy (%)"));
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);
    followPlotToolTips(m_plot, [this](const QPoint &pos) { return toolTipAt(pos); });
    connect(m_plot, &QWidget::customContextMenuRequested, this, &ExportChart::showContextMenu);
    connect(m_batch, &QComboBox::currentIndexChanged, this, &ExportChart::rebuild);
    // Every replot lays the plot out first: the labels follow the points' pixels.
    connect(m_plot, &QCustomPlot::afterLayout, this, &ExportChart::placeLabels);
    rebuild();
}

void ExportChart::setRunDir(const QString &runDir)
{
    m_problems.clear();
    m_reports = readExportReports(runDir, &m_problems);
    rebuild();
}

void ExportChart::setReports(const QList<QJsonObject> &reports)
{
    m_problems.clear();
    m_reports = reports;
    rebuild();
}

void ExportChart::setBatch(int batch)
{
    m_batch->setCurrentIndex(std::max(0, m_batch->findData(batch)));
}

int ExportChart::batch() const
{
    return m_batch->currentData().toInt();
}

double ExportChart::xOf(const ExportChartPoint &p) const
{
    return p.hasLatency() ? p.latencyMs : 0.0;
}

void ExportChart::rebuild()
{
    m_data = exportChartData(m_reports, batch());
    m_plot->clearGraphs();
    m_plot->clearItems();
    m_sizes.clear();
    m_labels.clear();
    m_leaders.clear();
    m_floorLabel = nullptr;
    m_plot->xAxis->setLabel(m_data.runtime.isEmpty()
            ? tr("latency at batch %1 (ms): not measured").arg(m_data.batch)
            : tr("latency at batch %1, median (ms)\n%2").arg(m_data.batch).arg(m_data.runtime));
    qint64 largest = 1;
    for (const ExportChartPoint &p : m_data.points)
        largest = std::max(largest, p.fileBytes);
    static const QColor colors[] = { QColor(31, 119, 180), QColor(255, 127, 14),
        QColor(44, 160, 44), QColor(214, 39, 40), QColor(148, 103, 189), QColor(140, 86, 75),
        QColor(227, 119, 194), QColor(188, 189, 34), QColor(23, 190, 207) };
    double xMax = 0.0, yMin = 100.0, yMax = 0.0;
    int unmeasured = 0;
    for (int i = 0; i < m_data.points.size(); ++i) {
        const ExportChartPoint &p = m_data.points[i];
        // Marker area proportional to the file size: diameter from 6 px to 40 px.
        const double size = 6.0 + 34.0 * std::sqrt(double(p.fileBytes) / double(largest));
        m_sizes.append(size);
        const QColor color = p.dense ? QColor(60, 60, 60) : colors[(i - 1 + 9) % 9];
        QCPGraph *g = m_plot->addGraph();
        g->setName(p.dense ? p.label : QFileInfo(p.file).fileName());
        g->removeFromLegend();
        g->setLineStyle(QCPGraph::lsNone);
        QColor fill = color;
        fill.setAlpha(p.hasLatency() && !p.dense ? 150 : 0);
        // The dense checkpoint is a dashed ring: the fp32 export has its size and latency.
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle,
            QPen(color, p.dense ? 1.2 : 1.6, p.dense ? Qt::DashLine : Qt::SolidLine), fill,
            p.dense ? size + 4.0 : size));
        g->addData(xOf(p), 100.0 * p.accuracy);
        // Placed by placeLabels() once the plot is laid out.
        auto *text = new QCPItemText(m_plot);
        text->position->setType(QCPItemPosition::ptAbsolute);
        text->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
        text->setPadding(QMargins(2, 1, 2, 1));
        text->setText(p.label);
        text->setColor(color.darker(130));
        text->setClipToAxisRect(false);
        m_labels.append(text);
        auto *leader = new QCPItemLine(m_plot);
        leader->start->setType(QCPItemPosition::ptAbsolute);
        leader->end->setType(QCPItemPosition::ptAbsolute);
        leader->setPen(QPen(color.darker(130), 0.8));
        leader->setClipToAxisRect(false);
        leader->setVisible(false);
        m_leaders.append(leader);
        xMax = std::max(xMax, xOf(p));
        yMin = std::min(yMin, 100.0 * p.accuracy);
        yMax = std::max(yMax, 100.0 * p.accuracy);
        if (!p.hasLatency() && !p.dense)
            ++unmeasured;
    }
    if (m_data.recommended >= 0) {
        const ExportChartPoint &p = m_data.points[m_data.recommended];
        QCPGraph *ring = m_plot->addGraph();
        ring->setName(tr("recommended"));
        ring->removeFromLegend();
        ring->setLineStyle(QCPGraph::lsNone);
        ring->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle,
            QPen(QColor(214, 39, 40), 2.5), Qt::NoBrush, m_sizes[m_data.recommended] + 10.0));
        ring->addData(xOf(p), 100.0 * p.accuracy);
    }
    if (!m_data.points.isEmpty()) {
        // The dense accuracy less one point: the recommendation's floor.
        const double floor = 100.0 * (m_data.points.first().denseAccuracy - 0.01);
        QCPGraph *line = m_plot->addGraph();
        line->setName(tr("dense − 1 point"));
        line->removeFromLegend();
        auto *text = new QCPItemText(m_plot);
        text->position->setType(QCPItemPosition::ptPlotCoords);
        text->position->setCoords(xMax > 0.0 ? xMax * 1.25 : 1.0, floor);
        text->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        text->setText(tr("dense accuracy − 1 point"));
        text->setColor(QColor(90, 90, 90));
        m_floorLabel = text;
        line->setPen(QPen(QColor(90, 90, 90), 1.0, Qt::DashLine));
        line->addData(0.0, floor);
        line->addData(xMax > 0.0 ? xMax * 1.25 : 1.0, floor);
        yMin = std::min(yMin, floor);
    }
    m_plot->xAxis->setRange(xMax > 0.0 ? -0.08 * xMax : -0.1, xMax > 0.0 ? xMax * 1.25 : 1.0);
    const double pad = std::max(1.0, 0.15 * (yMax - yMin));
    m_plot->yAxis->setRange(std::max(0.0, yMin - pad), std::min(100.0, yMax + pad) + 0.5);
    m_plot->replot();

    QStringList lines { m_data.recommendation };
    if (unmeasured > 0)
        lines << tr(
            "%n export(s) without a latency at batch %1 sit at 0 ms, hollow.", nullptr, unmeasured)
                     .arg(m_data.batch);
    lines << m_problems;
    m_label->setText(lines.join(QLatin1Char('\n')));
    reserveWrappedLines(m_label);
}

QString ExportChart::recommendationText() const
{
    return m_label->text();
}

QPoint ExportChart::pointPosition(int index) const
{
    const ExportChartPoint &p = m_data.points.at(index);
    return QPoint(int(std::lround(m_plot->xAxis->coordToPixel(xOf(p)))),
        int(std::lround(m_plot->yAxis->coordToPixel(100.0 * p.accuracy))));
}

// Each point's name goes to the first place, of those around its marker (right, left, below,
// above) and then further up or down on either side with a leader line, that overlaps no other
// name, no marker and not the floor line's label and stays inside the axis rect; with none free,
// right of the marker. Points of a run's exports often sit within a pixel or two of each other.
void ExportChart::placeLabels()
{
    if (m_labels.size() != m_data.points.size())
        return;
    const QRectF area(m_plot->axisRect()->rect());
    QList<QRectF> taken;
    QList<QPointF> centres;
    for (int i = 0; i < m_data.points.size(); ++i) {
        const QPointF c = pointPosition(i);
        centres.append(c);
        double d = m_sizes.value(i) + (m_data.points[i].dense ? 4.0 : 0.0);
        if (i == m_data.recommended)
            d = m_sizes.value(i) + 10.0;
        d += 4.0; // a gap between a marker and a name beside it
        taken.append(QRectF(c.x() - d / 2.0, c.y() - d / 2.0, d, d));
    }
    if (m_floorLabel) {
        const QFontMetricsF fm(m_floorLabel->font());
        const QSizeF s = fm.size(0, m_floorLabel->text());
        const QPointF at = m_floorLabel->position->pixelPosition();
        taken.append(QRectF(at.x() - s.width(), at.y() - s.height(), s.width(), s.height()));
    }
    for (int i = 0; i < m_labels.size(); ++i) {
        QCPItemText *text = m_labels[i];
        const QMargins pad = text->padding();
        const QSizeF s = QFontMetricsF(text->font()).size(0, text->text())
            + QSizeF(pad.left() + pad.right(), pad.top() + pad.bottom());
        const QPointF c = centres[i];
        const double r = taken[i].width() / 2.0 + 2.0;
        const double w = s.width(), h = s.height();
        QList<QRectF> candidates {
            { c.x() + r, c.y() - h / 2.0, w, h }, // right
            { c.x() - r - w, c.y() - h / 2.0, w, h }, // left
            { c.x() + r * 0.7, c.y() + r * 0.7, w, h }, // below right
            { c.x() + r * 0.7, c.y() - r * 0.7 - h, w, h }, // above right
            { c.x() - w / 2.0, c.y() + r, w, h }, // below
            { c.x() - w / 2.0, c.y() - r - h, w, h }, // above
        };
        for (int k = 1; k <= 8; ++k)
            for (const double dy : { k * h, -k * h })
                for (const double x : { c.x() + r + 8.0, c.x() - r - 8.0 - w })
                    candidates.append({ x, c.y() - h / 2.0 + dy, w, h });
        // The first free place; with none, the one that covers the least (a place outside the
        // axis rect counts as covering all of itself).
        int which = 0;
        double least = -1.0;
        for (int k = 0; k < candidates.size(); ++k) {
            const QRectF &q = candidates[k];
            double covered = area.contains(q) ? 0.0 : q.width() * q.height();
            for (const QRectF &t : taken) {
                const QRectF o = t.intersected(q);
                covered += o.isValid() ? o.width() * o.height() : 0.0;
            }
            if (least < 0.0 || covered < least) {
                least = covered;
                which = k;
            }
            if (covered == 0.0)
                break;
        }
        const QRectF chosen = candidates[which];
        taken.append(chosen);
        text->position->setCoords(chosen.topLeft());
        QCPItemLine *leader = m_leaders[i];
        leader->setVisible(which >= 6);
        if (which >= 6) {
            const bool right = chosen.left() > c.x();
            const QPointF end(right ? chosen.left() : chosen.right(), chosen.center().y());
            const QPointF dir = end - c;
            const double len = std::hypot(dir.x(), dir.y());
            const double m = m_sizes.value(i) / 2.0;
            leader->start->setCoords(len > 0.0 ? c + dir * (m / len) : c);
            leader->end->setCoords(end);
        }
    }
}

QRectF ExportChart::labelRect(int index) const
{
    const QCPItemText *text = m_labels.value(index);
    if (!text)
        return {};
    const QMargins pad = text->padding();
    return QRectF(text->position->pixelPosition(),
        QFontMetricsF(text->font()).size(0, text->text())
            + QSizeF(pad.left() + pad.right(), pad.top() + pad.bottom()));
}

double ExportChart::markerSize(int index) const
{
    return m_sizes.value(index, 0.0);
}

QString ExportChart::toolTipAt(const QPoint &pos) const
{
    double best = 24.0 * 24.0;
    QString text;
    for (int i = 0; i < m_data.points.size(); ++i) {
        const ExportChartPoint &p = m_data.points[i];
        const QPoint at = pointPosition(i);
        const double dx = at.x() - pos.x(), dy = at.y() - pos.y();
        if (dx * dx + dy * dy >= best)
            continue;
        best = dx * dx + dy * dy;
        const QString latency = p.hasLatency() ? tr("%1 ms (p90 %2) at batch %3 in %4")
                                                     .arg(p.latencyMs, 0, 'f', 2)
                                                     .arg(p.p90Ms, 0, 'f', 2)
                                                     .arg(m_data.batch)
                                                     .arg(p.runtime)
                                               : tr("no latency at batch %1").arg(m_data.batch);
        text = p.dense
            ? tr("dense checkpoint: %1 % accuracy on %2 images of the %3, %4 as float32, %5")
                  .arg(percent(p.accuracy))
                  .arg(p.images)
                  .arg(setName(p.dataSet), formatBytes(p.fileBytes), latency)
            : tr("%1 (%2): %3 % accuracy (dense %4 %) on %5 images of the %6, %7 (zipped %8), %9")
                  .arg(QFileInfo(p.file).fileName(), p.label, percent(p.accuracy),
                      percent(p.denseAccuracy))
                  .arg(p.images)
                  .arg(setName(p.dataSet), formatBytes(p.fileBytes), formatBytes(p.zipBytes),
                      latency);
    }
    return text;
}

bool ExportChart::save(const QString &path, QString *error) const
{
    return savePlotFile(m_plot, path, QSize(640, 400), error);
}

void ExportChart::showContextMenu(const QPoint &pos)
{
    showSavePlotMenu(this, m_plot, pos, QStringLiteral("exports.png"), QSize(640, 400));
}

} // namespace leantune
