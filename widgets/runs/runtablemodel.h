#pragma once

#include "store/runstore.h"

#include <QAbstractTableModel>
#include <QVector>

namespace leantune {

// The recorded runs as a table: date, model, batch, sparsity, accuracy, images/s, peak memory,
// status and folder. The accuracy column names its set in the header ("Test accuracy", "Validation
// accuracy"); when the runs shown mix both, the header says "Accuracy (set)" and each cell names
// its set. Qt::UserRole holds raw values for sorting through a QSortFilterProxyModel. GUI thread
// only.
class RunTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        DateColumn,
        ModelColumn,
        BatchColumn,
        SparsityColumn,
        AccuracyColumn,
        ThroughputColumn,
        PeakMemoryColumn,
        StatusColumn,
        FolderColumn,
        ColumnCount
    };
    static constexpr int SortRole = Qt::UserRole;
    static constexpr int RunIdRole = Qt::UserRole + 1;

    explicit RunTableModel(QObject *parent = nullptr);
    // The same runs (ids in the same order) are updated in place (dataChanged); others reset it.
    void setRuns(const QVector<StoredRun> &runs);
    const QVector<StoredRun> &runs() const { return m_runs; }
    const StoredRun *runAt(int row) const;
    int rowOf(qint64 runId) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(
        int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Peak memory of a run: the device peak on CUDA, else the host's peak RSS (bytes; -1 unknown).
    static qint64 peakMemory(const StoredRun &run);
    static double accuracy(const StoredRun &run); // test accuracy, else validation (-1 unknown)
    enum class AccuracySet { None, Test, Validation };
    static AccuracySet accuracySet(const StoredRun &run); // the set accuracy() comes from

private:
    bool mixedSets() const { return m_sets == (kTest | kValidation); }
    void updateSets(); // m_sets from m_runs; the header changes with it
    static constexpr int kTest = 1, kValidation = 2;
    int m_sets = 0; // the sets the runs' accuracies come from (kTest | kValidation)

    QVector<StoredRun> m_runs;
};

} // namespace leantune
