#include "job/localranks.h"

#include "config/distenv.h"

#include "config/runfields.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>

#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

namespace leantune {

LocalRanks::LocalRanks(QObject *parent)
    : QObject(parent)
{
    m_killTimer.setSingleShot(true);
    connect(&m_killTimer, &QTimer::timeout, this, &LocalRanks::killAll);
}

LocalRanks::~LocalRanks()
{
    for (auto &p : m_ranks) {
        p->disconnect(this);
        if (p->state() != QProcess::NotRunning) {
            p->terminate();
            if (!p->waitForFinished(5000)) {
                p->kill();
                p->waitForFinished(5000);
            }
        }
    }
}

int LocalRanks::worldSizeFor(const RunConfig &config)
{
    if (qEnvironmentVariableIsSet("WORLD_SIZE"))
        return 1; // launched as a rank (torchrun, --nproc): this process is one of them
    return config.localWorldSize();
}

QString LocalRanks::storeFile() const
{
    return m_storeDir ? m_storeDir->filePath(QStringLiteral("store")) : QString();
}

QString LocalRanks::findCli()
{
    if (QString given = qEnvironmentVariable("LEANTUNE_CLI"); !given.isEmpty())
        return given;
    const QDir here(QCoreApplication::applicationDirPath());
    for (const QString &candidate : { here.filePath(QStringLiteral("leantune-cli")),
             here.filePath(QStringLiteral("../cli/leantune-cli")) }) { // the build tree's app/gui
        const QFileInfo info(candidate);
        if (info.isFile() && info.isExecutable())
            return info.canonicalFilePath();
    }
    return {};
}

QStringList LocalRanks::workerArguments(const RunConfig &config, bool resume)
{
    QStringList args { QStringLiteral("train") };
    if (!resume) {
        args << runCommandLineArguments(config);
    } else {
        args << QStringLiteral("--out") << config.outDir << QStringLiteral("--resume")
             << runCommandLineArguments(config, true);
    }
    return args << QStringLiteral("--no-history") << QStringLiteral("--progress")
                << QStringLiteral("none");
}

bool LocalRanks::start(
    const QString &program, const QStringList &args, int worldSize, QString *error)
{
    m_storeDir = std::make_unique<QTemporaryDir>(
        QDir::temp().filePath(QStringLiteral("leantune-ranks-XXXXXX")));
    if (!m_storeDir->isValid()) {
        if (error)
            *error = tr("data parallel: cannot create a folder for the ranks to meet in %1: %2")
                         .arg(QDir::tempPath(), m_storeDir->errorString());
        return false;
    }
    const pid_t parent = ::getpid();
    for (int r = 1; r < worldSize; ++r) {
        auto p = std::make_unique<QProcess>();
        p->setProcessEnvironment(DistEnv::localRankEnvironment(r, worldSize, storeFile()));
        // In the child, before exec: die with this process, also if it already died.
        p->setChildProcessModifier([parent] {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(1);
        });
        p->setStandardOutputFile(QProcess::nullDevice());
        QProcess *raw = p.get();
        connect(raw, &QProcess::readyReadStandardError, this, [this, raw, r] {
            for (const QByteArray &line : raw->readAllStandardError().split('\n')) {
                const QString text = QString::fromLocal8Bit(line).trimmed();
                if (text.isEmpty())
                    continue;
                m_lastError[r - 1] = text;
                Q_EMIT logLine(tr("rank %1: %2").arg(r).arg(text));
            }
        });
        connect(raw, &QProcess::finished, this, [this, r] { onEnded(r); });
        m_lastError << QString();
        p->start(program, args);
        if (!p->waitForStarted()) {
            if (error)
                *error = tr("data parallel: cannot start rank %1 (%2): %3")
                             .arg(r)
                             .arg(program, p->errorString());
            m_ranks.push_back(std::move(p));
            m_ending = true;
            killAll();
            return false;
        }
        m_pids << p->processId();
        m_ranks.push_back(std::move(p));
    }
    return true;
}

QVector<qint64> LocalRanks::pids() const
{
    return m_pids;
}

bool LocalRanks::anyRunning() const
{
    for (const auto &p : m_ranks)
        if (p->state() != QProcess::NotRunning)
            return true;
    return false;
}

void LocalRanks::interrupt()
{
    for (const auto &p : m_ranks)
        if (p->state() == QProcess::Running)
            ::kill(pid_t(p->processId()), SIGINT);
}

void LocalRanks::whenAllEnded(int ms, std::function<void()> done)
{
    m_ending = true;
    m_done = std::move(done);
    if (!anyRunning()) {
        checkAllEnded();
        return;
    }
    m_killTimer.start(ms);
}

void LocalRanks::onEnded(int rank)
{
    QProcess &p = *m_ranks[std::size_t(rank - 1)];
    p.setReadChannel(QProcess::StandardError);
    const QString rest = QString::fromLocal8Bit(p.readAllStandardError()).trimmed();
    if (!rest.isEmpty()) {
        m_lastError[rank - 1] = rest.section(QLatin1Char('\n'), -1);
        Q_EMIT logLine(tr("rank %1: %2").arg(rank).arg(rest));
    }
    const int code = p.exitCode();
    const bool crashed = p.exitStatus() == QProcess::CrashExit;
    const bool stopped = !crashed && (code == 0 || code == 130 || code == 143);
    // After rank 0 ended the others may end badly for that reason; a signal not ours still counts.
    if (!stopped && (!m_ending || (crashed && !m_killed)) && m_failure.isEmpty()) {
        const QString how
            = crashed ? tr("was killed by a signal") : tr("exited with code %1").arg(code);
        m_failure = tr("rank %1 (pid %2) %3").arg(rank).arg(m_pids.value(rank - 1)).arg(how);
        if (!m_lastError[rank - 1].isEmpty())
            m_failure += QStringLiteral(": ") + m_lastError[rank - 1];
        Q_EMIT rankFailed(m_failure);
    }
    checkAllEnded();
}

void LocalRanks::checkAllEnded()
{
    if (!m_ending || !m_done || anyRunning())
        return;
    m_killTimer.stop();
    const std::function<void()> done = std::move(m_done);
    m_done = nullptr;
    done();
}

void LocalRanks::killAll()
{
    m_killed = true;
    for (const auto &p : m_ranks)
        if (p->state() != QProcess::NotRunning)
            p->kill(); // their finished() follows, and with it checkAllEnded()
}

} // namespace leantune
