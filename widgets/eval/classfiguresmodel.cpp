#include "widgets/eval/classfiguresmodel.h"

#include "metrics/csvtext.h"

#include <QColor>
#include <QStringBuilder>

namespace leantune {

ClassFiguresModel::ClassFiguresModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ClassFiguresModel::setSummary(
    const EvaluationSummary &summary, const std::optional<EvaluationSummary> &other)
{
    beginResetModel();
    m_classes = summary.classes;
    m_figures = summary.figures;
    m_other.reset();
    if (other && other->classes == summary.classes)
        m_other = other->figures;
    endResetModel();
}

void ClassFiguresModel::clear()
{
    beginResetModel();
    m_classes.clear();
    m_figures.clear();
    m_other.reset();
    endResetModel();
}

int ClassFiguresModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_classes.size());
}

int ClassFiguresModel::columnCount(const QModelIndex &parent) const
{
    if (parent.isValid())
        return 0;
    return m_other ? F1ChangeColumn + 1 : SupportColumn + 1;
}

double ClassFiguresModel::value(int row, int column) const
{
    const ClassFigures f = m_figures.value(row);
    const auto change = [](double a, double b) { return a < 0 || b < 0 ? -1e9 : 100.0 * (a - b); };
    switch (column) {
    case PrecisionColumn:
        return f.precision;
    case RecallColumn:
        return f.recall;
    case F1Column:
        return f.f1;
    case SupportColumn:
        return f.support;
    case RecallChangeColumn:
        return m_other ? change(f.recall, m_other->value(row).recall) : -1e9;
    case F1ChangeColumn:
        return m_other ? change(f.f1, m_other->value(row).f1) : -1e9;
    default:
        return 0.0;
    }
}

QVariant ClassFiguresModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_classes.size())
        return {};
    const int c = index.column();
    if (c == ClassColumn) {
        if (role == Qt::DisplayRole || role == ValueRole)
            return m_classes[index.row()];
        return {};
    }
    const double v = value(index.row(), c);
    const bool change = c == RecallChangeColumn || c == F1ChangeColumn;
    const bool undefined = change ? v <= -1e9 : v < 0;
    switch (role) {
    case ValueRole:
        return v;
    case Qt::DisplayRole:
        if (undefined)
            return tr("n/a");
        if (c == SupportColumn)
            return int(v);
        if (c == F1Column)
            return QString::number(v, 'f', 3);
        if (change)
            return QString((v > 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'f', 1));
        return QString(QString::number(100.0 * v, 'f', 1) + QStringLiteral(" %"));
    case Qt::TextAlignmentRole:
        return int(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        if (change && !undefined && qAbs(v) >= 0.05)
            return QColor(v < 0 ? QColor(178, 24, 43) : QColor(33, 102, 172));
        return {};
    case Qt::ToolTipRole:
        if (undefined && c == PrecisionColumn)
            return tr("No image was predicted as this class");
        return {};
    default:
        return {};
    }
}

QVariant ClassFiguresModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case PrecisionColumn:
            return tr("Of the images predicted as this class, the share that are this class");
        case RecallColumn:
            return tr("Of the images of this class, the share predicted as this class");
        case F1Column:
            return tr("The harmonic mean of precision and recall");
        case SupportColumn:
            return tr("Images of this class");
        case RecallChangeColumn:
        case F1ChangeColumn:
            return tr("This run minus the run it is compared with, in points");
        default:
            return {};
        }
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case ClassColumn:
        return tr("Class");
    case PrecisionColumn:
        return tr("Precision");
    case RecallColumn:
        return tr("Recall");
    case F1Column:
        return tr("F1");
    case SupportColumn:
        return tr("Support");
    case RecallChangeColumn:
        return tr("Δ recall");
    case F1ChangeColumn:
        return tr("Δ F1 (pts)");
    default:
        return {};
    }
}

QString ClassFiguresModel::toCsv() const
{
    QString out;
    const int columns = columnCount();
    for (int c = 0; c < columns; ++c) {
        static const char *keys[]
            = { "class", "precision", "recall", "f1", "support", "recall_change", "f1_change" };
        out += (c ? QStringLiteral(",") : QString()) + QLatin1String(keys[c]);
    }
    out += QLatin1Char('\n');
    for (int r = 0; r < m_classes.size(); ++r) {
        out += csvField(m_classes[r]);
        for (int c = 1; c < columns; ++c) {
            const double v = value(r, c);
            const bool undefined = c >= RecallChangeColumn ? v <= -1e9 : v < 0;
            out += QLatin1Char(',') % (undefined ? QString() : QString::number(v, 'g', 10));
        }
        out += QLatin1Char('\n');
    }
    return out;
}

} // namespace leantune
