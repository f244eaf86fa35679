#include "mainwindow.h"

#include "widgets/audit/dataissuesview.h"
#include "widgets/charts/livecharts.h"
#include "widgets/common/screenfit.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/eval/evaluationview.h"
#include "widgets/predict/predictdialog.h"
#include "widgets/prune/prunebudgetdialog.h"
#include "dataset/idximporter.h"
#include "dataset/sampledata.h"
#include "widgets/dialogs/exportdialog.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "widgets/runs/runhistorywidget.h"
#include "job/runjob.h"
#include "prune/pruningschedule.h"
#include "store/runstore.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QKeySequence>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPointer>
#include <QProgressBar>
#include <QProgressDialog>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QStringBuilder>
#include <QStyle>
#include <QTabWidget>
#include <QTextDocument>
#include <QThread>
#include <QTime>
#include <QToolBar>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace leantune {

namespace {
constexpr int kMaxRecent = 8;
enum Tab { DatasetTab, DataIssuesTab, TrainingTab, HistoryTab };

QString percent(double fraction)
{
    return QStringLiteral("%1 %").arg(100 * fraction, 0, 'g', 3);
}
} // namespace

QString MainWindow::scheduleText(const QString &spec)
{
    QString error;
    const std::optional<PruningSchedule> s = PruningSchedule::parse(spec, &error);
    if (!s)
        return tr("pruning %1").arg(spec);
    switch (s->kind()) {
    case PruningSchedule::Kind::None:
        break;
    case PruningSchedule::Kind::PolynomialDecay:
        return tr("pruning: polynomial %1 → %2, steps %3–%4")
            .arg(percent(s->initial()), percent(s->final()))
            .arg(s->begin())
            .arg(s->end());
    case PruningSchedule::Kind::ConstantSparsity:
        return s->end() >= 0
            ? tr("pruning: constant %1, steps %2–%3")
                  .arg(percent(s->final()))
                  .arg(s->begin())
                  .arg(s->end())
            : tr("pruning: constant %1 from step %2").arg(percent(s->final())).arg(s->begin());
    }
    return tr("no pruning");
}

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_store(std::make_unique<RunStore>())
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("LeanTune"));
    if (!m_store->open(RunStore::defaultPath()))
        qWarning("run history unavailable: %s", qPrintable(m_store->lastError()));

    buildCentral();
    buildActions();
    buildDocks();
    buildStatusBar();

    connect(m_browser, &DatasetBrowser::scanStarted, this, [this](const QString &folder) {
        setWindowTitle(tr("LeanTune — %1").arg(QFileInfo(folder).fileName()));
        log(tr("scanning %1").arg(QDir::toNativeSeparators(folder)));
    });
    connect(m_browser, &DatasetBrowser::scanFinished, this, [this](const DatasetIndex &index) {
        log(tr("%1: %2 images in %3 classes, %4 invalid files")
                .arg(QFileInfo(index.root).fileName())
                .arg(index.images.size())
                .arg(index.classes.size())
                .arg(index.invalid.size()));
        updateActions();
    });
    connect(m_browser, &DatasetBrowser::scanFailed, this, [this](const QString &message) {
        log(tr("scan failed: %1").arg(message));
        updateActions();
    });

    connect(m_browser, &DatasetBrowser::predictRequested, this, &MainWindow::predictImages);
    setAcceptDrops(true); // images dropped on the window are predicted

    connect(m_history, &RunHistoryWidget::resumeRequested, this,
        [this](qint64 runId, const RunConfig &config) {
            QString error;
            if (!resumeRun(runId, config, &error))
                QMessageBox::warning(this, tr("Cannot resume the run"), error);
        });
    connect(m_history, &RunHistoryWidget::evaluationRequested, this, &MainWindow::showEvaluation);
    connect(this, &MainWindow::evaluationRequested, this,
        [this](const QString &runDir) { showEvaluation(runDir, {}); });
    connect(m_history, &RunHistoryWidget::compareRequested, this,
        [this](const QString &a, const QString &ta, const QString &b, const QString &tb) {
            m_tabs->setCurrentWidget(m_evaluation);
            m_evaluation->compareRuns(a, ta, b, tb);
        });
    connect(m_history, &RunHistoryWidget::rerunRequested, this, [this](const RunConfig &config) {
        RunConfigDialog dialog(this);
        RunConfig c = config;
        c.outDir = RunConfigDialog::defaultRunDir(c.model.name);
        prepareRunDialog(dialog, c);
        if (dialog.exec() == QDialog::Accepted)
            startRun(dialog.config());
    });
    connect(m_history, &RunHistoryWidget::pruneRequested, this,
        [this](const QString &runDir, const QString &dataDir) {
            auto *prune = new PruneBudgetDialog(runDir, dataDir, this);
            prune->setAttribute(Qt::WA_DeleteOnClose);
            connect(prune, &PruneBudgetDialog::startRequested, this, [this](const RunConfig &c) {
                RunConfigDialog dialog(this); // the proposed run, shown as "Run again" shows one
                prepareRunDialog(dialog, c);
                if (dialog.exec() == QDialog::Accepted)
                    startRun(dialog.config());
            });
            prune->show();
        });

    QSettings settings;
    m_recent = settings.value(QStringLiteral("recentFolders")).toStringList();
    rebuildRecentMenu();
    fitToScreen(this, QSize(1280, 860)); // the first size
    // A geometry saved on a larger screen is brought inside this one (Qt 6.4 moves it, but keeps
    // its size).
    if (restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()))
        fitToScreen(this, size());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_history->reload();

    m_memoryTimer.setInterval(1000);
    connect(&m_memoryTimer, &QTimer::timeout, this, &MainWindow::updateMemory);
    m_memoryTimer.start();
    updateMemory();
    updateActions();
}

