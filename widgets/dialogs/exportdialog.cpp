#include "widgets/dialogs/exportdialog.h"
#include "widgets/dialogs/folderrow.h"
#include "widgets/dialogs/wrappedlabel.h"

#include "widgets/charts/qcp.h"
#include "widgets/common/screenfit.h"
#include "widgets/export/exportchart.h"
#include "metrics/bytesize.h"
#include "train/rundir.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStringBuilder>
#include <QTableWidget>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <limits>

namespace leantune {

namespace {

// Verification batches: smaller than the engine's default so that progress moves and Cancel takes
// effect within a fraction of a second even for ResNet-18 on the CPU.
constexpr int kVerifyBatch = 64;
// The written file is timed as `leantune-cli export` times it, so that the dialog's exports have a
// place on the exports chart's latency axis.
constexpr int kLatencyRuns = 10;

QTableWidgetItem *cell(const QString &text, const QString &toolTip = QString())
{
    auto *item = new QTableWidgetItem(text);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    if (!toolTip.isEmpty())
        item->setToolTip(toolTip);
    return item;
}

QString percent(double fraction)
{
    return QStringLiteral("%1 %").arg(fraction * 100.0, 0, 'f', 2);
}

} // namespace

ExportDialog::ExportDialog(const QString &runDir, QWidget *parent)
    : QDialog(parent)
    , m_runDir(runDir)
{
    setWindowTitle(tr("Export model"));
    build();
    connect(&m_previewWatcher, &QFutureWatcherBase::finished, this,
        [this] { showPreview(m_previewWatcher.result()); });
    connect(&m_exportWatcher, &QFutureWatcherBase::finished, this,
        [this] { exportDone(m_exportWatcher.result()); });

    QString error;
    if (const std::optional<RunInfo> run = readRunInfo(runDir, &error)) {
        const ModelSpec &m = run->config.model;
        m_runLabel->setText(tr("<b>%1</b>: %2, %3 px %4, %5 classes")
                                .arg(QFileInfo(runDir).fileName().toHtmlEscaped(), m.name)
                                .arg(m.inputSize)
                                .arg(m.channels == 1 ? tr("grayscale") : tr("RGB"))
                                .arg(run->classNames.size()));
    } else {
        m_runLabel->setText(
            QStringLiteral("<b>%1</b>").arg(QDir::toNativeSeparators(runDir).toHtmlEscaped()));
        setError(error);
    }
    optionsChanged();
    showEarlierExports();
}

ExportDialog::~ExportDialog()
{
    m_previewWatcher.disconnect(this);
    m_exportWatcher.disconnect(this);
    m_cancelRequested = true;
    m_exportWatcher.waitForFinished();
    m_previewWatcher.waitForFinished(); // not cancellable: one build of the file
}

void ExportDialog::build()
{
    auto *layout = new QVBoxLayout(this);
    m_runLabel = new QLabel(this);
    m_runLabel->setObjectName(QStringLiteral("run"));
    m_runLabel->setTextFormat(Qt::RichText);
    layout->addWidget(m_runLabel);

    auto *top = new QHBoxLayout;
    layout->addLayout(top);
    auto *optionsBox = new QGroupBox(tr("Options"), this);
    top->addWidget(optionsBox, 3);
    auto *form = new QFormLayout(optionsBox);
    m_form = form;
    m_format = new QComboBox(this);
    m_format->setObjectName(QStringLiteral("format"));
    m_format->addItem(tr("ONNX (.onnx)"), QStringLiteral("onnx"));
    m_format->addItem(tr("LibTorch archive (.pt)"), QStringLiteral("libtorch"));
    form->addRow(tr("Format:"), m_format);
    m_quantize = new QComboBox(this);
    m_quantize->setObjectName(QStringLiteral("quantize"));
    m_quantize->addItem(tr("float32"), QStringLiteral("none"));
    m_quantize->addItem(tr("int8 (float activations)"), QStringLiteral("int8"));
    m_quantize->addItem(
        tr("int8 static (calibrated activations, faster)"), QStringLiteral("int8-static"));
    form->addRow(tr("Weights:"), m_quantize);
    m_calibration = new QLineEdit(this);
    m_calibration->setObjectName(QStringLiteral("calibration"));
    m_calibration->setPlaceholderText(tr("the run's training folder"));
    m_calibration->setToolTip(tr("Images whose activation ranges set the int8 scales: the run's "
                                 "classes, one sub-folder each, images of the training size"));
    m_calibrationRow = folderRow(this, m_calibration, tr("Choose the calibration folder"), true);
    form->addRow(tr("Calibration:"), m_calibrationRow);
    m_structured = new QCheckBox(tr("remove channels whose weights are all zero"), this);
    m_structured->setObjectName(QStringLiteral("structured"));
    m_structured->setToolTip(
        tr("Physically removes pruned channels; pays after training with channel pruning"));
    form->addRow(tr("Structured:"), m_structured);
    m_outFile = new QLineEdit(this);
    m_outFile->setObjectName(QStringLiteral("outFile"));
    m_outFile->setText(defaultOutFile(m_runDir, QStringLiteral("onnx")));
    m_outFile->setMinimumWidth(320);
    auto *browse = new QToolButton(this);
    browse->setText(QStringLiteral("..."));
    browse->setToolTip(tr("Choose the output file"));
    auto *outRow = new QHBoxLayout;
    outRow->addWidget(m_outFile, 1);
    outRow->addWidget(browse);
    form->addRow(tr("Output file:"), outRow);
    m_limit = new QSpinBox(this);
    m_limit->setObjectName(QStringLiteral("limit"));
    m_limit->setRange(0, std::numeric_limits<int>::max());
    m_limit->setSingleStep(500);
    m_limit->setValue(ExportOptions::kDefaultVerificationImages); // leantune-cli's default too
    m_limit->setSpecialValueText(tr("all images"));
    m_limit->setSuffix(tr(" images"));
    m_limit->setToolTip(
        tr("The written file is re-loaded and run on a class-balanced sample of this many images "
           "(the same on every export of the run) of the run's test, else validation, else "
           "training folder; 0 = all"));
    form->addRow(tr("Verify on:"), m_limit);

    auto *previewBox = new QGroupBox(tr("Expected sizes"), this);
    top->addWidget(previewBox, 2);
    auto *previewLayout = new QVBoxLayout(previewBox);
    m_previewLabel = new QLabel(this);
    m_previewLabel->setObjectName(QStringLiteral("preview"));
    m_previewLabel->setTextFormat(Qt::RichText);
    m_previewLabel->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_previewLabel->setMinimumWidth(300);
    m_previewLabel->setWordWrap(true);
    previewLayout->addWidget(m_previewLabel, 1);

    auto *progressRow = new QHBoxLayout;
    layout->addLayout(progressRow);
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setTextVisible(false);
    progressRow->addWidget(m_progress, 1);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("cancel"));
    m_cancel->setEnabled(false);
    m_cancel->setAutoDefault(false);
    progressRow->addWidget(m_cancel);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setSizePolicy(
        QSizePolicy::Ignored, QSizePolicy::Preferred); // a long path does not widen the dialog
    layout->addWidget(m_status);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b00020; font-weight: bold; }"));
    m_error->hide();
    layout->addWidget(m_error);

    // The report, shown after a successful export: the tables on the left, the chart on the right,
    // a line on how it was verified below.
    m_reportBox = new QGroupBox(tr("Report"), this);
    m_reportBox->setObjectName(QStringLiteral("report"));
    layout->addWidget(m_reportBox, 1);
    auto *reportLayout = new QGridLayout(m_reportBox);
    m_tables = new QWidget(this);
    m_tables->setObjectName(QStringLiteral("tables"));
    auto *tables = new QVBoxLayout(m_tables);
    tables->setContentsMargins(0, 0, 0, 0);
    reportLayout->addWidget(m_tables, 0, 0);
    m_sizeTable = new QTableWidget(4, 2, this);
    m_sizeTable->setObjectName(QStringLiteral("sizeTable"));
    m_sizeTable->setHorizontalHeaderLabels({ tr("Size"), tr("× smaller") });
    m_sizeTable->setVerticalHeaderLabels({ tr("dense fp32 weights"), tr("exported file"),
        tr("zip (deflate)"), tr("sparse (bitmask)") });
    m_verificationTable = new QTableWidget(7, 1, this);
    m_verificationTable->setObjectName(QStringLiteral("verificationTable"));
    m_verificationTable->horizontalHeader()->hide();
    m_verificationTable->setVerticalHeaderLabels({ tr("parameters"), tr("non-zero parameters"),
        tr("accuracy, trained model"), tr("accuracy, exported file"), tr("top-1 agreement"),
        tr("max |Δ logit|"), tr("verified on") });
    for (QTableWidget *t : { m_sizeTable, m_verificationTable }) {
        t->setEditTriggers(QAbstractItemView::NoEditTriggers);
        t->setSelectionMode(QAbstractItemView::NoSelection);
        t->setFocusPolicy(Qt::NoFocus);
        t->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        t->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        t->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
        t->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
        t->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
        // As tall as the rows, never a scroll bar.
        t->setSizeAdjustPolicy(QAbstractScrollArea::AdjustToContents);
        t->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
        t->setMinimumWidth(320);
        tables->addWidget(t);
    }
    tables->addStretch(1);
    m_chart = new QCustomPlot(this);
    m_chart->setObjectName(QStringLiteral("sizeChart"));
    m_chart->setMinimumSize(400, 260);
    m_chart->plotLayout()->insertRow(0);
    m_chart->plotLayout()->addElement(
        0, 0, new QCPTextElement(m_chart, tr("Size against the dense float32 weights")));
    m_chart->yAxis->grid()->setVisible(false);
    m_chart->yAxis->setTickLength(0, 0);
    m_chart->yAxis->setSubTicks(false);
    // Beside this export's sizes, every export of the run (their saved reports) on one chart.
    m_charts = new QTabWidget(this);
    m_charts->setObjectName(QStringLiteral("charts"));
    m_charts->addTab(m_chart, tr("Sizes"));
    m_exports = new ExportChart(this);
    m_exports->setObjectName(QStringLiteral("exportsChart"));
    m_charts->addTab(m_exports, tr("All exports"));
    reportLayout->addWidget(m_charts, 0, 1);
    reportLayout->setColumnStretch(1, 1);
    // Wrapped (its lines reserved by reserveWrappedLines()): on one line, static int8's note
    // widened the dialog past a 1366 px screen.
    m_note = new QLabel(this);
    m_note->setObjectName(QStringLiteral("note"));
    m_note->setWordWrap(true);
    m_note->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    reportLayout->addWidget(m_note, 1, 0, 1, 2);
    m_reportBox->hide();

    auto *buttons = new QDialogButtonBox(this);
    m_export = buttons->addButton(tr("Export"), QDialogButtonBox::ActionRole);
    m_export->setObjectName(QStringLiteral("export"));
    m_export->setDefault(true);
    m_close = buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);

    connect(m_export, &QPushButton::clicked, this, &ExportDialog::startExport);
    connect(m_cancel, &QPushButton::clicked, this, &ExportDialog::cancelExport);
    connect(buttons, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
    connect(browse, &QToolButton::clicked, this, [this] {
        const bool onnx = m_format->currentData().toString() == QLatin1String("onnx");
        const QString file = QFileDialog::getSaveFileName(this, tr("Export model"),
            m_outFile->text(), onnx ? tr("ONNX model (*.onnx)") : tr("LibTorch archive (*.pt)"));
        if (!file.isEmpty())
            m_outFile->setText(QDir::toNativeSeparators(file));
    });
    connect(m_format, &QComboBox::currentIndexChanged, this, [this] {
        // Keep the chosen name; switch its extension to the format's.
        const QString format = m_format->currentData().toString();
        const QString suffix
            = format == QLatin1String("onnx") ? QStringLiteral(".onnx") : QStringLiteral(".pt");
        QString file = m_outFile->text();
        for (const QLatin1String old : { QLatin1String(".onnx"), QLatin1String(".pt") })
            if (file.endsWith(old))
                file = file.left(file.size() - old.size()) % suffix;
        m_outFile->setText(file);
        optionsChanged();
    });
    connect(m_quantize, &QComboBox::currentIndexChanged, this, &ExportDialog::optionsChanged);
    connect(m_structured, &QCheckBox::toggled, this, &ExportDialog::optionsChanged);
}

