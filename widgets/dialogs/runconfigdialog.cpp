#include "widgets/dialogs/runconfigdialog.h"

#include "dataset/datasplit.h"
#include "dataset/sampledata.h"
#include "widgets/common/screenfit.h"
#include "widgets/dialogs/batchsizefinderfield.h"
#include "widgets/dialogs/devicefield.h"
#include "widgets/dialogs/folderrow.h"
#include "widgets/dialogs/numberspinbox.h"
#include "widgets/dialogs/prunescopefield.h"
#include "widgets/dialogs/pruningscheduleeditor.h"
#include "widgets/dialogs/runfieldbinder.h"
#include "widgets/dialogs/startfromfield.h"
#include "widgets/dialogs/wrappedlabel.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "model/modelspec.h"
#include "prune/pruningschedule.h"
#include "config/runfields.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QFileInfo>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QShowEvent>
#include <QSpinBox>
#include <QStringBuilder>
#include <QThread>
#include <QVBoxLayout>

namespace leantune {

namespace {

const char kFollowKey[] = "run/pruneStepsFollowRun";

// The form's scroll area asks for the whole form (QScrollArea's own hint stops at 36 x 24 lines),
// so the dialog opens showing all of it where the screen has room.
class FormScrollArea : public QScrollArea {
public:
    using QScrollArea::QScrollArea;
    QSize sizeHint() const override
    {
        const int frame = 2 * frameWidth();
        return widget()
            ? widget()->sizeHint() + QSize(frame + verticalScrollBar()->sizeHint().width(), frame)
            : QScrollArea::sizeHint();
    }
};

} // namespace

RunConfigDialog::RunConfigDialog(QWidget *parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Configure a training run"));
    build();
    setConfig(rememberedConfig());
    // The remembered schedule's steps follow the run when they did (always on the first start).
    m_schedule->setStepsFollowRun(QSettings().value(QLatin1String(kFollowKey), true).toBool());
    revalidate();
}

RunConfigDialog::~RunConfigDialog() = default; // the finder field stops and waits for its search

void RunConfigDialog::showEvent(QShowEvent *event)
{
    // The first size is the whole form (or the size given) bounded to the screen; the dialog then
    // keeps its size as the form grows or shrinks, and the form scrolls.
    if (!event->spontaneous() && !m_fitted) {
        m_fitted = true;
        fitToScreen(this, testAttribute(Qt::WA_Resized) ? size() : sizeHint());
    }
    QDialog::showEvent(event);
}

void RunConfigDialog::build()
{
    m_fields = new RunFieldBinder(this);
    auto *layout = new QVBoxLayout(this);
    // The form scrolls; the messages and the buttons under it stay in view at any dialog height.
    m_scroll = new FormScrollArea(this);
    m_scroll->setObjectName(QStringLiteral("formScroll"));
    m_scroll->setFrameShape(QFrame::NoFrame);
    m_scroll->setWidgetResizable(true);
    m_scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    auto *formWidget = new QWidget(m_scroll);
    auto *columns = new QHBoxLayout(formWidget);
    columns->setContentsMargins(0, 0, 0, 0);
    m_scroll->setWidget(formWidget);
    layout->addWidget(m_scroll, 1);

    // Left: data, model and training.
    auto *left = new QVBoxLayout;
    columns->addLayout(left, 1);
    auto *dataBox = new QGroupBox(tr("Data and output"), this);
    auto *dataForm = new QFormLayout(dataBox);
    m_data = m_fields->add<QLineEdit>(QStringLiteral("data"), this);
    dataForm->addRow(
        tr("Training data:"), folderRow(this, m_data, tr("Training data folder"), true));
    m_valDir = m_fields->add<QLineEdit>(QStringLiteral("val_dir"), this);
    m_valDir->setPlaceholderText(tr("optional: else the split below"));
    dataForm->addRow(tr("Validation data:"),
        folderRow(this, m_valDir, tr("Validation folder (optional)"), true));
    m_valSplit = m_fields->add<NumberSpinBox>(QStringLiteral("val_split"), this);
    m_valSplit->setSingleStep(0.05);
    dataForm->addRow(tr("Validation split:"), m_valSplit);
    auto *test = m_fields->add<QLineEdit>(QStringLiteral("test_dir"), this);
    test->setPlaceholderText(tr("optional: evaluated once at the end"));
    dataForm->addRow(tr("Test data:"), folderRow(this, test, tr("Test folder (optional)"), true));
    auto *out = m_fields->add<QLineEdit>(QStringLiteral("out"), this);
    dataForm->addRow(tr("Run folder:"), folderRow(this, out, tr("Run folder"), false));
    left->addWidget(dataBox);

    auto *modelBox = new QGroupBox(tr("Model and training"), this);
    auto *form = new QFormLayout(modelBox);
    auto *model = new QComboBox(this);
    for (const QString &name : modelNames())
        model->addItem(name, name);
    form->addRow(tr("Model:"), m_fields->bind(QStringLiteral("model"), model));
    // A run folder the dialog named (defaultRunDir: TIME-MODEL) follows the model chosen; one the
    // user named stays.
    connect(model, &QComboBox::currentIndexChanged, this, [this, model] {
        auto *out = qobject_cast<QLineEdit *>(m_fields->widget(QStringLiteral("out")));
        if (!out || m_fields->isShowing())
            return;
        const QFileInfo dir(out->text());
        static const QRegularExpression named(QStringLiteral("^(\\d{8}-\\d{6})-(.+)$"));
        const QRegularExpressionMatch m = named.match(dir.fileName());
        if (m.hasMatch() && modelNames().contains(m.captured(2)))
            out->setText(
                dir.dir().filePath(m.captured(1) % QLatin1Char('-') % model->currentText()));
    });
    auto *inputSize = m_fields->add<QSpinBox>(QStringLiteral("input_size"), this);
    inputSize->setSuffix(tr(" px"));
    form->addRow(tr("Input size:"), inputSize);
    auto *channels = new QComboBox(this);
    for (const char *c : { "1", "3" })
        channels->addItem(RunFieldBinder::choiceLabel(QStringLiteral("channels"), QLatin1String(c)),
            QLatin1String(c));
    form->addRow(tr("Channels:"), m_fields->bind(QStringLiteral("channels"), channels));
    // resnet18 only; auto takes the stem of the starting weights, or of the input size.
    form->addRow(tr("ResNet stem:"), m_fields->add(QStringLiteral("resnet_stem"), this));
    m_batch = m_fields->add<QSpinBox>(QStringLiteral("batch_size"), this);
    m_finder = new BatchSizeFinderField(this);
    auto *batchRow = new QHBoxLayout;
    batchRow->addWidget(m_batch, 1);
    batchRow->addWidget(m_finder);
    form->addRow(tr("Batch size:"), batchRow);
    form->addRow(m_finder->note()); // the whole row's width: the usual note fits on one line
    m_epochs = m_fields->add<QSpinBox>(QStringLiteral("epochs"), this);
    form->addRow(tr("Epochs:"), m_epochs);
    m_optimizer = m_fields->add<QComboBox>(QStringLiteral("optimizer"), this);
    form->addRow(tr("Optimizer:"), m_optimizer);
    m_lr = m_fields->add<NumberSpinBox>(QStringLiteral("lr"), this);
    m_lr->setSingleStep(0.001);
    form->addRow(tr("Learning rate:"), m_lr);
    form->addRow(tr("Learning-rate schedule:"), m_fields->add(QStringLiteral("lr_schedule"), this));
    form->addRow(tr("Seed:"), m_fields->add(QStringLiteral("seed"), this));
    auto *augment = m_fields->add<QCheckBox>(QStringLiteral("augment"), this);
    augment->setText(tr("random crop and flip"));
    form->addRow(tr("Augmentation:"), augment);
    left->addWidget(modelBox);

    auto *deviceBox = new QGroupBox(tr("Device and threads"), this);
    auto *deviceForm = new QFormLayout(deviceBox);
    m_deviceField = new DeviceField(this); // device and nproc (data parallel)
    m_deviceField->bindTo(*m_fields);
    m_device = m_deviceField->deviceBox();
    deviceForm->addRow(tr("Device:"), m_deviceField);
    deviceForm->addRow(tr("Precision:"), m_fields->add(QStringLiteral("precision"), this));
    deviceForm->addRow(tr("Memory format:"), m_fields->add(QStringLiteral("memory_format"), this));
    deviceForm->addRow(tr("Loader workers:"), m_fields->add(QStringLiteral("workers"), this));
    auto *threads = m_fields->add<QSpinBox>(QStringLiteral("threads"), this);
    threads->setSpecialValueText(tr("all cores (%1)").arg(QThread::idealThreadCount()));
    deviceForm->addRow(tr("Compute threads:"), threads);
    left->addWidget(deviceBox);
    left->addStretch(1);

    // Right: starting weights (init, normalization, fine-tuning), pruning with its preview.
    auto *right = new QVBoxLayout;
    columns->addLayout(right, 1);
    right->addWidget(m_startFrom = new StartFromField(this));
    m_startFrom->bindFields(m_fields);
    auto *pruneBox = new QGroupBox(tr("Pruning schedule"), this);
    right->addWidget(pruneBox, 1);
    auto *pruneLayout = new QVBoxLayout(pruneBox);
    m_schedule = new PruningScheduleEditor(this);
    pruneLayout->addWidget(m_fields->bind(QStringLiteral("prune"), m_schedule), 1);
    m_fields->bind(QStringLiteral("prune_scope"), m_schedule->scopeField()); // (the choices)
    m_fields->bind(QStringLiteral("prune_granularity"), m_schedule->granularityBox());
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
    connect(m_finder, &BatchSizeFinderField::findRequested, this, &RunConfigDialog::findBatchSize);
    connect(m_finder, &BatchSizeFinderField::busyChanged, this, &RunConfigDialog::setFinderBusy);
    connect(m_finder, &BatchSizeFinderField::found, this, [this](bool ok) {
        if (ok)
            m_batch->setValue(m_finder->report()->search.batchSize);
        revalidate();
        Q_EMIT batchSizeFound(ok);
    });
    connect(m_batch, &QSpinBox::valueChanged, m_finder, &BatchSizeFinderField::batchChanged);
    connect(m_optimizer, &QComboBox::currentIndexChanged, this, [this] {
        if (m_fields->isShowing())
            return;
        // Suggest the optimizer's usual learning rate when the rate is the other one's default.
        const Optimizer chosen = enumFromName<Optimizer>(m_optimizer->currentData().toString())
                                     .value_or(Optimizer::Sgd);
        const Optimizer other = chosen == Optimizer::Adam ? Optimizer::Sgd : Optimizer::Adam;
        if (m_lr->value() == defaultLearningRate(other))
            m_lr->setValue(defaultLearningRate(chosen));
    });
    setCudaDevices({});
    connect(m_fields, &RunFieldBinder::edited, this, &RunConfigDialog::revalidate);
    connect(m_startFrom, &StartFromField::inspected, this, &RunConfigDialog::revalidate);
}

void RunConfigDialog::setCudaDevices(const QStringList &names)
{
    m_deviceField->setCudaDevices(names);
}

void RunConfigDialog::setConfig(const RunConfig &c)
{
    m_base = c;
    m_fields->show(c);
    revalidate();
}

RunConfig RunConfigDialog::config() const
{
    RunConfig c = m_base;
    m_fields->read(c);
    return c;
}

void RunConfigDialog::setClassCounts(const QVector<int> &counts)
{
    m_classCounts = counts;
    revalidate();
}

qint64 RunConfigDialog::trainImages() const
{
    // A validation folder leaves all of the training folder for training.
    return stratifiedTrainCount(
        m_classCounts, m_valDir->text().isEmpty() ? m_valSplit->value() : 0.0);
}

qint64 RunConfigDialog::stepsPerEpoch() const
{
    const qint64 n = trainImages();
    const qint64 batch = std::max(1, m_batch->value());
    return (n + batch - 1) / batch;
}

qint64 RunConfigDialog::totalSteps() const
{
    return stepsPerEpoch() * m_epochs->value();
}

QVector<QPointF> RunConfigDialog::scheduleCurve() const
{
    return m_schedule->scheduleCurve();
}
QVector<QPointF> RunConfigDialog::appliedCurve() const
{
    return m_schedule->appliedCurve();
}
QCustomPlot *RunConfigDialog::previewPlot() const
{
    return m_schedule->previewPlot();
}
QString RunConfigDialog::errorText() const
{
    return m_error->text();
}
QString RunConfigDialog::warningText() const
{
    return m_warning->text();
}
bool RunConfigDialog::canStart() const
{
    return m_error->text().isEmpty();
}

void RunConfigDialog::revalidate()
{
    const qint64 total = totalSteps();
    m_schedule->setTotalSteps(total); // 0 without class counts; may refit the schedule's steps
    m_valSplit->setEnabled(m_valDir->text().isEmpty());
    RunConfig c = m_base;
    QString error;
    if (m_fields->read(c, &error))
        c.validate(&error);
    if (QString e = m_startFrom->check(c, int(m_classCounts.size())); !e.isEmpty())
        error = e; // what the starting weights say first: it may be why a field does not fit
    QStringList warnings;
    const auto schedule = PruningSchedule::parse(c.prune, nullptr);
    if (error.isEmpty() && c.precision != Precision::Fp32 && c.device == QLatin1String("auto")
        && m_device->findData(QStringLiteral("cuda:0")) < 0)
        error = tr("%1 needs a CUDA device, and none was found: choose fp32")
                    .arg(enumName(c.precision));
    if (error.isEmpty())
        error = DeviceField::problem(c); // data parallel: the batch split evenly
    for (const auto &[dir, what] : { std::pair(c.dataDir, tr("training data")),
             std::pair(c.valDir, tr("validation")), std::pair(c.testDir, tr("test")) }) {
        // (an empty data folder was reported by validate(); the others are optional)
        if (error.isEmpty() && !dir.isEmpty() && !QFileInfo(dir).isDir())
            error = tr("the %1 folder %2 does not exist").arg(what, dir);
    }
    if (error.isEmpty() && !m_classCounts.isEmpty()) {
        if (m_classCounts.size() < 2)
            error = tr("the data set has %n class(es); training needs at least 2", nullptr,
                int(m_classCounts.size()));
        else if (trainImages() == 0)
            error = tr("the data set has no training images left after the validation split");
    }
    if (error.isEmpty() && schedule && !schedule->isNone() && total > 0) {
        // Masks change only at steps begin + k·frequency (steps count from 1), up to the end step.
        if (QString why; !schedule->updatesWithin(total, &why))
            error = why;
        else if (schedule->kind() == PruningSchedule::Kind::PolynomialDecay
            && schedule->end() > total)
            warnings << tr(
                "the final sparsity is reached at step %1, after the run ends (step %2): it will "
                "stop at %3 %")
                            .arg(schedule->end())
                            .arg(total)
                            .arg(100.0 * schedule->sparsityAt(total), 0, 'f', 1);
    }
    if (c.batchSize > 0 && !m_classCounts.isEmpty() && c.batchSize > trainImages()
        && trainImages() > 0)
        warnings << tr("the batch (%1) is larger than the training set (%2 images)")
                        .arg(c.batchSize)
                        .arg(trainImages());
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
        m_steps->setText(
            tr("%1 training images ÷ batch %2 = %3 steps per epoch; %4 steps in %5 epoch(s).")
                .arg(trainImages())
                .arg(c.batchSize)
                .arg(stepsPerEpoch())
                .arg(total)
                .arg(c.epochs));
    reserveWrappedLines(m_steps);
}

RunConfig RunConfigDialog::finderConfig() const
{
    RunConfig c = config();
    if (!m_classCounts.isEmpty())
        c.model.classes = int(m_classCounts.size());
    return c;
}

qint64 RunConfigDialog::finderMaxSamples() const
{
    return m_classCounts.isEmpty() ? 0 : trainImages();
}

void RunConfigDialog::setFinderBusy(bool busy)
{
    // What the answer depends on stays as it was asked for while the search runs; Start waits for
    // it.
    for (const char *key : { "batch_size", "model", "input_size", "channels", "optimizer", "device",
             "precision", "memory_format", "threads" })
        m_fields->widget(QLatin1String(key))->setEnabled(!busy);
    if (busy)
        m_start->setEnabled(false);
}

bool RunConfigDialog::isFindingBatchSize() const
{
    return m_finder->isRunning();
}

std::optional<BatchSizeReport> RunConfigDialog::batchSizeReport() const
{
    return m_finder->report();
}

QString RunConfigDialog::batchNoteText() const
{
    return m_finder->noteText();
}

void RunConfigDialog::findBatchSize()
{
    m_finder->find(finderConfig(), finderMaxSamples());
}

QString RunConfigDialog::commandLine(const RunConfig &c, const QString &program)
{
    return runCommandLine(c, program);
}

QString RunConfigDialog::defaultRunDir(const QString &model)
{
    return userDataDir() % QStringLiteral("/runs/")
        % QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"))
        % QLatin1Char('-') % model;
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
        // First start: one epoch with a pruning schedule to watch; its steps follow the run (the
        // constructor), so the final sparsity is reached within it.
        config.epochs = 1;
        config.prune = QStringLiteral("polynomial:0.5:0.8:0:1000:3:100");
    }
    config.outDir = defaultRunDir(config.model.name); // a new run gets a new folder
    return config;
}

void RunConfigDialog::remember() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("run/config"),
        QJsonDocument(config().toJson()).toJson(QJsonDocument::Compact));
    settings.setValue(QLatin1String(kFollowKey), m_schedule->stepsFollowRun());
}

} // namespace leantune