MainWindow::~MainWindow()
{
    m_job.reset(); // stops a run and waits for the trainer before the store goes
}

bool MainWindow::runActive() const
{
    return m_job && m_job->isActive();
}

// The window follows JOB: its state, progress, samples, log, and its end.
void MainWindow::connectJob(RunJob *job)
{
    connect(job, &RunJob::stateChanged, this, [this] {
        updateActions();
        updateProgress();
    });
    connect(
        job, &RunJob::started, this, [this](const QString &device, qint64 total, qint64 perEpoch) {
            m_deviceLabel->setText(device);
            log(tr("training on %1: %2 steps (%3 per epoch)").arg(device).arg(total).arg(perEpoch));
            updateProgress();
        });
    connect(job, &RunJob::sampleReady, m_charts, &LiveCharts::addSample);
    connect(job, &RunJob::sampleReady, this, [this] {
        updateActions(); // Pause again after an evaluation pass
        updateProgress();
    });
    connect(job, &RunJob::evaluationProgress, this, [this](const QString &, qint64 done) {
        if (done == 0)
            updateActions(); // no Pause during the pass
        updateProgress();
    });
    connect(job, &RunJob::epochFinished, this, [this](const EpochSummary &e) {
        log(tr("epoch %1: train loss %2, accuracy %3 %; validation accuracy %4 %; sparsity %5 %")
                .arg(e.epoch + 1)
                .arg(e.trainLoss, 0, 'f', 4)
                .arg(100 * e.trainAccuracy, 0, 'f', 2)
                .arg(100 * e.valAccuracy, 0, 'f', 2)
                .arg(100 * e.measuredSparsity, 0, 'f', 1));
    });
    connect(job, &RunJob::logMessage, this, &MainWindow::log);
    connect(job, &RunJob::finished, this, &MainWindow::onRunFinished);
    connect(job, &RunJob::failed, this, [this](const QString &message) {
        showError(message);
        Q_EMIT runEnded(false);
    });
    connect(job, &RunJob::runRecorded, m_history, &RunHistoryWidget::reload);
}

