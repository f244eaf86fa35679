#include "dialogs/runconfigdialog.h"

#include "charts/qcp.h"
#include "dataset/sampledata.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "model/modelspec.h"
#include "prune/pruningschedule.h"
#include "run/runfields.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStringBuilder>
#include <QThread>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <limits>

namespace leantune {

namespace {

QString num(double v) { return QString::number(v, 'g', 10); }

QLineEdit *folderEdit(QWidget *parent, QHBoxLayout **row, const QString &caption, bool mustExist)
{
    auto *edit = new QLineEdit(parent);
    auto *browse = new QToolButton(parent);
    browse->setText(QStringLiteral("..."));
    browse->setToolTip(caption);
    *row = new QHBoxLayout;
    (*row)->addWidget(edit, 1);
    (*row)->addWidget(browse);
    QObject::connect(browse, &QToolButton::clicked, edit, [edit, parent, caption, mustExist] {
        const QString dir = mustExist ? QFileDialog::getExistingDirectory(parent, caption, edit->text())
                                      : QFileDialog::getSaveFileName(parent, caption, edit->text(), QString(), nullptr,
                                                                     QFileDialog::ShowDirsOnly);
        if (!dir.isEmpty())
            edit->setText(dir);
    });
    return edit;
}

} // namespace

RunConfigDialog::RunConfigDialog(QWidget *parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Configure a training run"));
    build();
    setConfig(rememberedConfig());
}

RunConfigDialog::~RunConfigDialog()
{
    m_finder.disconnect(this);
    m_finderCancel = true;
    m_finder.waitForFinished();
}

void RunConfigDialog::build()
{
    auto *layout = new QVBoxLayout(this);
    auto *columns = new QHBoxLayout;
    layout->addLayout(columns, 1);

    // Left: data, model and training.
    auto *left = new QVBoxLayout;
    columns->addLayout(left, 1);
    auto *dataBox = new QGroupBox(tr("Data and output"), this);
    auto *dataForm = new QFormLayout(dataBox);
    QHBoxLayout *row = nullptr;
    m_data = folderEdit(this, &row, tr("Training data folder"), true);
    m_data->setObjectName(QStringLiteral("data"));
    dataForm->addRow(tr("Training data:"), row);
    m_test = folderEdit(this, &row, tr("Test folder (optional)"), true);
    m_test->setPlaceholderText(tr("optional: evaluated once at the end"));
    dataForm->addRow(tr("Test data:"), row);
    m_out = folderEdit(this, &row, tr("Run folder"), false);
    m_out->setObjectName(QStringLiteral("out"));
    dataForm->addRow(tr("Run folder:"), row);
    m_valSplit = new QDoubleSpinBox(this);
    m_valSplit->setObjectName(QStringLiteral("valSplit"));
    m_valSplit->setRange(0.0, 0.95);
    m_valSplit->setSingleStep(0.05);
    m_valSplit->setDecimals(2);
    m_valSplit->setToolTip(tr("Fraction of each class held out for validation"));
    dataForm->addRow(tr("Validation split:"), m_valSplit);
    left->addWidget(dataBox);

    auto *modelBox = new QGroupBox(tr("Model and training"), this);
    auto *form = new QFormLayout(modelBox);
    m_model = new QComboBox(this);
    m_model->setObjectName(QStringLiteral("model"));
    m_model->addItems(modelNames());
    form->addRow(tr("Model:"), m_model);
    m_inputSize = new QSpinBox(this);
    m_inputSize->setObjectName(QStringLiteral("inputSize"));
    m_inputSize->setRange(1, 1024);
    m_inputSize->setSuffix(tr(" px"));
    form->addRow(tr("Input size:"), m_inputSize);
    m_channels = new QComboBox(this);
    m_channels->addItem(tr("1 (grayscale)"), 1);
    m_channels->addItem(tr("3 (RGB)"), 3);
    form->addRow(tr("Channels:"), m_channels);
    m_batch = new QSpinBox(this);
    m_batch->setObjectName(QStringLiteral("batchSize"));
    m_batch->setRange(1, 65536);
    m_find = new QPushButton(tr("Find..."), this);
    m_find->setObjectName(QStringLiteral("findBatchSize"));
    m_find->setAutoDefault(false);
    m_find->setToolTip(tr("Find the largest batch that fits in memory on the chosen device (probes the model "
                          "with a few short training steps)"));
    m_findBusy = new QProgressBar(this);
    m_findBusy->setRange(0, 0);
    m_findBusy->setMaximumWidth(80);
    m_findBusy->setTextVisible(false);
    m_findBusy->hide();
    auto *batchRow = new QHBoxLayout;
    batchRow->addWidget(m_batch, 1);
    batchRow->addWidget(m_findBusy);
    batchRow->addWidget(m_find);
    form->addRow(tr("Batch size:"), batchRow);
    m_batchNote = new QLabel(this);
    m_batchNote->setObjectName(QStringLiteral("batchNote"));
    m_batchNote->setWordWrap(true);
    m_batchNote->hide();
    form->addRow(m_batchNote);   // the whole row's width: the usual note fits on one line
    m_epochs = new QSpinBox(this);
    m_epochs->setObjectName(QStringLiteral("epochs"));
    m_epochs->setRange(1, 10000);
    form->addRow(tr("Epochs:"), m_epochs);
    m_optimizer = new QComboBox(this);
    m_optimizer->setObjectName(QStringLiteral("optimizer"));
    m_optimizer->addItem(tr("SGD (momentum 0.9)"), QStringLiteral("sgd"));
    m_optimizer->addItem(tr("Adam"), QStringLiteral("adam"));
    form->addRow(tr("Optimizer:"), m_optimizer);
    m_lr = new QDoubleSpinBox(this);
    m_lr->setObjectName(QStringLiteral("learningRate"));
    m_lr->setDecimals(5);
    m_lr->setRange(0.0, 100.0);
    m_lr->setSingleStep(0.001);
    form->addRow(tr("Learning rate:"), m_lr);
    m_lrSchedule = new QComboBox(this);
    m_lrSchedule->addItem(tr("cosine decay"), QStringLiteral("cosine"));
    m_lrSchedule->addItem(tr("constant"), QStringLiteral("constant"));
    form->addRow(tr("Learning-rate schedule:"), m_lrSchedule);
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, std::numeric_limits<int>::max());
    form->addRow(tr("Seed:"), m_seed);
    m_augment = new QCheckBox(tr("random crop and flip"), this);
    form->addRow(tr("Augmentation:"), m_augment);
    left->addWidget(modelBox);

