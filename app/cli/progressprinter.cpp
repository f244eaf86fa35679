#include "progressprinter.h"

#include "clicommon.h"
#include "progressline.h"

#include <QJsonDocument>
#include <QStringBuilder>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>
#include <unistd.h>

namespace leantune::cli {

namespace {

QString megabytes(std::int64_t bytes)
{
    return QString::number(double(bytes) / (1024.0 * 1024.0), 'f', 0) % QStringLiteral(" MiB");
}

} // namespace

// The live bar needs a terminal on both streams: with stdout redirected (a log, a pipe) the output
// is being recorded, and carriage-return redraws would fill it with partial lines.
ProgressPrinter::ProgressPrinter(Mode mode, int epochs, QObject *parent)
    : QObject(parent)
    , m_mode(mode)
    , m_epochs(epochs)
    , m_tty(isatty(fileno(stdout)) && isatty(fileno(stderr)))
{
    m_clock.start();
}

void ProgressPrinter::clearLine()
{
    if (m_lineOpen) {
        printErr(m_tty ? QStringLiteral("\r\033[K") : QStringLiteral("\n"));
        m_lineOpen = false;
    }
}

void ProgressPrinter::onStarted(const QString &device, qint64 totalSteps, qint64 stepsPerEpoch)
{
    m_totalSteps = totalSteps;
    if (m_mode != Mode::Json && m_mode != Mode::None)
        printErr(QStringLiteral("training on %1: %2 epochs of %3 steps\n")
                     .arg(device)
                     .arg(m_epochs)
                     .arg(stepsPerEpoch));
    else if (m_mode == Mode::Json)
        printErr(QStringLiteral("training on %1\n").arg(device));
}

void ProgressPrinter::onSample(const MetricsSample &s)
{
    if (m_mode == Mode::Json) {
        printOut(jsonLine(s.toJson()));
        return;
    }
    if (m_mode != Mode::Bar || !s.event.isEmpty())
        return;
    // A terminal gets a live bar (10 Hz); a pipe or log file a plain line every 10 s (no bar, no
    // carriage returns), beside the per-epoch summaries.
    if (m_lastDraw.isValid() && m_lastDraw.elapsed() < (m_tty ? 100 : 10000))
        return;
    m_lastDraw.start();
    const double done
        = m_totalSteps > 0 ? qBound(0.0, double(s.step) / double(m_totalSteps), 1.0) : 0.0;
    const double elapsed = s.elapsedSec;
    const QString eta = progressEta(done > 0.01 ? elapsed * (1.0 - done) / done : -1.0);
    // Fields by importance: on a narrow terminal the least important go first, so the line never
    // wraps (a wrapped line is not redrawn in place by the carriage return).
    // One column spare: a line filling the last column makes some terminals wrap early.
    const int columns = m_tty ? terminalColumns() - 1 : std::numeric_limits<int>::max();
    std::vector<ProgressField> fields;
    if (m_tty) {
        fields.push_back({ progressBar(done, columns >= 119 ? 24 : 12), 3 });
    }
    fields.push_back({ QStringLiteral("epoch %1/%2 %3%")
                           .arg(s.epoch + 1)
                           .arg(m_epochs)
                           .arg(int(done * 100.0), 3),
        0, QStringLiteral(" ") });
    fields.push_back({ QStringLiteral("%1 img/s").arg(s.imagesPerSec, 0, 'f', 0), 5 });
    fields.push_back({ QStringLiteral("(data %1%)")
                           .arg(s.dataWaitMs + s.computeMs > 0
                                   ? int(100.0 * s.dataWaitMs / (s.dataWaitMs + s.computeMs))
                                   : 0),
        1, QStringLiteral(" ") });
    fields.push_back({ QStringLiteral("loss %1").arg(s.loss, 0, 'f', 3), 6 });
    fields.push_back({ QStringLiteral("sparsity %1/%2")
                           .arg(s.targetSparsity, 0, 'f', 2)
                           .arg(s.measuredSparsity, 0, 'f', 2),
        2 });
    fields.push_back({ QStringLiteral("RSS ") % megabytes(s.hostRssBytes), 1 });
    if (s.deviceAllocatedBytes >= 0)
        fields.push_back(
            { QStringLiteral("GPU %1 (peak %2)")
                    .arg(megabytes(s.deviceAllocatedBytes), megabytes(s.devicePeakBytes)),
                2 });
    fields.push_back({ eta, 7 });
    if (m_tty) {
        printErr(QStringLiteral("\r\033[K") % fitProgressLine(fields, columns));
        m_lineOpen = true;
    } else {
        printErr(fitProgressLine(fields, columns) % QLatin1Char('\n'));
    }
}

void ProgressPrinter::onEpoch(const EpochSummary &e)
{
    if (m_mode == Mode::None || m_mode == Mode::Json)
        return;
    clearLine();
    printErr(QStringLiteral(
        "epoch %1/%2: train loss %3 acc %4% | val loss %5 acc %6% | sparsity %7 | %8 s\n")
                 .arg(e.epoch + 1)
                 .arg(m_epochs)
                 .arg(e.trainLoss, 0, 'f', 4)
                 .arg(e.trainAccuracy * 100.0, 0, 'f', 2)
                 .arg(e.valLoss, 0, 'f', 4)
                 .arg(e.valAccuracy * 100.0, 0, 'f', 2)
                 .arg(e.measuredSparsity, 0, 'f', 3)
                 .arg(e.seconds, 0, 'f', 1));
}

void ProgressPrinter::onLog(const QString &message)
{
    if (m_mode == Mode::None)
        return;
    clearLine();
    printErr(message % QLatin1Char('\n'));
}

void ProgressPrinter::onFinished(const RunSummary &s)
{
    clearLine();
    if (m_mode == Mode::Json) {
        printErr(jsonLine(s.toJson()));
        return;
    }
    QString text = QStringLiteral("%1: %2 steps, %3 epochs in %4 on %5\n")
                       .arg(s.status)
                       .arg(s.steps)
                       .arg(s.epochs)
                       .arg(progressDuration(s.wallSeconds), s.device);
    if (s.valAccuracy >= 0)
        text += QStringLiteral("  validation accuracy %1%\n").arg(s.valAccuracy * 100.0, 0, 'f', 2);
    if (s.testAccuracy >= 0)
        text
            += QStringLiteral("  test accuracy       %1%\n").arg(s.testAccuracy * 100.0, 0, 'f', 2);
    text += QStringLiteral("  sparsity            %1 measured (target %2)\n")
                .arg(s.finalSparsity, 0, 'f', 4)
                .arg(s.targetSparsity, 0, 'f', 4);
    text += QStringLiteral("  throughput          %1 images/s (median)\n")
                .arg(s.imagesPerSec, 0, 'f', 0);
    text += QStringLiteral("  peak host RSS       %1\n").arg(megabytes(s.peakHostRssBytes));
    if (s.peakDeviceBytes >= 0)
        text += QStringLiteral("  peak device memory  %1\n").arg(megabytes(s.peakDeviceBytes));
    if (s.skippedFiles)
        text += QStringLiteral("  skipped files       %1 (failed to decode)\n").arg(s.skippedFiles);
    text += QStringLiteral("  results in          %1\n").arg(s.runDir);
    printErr(text);
}

} // namespace leantune::cli