void MainWindow::buildCentral()
{
    m_tabs = new QTabWidget(this);
    m_tabs->setDocumentMode(true);
    m_browser = new DatasetBrowser(m_tabs);
    m_tabs->addTab(m_browser, tr("Data set"));
    // Data issues, beside the browser, reviews the open folder's audit; its decisions change what
    // the scan counts, so the browser (and its Classes and Data checks docks) rescans once the
    // decisions pause.
    auto *issues = new DataIssuesView(m_tabs);
    m_tabs->addTab(issues, tr("Data issues"));
    connect(m_browser, &DatasetBrowser::scanFinished, issues,
        [issues](const DatasetIndex &index) { issues->setDataFolder(index.root); });
    auto *rescan = new QTimer(this);
    rescan->setSingleShot(true);
    rescan->setInterval(500);
    connect(rescan, &QTimer::timeout, this, [this, rescan] {
        if (m_browser->isScanning() || runActive())
            rescan->start(); // not under a scan or a run that reads the folder
        else if (!m_browser->folder().isEmpty())
            m_browser->openFolder(m_browser->folder());
    });
    connect(issues, &DataIssuesView::correctionsChanged, this, [this, rescan](const QString &dir) {
        if (QDir(dir).absolutePath() == QDir(m_browser->folder()).absolutePath())
            rescan->start();
    });

    m_trainingTab = new QWidget(m_tabs);
    auto *layout = new QVBoxLayout(m_trainingTab);
    layout->setContentsMargins(6, 6, 6, 6);
    m_banner = new QLabel(m_trainingTab);
    m_banner->setObjectName(QStringLiteral("errorBanner"));
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->setStyleSheet(
        QStringLiteral("QLabel { background: #fdecea; color: #8a1c1c; border: 1px solid #e0a0a0; "
                       "border-radius: 4px; padding: 6px; }"));
    m_banner->hide();
    layout->addWidget(m_banner);
    auto *bar = new QHBoxLayout;
    m_runTitle
        = new QLabel(tr("No run yet: press Start (Ctrl+R) to configure one."), m_trainingTab);
    m_runTitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_runTitle->setWordWrap(true); // a long title takes two lines, not the window's width
    m_progress = new QProgressBar(m_trainingTab);
    m_progress->setObjectName(QStringLiteral("runProgress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setMinimumWidth(260);
    m_progressText = new QLabel(m_trainingTab);
    m_progressText->setObjectName(QStringLiteral("progressText"));
    bar->addWidget(m_runTitle, 1);
    bar->addWidget(m_progressText);
    bar->addWidget(m_progress);
    layout->addLayout(bar);
    m_charts = new LiveCharts(m_trainingTab);
    layout->addWidget(m_charts, 1);
    // The last finished run's figures, each named with its set, under the charts.
    m_result = new QWidget(m_trainingTab);
    m_result->setObjectName(QStringLiteral("resultSummary"));
    auto *resultLayout = new QHBoxLayout(m_result);
    resultLayout->setContentsMargins(0, 4, 0, 0);
    m_resultText = new QLabel(m_result);
    m_resultText->setTextFormat(Qt::RichText);
    // Wrapped, the table's captions break at spaces: without it the table's one-line width becomes
    // the window's minimum and a stopped run's summary pushed the window past a small screen.
    m_resultText->setWordWrap(true);
    m_resultText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_evaluationButton = new QPushButton(tr("Evaluation..."), m_result);
    m_evaluationButton->setObjectName(QStringLiteral("openEvaluation"));
    m_evaluationButton->setToolTip(
        tr("Per-class figures, the confusion matrix and the images behind each number"));
    resultLayout->addWidget(m_resultText, 1);
    resultLayout->addWidget(m_evaluationButton, 0, Qt::AlignVCenter);
    connect(m_evaluationButton, &QPushButton::clicked, this,
        [this] { Q_EMIT evaluationRequested(m_resultRunDir); });
    m_result->hide();
    layout->addWidget(m_result);
    m_tabs->addTab(m_trainingTab, tr("Training"));

    m_history = new RunHistoryWidget(m_store.get(), m_tabs);
    m_tabs->addTab(m_history, tr("Run history"));
    m_evaluation = new EvaluationView(m_tabs);
    m_tabs->addTab(m_evaluation, tr("Evaluation"));
    setCentralWidget(m_tabs);
}

void MainWindow::buildActions()
{
    QStyle *s = style();
    m_openAction
        = new QAction(s->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open data folder..."), this);
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setStatusTip(tr("Open an image folder with one sub-folder per class"));
    connect(m_openAction, &QAction::triggered, this, [this] {
        const QString dir
            = QFileDialog::getExistingDirectory(this, tr("Open data folder"), m_browser->folder());
        if (!dir.isEmpty())
            openFolder(dir);
    });
    auto *sample = new QAction(tr("Open the &sample data set (Fashion-MNIST)"), this);
    connect(sample, &QAction::triggered, this, &MainWindow::openSampleDataset);
    auto *import = new QAction(tr("&Import IDX data set..."), this);
    import->setStatusTip(tr("Convert MNIST-style IDX files into an image folder"));
    connect(import, &QAction::triggered, this, &MainWindow::importIdx);
    m_exportAction
        = new QAction(s->standardIcon(QStyle::SP_DialogSaveButton), tr("&Export model..."), this);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    connect(m_exportAction, &QAction::triggered, this, &MainWindow::exportModel);
    auto *quit = new QAction(tr("&Quit"), this);
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);

    m_startAction
        = new QAction(s->standardIcon(QStyle::SP_MediaPlay), tr("&Start training..."), this);
    m_startAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R)); // F5 refreshes the history
    m_startAction->setStatusTip(tr("Configure and start a training run on the open data set"));
    connect(m_startAction, &QAction::triggered, this, &MainWindow::configureAndStart);
    m_pauseAction = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("&Pause"), this);
    m_pauseAction->setObjectName(QStringLiteral("pauseAction"));
    m_pauseAction->setCheckable(true);
    m_pauseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    connect(m_pauseAction, &QAction::toggled, this, &MainWindow::setPaused);
    m_stopAction = new QAction(s->standardIcon(QStyle::SP_MediaStop), tr("S&top"), this);
    m_stopAction->setShortcuts(
        { QKeySequence(Qt::CTRL | Qt::Key_Period), QKeySequence(Qt::SHIFT | Qt::Key_F5) });
    m_stopAction->setStatusTip(tr("Stop after the current batch; a checkpoint is saved"));
    connect(m_stopAction, &QAction::triggered, this, &MainWindow::stopRun);

    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addAction(sample);
    file->addSeparator();
    file->addAction(import);
    file->addAction(m_exportAction);
    file->addSeparator();
    file->addAction(quit);
    QMenu *run = menuBar()->addMenu(tr("&Run"));
    run->addAction(m_startAction);
    run->addAction(m_pauseAction);
    run->addAction(m_stopAction);
    m_viewMenu = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_tabs->count(); ++i) {
        QAction *a = m_viewMenu->addAction(m_tabs->tabText(i), this, [this, i] { showTab(i); });
        a->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
    }
    auto *refresh
        = m_viewMenu->addAction(tr("&Refresh run history"), this, [this] { m_history->refresh(); });
    refresh->setObjectName(QStringLiteral("refreshHistory"));
    refresh->setShortcut(QKeySequence::Refresh);
    refresh->setStatusTip(tr("Show runs that leantune-cli or another window recorded"));
    m_viewMenu->addSeparator();
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About LeanTune"), this, [this] {
        QMessageBox::about(this, tr("About LeanTune"),
            tr("<b>LeanTune %1</b><p>Train image classifiers that fit in memory: stream the data "
               "from disk, prune on a schedule, and watch throughput, memory and sparsity "
               "live.</p>")
                .arg(QApplication::applicationVersion()));
    });

    QToolBar *tools = addToolBar(tr("Main"));
    tools->setObjectName(QStringLiteral("mainToolBar"));
    tools->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    tools->addAction(m_openAction);
    tools->addSeparator();
    tools->addAction(m_startAction);
    tools->addAction(m_pauseAction);
    tools->addAction(m_stopAction);
    tools->addSeparator();
    tools->addAction(m_exportAction);
}

