#include "widgets/audit/auditjob.h"

#include <QElapsedTimer>
#include <QLocale>
#include <QPointer>
#include <QStringBuilder>
#include <QThread>

namespace leantune {

namespace {

QString duration(double seconds)
{
    const qint64 s = qint64(seconds + 0.5);
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

} // namespace

AuditJob::AuditJob(
    AuditOptions options, LabelAuditOptions labels, QString auditDir, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
    , m_labels(std::move(labels))
    , m_auditDir(std::move(auditDir))
    , m_cancel(std::make_shared<std::atomic_bool>(false))
{
}

AuditJob::~AuditJob()
{
    if (m_thread) {
        m_cancel->store(true);
        m_thread->wait();
        delete m_thread;
    }
}

void AuditJob::cancel()
{
    m_cancel->store(true);
}

void AuditJob::start()
{
    if (m_thread)
        return;
    m_cancel->store(false);
    const QPointer<AuditJob> self(this);
    // Progress goes to the GUI thread queued, at most ~10 times a second.
    const auto post = [self](const QString &text, double fraction) {
        QMetaObject::invokeMethod(
            self.data(),
            [self, text, fraction] {
                if (self)
                    Q_EMIT self->progress(text, fraction);
            },
            Qt::QueuedConnection);
    };
    m_thread = QThread::create([this, post] {
        const std::atomic_bool *cancel = m_cancel.get();
        QElapsedTimer throttle;
        const bool model = !m_options.duplicatesOnly;
        bool afterModel = false;
        const QLocale locale;
        const auto stage = [&](const QString &name, int done, int total) {
            if (throttle.isValid() && throttle.elapsed() < 100 && done < total)
                return;
            throttle.start();
            const double part = total > 0 ? qBound(0.0, double(done) / total, 1.0) : 0.0;
            double fraction = part;
            if (model)
                fraction = afterModel ? 0.95 + 0.05 * part : 0.02 * part;
            post(QStringLiteral("%1 %2 / %3 images")
                     .arg(name, locale.toString(done), locale.toString(total)),
                fraction);
        };
        const auto fold = [&](const CrossFoldProgress &p) {
            afterModel = true; // the duplicate stages come after the model pass
            QString text
                = QStringLiteral("fold %1/%2 %3").arg(p.fold + 1).arg(p.folds).arg(p.stage);
            if (p.epochs > 0 && p.stage == QLatin1String("training"))
                text += QStringLiteral(" · epoch %1/%2").arg(p.epoch + 1).arg(p.epochs);
            if (p.imagesPerSec > 0)
                text += QStringLiteral(" · %1 img/s").arg(locale.toString(p.imagesPerSec, 'f', 0));
            if (p.secondsLeft >= 0)
                text += QStringLiteral(" · %1 left").arg(duration(p.secondsLeft));
            const double inFold = p.epochs > 0
                ? qBound(0.0, (p.epoch + p.epochProgress) / double(p.epochs), 1.0)
                : 0.0;
            const double fraction
                = p.folds > 0 ? 0.02 + 0.93 * (p.fold + inFold) / double(p.folds) : -1.0;
            post(text, fraction);
        };
        const AuditModelPass pass
            = model ? labelAuditPass(m_labels, fold, cancel) : AuditModelPass();
        QString error;
        std::optional<AuditOutcome> outcome = runAudit(m_options, pass, &error, stage, cancel);
        if (outcome && !writeAudit(m_auditDir, outcome->report, &error))
            outcome.reset();
        if (!outcome && cancel->load())
            error = QStringLiteral("cancelled");
        m_ok = outcome.has_value();
        m_error = error;
        if (outcome)
            m_warnings = outcome->warnings;
    });
    m_thread->setObjectName(QStringLiteral("audit"));
    connect(m_thread, &QThread::finished, this, &AuditJob::onThreadFinished);
    m_thread->start();
}

void AuditJob::onThreadFinished()
{
    m_thread->wait();
    delete m_thread;
    m_thread = nullptr;
    if (m_ok)
        Q_EMIT finished(m_auditDir, m_warnings);
    else
        Q_EMIT failed(m_error);
}

} // namespace leantune
