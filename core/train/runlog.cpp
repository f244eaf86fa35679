#include "train/runlog.h"

#include "train/trainer.h"

#include <QDateTime>

namespace leantune {

RunLog::~RunLog()
{
    for (const QMetaObject::Connection &c : std::as_const(m_connections))
        QObject::disconnect(c);
}

bool RunLog::open(const QString &path, bool append, QString *error)
{
    m_file.setFileName(path);
    if (m_file.open(QIODevice::WriteOnly | (append ? QIODevice::Append : QIODevice::Truncate)))
        return true;
    if (error)
        *error = QStringLiteral("cannot write %1: %2").arg(path, m_file.errorString());
    return false;
}

void RunLog::write(const QString &message)
{
    if (!m_file.isOpen())
        return;
    m_file.write(QDateTime::currentDateTime().toString(Qt::ISODateWithMs).toUtf8() + ' '
        + message.toUtf8() + '\n');
    m_file.flush();
}

void RunLog::attach(Trainer *trainer)
{
    // Direct connections: written on the trainer's thread, in the order the run says things.
    m_connections << QObject::connect(
        trainer, &Trainer::logMessage, trainer, [this](const QString &m) { write(m); },
        Qt::DirectConnection)
                  << QObject::connect(
                         trainer, &Trainer::failed, trainer,
                         [this](const QString &m) { write(QStringLiteral("failed: ") + m); },
                         Qt::DirectConnection)
                  << QObject::connect(
                         trainer, &Trainer::finished, trainer,
                         [this](const RunSummary &s) {
                             write(QStringLiteral("finished: ") + s.status);
                         },
                         Qt::DirectConnection);
}

} // namespace leantune
