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

#include "guibench.h"

#include "widgets/eval/evaluationjob.h"
#include "widgets/eval/evaluationview.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <cstdio>

using namespace leantune;

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    const guibench::CommonOptions common(parser, QStringLiteral("1000"));
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
    parser.addOptions({ run, dataOption, compare, shots, cell });
    parser.process(app);

    QTemporaryDir dir;
    guibench::isolateSettings(dir);
    const bool existing = parser.isSet(run);
    const QString data = existing ? parser.value(dataOption) : dir.filePath(QStringLiteral("data"));
    if (!existing)
        guibench::writeDataSet(data, parser.value(common.perClass).toInt());

    MainWindow window;
    window.setConfirmOnClose(false);
    window.show();

    RunConfig config = guibench::benchRun(
        data, existing ? parser.value(run) : dir.filePath(QStringLiteral("run")));
    config.epochs = 1;

    guibench::TickProbe probe;
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
        evaluationSec = probe.seconds();
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
    return guibench::report(
        QJsonObject {
            { QStringLiteral("benchmark"), QStringLiteral("gui-timer-delay-while-evaluating") },
            { QStringLiteral("images"), images },
            { QStringLiteral("evaluation_seconds"), evaluationSec },
            { QStringLiteral("progress_signals"), progressSignals },
        },
        probe.delaysMs(), parser.value(common.limit).toDouble(), parser.value(common.json));
}
