#include "clicommon.h"
#include "progressprinter.h"

#include "metrics/bytesize.h"
#include "config/distenv.h"
#include "config/runfields.h"
#include "train/rundir.h"
#include "job/runjob.h"

#include <QCoreApplication>
#include <QStringBuilder>
#include <QTimer>

#include <atomic>
#include <csignal>

namespace leantune::cli {

namespace {

std::atomic_int g_signals { 0 }; // SIGINT/SIGTERM received
std::atomic_int g_signal { 0 }; // the first one's number
extern "C" void onSignal(int number)
{
    int none = 0;
    g_signal.compare_exchange_strong(none, number);
    g_signals.fetch_add(1);
}

// Options of the command itself; the run's options come from the field table (run/runfields.h).
const struct {
    const char *name, *help, *valueName;
} kCommandOptions[] = {
    { "resume", "Continue the run in RUNDIR from its newest valid checkpoint.", nullptr },
    { "force", "Replace an existing run in RUNDIR.", nullptr },
    { "progress", "bar | json | none (default bar; json prints one sample per line on stdout).",
        "MODE" },
    { "no-history", "Do not record the run in the run history (runs.sqlite in the data folder).",
        nullptr },
};

} // namespace

int trainCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Train an image classifier on a folder of images, streaming batches from disk, with an "
        "optional pruning schedule. "
        "Writes RUNDIR/config.json, metrics.csv, checkpoints/, model.pt and summary.json. "
        "Ctrl-C stops after the current batch and saves a checkpoint; --resume continues. "
        "The run is recorded in the run history that the desktop application shows "
        "(runs.sqlite in the data folder) unless --no-history is given. "
        "With --nproc N, N processes train together (data parallel) on this machine.\n\n"
        "Exit codes: 0 finished, 1 the run failed, 2 usage error, "
        "130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM; "
        "a stopped run keeps a checkpoint to --resume from."));
    addRunOptions(parser, RunField::Train);
    for (const auto &o : kCommandOptions) {
        if (o.valueName)
            parser.addOption(
                { QLatin1String(o.name), QLatin1String(o.help), QLatin1String(o.valueName) });
        else
            parser.addOption({ QLatin1String(o.name), QLatin1String(o.help) });
    }
    if (const auto code = parseArguments(parser, QStringLiteral("train"),
            QStringLiteral("--data DIR --out RUNDIR [options]"), args))
        return *code;
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument '%1' (see 'leantune-cli train --help')")
                        .arg(parser.positionalArguments().first()),
            Usage);

    const bool resume = parser.isSet(QStringLiteral("resume"));
    RunConfig config;
    if (resume) {
        if (!parser.isSet(QStringLiteral("out")))
            return fail(QStringLiteral("--resume needs --out RUNDIR"), Usage);
        QString readError;
        const std::optional<RunInfo> run
            = readRunInfo(parser.value(QStringLiteral("out")), &readError);
        if (!run)
            return fail(QStringLiteral("cannot resume: ") % readError);
        config = run->config;
    }
    QString error;
    QStringList ignored;
    if (!applyRunOptions(parser, RunField::Train, config, resume, &ignored, &error))
        return fail(error, Usage);
    for (const QString &flag : ignored)
        printErr(QStringLiteral(
            "note: --%1 is ignored with --resume (the run keeps its configuration)\n")
                     .arg(flag));
    if (!config.validate(&error))
        return fail(error, Usage);

    // Data parallel: with --nproc N the job trains rank 0 here and starts ranks 1..N-1 as workers
    // of this program (unless torchrun or the like already made this process a rank); a
    // rank other than 0 prints only errors.
    const bool quiet = !DistEnv::writerProcess();
    ProgressPrinter::Mode mode = ProgressPrinter::Mode::Bar;
    const QString progress = parser.value(QStringLiteral("progress"));
    if (progress == QLatin1String("json"))
        mode = ProgressPrinter::Mode::Json;
    else if (progress == QLatin1String("none"))
        mode = ProgressPrinter::Mode::None;
    else if (!progress.isEmpty() && progress != QLatin1String("bar"))
        return fail(
            QStringLiteral("unknown --progress mode '%1' (choose bar, json or none)").arg(progress),
            Usage);
    if (quiet)
        mode = ProgressPrinter::Mode::None;

    RunJob::Options options;
    options.resume = resume;
    options.force = parser.isSet(QStringLiteral("force"));
    options.recordHistory = !parser.isSet(QStringLiteral("no-history"));
    options.workerProgram = QCoreApplication::applicationFilePath();
    RunJob job(config, options);
    ProgressPrinter printer(mode, config.epochs);
    int exitCode = Ok;
    QObject::connect(&job, &RunJob::started, &printer, &ProgressPrinter::onStarted);
    QObject::connect(&job, &RunJob::sampleReady, &printer, &ProgressPrinter::onSample);
    QObject::connect(&job, &RunJob::epochFinished, &printer, &ProgressPrinter::onEpoch);
    if (!quiet)
        QObject::connect(&job, &RunJob::logMessage, &printer, &ProgressPrinter::onLog);
    QObject::connect(&job, &RunJob::finished, &printer, [&](const RunSummary &s) {
        if (!quiet) // a data-parallel rank other than 0: rank 0 reports the run
            printer.onFinished(s);
        // Stopped by a signal: 128 + its number, as shells report it (Ctrl-C 130, SIGTERM 143).
        if (s.status != QLatin1String("finished"))
            exitCode = 128 + (g_signal.load() > 0 ? g_signal.load() : SIGINT);
        QCoreApplication::quit();
    });
    QObject::connect(&job, &RunJob::failed, &printer, [&](const QString &message) {
        exitCode = fail(message);
        QCoreApplication::quit();
    });

    // Ctrl-C / SIGTERM: the first asks the run to stop (it saves a checkpoint); a second aborts.
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QTimer signalPoll;
    QObject::connect(&signalPoll, &QTimer::timeout, [&] {
        const int n = g_signals.load();
        if (n == 1) {
            printErr(
                QStringLiteral("\nstopping after the current batch (saving a checkpoint)...\n"));
            job.stop();
            g_signals.store(2);
        } else if (n > 2) {
            std::_Exit(128 + g_signal.load());
        }
    });
    signalPoll.start(100);

    if (!job.start(&error))
        return fail(error, Usage);
    QCoreApplication::exec();
    job.waitForFinished();
    return exitCode;
}

} // namespace leantune::cli