    auto *deviceBox = new QGroupBox(tr("Device and threads"), this);
    auto *deviceForm = new QFormLayout(deviceBox);
    m_device = new QComboBox(this);
    m_device->setObjectName(QStringLiteral("device"));
    deviceForm->addRow(tr("Device:"), m_device);
    m_precision = new QComboBox(this);
    m_precision->setObjectName(QStringLiteral("precision"));
    m_precision->addItem(tr("fp32"), QStringLiteral("fp32"));
    m_precision->addItem(tr("bf16 (CUDA autocast)"), QStringLiteral("bf16"));
    deviceForm->addRow(tr("Precision:"), m_precision);
    m_memoryFormat = new QComboBox(this);
    m_memoryFormat->setObjectName(QStringLiteral("memoryFormat"));
    m_memoryFormat->addItem(tr("Auto (the faster one for this model and device)"), QStringLiteral("auto"));
    m_memoryFormat->addItem(tr("Contiguous (NCHW)"), QStringLiteral("contiguous"));
    m_memoryFormat->addItem(tr("Channels-last (NHWC)"), QStringLiteral("channels-last"));
    m_memoryFormat->setToolTip(tr("Auto: channels-last for the ResNets on the CPU and for bf16 on CUDA, "
                                  "where it was measured faster; contiguous otherwise"));
    deviceForm->addRow(tr("Memory format:"), m_memoryFormat);
    m_workers = new QSpinBox(this);
    m_workers->setObjectName(QStringLiteral("workers"));
    m_workers->setRange(0, 256);
    m_workers->setToolTip(tr("Threads that decode images ahead of training"));
    deviceForm->addRow(tr("Loader workers:"), m_workers);
    m_threads = new QSpinBox(this);
    m_threads->setRange(0, 1024);
    m_threads->setSpecialValueText(tr("all cores (%1)").arg(QThread::idealThreadCount()));
    deviceForm->addRow(tr("Compute threads:"), m_threads);
    left->addWidget(deviceBox);
    left->addStretch(1);