void MainWindow::buildDocks()
{
    const auto dock = [this](const QString &title, const char *name, QWidget *content,
                          Qt::DockWidgetArea area) {
        auto *d = new QDockWidget(title, this);
        d->setObjectName(QLatin1String(name));
        d->setWidget(content);
        d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable
            | QDockWidget::DockWidgetClosable);
        addDockWidget(area, d);
        m_viewMenu->addAction(d->toggleViewAction());
        return d;
    };
    QDockWidget *classes
        = dock(tr("Classes"), "classesDock", m_browser->classOverview(), Qt::LeftDockWidgetArea);
    QDockWidget *checks
        = dock(tr("Data checks"), "checksDock", m_browser->dataChecks(), Qt::LeftDockWidgetArea);
    tabifyDockWidget(classes, checks);
    classes->raise();
    m_log = new QPlainTextEdit(this);
    m_log->setObjectName(QStringLiteral("runLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    QDockWidget *logDock = dock(tr("Log"), "logDock", m_log, Qt::BottomDockWidgetArea);
    resizeDocks({ classes }, { 340 }, Qt::Horizontal);
    resizeDocks({ logDock }, { 110 }, Qt::Vertical);
}

void MainWindow::buildStatusBar()
{
    m_deviceLabel = new QLabel(this);
    m_deviceLabel->setObjectName(QStringLiteral("deviceLabel"));
    QString error;
    const std::optional<QString> device = resolveDevice(QStringLiteral("auto"), &error);
    m_deviceLabel->setText(
        deviceDescription(device.value_or(QStringLiteral("cpu")), RunConfig().effectiveThreads()));
    m_deviceLabel->setToolTip(tr("The device a run uses by default"));
    m_stateLabel = new QLabel(this);
    m_stateLabel->setObjectName(QStringLiteral("stateLabel"));
    m_memoryLabel = new QLabel(this);
    m_memoryLabel->setObjectName(QStringLiteral("memoryLabel"));
    statusBar()->addPermanentWidget(m_stateLabel);
    statusBar()->addPermanentWidget(m_memoryLabel);
    statusBar()->addPermanentWidget(m_deviceLabel);
}

QString MainWindow::statusText() const
{
    return m_deviceLabel->text() % QStringLiteral(" | ") % m_stateLabel->text()
        % QStringLiteral(" | ") % m_memoryLabel->text();
}

QString MainWindow::runTitleText() const
{
    return m_runTitle->text();
}

QString MainWindow::errorBannerText() const
{
    return m_banner->isVisibleTo(m_trainingTab) ? m_banner->text() : QString();
}

void MainWindow::showTab(int index)
{
    m_tabs->setCurrentIndex(index);
}

void MainWindow::showEvaluation(const QString &runDir, const QString &title)
{
    m_tabs->setCurrentWidget(m_evaluation);
    m_evaluation->showRun(runDir, title);
}

void MainWindow::updateMemory()
{
    const QLocale locale;
    QString text = tr("host memory: %1 of %2")
                       .arg(locale.formattedDataSize(hostRssBytes()),
                           locale.formattedDataSize(hostTotalMemoryBytes()));
    const MetricsSample s = m_job ? m_job->lastSample() : MetricsSample();
    if (runActive() && s.deviceTotalBytes > 0)
        text += tr(" · device: %1 used of %2")
                    .arg(locale.formattedDataSize(s.deviceUsedBytes),
                        locale.formattedDataSize(s.deviceTotalBytes));
    m_memoryLabel->setText(text);
}

void MainWindow::updateActions()
{
    const RunJob::State state = m_job ? m_job->state() : RunJob::State::Idle;
    const bool active = runActive();
    m_startAction->setEnabled(!active && !m_browser->isScanning());
    const bool canPause = !m_job || m_job->canPause(); // not in a data-parallel run
    const bool evaluating = m_job && m_job->isEvaluating() && state == RunJob::State::Running;
    m_pauseAction->setEnabled(canPause && !evaluating
        && (state == RunJob::State::Running || state == RunJob::State::Paused));
    if (!canPause)
        m_pauseAction->setToolTip(
            tr("Pause is not available while %1 processes train together (data parallel); Stop "
               "saves a checkpoint to continue from")
                .arg(m_job->worldSize()));
    else if (evaluating)
        m_pauseAction->setToolTip(tr("Pause is not available while the %1 set is evaluated: the "
                                     "pass has no point to rest at; Stop ends it without its "
                                     "figure")
                                      .arg(m_job->evaluationPass()));
    else
        m_pauseAction->setToolTip(tr("Pause the run between batches"));
    {
        const QSignalBlocker block(m_pauseAction);
        m_pauseAction->setChecked(state == RunJob::State::Paused);
    }
    m_pauseAction->setText(state == RunJob::State::Paused ? tr("Resume") : tr("&Pause"));
    m_stopAction->setEnabled(active && state != RunJob::State::Stopping);
    m_stateLabel->setText(tr("run: %1").arg(RunJob::stateName(state)));
}

void MainWindow::updateProgress()
{
    const qint64 total = m_job ? m_job->totalSteps() : 0;
    const MetricsSample s = m_job ? m_job->lastSample() : MetricsSample();
    if (m_job && m_job->state() == RunJob::State::Starting) {
        m_progress->setRange(0, 0); // busy until the trainer knows its steps
    } else if (m_job && m_job->isEvaluating() && m_job->isActive()) {
        const qint64 images = m_job->evaluationTotal(); // the pass's own progress
        m_progress->setRange(0, int(std::min<qint64>(images, std::numeric_limits<int>::max())));
        m_progress->setValue(int(std::min(m_job->evaluationDone(), images)));
    } else if (total > 0) {
        m_progress->setRange(0, int(std::min<qint64>(total, std::numeric_limits<int>::max())));
        m_progress->setValue(int(std::min<qint64>(s.step, total)));
    } else {
        m_progress->setRange(0, 1);
        m_progress->setValue(0);
    }
    m_progressText->setText(m_job ? m_job->progressText() : QString());
}

void MainWindow::log(const QString &message)
{
    m_log->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss ")) % message);
}

void MainWindow::showError(const QString &message)
{
    m_banner->setText(
        tr("<b>The run stopped with an error.</b> %1<br><small>Fix the cause (see the log), then "
           "start again; the run is kept in the history as failed.</small>")
            .arg(message.toHtmlEscaped()));
    m_banner->show();
    log(tr("error: %1").arg(message));
    statusBar()->showMessage(tr("Run failed: %1").arg(message), 15000);
}

void MainWindow::addRecent(const QString &path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    m_recent.removeAll(absolute);
    m_recent.prepend(absolute);
    while (m_recent.size() > kMaxRecent)
        m_recent.removeLast();
    QSettings settings;
    settings.setValue(QStringLiteral("recentFolders"), m_recent);
    settings.setValue(QStringLiteral("lastFolder"), absolute);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    for (const QString &path : std::as_const(m_recent))
        m_recentMenu->addAction(
            QDir::toNativeSeparators(path), this, [this, path] { openFolder(path); });
    m_recentMenu->setEnabled(!m_recent.isEmpty());
}

void MainWindow::openFolder(const QString &path)
{
    if (!QFileInfo(path).isDir()) {
        QMessageBox::warning(this, tr("Open data folder"),
            tr("%1 is not a folder.").arg(QDir::toNativeSeparators(path)));
        return;
    }
    addRecent(path);
    m_browser->openFolder(path);
    showTab(DatasetTab);
    updateActions();
}

void MainWindow::openSampleDataset()
{
    auto *watcher = new QFutureWatcher<std::pair<std::optional<SampleDataset>, QString>>(this);
    statusBar()->showMessage(
        tr("Preparing the Fashion-MNIST sample (the first time this converts 70 000 images)..."));
    m_browser->showPreparing(tr("Importing the Fashion-MNIST sample…"));
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
        const auto [sample, error] = watcher->result();
        watcher->deleteLater();
        statusBar()->clearMessage();
        m_browser->showPreparing({});
        if (!sample) {
            log(tr("the sample data set is not available: %1").arg(error));
            QMessageBox::information(this, tr("Sample data set"),
                tr("The Fashion-MNIST sample is not available: %1\nOn Debian, install the "
                   "dataset-fashion-mnist package, or open your own data folder.")
                    .arg(error));
            return;
        }
        openFolder(sample->trainDir);
    });
    // The importer's progress, at most ten times a second, on the window's thread.
    const QPointer<DatasetBrowser> browser = m_browser;
    watcher->setFuture(QtConcurrent::run([browser] {
        QString error;
        QElapsedTimer sinceShown;
        std::optional<SampleDataset> sample
            = ensureSampleDataset(&error, [&](const QString &stage, int done, int total) {
                  if (sinceShown.isValid() && sinceShown.elapsed() < 100 && done < total)
                      return;
                  sinceShown.start();
                  const QString text = stage == QLatin1String("test")
                      ? tr("Importing the Fashion-MNIST sample: test images…")
                      : tr("Importing the Fashion-MNIST sample: training images…");
                  QMetaObject::invokeMethod(qApp, [browser, text, done, total] {
                      if (browser)
                          browser->showPreparing(text, done, total);
                  });
              });
        return std::make_pair(sample, error);
    }));
}

