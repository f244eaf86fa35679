// GUI responsiveness while training at full speed on the CPU: the real main window (data set
// browser, live charts, status bar, run history) trains a small CNN with every core, while a 10 ms
// timer on the GUI thread measures how late each tick fires. Prints the delay percentiles as JSON;
// exits 1 when the 99th percentile is over the limit (50 ms by default).
//
//   leantune-bench-gui [--seconds 20] [--per-class 600] [--limit-ms 50] [--json FILE] [-platform
//   offscreen]

#include "../tests/guitestdata.h"

#include "widgets/charts/livecharts.h"
#include "widgets/dataset/datasetbrowser.h"
#include "mainwindow.h"
#include "job/runjob.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace leantune;

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTuneBench"));
    QCoreApplication::setApplicationName(QStringLiteral("LeanTuneBench"));
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption seconds(QStringLiteral("seconds"),
        QStringLiteral("Seconds to measure."), QStringLiteral("S"), QStringLiteral("20"));
    const QCommandLineOption perClass(QStringLiteral("per-class"),
        QStringLiteral("Images per class (10 classes, 28 px)."), QStringLiteral("N"),
        QStringLiteral("600"));
    const QCommandLineOption limit(QStringLiteral("limit-ms"),
        QStringLiteral("Largest acceptable p99 delay."), QStringLiteral("MS"),
        QStringLiteral("50"));
    const QCommandLineOption json(QStringLiteral("json"),
        QStringLiteral("Also write the result to FILE."), QStringLiteral("FILE"));
    parser.addOptions({ seconds, perClass, limit, json });
    parser.process(app);

    QTemporaryDir dir;
    qputenv("XDG_CONFIG_HOME", dir.filePath(QStringLiteral("config")).toUtf8());
    qputenv("LEANTUNE_DATA_DIR", dir.filePath(QStringLiteral("userdata")).toUtf8());
    const QString data = dir.filePath(QStringLiteral("data"));
    std::fprintf(stderr, "writing the data set...\n");
    guitestdata::writeImageFolder(data, 10, parser.value(perClass).toInt(), 28);

    MainWindow window;
    window.setConfirmOnClose(false);
    window.show();
    window.openFolder(data);

    RunConfig config;
    config.dataDir = data;
    config.outDir = dir.filePath(QStringLiteral("run"));
    config.model.inputSize = 28;
    config.batchSize = 64;
    config.epochs = 1000; // stopped by the benchmark
    config.device = QStringLiteral("cpu");
    config.threads = 0; // every core
    config.workers = 2;
    config.prune = QStringLiteral("polynomial:0.5:0.8:0:2000:3:20");

    const double measureSec = parser.value(seconds).toDouble();
    std::vector<double> delaysMs;
    QElapsedTimer clock;
    qint64 last = 0;
    int samplesAtStart = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(10);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        delaysMs.push_back(std::max(0.0, double(now - last) / 1e6 - 10.0));
        last = now;
        if (double(now) / 1e9 >= measureSec) {
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
                clock.start();
                last = 0;
                probe.start();
            }
        });
    });
    QObject::connect(&window, &MainWindow::runEnded,
        [&](bool) { QTimer::singleShot(0, &app, &QCoreApplication::quit); });
    const int rc = app.exec();
    if (rc != 0)
        return rc;

    if (delaysMs.empty()) {
        std::fprintf(stderr, "no measurement\n");
        return 2;
    }
    std::vector<double> sorted = delaysMs;
    std::sort(sorted.begin(), sorted.end());
    const auto pct = [&](double p) {
        return sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size() - 1) + 0.5))];
    };
    const MetricsSample s = window.job()->lastSample();
    QJsonObject result {
        { QStringLiteral("benchmark"), QStringLiteral("gui-timer-delay-while-training") },
        { QStringLiteral("platform"), QGuiApplication::platformName() },
        { QStringLiteral("cores"), QThread::idealThreadCount() },
        { QStringLiteral("seconds"), measureSec },
        { QStringLiteral("ticks"), qint64(delaysMs.size()) },
        { QStringLiteral("delay_ms_p50"), pct(0.50) },
        { QStringLiteral("delay_ms_p95"), pct(0.95) },
        { QStringLiteral("delay_ms_p99"), pct(0.99) },
        { QStringLiteral("delay_ms_max"), sorted.back() },
        { QStringLiteral("samples_during_measurement"),
            window.job()->sampleCount() - samplesAtStart },
        { QStringLiteral("chart_redraws"), window.charts()->redrawCount() },
        { QStringLiteral("images_per_sec_last"), s.imagesPerSec },
        { QStringLiteral("steps"), qint64(s.step) },
        { QStringLiteral("limit_ms"), parser.value(limit).toDouble() },
    };
    const QByteArray text = QJsonDocument(result).toJson(QJsonDocument::Indented);
    std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
    if (parser.isSet(json)) {
        QFile f(parser.value(json));
        if (f.open(QIODevice::WriteOnly))
            f.write(text);
    }
    return pct(0.99) <= parser.value(limit).toDouble() ? 0 : 1;
}
