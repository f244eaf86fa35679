#pragma once

#include "metrics/evaluationsummary.h"

#include <QAbstractTableModel>
#include <QStringList>
#include <QVector>

#include <optional>

namespace leantune {

// Per-class precision, recall, F1 and support of an EvaluationSummary as a table; with a second
// summary to compare with, two more columns give the change in recall and F1 (this run minus the
// other, in points). ValueRole gives each cell's number (-1: undefined), which is also the sort
// role for a QSortFilterProxyModel. GUI thread only.
class ClassFiguresModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        ClassColumn,
        PrecisionColumn,
        RecallColumn,
        F1Column,
        SupportColumn,
        RecallChangeColumn,
        F1ChangeColumn
    };
    enum Role { ValueRole = Qt::UserRole + 1 };

    explicit ClassFiguresModel(QObject *parent = nullptr);

    // OTHER: the summary to compare with (same classes), or none.
    void setSummary(const EvaluationSummary &summary,
        const std::optional<EvaluationSummary> &other = std::nullopt);
    void clear();
    bool comparing() const { return m_other.has_value(); }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(
        int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // The table as CSV: the columns shown, numbers as in ValueRole (empty where undefined).
    QString toCsv() const;

private:
    double value(int row, int column) const;

    QStringList m_classes;
    QVector<ClassFigures> m_figures;
    std::optional<QVector<ClassFigures>> m_other;
};

} // namespace leantune
