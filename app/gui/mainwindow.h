#pragma once

#include "dataset/datasetindex.h"
#include "config/runconfig.h"
#include "config/runsummary.h"

#include <QMainWindow>
#include <QPointer>
#include <QStringList>
#include <QTimer>

#include <memory>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QPushButton;
class QProgressBar;
class QTabWidget;

namespace leantune {

class RunConfigDialog;

class DatasetBrowser;
class EvaluationView;
class PredictDialog;
class LiveCharts;
class RunHistoryWidget;
class RunStore;
class RunJob;

// The LeanTune main window: the data set browser, the live charts of the current run, the run
// history and the Evaluation view as tabs; the class overview, data checks and run log as docks
// the user can rearrange; menus, tool bar, shortcuts (open Ctrl+O, start Ctrl+R, pause Ctrl+P,
// stop Ctrl+., refresh the run history F5; it also refreshes when the window is activated), and a
// status bar with the device, the run state and host/device memory now. Window geometry, dock
// layout and recent folders are kept with QSettings. Errors from the engine appear in a banner
// above the charts and in the log, never as a crash.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    void openFolder(const QString &path);
    void openSampleDataset(); // imports Fashion-MNIST on first use (in the background)
    // Opens the run configuration dialog; starts the run when the user accepts.
    void configureAndStart();
    // Starts a run without the dialog (command line --start, re-run, tests).
    bool startRun(const RunConfig &config, QString *error = nullptr);
    // The remembered configuration on the open folder; a folder named train/ gets the test/ folder
    // beside it as its test set.
    RunConfig configForCurrentData() const;
    // Continues the history's run HISTORYRUNID in its folder from its newest checkpoint, in the
    // same history row.
    bool resumeRun(qint64 historyRunId, const RunConfig &config, QString *error = nullptr);
    void stopRun();
    void setPaused(bool paused);

    QStringList recentFolders() const { return m_recent; }
    DatasetBrowser *browser() const { return m_browser; }
    LiveCharts *charts() const { return m_charts; }
    RunHistoryWidget *history() const { return m_history; }
    RunJob *job() const { return m_job.get(); } // the current or last run; null before the first
    RunStore *store() const { return m_store.get(); }
    QString errorBannerText() const;
    QString statusText() const; // the status bar's labels joined (tests)
    void setConfirmOnClose(bool confirm) { m_confirmOnClose = confirm; }
    void showTab(int index);
    // The Evaluation tab on RUNDIR's predictions (EvaluationView::showRun); TITLE names the run.
    void showEvaluation(const QString &runDir, const QString &title = {});
    EvaluationView *evaluation() const { return m_evaluation; }
    QWidget *trainingTab() const { return m_trainingTab; }
    QString runTitleText() const; // the training tab's header: model, data, batch, schedule
    // A pruning spec in words: "pruning: polynomial 50 % → 80 %, steps 0–56", "no pruning".
    static QString scheduleText(const QString &spec);
    // Classifies IMAGES in the prediction dialog (opened, or brought up, beside the window) with
    // the run selected in the history, else the last run, else the newest run with a model; images
    // of the open data folder are checked against its classes. Dropped files come here.
    void predictImages(const QStringList &images);
    PredictDialog *predictDialog() const; // the open prediction dialog; null when none
    // The training tab's result summary of the last finished run (plain text; empty before one).
    QString resultSummaryText() const;

Q_SIGNALS:
    void runEnded(bool ok);
    // The result summary's "Evaluation..." button: show RUNDIR's evaluation.
    void evaluationRequested(const QString &runDir);

protected:
    void changeEvent(QEvent *event) override;
    void closeEvent(QCloseEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void buildActions();
    void buildCentral();
    void buildDocks();
    void buildStatusBar();
    void updateActions();
    void updateMemory();
    void updateProgress();
    void addRecent(const QString &path);
    void rebuildRecentMenu();
    void importIdx();
    void exportModel();
    void log(const QString &message);
    void showError(const QString &message);
    void onRunFinished(const RunSummary &summary);
    void showResultSummary(const RunSummary &summary);
    void connectJob(RunJob *job);
    bool runActive() const;
    // startRun() and resumeRun(): RESUMERUNID > 0 continues that history row's run.
    bool launchRun(const RunConfig &config, qint64 resumeRunId, QString *error);
    // Shows CONFIG in DIALOG with the class counts of the open data folder when the run trains on
    // it, so the preview knows the run's steps.
    void prepareRunDialog(RunConfigDialog &dialog, const RunConfig &config) const;

    std::unique_ptr<RunStore> m_store;
    std::unique_ptr<RunJob> m_job; // destroyed before m_store (it records into it)
    DatasetBrowser *m_browser = nullptr;
    LiveCharts *m_charts = nullptr;
    RunHistoryWidget *m_history = nullptr;
    EvaluationView *m_evaluation = nullptr;
    QTabWidget *m_tabs = nullptr;
    QWidget *m_trainingTab = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QLabel *m_banner = nullptr;
    QLabel *m_runTitle = nullptr;
    QLabel *m_progressText = nullptr;
    QWidget *m_result = nullptr; // the last finished run's figures, under the charts
    QLabel *m_resultText = nullptr;
    QPushButton *m_evaluationButton = nullptr;
    QString m_resultRunDir;
    QPointer<PredictDialog> m_predict;
    QProgressBar *m_progress = nullptr;
    QLabel *m_deviceLabel = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_memoryLabel = nullptr;
    QMenu *m_recentMenu = nullptr;
    QMenu *m_viewMenu = nullptr;
    QAction *m_openAction = nullptr, *m_startAction = nullptr, *m_pauseAction = nullptr,
            *m_stopAction = nullptr, *m_exportAction = nullptr;
    QTimer m_memoryTimer;
    QStringList m_recent;
    QString m_lastRunDir;
    bool m_confirmOnClose = true;
};

} // namespace leantune
