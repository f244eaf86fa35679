#include "widgets/dataset/invalidfilemodel.h"

#include <QDir>

namespace leantune {

InvalidFileModel::InvalidFileModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void InvalidFileModel::setFiles(const QString &root, const std::vector<InvalidFile> &files)
{
    beginResetModel();
    m_root = root;
    m_files = files;
    endResetModel();
}

QString InvalidFileModel::path(int row) const
{
    return row >= 0 && row < int(m_files.size()) ? m_files[size_t(row)].path : QString();
}

int InvalidFileModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_files.size());
}
int InvalidFileModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant InvalidFileModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.model() != this || index.row() >= int(m_files.size()))
        return {};
    const InvalidFile &f = m_files[size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        if (index.column() == FileColumn)
            return m_root.isEmpty() ? f.path : QDir(m_root).relativeFilePath(f.path);
        if (index.column() == ReasonColumn)
            return f.reason;
        break;
    case Qt::ToolTipRole: // rich text, so that a long reason wraps instead of running off screen
        return QString(QStringLiteral("<p><b>") + f.path.toHtmlEscaped()
            + QStringLiteral("</b></p><p>") + f.reason.toHtmlEscaped() + QStringLiteral("</p>"));
    case PathRole:
        return f.path;
    default:
        break;
    }
    return {};
}

QVariant InvalidFileModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    return section == FileColumn ? tr("File") : tr("Why it is left out");
}

} // namespace leantune
