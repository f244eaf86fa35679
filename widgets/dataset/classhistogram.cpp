#include "widgets/dataset/classhistogram.h"

#include "widgets/charts/qcp.h"

#include <QVBoxLayout>

#include <algorithm>

namespace leantune {

ClassHistogram::ClassHistogram(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    m_plot->setMinimumHeight(160);
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, new QCPTextElement(m_plot, tr("Images per class")));
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setBrush(QColor(31, 119, 180, 200));
    m_bars->setPen(Qt::NoPen);
    m_bars->setWidth(0.7);
    m_small = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_small->setBrush(QColor(240, 130, 20, 220));
    m_small->setPen(Qt::NoPen);
    m_small->setWidth(0.7);
    m_plot->yAxis->setLabel(tr("images"));
    m_plot->xAxis->grid()->setVisible(false);
}

int ClassHistogram::barCount() const
{
    return m_bars->dataCount() + m_small->dataCount();
}

void ClassHistogram::setCounts(const QStringList &classes, const QVector<int> &counts)
{
    QVector<double> keys, values, smallKeys, smallValues;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    int maxCount = 0, minCount = 0;
    for (int c : counts) {
        maxCount = std::max(maxCount, c);
        if (c > 0)
            minCount = minCount == 0 ? c : std::min(minCount, c);
    }
    for (int i = 0; i < classes.size(); ++i) {
        const int c = counts.value(i);
        QString name = classes[i];
        if (name.size() > 14)
            name = name.left(13) + QChar(0x2026);
        ticker->addTick(i + 1, name);
        if (c * 2 < maxCount) {
            smallKeys << i + 1;
            smallValues << c;
        } else {
            keys << i + 1;
            values << c;
        }
    }
    m_bars->setData(keys, values);
    m_small->setData(smallKeys, smallValues);
    m_plot->xAxis->setTicker(ticker);
    m_plot->xAxis->setTickLabelRotation(
        classes.size() > 5 ? 90 : 0); // many classes: names read downwards
    m_plot->xAxis->setRange(0.3, classes.size() + 0.7);
    m_plot->yAxis->setRange(0, std::max(1.0, maxCount * 1.1));
    auto *title = qobject_cast<QCPTextElement *>(m_plot->plotLayout()->element(0, 0));
    if (title) {
        const double ratio = minCount > 0 ? double(maxCount) / minCount : 0.0;
        if (classes.isEmpty())
            title->setText(tr("Images per class"));
        else if (ratio >= 2.0)
            title->setText(tr("Imbalanced: largest class %1× the smallest").arg(ratio, 0, 'f', 1));
        else
            title->setText(tr("Balanced: largest/smallest %1×").arg(ratio, 0, 'f', 2));
        title->setTextColor(ratio >= 2.0 ? QColor(190, 90, 0) : QColor(40, 40, 40));
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace leantune