    // Right: pruning with its preview.
    auto *pruneBox = new QGroupBox(tr("Pruning schedule"), this);
    columns->addWidget(pruneBox, 1);
    auto *pruneLayout = new QVBoxLayout(pruneBox);
    auto *pruneForm = new QFormLayout;
    pruneLayout->addLayout(pruneForm);
    m_pruneKind = new QComboBox(this);
    m_pruneKind->setObjectName(QStringLiteral("pruneKind"));
    m_pruneKind->addItem(tr("None"), QStringLiteral("none"));
    m_pruneKind->addItem(tr("Polynomial decay"), QStringLiteral("polynomial"));
    m_pruneKind->addItem(tr("Constant sparsity"), QStringLiteral("constant"));
    pruneForm->addRow(tr("Schedule:"), m_pruneKind);
    const auto sparsityBox = [this](const char *name) {
        auto *box = new QDoubleSpinBox(this);
        box->setObjectName(QLatin1String(name));
        box->setRange(0.0, 1.0);
        box->setDecimals(3);
        box->setSingleStep(0.05);
        return box;
    };
    m_initial = sparsityBox("initialSparsity");
    m_initialLabel = new QLabel(tr("Initial sparsity:"), this);
    pruneForm->addRow(m_initialLabel, m_initial);
    m_final = sparsityBox("finalSparsity");
    m_finalLabel = new QLabel(tr("Final sparsity:"), this);
    pruneForm->addRow(m_finalLabel, m_final);
    m_begin = new QSpinBox(this);
    m_begin->setObjectName(QStringLiteral("beginStep"));
    m_begin->setRange(0, std::numeric_limits<int>::max());
    pruneForm->addRow(tr("Begin step:"), m_begin);
    m_end = new QSpinBox(this);
    m_end->setObjectName(QStringLiteral("endStep"));
    m_end->setRange(-1, std::numeric_limits<int>::max());
    m_end->setSpecialValueText(tr("end of the run"));   // -1: constant sparsity to the end
    m_endLabel = new QLabel(tr("End step:"), this);
    pruneForm->addRow(m_endLabel, m_end);
    m_power = new QDoubleSpinBox(this);
    m_power->setObjectName(QStringLiteral("power"));
    m_power->setRange(0.0, 20.0);
    m_power->setDecimals(2);
    m_powerLabel = new QLabel(tr("Power:"), this);
    pruneForm->addRow(m_powerLabel, m_power);
    m_frequency = new QSpinBox(this);
    m_frequency->setObjectName(QStringLiteral("frequency"));
    m_frequency->setRange(0, 1000000);
    m_frequency->setToolTip(tr("Masks are recomputed every this many steps from the begin step"));
    pruneForm->addRow(tr("Frequency:"), m_frequency);
    m_pruneScope = new QComboBox(this);
    m_pruneScope->setObjectName(QStringLiteral("pruneScope"));
    m_pruneScope->addItem(tr("Each layer to the target"), QStringLiteral("layer"));
    m_pruneScope->addItem(tr("Across layers (LAMP)"), QStringLiteral("global"));
    m_pruneScope->setToolTip(tr("Across layers: one ranking of all weights by layer-adaptive magnitude, so "
                                "redundant layers give up more; the same overall sparsity"));
    pruneForm->addRow(tr("Scope:"), m_pruneScope);

