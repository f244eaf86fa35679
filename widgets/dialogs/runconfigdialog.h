#pragma once

#include "train/batchsizefinder.h"
#include "config/runconfig.h"

#include <QDialog>
#include <QPointF>
#include <QVector>

#include <optional>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QScrollArea;
class QSpinBox;

namespace leantune {

class BatchSizeFinderField;
class DeviceField;
class PruningScheduleEditor;
class RunFieldBinder;
class StartFromField;

// The run configuration dialog: data, validation and test folders, model, input, batch, epochs,
// optimizer, learning rate, validation split, seed, device (CPU and each CUDA device), precision,
// loader workers and threads, and the pruning schedule (PruningScheduleEditor: scope, granularity,
// and a live preview of the target sparsity over the run's steps; steps per epoch come from the
// data set's class counts and the batch size, as the engine splits the data). Its widgets are bound
// to rows of the run's field table (run/runfields.h, through RunFieldBinder): each shows the
// field's canonical text and is read back through the field's parser, with the field's help as tool
// tip. Fields it does not show are kept from the configuration given to setConfig(). What is wrong
// is said inline and Start stays disabled until it is fixed. "Copy as command line" puts the
// equivalent `leantune-cli train` line on the clipboard. The last configuration is remembered
// (QSettings, group "run", with whether the schedule's steps follow the run). "Find..." beside the
// batch size runs the BatchSizeFinder on a worker thread and puts the largest batch that fits into
// the field, with its predicted peak inline. The starting weights (`init`: random or a file, what
// it was recognized as; normalization; fine-tuning) are a StartFromField.
class RunConfigDialog : public QDialog {
    Q_OBJECT
public:
    explicit RunConfigDialog(QWidget *parent = nullptr);
    ~RunConfigDialog() override; // stops a running batch-size search and waits for it

    void setConfig(const RunConfig &config);
    RunConfig config() const;
    // Valid images per class of the training folder; empty when unknown (no preview of steps).
    void setClassCounts(const QVector<int> &counts);
    void setCudaDevices(const QStringList &names); // tests; by default the devices found

    qint64 trainImages() const;
    qint64 stepsPerEpoch() const;
    qint64 totalSteps() const;
    QString errorText() const; // empty when the configuration can start
    QString warningText() const; // advice that does not block the start
    bool canStart() const;
    QPushButton *startButton() const { return m_start; }

    // The preview's two curves, as fractions: the schedule function at each previewed step, and the
    // target the engine applies (it changes only at mask-update steps; 0 before the first one).
    QVector<QPointF> scheduleCurve() const;
    QVector<QPointF> appliedCurve() const;
    QCustomPlot *previewPlot() const;

    // The batch-size finder: BatchSizeFinder::find(finderConfig(), finderMaxSamples()) on a worker
    // thread (the search part stops early when the dialog closes). finderConfig() is config() with
    // the model's classes from the class counts when known (the memory budget and margin come with
    // the configuration given to setConfig()); finderMaxSamples() is the number of training images,
    // 0 when unknown. On success the batch-size field takes the answer; the note says what it is
    // predicted to need, or why there is no answer.
    void findBatchSize();
    bool isFindingBatchSize() const;
    RunConfig finderConfig() const;
    qint64 finderMaxSamples() const;
    std::optional<BatchSizeReport> batchSizeReport() const;
    QString batchNoteText() const;

    // The equivalent `leantune-cli train ...` line (POSIX shell quoting).
    static QString commandLine(
        const RunConfig &config, const QString &program = QStringLiteral("leantune-cli"));
    static RunConfig rememberedConfig(); // the last saved configuration, or the defaults
    void remember() const;
    static QString defaultRunDir(const QString &model);

    QScrollArea *formScrollArea() const { return m_scroll; }

Q_SIGNALS:
    void batchSizeFound(
        bool ok); // the finder ended: the field holds its answer, or the note says why not

protected:
    void showEvent(QShowEvent *event) override;

private:
    void build();
    void revalidate();
    void setFinderBusy(bool busy);

    RunFieldBinder *m_fields;
    QLineEdit *m_data, *m_valDir;
    DeviceField *m_deviceField;
    QComboBox *m_device, *m_optimizer;
    QSpinBox *m_batch, *m_epochs;
    QDoubleSpinBox *m_lr, *m_valSplit;
    PruningScheduleEditor *m_schedule;
    QLabel *m_steps, *m_error, *m_warning;
    QPushButton *m_start, *m_copy;
    BatchSizeFinderField *m_finder;
    StartFromField *m_startFrom;
    QVector<int> m_classCounts;
    QScrollArea *m_scroll = nullptr; // the form; errors, warnings and buttons stay below it
    bool m_fitted = false; // sized to the screen on the first show
    RunConfig m_base; // fields the dialog does not show (or could not show) are kept from here
};

} // namespace leantune
