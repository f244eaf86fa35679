#pragma once
// Shared by the GUI responsiveness benchmarks (leantune-bench-gui, leantune-bench-gui-eval): their
// common options, the settings kept out of the user's, the run they train, the 10 ms timer that
// measures how late the GUI thread is, and the JSON report with its pass/fail exit code.

#include "config/runconfig.h"

#include <QCommandLineOption>
#include <QElapsedTimer>
#include <QJsonObject>
#include <QString>
#include <QTemporaryDir>
#include <QTimer>

#include <vector>

class QCommandLineParser;

namespace leantune::guibench {

// --per-class N (10 classes of 28 px), --limit-ms MS (the largest acceptable p99 delay) and
// --json FILE, added to PARSER by the constructor.
struct CommonOptions {
    CommonOptions(QCommandLineParser &parser, const QString &perClassDefault);
    QCommandLineOption perClass;
    QCommandLineOption limit;
    QCommandLineOption json;
};

// Points the settings and the data folder (the run history) into DIR, under the bench's names.
void isolateSettings(const QTemporaryDir &dir);

// Writes the benchmark's data set into DATA: 10 classes of PER_CLASS 28 px images.
void writeDataSet(const QString &data, int perClass);

// The run the benchmarks train: DATA's 28 px images into OUT, batches of 64 on the CPU with every
// core and 2 decode workers.
RunConfig benchRun(const QString &data, const QString &out);

// A 10 ms precise timer on the GUI thread that records how late each tick fires after start().
class TickProbe {
public:
    TickProbe();
    void start(); // restarts the clock
    void stop() { m_timer.stop(); }
    double seconds() const { return double(m_clock.nsecsElapsed()) / 1e9; }
    const std::vector<double> &delaysMs() const { return m_delaysMs; }
    QTimer *timer() { return &m_timer; } // its timeout() follows the recording of the tick

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_last = 0;
    std::vector<double> m_delaysMs;
};

// Adds the platform, the cores and DELAYS' percentiles to RESULT, prints it as JSON on stdout (and
// into JSON_FILE when not empty) and returns the exit code: 0 when the 99th percentile is within
// LIMIT_MS, 1 when over it, 2 without a measurement.
int report(QJsonObject result, const std::vector<double> &delaysMs, double limitMs,
    const QString &jsonFile);

} // namespace leantune::guibench