    m_preview = new QCustomPlot(this);
    m_preview->setObjectName(QStringLiteral("schedulePreview"));
    m_preview->setMinimumSize(360, 220);
    m_preview->plotLayout()->insertRow(0);
    m_preview->plotLayout()->addElement(0, 0, new QCPTextElement(m_preview, tr("Target sparsity over the run")));
    m_preview->xAxis->setLabel(tr("optimizer step"));
    m_preview->yAxis->setLabel(tr("sparsity (%)"));
    m_preview->yAxis->setRange(0, 100);
    auto *fn = m_preview->addGraph();
    fn->setName(tr("schedule"));
    fn->setPen(QPen(QColor(150, 150, 150), 1.2, Qt::DashLine));
    auto *applied = m_preview->addGraph();
    applied->setName(tr("applied at mask updates"));
    applied->setPen(QPen(QColor(31, 119, 180), 2.0));
    applied->setLineStyle(QCPGraph::lsStepLeft);
    m_preview->legend->setVisible(true);
    m_preview->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    pruneLayout->addWidget(m_preview, 1);
    m_steps = new QLabel(this);
    m_steps->setObjectName(QStringLiteral("steps"));
    m_steps->setWordWrap(true);
    pruneLayout->addWidget(m_steps);

    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b00020; font-weight: bold; }"));
    m_warning = new QLabel(this);
    m_warning->setObjectName(QStringLiteral("warning"));
    m_warning->setWordWrap(true);
    m_warning->setStyleSheet(QStringLiteral("QLabel { color: #9a5b00; }"));
    layout->addWidget(m_error);
    layout->addWidget(m_warning);

    auto *buttons = new QDialogButtonBox(this);
    m_start = buttons->addButton(tr("Start training"), QDialogButtonBox::AcceptRole);
    m_start->setObjectName(QStringLiteral("start"));
    m_start->setDefault(true);
    m_copy = buttons->addButton(tr("Copy as command line"), QDialogButtonBox::ActionRole);
    m_copy->setObjectName(QStringLiteral("copyCommandLine"));
    buttons->addButton(QDialogButtonBox::Cancel);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        if (!canStart())
            return;
        remember();
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_copy, &QPushButton::clicked, this, [this] {
        QGuiApplication::clipboard()->setText(commandLine(config()));
        m_copy->setText(tr("Copied"));
    });
    connect(m_find, &QPushButton::clicked, this, &RunConfigDialog::findBatchSize);
    connect(&m_finder, &QFutureWatcherBase::finished, this, [this] { batchSizeFinderDone(m_finder.result()); });
    connect(m_batch, &QSpinBox::valueChanged, this, [this](int batch) {
        // The note describes the finder's answer only while the field holds it.
        if (m_finderReport && batch != m_finderReport->search.batchSize && !isFindingBatchSize())
            m_batchNote->hide();
    });

    setCudaDevices({});
    const auto changed = [this] { revalidate(); };
    for (QLineEdit *e : {m_data, m_test, m_out})
        connect(e, &QLineEdit::textChanged, this, changed);
    for (QComboBox *c : {m_model, m_channels, m_optimizer, m_lrSchedule, m_device, m_precision, m_memoryFormat, m_pruneScope})
        connect(c, &QComboBox::currentIndexChanged, this, changed);
    for (QSpinBox *s : {m_inputSize, m_batch, m_epochs, m_seed, m_workers, m_threads, m_begin, m_end, m_frequency})
        connect(s, &QSpinBox::valueChanged, this, changed);
    for (QDoubleSpinBox *s : {m_lr, m_valSplit, m_initial, m_final, m_power})
        connect(s, &QDoubleSpinBox::valueChanged, this, changed);
    connect(m_augment, &QCheckBox::toggled, this, changed);
    connect(m_pruneKind, &QComboBox::currentIndexChanged, this, [this] {
        updatePruneFields();
        revalidate();
    });
    connect(m_optimizer, &QComboBox::currentIndexChanged, this, [this] {
        // Suggest the usual learning rate when the optimizer changes from its default.
        const bool adam = m_optimizer->currentData().toString() == QLatin1String("adam");
        if (adam && qFuzzyCompare(m_lr->value(), 0.05))
            m_lr->setValue(0.001);
        else if (!adam && qFuzzyCompare(m_lr->value(), 0.001))
            m_lr->setValue(0.05);
    });
}

void RunConfigDialog::setCudaDevices(const QStringList &names)
{
    QStringList devices = names;
    if (devices.isEmpty()) {
        const int n = cudaDeviceCount();
        for (int i = 0; i < n; ++i)
            devices << deviceDescription(QStringLiteral("cuda:%1").arg(i), 0);
    }
    const QString current = m_device->currentData().toString();
    const QSignalBlocker block(m_device);
    m_device->clear();
    m_device->addItem(devices.isEmpty() ? tr("auto (CPU: no CUDA device found)") : tr("auto (first CUDA device)"),
                      QStringLiteral("auto"));
    m_device->addItem(tr("CPU, %1 cores").arg(QThread::idealThreadCount()), QStringLiteral("cpu"));
    for (int i = 0; i < devices.size(); ++i)
        m_device->addItem(devices[i], QStringLiteral("cuda:%1").arg(i));
    const int i = m_device->findData(current);
    m_device->setCurrentIndex(i >= 0 ? i : 0);
}

