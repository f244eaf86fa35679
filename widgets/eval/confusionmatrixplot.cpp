#include "widgets/eval/confusionmatrixplot.h"

#include "widgets/charts/plotfile.h"
#include "widgets/charts/qcp.h"
#include "metrics/evaluationsummary.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMouseEvent>
#include <QSaveFile>
#include <QStringBuilder>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QCPColorGradient sequentialGradient()
{
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(255, 255, 255));
    g.setColorStopAt(0.25, QColor(198, 219, 239));
    g.setColorStopAt(0.6, QColor(66, 146, 198));
    g.setColorStopAt(1.0, QColor(8, 48, 107));
    return g;
}

QCPColorGradient divergingGradient()
{
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(178, 24, 43));
    g.setColorStopAt(0.25, QColor(239, 138, 98));
    g.setColorStopAt(0.5, QColor(255, 255, 255));
    g.setColorStopAt(0.75, QColor(103, 169, 207));
    g.setColorStopAt(1.0, QColor(33, 102, 172));
    return g;
}

} // namespace

ConfusionMatrixPlot::ConfusionMatrixPlot(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    m_plot->setObjectName(QStringLiteral("confusionMatrix"));
    m_plot->setMinimumSize(260, 220);
    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setInterpolate(false);
    m_map->setTightBoundary(false);
    m_scale = new QCPColorScale(m_plot);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setBarWidth(10);
    m_map->setColorScale(m_scale);
    auto *group = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_plot->yAxis->setRangeReversed(true);
    m_plot->xAxis->setLabel(tr("predicted class"));
    m_plot->yAxis->setLabel(tr("true class"));
    m_plot->xAxis->setTickLabelRotation(40);
    for (QCPAxis *axis : { m_plot->xAxis, m_plot->yAxis }) {
        axis->grid()->setVisible(false);
        axis->setSubTicks(false);
        axis->setTickLength(0, 3);
    }
    m_plot->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(
        m_plot, &QWidget::customContextMenuRequested, this, &ConfusionMatrixPlot::showContextMenu);
    m_plot->setMouseTracking(true);
    m_plot->installEventFilter(this);
    clear();
}

void ConfusionMatrixPlot::clear()
{
    setMatrix({}, {}, Mode::Counts);
}

void ConfusionMatrixPlot::setToolTipProvider(std::function<QString(int, int)> provider)
{
    m_toolTip = std::move(provider);
}

QString ConfusionMatrixPlot::cellText(int label, int predicted) const
{
    const double v = m_values.value(label).value(predicted);
    switch (m_mode) {
    case Mode::Counts:
        return QString::number(qint64(std::llround(v)));
    case Mode::Rates:
        return v == 0.0 ? QStringLiteral("0") : QString::number(100.0 * v, 'f', 1);
    case Mode::Difference: {
        const double points = 100.0 * v;
        if (std::abs(points) < 0.05)
            return QStringLiteral("0");
        return (points > 0 ? QStringLiteral("+") : QStringLiteral("−"))
            + QString::number(std::abs(points), 'f', 1);
    }
    }
    return {};
}

