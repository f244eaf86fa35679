#pragma once

#include <QFile>
#include <QList>
#include <QMetaObject>
#include <QString>

namespace leantune {

class Trainer;

// RUNDIR/run.log: every message of a run, timestamped, written as it is said (appended on resume).
// attach() records a Trainer's log messages and its end (failed / finished) on the trainer's own
// thread, in order, until the RunLog is destroyed. Not thread-safe: used on the trainer's thread.
class RunLog {
public:
    RunLog() = default;
    ~RunLog();
    RunLog(const RunLog &) = delete;
    RunLog &operator=(const RunLog &) = delete;

    bool open(const QString &path, bool append, QString *error);
    void write(const QString &message); // nothing until open() succeeded
    void attach(Trainer *trainer);

private:
    QFile m_file;
    QList<QMetaObject::Connection> m_connections;
};

} // namespace leantune
