#pragma once

#include "metrics/metricssample.h"
#include "run/runconfig.h"
#include "run/runsummary.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QVector>

#include <memory>

class QThread;

namespace leantune {

class RunStore;
class Trainer;

// Drives one training run at a time for the GUI: the engine's Trainer works on its own QThread and
// reports through queued signals carrying values; this object (GUI thread) re-emits them, tracks the
// run state and records the run - configuration, samples (written in batches once a second) and
// summary - in the RunStore, when one is given. Destroying it while a run is going asks the trainer to
// stop after its current batch and waits for it.
class TrainingSession : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Starting, Running, Paused, Stopping };
    Q_ENUM(State)

    explicit TrainingSession(RunStore *store = nullptr, QObject *parent = nullptr);
    ~TrainingSession() override;

    // Starts a run; false + *error when one is going or the configuration is invalid.
    bool start(const RunConfig &config, bool force = false, QString *error = nullptr);
    void setPaused(bool paused);
    void stop();                      // the trainer saves a checkpoint and ends with "cancelled"
    bool waitForIdle(int ms);         // tests and shutdown: spins the event loop until the run ended

    State state() const { return m_state; }
    bool isActive() const { return m_state != State::Idle; }
    static QString stateName(State state);
    const RunConfig &config() const { return m_config; }
    qint64 runId() const { return m_runId; }           // in the store; 0 when not recorded
    qint64 totalSteps() const { return m_totalSteps; }
    qint64 stepsPerEpoch() const { return m_stepsPerEpoch; }
    QString deviceDescription() const { return m_device; }
    const MetricsSample &lastSample() const { return m_last; }
    int sampleCount() const { return m_sampleCount; }
    // Estimated seconds left from the pace so far (-1 while unknown).
    double secondsLeft() const;
    // "epoch 2/3 · step 120/600 · 1:23 left"
    QString progressText() const;

Q_SIGNALS:
    void stateChanged(leantune::TrainingSession::State state);
    void started(const QString &deviceDescription, qint64 totalSteps, qint64 stepsPerEpoch);
    void sampleReady(const leantune::MetricsSample &sample);
    void epochFinished(const leantune::EpochSummary &summary);
    void logMessage(const QString &message);
    void finished(const leantune::RunSummary &summary);
    void failed(const QString &message);
    void runRecorded(qint64 runId);   // the store gained or updated a run

private:
    void setState(State state);
    void flushSamples();
    void onThreadFinished();

    RunStore *m_store = nullptr;
    QThread *m_thread = nullptr;
    std::unique_ptr<Trainer> m_trainer;   // lives on m_thread; deleted here once the thread ended
    RunConfig m_config;
    State m_state = State::Idle;
    qint64 m_runId = 0;
    qint64 m_totalSteps = 0;
    qint64 m_stepsPerEpoch = 0;
    QString m_device;
    MetricsSample m_last;
    int m_sampleCount = 0;
    QVector<MetricsSample> m_pending;     // samples not yet in the store
    QTimer m_flushTimer;
    bool m_ended = false;
};

} // namespace leantune