RunConfig MainWindow::configForCurrentData() const
{
    RunConfig config = RunConfigDialog::rememberedConfig();
    if (!m_browser->folder().isEmpty())
        config.dataDir = m_browser->folder();
    // The sample's test folder beside its training folder is used when present.
    const QFileInfo data(config.dataDir);
    if (data.fileName() == QLatin1String("train")) {
        const QString test = data.dir().filePath(QStringLiteral("test"));
        if (QFileInfo(test).isDir())
            config.testDir = test;
    } else if (config.testDir == config.dataDir) {
        config.testDir.clear();
    }
    return config;
}

void MainWindow::prepareRunDialog(RunConfigDialog &dialog, const RunConfig &config) const
{
    dialog.setConfig(config);
    if (const auto index = m_browser->datasetIndex();
        index && index->root == QFileInfo(config.dataDir).absoluteFilePath())
        dialog.setClassCounts(index->classCounts());
}

void MainWindow::configureAndStart()
{
    if (runActive())
        return;
    RunConfigDialog dialog(this);
    prepareRunDialog(dialog, configForCurrentData());
    if (dialog.exec() != QDialog::Accepted)
        return;
    QString error;
    if (!startRun(dialog.config(), &error))
        QMessageBox::warning(this, tr("Cannot start the run"), error);
}

