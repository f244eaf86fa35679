#include "widgets/charts/livecharts.h"

#include "widgets/charts/plotfile.h"
#include "widgets/charts/qcp.h"

#include <QContextMenuEvent>
#include <QFileDialog>
#include <QGridLayout>
#include <QMenu>
#include <QMouseEvent>
#include <QStringBuilder>
#include <QToolTip>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::optional<double> bytesMiB(std::int64_t bytes)
{
    if (bytes < 0)
        return std::nullopt;
    return double(bytes) / kMiB;
}

double waitShare(const MetricsSample &s)
{
    const double total = s.dataWaitMs + s.computeMs;
    return total > 0 ? 100.0 * s.dataWaitMs / total : 0.0;
}

QPen pen(const QColor &color, qreal width = 1.6, Qt::PenStyle style = Qt::SolidLine)
{
    QPen p(color, width, style);
    p.setCosmetic(true);
    return p;
}

const QColor kPalette[] = { QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
    QColor(214, 39, 40), QColor(148, 103, 189), QColor(140, 86, 75), QColor(227, 119, 194),
    QColor(127, 127, 127) };

QString formatValue(double v, const QString &unit)
{
    if (unit == QLatin1String("%"))
        return QString::number(v, 'f', 1) % QStringLiteral(" %");
    if (unit == QLatin1String("MiB"))
        return v >= 1024 ? QString::number(v / 1024.0, 'f', 2) % QStringLiteral(" GiB")
                         : QString::number(v, 'f', 0) % QStringLiteral(" MiB");
    if (unit == QLatin1String("img/s"))
        return QString::number(v, 'f', 0) % QStringLiteral(" images/s");
    return QString::number(v, 'g', 4);
}

} // namespace

QString LiveCharts::chartTitle(Chart chart)
{
    switch (chart) {
    case Throughput:
        return tr("Throughput");
    case Memory:
        return tr("Memory");
    case Sparsity:
        return tr("Sparsity");
    case LossAccuracy:
        return tr("Loss and accuracy");
    case ChartCount:
        break;
    }
    return {};
}

LiveCharts::LiveCharts(QWidget *parent)
    : QWidget(parent)
{
    auto *grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setSpacing(4);
    const QString yLabels[ChartCount]
        = { tr("images/s"), tr("memory (MiB)"), tr("sparsity (%)"), tr("loss") };
    const QString y2Labels[ChartCount]
        = { tr("data wait (% of batch time)"), QString(), QString(), tr("accuracy (%)") };
    for (int c = 0; c < ChartCount; ++c) {
        auto *p = new QCustomPlot(this);
        p->setObjectName(QStringLiteral("chart%1").arg(c));
        p->setMinimumSize(280, 150); // two rows fit a 768-pixel screen with the window around
        p->setNoAntialiasingOnDrag(true);
        p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
        p->axisRect()->setRangeDrag(Qt::Horizontal);
        p->axisRect()->setRangeZoom(Qt::Horizontal);
        p->plotLayout()->insertRow(0);
        auto *title = new QCPTextElement(
            p, chartTitle(Chart(c)), QFont(font().family(), font().pointSize() + 1, QFont::Bold));
        p->plotLayout()->addElement(0, 0, title);
        p->xAxis->setLabel(tr("optimizer step"));
        p->yAxis->setLabel(yLabels[c]);
        if (!y2Labels[c].isEmpty()) {
            p->yAxis2->setVisible(true);
            p->yAxis2->setLabel(y2Labels[c]);
        }
        // The legend sits under the plot, in rows of three, so it never covers a line; it is
        // taken out of the layout while it has no entries (placeLegend).
        QFont legendFont = font();
        legendFont.setPointSize(std::max(7, legendFont.pointSize() - 1));
        p->legend->setFont(legendFont);
        p->legend->setBorderPen(Qt::NoPen);
        p->legend->setBrush(Qt::NoBrush);
        p->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
        p->legend->setWrap(3);
        p->legend->setMargins(QMargins(4, 0, 4, 2));
        p->legend->setRowSpacing(0);
        p->legend->setColumnSpacing(12);
        p->axisRect()->insetLayout()->take(p->legend);
        p->axisRect()->insetLayout()->simplify();
        p->legend->setVisible(false);
        p->setContextMenuPolicy(Qt::CustomContextMenu);
        connect(p, &QWidget::customContextMenuRequested, this,
            [this, c](const QPoint &pos) { showContextMenu(Chart(c), pos); });
        p->setMouseTracking(true);
        p->installEventFilter(this);
        m_plots[c] = p;
        grid->addWidget(p, c / 2, c % 2);
    }
    // The throughput verdict sits under the chart's title, where it never covers data.
    m_plots[Throughput]->plotLayout()->insertRow(1);
    m_verdict = new QCPTextElement(m_plots[Throughput], QString(),
        QFont(font().family(), std::max(7, font().pointSize() - 1)));
    m_plots[Throughput]->plotLayout()->addElement(1, 0, m_verdict);
    m_verdict->setMargins(QMargins(0, 0, 0, 2));

    m_redrawTimer.setSingleShot(true);
    m_redrawTimer.setInterval(50); // ≤ 20 redraws a second
    connect(&m_redrawTimer, &QTimer::timeout, this, &LiveCharts::redraw);
    resetLines();
}

