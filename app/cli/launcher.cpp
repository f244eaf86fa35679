#include "launcher.h"

#include "clicommon.h"

#include "metrics/memoryprobe.h"
#include "config/distenv.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QProcess>
#include <QThread>

#include <atomic>
#include <csignal>
#include <memory>
#include <unistd.h>
#include <vector>

namespace leantune::cli {

namespace {

std::atomic_int g_forward { 0 }; // a signal to pass on to the ranks
extern "C" void onLauncherSignal(int number)
{
    g_forward.store(number);
}

QString describeEnd(const QProcess &p)
{
    if (p.exitStatus() == QProcess::CrashExit)
        return QStringLiteral("was killed by a signal");
    return QStringLiteral("exited with code %1").arg(p.exitCode());
}

} // namespace

int localWorkerCount(const RunConfig &config)
{
    if (config.device == QLatin1String("cuda:all") && config.nproc <= 1)
        return std::max(1, cudaDeviceCount());
    if (config.nproc == 0)
        return std::max(1, QThread::idealThreadCount());
    return config.nproc;
}

int launchLocalWorkers(int workers, const QStringList &trainArgs, const RunConfig &config)
{
    const int port = DistEnv::freeLocalPort();
    if (port == 0)
        return fail(QStringLiteral("--nproc: no free TCP port on 127.0.0.1 for the rendezvous"));
    QStringList args = QStringList { QStringLiteral("train") } + trainArgs;
    if (config.threads == 0) // the cores shared among the ranks, as torchrun's OMP_NUM_THREADS
        args << QStringLiteral("--threads")
             << QString::number(std::max(1, QThread::idealThreadCount() / workers));
    printErr(QStringLiteral("leantune-cli: %1 ranks on this machine (MASTER_ADDR 127.0.0.1, "
                            "MASTER_PORT %2)\n")
                 .arg(workers)
                 .arg(port));
    std::vector<std::unique_ptr<QProcess>> ranks;
    std::vector<qint64> pids;
    for (int r = 0; r < workers; ++r) {
        auto p = std::make_unique<QProcess>();
        p->setProcessEnvironment(DistEnv::localRankEnvironment(r, workers, port));
        if (r == 0) {
            p->setProcessChannelMode(QProcess::ForwardedChannels);
        } else {
            p->setProcessChannelMode(QProcess::ForwardedErrorChannel);
            p->setStandardOutputFile(QProcess::nullDevice());
        }
        p->start(QCoreApplication::applicationFilePath(), args);
        if (!p->waitForStarted()) {
            for (auto &started : ranks)
                started->kill();
            return fail(
                QStringLiteral("--nproc: cannot start rank %1: %2").arg(r).arg(p->errorString()));
        }
        pids.push_back(p->processId());
        ranks.push_back(std::move(p));
    }

    std::signal(SIGINT, onLauncherSignal);
    std::signal(SIGTERM, onLauncherSignal);
    int failedRank = -1;
    QDeadlineTimer killAt = QDeadlineTimer::Forever;
    for (;;) {
        if (const int sig = g_forward.exchange(0); sig != 0)
            for (auto &p : ranks)
                if (p->state() != QProcess::NotRunning)
                    ::kill(pid_t(p->processId()), SIGINT);
        bool running = false;
        for (int r = 0; r < workers; ++r) {
            QProcess &p = *ranks[std::size_t(r)];
            if (p.state() == QProcess::NotRunning) {
                const bool ok = p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
                if (!ok && failedRank < 0 && p.exitCode() != 130 && p.exitCode() != 143) {
                    failedRank = r;
                    printErr(QStringLiteral("leantune-cli: rank %1 (pid %2) %3; stopping the "
                                            "other ranks\n")
                                 .arg(r)
                                 .arg(pids[std::size_t(r)])
                                 .arg(describeEnd(p)));
                    for (auto &other : ranks)
                        if (other->state() != QProcess::NotRunning)
                            other->terminate();
                    killAt = QDeadlineTimer(10000);
                }
                continue;
            }
            running = true;
            p.waitForFinished(50);
        }
        if (!running)
            break;
        if (killAt.hasExpired())
            for (auto &p : ranks)
                if (p->state() != QProcess::NotRunning)
                    p->kill();
    }
    if (failedRank >= 0)
        return fail(
            QStringLiteral("data parallel run failed: rank %1 %2 (the last checkpoint stays valid; "
                           "continue with --resume)")
                .arg(failedRank)
                .arg(describeEnd(*ranks[std::size_t(failedRank)])));
    const QProcess &zero = *ranks.front();
    return zero.exitStatus() == QProcess::NormalExit ? zero.exitCode() : int(Failure);
}

} // namespace leantune::cli