void ConfusionMatrixPlot::setMatrix(
    const QStringList &classes, const QVector<QVector<double>> &values, Mode mode)
{
    m_classes = classes;
    m_values = values;
    m_mode = mode;
    const int n = int(classes.size());
    m_plot->clearItems();
    m_map->data()->setSize(std::max(1, n), std::max(1, n));
    m_map->data()->setRange(QCPRange(0, std::max(0, n - 1)), QCPRange(0, std::max(0, n - 1)));
    double lo = 0.0, hi = 0.0;
    for (int t = 0; t < n; ++t)
        for (int p = 0; p < n; ++p) {
            const double v = values.value(t).value(p);
            m_map->data()->setCell(p, t, v);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    if (n == 0)
        m_map->data()->fill(0.0);
    if (mode == Mode::Difference) {
        const double m = std::max({ std::abs(lo), std::abs(hi), 0.01 });
        m_map->setGradient(divergingGradient());
        m_map->setDataRange(QCPRange(-m, m));
        m_scale->axis()->setLabel(tr("difference (points)"));
    } else {
        m_map->setGradient(sequentialGradient());
        m_map->setDataRange(QCPRange(0.0, mode == Mode::Rates ? 1.0 : std::max(4.0, hi)));
        m_scale->axis()->setLabel(
            mode == Mode::Rates ? tr("share of the true class") : tr("images"));
    }
    // The scale's ticks in the units the cells use.
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    const QCPRange range = m_map->dataRange();
    for (int i = 0; i <= 4; ++i) {
        const double v = range.lower + (range.upper - range.lower) * i / 4.0;
        const QString text = mode == Mode::Counts
            ? QString::number(qint64(std::llround(v)))
            : (mode == Mode::Difference && v > 0 ? QStringLiteral("+") : QString())
                + QString::number(100.0 * v, 'f', mode == Mode::Rates ? 0 : 1)
                + (mode == Mode::Rates ? QStringLiteral(" %") : QString());
        ticker->addTick(v, text);
    }
    m_scale->axis()->setTicker(ticker);

    auto xTicks = QSharedPointer<QCPAxisTickerText>::create();
    auto yTicks = QSharedPointer<QCPAxisTickerText>::create();
    for (int c = 0; c < n; ++c) {
        xTicks->addTick(c, classes[c]);
        yTicks->addTick(c, classes[c]);
    }
    m_plot->xAxis->setTicker(xTicks);
    m_plot->yAxis->setTicker(yTicks);
    m_plot->xAxis->setRange(-0.5, std::max(0.5, n - 0.5));
    m_plot->yAxis->setRange(-0.5, std::max(0.5, n - 0.5));

    // The values in the cells, while they fit (up to 20 classes).
    if (n > 0 && n <= 20) {
        QFont font = m_plot->font();
        font.setPointSizeF(std::max(6.0, font.pointSizeF() * (n > 12 ? 0.75 : 0.9)));
        for (int t = 0; t < n; ++t)
            for (int p = 0; p < n; ++p) {
                const double v = values.value(t).value(p);
                if (mode != Mode::Difference && v == 0.0)
                    continue;
                auto *text = new QCPItemText(m_plot);
                text->position->setCoords(p, t);
                text->setText(cellText(t, p));
                text->setFont(font);
                const double share = mode == Mode::Difference
                    ? std::abs(v) / range.upper
                    : (v - range.lower) / std::max(1e-12, range.upper - range.lower);
                text->setColor(share > 0.55 ? Qt::white : QColor(30, 30, 30));
                text->setClipToAxisRect(true);
                text->setSelectable(false);
            }
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

QString ConfusionMatrixPlot::toolTipAt(int label, int predicted) const
{
    if (label < 0 || predicted < 0 || label >= m_classes.size() || predicted >= m_classes.size())
        return {};
    if (m_toolTip)
        return m_toolTip(label, predicted);
    return tr("true %1, predicted %2: %3")
        .arg(m_classes[label], m_classes[predicted], cellText(label, predicted));
}

bool ConfusionMatrixPlot::cellAt(const QPoint &pos, int *label, int *predicted) const
{
    if (m_classes.isEmpty() || !m_plot->axisRect()->rect().contains(pos))
        return false;
    const int p = int(std::floor(m_plot->xAxis->pixelToCoord(pos.x()) + 0.5));
    const int t = int(std::floor(m_plot->yAxis->pixelToCoord(pos.y()) + 0.5));
    if (p < 0 || t < 0 || p >= m_classes.size() || t >= m_classes.size())
        return false;
    *label = t;
    *predicted = p;
    return true;
}

QPoint ConfusionMatrixPlot::cellCenter(int label, int predicted) const
{
    return QPoint(int(std::lround(m_plot->xAxis->coordToPixel(predicted))),
        int(std::lround(m_plot->yAxis->coordToPixel(label))));
}

bool ConfusionMatrixPlot::eventFilter(QObject *watched, QEvent *event)
{
    if (watched != m_plot)
        return QWidget::eventFilter(watched, event);
    if (event->type() == QEvent::MouseMove) {
        auto *e = static_cast<QMouseEvent *>(event);
        int t = 0, p = 0;
        if (cellAt(e->position().toPoint(), &t, &p))
            QToolTip::showText(e->globalPosition().toPoint(), toolTipAt(t, p), m_plot);
        else
            QToolTip::hideText();
    } else if (event->type() == QEvent::MouseButtonRelease) {
        auto *e = static_cast<QMouseEvent *>(event);
        int t = 0, p = 0;
        if (e->button() == Qt::LeftButton && cellAt(e->position().toPoint(), &t, &p))
            Q_EMIT cellClicked(t, p);
    }
    return QWidget::eventFilter(watched, event);
}

bool ConfusionMatrixPlot::save(const QString &path, QString *error) const
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("png") || suffix == QLatin1String("pdf"))
        return savePlotFile(m_plot, path, QSize(640, 520), error);
    if (suffix != QLatin1String("csv")) {
        if (error)
            *error = tr("choose a .png, .pdf or .csv file name");
        return false;
    }
    QSaveFile file(path);
    const bool ok = file.open(QIODevice::WriteOnly)
        && file.write(matrixCsv(m_classes, m_values).toUtf8()) >= 0 && file.commit();
    if (!ok && error)
        *error = tr("cannot write %1").arg(path);
    return ok;
}

void ConfusionMatrixPlot::showContextMenu(const QPoint &pos)
{
    QMenu menu(this);
    menu.addAction(tr("Save matrix as PNG, PDF or CSV..."), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save confusion matrix"),
            m_mode == Mode::Difference ? QStringLiteral("confusion-difference.png")
                                       : QStringLiteral("confusion-matrix.png"),
            tr("PNG image (*.png);;PDF document (*.pdf);;CSV table (*.csv)"));
        if (path.isEmpty())
            return;
        QString error;
        if (!save(path, &error))
            QToolTip::showText(QCursor::pos(), error, this);
    });
    menu.exec(m_plot->mapToGlobal(pos));
}

} // namespace leantune