LiveCharts::~LiveCharts()
{
    // A legend out of its plot's layout is not deleted with the plot.
    for (QCustomPlot *p : m_plots)
        if (!p->legend->layout())
            p->plotLayout()->addElement(p->plotLayout()->rowCount(), 0, p->legend);
}

void LiveCharts::placeLegend(QCustomPlot *p)
{
    const bool entries = p->legend->itemCount() > 0;
    QCPLayoutGrid *layout = p->plotLayout();
    if (entries && !p->legend->layout()) {
        const int row = layout->rowCount();
        layout->addElement(row, 0, p->legend);
        layout->setRowStretchFactor(row, 0.001); // its own height, the rest to the plot
    } else if (!entries && p->legend->layout()) {
        layout->take(p->legend);
        layout->simplify();
    }
    p->legend->setVisible(entries);
}

void LiveCharts::addLine(Chart chart, const QString &name, Extract value, const QPen &linePen,
    const QString &unit, bool rightAxis, bool stepwise, bool perInterval)
{
    Line line;
    line.chart = chart;
    line.name = name;
    line.value = value;
    line.pen = linePen;
    line.unit = unit;
    line.rightAxis = rightAxis;
    line.stepwise = stepwise;
    line.perInterval = perInterval;
    QCustomPlot *p = m_plots[chart];
    line.graph = p->addGraph(p->xAxis, rightAxis ? p->yAxis2 : p->yAxis);
    line.graph->setName(name);
    line.graph->setPen(linePen);
    line.graph->setAdaptiveSampling(true);
    if (stepwise) {
        // One point per epoch: a 1-epoch run has a single point, which only its marker shows.
        line.graph->setLineStyle(QCPGraph::lsStepLeft);
        line.graph->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, linePen.color(), QColor(255, 255, 255), 7));
    }
    line.graph->removeFromLegend(); // added to the legend when it gets its first point
    line.graph->setVisible(false);
    m_lines.push_back(std::move(line));
}

