#pragma once

#include "config/runconfig.h"

#include <QTimer>
#include <QVector>
#include <QWidget>

class QFileSystemWatcher;
class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace leantune {

class LiveCharts;
class RunStore;
class RunTableModel;
struct StoredRun;

// Run history: a sortable table of the runs in the RunStore, and below it the charts of the
// selected runs - one run's full charts, or two and more overlaid for comparison. Buttons delete
// runs from the history, open a run's folder, re-run a run's configuration (rerunRequested), and
// ask for a run's evaluation or two runs' comparison (evaluationRequested, compareRequested).
// Runs recorded elsewhere (leantune-cli, another window) appear without a restart: the widget
// watches the database file and its write-ahead log and refreshes shortly after they change.
// GUI thread only; the store must outlive the widget.
class RunHistoryWidget : public QWidget {
    Q_OBJECT
public:
    explicit RunHistoryWidget(RunStore *store, QWidget *parent = nullptr);

    void reload(); // re-reads the store, keeps the selection
    // Re-reads the store and updates the table only when the runs changed (new, removed, a new
    // status or more samples); the selected runs' charts are redrawn only when one of them
    // changed. True when something changed.
    bool refresh();
    QVector<qint64> selectedRunIds() const;
    QString hintText() const; // the line beside the buttons: what to do, or why "Open" failed
    void selectRuns(const QVector<qint64> &ids);
    // Removes runs from the history (their folders stay on disk). With confirm, asks first.
    bool deleteRuns(const QVector<qint64> &ids, bool confirm = true);

    RunTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    LiveCharts *charts() const { return m_charts; }

Q_SIGNALS:
    void rerunRequested(const leantune::RunConfig &config);
    // "Resume": a stopped or failed run goes on from its newest checkpoint, in its own row.
    void resumeRequested(qint64 runId, const leantune::RunConfig &config);
    // "Evaluation": the selected run's confusion matrix and per-class figures (RUNDIR, its title).
    void evaluationRequested(const QString &runDir, const QString &title);
    // "Compare": two selected runs, the newer first (its matrix minus the older's).
    void compareRequested(const QString &runDirA, const QString &titleA, const QString &runDirB,
        const QString &titleB);
    // The table's context menu, "Prune to a budget...": a finished run (RUNDIR, its data folder).
    void pruneRequested(const QString &runDir, const QString &dataDir);

private:
    void updateSelection();
    void watchStore(); // (re)adds the database, its -wal file and their folder to the watcher
    QVector<StoredRun> readRuns() const;
    QString runTitle(const StoredRun &run) const; // "#12 folder"

    RunStore *m_store;
    RunTableModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
    LiveCharts *m_charts;
    QLabel *m_hint;
    QPushButton *m_delete, *m_open, *m_rerun, *m_resume, *m_evaluate, *m_compare;
    QFileSystemWatcher *m_watcher;
    QTimer m_refreshTimer; // coalesces the watcher's bursts of changes into one refresh
};

} // namespace leantune
