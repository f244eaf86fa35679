// advise: the highest overall sparsity whose fine-tuned accuracy stays within a budget, found from
// the sensitivity scan (which layers take how much) and short fine-tuning trials (how far).

#include "clicommon.h"

#include "config/runfields.h"
#include "job/pruneadvisor.h"

#include <QCoreApplication>
#include <QProcess>

#include <tuple>

namespace leantune::cli {

int adviseCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Find the highest overall sparsity that keeps validation accuracy within a budget of the "
        "trained run's: reads (or makes) the run's sensitivity scan, then fine-tunes from the "
        "run's weights at candidate sparsities, bisected, each layer pruned to its own target "
        "(--prune-scope sensitivity). Prints the 'train' command line of the best one; --apply "
        "runs it. See README: How far can it be pruned?"));
    parser.addPositionalArgument(QStringLiteral("RUNDIR"),
        QStringLiteral("A finished run folder written by 'train' (its model and summary.json)."));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("The run's training folder (the trials train and validate on it as the run "
                       "did)."),
        QStringLiteral("DIR"));
    const QCommandLineOption budget(QStringLiteral("max-accuracy-drop"),
        QStringLiteral("Validation accuracy the pruned model may lose, in points (0 to 100; "
                       "default 1)."),
        QStringLiteral("POINTS"));
    const QCommandLineOption granularity(QStringLiteral("granularity"),
        QStringLiteral("weight | channel (default weight)."), QStringLiteral("G"));
    const QCommandLineOption epochs(QStringLiteral("epochs"),
        QStringLiteral("Fine-tuning epochs of each trial and of the proposal (default 1)."),
        QStringLiteral("N"));
    const QCommandLineOption trials(QStringLiteral("trials"),
        QStringLiteral("Fine-tuning trials, bisected (default 4)."), QStringLiteral("N"));
    const QCommandLineOption highest(QStringLiteral("max-sparsity"),
        QStringLiteral("The highest overall sparsity to try (default 0.97)."), QStringLiteral("S"));
    const QCommandLineOption scanOption(QStringLiteral("scan"),
        QStringLiteral("The sensitivity scan (default RUNDIR/sensitivity.json for weights, "
                       "RUNDIR/sensitivity-channel.json for channels; made when missing)."),
        QStringLiteral("FILE"));
    const QCommandLineOption work(QStringLiteral("work"),
        QStringLiteral("Folder for the trials' runs (default RUNDIR/advise)."),
        QStringLiteral("DIR"));
    const QCommandLineOption out(QStringLiteral("out"),
        QStringLiteral("Run folder of the proposed run (default RUNDIR-pruned)."),
        QStringLiteral("RUNDIR"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the proposal and the trials as JSON."));
    const QCommandLineOption apply(
        QStringLiteral("apply"), QStringLiteral("Start the proposed run at once."));
    for (const auto &o :
        { data, budget, granularity, epochs, trials, highest, scanOption, work, out, json, apply })
        parser.addOption(o);
    if (const auto code = parseArguments(parser, QStringLiteral("advise"),
            QStringLiteral("RUNDIR --data DIR --max-accuracy-drop POINTS [--granularity "
                           "weight|channel] [--json] [--apply]"),
            args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(QStringLiteral("advise takes exactly one RUNDIR (see 'leantune-cli advise "
                                   "--help')"),
            Usage);
    if (!parser.isSet(data))
        return fail(QStringLiteral("--data DIR is required"), Usage);
    QString error;
    double maxDrop = 1.0;
    if (parser.isSet(budget)) {
        const std::optional<double> v
            = doubleOption(parser, QStringLiteral("max-accuracy-drop"), &error);
        if (!v)
            return fail(error, Usage);
        if (!(*v >= 0.0 && *v <= 100.0))
            return fail(QStringLiteral("--max-accuracy-drop must be between 0 and 100 points "
                                       "(got %1)")
                            .arg(parser.value(budget)),
                Usage);
        maxDrop = *v;
    }
    PruneGranularity g = PruneGranularity::Weight;
    if (parser.isSet(granularity)) {
        const std::optional<PruneGranularity> v
            = enumFromName<PruneGranularity>(parser.value(granularity));
        if (!v)
            return fail(QStringLiteral("unknown --granularity '%1' (choose weight or channel)")
                            .arg(parser.value(granularity)),
                Usage);
        g = *v;
    }
    int fineTuneEpochs = 1, trialCount = 4;
    for (const auto &[option, value, min] :
        { std::tuple(&epochs, &fineTuneEpochs, 1), std::tuple(&trials, &trialCount, 1) }) {
        if (!parser.isSet(*option))
            continue;
        const std::optional<int> v = intOption(parser, option->names().first(), &error);
        if (!v || *v < min)
            return fail(error.isEmpty() ? QStringLiteral("--%1 must be at least %2")
                                              .arg(option->names().first())
                                              .arg(min)
                                        : error,
                Usage);
        *value = *v;
    }
    double maxSparsity = 0.97;
    if (parser.isSet(highest)) {
        const std::optional<double> v
            = doubleOption(parser, QStringLiteral("max-sparsity"), &error);
        if (!v || !(*v > 0.0 && *v < kMaxLayerSparsity))
            return fail(
                QStringLiteral("--max-sparsity must be in (0, %1)").arg(kMaxLayerSparsity), Usage);
        maxSparsity = *v;
    }

    PruneAdvisorOptions options;
    options.dataDir = parser.value(data);
    options.maxAccuracyDrop = maxDrop;
    options.granularity = g;
    options.epochs = fineTuneEpochs;
    options.trials = trialCount;
    options.maxSparsity = maxSparsity;
    options.scanFile = parser.value(scanOption);
    options.workDir = parser.value(work);
    options.outDir = parser.value(out);
    options.program = QCoreApplication::applicationFilePath();
    // Progress on stderr: the scan's lines at most every 10 %, each trial's start and result.
    int lastTenth = -1;
    QString lastText;
    const auto progress = [&](const QString &text, double fraction) {
        const bool scanning = text.startsWith(QLatin1String("Scanning each"));
        const int tenth = int(fraction * 10.0);
        if (text == lastText || (scanning && tenth == lastTenth && fraction < 1.0))
            return;
        lastText = text;
        lastTenth = tenth;
        printErr(QStringLiteral("advise: %1\n").arg(text));
    };
    const QString runDir = parser.positionalArguments().first();
    const std::optional<PruneAdvice> advice
        = advisePruning(runDir, options, progress, nullptr, &error);
    if (!advice)
        return fail(error);
    if (!advice->found) {
        if (parser.isSet(json))
            printOut(jsonLine(advice->toJson()));
        return fail(advice->noFitMessage);
    }
    if (parser.isSet(json)) {
        printOut(jsonLine(advice->toJson()));
    } else {
        printOut(QStringLiteral(
            "Highest sparsity within %1 points of the dense validation accuracy (%2%): %3% with "
            "the %10 scope (validation accuracy %4% after %5 epoch(s) of fine-tuning; %6 trials, "
            "%7 s in all, the scan %8 s).\nTrain it with:\n  %9\n")
                     .arg(maxDrop)
                     .arg(advice->denseValAccuracy * 100.0, 0, 'f', 2)
                     .arg(advice->sparsity * 100.0, 0, 'f', 1)
                     .arg(advice->predictedValAccuracy * 100.0, 0, 'f', 2)
                     .arg(fineTuneEpochs)
                     .arg(advice->trials.size())
                     .arg(advice->seconds, 0, 'f', 0)
                     .arg(advice->scanSeconds, 0, 'f', 0)
                     .arg(advice->command, enumName(advice->scope)));
    }
    if (!parser.isSet(apply))
        return Ok;
    QStringList trainArgs { QStringLiteral("train") };
    trainArgs << runCommandLineArguments(advice->proposal);
    QProcess process;
    process.setProcessChannelMode(QProcess::ForwardedChannels);
    process.start(QCoreApplication::applicationFilePath(), trainArgs);
    process.waitForFinished(-1);
    return process.exitStatus() == QProcess::NormalExit ? process.exitCode() : Failure;
}

} // namespace leantune::cli