void LiveCharts::resetLines()
{
    for (QCustomPlot *p : m_plots)
        p->clearGraphs();
    m_lines.clear();
    m_recentWaitShare.clear();
    m_rankLines = 0;
    for (int c = 0; c < ChartCount; ++c) {
        m_follow[c] = true;
        m_displayed[c] = 0;
    }
    m_verdict->setText(QString());
    for (QCustomPlot *p : m_plots)
        p->clearItems();
    if (!m_overlay) {
        addLine(
            Throughput, tr("images/s"),
            [](const MetricsSample &s) -> std::optional<double> { return s.imagesPerSec; },
            pen(kPalette[0], 2.0), QStringLiteral("img/s"), false, false, true);
        addLine(
            Throughput, tr("data wait"),
            [](const MetricsSample &s) -> std::optional<double> { return waitShare(s); },
            pen(kPalette[3], 1.2), QStringLiteral("%"), true, false, true);
        addLine(
            Memory, tr("host RSS"),
            [](const MetricsSample &s) { // data parallel: one line per rank instead
                return s.ranks.size() > 1 ? std::nullopt : bytesMiB(s.hostRssBytes);
            },
            pen(kPalette[0], 2.0), QStringLiteral("MiB"));
        addLine(
            Memory, tr("device allocated"),
            [](const MetricsSample &s) {
                return s.ranks.size() > 1 ? std::nullopt : bytesMiB(s.deviceAllocatedBytes);
            },
            pen(kPalette[1]), QStringLiteral("MiB"));
        addLine(
            Memory, tr("device reserved"),
            [](const MetricsSample &s) { return bytesMiB(s.deviceReservedBytes); },
            pen(kPalette[2]), QStringLiteral("MiB"));
        addLine(
            Memory, tr("device peak"),
            [](const MetricsSample &s) { return bytesMiB(s.devicePeakBytes); },
            pen(kPalette[3], 1.2, Qt::DashLine), QStringLiteral("MiB"));
        addLine(
            Memory, tr("device used (all processes)"),
            [](const MetricsSample &s) { return bytesMiB(s.deviceUsedBytes); }, pen(kPalette[4]),
            QStringLiteral("MiB"));
        addLine(
            Memory, tr("device total"),
            [](const MetricsSample &s) { return bytesMiB(s.deviceTotalBytes); },
            pen(Qt::black, 1.2, Qt::DotLine), QStringLiteral("MiB"));
        addLine(
            Sparsity, tr("target"),
            [](const MetricsSample &s) -> std::optional<double> {
                return 100.0 * s.targetSparsity;
            },
            pen(QColor(255, 127, 14, 150), 5.0), QStringLiteral("%"));
        addLine(
            Sparsity, tr("measured"),
            [](const MetricsSample &s) -> std::optional<double> {
                return 100.0 * s.measuredSparsity;
            },
            pen(kPalette[0], 2.0), QStringLiteral("%"));
        addLine(
            LossAccuracy, tr("train loss"),
            [](const MetricsSample &s) -> std::optional<double> { return s.loss; },
            pen(kPalette[0], 1.6), QString(), false, false, true);
        addLine(
            LossAccuracy, tr("validation loss"),
            [](const MetricsSample &s) -> std::optional<double> {
                return s.valLoss >= 0 ? std::optional<double>(s.valLoss) : std::nullopt;
            },
            pen(kPalette[0], 1.6, Qt::DashLine), QString(), false, true);
        addLine(
            LossAccuracy, tr("train accuracy"),
            [](const MetricsSample &s) -> std::optional<double> { return 100.0 * s.accuracy; },
            pen(kPalette[2], 1.6), QStringLiteral("%"), true, false, true);
        addLine(
            LossAccuracy, tr("validation accuracy"),
            [](const MetricsSample &s) -> std::optional<double> {
                return s.valAccuracy >= 0 ? std::optional<double>(100.0 * s.valAccuracy)
                                          : std::nullopt;
            },
            pen(kPalette[2], 1.6, Qt::DashLine), QStringLiteral("%"), true, true);
    }
    m_plots[Sparsity]->yAxis->setRange(0, 100);
    m_plots[Throughput]->yAxis2->setRange(0, 100);
    m_plots[LossAccuracy]->yAxis2->setRange(0, 100);
    for (QCustomPlot *p : m_plots) {
        placeLegend(p);
        p->replot(QCustomPlot::rpQueuedReplot);
    }
}

void LiveCharts::clear()
{
    m_overlay = false;
    resetLines();
}

void LiveCharts::append(Line &line, const MetricsSample &s)
{
    if (line.perInterval && !s.event.isEmpty())
        return; // epoch_end, resume, oom_recovered: no interval of training behind them
    const std::optional<double> v = line.value(s);
    if (!v || !std::isfinite(*v))
        return;
    if (line.stepwise && !line.buffer.isEmpty() && line.buffer.lastY() == *v)
        return;
    if (!line.buffer.isEmpty() && double(s.step) < line.buffer.x().constLast())
        return; // keys stay ascending (a resumed run repeats no step)
    line.buffer.append(double(s.step), *v);
}

