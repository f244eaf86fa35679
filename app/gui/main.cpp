// leantune: the desktop application. Only the command line lives here; the window is MainWindow.

#include "widgets/charts/livecharts.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "mainwindow.h"
#include "metrics/memoryprobe.h"
#include "widgets/runs/runhistorywidget.h"
#include "store/runstore.h"

#include <QApplication>
#include <QByteArray>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QScreen>
#include <QSettings>
#include <QTimer>
#include <QWindow>

#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

using namespace leantune;

namespace {

// Grabs the window as the screen shows it (the X server's pixels under Xvfb), falling back to
// rendering the widget when the platform cannot grab.
bool saveScreenshot(QWidget *window, const QString &path)
{
    QPixmap shot;
    if (QScreen *screen = window->screen();
        screen && QGuiApplication::platformName() == QLatin1String("xcb"))
        shot = screen->grabWindow(window->winId());
    if (shot.isNull())
        shot = window->grab();
    QDir().mkpath(QFileInfo(path).absolutePath());
    return shot.save(path);
}

// Screenshots of every part of the window, one after the other, each after the event loop has drawn
// it: data set, data issues (the folder's last audit), training, run history (its first three runs
// selected, so their charts are overlaid) and the run configuration dialog. Calls done() at the
// end.
void takeTour(MainWindow *window, const QString &dir, const std::function<void(bool)> &done)
{
    auto ok = std::make_shared<bool>(true);
    auto steps = std::make_shared<std::vector<std::function<void()>>>();
    auto next = std::make_shared<std::function<void()>>();
    const auto shoot = [window, dir, ok](const QString &name) {
        return [=] { *ok = saveScreenshot(window, QDir(dir).filePath(name)) && *ok; };
    };
    const auto show = [window](int tab) { return [=] { window->showTab(tab); }; };
    *steps = { show(0), shoot(QStringLiteral("1-dataset.png")), show(1),
        shoot(QStringLiteral("2-data-issues.png")), show(2),
        shoot(QStringLiteral("3-training.png")),
        [window] {
            window->showTab(3);
            QVector<qint64> ids;
            for (const StoredRun &r : window->store()->runs())
                ids << r.id;
            window->history()->selectRuns(ids.mid(0, 3));
        },
        shoot(QStringLiteral("4-history.png")),
        [window, dir, ok] {
            auto *dialog = new RunConfigDialog(window);
            dialog->setAttribute(Qt::WA_DeleteOnClose);
            RunConfig c = RunConfigDialog::rememberedConfig();
            c.dataDir = window->browser()->folder();
            dialog->setConfig(c);
            if (const auto index = window->browser()->datasetIndex())
                dialog->setClassCounts(index->classCounts());
            dialog->show();
            QTimer::singleShot(600, dialog, [dialog, dir, ok] {
                *ok = saveScreenshot(
                          dialog, QDir(dir).filePath(QStringLiteral("5-run-configuration.png")))
                    && *ok;
                dialog->close();
            });
        } };
    *next = [steps, next, ok, done, i = size_t(0)]() mutable {
        if (i < steps->size()) {
            (*steps)[i++]();
            QTimer::singleShot(i == steps->size() ? 1200 : 500, [next] { (*next)(); });
        } else {
            done(*ok);
        }
    };
    (*next)();
}

// True when the command line asks for the help or the version, which the parser prints before it
// exits (options after a lone "--" are folder names).
bool asksForHelpOrVersion(int argc, char *argv[])
{
    for (int i = 1; i < argc; ++i) {
        const QByteArray arg(argv[i]);
        if (arg == "--")
            return false;
        if (arg == "-h" || arg == "--help" || arg == "-?" || arg == "--help-all" || arg == "-v"
            || arg == "--version")
            return true;
    }
    return false;
}

} // namespace

