#pragma once

#include <QAbstractTableModel>
#include <QStringList>
#include <QVector>

namespace leantune {

// Classes of a data set with their image counts and share of the whole. Sorts through a
// QSortFilterProxyModel (Qt::UserRole holds the raw numbers). GUI thread only.
class ClassListModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { NameColumn, CountColumn, ShareColumn, ColumnCount };
    static constexpr int SortRole = Qt::UserRole;

    explicit ClassListModel(QObject *parent = nullptr);
    void setClasses(const QStringList &names, const QVector<int> &counts);
    int total() const { return m_total; }
    // max count / min count over classes with images (1 when balanced, 0 when empty).
    double imbalanceRatio() const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(
        int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QStringList m_names;
    QVector<int> m_counts;
    int m_total = 0;
    int m_max = 0;
};

} // namespace leantune
