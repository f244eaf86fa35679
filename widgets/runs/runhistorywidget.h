#pragma once

#include "config/runconfig.h"

#include <QVector>
#include <QWidget>

class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace leantune {

class LiveCharts;
class RunStore;
class RunTableModel;

// Run history: a sortable table of the runs in the RunStore, and below it the charts of the
// selected runs - one run's full charts, or two and more overlaid for comparison. Buttons delete
// runs from the history, open a run's folder, and re-run a run's configuration (rerunRequested).
// GUI thread only; the store must outlive the widget.
class RunHistoryWidget : public QWidget {
    Q_OBJECT
public:
    explicit RunHistoryWidget(RunStore *store, QWidget *parent = nullptr);

    void reload(); // re-reads the store, keeps the selection
    QVector<qint64> selectedRunIds() const;
    void selectRuns(const QVector<qint64> &ids);
    // Removes runs from the history (their folders stay on disk). With confirm, asks first.
    bool deleteRuns(const QVector<qint64> &ids, bool confirm = true);

    RunTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    LiveCharts *charts() const { return m_charts; }

Q_SIGNALS:
    void rerunRequested(const leantune::RunConfig &config);

private:
    void updateSelection();

    RunStore *m_store;
    RunTableModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
    LiveCharts *m_charts;
    QLabel *m_hint;
    QPushButton *m_delete, *m_open, *m_rerun;
};

} // namespace leantune
