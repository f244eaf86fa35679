#include "widgets/prune/pruneadvisorjob.h"

#include <QElapsedTimer>
#include <QThread>

namespace leantune {

// The step's result, written by the worker thread before it ends and read on the GUI thread after
// QThread::finished.
struct PruneAdvisorJob::Outcome {
    std::optional<SensitivityScan> scan;
    std::optional<PruneAdvice> advice;
    QString error;
};

PruneAdvisorJob::PruneAdvisorJob(QObject *parent)
    : QObject(parent)
{
}

PruneAdvisorJob::~PruneAdvisorJob()
{
    if (m_thread) {
        m_cancel = true;
        m_thread->wait();
        delete m_thread;
    }
}

void PruneAdvisorJob::cancel()
{
    m_cancel = true;
}

bool PruneAdvisorJob::startScan(
    const QString &runDir, const PruneAdvisorOptions &options, QString *error)
{
    return start(runDir, options, false, error);
}

bool PruneAdvisorJob::startAdvice(
    const QString &runDir, const PruneAdvisorOptions &options, QString *error)
{
    return start(runDir, options, true, error);
}

bool PruneAdvisorJob::start(
    const QString &runDir, const PruneAdvisorOptions &options, bool advise, QString *error)
{
    if (m_thread) {
        if (error)
            *error = tr("the advisor is already working");
        return false;
    }
    m_cancel = false;
    m_outcome = std::make_shared<Outcome>();
    // The callback runs on the worker (and the scan's threads, one call at a time); it posts to
    // this object at most every 50 ms, and at once when the text changes.
    struct Throttle {
        QElapsedTimer timer;
        QString text;
    };
    auto throttle = std::make_shared<Throttle>();
    const PruneAdvisorProgress report = [this, throttle](const QString &text, double fraction) {
        if (text == throttle->text && throttle->timer.isValid() && throttle->timer.elapsed() < 50
            && fraction < 1.0)
            return;
        throttle->timer.start();
        throttle->text = text;
        QMetaObject::invokeMethod(
            this, [this, text, fraction] { Q_EMIT progress(text, fraction); },
            Qt::QueuedConnection);
    };
    const std::shared_ptr<Outcome> outcome = m_outcome;
    const std::atomic_bool *cancel = &m_cancel;
    m_thread = QThread::create([outcome, runDir, options, advise, report, cancel] {
        QString why;
        if (advise)
            outcome->advice = advisePruning(runDir, options, report, cancel, &why);
        else
            outcome->scan = loadOrScanSensitivity(runDir, options, report, cancel, &why);
        outcome->error = why;
    });
    m_thread->setObjectName(
        advise ? QStringLiteral("prune advisor") : QStringLiteral("sensitivity scan"));
    connect(m_thread, &QThread::finished, this, &PruneAdvisorJob::onThreadFinished);
    m_thread->start(QThread::LowPriority);
    return true;
}

void PruneAdvisorJob::onThreadFinished()
{
    QThread *thread = m_thread;
    m_thread = nullptr;
    thread->deleteLater();
    const std::shared_ptr<Outcome> outcome = std::move(m_outcome);
    if (outcome->scan)
        Q_EMIT scanReady(*outcome->scan);
    else if (outcome->advice)
        Q_EMIT adviceReady(*outcome->advice);
    else
        Q_EMIT failed(outcome->error.isEmpty() ? tr("the advisor failed") : outcome->error);
}

} // namespace leantune