QString ExportDialog::defaultOutFile(const QString &runDir, const QString &format)
{
    const QString name = QFileInfo(QDir::cleanPath(runDir)).fileName();
    return QDir::toNativeSeparators(
        QDir(runDir).filePath((name.isEmpty() ? QStringLiteral("model") : name)
            % (format == QLatin1String("onnx") ? QStringLiteral(".onnx") : QStringLiteral(".pt"))));
}

QString ExportDialog::ratioText(double ratio)
{
    return QStringLiteral("%1×").arg(ratio, 0, 'f', 2);
}

ExportOptions ExportDialog::options() const
{
    ExportOptions o;
    o.format = enumFromName<ExportFormat>(m_format->currentData().toString())
                   .value_or(ExportFormat::Onnx);
    const bool onnx = o.format == ExportFormat::Onnx;
    o.quantize = onnx ? enumFromName<ExportQuantization>(m_quantize->currentData().toString())
                            .value_or(ExportQuantization::None)
                      : ExportQuantization::None;
    o.structured = onnx && m_structured->isChecked();
    if (o.quantize == ExportQuantization::Int8Static)
        o.calibrationDir = QDir::fromNativeSeparators(m_calibration->text().trimmed());
    o.outFile = QDir::fromNativeSeparators(m_outFile->text().trimmed());
    o.limit = m_limit->value();
    o.batchSize = kVerifyBatch;
    o.latencyRuns = kLatencyRuns;
    return o;
}

