#pragma once

#include "dataset/datasetindex.h"

#include <QAbstractTableModel>

#include <vector>

namespace leantune {

// The files a scan rejected, with the reason for each; the tool tip holds the whole path and
// reason as rich text (it wraps). GUI thread only.
class InvalidFileModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { FileColumn, ReasonColumn, ColumnCount };
    static constexpr int PathRole = Qt::UserRole;

    explicit InvalidFileModel(QObject *parent = nullptr);
    void setFiles(const QString &root, const std::vector<InvalidFile> &files);
    QString path(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(
        int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QString m_root;
    std::vector<InvalidFile> m_files;
};

} // namespace leantune
