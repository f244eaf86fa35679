#pragma once

#include "metrics/metricssample.h"
#include "config/runconfig.h"
#include "config/runsummary.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

#include <cstdint>
#include <functional>
#include <memory>

class QThread;

namespace leantune {

class LocalRanks;
class RunStore;
class Trainer;

// One training run, driven the same way by the GUI, the CLI and the tests (in the spirit of KDE's
// KJob): start(), setPaused(), stop(); signals for the run's samples, log lines and end —
// finished() with the RunSummary (status "finished" or "stopped") or failed() with a message a user
// can act on. The job owns the thread the engine's Trainer works on; everything it emits arrives
// queued on the thread the job lives on, as values. The run is recorded in the run history
// (RUNDIR's configuration, samples once a second, summary): in Options::store when given, else in
// the database at Options::historyPath (RunStore::defaultPath() when empty) unless
// Options::recordHistory is false. Destroying the job while a run is going stops it after its
// current batch and waits for it.
//
// Data parallel: when the configuration asks for several local ranks (nproc > 1, or
// cuda:all) and this process is not a rank already, the job trains rank 0 on its own thread and
// starts ranks 1..N-1 as `leantune-cli train` workers (LocalRanks) on 127.0.0.1. It is still one
// run: rank 0's samples (throughput of the global batch, each rank's memory in
// MetricsSample::ranks), one entry in the history, one finished() or failed(). stop() stops every
// rank after the same step; the job ends only once every worker has exited (killed after a grace
// period); a worker that ends badly fails the run with its message. Pausing is not supported
// (canPause()).
//
// Evaluation passes (validation after each epoch, the test set after the last) report their own
// progress (evaluationProgress(), progressText()); the run cannot be paused during one
// (isEvaluating()): a pass has no point to rest at, and the test pass is the run's end.
class RunJob : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Starting, Running, Paused, Stopping, Finished, Stopped, Failed };
    Q_ENUM(State)

    struct Options {
        bool resume = false; // continue from the newest valid checkpoint in the run folder
        bool force = false; // replace an existing run in the run folder
        bool recordHistory = true; // record the run in the run history
        QString historyPath; // the history database; empty: RunStore::defaultPath()
        RunStore *store = nullptr; // a store already open on this thread (the GUI's); not owned
        // With resume: the history row of the run that goes on (0: a new row, as the CLI's).
        qint64 historyRunId = 0;
        // Data parallel: the leantune-cli that runs ranks 1..N-1; empty: LocalRanks::findCli().
        QString workerProgram;
        // Test hooks, called on the run's thread (see Trainer::Options).
        std::function<void(std::int64_t step, int microBatch)> beforeForward;
        std::function<void(std::int64_t images)> beforeEvalForward;
        std::function<void(const QString &pass)> beforeEvalPass;
    };

    explicit RunJob(RunConfig config, Options options, QObject *parent = nullptr);
    explicit RunJob(RunConfig config, QObject *parent = nullptr);
    ~RunJob() override;

    // Starts the run on its own thread. False + *error (and no signal) when the configuration is
    // invalid or the job was started before; every later error comes as failed().
    bool start(QString *error = nullptr);
    // Pauses between batches; the state becomes Paused once the run has come to rest. Ignored
    // during an evaluation pass.
    void setPaused(bool paused);
    void stop(); // the run saves a checkpoint after its current batch and ends as "stopped"
    // Spins the event loop until the run ended or MS passed (-1: no limit); true when it ended. For
    // tests and for shutting down; interactive front ends connect to finished()/failed() instead.
    bool waitForFinished(int ms = -1);

    State state() const { return m_state; }
    bool isActive() const; // starting, running, paused or stopping
    int worldSize() const { return m_worldSize; } // ranks of a data-parallel run; 1 otherwise
    bool canPause() const { return m_worldSize <= 1; } // not in a data-parallel run
    // A validation or test pass is going on (from its start until the next sample or the run's
    // end); its name ("validation", "test"), images done and total.
    bool isEvaluating() const { return !m_evalPass.isEmpty(); }
    QString evaluationPass() const { return m_evalPass; }
    qint64 evaluationDone() const { return m_evalDone; }
    qint64 evaluationTotal() const { return m_evalTotal; }
    QVector<qint64> workerPids() const; // data parallel: the processes of ranks 1..N-1
    static QString stateName(State state);
    const RunConfig &config() const { return m_config; }
    qint64 runId() const { return m_runId; } // in the run history; 0 when not recorded
    qint64 totalSteps() const { return m_totalSteps; }
    qint64 stepsPerEpoch() const { return m_stepsPerEpoch; }
    QString deviceDescription() const { return m_device; }
    const MetricsSample &lastSample() const { return m_last; }
    int sampleCount() const { return m_sampleCount; }
    const RunSummary &summary() const { return m_summary; } // after finished()
    QString errorString() const { return m_error; } // after failed()
    double secondsLeft() const; // from the pace so far; -1 while unknown
    // "epoch 2/3 · step 120/600 · 1:23 left", or during a pass "Evaluating the test set: 120 /
    // 1,000 images".
    QString progressText() const;

Q_SIGNALS:
    void stateChanged(leantune::RunJob::State state);
    void started(const QString &deviceDescription, qint64 totalSteps, qint64 stepsPerEpoch);
    void sampleReady(const leantune::MetricsSample &sample);
    void epochFinished(const leantune::EpochSummary &summary);
    void logMessage(const QString &message);
    // An evaluation pass's progress (Trainer::evaluationProgress): 0 when it begins, DONE == TOTAL
    // when it has evaluated every image.
    void evaluationProgress(const QString &pass, qint64 done, qint64 total);
    void finished(const leantune::RunSummary &summary);
    void failed(const QString &message);
    void runRecorded(qint64 runId); // the run history gained or updated this run

private:
    void setState(State state);
    void record(); // opens the history and adds the run
    void flushSamples();
    void onEvaluationProgress(const QString &pass, qint64 done, qint64 total);
    void onFinished(const RunSummary &summary);
    void onFailed(const QString &message);
    void onThreadFinished();
    bool startRanks(QString *error); // data parallel: the other ranks, before rank 0 starts
    void afterRanks(std::function<void()> end); // END once every other rank has exited

    RunConfig m_config;
    Options m_options;
    State m_state = State::Idle;
    QThread *m_thread = nullptr;
    std::unique_ptr<Trainer> m_trainer; // lives on m_thread; deleted here once it ended
    int m_worldSize = 1;
    std::unique_ptr<LocalRanks> m_ranks; // data parallel: ranks 1..N-1
    std::unique_ptr<RunStore> m_ownStore; // the history opened by this job
    RunStore *m_store = nullptr; // m_options.store or m_ownStore
    qint64 m_runId = 0;
    bool m_dropResumedSamples = false; // resumed into its own row: the first flush drops later ones
    qint64 m_totalSteps = 0;
    qint64 m_stepsPerEpoch = 0;
    QString m_device;
    MetricsSample m_last;
    QString m_evalPass; // the pass going on; empty when none
    qint64 m_evalDone = 0, m_evalTotal = 0;
    int m_sampleCount = 0;
    QVector<MetricsSample> m_pending; // samples not yet in the history
    QTimer m_flushTimer;
    RunSummary m_summary;
    QString m_error;
    bool m_ended = false; // finished() or failed() was emitted
};

} // namespace leantune