QString ExportDialog::previewText() const
{
    return m_previewLabel->text();
}
QString ExportDialog::errorText() const
{
    return m_error->text();
}
QString ExportDialog::statusText() const
{
    return m_status->text();
}

void ExportDialog::optionsChanged()
{
    const bool onnx = m_format->currentData().toString() == QLatin1String("onnx");
    const QString onnxOnly = onnx ? QString() : tr("ONNX only");
    m_quantize->setEnabled(onnx && !isExporting());
    m_structured->setEnabled(onnx && !isExporting());
    m_quantize->setToolTip(onnxOnly);
    m_structured->setToolTip(onnx
            ? tr("Physically removes pruned channels; pays after training with channel pruning")
            : onnxOnly);
    if (!onnx) {
        const QSignalBlocker q(m_quantize), s(m_structured);
        m_quantize->setCurrentIndex(0);
        m_structured->setChecked(false);
    }
    m_form->setRowVisible(m_calibrationRow,
        onnx && m_quantize->currentData().toString() == QLatin1String("int8-static"));
    requestPreview();
}

void ExportDialog::requestPreview()
{
    m_preview.reset();
    m_previewLabel->setText(tr("<i>computing...</i>"));
    if (m_previewWatcher.isRunning()) {
        m_previewPending = true; // computed again with the options of then when this one ends
        return;
    }
    m_previewPending = false;
    const QString runDir = m_runDir;
    ExportOptions o = options();
    if (o.outFile
            .isEmpty()) // the preview writes nothing, but the engine checks that a name is given
        o.outFile = defaultOutFile(m_runDir, enumName(o.format));
    m_previewWatcher.setFuture(QtConcurrent::run([runDir, o] {
        PreviewResult r;
        r.size = previewExportSize(runDir, o, &r.error);
        return r;
    }));
}

