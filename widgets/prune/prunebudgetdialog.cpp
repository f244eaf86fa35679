#include "widgets/prune/prunebudgetdialog.h"

#include "job/localranks.h"
#include "widgets/common/screenfit.h"
#include "widgets/dialogs/folderrow.h"
#include "widgets/dialogs/runfieldbinder.h"
#include "widgets/prune/pruneadvisorjob.h"
#include "widgets/prune/sensitivityplot.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

namespace leantune {

PruneBudgetDialog::PruneBudgetDialog(const QString &runDir, const QString &dataDir, QWidget *parent)
    : QDialog(parent)
    , m_runDir(QFileInfo(runDir).absoluteFilePath())
    , m_job(new PruneAdvisorJob(this))
{
    setWindowTitle(tr("Prune to a budget — %1").arg(QFileInfo(m_runDir).fileName()));
    auto *layout = new QVBoxLayout(this);
    m_header = new QLabel(this);
    m_header->setObjectName(QStringLiteral("header"));
    m_header->setWordWrap(true);
    m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_header);

    auto *columns = new QHBoxLayout;
    layout->addLayout(columns, 1);
    auto *chartBox = new QGroupBox(tr("Sensitivity: each layer pruned alone"), this);
    auto *chartLayout = new QVBoxLayout(chartBox);
    m_plot = new SensitivityPlot(chartBox);
    chartLayout->addWidget(m_plot);
    columns->addWidget(chartBox, 3);

    auto *right = new QVBoxLayout;
    columns->addLayout(right, 2);
    auto *inputs = new QGroupBox(tr("Budget"), this);
    auto *form = new QFormLayout(inputs);
    m_data = new QLineEdit(dataDir, inputs);
    m_data->setObjectName(QStringLiteral("dataDir"));
    m_data->setToolTip(tr("The run's training folder: the trials train and validate on it"));
    form->addRow(tr("Data folder:"), folderRow(inputs, m_data, tr("Training folder"), true));
    m_budget = new QDoubleSpinBox(inputs);
    m_budget->setObjectName(QStringLiteral("maxAccuracyDrop"));
    // Wider than 0..100 so a value out of range stays visible and is explained inline.
    m_budget->setRange(-1000.0, 1000.0);
    m_budget->setDecimals(2);
    m_budget->setSingleStep(0.25);
    m_budget->setValue(1.0);
    m_budget->setSuffix(tr(" points"));
    m_budget->setToolTip(tr("Validation accuracy the pruned model may lose, in points (0 to 100)"));
    form->addRow(tr("Accuracy may drop by:"), m_budget);
    m_granularity = new QComboBox(inputs);
    m_granularity->setObjectName(QStringLiteral("granularity"));
    for (const PruneGranularity g : { PruneGranularity::Weight, PruneGranularity::Channel })
        m_granularity->addItem(
            RunFieldBinder::choiceLabel(QStringLiteral("prune_granularity"), enumName(g)),
            enumName(g));
    form->addRow(tr("Granularity:"), m_granularity);
    auto *tuning = new QHBoxLayout;
    m_epochs = new QSpinBox(inputs);
    m_epochs->setObjectName(QStringLiteral("epochs"));
    m_epochs->setRange(1, 100);
    m_epochs->setSuffix(tr(" epoch(s)"));
    m_epochs->setToolTip(tr("Fine-tuning epochs of each trial and of the proposed run"));
    m_trials = new QSpinBox(inputs);
    m_trials->setObjectName(QStringLiteral("trials"));
    m_trials->setRange(1, 20);
    m_trials->setValue(4);
    m_trials->setSuffix(tr(" trials"));
    m_trials->setToolTip(tr("Fine-tuning trials, bisected between the scan's bound and 97 %"));
    tuning->addWidget(m_epochs);
    tuning->addWidget(m_trials);
    form->addRow(tr("Fine-tuning:"), tuning);
    right->addWidget(inputs);

    auto *proposal = new QGroupBox(tr("Proposal"), this);
    auto *proposalForm = new QFormLayout(proposal);
    m_sparsity = new QLabel(QStringLiteral("—"), proposal);
    m_sparsity->setObjectName(QStringLiteral("sparsity"));
    proposalForm->addRow(tr("Overall sparsity:"), m_sparsity);
    m_scope = new QLabel(QStringLiteral("—"), proposal);
    m_scope->setObjectName(QStringLiteral("scope"));
    m_scope->setWordWrap(true);
    proposalForm->addRow(tr("Scope:"), m_scope);
    m_predicted = new QLabel(QStringLiteral("—"), proposal);
    m_predicted->setObjectName(QStringLiteral("predictedAccuracy"));
    m_predicted->setWordWrap(true);
    proposalForm->addRow(tr("Predicted accuracy:"), m_predicted);
    // A line per trial (up to 20): the list scrolls where the dialog has no room for all of them,
    // instead of being clipped.
    auto *trialScroll = new QScrollArea(proposal);
    trialScroll->setObjectName(QStringLiteral("trialsScroll"));
    trialScroll->setWidgetResizable(true);
    trialScroll->setFrameShape(QFrame::NoFrame);
    trialScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_trialList = new QLabel(QStringLiteral("—"));
    m_trialList->setObjectName(QStringLiteral("trials"));
    m_trialList->setWordWrap(true);
    m_trialList->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_trialList->setToolTip(
        tr("Each fine-tuning trial: its sparsity, scope and validation accuracy"));
    trialScroll->setWidget(m_trialList);
    trialScroll->viewport()->setAutoFillBackground(false);
    m_trialList->setAutoFillBackground(false);
    proposalForm->addRow(tr("Trials:"), trialScroll);
    m_command = new QLineEdit(proposal);
    m_command->setObjectName(QStringLiteral("command"));
    m_command->setReadOnly(true);
    m_command->setPlaceholderText(tr("the train command line"));
    proposalForm->addRow(tr("Command:"), m_command);
    right->addWidget(proposal, 1); // the room left goes to the trial list