void RunConfigDialog::setConfig(const RunConfig &c)
{
    m_base = c;
    const QSignalBlocker b0(m_pruneKind);
    m_data->setText(c.dataDir);
    m_test->setText(c.testDir);
    m_out->setText(c.outDir);
    m_valSplit->setValue(c.valSplit);
    m_model->setCurrentText(c.model.name);
    m_inputSize->setValue(c.model.inputSize);
    m_channels->setCurrentIndex(std::max(0, m_channels->findData(c.model.channels)));
    m_batch->setValue(c.batchSize);
    m_epochs->setValue(c.epochs);
    m_optimizer->setCurrentIndex(std::max(0, m_optimizer->findData(enumName(c.optimizer))));
    m_lr->setValue(c.learningRate);
    m_lrSchedule->setCurrentIndex(std::max(0, m_lrSchedule->findData(enumName(c.lrSchedule))));
    m_seed->setValue(int(std::min<std::uint64_t>(c.seed, std::uint64_t(std::numeric_limits<int>::max()))));
    m_augment->setChecked(c.augment);
    int device = m_device->findData(c.device);
    if (device < 0 && c.device == QLatin1String("cuda"))
        device = m_device->findData(QStringLiteral("cuda:0"));
    if (device < 0 && c.device.startsWith(QLatin1String("cuda"))) {
        m_device->addItem(tr("%1 (not found)").arg(c.device), c.device);
        device = m_device->count() - 1;
    }
    m_device->setCurrentIndex(std::max(0, device));
    m_precision->setCurrentIndex(std::max(0, m_precision->findData(enumName(c.precision))));
    m_memoryFormat->setCurrentIndex(std::max(0, m_memoryFormat->findData(enumName(c.memoryFormat))));
    m_workers->setValue(c.workers);
    m_threads->setValue(c.threads);

    m_pruneScope->setCurrentIndex(std::max(0, m_pruneScope->findData(enumName(c.pruneScope))));
    QString error;
    const auto schedule = PruningSchedule::parse(c.prune, &error);
    const PruningSchedule s = schedule ? *schedule : PruningSchedule();
    switch (s.kind()) {
    case PruningSchedule::Kind::None:
        m_pruneKind->setCurrentIndex(0);
        m_initial->setValue(0.5);
        m_final->setValue(0.8);
        m_begin->setValue(0);
        m_end->setValue(1000);
        m_power->setValue(3.0);
        m_frequency->setValue(100);
        break;
    case PruningSchedule::Kind::PolynomialDecay:
        m_pruneKind->setCurrentIndex(1);
        m_initial->setValue(s.initial());
        m_final->setValue(s.final());
        m_begin->setValue(int(s.begin()));
        m_end->setValue(int(s.end()));
        m_power->setValue(s.power());
        m_frequency->setValue(int(s.frequency()));
        break;
    case PruningSchedule::Kind::ConstantSparsity:
        m_pruneKind->setCurrentIndex(2);
        m_final->setValue(s.final());
        m_begin->setValue(int(s.begin()));
        m_end->setValue(int(s.end()));
        m_frequency->setValue(int(s.frequency()));
        break;
    }
    updatePruneFields();
    revalidate();
}

QString RunConfigDialog::pruneSpec() const
{
    const QString kind = m_pruneKind->currentData().toString();
    if (kind == QLatin1String("polynomial"))
        return QStringLiteral("polynomial:%1:%2:%3:%4:%5:%6")
            .arg(num(m_initial->value()), num(m_final->value()))
            .arg(m_begin->value()).arg(m_end->value())
            .arg(num(m_power->value())).arg(m_frequency->value());
    if (kind == QLatin1String("constant"))
        return QStringLiteral("constant:%1:%2:%3:%4")
            .arg(num(m_final->value())).arg(m_begin->value()).arg(m_end->value()).arg(m_frequency->value());
    return QStringLiteral("none");
}

RunConfig RunConfigDialog::config() const
{
    RunConfig c = m_base;
    c.dataDir = m_data->text().trimmed();
    c.testDir = m_test->text().trimmed();
    c.outDir = m_out->text().trimmed();
    c.valDir.clear();
    c.valSplit = m_valSplit->value();
    c.model.name = m_model->currentText();
    c.model.inputSize = m_inputSize->value();
    c.model.channels = m_channels->currentData().toInt();
    c.batchSize = m_batch->value();
    c.epochs = m_epochs->value();
    c.optimizer = enumFromName<Optimizer>(m_optimizer->currentData().toString()).value_or(c.optimizer);
    c.learningRate = m_lr->value();
    c.lrSchedule = enumFromName<LrSchedule>(m_lrSchedule->currentData().toString()).value_or(c.lrSchedule);
    c.seed = std::uint64_t(m_seed->value());
    c.augment = m_augment->isChecked();
    c.device = m_device->currentData().toString();
    c.precision = enumFromName<Precision>(m_precision->currentData().toString()).value_or(c.precision);
    c.memoryFormat = enumFromName<MemoryFormat>(m_memoryFormat->currentData().toString()).value_or(c.memoryFormat);
    c.workers = m_workers->value();
    c.threads = m_threads->value();
    c.prune = pruneSpec();
    c.pruneScope = enumFromName<PruneScope>(m_pruneScope->currentData().toString()).value_or(c.pruneScope);
    return c;
}

