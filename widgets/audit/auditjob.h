#pragma once
// A data audit in the background for the desktop: the engine the command line runs
// (audit/auditrunner.h with the cross-training pass of audit/labelaudit.h), on its own thread.

#include "audit/auditreport.h"
#include "audit/auditrunner.h"
#include "audit/labelaudit.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

class QThread;

namespace leantune {

// Runs one audit and writes AUDITDIR/audit.json and issues.csv, as `leantune-cli audit` does.
// Signals arrive on the thread the job lives on (the GUI's). Cross-training resumes from the
// finished folds of an earlier audit in the same folder. cancel() stops after the current batch
// (failed("cancelled")); destroying a running job cancels it and waits for its thread.
class AuditJob : public QObject {
    Q_OBJECT
public:
    AuditJob(AuditOptions options, LabelAuditOptions labels, QString auditDir,
        QObject *parent = nullptr);
    ~AuditJob() override;

    void start();
    void cancel();
    bool isRunning() const { return m_thread != nullptr; }
    QString auditDir() const { return m_auditDir; }

Q_SIGNALS:
    // TEXT says what goes on ("fold 2/3 training · epoch 3/8 · 1,200 img/s · 2:10 left"); FRACTION
    // is of the whole audit in [0, 1], or -1 while unknown.
    void progress(const QString &text, double fraction);
    void finished(const QString &auditDir, const QStringList &warnings);
    void failed(const QString &message); // "cancelled" when cancelled

private:
    void onThreadFinished();

    AuditOptions m_options;
    LabelAuditOptions m_labels;
    QString m_auditDir;
    QThread *m_thread = nullptr;
    std::shared_ptr<std::atomic_bool> m_cancel;
    bool m_ok = false;
    QString m_error;
    QStringList m_warnings;
};

} // namespace leantune
