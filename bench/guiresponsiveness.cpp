// GUI responsiveness while training at full speed on the CPU: the real main window (data set
// browser, live charts, status bar, run history) trains a small CNN with every core, while a 10 ms
// timer on the GUI thread measures how late each tick fires. Prints the delay percentiles as JSON;
// exits 1 when the 99th percentile is over the limit (50 ms by default).
//
//   leantune-bench-gui [--seconds 20] [--per-class 600] [--limit-ms 50] [--json FILE] [-platform
//   offscreen]

#include "guibench.h"

#include "widgets/charts/livecharts.h"
#include "widgets/dataset/datasetbrowser.h"
#include "mainwindow.h"
#include "job/runjob.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>

using namespace leantune;

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption seconds(QStringLiteral("seconds"),
        QStringLiteral("Seconds to measure."), QStringLiteral("S"), QStringLiteral("20"));
    parser.addOption(seconds);
    const guibench::CommonOptions common(parser, QStringLiteral("600"));
    parser.process(app);

    QTemporaryDir dir;
    guibench::isolateSettings(dir);
    const QString data = dir.filePath(QStringLiteral("data"));
    guibench::writeDataSet(data, parser.value(common.perClass).toInt());

    MainWindow window;
    window.setConfirmOnClose(false);
    window.show();
    window.openFolder(data);

    RunConfig config = guibench::benchRun(data, dir.filePath(QStringLiteral("run")));
    config.epochs = 1000; // stopped by the benchmark
    config.prune = QStringLiteral("polynomial:0.5:0.8:0:2000:3:20");

    const double measureSec = parser.value(seconds).toDouble();
    int samplesAtStart = 0;
    guibench::TickProbe probe;
    QObject::connect(probe.timer(), &QTimer::timeout, [&] {
        if (probe.seconds() >= measureSec) {
            probe.stop();
            window.stopRun();
        }
    });
    bool measuring = false;
    QObject::connect(window.browser(), &DatasetBrowser::scanFinished, [&] {
        QString error;
        if (!window.startRun(config, &error)) {
            std::fprintf(stderr, "cannot start: %s\n", qPrintable(error));
            QCoreApplication::exit(2);
            return;
        }
        QObject::connect(window.job(), &RunJob::sampleReady, [&] {
            // Measure once training runs at full speed (after set-up and the first samples).
            if (!measuring && window.job()->sampleCount() >= 3) {
                measuring = true;
                samplesAtStart = window.job()->sampleCount();
                probe.start();
            }
        });
    });
    QObject::connect(&window, &MainWindow::runEnded,
        [&](bool) { QTimer::singleShot(0, &app, &QCoreApplication::quit); });
    const int rc = app.exec();
    if (rc != 0)
        return rc;

    const MetricsSample s = window.job()->lastSample();
    return guibench::report(
        QJsonObject {
            { QStringLiteral("benchmark"), QStringLiteral("gui-timer-delay-while-training") },
            { QStringLiteral("seconds"), measureSec },
            { QStringLiteral("samples_during_measurement"),
                window.job()->sampleCount() - samplesAtStart },
            { QStringLiteral("chart_redraws"), window.charts()->redrawCount() },
            { QStringLiteral("images_per_sec_last"), s.imagesPerSec },
            { QStringLiteral("steps"), qint64(s.step) },
        },
        probe.delaysMs(), parser.value(common.limit).toDouble(), parser.value(common.json));
}
