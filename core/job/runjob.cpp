#include "job/runjob.h"

#include "config/distenv.h"
#include "job/localranks.h"

#include "store/runstore.h"
#include "train/trainer.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QLocale>
#include <QThread>

#include <cmath>

namespace leantune {

namespace {

QString clockText(double seconds)
{
    const qint64 s = std::llround(seconds);
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3")
            .arg(s / 3600)
            .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
            .arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

} // namespace

RunJob::RunJob(RunConfig config, Options options, QObject *parent)
    : QObject(parent)
    , m_config(std::move(config))
    , m_options(std::move(options))
{
    qRegisterMetaType<MetricsSample>();
    qRegisterMetaType<EpochSummary>();
    qRegisterMetaType<RunSummary>();
    m_flushTimer.setInterval(1000);
    connect(&m_flushTimer, &QTimer::timeout, this, &RunJob::flushSamples);
}

RunJob::RunJob(RunConfig config, QObject *parent)
    : RunJob(std::move(config), Options(), parent)
{
}

RunJob::~RunJob()
{
    if (m_ranks && m_state != State::Stopping)
        m_ranks->interrupt(); // every rank stops after the same step
    if (m_thread) {
        m_trainer->requestCancel();
        m_thread->quit();
        m_thread->wait();
        m_trainer.reset();
    }
    m_ranks.reset(); // ranks still running are terminated, then killed
    flushSamples();
}

bool RunJob::isActive() const
{
    return m_state == State::Starting || m_state == State::Running || m_state == State::Paused
        || m_state == State::Stopping;
}

QString RunJob::stateName(State state)
{
    switch (state) {
    case State::Idle:
        return tr("idle");
    case State::Starting:
        return tr("starting");
    case State::Running:
        return tr("training");
    case State::Paused:
        return tr("paused");
    case State::Stopping:
        return tr("stopping");
    case State::Finished:
        return tr("finished");
    case State::Stopped:
        return tr("stopped");
    case State::Failed:
        return tr("failed");
    }
    return {};
}

void RunJob::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

bool RunJob::start(QString *error)
{
    if (m_state != State::Idle) {
        if (error)
            *error = tr("this run was started already");
        return false;
    }
    if (!m_config.validate(error))
        return false;
    m_worldSize = LocalRanks::worldSizeFor(m_config);
    if (m_worldSize > 1 && !startRanks(error)) {
        m_ranks.reset();
        m_worldSize = 1;
        return false;
    }
    record();

    Trainer::Options options;
    options.resume = m_options.resume;
    options.force = m_options.force;
    options.beforeForward = m_options.beforeForward;
    options.beforeEvalForward = m_options.beforeEvalForward;
    options.beforeEvalPass = m_options.beforeEvalPass;
    if (m_worldSize > 1) // rank 0 trains here; LocalRanks started the others
        options.distEnv = DistEnv::localRankZero(m_worldSize, m_ranks->storeFile());
    m_trainer = std::make_unique<Trainer>(m_config, std::move(options));
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("trainer"));
    m_trainer->moveToThread(m_thread);
    Trainer *trainer = m_trainer.get();
    connect(m_thread, &QThread::started, trainer, &Trainer::run);
    connect(m_thread, &QThread::finished, this, &RunJob::onThreadFinished);
    connect(trainer, &Trainer::started, this,
        [this](const QString &device, qint64 total, qint64 perEpoch) {
            m_device = m_worldSize > 1
                ? tr("%1 · %2 processes (data parallel)").arg(device).arg(m_worldSize)
                : device;
            m_totalSteps = total;
            m_stepsPerEpoch = perEpoch;
            if (m_state == State::Starting)
                setState(m_trainer->isPaused() ? State::Paused : State::Running);
            Q_EMIT started(m_device, total, perEpoch);
        });
    connect(trainer, &Trainer::sampleReady, this, [this](const MetricsSample &s) {
        m_evalPass.clear(); // training again, or the epoch's end after its validation
        m_last = s;
        ++m_sampleCount;
        m_pending.append(s);
        Q_EMIT sampleReady(s);
    });
    connect(trainer, &Trainer::pauseChanged, this, [this](bool paused) {
        if (m_state == State::Running && paused)
            setState(State::Paused); // the trainer is at rest: no sample is on its way any more
    });
    connect(trainer, &Trainer::evaluationProgress, this, &RunJob::onEvaluationProgress);
    connect(trainer, &Trainer::epochFinished, this, &RunJob::epochFinished);
    connect(trainer, &Trainer::logMessage, this, &RunJob::logMessage);
    connect(trainer, &Trainer::finished, this, [this](const RunSummary &summary) {
        afterRanks([this, summary] {
            const QString lost = m_ranks ? m_ranks->failure() : QString();
            if (lost.isEmpty())
                onFinished(summary);
            else
                onFailed(tr("data parallel run failed: %1").arg(lost));
        });
    });
    connect(trainer, &Trainer::failed, this, [this](const QString &message) {
        if (m_ranks)
            m_ranks->interrupt();
        afterRanks([this, message] {
            const QString lost = m_ranks ? m_ranks->failure() : QString();
            onFailed(lost.isEmpty()
                    ? message
                    : tr("data parallel run failed: %1 (rank 0: %2)").arg(lost, message));
        });
    });
    setState(State::Starting);
    m_flushTimer.start();
    m_thread->start();
    return true;
}

bool RunJob::startRanks(QString *error)
{
    const auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    if (!m_config.checkWorldSize(m_worldSize, error))
        return false;
    const QString program
        = m_options.workerProgram.isEmpty() ? LocalRanks::findCli() : m_options.workerProgram;
    if (program.isEmpty())
        return fail(tr("data parallel: leantune-cli, which runs the other processes, is not next "
                       "to this program in %1")
                        .arg(QCoreApplication::applicationDirPath()));
    m_config.threads = m_config.threadsPerRank(m_worldSize);
    m_ranks = std::make_unique<LocalRanks>();
    connect(m_ranks.get(), &LocalRanks::logLine, this, &RunJob::logMessage);
    connect(m_ranks.get(), &LocalRanks::rankFailed, this, [this](const QString &message) {
        Q_EMIT logMessage(tr("data parallel: %1; stopping the run").arg(message));
        if (m_trainer)
            m_trainer->requestCancel(); // rank 0 fails at its next collective, naming the rank
    });
    return m_ranks->start(
        program, LocalRanks::workerArguments(m_config, m_options.resume), m_worldSize, error);
}

void RunJob::afterRanks(std::function<void()> end)
{
    if (!m_ranks || !m_ranks->anyRunning()) {
        end();
        return;
    }
    m_ranks->whenAllEnded(15000, std::move(end)); // the others end within a step of rank 0
}

QVector<qint64> RunJob::workerPids() const
{
    return m_ranks ? m_ranks->pids() : QVector<qint64>();
}

void RunJob::record()
{
    if (!DistEnv::writerProcess())
        return; // data parallel: rank 0 alone records the run (the other ranks are the same run)
    m_store = m_options.store;
    if (m_store && !m_store->isOpen()) { // a history the front end failed to open: say so
        Q_EMIT logMessage(
            tr("the run is not recorded in the history: %1")
                .arg(m_store->lastError().isEmpty() ? tr("it is not open") : m_store->lastError()));
        m_store = nullptr;
        return;
    }
    if (!m_store && m_options.recordHistory) {
        m_ownStore = std::make_unique<RunStore>();
        const QString path
            = m_options.historyPath.isEmpty() ? RunStore::defaultPath() : m_options.historyPath;
        if (m_ownStore->open(path))
            m_store = m_ownStore.get();
        else
            Q_EMIT logMessage(
                tr("the run is not recorded in the history: %1").arg(m_ownStore->lastError()));
    }
    if (!m_store || !m_store->isOpen())
        return;
    if (m_options.resume && m_options.historyRunId > 0) {
        if (m_store->resumeRun(m_options.historyRunId)) {
            m_runId = m_options.historyRunId;
            m_dropResumedSamples = true;
            Q_EMIT runRecorded(m_runId);
        } else {
            Q_EMIT logMessage(
                tr("the run is not recorded in the history: %1").arg(m_store->lastError()));
        }
    } else if (const std::optional<qint64> id = m_store->beginRun(m_config)) {
        m_runId = *id;
        Q_EMIT runRecorded(m_runId);
    } else {
        Q_EMIT logMessage(
            tr("the run is not recorded in the history: %1").arg(m_store->lastError()));
    }
}

void RunJob::onEvaluationProgress(const QString &pass, qint64 done, qint64 total)
{
    if (m_evalPass.isEmpty() && m_trainer && m_trainer->isPaused()) {
        // Asked for as the pass began, too late for the trainer to rest before it.
        m_trainer->setPaused(false);
        Q_EMIT logMessage(tr("not paused: the %1 pass runs to its end").arg(pass));
    }
    m_evalPass = pass;
    m_evalDone = done;
    m_evalTotal = total;
    Q_EMIT evaluationProgress(pass, done, total);
}

void RunJob::onFinished(const RunSummary &summary)
{
    m_evalPass.clear();
    m_ended = true;
    m_summary = summary;
    flushSamples();
    if (m_store && m_runId > 0 && m_store->finishRun(m_runId, summary))
        Q_EMIT runRecorded(m_runId);
    m_thread->quit();
    setState(summary.status == QLatin1String("finished") ? State::Finished : State::Stopped);
    Q_EMIT finished(summary);
}

void RunJob::onFailed(const QString &message)
{
    m_evalPass.clear();
    m_ended = true;
    m_error = message;
    flushSamples();
    if (m_store && m_runId > 0 && m_store->failRun(m_runId, message))
        Q_EMIT runRecorded(m_runId);
    m_thread->quit();
    setState(State::Failed);
    Q_EMIT failed(message);
}

void RunJob::onThreadFinished()
{
    m_flushTimer.stop();
    m_trainer.reset(); // its thread has ended: nothing runs on it any more
    m_thread->deleteLater();
    m_thread = nullptr;
    if (!m_ended) {
        m_error = tr("the run ended without a result");
        if (m_store && m_runId > 0)
            m_store->failRun(m_runId, m_error);
        setState(State::Failed);
        Q_EMIT failed(m_error);
    }
    flushSamples();
}

void RunJob::setPaused(bool paused)
{
    if (!m_trainer || m_state == State::Stopping || !canPause() || (paused && isEvaluating()))
        return;
    m_trainer->setPaused(paused);
    if (!paused && m_state == State::Paused)
        setState(State::Running); // pausing shows once the trainer has come to rest (pauseChanged)
}

void RunJob::stop()
{
    if (!m_trainer || !isActive())
        return;
    m_trainer->requestCancel();
    m_trainer->setPaused(false); // a paused trainer must wake up to see the stop
    if (m_ranks && m_state != State::Stopping)
        m_ranks->interrupt(); // each rank's Ctrl-C, once: they stop after the same step
    setState(State::Stopping);
}

bool RunJob::waitForFinished(int ms)
{
    QDeadlineTimer deadline(ms < 0 ? QDeadlineTimer::Forever : QDeadlineTimer(ms));
    while ((isActive() || m_thread) && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        if (isActive() || m_thread)
            QThread::msleep(5);
    }
    return !isActive() && !m_thread;
}

void RunJob::flushSamples()
{
    if (m_pending.isEmpty())
        return;
    if (m_dropResumedSamples && m_store && m_runId > 0) {
        // The steps from the checkpoint on are trained again: their old samples go.
        m_dropResumedSamples = false;
        if (!m_store->dropSamplesFrom(m_runId, m_pending.front().step))
            Q_EMIT logMessage(
                tr("cannot update the history's samples: %1").arg(m_store->lastError()));
    }
    if (m_store && m_runId > 0 && !m_store->addSamples(m_runId, m_pending))
        Q_EMIT logMessage(tr("cannot record samples in the history: %1").arg(m_store->lastError()));
    m_pending.clear();
}

double RunJob::secondsLeft() const
{
    if (m_totalSteps <= 0 || m_last.step <= 0 || m_last.elapsedSec <= 0)
        return -1;
    const double perStep = m_last.elapsedSec / double(m_last.step);
    return perStep * double(std::max<qint64>(0, m_totalSteps - m_last.step));
}

QString RunJob::progressText() const
{
    if (m_state == State::Starting)
        return tr("scanning the data and building the model...");
    if (isEvaluating() && isActive()) {
        const QLocale locale;
        const QString images
            = tr("%1 / %2 images").arg(locale.toString(m_evalDone), locale.toString(m_evalTotal));
        return m_evalPass == QLatin1String("test")
            ? tr("Evaluating the test set: %1").arg(images)
            : tr("Evaluating the validation set: %1").arg(images);
    }
    if (m_totalSteps <= 0)
        return {};
    QString text = tr("epoch %1/%2 · step %3/%4")
                       .arg(m_last.epoch + 1)
                       .arg(m_config.epochs)
                       .arg(m_last.step)
                       .arg(m_totalSteps);
    const double left = secondsLeft();
    if (left >= 0 && isActive())
        text += tr(" · %1 left").arg(clockText(left));
    return text;
}

} // namespace leantune