void RunConfigDialog::setClassCounts(const QVector<int> &counts)
{
    m_classCounts = counts;
    revalidate();
}

qint64 RunConfigDialog::trainImages() const
{
    // As splitStratified() does: per class, round(count × split) (at least 1 from a class of two or
    // more) go to validation, and each class keeps at least one training image.
    const double f = m_valSplit->value();
    qint64 train = 0;
    for (int count : m_classCounts) {
        qint64 take = std::llround(double(count) * f);
        if (f > 0.0 && count >= 2)
            take = std::max<qint64>(take, 1);
        take = std::min<qint64>(take, count > 0 ? count - 1 : 0);
        train += count - take;
    }
    return train;
}

qint64 RunConfigDialog::stepsPerEpoch() const
{
    const qint64 n = trainImages();
    const qint64 batch = std::max(1, m_batch->value());
    return (n + batch - 1) / batch;
}

qint64 RunConfigDialog::totalSteps() const { return stepsPerEpoch() * m_epochs->value(); }

void RunConfigDialog::updatePruneFields()
{
    const QString kind = m_pruneKind->currentData().toString();
    const bool poly = kind == QLatin1String("polynomial");
    const bool constant = kind == QLatin1String("constant");
    for (QWidget *w : {static_cast<QWidget *>(m_initial), static_cast<QWidget *>(m_initialLabel),
                       static_cast<QWidget *>(m_power), static_cast<QWidget *>(m_powerLabel)})
        w->setVisible(poly);
    for (QWidget *w : {static_cast<QWidget *>(m_final), static_cast<QWidget *>(m_begin), static_cast<QWidget *>(m_end),
                       static_cast<QWidget *>(m_frequency), static_cast<QWidget *>(m_pruneScope)})
        w->setEnabled(poly || constant);
    m_finalLabel->setText(constant ? tr("Target sparsity:") : tr("Final sparsity:"));
    m_preview->setEnabled(poly || constant);
}

QString RunConfigDialog::errorText() const { return m_error->text(); }
QString RunConfigDialog::warningText() const { return m_warning->text(); }
bool RunConfigDialog::canStart() const { return m_error->text().isEmpty(); }

