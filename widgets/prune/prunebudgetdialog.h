#pragma once

#include "config/runconfig.h"
#include "job/pruneadvisor.h"

#include <QDialog>

#include <optional>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace leantune {

class PruneAdvisorJob;
class SensitivityPlot;

// "Prune to a budget": for a finished run, the sensitivity scan's chart (the run folder's scan, or
// one made in the background), the accuracy budget, and the advisor's proposal (the highest
// overall sparsity whose fine-tuned run keeps validation accuracy within the budget: the same
// engine as `leantune-cli advise`, run in the background with progress and Cancel). Start emits
// startRequested() with the proposed run. Problems (a folder without a trained model, a missing
// data folder, a budget outside 0..100, a scan of another architecture) are shown inline.
class PruneBudgetDialog : public QDialog {
    Q_OBJECT
public:
    // RUNDIR: the finished run; DATADIR: its training folder (editable in the dialog).
    PruneBudgetDialog(const QString &runDir, const QString &dataDir, QWidget *parent = nullptr);
    ~PruneBudgetDialog() override;

    // The advisor's options as the dialog's fields give them (the program: leantune-cli).
    PruneAdvisorOptions options() const;
    // Starts the advisor ("Find the highest sparsity"); false when an input is bad or a step runs.
    bool findSparsity();
    void cancel();
    bool isBusy() const;
    const std::optional<PruneAdvice> &advice() const { return m_advice; }
    QString errorText() const;
    QString statusText() const;
    SensitivityPlot *plot() const { return m_plot; }

Q_SIGNALS:
    void startRequested(const leantune::RunConfig &config);
    // A step ended: the scan shown, the proposal shown, or an error shown (inline).
    void scanShown();
    void adviceShown();
    void errorShown(const QString &message);

private:
    void loadRun();
    void startScan();
    bool checkInputs();
    void showError(const QString &message);
    void showAdvice(const PruneAdvice &advice);
    void setBusy(bool busy);

    QString m_runDir;
    std::optional<AdvisedRun> m_run;
    std::optional<PruneAdvice> m_advice;
    bool m_cancelled = false; // cancel() was asked: the step's end says so, without an error
    PruneAdvisorJob *m_job;
    SensitivityPlot *m_plot;
    QLabel *m_header, *m_status, *m_error;
    QLineEdit *m_data, *m_command;
    QComboBox *m_granularity;
    QDoubleSpinBox *m_budget;
    QSpinBox *m_epochs, *m_trials;
    QProgressBar *m_progress;
    QPushButton *m_find, *m_cancel, *m_start;
    QLabel *m_sparsity, *m_scope, *m_predicted, *m_trialList;
};

} // namespace leantune
