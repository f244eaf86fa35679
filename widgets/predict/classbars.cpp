#include "widgets/predict/classbars.h"

#include <QPainter>
#include <QPalette>

#include <algorithm>

namespace leantune {

namespace {
constexpr int kPercentWidthChars = 8; // "100.0 %"
}

QString ClassBars::labelMark()
{
    return tr(" (label)");
}

ClassBars::ClassBars(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("classBars"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void ClassBars::setEntries(const QVector<QPair<QString, double>> &entries, const QString &label)
{
    m_entries = entries;
    m_label = label;
    QStringList text;
    for (const auto &e : entries)
        text << QStringLiteral("%1: %2 %").arg(e.first).arg(100.0 * e.second, 0, 'f', 2);
    setAccessibleDescription(text.join(QStringLiteral("; ")));
    updateGeometry();
    update();
}

int ClassBars::rowHeight() const
{
    return fontMetrics().height() + 10;
}

QSize ClassBars::sizeHint() const
{
    return { 360, std::max(1, int(m_entries.size())) * rowHeight() + 4 };
}

QSize ClassBars::minimumSizeHint() const
{
    return { 220, std::max(1, int(m_entries.size())) * rowHeight() + 4 };
}

void ClassBars::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm = fontMetrics();
    const int h = rowHeight();
    int nameWidth = 0;
    for (const auto &e : std::as_const(m_entries))
        nameWidth = std::max(nameWidth, fm.horizontalAdvance(e.first + labelMark()));
    nameWidth = std::min(nameWidth + 8, width() / 3);
    const int percentWidth = fm.horizontalAdvance(QLatin1Char('0')) * kPercentWidthChars;
    const int barLeft = nameWidth + 6;
    const int barWidth = std::max(10, width() - barLeft - percentWidth - 8);
    const QColor accent = palette().color(QPalette::Highlight);
    const QColor other = palette().color(QPalette::Mid);
    for (int i = 0; i < m_entries.size(); ++i) {
        const auto &[name, probability] = m_entries[i];
        const int y = 2 + i * h;
        const bool isLabel = !m_label.isEmpty() && name == m_label;
        QFont f = font();
        f.setBold(isLabel);
        p.setFont(f);
        p.setPen(palette().color(QPalette::WindowText));
        const QString shown
            = fm.elidedText(isLabel ? name + labelMark() : name, Qt::ElideMiddle, nameWidth - 4);
        p.drawText(QRect(0, y, nameWidth, h), Qt::AlignRight | Qt::AlignVCenter, shown);
        const QRect track(barLeft, y + 4, barWidth, h - 8);
        p.setPen(Qt::NoPen);
        p.setBrush(palette().color(QPalette::AlternateBase));
        p.drawRoundedRect(track, 3, 3);
        const int w = int(std::clamp(probability, 0.0, 1.0) * barWidth + 0.5);
        if (w > 0) {
            p.setBrush(i == 0 ? accent : other);
            p.drawRoundedRect(QRect(track.left(), track.top(), w, track.height()), 3, 3);
        }
        p.setPen(palette().color(QPalette::WindowText));
        p.setFont(font());
        p.drawText(QRect(barLeft + barWidth + 4, y, percentWidth + 4, h),
            Qt::AlignRight | Qt::AlignVCenter,
            QStringLiteral("%1 %").arg(100.0 * probability, 0, 'f', 1));
    }
}

} // namespace leantune
