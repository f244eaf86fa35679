#pragma once

#include "metrics/metricssample.h"
#include "config/runsummary.h"

#include <QElapsedTimer>
#include <QObject>

namespace leantune::cli {

// Renders a training run's signals in the terminal: a one-line progress bar fitted to the terminal
// width, drawn only when stdout and stderr are terminals, else a plain line every 10 s (bar); one
// JSON object per MetricsSample on stdout (json); or nothing but errors (none). Lives on the main
// thread.
class ProgressPrinter : public QObject {
    Q_OBJECT
public:
    enum class Mode { Bar, Json, None };
    ProgressPrinter(Mode mode, int epochs, QObject *parent = nullptr);

public Q_SLOTS:
    void onStarted(const QString &device, qint64 totalSteps, qint64 stepsPerEpoch);
    void onSample(const leantune::MetricsSample &sample);
    void onEpoch(const leantune::EpochSummary &summary);
    void onLog(const QString &message);
    void onFinished(const leantune::RunSummary &summary);

private:
    void clearLine();
    Mode m_mode;
    int m_epochs;
    qint64 m_totalSteps = 0;
    bool m_tty = false;
    bool m_lineOpen = false;
    QElapsedTimer m_lastDraw;
    QElapsedTimer m_clock;
};

} // namespace leantune::cli
