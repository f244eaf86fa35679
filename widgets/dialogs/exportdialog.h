#pragma once

#include "export/exporter.h"
#include "export/sizereport.h"

#include <QDialog>
#include <QFutureWatcher>

#include <atomic>
#include <optional>

class QCheckBox;
class QComboBox;
class QFormLayout;
class QCustomPlot;
class QGroupBox;
class QLabel;
class QLayout;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace leantune {

class ExportChart;

// File → Export model: exports one run folder's trained model (format, int8, structured channel
// removal, output file, verification images). A size preview follows the options, built on a worker
// thread (it builds and deflates the whole file). The export runs on a worker with progress; Cancel
// stops it at the next verification batch, and a failed or cancelled export writes nothing. At the
// end: the size report (table and bar chart), the verification figures, and the report saved in
// the run's exports folder, shown with the run's other exports on an ExportChart. A run with
// exports from before shows that chart (the All exports tab) as soon as the dialog opens. Closing
// the dialog cancels a running export first. GUI thread only.
class ExportDialog : public QDialog {
    Q_OBJECT
public:
    explicit ExportDialog(const QString &runDir, QWidget *parent = nullptr);
    ~ExportDialog() override; // cancels a running export and waits for the worker threads

    QString runDir() const { return m_runDir; }
    ExportOptions options() const;
    // RUNDIR/<run folder name>.onnx or .pt.
    static QString defaultOutFile(const QString &runDir, const QString &format);

    void startExport();
    void cancelExport();
    bool isExporting() const { return m_exportWatcher.isRunning(); }

    // The preview for the current options; std::nullopt while it is computed or when it failed.
    std::optional<SizeReport> preview() const { return m_preview; }
    QString previewText() const;
    // The last successful export's report.
    std::optional<ExportReport> report() const { return m_report; }
    QString errorText() const; // empty when there is no error
    QString statusText() const; // the line beside the progress bar

    QTableWidget *sizeTable() const { return m_sizeTable; }
    QTableWidget *verificationTable() const { return m_verificationTable; }
    QCustomPlot *sizeChart() const { return m_chart; }
    // Every export of the run, from the reports saved in exportReportsDir() (the dialog saves each
    // successful export's report there).
    ExportChart *exportsChart() const { return m_exports; }
    QProgressBar *progressBar() const { return m_progress; }

    // Text of the ratio cells and bar labels: "3.92×".
    static QString ratioText(double ratio);

    void reject() override; // during an export: cancels, and closes once the worker has stopped

Q_SIGNALS:
    void previewReady(); // preview() (or the preview's error) is shown for the current options
    void exportFinished(bool ok); // report() or errorText() is set

private:
    struct PreviewResult {
        std::optional<SizeReport> size;
        QString error;
    };
    struct ExportResult {
        std::optional<ExportReport> report;
        QString error;
    };

    void build();
    void optionsChanged();
    void requestPreview();
    void showPreview(const PreviewResult &result);
    void exportDone(const ExportResult &result);
    // The report box with only the All exports chart when the run has saved reports, else hidden.
    void showEarlierExports();
    void showReport(const ExportReport &report);
    void plotSizes(const SizeReport &size);
    void setError(const QString &message);
    void setBusy(bool busy);

    QString m_runDir;
    QLabel *m_runLabel;
    QComboBox *m_format, *m_quantize;
    QCheckBox *m_structured;
    QFormLayout *m_form;
    QLineEdit *m_calibration; // static int8's calibration folder; empty: the run's training folder
    QLayout *m_calibrationRow; // shown only for static int8
    QLineEdit *m_outFile;
    QSpinBox *m_limit;
    QLabel *m_previewLabel;
    QProgressBar *m_progress;
    QPushButton *m_cancel, *m_export, *m_close;
    QLabel *m_status, *m_error, *m_note;
    QGroupBox *m_reportBox;
    QTableWidget *m_sizeTable, *m_verificationTable;
    QWidget *m_tables; // this export's size and verification tables
    QTabWidget *m_charts; // Sizes (this export's) and All exports
    QCustomPlot *m_chart;
    ExportChart *m_exports;

    QFutureWatcher<PreviewResult> m_previewWatcher;
    bool m_previewPending = false; // the options changed while a preview was computed
    std::optional<SizeReport> m_preview;
    QFutureWatcher<ExportResult> m_exportWatcher;
    std::atomic_bool m_cancelRequested { false };
    bool m_closeWhenDone = false;
    std::optional<ExportReport> m_report;
};

} // namespace leantune