void ExportDialog::showPreview(const PreviewResult &result)
{
    if (m_previewPending) {
        requestPreview();
        return;
    }
    m_preview = result.size;
    if (!result.size) {
        m_previewLabel->setText(QStringLiteral("<span style='color:#b00020'>%1</span>")
                                    .arg(tr("No preview: %1").arg(result.error).toHtmlEscaped()));
    } else {
        const SizeReport &s = *result.size;
        const auto row = [&s](const QString &name, qint64 bytes, bool ratio) {
            return QStringLiteral("<tr><td>%1</td><td align='right'>&nbsp;&nbsp;%2</td><td "
                                  "align='right'>&nbsp;&nbsp;%3</td></tr>")
                .arg(name.toHtmlEscaped(), formatBytes(bytes),
                    ratio ? ratioText(s.ratio(bytes)) : QString());
        };
        const QLocale locale;
        m_previewLabel->setText(QStringLiteral("<table>")
            % row(tr("dense fp32 weights"), s.denseFp32Bytes, false)
            % row(tr("file"), s.fileBytes, true) % row(tr("zip (deflate)"), s.zipBytes, true)
            % row(tr("sparse (bitmask)"), s.sparseBytes, true)
            % QStringLiteral("<tr><td colspan='3'></td></tr><tr><td>%1</td><td align='right'>"
                             "&nbsp;&nbsp;%2</td><td></td></tr><tr><td>%3</td><td align='right'>"
                             "&nbsp;&nbsp;%4</td><td>&nbsp;&nbsp;%5</td></tr></table>")
                  .arg(tr("parameters"), locale.toString(s.parameters), tr("non-zero"),
                      locale.toString(s.nonzeroParameters),
                      tr("%1 % sparse").arg(s.sparsity() * 100.0, 0, 'f', 1)));
    }
    Q_EMIT previewReady();
}

