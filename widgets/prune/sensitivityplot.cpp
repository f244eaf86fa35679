#include "widgets/prune/sensitivityplot.h"

#include "widgets/charts/plotfile.h"
#include "widgets/charts/qcp.h"

#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

// A qualitative palette (Tableau 10), repeated with a dash for more layers.
QPen layerPen(int i)
{
    static const QColor colors[] = { QColor(31, 119, 180), QColor(255, 127, 14),
        QColor(44, 160, 44), QColor(214, 39, 40), QColor(148, 103, 189), QColor(140, 86, 75),
        QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34), QColor(23, 190, 207) };
    QPen pen(colors[i % 10], 1.6);
    if (i >= 10)
        pen.setStyle(Qt::DashLine);
    return pen;
}

} // namespace

SensitivityPlot::SensitivityPlot(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    m_plot->setObjectName(QStringLiteral("sensitivityPlot"));
    m_plot->setMinimumSize(320, 200);
    m_plot->xAxis->setLabel(tr("sparsity of the one layer pruned (%)"));
    m_plot->yAxis->setLabel(tr("accuracy (%)"));
    m_plot->xAxis->setRange(0, 100);
    m_plot->yAxis->setRange(0, 100);
    m_plot->legend->setVisible(true);
    m_plot->legend->setFont(font());
    m_plot->legend->setBrush(QColor(255, 255, 255, 220));
    // Beside the axes, not over them: a deep model's legend covered its most sensitive curves.
    // The legend sits at the top of a column of its own, a filler below it.
    m_plot->axisRect()->insetLayout()->take(m_plot->legend);
    auto *side = new QCPLayoutGrid;
    m_plot->plotLayout()->addElement(0, 1, side);
    m_plot->plotLayout()->setColumnStretchFactor(1, 0.001);
    side->addElement(0, 0, m_plot->legend);
    side->addElement(1, 0, new QCPLayoutElement(m_plot));
    side->setRowStretchFactor(0, 0.001);
    side->setMargins(QMargins(0, 12, 6, 0));
    m_plot->legend->setBorderPen(Qt::NoPen);
    m_plot->legend->setMargins(QMargins(4, 2, 4, 2));
    m_plot->legend->setRowSpacing(0);
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);
    followPlotToolTips(m_plot, [this](const QPoint &pos) { return toolTipAt(pos); });
    connect(m_plot, &QWidget::customContextMenuRequested, this, &SensitivityPlot::showContextMenu);
}

void SensitivityPlot::clear()
{
    m_scan = {};
    m_plot->clearGraphs();
    m_plot->replot();
}

void SensitivityPlot::setScan(const SensitivityScan &scan)
{
    m_scan = scan;
    m_plot->clearGraphs();
    double lowest = 100.0 * scan.baseAccuracy;
    for (int i = 0; i < scan.layers.size(); ++i) {
        const SensitivityLayer &layer = scan.layers[i];
        QCPGraph *g = m_plot->addGraph();
        QString name = layer.name; // the hover says the tensor's full name
        if (name.endsWith(QLatin1String(".weight")))
            name.chop(7);
        g->setName(name);
        g->setPen(layerPen(i));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
        g->addData(0.0, 100.0 * scan.baseAccuracy);
        for (const SensitivityPoint &p : layer.points) {
            g->addData(100.0 * p.sparsity, 100.0 * p.accuracy);
            lowest = std::min(lowest, 100.0 * p.accuracy);
        }
    }
    QCPGraph *base = m_plot->addGraph();
    base->setName(tr("dense"));
    base->setPen(QPen(QColor(90, 90, 90), 1.0, Qt::DotLine));
    base->addData(0.0, 100.0 * scan.baseAccuracy);
    base->addData(100.0, 100.0 * scan.baseAccuracy);
    m_plot->yAxis->setRange(std::max(0.0, std::floor(lowest / 10.0) * 10.0),
        std::min(100.0, 100.0 * scan.baseAccuracy + 5.0));
    m_plot->replot();
}

int SensitivityPlot::lineCount() const
{
    return m_scan.layers.size();
}

QPoint SensitivityPlot::pointPosition(int layer, int point) const
{
    const SensitivityPoint &p = m_scan.layers.at(layer).points.at(point);
    return QPoint(int(std::lround(m_plot->xAxis->coordToPixel(100.0 * p.sparsity))),
        int(std::lround(m_plot->yAxis->coordToPixel(100.0 * p.accuracy))));
}

QString SensitivityPlot::toolTipAt(const QPoint &pos) const
{
    double best = 24.0 * 24.0;
    QString text;
    for (const SensitivityLayer &layer : m_scan.layers) {
        for (const SensitivityPoint &p : layer.points) {
            const double dx = m_plot->xAxis->coordToPixel(100.0 * p.sparsity) - pos.x();
            const double dy = m_plot->yAxis->coordToPixel(100.0 * p.accuracy) - pos.y();
            if (dx * dx + dy * dy >= best)
                continue;
            best = dx * dx + dy * dy;
            text = tr("%1: %2 % accuracy at %3 % sparsity (%4 weights)")
                       .arg(layer.name)
                       .arg(100.0 * p.accuracy, 0, 'f', 1)
                       .arg(100.0 * p.sparsity, 0, 'f', 0)
                       .arg(QLocale().toString(qlonglong(layer.parameters)));
        }
    }
    return text;
}

bool SensitivityPlot::save(const QString &path, QString *error) const
{
    return savePlotFile(m_plot, path, QSize(640, 400), error);
}

void SensitivityPlot::showContextMenu(const QPoint &pos)
{
    showSavePlotMenu(this, m_plot, pos, QStringLiteral("sensitivity.png"), QSize(640, 400));
}

} // namespace leantune
