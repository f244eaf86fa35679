#pragma once

#include "train/batchsizefinder.h"
#include "run/runconfig.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QPointF>
#include <QVector>

#include <atomic>
#include <optional>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace leantune {

// The run configuration dialog: model, input, batch, epochs, optimizer, learning rate, validation
// split, seed, device (CPU and each CUDA device), loader workers and threads, and the pruning
// schedule with a live preview of its target sparsity over the run's steps (steps per epoch come from
// the data set's class counts and the batch size, as the engine computes them). What is wrong is
// said inline and Start stays disabled until it is fixed. "Copy as command line" puts the
// equivalent `leantune-cli train` line on the clipboard. The last configuration is remembered
// (QSettings, group "run"). "Find..." beside the batch size runs the BatchSizeFinder on a worker
// thread and puts the largest batch that fits into the field, with its predicted peak inline.
class RunConfigDialog : public QDialog {
    Q_OBJECT
public:
    explicit RunConfigDialog(QWidget *parent = nullptr);
    ~RunConfigDialog() override;    // stops a running batch-size search and waits for it

    void setConfig(const RunConfig &config);
    RunConfig config() const;
    // Valid images per class of the training folder; empty when unknown (no preview of steps).
    void setClassCounts(const QVector<int> &counts);
    void setCudaDevices(const QStringList &names);   // tests; by default the devices found

    qint64 trainImages() const;
    qint64 stepsPerEpoch() const;
    qint64 totalSteps() const;
    QString errorText() const;      // empty when the configuration can start
    QString warningText() const;    // advice that does not block the start
    bool canStart() const;
    QPushButton *startButton() const { return m_start; }

    // The preview's two curves, as fractions: the schedule function at each previewed step, and the
    // target the engine applies (it changes only at mask-update steps; 0 before the first one).
    QVector<QPointF> scheduleCurve() const { return m_scheduleCurve; }
    QVector<QPointF> appliedCurve() const { return m_appliedCurve; }
    QCustomPlot *previewPlot() const { return m_preview; }

    // The batch-size finder: BatchSizeFinder::find(finderConfig(), finderMaxSamples()) on a worker
    // thread (the search part stops early when the dialog closes). finderConfig() is config() with the
    // model's classes from the class counts when known (the memory budget and margin come with the
    // configuration given to setConfig()); finderMaxSamples() is the number of training images, 0 when
    // unknown. On success the batch-size field takes the answer; the note says what it is predicted
    // to need, or why there is no answer.
    void findBatchSize();
    bool isFindingBatchSize() const { return m_finder.isRunning(); }
    RunConfig finderConfig() const;
    qint64 finderMaxSamples() const;
    std::optional<BatchSizeReport> batchSizeReport() const { return m_finderReport; }
    QString batchNoteText() const;

    // The equivalent `leantune-cli train ...` line (POSIX shell quoting).
    static QString commandLine(const RunConfig &config, const QString &program = QStringLiteral("leantune-cli"));
    static RunConfig rememberedConfig();   // the last saved configuration, or the defaults
    void remember() const;
    static QString defaultRunDir(const QString &model);

Q_SIGNALS:
    void batchSizeFound(bool ok);   // the finder ended: the field holds its answer, or the note says why not

private:
    struct FinderResult {
        std::optional<BatchSizeReport> report;
        QString error;
    };
    void build();
    void revalidate();
    void updatePreview();
    void updatePruneFields();
    void batchSizeFinderDone(const FinderResult &result);
    void setFinderBusy(bool busy);
    void setBatchNote(const QString &text, bool error);
    QString pruneSpec() const;

    QLineEdit *m_data, *m_test, *m_out;
    QComboBox *m_model, *m_channels, *m_optimizer, *m_lrSchedule, *m_device, *m_precision, *m_memoryFormat;
    QSpinBox *m_inputSize, *m_batch, *m_epochs, *m_seed, *m_workers, *m_threads;
    QDoubleSpinBox *m_lr, *m_valSplit;
    QCheckBox *m_augment;
    QComboBox *m_pruneKind, *m_pruneScope;
    QDoubleSpinBox *m_initial, *m_final, *m_power;
    QSpinBox *m_begin, *m_end, *m_frequency;
    QLabel *m_initialLabel, *m_finalLabel, *m_powerLabel, *m_endLabel;
    QLabel *m_steps, *m_error, *m_warning;
    QCustomPlot *m_preview;
    QPushButton *m_start, *m_copy, *m_find;
    QLabel *m_batchNote;
    QProgressBar *m_findBusy;
    QFutureWatcher<FinderResult> m_finder;
    std::atomic_bool m_finderCancel{false};
    std::optional<BatchSizeReport> m_finderReport;
    QVector<int> m_classCounts;
    QVector<QPointF> m_scheduleCurve, m_appliedCurve;
    RunConfig m_base;   // fields the dialog does not show are kept from here
};

} // namespace leantune