void ExportDialog::setError(const QString &message)
{
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}

void ExportDialog::setBusy(bool busy)
{
    const bool onnx = m_format->currentData().toString() == QLatin1String("onnx");
    for (QWidget *w : { static_cast<QWidget *>(m_format), static_cast<QWidget *>(m_outFile),
             static_cast<QWidget *>(m_limit), static_cast<QWidget *>(m_export) })
        w->setEnabled(!busy);
    m_quantize->setEnabled(!busy && onnx);
    m_structured->setEnabled(!busy && onnx);
    m_calibration->setEnabled(!busy);
    m_cancel->setEnabled(busy);
}

void ExportDialog::startExport()
{
    if (isExporting())
        return;
    const ExportOptions o = options();
    setError(QString());
    if (o.outFile.isEmpty()) {
        setError(tr("Choose an output file."));
        return;
    }
    m_report.reset();
    showEarlierExports();
    m_cancelRequested = false;
    m_progress->setValue(0);
    m_status->setText(tr("starting..."));
    m_status->setToolTip(QString());
    setBusy(true);
    const QString runDir = m_runDir;
    // The callback runs on the worker thread: progress goes to the dialog as a queued call (the
    // destructor waits for the worker, so `this` outlives it), cancellation through the atomic
    // flag.
    const ExportProgress progress = [this](double fraction, const QString &stage) {
        QMetaObject::invokeMethod(
            this,
            [this, fraction, stage] {
                if (!isExporting() || m_cancelRequested)
                    return;
                m_progress->setValue(int(fraction * 1000.0));
                m_status->setText(tr("%1 (%2 %)").arg(stage).arg(int(fraction * 100.0)));
            },
            Qt::QueuedConnection);
        return !m_cancelRequested.load();
    };
    m_exportWatcher.setFuture(QtConcurrent::run([runDir, o, progress] {
        ExportResult r;
        r.report = exportRun(runDir, o, &r.error, progress);
        return r;
    }));
}

void ExportDialog::cancelExport()
{
    if (!isExporting())
        return;
    m_cancelRequested = true;
    m_cancel->setEnabled(false);
    m_status->setText(tr("cancelling..."));
}

void ExportDialog::reject()
{
    if (isExporting()) {
        m_closeWhenDone = true;
        cancelExport();
        return;
    }
    QDialog::reject();
}