    auto *progressRow = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("cancel"));
    progressRow->addWidget(m_progress, 1);
    progressRow->addWidget(m_cancel);
    right->addLayout(progressRow);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setWordWrap(true);
    right->addWidget(m_status);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b00020; }"));
    m_error->hide();
    right->addWidget(m_error);

    auto *buttons = new QDialogButtonBox(this);
    m_find = buttons->addButton(tr("Find the highest sparsity"), QDialogButtonBox::ActionRole);
    m_find->setObjectName(QStringLiteral("find"));
    m_find->setToolTip(tr("Fine-tune short trials at candidate sparsities (as leantune-cli "
                          "advise): minutes per trial"));
    m_start = buttons->addButton(tr("Start..."), QDialogButtonBox::AcceptRole);
    m_start->setObjectName(QStringLiteral("start"));
    m_start->setToolTip(tr("Start the proposed run"));
    buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_find, &QPushButton::clicked, this, &PruneBudgetDialog::findSparsity);
    connect(m_cancel, &QPushButton::clicked, this, &PruneBudgetDialog::cancel);
    connect(m_start, &QPushButton::clicked, this, [this] {
        if (!m_advice || !m_advice->found)
            return;
        const RunConfig config = m_advice->proposal;
        accept(); // out of the way of the run dialog the window opens for it
        Q_EMIT startRequested(config);
    });
    connect(m_budget, &QDoubleSpinBox::valueChanged, this, [this] {
        m_error->hide();
        checkInputs();
    });
    connect(m_data, &QLineEdit::textChanged, this, [this] { m_error->hide(); });
    connect(m_granularity, &QComboBox::currentIndexChanged, this, [this] {
        m_advice.reset();
        showAdvice({});
        startScan();
    });
    connect(m_job, &PruneAdvisorJob::progress, this, [this](const QString &text, double f) {
        m_status->setText(text);
        m_progress->setValue(int(f * 1000.0));
    });
    connect(m_job, &PruneAdvisorJob::scanReady, this, [this](const SensitivityScan &scan) {
        setBusy(false);
        m_plot->setScan(scan);
        m_status->setText(tr("%1 layers scanned at %2 sparsities on %3 images (dense accuracy "
                             "%4 % on them)")
                              .arg(scan.layers.size())
                              .arg(scan.layers.isEmpty() ? 0 : scan.layers.first().points.size())
                              .arg(scan.images)
                              .arg(100.0 * scan.baseAccuracy, 0, 'f', 1));
        Q_EMIT scanShown();
    });
    connect(m_job, &PruneAdvisorJob::adviceReady, this, [this](const PruneAdvice &advice) {
        setBusy(false);
        m_advice = advice;
        showAdvice(advice);
        if (m_plot->lineCount() == 0) {
            if (const std::optional<SensitivityScan> scan
                = readSensitivityScan(advice.scanFile, nullptr))
                m_plot->setScan(*scan);
        }
        if (!advice.found)
            showError(advice.noFitMessage);
        Q_EMIT adviceShown();
    });
    connect(m_job, &PruneAdvisorJob::failed, this, [this](const QString &message) {
        setBusy(false);
        if (m_cancelled)
            m_status->setText(tr("Cancelled"));
        else
            showError(message);
        m_cancelled = false;
    });

    showAdvice({});
    loadRun();
    fitToScreen(this, QSize(1180, 640));
}

PruneBudgetDialog::~PruneBudgetDialog() = default;

PruneAdvisorOptions PruneBudgetDialog::options() const
{
    PruneAdvisorOptions o;
    o.dataDir = m_data->text().trimmed();
    o.maxAccuracyDrop = m_budget->value();
    o.granularity = enumFromName<PruneGranularity>(m_granularity->currentData().toString())
                        .value_or(PruneGranularity::Weight);
    o.epochs = m_epochs->value();
    o.trials = m_trials->value();
    const QString cli = LocalRanks::findCli();
    o.program = cli.isEmpty() ? QStringLiteral("leantune-cli") : cli;
    return o;
}