bool MainWindow::startRun(const RunConfig &config, QString *error)
{
    return launchRun(config, 0, error);
}

bool MainWindow::resumeRun(qint64 historyRunId, const RunConfig &config, QString *error)
{
    return launchRun(config, historyRunId, error);
}

bool MainWindow::launchRun(const RunConfig &config, qint64 resumeRunId, QString *error)
{
    if (runActive()) {
        if (error)
            *error = tr("a run is already going; stop it first");
        return false;
    }
    const bool replace = QFileInfo(config.outDir).isDir() && !QDir(config.outDir).isEmpty();
    m_charts->clear();
    m_banner->hide();
    m_result->hide();
    RunJob::Options options;
    options.resume = resumeRunId > 0;
    options.historyRunId = resumeRunId;
    options.force = replace && !options.resume;
    options.store = m_store->isOpen() ? m_store.get() : nullptr;
    options.recordHistory = options.store != nullptr;
    auto job = std::make_unique<RunJob>(config, options);
    connectJob(job.get());
    QString e;
    if (job->start(&e)) {
        m_job = std::move(job); // the last run stays shown until the next one starts
        updateActions();
        updateProgress();
    } else {
        log(tr("cannot start: %1").arg(e));
        if (error)
            *error = e;
        return false;
    }
    m_lastRunDir = config.outDir;
    m_runTitle->setText(
        tr("<b>%1</b> on %2 · batch %3 · %4")
            .arg(config.model.name, QFileInfo(config.dataDir).fileName().toHtmlEscaped())
            .arg(config.batchSize)
            .arg(scheduleText(config.prune).toHtmlEscaped()));
    m_runTitle->setToolTip(tr("pruning schedule: %1").arg(config.prune));
    log(tr("run folder: %1").arg(QDir::toNativeSeparators(config.outDir)));
    showTab(TrainingTab);
    return true;
}

void MainWindow::stopRun()
{
    if (!runActive())
        return;
    log(tr("stopping after the current batch (a checkpoint is saved)"));
    m_job->stop();
}

void MainWindow::setPaused(bool paused)
{
    if (m_job)
        m_job->setPaused(paused);
    log(paused ? tr("paused") : tr("resumed"));
}

void MainWindow::onRunFinished(const RunSummary &summary)
{
    m_charts->flush();
    const QLocale locale;
    QString text
        = tr("run %1 after %2 steps: validation accuracy %3 %, sparsity %4 %, %5 images/s, peak "
             "host memory %6")
              .arg(summary.status)
              .arg(summary.steps)
              .arg(summary.valAccuracy >= 0 ? QString::number(100 * summary.valAccuracy, 'f', 2)
                                            : QStringLiteral("-"))
              .arg(100 * summary.finalSparsity, 0, 'f', 1)
              .arg(summary.imagesPerSec, 0, 'f', 0)
              .arg(locale.formattedDataSize(summary.peakHostRssBytes));
    if (summary.testAccuracy >= 0)
        text += tr(", test accuracy %1 %").arg(100 * summary.testAccuracy, 0, 'f', 2);
    log(text);
    // The Evaluation tab shows a run with a test set (its predictions.csv) once it ends.
    if (summary.testAccuracy >= 0 && !summary.runDir.isEmpty())
        m_evaluation->showRun(summary.runDir);
    showResultSummary(summary);
    updateProgress();
    Q_EMIT runEnded(true);
}

