#pragma once

#include "config/runconfig.h"
#include "train/batchsizefinder.h"

#include <QFutureWatcher>
#include <QWidget>

#include <atomic>
#include <optional>

class QLabel;
class QProgressBar;
class QPushButton;

namespace leantune {

// The "Find..." button beside a batch-size field, a busy indicator, and a note (its own widget, to
// be placed on a row of its own) that says what the BatchSizeFinder found or why it found nothing.
// The search runs on a worker thread; destroying the field stops its search part and waits for it.
class BatchSizeFinderField : public QWidget {
    Q_OBJECT
public:
    explicit BatchSizeFinderField(QWidget *parent = nullptr);
    ~BatchSizeFinderField() override;

    // BatchSizeFinder::find(CONFIG, MAXSAMPLES) on a worker thread; found() when it ends.
    void find(const RunConfig &config, qint64 maxSamples);
    bool isRunning() const { return m_finder.isRunning(); }
    std::optional<BatchSizeReport> report() const { return m_report; }
    QLabel *note() const { return m_note; }
    QString noteText() const; // empty while the note is hidden
    // The note describes the finder's answer only while the batch field holds it.
    void batchChanged(int batch);

Q_SIGNALS:
    void findRequested(); // the button was clicked
    void busyChanged(bool busy);
    void found(bool ok); // report() holds the answer, or the note says why there is none

private:
    struct Result {
        std::optional<BatchSizeReport> report;
        QString error;
    };
    void setNote(const QString &text, bool error);
    void done(const Result &result);

    QPushButton *m_button;
    QProgressBar *m_busy;
    QLabel *m_note;
    QFutureWatcher<Result> m_finder;
    std::atomic_bool m_cancel { false };
    std::optional<BatchSizeReport> m_report;
};

} // namespace leantune
