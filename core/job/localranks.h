#pragma once

#include "config/runconfig.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QVector>

#include <functional>
#include <memory>
#include <vector>

class QProcess;
class QTemporaryDir;

namespace leantune {

// The other ranks of a data-parallel run that RunJob trains as rank 0 in its own process (the GUI's
// "CPU, N processes" and "all GPUs", `train --nproc N`): ranks 1..N-1 as `leantune-cli train`
// worker processes with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR 127.0.0.1),
// meeting rank 0 through a c10d FileStore in a folder only this user can open (storeFile()), so no
// rank listens beyond loopback. Their standard error comes back as log lines; a rank that ends
// badly while the run goes on is reported by rankFailed(). No process outlives this object: ranks
// still running when it is destroyed are terminated, then killed; and each rank is killed by the
// kernel when this process dies (PR_SET_PDEATHSIG), however it dies. Lives on RunJob's thread.
class LocalRanks : public QObject {
    Q_OBJECT
public:
    explicit LocalRanks(QObject *parent = nullptr);
    ~LocalRanks() override;

    // The number of local ranks CONFIG asks for (RunConfig::localWorldSize()); 1 when this process
    // is itself a rank (WORLD_SIZE is set) and so trains alone.
    static int worldSizeFor(const RunConfig &config);
    // $LEANTUNE_CLI when set; else leantune-cli next to this program (the installed layout), or in
    // the build tree's app/cli; empty when none exists.
    static QString findCli();
    // The `train` arguments of a worker rank for CONFIG: the run's options, or with RESUME only
    // --out, --resume and the options a resumed run may change; no history, no progress output.
    static QStringList workerArguments(const RunConfig &config, bool resume);

    // Starts ranks 1..WORLDSIZE-1 of PROGRAM ARGS, meeting rank 0 at storeFile(). False + *error
    // (and none left running) when one cannot start.
    bool start(const QString &program, const QStringList &args, int worldSize, QString *error);
    // The FileStore the ranks meet at (rank 0 too: DistEnv::localRankZero()); empty before start().
    QString storeFile() const;
    QVector<qint64> pids() const; // of ranks 1..N-1 as started
    bool anyRunning() const;
    // SIGINT to every running rank: each saves nothing (rank 0 writes) and stops after the step
    // the ranks agree on, as the CLI's Ctrl-C.
    void interrupt();
    // Calls DONE once every rank has exited; ranks still running after MS are killed first.
    void whenAllEnded(int ms, std::function<void()> done);
    // The first abnormal end of a rank, in words ("rank 1 (pid 123) exited with code 1: ...").
    QString failure() const { return m_failure; }

Q_SIGNALS:
    void logLine(const QString &line); // a rank's standard error, "rank N: ..."
    void rankFailed(const QString &message); // a rank ended badly (see failure())

private:
    void onEnded(int rank);
    void checkAllEnded();
    void killAll();

    std::unique_ptr<QTemporaryDir> m_storeDir; // 0700; removed with this object
    std::vector<std::unique_ptr<QProcess>> m_ranks; // rank r at r-1
    QVector<qint64> m_pids;
    QStringList m_lastError; // each rank's last line on standard error
    QString m_failure;
    bool m_ending = false; // whenAllEnded(): the run is over, exits are expected
    bool m_killed = false; // killAll() was called
    std::function<void()> m_done;
    QTimer m_killTimer;
};

} // namespace leantune