void MainWindow::showResultSummary(const RunSummary &summary)
{
    const QLocale locale;
    const RunConfig config = m_job ? m_job->config() : RunConfig();
    const auto pct = [](double f) { return QStringLiteral("%1 %").arg(100.0 * f, 0, 'f', 2); };
    const auto folder
        = [](const QString &dir) { return QFileInfo(dir).fileName().toHtmlEscaped(); };
    // A figure above its caption; the caption names where the figure comes from.
    QStringList figures, captions;
    const auto add = [&](const QString &figure, const QString &caption) {
        figures << QStringLiteral("<td align=\"center\" style=\"padding: 0 14px\"><span "
                                  "style=\"font-size: large\"><b>%1</b></span></td>")
                       .arg(figure);
        captions << QStringLiteral("<td align=\"center\" style=\"padding: 0 14px\">%1</td>")
                        .arg(caption);
    };
    if (summary.testAccuracy >= 0)
        add(pct(summary.testAccuracy),
            tr("test accuracy<br><small>test set: %1</small>").arg(folder(config.testDir)));
    else
        add(QStringLiteral("-"),
            config.testDir.isEmpty()
                ? tr("test accuracy<br><small>no test set</small>")
                : tr("test accuracy<br><small>the test pass did not finish</small>"));
    add(summary.valAccuracy >= 0 ? pct(summary.valAccuracy) : QStringLiteral("-"),
        tr("validation accuracy<br><small>%1, last epoch</small>")
            .arg(config.valDir.isEmpty() ? tr("%1 % of %2")
                                               .arg(100.0 * config.valSplit, 0, 'g', 3)
                                               .arg(folder(config.dataDir))
                                         : tr("validation set: %1").arg(folder(config.valDir))));
    add(QStringLiteral("%1 %").arg(100.0 * summary.finalSparsity, 0, 'f', 1),
        tr("sparsity<br><small>target %1 %</small>")
            .arg(100.0 * summary.targetSparsity, 0, 'f', 1));
    add(locale.toString(summary.imagesPerSec, 'f', 0),
        tr("images/s<br><small>training, median</small>"));
    const bool device = summary.peakDeviceBytes >= 0;
    add(locale.formattedDataSize(device ? summary.peakDeviceBytes : summary.peakHostRssBytes),
        device ? tr("peak memory<br><small>device</small>")
               : tr("peak memory<br><small>host (RSS)</small>"));
    const QString epochs
        = summary.epochs == 1 ? tr("1 epoch") : tr("%1 epochs").arg(summary.epochs);
    const QString heading = summary.status == QLatin1String("stopped")
        ? tr("<b>Result</b><br><small>stopped after %1</small>").arg(epochs)
        : tr("<b>Result</b><br><small>%1</small>").arg(epochs);
    m_resultText->setText(QStringLiteral("<table><tr><td rowspan=\"2\" valign=\"middle\">%1</td>"
                                         "%2</tr><tr>%3</tr></table>")
                              .arg(heading, figures.join(QString()), captions.join(QString())));
    m_resultRunDir = summary.runDir;
    m_evaluationButton->setEnabled(summary.testAccuracy >= 0 || summary.valAccuracy >= 0);
    m_result->show();
}

PredictDialog *MainWindow::predictDialog() const
{
    return m_predict;
}

QString MainWindow::resultSummaryText() const
{
    if (!m_result->isVisibleTo(m_trainingTab))
        return {};
    QTextDocument document;
    document.setHtml(m_resultText->text());
    return document.toPlainText().simplified();
}

void MainWindow::predictImages(const QStringList &images)
{
    if (images.isEmpty())
        return;
    if (!m_predict) {
        m_predict = new PredictDialog(this);
        m_predict->setAttribute(Qt::WA_DeleteOnClose);
    }
    // The history's runs with a model; the selected run, else the last one, is chosen.
    QVector<PredictModel> models;
    QString chosen;
    const QVector<qint64> selected = m_history->selectedRunIds();
    const QLocale locale;
    for (const StoredRun &run : m_store->isOpen() ? m_store->runs() : QVector<StoredRun>()) {
        const QString dir = run.config.outDir;
        if (!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("model.pt"))))
            continue;
        models.push_back(
            { tr("%1 · %2 · %3")
                    .arg(QFileInfo(dir).fileName(), run.config.model.name,
                        locale.toString(run.created.toLocalTime(), QLocale::ShortFormat)),
                QFileInfo(dir).absoluteFilePath() });
        if (selected.contains(run.id))
            chosen = models.back().path;
    }
    m_predict->setModels(models);
    if (chosen.isEmpty() && !m_lastRunDir.isEmpty()
        && QFileInfo::exists(QDir(m_lastRunDir).filePath(QStringLiteral("model.pt"))))
        chosen = m_lastRunDir;
    if (!chosen.isEmpty())
        m_predict->setModel(chosen);
    if (const auto index = m_browser->datasetIndex())
        m_predict->setDataSet(index->root, index->classes);
    m_predict->predict(images);
    m_predict->show();
    m_predict->raise();
    m_predict->activateWindow();
}