void LiveCharts::addSample(const MetricsSample &sample)
{
    if (m_overlay)
        clear();
    addRankLines(sample);
    for (Line &line : m_lines)
        append(line, sample);
    markEvent(sample);
    if (sample.event.isEmpty() && sample.dataWaitMs + sample.computeMs > 0) {
        m_recentWaitShare.append(waitShare(sample));
        if (m_recentWaitShare.size() > 10)
            m_recentWaitShare.removeFirst();
    }
    scheduleRedraw();
}

void LiveCharts::setSamples(const QVector<MetricsSample> &samples)
{
    clear();
    for (const MetricsSample &s : samples)
        addSample(s);
    flush();
}

void LiveCharts::setOverlay(const QVector<QPair<QString, QVector<MetricsSample>>> &runs)
{
    m_overlay = true;
    resetLines();
    int i = 0;
    for (const auto &run : runs) {
        const QColor color = kPalette[i++ % std::size(kPalette)];
        const auto first = m_lines.size();
        addLine(
            Throughput, run.first,
            [](const MetricsSample &s) -> std::optional<double> { return s.imagesPerSec; },
            pen(color), QStringLiteral("img/s"), false, false, true);
        const bool device = std::any_of(run.second.cbegin(), run.second.cend(),
            [](const MetricsSample &s) { return s.devicePeakBytes >= 0; });
        if (device)
            addLine(
                Memory, run.first % tr(" (device peak)"),
                [](const MetricsSample &s) { return bytesMiB(s.devicePeakBytes); }, pen(color),
                QStringLiteral("MiB"));
        else
            addLine(
                Memory, run.first % tr(" (host RSS)"),
                [](const MetricsSample &s) { return bytesMiB(s.hostRssBytes); }, pen(color),
                QStringLiteral("MiB"));
        addLine(
            Sparsity, run.first,
            [](const MetricsSample &s) -> std::optional<double> {
                return 100.0 * s.measuredSparsity;
            },
            pen(color), QStringLiteral("%"));
        addLine(
            LossAccuracy, run.first % tr(" loss"),
            [](const MetricsSample &s) -> std::optional<double> { return s.loss; }, pen(color),
            QString(), false, false, true);
        addLine(
            LossAccuracy, run.first % tr(" val. accuracy"),
            [](const MetricsSample &s) -> std::optional<double> {
                return s.valAccuracy >= 0 ? std::optional<double>(100.0 * s.valAccuracy)
                                          : std::nullopt;
            },
            pen(color, 1.4, Qt::DashLine), QStringLiteral("%"), true, true);
        for (auto l = first; l < m_lines.size(); ++l)
            for (const MetricsSample &s : run.second)
                append(m_lines[l], s);
    }
    flush();
}

void LiveCharts::addRankLines(const MetricsSample &sample)
{
    if (m_overlay || sample.ranks.size() < 2)
        return;
    if (m_rankLines == 0 && !m_lines.empty()) { // the first line: the global batch's images/s
        m_lines.front().name = tr("images/s, all %1 ranks").arg(sample.ranks.size());
        m_lines.front().graph->setName(m_lines.front().name);
    }
    for (std::size_t r = m_rankLines; r < sample.ranks.size(); ++r) {
        static const int kRankColors[] = { 2, 4, 5, 1, 6, 7 }; // not the totals' blue and red
        const QColor color = kPalette[kRankColors[r % std::size(kRankColors)]];
        const auto figures = [r](const MetricsSample &s) -> const MetricsSample::RankFigures * {
            return r < s.ranks.size() ? &s.ranks[r] : nullptr;
        };
        addLine(
            Throughput, tr("rank %1").arg(r),
            [figures](const MetricsSample &s) -> std::optional<double> {
                const auto *f = figures(s);
                return f && f->imagesPerSec > 0 ? std::optional<double>(f->imagesPerSec)
                                                : std::nullopt;
            },
            pen(color, 1.0, Qt::DashLine), QStringLiteral("img/s"), false, false, true);
        addLine(
            Memory, tr("host RSS, rank %1").arg(r),
            [figures](const MetricsSample &s) -> std::optional<double> {
                const auto *f = figures(s);
                return f && f->hostRssBytes > 0 ? bytesMiB(f->hostRssBytes) : std::nullopt;
            },
            pen(color, 2.0), QStringLiteral("MiB"));
        if (sample.ranks[r].deviceAllocatedBytes >= 0)
            addLine(
                Memory, tr("device allocated, rank %1").arg(r),
                [figures](const MetricsSample &s) -> std::optional<double> {
                    const auto *f = figures(s);
                    return f ? bytesMiB(f->deviceAllocatedBytes) : std::nullopt;
                },
                pen(color, 1.4, Qt::DashLine), QStringLiteral("MiB"));
    }
    m_rankLines = std::max(m_rankLines, sample.ranks.size());
}