void RunConfigDialog::revalidate()
{
    const RunConfig c = config();
    QString error;
    c.validate(&error);
    QStringList warnings;
    const qint64 total = totalSteps();
    QString scheduleError;
    const auto schedule = PruningSchedule::parse(c.prune, &scheduleError);
    if (error.isEmpty() && c.precision == Precision::Bf16 && c.device == QLatin1String("auto")
        && m_device->findData(QStringLiteral("cuda:0")) < 0)
        error = tr("bf16 needs a CUDA device, and none was found: choose fp32");
    if (error.isEmpty() && !QFileInfo(c.dataDir).isDir())
        error = tr("the training data folder %1 does not exist").arg(c.dataDir);
    if (error.isEmpty() && !c.testDir.isEmpty() && !QFileInfo(c.testDir).isDir())
        error = tr("the test folder %1 does not exist").arg(c.testDir);
    if (error.isEmpty() && !m_classCounts.isEmpty()) {
        if (m_classCounts.size() < 2)
            error = tr("the data set has %n class(es); training needs at least 2", nullptr, int(m_classCounts.size()));
        else if (trainImages() == 0)
            error = tr("the data set has no training images left after the validation split");
    }
    if (error.isEmpty() && schedule && !schedule->isNone() && total > 0) {
        if (schedule->begin() >= total)
            error = tr("pruning begins at step %1, but the run has only %2 steps: lower the begin step or "
                       "train longer").arg(schedule->begin()).arg(total);
        else if (schedule->kind() == PruningSchedule::Kind::PolynomialDecay && schedule->end() > total)
            warnings << tr("the final sparsity is reached at step %1, after the run ends (step %2): it will "
                           "stop at %3 %").arg(schedule->end()).arg(total)
                            .arg(100.0 * schedule->sparsityAt(total), 0, 'f', 1);
        // Masks change only at steps begin + k·frequency (steps count from 1).
        const qint64 begin = schedule->begin(), frequency = std::max<qint64>(1, schedule->frequency());
        const qint64 firstUpdate = begin >= 1 ? begin : begin + ((1 - begin + frequency - 1) / frequency) * frequency;
        const bool updates = firstUpdate <= total && (schedule->end() < 0 || firstUpdate <= schedule->end());
        if (error.isEmpty() && !updates)
            error = tr("the masks would never be updated in this run: the first update is at step %1 (begin %2 + a "
                       "multiple of frequency %3), the run has %4 steps - lower the frequency or the begin step")
                        .arg(firstUpdate).arg(begin).arg(frequency).arg(total);
    }
    if (c.batchSize > 0 && !m_classCounts.isEmpty() && c.batchSize > trainImages() && trainImages() > 0)
        warnings << tr("the batch (%1) is larger than the training set (%2 images)").arg(c.batchSize).arg(trainImages());
    if (QFileInfo(c.outDir).isDir() && !QDir(c.outDir).isEmpty())
        warnings << tr("the run folder is not empty: its previous run will be replaced");

    m_error->setText(error);
    m_error->setVisible(!error.isEmpty());
    m_warning->setText(warnings.join(QLatin1Char('\n')));
    m_warning->setVisible(!warnings.isEmpty());
    m_start->setEnabled(error.isEmpty() && !isFindingBatchSize());
    m_start->setToolTip(error);
    m_copy->setText(tr("Copy as command line"));
    if (m_classCounts.isEmpty())
        m_steps->setText(tr("Open a data folder to see the run's steps."));
    else
        m_steps->setText(tr("%1 training images ÷ batch %2 = %3 steps per epoch; %4 steps in %5 epoch(s).")
                             .arg(trainImages()).arg(c.batchSize).arg(stepsPerEpoch()).arg(total).arg(c.epochs));
    updatePreview();
}

void RunConfigDialog::updatePreview()
{
    m_scheduleCurve.clear();
    m_appliedCurve.clear();
    QString error;
    const auto schedule = PruningSchedule::parse(pruneSpec(), &error);
    qint64 total = totalSteps();
    if (total <= 0 && schedule && !schedule->isNone())
        total = std::max<qint64>(schedule->end() > 0 ? schedule->end() + schedule->begin() / 4 + 10 : 0,
                                 schedule->begin() + 1000);
    if (schedule && !schedule->isNone() && total > 0) {
        // Every step when the run is short; else about 2000 evenly spaced steps plus every update step
        // (so the applied curve's jumps are exact).
        const qint64 stride = std::max<qint64>(1, total / 2000);
        double applied = 0.0;
        for (qint64 step = 1; step <= total; ++step) {
            const bool update = schedule->shouldUpdate(step);
            if (update)
                applied = schedule->sparsityAt(step);
            if (update || step % stride == 0 || step == 1 || step == total) {
                m_scheduleCurve.append(QPointF(double(step), schedule->sparsityAt(step)));
                m_appliedCurve.append(QPointF(double(step), applied));
            }
        }
    }
    QVector<double> x, y, ax, ay;
    for (const QPointF &p : std::as_const(m_scheduleCurve)) {
        x << p.x();
        y << 100.0 * p.y();
    }
    for (const QPointF &p : std::as_const(m_appliedCurve)) {
        ax << p.x();
        ay << 100.0 * p.y();
    }
    m_preview->graph(0)->setData(x, y, true);
    m_preview->graph(1)->setData(ax, ay, true);
    m_preview->xAxis->setRange(0, std::max<double>(1.0, double(total)));
    m_preview->replot(QCustomPlot::rpQueuedReplot);
}

RunConfig RunConfigDialog::finderConfig() const
{
    RunConfig c = config();
    if (!m_classCounts.isEmpty())
        c.model.classes = int(m_classCounts.size());
    return c;
}

qint64 RunConfigDialog::finderMaxSamples() const { return m_classCounts.isEmpty() ? 0 : trainImages(); }

void RunConfigDialog::setFinderBusy(bool busy)
{
    // What the answer depends on stays as it was asked for while the search runs; Start waits for it.
    m_findBusy->setVisible(busy);
    for (QWidget *w : std::initializer_list<QWidget *>{m_find, m_batch, m_model, m_inputSize, m_channels, m_optimizer,
                                                        m_device, m_precision, m_memoryFormat, m_threads})
        w->setEnabled(!busy);
    if (busy)
        m_start->setEnabled(false);
}

