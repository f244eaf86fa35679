#include "clicommon.h"
#include "progressprinter.h"

#include "metrics/bytesize.h"
#include "run/runfields.h"
#include "train/rundir.h"
#include "train/trainer.h"

#include <QCoreApplication>
#include <QStringBuilder>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <csignal>

namespace leantune::cli {

namespace {

std::atomic_int g_interrupts{0};
extern "C" void onInterrupt(int) { g_interrupts.fetch_add(1); }

// Options of the command itself; the run's options come from the field table (run/runfields.h).
const struct {
    const char *name, *help, *valueName;
} kCommandOptions[] = {
    {"resume", "Continue the run in RUNDIR from its newest valid checkpoint.", nullptr},
    {"force", "Replace an existing run in RUNDIR.", nullptr},
    {"progress", "bar | json | none (default bar; json prints one sample per line on stdout).", "MODE"},
};

} // namespace

int trainCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Train an image classifier on a folder of images, streaming batches from disk, with an optional "
        "pruning schedule. Writes RUNDIR/config.json, metrics.csv, checkpoints/, model.pt and summary.json. "
        "Ctrl-C stops after the current batch and saves a checkpoint; --resume continues."));
    addRunOptions(parser, RunField::Train);
    for (const auto &o : kCommandOptions) {
        if (o.valueName)
            parser.addOption({QLatin1String(o.name), QLatin1String(o.help), QLatin1String(o.valueName)});
        else
            parser.addOption({QLatin1String(o.name), QLatin1String(o.help)});
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
        const std::optional<RunInfo> run = readRunInfo(parser.value(QStringLiteral("out")), &readError);
        if (!run)
            return fail(QStringLiteral("cannot resume: ") % readError);
        config = run->config;
    }
    QString error;
    QStringList ignored;
    if (!applyRunOptions(parser, RunField::Train, config, resume, &ignored, &error))
        return fail(error, Usage);
    for (const QString &flag : ignored)
        printErr(QStringLiteral("note: --%1 is ignored with --resume (the run keeps its configuration)\n").arg(flag));
    if (!config.validate(&error))
        return fail(error, Usage);

    ProgressPrinter::Mode mode = ProgressPrinter::Mode::Bar;
    const QString progress = parser.value(QStringLiteral("progress"));
    if (progress == QLatin1String("json"))
        mode = ProgressPrinter::Mode::Json;
    else if (progress == QLatin1String("none"))
        mode = ProgressPrinter::Mode::None;
    else if (!progress.isEmpty() && progress != QLatin1String("bar"))
        return fail(QStringLiteral("unknown --progress mode '%1' (choose bar, json or none)").arg(progress), Usage);

    Trainer::Options options;
    options.resume = resume;
    options.force = parser.isSet(QStringLiteral("force"));
    auto *trainer = new Trainer(config, options);
    ProgressPrinter printer(mode, config.epochs);
    QThread thread;
    thread.setObjectName(QStringLiteral("trainer"));
    trainer->moveToThread(&thread);
    int exitCode = Ok;
    QObject::connect(&thread, &QThread::started, trainer, &Trainer::run);
    QObject::connect(&thread, &QThread::finished, trainer, &QObject::deleteLater);
    QObject::connect(trainer, &Trainer::started, &printer, &ProgressPrinter::onStarted);
    QObject::connect(trainer, &Trainer::sampleReady, &printer, &ProgressPrinter::onSample);
    QObject::connect(trainer, &Trainer::epochFinished, &printer, &ProgressPrinter::onEpoch);
    QObject::connect(trainer, &Trainer::logMessage, &printer, &ProgressPrinter::onLog);
    QObject::connect(trainer, &Trainer::finished, &printer, [&](const RunSummary &s) {
        printer.onFinished(s);
        exitCode = s.status == QLatin1String("cancelled") ? 130 : Ok;
        thread.quit();
    });
    QObject::connect(trainer, &Trainer::failed, &printer, [&](const QString &message) {
        exitCode = fail(message);
        thread.quit();
    });
    QObject::connect(&thread, &QThread::finished, QCoreApplication::instance(), &QCoreApplication::quit);

    // Ctrl-C / SIGTERM: the first asks the trainer to stop (it saves a checkpoint); the second aborts.
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    QTimer interruptPoll;
    QObject::connect(&interruptPoll, &QTimer::timeout, [&] {
        const int n = g_interrupts.load();
        if (n == 1) {
            printErr(QStringLiteral("\nstopping after the current batch (saving a checkpoint)...\n"));
            trainer->requestCancel();
            g_interrupts.store(2);
        } else if (n > 2) {
            std::_Exit(130);
        }
    });
    interruptPoll.start(100);

    thread.start();
    QCoreApplication::exec();
    thread.wait();
    return exitCode;
}

} // namespace leantune::cli
