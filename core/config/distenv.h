#pragma once

#include <QProcessEnvironment>
#include <QString>

#include <optional>

namespace leantune {

// Where this process stands in a data-parallel run, as the launchers say it: torchrun, srun (with a
// wrapper that exports these), a Kubeflow PyTorchJob and `leantune-cli train --nproc N` all set
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (local ranks LEANTUNE_STORE_FILE
// instead of MASTER_PORT). Read at run time, never stored in the run's configuration. Torch-free.
struct DistEnv {
    bool present = false; // WORLD_SIZE was set: the run joins a process group (even of one)
    int rank = 0; // 0 .. worldSize-1; rank 0 writes the run folder and the history
    int worldSize = 1;
    int localRank = 0; // rank on this machine: picks the GPU (cuda:LOCAL_RANK)
    QString masterAddr; // where rank 0 serves the rendezvous store
    int masterPort = 0;
    // LEANTUNE_STORE_FILE: ranks on one machine meet through a c10d FileStore at this path (in a
    // folder only this user can open) instead of a TCP store, so nothing listens beyond loopback.
    QString storeFile;

    // The process's environment. std::nullopt + *error when a variable is set but malformed or
    // one that the others need is missing.
    static std::optional<DistEnv> fromEnvironment(QString *error);
    bool isWriter() const { return rank == 0; } // writes the run folder, metrics, log, history
    // Whether this process writes the run folder: not launched as a rank, or launched as rank 0
    // (a malformed environment counts as rank 0; the run's set-up then fails saying why).
    static bool writerProcess();

    // A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick), 0 when none.
    static int freeLocalPort();
    // For launching ranks on this machine (`train --nproc N`, the GUI's "N processes"): this
    // process's environment with torchrun's variables for RANK of WORLD_SIZE local ranks on
    // 127.0.0.1 meeting through the FileStore at STOREFILE.
    static QProcessEnvironment localRankEnvironment(
        int rank, int worldSize, const QString &storeFile);
    // Rank 0 of such a run, trained in the launching process itself.
    static DistEnv localRankZero(int worldSize, const QString &storeFile);
};

} // namespace leantune
