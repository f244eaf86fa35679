#include "widgets/dataset/classlistmodel.h"

#include <QBrush>
#include <QColor>
#include <QLocale>

#include <algorithm>

namespace leantune {

ClassListModel::ClassListModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ClassListModel::setClasses(const QStringList &names, const QVector<int> &counts)
{
    beginResetModel();
    m_names = names;
    m_counts = counts;
    m_counts.resize(m_names.size());
    m_total = 0;
    m_max = 0;
    for (int c : m_counts) {
        m_total += c;
        m_max = std::max(m_max, c);
    }
    endResetModel();
}

double ClassListModel::imbalanceRatio() const
{
    int lo = 0, hi = 0;
    for (int c : m_counts) {
        if (c <= 0)
            continue;
        lo = lo == 0 ? c : std::min(lo, c);
        hi = std::max(hi, c);
    }
    return lo > 0 ? double(hi) / lo : 0.0;
}

int ClassListModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_names.size());
}
int ClassListModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ClassListModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.model() != this || index.row() >= m_names.size())
        return {};
    const int count = m_counts[index.row()];
    const double share = m_total > 0 ? 100.0 * count / m_total : 0.0;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn:
            return m_names[index.row()];
        case CountColumn:
            return QLocale().toString(count);
        case ShareColumn:
            return QStringLiteral("%1 %").arg(share, 0, 'f', 1);
        }
        break;
    case SortRole:
        switch (index.column()) {
        case NameColumn:
            return m_names[index.row()];
        case CountColumn:
            return count;
        case ShareColumn:
            return share;
        }
        break;
    case Qt::TextAlignmentRole:
        return index.column() == NameColumn ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                            : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        // Classes with less than half the largest class's images stand out.
        if (m_max > 0 && count * 2 < m_max)
            return QBrush(QColor(200, 90, 0));
        break;
    case Qt::ToolTipRole:
        if (m_max > 0 && count * 2 < m_max)
            return tr("%1 has less than half as many images as the largest class")
                .arg(m_names[index.row()]);
        break;
    default:
        break;
    }
    return {};
}

QVariant ClassListModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case NameColumn:
        return tr("Class");
    case CountColumn:
        return tr("Images");
    case ShareColumn:
        return tr("Share");
    }
    return {};
}

} // namespace leantune
