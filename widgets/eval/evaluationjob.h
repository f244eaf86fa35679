#pragma once

#include "train/evaluator.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

class QThread;

namespace leantune {

// Evaluates a run folder, a LibTorch export or an ONNX export on a data folder on a thread of its
// own (evaluateRun / evaluateOnnx), writing a predictions file. progress() comes at most every
// 50 ms (and once at the end); then exactly one of finished() or failed() ("evaluation cancelled"
// after cancel()). The job lives on the GUI thread; the destructor cancels a running evaluation
// and waits for it to stop (at the next batch).
class EvaluationJob : public QObject {
    Q_OBJECT
public:
    explicit EvaluationJob(QObject *parent = nullptr);
    ~EvaluationJob() override;

    // Torch threads and loader workers; the default leaves one core to the GUI.
    void setOptions(const EvaluateOptions &options) { m_options = options; }
    EvaluateOptions options() const { return m_options; }

    // Starts evaluating MODEL on DATADIR into PREDICTIONSFILE; false + *error while one runs.
    bool start(const QString &model, const QString &dataDir, const QString &predictionsFile,
        QString *error = nullptr);
    void cancel();
    bool isRunning() const;
    QString model() const { return m_model; }
    QString dataDir() const { return m_dataDir; }
    QString predictionsFile() const { return m_predictionsFile; }

Q_SIGNALS:
    void progress(qint64 done, qint64 total);
    void finished(const QString &predictionsFile, const leantune::EvaluationReport &report);
    void failed(const QString &message);

private:
    struct Outcome;
    void onThreadFinished();

    EvaluateOptions m_options;
    QString m_model, m_dataDir, m_predictionsFile;
    QThread *m_thread = nullptr;
    std::shared_ptr<Outcome> m_outcome;
    std::atomic_bool m_cancel { false };
};

} // namespace leantune