void LiveCharts::markEvent(const MetricsSample &sample)
{
    // An out-of-memory error that was caught and recovered from is marked where it happened.
    if (sample.event != QLatin1String("oom_recovered"))
        return;
    for (Chart c : { Throughput, Memory }) {
        QCustomPlot *p = m_plots[c];
        auto *line = new QCPItemStraightLine(p);
        line->point1->setCoords(double(sample.step), 0);
        line->point2->setCoords(double(sample.step), 1);
        line->setPen(QPen(QColor(200, 40, 40), 1, Qt::DashLine));
        auto *label = new QCPItemText(p);
        label->position->setTypeX(QCPItemPosition::ptPlotCoords);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(double(sample.step), 0.98);
        label->setPositionAlignment(Qt::AlignBottom | Qt::AlignLeft);
        label->setRotation(-90);
        label->setColor(QColor(200, 40, 40));
        label->setText(tr("out of memory: recovered"));
    }
}

void LiveCharts::scheduleRedraw()
{
    if (!m_redrawTimer.isActive())
        m_redrawTimer.start();
}

void LiveCharts::flush()
{
    m_redrawTimer.stop();
    redraw();
}

void LiveCharts::redraw()
{
    ++m_redraws;
    int displayed[ChartCount] = {};
    QVector<double> x, y;
    for (Line &line : m_lines) {
        if (line.buffer.isEmpty())
            continue;
        if (!line.graph->visible()) {
            line.graph->setVisible(true);
            line.graph->addToLegend();
        }
        line.buffer.decimated(m_maxDisplayPoints, &x, &y);
        displayed[line.chart] += x.size();
        line.graph->setData(x, y, true);
    }
    for (int c = 0; c < ChartCount; ++c) {
        m_displayed[c] = displayed[c];
        QCustomPlot *p = m_plots[c];
        if (m_follow[c] && displayed[c] > 0) {
            bool found = false;
            QCPRange keys;
            for (const Line &line : m_lines) {
                if (line.chart != c || line.buffer.isEmpty())
                    continue;
                const QCPRange r(line.buffer.x().constFirst(), line.buffer.x().constLast());
                keys = found
                    ? QCPRange(std::min(keys.lower, r.lower), std::max(keys.upper, r.upper))
                    : r;
                found = true;
            }
            if (keys.size() < 1)
                keys.upper = keys.lower + 1;
            // Room for the markers of the first and the last point (the last epoch's validation).
            const double pad = keys.size() * 0.03;
            p->xAxis->setRange(keys.lower - pad, keys.upper + pad);
        }
        if (c != Sparsity && displayed[c] > 0) {
            p->yAxis->rescale(true);
            const bool found = p->yAxis->range().size() > 0;
            QCPRange r = p->yAxis->range();
            r.lower = std::min(0.0, r.lower);
            r.upper = found ? r.upper * 1.08 : r.upper + 1;
            p->yAxis->setRange(r);
        }
        placeLegend(p);
        p->replot(QCustomPlot::rpQueuedReplot);
    }
    if (!m_overlay) {
        const QString verdict = throughputVerdict();
        m_verdict->setText(verdict);
        m_verdict->setTextColor(
            verdict.startsWith(QLatin1String("input")) ? QColor(190, 30, 30) : QColor(70, 70, 70));
    }
    Q_EMIT redrawn();
}

