#include "runs/trainingsession.h"

#include "store/runstore.h"
#include "train/trainer.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QStringBuilder>
#include <QThread>

namespace leantune {

namespace {

QString clock(double seconds)
{
    const qint64 s = qint64(seconds + 0.5);
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3").arg(s / 3600).arg((s / 60) % 60, 2, 10, QLatin1Char('0')).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

} // namespace

TrainingSession::TrainingSession(RunStore *store, QObject *parent)
    : QObject(parent)
    , m_store(store)
{
    qRegisterMetaType<MetricsSample>();
    qRegisterMetaType<EpochSummary>();
    qRegisterMetaType<RunSummary>();
    m_flushTimer.setInterval(1000);
    connect(&m_flushTimer, &QTimer::timeout, this, &TrainingSession::flushSamples);
}

TrainingSession::~TrainingSession()
{
    if (m_thread) {
        if (m_trainer)
            m_trainer->requestCancel();
        m_thread->quit();
        m_thread->wait();
        m_trainer.reset();
    }
    flushSamples();
}

QString TrainingSession::stateName(State state)
{
    switch (state) {
    case State::Idle: return tr("idle");
    case State::Starting: return tr("starting");
    case State::Running: return tr("training");
    case State::Paused: return tr("paused");
    case State::Stopping: return tr("stopping");
    }
    return {};
}

void TrainingSession::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

bool TrainingSession::start(const RunConfig &config, bool force, QString *error)
{
    if (isActive()) {
        if (error)
            *error = tr("a run is already going; stop it first");
        return false;
    }
    if (!config.validate(error))
        return false;
    m_config = config;
    m_runId = 0;
    m_totalSteps = m_stepsPerEpoch = 0;
    m_device.clear();
    m_last = MetricsSample();
    m_sampleCount = 0;
    m_pending.clear();
    m_ended = false;
    if (m_store && m_store->isOpen()) {
        if (const auto id = m_store->beginRun(config)) {
            m_runId = *id;
            Q_EMIT runRecorded(m_runId);
        } else {
            Q_EMIT logMessage(tr("the run is not recorded in the history: %1").arg(m_store->lastError()));
        }
    }

    Trainer::Options options;
    options.force = force;
    m_trainer = std::make_unique<Trainer>(config, options);
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("trainer"));
    m_trainer->moveToThread(m_thread);
    Trainer *trainer = m_trainer.get();
    connect(m_thread, &QThread::started, trainer, &Trainer::run);
    connect(m_thread, &QThread::finished, this, &TrainingSession::onThreadFinished);
    connect(trainer, &Trainer::started, this, [this](const QString &device, qint64 total, qint64 perEpoch) {
        m_device = device;
        m_totalSteps = total;
        m_stepsPerEpoch = perEpoch;
        if (m_state == State::Starting)
            setState(m_trainer && m_trainer->isPaused() ? State::Paused : State::Running);
        Q_EMIT started(device, total, perEpoch);
    });
    connect(trainer, &Trainer::sampleReady, this, [this](const MetricsSample &s) {
        m_last = s;
        ++m_sampleCount;
        m_pending.append(s);
        Q_EMIT sampleReady(s);
    });
    connect(trainer, &Trainer::epochFinished, this, &TrainingSession::epochFinished);
    connect(trainer, &Trainer::logMessage, this, &TrainingSession::logMessage);
    connect(trainer, &Trainer::finished, this, [this](const RunSummary &summary) {
        m_ended = true;
        flushSamples();
        if (m_store && m_runId > 0) {
            if (m_store->finishRun(m_runId, summary))
                Q_EMIT runRecorded(m_runId);
        }
        m_thread->quit();
        Q_EMIT finished(summary);
    });
    connect(trainer, &Trainer::failed, this, [this](const QString &message) {
        m_ended = true;
        flushSamples();
        if (m_store && m_runId > 0) {
            if (m_store->failRun(m_runId, message))
                Q_EMIT runRecorded(m_runId);
        }
        m_thread->quit();
        Q_EMIT failed(message);
    });
    setState(State::Starting);
    m_flushTimer.start();
    m_thread->start();
    return true;
}

void TrainingSession::onThreadFinished()
{
    m_flushTimer.stop();
    m_trainer.reset();   // its thread has ended: nothing runs on it any more
    m_thread->deleteLater();
    m_thread = nullptr;
    if (!m_ended && m_store && m_runId > 0)
        m_store->failRun(m_runId, tr("the run ended without a result"));
    flushSamples();
    setState(State::Idle);
}

void TrainingSession::setPaused(bool paused)
{
    if (!m_trainer || m_state == State::Stopping)
        return;
    m_trainer->setPaused(paused);
    if (m_state == State::Running || m_state == State::Paused)
        setState(paused ? State::Paused : State::Running);
}

void TrainingSession::stop()
{
    if (!m_trainer)
        return;
    m_trainer->requestCancel();
    m_trainer->setPaused(false);   // a paused trainer must wake up to see the cancel
    setState(State::Stopping);
}

bool TrainingSession::waitForIdle(int ms)
{
    QDeadlineTimer deadline(ms);
    while (isActive() && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        if (isActive())
            QThread::msleep(5);
    }
    return !isActive();
}

void TrainingSession::flushSamples()
{
    if (m_pending.isEmpty())
        return;
    if (m_store && m_runId > 0 && !m_store->addSamples(m_runId, m_pending))
        Q_EMIT logMessage(tr("cannot record samples in the history: %1").arg(m_store->lastError()));
    m_pending.clear();
}

double TrainingSession::secondsLeft() const
{
    if (m_totalSteps <= 0 || m_last.step <= 0 || m_last.elapsedSec <= 0)
        return -1;
    const double perStep = m_last.elapsedSec / double(m_last.step);
    return perStep * double(std::max<qint64>(0, m_totalSteps - m_last.step));
}

QString TrainingSession::progressText() const
{
    if (m_state == State::Starting)
        return tr("scanning the data and building the model...");
    if (m_totalSteps <= 0)
        return {};
    QString text = tr("epoch %1/%2 · step %3/%4").arg(m_last.epoch + 1).arg(m_config.epochs)
                       .arg(m_last.step).arg(m_totalSteps);
    const double left = secondsLeft();
    if (left >= 0 && m_state != State::Idle)
        text += tr(" · %1 left").arg(clock(left));
    return text;
}

} // namespace leantune