void RunConfigDialog::setBatchNote(const QString &text, bool error)
{
    m_batchNote->setStyleSheet(error ? QStringLiteral("QLabel { color: #b00020; }") : QString());
    m_batchNote->setText(text);
    m_batchNote->setToolTip(QString());
    m_batchNote->show();
    // A top-level layout does not grow for a wrapped label's extra lines: reserve them (the note spans
    // its group box's form).
    const QWidget *box = m_batchNote->parentWidget();
    const QMargins margins = box->layout() ? box->layout()->contentsMargins() : QMargins();
    const int width = box->contentsRect().width() - margins.left() - margins.right();
    m_batchNote->setMinimumHeight(m_batchNote->heightForWidth(std::max(width, 200)));
}

QString RunConfigDialog::batchNoteText() const { return m_batchNote->isHidden() ? QString() : m_batchNote->text(); }

void RunConfigDialog::findBatchSize()
{
    if (isFindingBatchSize())
        return;
    const RunConfig c = finderConfig();
    const qint64 maxSamples = finderMaxSamples();
    m_finderReport.reset();
    m_finderCancel = false;
    const bool cpu = c.device == QLatin1String("cpu") || (c.device == QLatin1String("auto") && cudaDeviceCount() == 0);
    setBatchNote(cpu ? tr("probing memory with a few training steps on the CPU...")
                     : tr("probing memory, then short training trials on %1...").arg(c.device),
                 false);
    setFinderBusy(true);
    const std::atomic_bool *cancel = &m_finderCancel;   // the destructor waits for the worker
    m_finder.setFuture(QtConcurrent::run([c, maxSamples, cancel] {
        FinderResult r;
        r.report = BatchSizeFinder::find(c, maxSamples, &r.error, cancel);
        return r;
    }));
}

void RunConfigDialog::batchSizeFinderDone(const FinderResult &result)
{
    setFinderBusy(false);
    m_finderReport = result.report;
    if (!result.report) {
        setBatchNote(tr("No batch size found: %1").arg(result.error), true);
    } else {
        const BatchSizeReport &r = *result.report;
        m_batch->setValue(r.search.batchSize);
        QString note = r.measured ? tr("fits: measured peak %1, predicted %2 of %3")
                                        .arg(formatBytes(r.search.peakBytes), formatBytes(r.predictedPeakBytes),
                                             formatBytes(r.search.capacityBytes))
                                  : tr("fits: predicted peak %1 of %2")
                                        .arg(formatBytes(r.predictedPeakBytes), formatBytes(r.search.capacityBytes));
        if (r.search.capped)
            note += tr(" (capped by the training images or the maximum batch)");
        setBatchNote(note, false);
        m_batchNote->setToolTip(tr("batch %1 on %2; limit %3 (%4 % margin); %n trial(s)", nullptr, int(r.search.trials.size()))
                                    .arg(r.search.batchSize)
                                    .arg(r.plan.device, formatBytes(r.search.limitBytes))
                                    .arg(r.plan.margin * 100.0, 0, 'f', 0));
    }
    revalidate();
    Q_EMIT batchSizeFound(result.report.has_value());
}

QString RunConfigDialog::commandLine(const RunConfig &c, const QString &program)
{
    return runCommandLine(c, program);
}

QString RunConfigDialog::defaultRunDir(const QString &model)
{
    return userDataDir() % QStringLiteral("/runs/")
        % QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")) % QLatin1Char('-') % model;
}

RunConfig RunConfigDialog::rememberedConfig()
{
    QSettings settings;
    const QByteArray json = settings.value(QStringLiteral("run/config")).toByteArray();
    QString error;
    std::optional<RunConfig> c;
    if (!json.isEmpty())
        c = RunConfig::fromJson(QJsonDocument::fromJson(json).object(), &error);
    RunConfig config = c ? *c : RunConfig();
    if (!c) {
        // First start: what scripts/run does - one epoch with a pruning schedule to watch.
        config.epochs = 1;
        config.prune = QStringLiteral("polynomial:0.5:0.8:0:500:3:50");
    }
    config.outDir = defaultRunDir(config.model.name);   // a new run gets a new folder
    return config;
}

void RunConfigDialog::remember() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("run/config"), QJsonDocument(config().toJson()).toJson(QJsonDocument::Compact));
}

} // namespace leantune