void ExportDialog::exportDone(const ExportResult &result)
{
    setBusy(false);
    if (m_closeWhenDone) {
        m_closeWhenDone = false;
        QDialog::reject();
    }
    if (!result.report) {
        m_progress->setValue(0);
        if (m_cancelRequested) {
            m_status->setText(tr("Cancelled: nothing was written."));
        } else {
            m_status->setText(tr("Failed: nothing was written."));
            setError(result.error);
        }
        Q_EMIT exportFinished(false);
        return;
    }
    m_report = result.report;
    m_progress->setValue(m_progress->maximum());
    m_status->setText(tr("Wrote %1 (%2) in %3 s.")
                          .arg(QDir::toNativeSeparators(result.report->outFile),
                              formatBytes(result.report->size.fileBytes))
                          .arg(result.report->seconds, 0, 'f', 1));
    m_status->setToolTip(m_status->text());
    QString saveError;
    if (!saveExportReport(m_runDir, result.report->toJson(), &saveError))
        m_status->setText(m_status->text() + QLatin1Char(' ') + saveError);
    m_exports->setRunDir(m_runDir);
    showReport(*result.report);
    Q_EMIT exportFinished(true);
}

void ExportDialog::showEarlierExports()
{
    m_exports->setRunDir(m_runDir);
    const bool any = !m_exports->data().points.isEmpty();
    m_reportBox->setTitle(tr("Earlier exports of this run"));
    m_tables->hide();
    m_note->hide();
    m_charts->setTabVisible(m_charts->indexOf(m_chart), false);
    m_charts->setCurrentWidget(m_exports);
    if (any == m_reportBox->isVisibleTo(this))
        return;
    m_reportBox->setVisible(any);
    if (any) {
        layout()->activate();
        fitToScreen(this, sizeHint().expandedTo(QSize(1240, 0)));
    }
}

void ExportDialog::showReport(const ExportReport &r)
{
    const SizeReport &s = r.size;
    const QLocale locale;
    const qint64 sizes[] = { s.denseFp32Bytes, s.fileBytes, s.zipBytes, s.sparseBytes };
    for (int i = 0; i < 4; ++i) {
        m_sizeTable->setItem(
            i, 0, cell(formatBytes(sizes[i]), tr("%1 bytes").arg(locale.toString(sizes[i]))));
        m_sizeTable->setItem(i, 1, cell(ratioText(s.ratio(sizes[i]))));
    }
    // The accuracies name their set; the one agreement figure is ExportReport::agreement.
    const QString set = r.dataSetName();
    m_verificationTable->setVerticalHeaderLabels({ tr("parameters"), tr("non-zero parameters"),
        tr("accuracy, trained model (%1)").arg(set), tr("accuracy, exported file (%1)").arg(set),
        tr("top-1 agreement with the trained model"), tr("max |Δ logit|"), tr("verified on") });
    const QStringList values {
        locale.toString(s.parameters)
            % (r.channelsRemoved > 0 ? tr(" (%1 channels removed)").arg(r.channelsRemoved)
                                     : QString()),
        tr("%1 (%2 % sparse)")
            .arg(locale.toString(s.nonzeroParameters))
            .arg(s.sparsity() * 100.0, 0, 'f', 1),
        percent(r.accuracyBefore),
        percent(r.accuracyAfter),
        percent(r.agreement),
        QString::number(r.maxAbsLogitDiff, 'g', 3),
        r.sampled ? tr("%1 of %2 images (balanced sample)").arg(r.images).arg(r.folderImages)
                  : tr("%1 images of the %2").arg(r.images).arg(set),
    };
    int widest = 0;
    for (int i = 0; i < values.size(); ++i) {
        m_verificationTable->setItem(i, 0, cell(values[i]));
        widest = std::max(widest, m_verificationTable->fontMetrics().horizontalAdvance(values[i]));
    }
    // Wide enough for its row names and its widest value (the chart beside it takes the rest);
    // the 320 px floor cut "95,507" to "95,…" once the row names named their set.
    m_verificationTable->setMinimumWidth(
        std::max(320, m_verificationTable->verticalHeader()->sizeHint().width() + widest + 6 * 4));
    m_verificationTable->item(4, 0)->setToolTip(
        tr("Images on which the exported file's top-1 class is the trained fp32 model's"));
    m_verificationTable->item(5, 0)->setToolTip(
        tr("Largest logit difference between %1 and %2; %3 near-ties (top-1 margin below %4) "
           "left out of the top-1 check")
            .arg(r.runtime, r.reference)
            .arg(r.nearTies)
            .arg(r.nearTieTolerance, 0, 'g', 3));
    m_verificationTable->item(6, 0)->setToolTip(
        tr("%1, in %2").arg(QDir::toNativeSeparators(r.dataDir), r.runtime));
    m_note->setText(tr("Accuracies on the %1 (%2). Verified in %3 against %4.")
                        .arg(set, r.verifiedOnText(), r.runtime, r.reference));
    m_note->setToolTip(r.verificationNote); // long: what the figures need to be read with
    m_reportBox->setTitle(tr("Report"));
    m_tables->show();
    m_note->show();
    m_charts->setTabVisible(m_charts->indexOf(m_chart), true);
    m_charts->setCurrentWidget(m_chart);
    reserveWrappedLines(m_note);
    m_reportBox->show();
    plotSizes(s);
    layout()->activate();
    // Grown for the report, wide enough for the exports chart's names where the screen allows,
    // and moved up or left where it would now leave the screen (opened in the middle of a 768 px
    // screen, its bottom rows and buttons were below the screen's edge).
    fitToScreen(this, sizeHint().expandedTo(QSize(1240, 0)));
}

