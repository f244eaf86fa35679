#include "config/distenv.h"

#include <QtGlobal>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace leantune {

std::optional<DistEnv> DistEnv::fromEnvironment(QString *error)
{
    DistEnv env;
    if (!qEnvironmentVariableIsSet("WORLD_SIZE"))
        return env;
    QString problem;
    const auto number = [&problem](const char *name, int fallback, int low, int high) -> int {
        if (!qEnvironmentVariableIsSet(name))
            return fallback;
        bool ok = false;
        const int v = qEnvironmentVariable(name).trimmed().toInt(&ok);
        if (!ok || v < low || v > high) {
            if (problem.isEmpty())
                problem = QStringLiteral("%1=%2 is not a number from %3 to %4")
                              .arg(QLatin1String(name), qEnvironmentVariable(name))
                              .arg(low)
                              .arg(high);
            return -1;
        }
        return v;
    };
    env.present = true;
    env.worldSize = number("WORLD_SIZE", 1, 1, 65536);
    env.rank = number("RANK", -2, 0, 65535);
    env.localRank = number("LOCAL_RANK", env.rank, 0, 65535);
    env.masterAddr = qEnvironmentVariable("MASTER_ADDR", QStringLiteral("127.0.0.1"));
    env.storeFile = qEnvironmentVariable("LEANTUNE_STORE_FILE");
    env.masterPort = number("MASTER_PORT", env.storeFile.isEmpty() ? -2 : 0, 1, 65535);
    if (problem.isEmpty() && env.rank == -2)
        problem = QStringLiteral("WORLD_SIZE is set but RANK is not");
    if (problem.isEmpty() && env.masterPort == -2)
        problem = QStringLiteral("WORLD_SIZE is set but MASTER_PORT is not");
    if (problem.isEmpty() && env.rank >= env.worldSize)
        problem
            = QStringLiteral("RANK=%1 is not below WORLD_SIZE=%2").arg(env.rank).arg(env.worldSize);
    if (!problem.isEmpty()) {
        if (error)
            *error = QStringLiteral("distributed launch: ") + problem;
        return std::nullopt;
    }
    return env;
}

bool DistEnv::writerProcess()
{
    return fromEnvironment(nullptr).value_or(DistEnv()).isWriter();
}

int DistEnv::freeLocalPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

QProcessEnvironment DistEnv::localRankEnvironment(int rank, int worldSize, const QString &storeFile)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("RANK"), QString::number(rank));
    env.insert(QStringLiteral("LOCAL_RANK"), QString::number(rank));
    env.insert(QStringLiteral("WORLD_SIZE"), QString::number(worldSize));
    env.insert(QStringLiteral("LOCAL_WORLD_SIZE"), QString::number(worldSize));
    env.insert(QStringLiteral("MASTER_ADDR"), QStringLiteral("127.0.0.1"));
    env.remove(QStringLiteral("MASTER_PORT"));
    env.insert(QStringLiteral("LEANTUNE_STORE_FILE"), storeFile);
    return env;
}

DistEnv DistEnv::localRankZero(int worldSize, const QString &storeFile)
{
    DistEnv env;
    env.present = true;
    env.worldSize = worldSize;
    env.masterAddr = QStringLiteral("127.0.0.1");
    env.storeFile = storeFile;
    return env;
}

} // namespace leantune