void PruneBudgetDialog::loadRun()
{
    QString error;
    m_run = readAdvisedRun(m_runDir, &error);
    if (!m_run) {
        m_header->setText(QDir::toNativeSeparators(m_runDir));
        showError(error);
        setBusy(false);
        m_find->setEnabled(false);
        m_granularity->setEnabled(false);
        return;
    }
    m_header->setText(tr("%1: %2, dense validation accuracy %3 %")
                          .arg(QDir::toNativeSeparators(m_runDir), m_run->config.model.name)
                          .arg(100.0 * m_run->denseValAccuracy, 0, 'f', 2));
    if (m_run->config.pruneGranularity == PruneGranularity::Channel) {
        const QSignalBlocker blocker(m_granularity);
        m_granularity->setCurrentIndex(1);
    }
    startScan();
}

void PruneBudgetDialog::startScan()
{
    if (!m_run)
        return;
    m_plot->clear();
    m_error->hide();
    if (m_job->isRunning()) {
        m_job->cancel(); // its end shows "cancelled"; the scan is started again from there
        connect(
            m_job, &PruneAdvisorJob::failed, this, [this] { startScan(); },
            Qt::SingleShotConnection);
        return;
    }
    QString error;
    if (!m_job->startScan(m_runDir, options(), &error)) {
        showError(error);
        return;
    }
    m_status->setText(tr("Reading the sensitivity scan..."));
    setBusy(true);
}

bool PruneBudgetDialog::checkInputs()
{
    QString error;
    if (!options().validate(&error)) {
        showError(error.replace(QLatin1String(" (--max-accuracy-drop)"), QString()));
        m_find->setEnabled(false);
        return false;
    }
    m_find->setEnabled(m_run && !m_job->isRunning());
    return true;
}

bool PruneBudgetDialog::findSparsity()
{
    if (!m_run || m_job->isRunning() || !checkInputs())
        return false;
    const PruneAdvisorOptions o = options();
    if (!QFileInfo(o.dataDir).isDir()) {
        showError(tr("data folder %1 does not exist").arg(o.dataDir));
        return false;
    }
    m_error->hide();
    m_advice.reset();
    showAdvice({});
    QString error;
    if (!m_job->startAdvice(m_runDir, o, &error)) {
        showError(error);
        return false;
    }
    m_status->setText(tr("Starting the advisor..."));
    setBusy(true);
    return true;
}

void PruneBudgetDialog::cancel()
{
    m_cancelled = m_job->isRunning();
    m_job->cancel();
}

bool PruneBudgetDialog::isBusy() const
{
    return m_job->isRunning();
}

QString PruneBudgetDialog::errorText() const
{
    return m_error->isHidden() ? QString() : m_error->text();
}

QString PruneBudgetDialog::statusText() const
{
    return m_status->text();
}

void PruneBudgetDialog::showError(const QString &message)
{
    m_error->setText(message);
    m_error->show();
    Q_EMIT errorShown(message);
}

void PruneBudgetDialog::showAdvice(const PruneAdvice &advice)
{
    const bool found = advice.found;
    m_start->setEnabled(found);
    QStringList trials;
    for (const PruneTrial &t : advice.trials)
        trials << tr("%1 % (%2): %3 %, %4")
                      .arg(100.0 * t.sparsity, 0, 'f', 1)
                      .arg(enumName(t.scope))
                      .arg(100.0 * t.valAccuracy, 0, 'f', 2)
                      .arg(t.fits ? tr("within") : tr("over"));
    m_trialList->setText(trials.isEmpty() ? QStringLiteral("—") : trials.join(QLatin1Char('\n')));
    if (!found) {
        for (QLabel *l : { m_sparsity, m_scope, m_predicted })
            l->setText(QStringLiteral("—"));
        m_command->clear();
        m_command->setToolTip(QString());
        return;
    }
    m_sparsity->setText(tr("%1 %").arg(100.0 * advice.sparsity, 0, 'f', 1));
    m_scope->setText(
        RunFieldBinder::choiceLabel(QStringLiteral("prune_scope"), enumName(advice.scope)));
    m_predicted->setText(tr("%1 % validation after %2 epoch(s) of fine-tuning (dense %3 %, "
                            "%4 trials)")
                             .arg(100.0 * advice.predictedValAccuracy, 0, 'f', 2)
                             .arg(advice.proposal.epochs)
                             .arg(100.0 * advice.denseValAccuracy, 0, 'f', 2)
                             .arg(advice.trials.size()));
    m_command->setText(advice.command);
    m_command->setToolTip(advice.command);
    m_command->setCursorPosition(0);
    m_status->setText(tr("Done in %1 s (the scan %2 s)")
                          .arg(advice.seconds, 0, 'f', 0)
                          .arg(advice.scanSeconds, 0, 'f', 0));
}

void PruneBudgetDialog::setBusy(bool busy)
{
    m_cancel->setEnabled(busy);
    if (!busy)
        m_progress->setValue(0);
    m_find->setEnabled(!busy && m_run && options().validate(nullptr));
    m_budget->setEnabled(!busy);
    m_granularity->setEnabled(!busy && m_run);
    m_epochs->setEnabled(!busy);
    m_trials->setEnabled(!busy);
    m_data->setEnabled(!busy);
}

} // namespace leantune