QString LiveCharts::throughputVerdict() const
{
    if (m_recentWaitShare.isEmpty())
        return {};
    double mean = 0;
    for (double v : m_recentWaitShare)
        mean += v;
    mean /= m_recentWaitShare.size();
    if (mean >= 50.0)
        return tr("input-bound: %1% of batch time waits for data (add loader workers)")
            .arg(mean, 0, 'f', 0);
    return tr("compute-bound: data wait %1% of batch time").arg(mean, 0, 'f', 0);
}

int LiveCharts::pointCount(Chart chart) const
{
    int n = 0;
    for (const Line &line : m_lines)
        if (line.chart == chart)
            n += line.buffer.size();
    return n;
}

int LiveCharts::displayedPointCount(Chart chart) const
{
    return m_displayed[chart];
}

bool LiveCharts::saveChart(Chart chart, const QString &path, QString *error) const
{
    return savePlotFile(m_plots[chart], path, QSize(640, 400), error);
}

QString LiveCharts::toolTipAt(Chart chart, double step) const
{
    QStringList rows;
    double shownStep = -1;
    for (const Line &line : m_lines) {
        if (line.chart != chart)
            continue;
        double px = 0, py = 0;
        if (!line.buffer.nearest(step, &px, &py))
            continue;
        if (shownStep < 0)
            shownStep = px;
        rows << line.name % QStringLiteral(": ") % formatValue(py, line.unit);
    }
    if (rows.isEmpty())
        return {};
    return tr("step %1").arg(qint64(shownStep)) % QLatin1Char('\n') % rows.join(QLatin1Char('\n'));
}

LiveCharts::Chart LiveCharts::chartOf(QObject *object) const
{
    for (int c = 0; c < ChartCount; ++c)
        if (m_plots[c] == object)
            return Chart(c);
    return ChartCount;
}

bool LiveCharts::eventFilter(QObject *watched, QEvent *event)
{
    const Chart chart = chartOf(watched);
    if (chart == ChartCount)
        return QWidget::eventFilter(watched, event);
    QCustomPlot *p = m_plots[chart];
    switch (event->type()) {
    case QEvent::MouseMove: {
        auto *e = static_cast<QMouseEvent *>(event);
        if (e->buttons() == Qt::NoButton && p->axisRect()->rect().contains(e->pos())) {
            const QString text = toolTipAt(chart, p->xAxis->pixelToCoord(e->position().x()));
            if (!text.isEmpty())
                QToolTip::showText(e->globalPosition().toPoint(), text, p);
        }
        break;
    }
    case QEvent::Wheel:
        m_follow[chart] = false;
        break;
    case QEvent::MouseButtonPress:
        if (static_cast<QMouseEvent *>(event)->button() == Qt::LeftButton)
            m_follow[chart] = false;
        break;
    case QEvent::MouseButtonDblClick:
        m_follow[chart] = true;
        flush();
        break;
    default:
        break;
    }
    return QWidget::eventFilter(watched, event);
}

void LiveCharts::showContextMenu(Chart chart, const QPoint &pos)
{
    QMenu menu(this);
    menu.addAction(tr("Follow the run"), this, [this, chart] {
        m_follow[chart] = true;
        flush();
    });
    menu.addSeparator();
    menu.addAction(tr("Save chart as PNG or PDF..."), this, [this, chart] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save chart"),
            chartTitle(chart).toLower().replace(QLatin1Char(' '), QLatin1Char('-'))
                % QStringLiteral(".png"),
            tr("PNG image (*.png);;PDF document (*.pdf)"));
        if (path.isEmpty())
            return;
        QString error;
        if (!saveChart(chart, path, &error))
            QToolTip::showText(QCursor::pos(), error, this);
    });
    menu.exec(m_plots[chart]->mapToGlobal(pos));
}

} // namespace leantune