int main(int argc, char *argv[])
{
    usePredictableHostAllocator(); // before any thread allocates (see metrics/memoryprobe.h)
    QCoreApplication::setApplicationName(QStringLiteral("LeanTune"));
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTune"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LEANTUNE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "LeanTune: browse an image data set, train a classifier with a pruning schedule, and watch "
        "throughput, memory and sparsity live. Opens DIR, else the last folder, else the "
        "Fashion-MNIST sample."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(
        QStringLiteral("DIR"), QStringLiteral("Data folder to open (one sub-folder per class)."));
    const QCommandLineOption start(QStringLiteral("start"),
        QStringLiteral("Start a run on the folder right away with the last configuration."));
    const QCommandLineOption epochs(QStringLiteral("epochs"),
        QStringLiteral("With --start: epochs to train."), QStringLiteral("N"));
    const QCommandLineOption out(QStringLiteral("out"),
        QStringLiteral("With --start: the run folder."), QStringLiteral("RUNDIR"));
    const QCommandLineOption device(QStringLiteral("device"),
        QStringLiteral("With --start: auto | cpu | cuda[:N]."), QStringLiteral("DEV"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
        QStringLiteral("Save a screenshot of the window to FILE when the run ends (with "
                       "--start) or once the data set is scanned."),
        QStringLiteral("FILE"));
    const QCommandLineOption quit(QStringLiteral("quit-when-done"),
        QStringLiteral("Quit after the run ends (with --start) or after the screenshot."));
    const QCommandLineOption stopAfter(QStringLiteral("stop-after"),
        QStringLiteral("With --start: stop the run after S seconds (as the Stop button does)."),
        QStringLiteral("S"));
    const QCommandLineOption prune(QStringLiteral("prune"),
        QStringLiteral("With --start: the pruning schedule (as leantune-cli's --prune)."),
        QStringLiteral("SPEC"));
    const QCommandLineOption tour(QStringLiteral("tour"),
        QStringLiteral("Like --screenshot, but saves one screenshot per tab and of the run "
                       "configuration dialog into DIR."),
        QStringLiteral("DIR"));
    parser.addOptions({ start, epochs, out, device, prune, screenshot, tour, quit, stopAfter });
    // --help and --version print and exit: answer them without QApplication, which needs a display
    // (an ssh session, a package build, a headless server have none).
    if (asksForHelpOrVersion(argc, argv)) {
        QCoreApplication app(argc, argv);
        parser.process(app); // prints and exits
        return 0;
    }

    QApplication app(argc, argv);
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.leantune.LeanTune"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/leantune/leantune.svg")));
    parser.process(app);

    MainWindow window;
    window.show();

    QString folder = parser.positionalArguments().value(0);
    if (folder.isEmpty()) {
        const QString last = QSettings().value(QStringLiteral("lastFolder")).toString();
        if (!last.isEmpty() && QFileInfo(last).isDir())
            folder = last;
    }
    if (folder.isEmpty())
        window.openSampleDataset();
    else
        window.openFolder(folder);

    const QString shotPath = parser.value(screenshot);
    const QString tourDir = parser.value(tour);
    const bool quitWhenDone = parser.isSet(quit);
    int exitCode = 0;
    const auto finish = [&](bool ok) {
        if (!ok)
            exitCode = 1;
        if (!tourDir.isEmpty()) {
            window.charts()->flush();
            QDir().mkpath(tourDir);
            takeTour(&window, tourDir, [&window, quitWhenDone, &exitCode](bool saved) {
                if (!saved) {
                    std::fprintf(stderr, "leantune: cannot save the screenshots\n");
                    exitCode = 1;
                }
                if (quitWhenDone)
                    window.close();
            });
        } else if (!shotPath.isEmpty()) {
            window.charts()->flush();
            // One more event-loop turn so the queued replots reach the screen before the grab.
            QTimer::singleShot(300, &window, [&window, shotPath, quitWhenDone, &exitCode] {
                if (!saveScreenshot(&window, shotPath)) {
                    std::fprintf(
                        stderr, "leantune: cannot save the screenshot %s\n", qPrintable(shotPath));
                    exitCode = 1;
                }
                if (quitWhenDone)
                    window.close();
            });
        } else if (quitWhenDone) {
            window.close();
        }
    };

    if (parser.isSet(start)) {
        if (folder.isEmpty()) {
            std::fprintf(stderr, "leantune: --start needs a data folder\n");
            return 2;
        }
        window.setConfirmOnClose(false);
        QObject::connect(&window, &MainWindow::runEnded, &window, finish);
        RunConfig config = window.configForCurrentData();
        if (parser.isSet(epochs))
            config.epochs = parser.value(epochs).toInt();
        if (parser.isSet(out))
            config.outDir = parser.value(out);
        if (parser.isSet(device))
            config.device = parser.value(device);
        if (parser.isSet(prune))
            config.prune = parser.value(prune);
        if (parser.isSet(stopAfter))
            QTimer::singleShot(
                int(parser.value(stopAfter).toDouble() * 1000), &window, &MainWindow::stopRun);
        QString error;
        if (!window.startRun(config, &error)) {
            std::fprintf(stderr, "leantune: cannot start the run: %s\n", qPrintable(error));
            return 2;
        }
    } else if (!shotPath.isEmpty() || !tourDir.isEmpty() || quitWhenDone) {
        QObject::connect(
            window.browser(), &DatasetBrowser::scanFinished, &window, [&] { finish(true); });
        QObject::connect(
            window.browser(), &DatasetBrowser::scanFailed, &window, [&] { finish(false); });
    }
    const int rc = app.exec();
    return rc != 0 ? rc : exitCode;
}
