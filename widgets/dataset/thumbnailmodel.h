#pragma once

#include "dataset/datasetindex.h"

#include <QAbstractListModel>
#include <QHash>
#include <QPixmap>
#include <QVector>

#include <memory>

namespace leantune {

class ThumbnailLoader;

// The data set's valid images as a list for a QListView in icon mode, filtered by class. A
// thumbnail is requested only when the view asks for a row's decoration, i.e. when the row is
// painted; rows that are never shown are never decoded. Until its thumbnail arrives a row shows a
// neutral placeholder. GUI thread only.
class ThumbnailModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { PathRole = Qt::UserRole + 1, LabelRole, ImageIndexRole, BytesRole };

    explicit ThumbnailModel(QObject *parent = nullptr);
    ~ThumbnailModel() override;

    void setIndex(std::shared_ptr<const DatasetIndex> index);
    std::shared_ptr<const DatasetIndex> datasetIndex() const { return m_index; }
    void setClassFilter(int label); // -1: every class
    int classFilter() const { return m_filter; }
    // Drops pending decodes outside these rows (the view's visible rows plus a margin).
    void setVisibleRows(int first, int last);

    ThumbnailLoader *loader() const { return m_loader; }
    const ImageEntry *entry(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

private:
    void onThumbnailReady(qint64 key);

    std::shared_ptr<const DatasetIndex> m_index;
    QVector<int> m_rows; // image indexes shown, in index order
    int m_filter = -1;
    ThumbnailLoader *m_loader;
    QPixmap m_placeholder;
};

} // namespace leantune
