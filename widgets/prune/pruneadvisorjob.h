#pragma once

#include "job/pruneadvisor.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

class QThread;

namespace leantune {

// Runs the pruning advisor's two steps on a thread of its own for the desktop: startScan() reads
// or makes the run's sensitivity scan (loadOrScanSensitivity), startAdvice() runs the fine-tuning
// trials (advisePruning). progress() comes at most every 50 ms (and at each new text); then exactly
// one of scanReady()/adviceReady() or failed() ("cancelled" after cancel()). The job lives on the
// GUI thread; the destructor cancels a running step and waits for it (a trial stops after its
// current batch).
class PruneAdvisorJob : public QObject {
    Q_OBJECT
public:
    explicit PruneAdvisorJob(QObject *parent = nullptr);
    ~PruneAdvisorJob() override;

    // False + *error while a step runs.
    bool startScan(const QString &runDir, const PruneAdvisorOptions &options, QString *error);
    bool startAdvice(const QString &runDir, const PruneAdvisorOptions &options, QString *error);
    void cancel();
    bool isRunning() const { return m_thread != nullptr; }

Q_SIGNALS:
    void progress(const QString &text, double fraction);
    void scanReady(const leantune::SensitivityScan &scan);
    void adviceReady(const leantune::PruneAdvice &advice);
    void failed(const QString &message);

private:
    struct Outcome;
    bool start(
        const QString &runDir, const PruneAdvisorOptions &options, bool advise, QString *error);
    void onThreadFinished();

    QThread *m_thread = nullptr;
    std::shared_ptr<Outcome> m_outcome;
    std::atomic_bool m_cancel { false };
};

} // namespace leantune
