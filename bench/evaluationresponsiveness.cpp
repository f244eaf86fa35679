// GUI responsiveness while the Evaluation view evaluates in the background: the real main window
// trains a small CNN for one epoch on 10 classes of 28 px images, then its Evaluation tab evaluates
// that run on all of them (10,000 images by default) while a 10 ms timer on the GUI thread
// measures how late each tick fires. Prints the delay percentiles as JSON; exits 1 when the 99th
// percentile is over the limit (50 ms by default).
//
//   leantune-bench-gui-eval [--per-class 1000] [--limit-ms 50] [--json FILE] [-platform offscreen]
//   leantune-bench-gui-eval --run RUNDIR --data DIR [--compare RUNDIR2] [--shots DIR]
//                           [--cell TRUE,PREDICTED]
// The second form evaluates an existing run on DIR instead (no training). --shots saves the screen
// (ImageMagick's import -window root; run it under a window manager) after the evaluation, with the
// images of the --cell pair listed, and with --compare, RUNDIR minus RUNDIR2.

#include "../tests/guitestdata.h"

#include "widgets/eval/evaluationjob.h"
#include "widgets/eval/evaluationview.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QProcess>
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
    const QCommandLineOption perClass(QStringLiteral("per-class"),
        QStringLiteral("Images per class (10 classes, 28 px)."), QStringLiteral("N"),
        QStringLiteral("1000"));
    const QCommandLineOption limit(QStringLiteral("limit-ms"),
        QStringLiteral("Largest acceptable p99 delay."), QStringLiteral("MS"),
        QStringLiteral("50"));
    const QCommandLineOption json(QStringLiteral("json"),
        QStringLiteral("Also write the result to FILE."), QStringLiteral("FILE"));
    const QCommandLineOption run(QStringLiteral("run"),
        QStringLiteral("Evaluate this run folder instead of training one."),
        QStringLiteral("RUNDIR"));
    const QCommandLineOption dataOption(QStringLiteral("data"),
        QStringLiteral("With --run: the folder to evaluate on."), QStringLiteral("DIR"));
    const QCommandLineOption compare(QStringLiteral("compare"),
        QStringLiteral("With --shots: also show --run minus this run."), QStringLiteral("RUNDIR"));
    const QCommandLineOption shots(QStringLiteral("shots"),
        QStringLiteral("Save screenshots of the screen into DIR."), QStringLiteral("DIR"));
    const QCommandLineOption cell(QStringLiteral("cell"),
        QStringLiteral("With --shots: the cell whose images are shown."),
        QStringLiteral("TRUE,PREDICTED"));
    parser.addOptions({ perClass, limit, json, run, dataOption, compare, shots, cell });
    parser.process(app);

    QTemporaryDir dir;
    qputenv("XDG_CONFIG_HOME", dir.filePath(QStringLiteral("config")).toUtf8());
    qputenv("LEANTUNE_DATA_DIR", dir.filePath(QStringLiteral("userdata")).toUtf8());
    const bool existing = parser.isSet(run);
    const QString data = existing ? parser.value(dataOption) : dir.filePath(QStringLiteral("data"));
    if (!existing) {
        std::fprintf(stderr, "writing the data set...\n");
        guitestdata::writeImageFolder(data, 10, parser.value(perClass).toInt(), 28);
    }

    MainWindow window;
    window.setConfirmOnClose(false);
    window.show();

    RunConfig config;
    config.dataDir = data;
    config.outDir = existing ? parser.value(run) : dir.filePath(QStringLiteral("run"));
    config.model.inputSize = 28;
    config.batchSize = 64;
    config.epochs = 1;
    config.device = QStringLiteral("cpu");
    config.threads = 0;
    config.workers = 2;

    std::vector<double> delaysMs;
    QElapsedTimer clock;
    qint64 last = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(10);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = clock.nsecsElapsed();
        delaysMs.push_back(std::max(0.0, double(now - last) / 1e6 - 10.0));
        last = now;
    });
    EvaluationView *view = window.evaluation();
    int progressSignals = 0;
    qint64 images = 0;
    QObject::connect(view->job(), &EvaluationJob::progress, [&](qint64 done, qint64) {
        ++progressSignals;
        images = done;
    });
    const auto evaluate = [&](bool ok) {
        if (!ok) {
            std::fprintf(stderr, "the training run failed\n");
            QCoreApplication::exit(2);
            return;
        }
        std::fprintf(stderr, "evaluating...\n");
        window.showEvaluation(config.outDir); // the tab, on the run's validation predictions
        clock.start();
        last = 0;
        probe.start();
        if (!view->evaluate(config.outDir, data, dir.filePath(QStringLiteral("eval.csv")))) {
            std::fprintf(stderr, "cannot evaluate: %s\n", qPrintable(view->messageText()));
            QCoreApplication::exit(2);
        }
    };
    QObject::connect(&window, &MainWindow::runEnded, evaluate);
    double evaluationSec = 0.0;
    QObject::connect(view, &EvaluationView::evaluationEnded, [&](bool ok) {
        probe.stop();
        evaluationSec = double(clock.nsecsElapsed()) / 1e9;
        QCoreApplication::exit(ok ? 0 : 2);
    });
    QTimer::singleShot(0, [&] {
        if (existing) {
            evaluate(true);
            return;
        }
        std::fprintf(stderr, "training one epoch...\n");
        QString error;
        if (!window.startRun(config, &error)) {
            std::fprintf(stderr, "cannot start: %s\n", qPrintable(error));
            QCoreApplication::exit(2);
        }
    });
    const int rc = app.exec();
    if (rc != 0)
        return rc;
    if (parser.isSet(shots)) {
        const QDir out(parser.value(shots));
        QDir().mkpath(out.path());
        const auto shoot = [&out](const char *name) {
            for (int i = 0; i < 20; ++i) {
                QCoreApplication::processEvents();
                QThread::msleep(50);
            }
            QProcess::execute(QStringLiteral("import"),
                { QStringLiteral("-window"), QStringLiteral("root"),
                    out.filePath(QLatin1String(name) + QStringLiteral(".png")) });
        };
        shoot("evaluation-counts");
        view->setNormalized(true);
        shoot("evaluation-normalized");
        view->setNormalized(false);
        const QStringList pair = parser.value(cell).split(QLatin1Char(','));
        if (pair.size() == 2 && view->summary()) {
            view->selectCell(int(view->summary()->classes.indexOf(pair[0])),
                int(view->summary()->classes.indexOf(pair[1])));
            shoot("evaluation-cell");
        }
        if (parser.isSet(compare)) {
            view->compareRuns(config.outDir, QFileInfo(config.outDir).fileName(),
                parser.value(compare), QFileInfo(parser.value(compare)).fileName());
            shoot("evaluation-difference");
        }
    }
    if (delaysMs.empty()) {
        std::fprintf(stderr, "no measurement\n");
        return 2;
    }
    std::vector<double> sorted = delaysMs;
    std::sort(sorted.begin(), sorted.end());
    const auto pct = [&](double p) {
        return sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size() - 1) + 0.5))];
    };
    const QJsonObject result {
        { QStringLiteral("benchmark"), QStringLiteral("gui-timer-delay-while-evaluating") },
        { QStringLiteral("platform"), QGuiApplication::platformName() },
        { QStringLiteral("cores"), QThread::idealThreadCount() },
        { QStringLiteral("images"), images },
        { QStringLiteral("evaluation_seconds"), evaluationSec },
        { QStringLiteral("progress_signals"), progressSignals },
        { QStringLiteral("ticks"), qint64(delaysMs.size()) },
        { QStringLiteral("delay_ms_p50"), pct(0.50) },
        { QStringLiteral("delay_ms_p95"), pct(0.95) },
        { QStringLiteral("delay_ms_p99"), pct(0.99) },
        { QStringLiteral("delay_ms_max"), sorted.back() },
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
