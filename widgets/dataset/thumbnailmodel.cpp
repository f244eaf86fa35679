#include "widgets/dataset/thumbnailmodel.h"

#include "widgets/dataset/thumbnailloader.h"

#include <QFileInfo>
#include <QLocale>
#include <QPainter>
#include <QStringBuilder>

namespace leantune {

ThumbnailModel::ThumbnailModel(QObject *parent)
    : QAbstractListModel(parent)
    , m_loader(new ThumbnailLoader({ 72, 72 }, this))
{
    m_placeholder = QPixmap(m_loader->thumbnailSize());
    m_placeholder.fill(QColor(232, 232, 236));
    connect(m_loader, &ThumbnailLoader::thumbnailReady, this, &ThumbnailModel::onThumbnailReady);
}

ThumbnailModel::~ThumbnailModel() = default;

void ThumbnailModel::setIndex(std::shared_ptr<const DatasetIndex> index)
{
    beginResetModel();
    m_loader->clear();
    m_index = std::move(index);
    m_filter = -1;
    m_rows.clear();
    if (m_index) {
        m_rows.reserve(int(m_index->images.size()));
        for (int i = 0; i < int(m_index->images.size()); ++i)
            m_rows.append(i);
    }
    endResetModel();
}

void ThumbnailModel::setClassFilter(int label)
{
    if (!m_index)
        return;
    beginResetModel();
    m_filter = label;
    m_rows.clear();
    for (int i = 0; i < int(m_index->images.size()); ++i)
        if (label < 0 || m_index->images[size_t(i)].label == label)
            m_rows.append(i);
    endResetModel();
}

void ThumbnailModel::setVisibleRows(int first, int last)
{
    if (m_rows.isEmpty())
        return;
    first = qBound(0, first, int(m_rows.size()) - 1);
    last = qBound(first, last, int(m_rows.size()) - 1);
    // Keys are image indexes; rows in one filter are in index order, so the range maps directly.
    m_loader->retainOnly(m_rows[first], m_rows[last]);
}

const ImageEntry *ThumbnailModel::entry(int row) const
{
    if (!m_index || row < 0 || row >= m_rows.size())
        return nullptr;
    return &m_index->images[size_t(m_rows[row])];
}

int ThumbnailModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

QVariant ThumbnailModel::data(const QModelIndex &index, int role) const
{
    const ImageEntry *e = index.isValid() && index.model() == this ? entry(index.row()) : nullptr;
    if (!e)
        return {};
    const int imageIndex = m_rows[index.row()];
    switch (role) {
    case Qt::DecorationRole: {
        const QImage image = m_loader->thumbnail(imageIndex, e->path);
        return image.isNull() ? m_placeholder : QPixmap::fromImage(image);
    }
    case Qt::ToolTipRole:
        return QString(QFileInfo(e->path).fileName() % QStringLiteral("\n")
            % m_index->classes.value(e->label)
            % QStringLiteral(" · %1×%2 %3 · %4")
                  .arg(e->width)
                  .arg(e->height)
                  .arg(imageFormatName(e->format), QLocale().formattedDataSize(e->bytes)));
    case Qt::AccessibleTextRole:
    case Qt::StatusTipRole:
        return QFileInfo(e->path).fileName();
    case PathRole:
        return e->path;
    case LabelRole:
        return e->label;
    case ImageIndexRole:
        return imageIndex;
    case BytesRole:
        return qint64(e->bytes);
    default:
        return {};
    }
}

void ThumbnailModel::onThumbnailReady(qint64 key)
{
    // Rows are in index order: find the row of the image index by binary search.
    const auto it = std::lower_bound(m_rows.cbegin(), m_rows.cend(), int(key));
    if (it == m_rows.cend() || *it != int(key))
        return;
    const QModelIndex i = index(int(it - m_rows.cbegin()));
    Q_EMIT dataChanged(i, i, { Qt::DecorationRole });
}

} // namespace leantune