namespace {
// The local files of a drop that are not folders; empty when it holds anything else.
QStringList droppedFiles(const QMimeData *mime)
{
    QStringList files;
    if (!mime || !mime->hasUrls())
        return files;
    for (const QUrl &url : mime->urls()) {
        const QFileInfo info(url.toLocalFile());
        if (!url.isLocalFile() || !info.isFile())
            return {};
        files << info.absoluteFilePath();
    }
    return files;
}
} // namespace

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (droppedFiles(event->mimeData()).isEmpty())
        event->ignore();
    else
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    const QStringList files = droppedFiles(event->mimeData());
    if (files.isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
    predictImages(files);
}

void MainWindow::importIdx()
{
    const QString images
        = QFileDialog::getOpenFileName(this, tr("IDX image file (e.g. train-images-idx3-ubyte.gz)"),
            fashionMnistIdxDir(), tr("IDX files (*idx3* *.gz);;All files (*)"));
    if (images.isEmpty())
        return;
    const QString labels
        = QFileDialog::getOpenFileName(this, tr("IDX label file (e.g. train-labels-idx1-ubyte.gz)"),
            QFileInfo(images).absolutePath(), tr("IDX files (*idx1* *.gz);;All files (*)"));
    if (labels.isEmpty())
        return;
    const QString out = QFileDialog::getExistingDirectory(
        this, tr("Folder for the images (one sub-folder per class)"), userDataDir());
    if (out.isEmpty())
        return;
    auto *progress = new QProgressDialog(tr("Importing IDX images..."), QString(), 0, 0, this);
    progress->setWindowModality(Qt::WindowModal);
    progress->show();
    auto *watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, progress, out] {
        progress->deleteLater();
        watcher->deleteLater();
        const QString error = watcher->result();
        if (!error.isEmpty()) {
            QMessageBox::warning(
                this, tr("Import IDX data set"), tr("The import failed: %1").arg(error));
            return;
        }
        openFolder(out);
    });
    watcher->setFuture(QtConcurrent::run([images, labels, out] {
        QString error;
        return leantune::importIdx(images, labels, out, IdxImportOptions(), &error) ? QString()
                                                                                    : error;
    }));
}

void MainWindow::exportModel()
{
    // The newest finished run, or the run selected in the history.
    QString runDir = m_lastRunDir;
    const QVector<qint64> selected = m_history->selectedRunIds();
    if (!selected.isEmpty())
        if (const auto run = m_store->run(selected.first()))
            runDir = run->config.outDir;
    const QString model = QDir(runDir).filePath(QStringLiteral("model.pt"));
    if (runDir.isEmpty() || !QFileInfo::exists(model)) {
        QMessageBox::information(this, tr("Export model"),
            tr("There is no trained model to export yet: finish a run, or select one in the run "
               "history."));
        return;
    }
    auto *dialog = new ExportDialog(runDir, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ExportDialog::exportFinished, this, [this, dialog](bool ok) {
        if (ok) {
            const ExportReport r = *dialog->report();
            log(tr("exported %1 to %2 (%3, %4 smaller than the dense fp32 weights)")
                    .arg(QDir::toNativeSeparators(r.runDir), QDir::toNativeSeparators(r.outFile),
                        formatBytes(r.size.fileBytes),
                        ExportDialog::ratioText(r.size.ratio(r.size.fileBytes))));
        } else if (!dialog->errorText().isEmpty()) {
            log(tr("export failed: %1").arg(dialog->errorText()));
        }
    });
    dialog->open();
}

void MainWindow::changeEvent(QEvent *event)
{
    // Back from a terminal where leantune-cli ran: its runs are in the history already.
    if (event->type() == QEvent::ActivationChange && isActiveWindow())
        m_history->refresh();
    QMainWindow::changeEvent(event);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (runActive()) {
        if (m_confirmOnClose
            && QMessageBox::question(this, tr("Quit LeanTune"),
                   tr("A run is going. Stop it (a checkpoint is saved) and quit?"))
                != QMessageBox::Yes) {
            event->ignore();
            return;
        }
        m_job->stop();
        m_job->waitForFinished(120000);
    }
    m_browser->cancelScan();
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    event->accept();
}

} // namespace leantune
