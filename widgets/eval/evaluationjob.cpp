#include "widgets/eval/evaluationjob.h"

#include "export/onnxmodel.h"

#include <QElapsedTimer>
#include <QThread>

#include <algorithm>

namespace leantune {

// The evaluation's result, written by the worker thread before it ends and read on the GUI thread
// after QThread::finished.
struct EvaluationJob::Outcome {
    std::optional<EvaluationReport> report;
    QString error;
};

EvaluationJob::EvaluationJob(QObject *parent)
    : QObject(parent)
{
    m_options.threads = std::max(1, QThread::idealThreadCount() - 1);
    m_options.workers = 1;
    m_options.batchSize = 128;
    m_options.device = QStringLiteral("auto");
}

EvaluationJob::~EvaluationJob()
{
    if (m_thread) {
        m_cancel = true;
        m_thread->wait();
        delete m_thread;
    }
}

bool EvaluationJob::isRunning() const
{
    return m_thread != nullptr;
}

void EvaluationJob::cancel()
{
    m_cancel = true;
}

bool EvaluationJob::start(
    const QString &model, const QString &dataDir, const QString &predictionsFile, QString *error)
{
    if (m_thread) {
        if (error)
            *error = tr("an evaluation is already running");
        return false;
    }
    m_model = model;
    m_dataDir = dataDir;
    m_predictionsFile = predictionsFile;
    m_cancel = false;
    m_outcome = std::make_shared<Outcome>();
    EvaluateOptions options = m_options;
    options.predictionsFile = predictionsFile;
    options.cancel = &m_cancel;
    // The callback runs on the worker; it posts to this object, at most every 50 ms.
    auto timer = std::make_shared<QElapsedTimer>();
    options.progress = [this, timer](std::int64_t done, std::int64_t total) {
        if (timer->isValid() && timer->elapsed() < 50 && done < total)
            return;
        timer->start();
        QMetaObject::invokeMethod(
            this, [this, done, total] { Q_EMIT progress(done, total); }, Qt::QueuedConnection);
    };
    const std::shared_ptr<Outcome> outcome = m_outcome;
    m_thread = QThread::create([outcome, options, model, dataDir] {
        QString why;
        outcome->report = isOnnxModelFile(model) ? evaluateOnnx(model, dataDir, options, &why)
                                                 : evaluateRun(model, dataDir, options, &why);
        outcome->error = why;
    });
    m_thread->setObjectName(QStringLiteral("evaluation"));
    connect(m_thread, &QThread::finished, this, &EvaluationJob::onThreadFinished);
    m_thread->start(QThread::LowPriority);
    return true;
}

void EvaluationJob::onThreadFinished()
{
    QThread *thread = m_thread;
    m_thread = nullptr;
    thread->deleteLater();
    const std::shared_ptr<Outcome> outcome = std::move(m_outcome);
    if (outcome->report) {
        const auto total = qint64(outcome->report->images + outcome->report->skipped);
        Q_EMIT progress(total, total);
        Q_EMIT finished(m_predictionsFile, *outcome->report);
    } else {
        Q_EMIT failed(outcome->error.isEmpty() ? tr("the evaluation failed") : outcome->error);
    }
}

} // namespace leantune
