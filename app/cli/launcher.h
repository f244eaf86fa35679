#pragma once

#include "config/runconfig.h"

#include <QStringList>

namespace leantune::cli {

// `train --nproc N` (issue 13): how many local ranks CONFIG asks for. nproc, or with --device
// cuda:all one per visible GPU when nproc is 0 or 1; nproc 0 on the CPU: one per core.
int localWorkerCount(const RunConfig &config);

// Runs `leantune-cli train TRAINARGS` as WORKERS local ranks, as torchrun would: each child gets
// RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free
// port), and --threads cores/WORKERS unless CONFIG sets threads. Rank 0's output is forwarded; the
// others' stdout is dropped and their stderr (errors) forwarded. Ctrl-C and SIGTERM are passed on
// to every rank (they agree on the step to stop at). When a rank fails, the others are stopped
// (SIGTERM, then SIGKILL after 10 s) and the launcher fails naming it. Returns the exit code: rank
// 0's when every rank ends alike, else 1.
int launchLocalWorkers(int workers, const QStringList &trainArgs, const RunConfig &config);

} // namespace leantune::cli
