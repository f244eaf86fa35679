#pragma once
// Shared by the suites that drive leantune-cli as a user would (tst_cli, tst_faults, ...).

#include <QProcess>
#include <QString>
#include <QStringList>

namespace leantune::testcli {

struct Result {
    int exitCode = -1; // -1 when the process crashed or timed out
    QString out;
    QString err;
};

inline QString cliPath()
{
    return QStringLiteral(LEANTUNE_CLI_PATH);
}

// Waits for a started leantune-cli P to end (killed after timeoutMs) and returns its exit code and
// output.
inline Result finish(QProcess &p, int timeoutMs = 300000)
{
    Result r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

// Runs leantune-cli ARGS to completion (killed after timeoutMs) and returns its exit code and
// output.
inline Result runCli(const QStringList &args, int timeoutMs = 300000)
{
    QProcess p;
    p.start(cliPath(), args);
    return finish(p, timeoutMs);
}

} // namespace leantune::testcli