void ExportDialog::plotSizes(const SizeReport &s)
{
    // Horizontal bars, the dense weights on top; sizes in the unit of the dense size.
    m_chart->clearPlottables();
    m_chart->clearItems();
    const qint64 sizes[] = { s.denseFp32Bytes, s.fileBytes, s.zipBytes, s.sparseBytes };
    const QString names[] = { tr("dense fp32"), tr("file"), tr("zip"), tr("sparse") };
    const qint64 largest = *std::max_element(std::begin(sizes), std::end(sizes));
    double unit = 1.0;
    QString unitName = tr("bytes");
    if (largest >= (qint64(1) << 20)) {
        unit = double(qint64(1) << 20);
        unitName = tr("MiB");
    } else if (largest >= 1024) {
        unit = 1024.0;
        unitName = tr("KiB");
    }
    auto *dense = new QCPBars(m_chart->yAxis, m_chart->xAxis);
    dense->setBrush(QColor(150, 150, 150, 220));
    dense->setPen(Qt::NoPen);
    dense->setWidth(0.6);
    auto *bars = new QCPBars(m_chart->yAxis, m_chart->xAxis);
    bars->setBrush(QColor(31, 119, 180, 220));
    bars->setPen(Qt::NoPen);
    bars->setWidth(0.6);
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (int i = 0; i < 4; ++i) {
        const double key = 4 - i;
        const double value = double(sizes[i]) / unit;
        (i == 0 ? dense : bars)->addData(key, value);
        ticker->addTick(key, names[i]);
        auto *label = new QCPItemText(m_chart);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setAxes(m_chart->xAxis, m_chart->yAxis);
        label->position->setCoords(value, key);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
        label->setPadding(QMargins(4, 0, 0, 0));
        label->setText(i == 0
                ? formatBytes(sizes[i])
                : formatBytes(sizes[i]) % QStringLiteral("  ") % ratioText(s.ratio(sizes[i])));
        label->setClipToAxisRect(false);
    }
    m_chart->yAxis->setTicker(ticker);
    m_chart->yAxis->setRange(0.4, 4.6);
    m_chart->xAxis->setLabel(tr("size (%1)").arg(unitName));
    // Room on the right for the labels.
    m_chart->xAxis->setRange(0.0, double(largest) / unit * 1.45);
    m_chart->replot(); // once, at the end of an export
}

} // namespace leantune
