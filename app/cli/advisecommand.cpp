// advise: the highest overall sparsity whose fine-tuned accuracy stays within a budget, found from
// the sensitivity scan (which layers take how much) and short fine-tuning trials (how far).

#include "clicommon.h"

#include "config/runfields.h"
#include "prune/sensitivity.h"
#include "train/rundir.h"
#include "train/sensitivityscanner.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QStringBuilder>

#include <cmath>
#include <tuple>

namespace leantune::cli {

namespace {

QJsonObject readJsonFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(file.read(16 << 20)).object();
}

struct Trial {
    double sparsity = 0.0;
    double valAccuracy = -1.0; // -1: failed
    double seconds = 0.0;
    bool fits = false;
};

// The run a proposal or a trial trains: RUN's configuration fine-tuned from RUN's weights for
// EPOCHS epochs, pruned by a polynomial schedule from 0 to SPARSITY over the first 70 % of its
// steps (the rest recovers at the final masks), each layer to its own target from the scan.
RunConfig fineTuneConfig(const RunInfo &run, const QString &dataDir, const QString &scanFile,
    PruneGranularity granularity, int epochs, std::int64_t stepsPerEpoch, double sparsity,
    const QString &outDir)
{
    RunConfig c = run.config;
    c.dataDir = dataDir;
    c.outDir = outDir;
    c.initWeights = QFileInfo(run.runDir).absoluteFilePath();
    c.epochs = epochs;
    c.freezeEpochs = 0;
    const std::int64_t end = std::max<std::int64_t>(1, stepsPerEpoch * epochs * 7 / 10);
    const std::int64_t frequency = std::max<std::int64_t>(1, end / 10);
    c.prune = QStringLiteral("polynomial:0:%1:0:%2:3:%3")
                  .arg(QString::number(sparsity, 'f', 3))
                  .arg(end)
                  .arg(frequency);
    c.pruneGranularity = granularity;
    c.pruneScope = PruneScope::Sensitivity;
    c.pruneSensitivityFile = QFileInfo(scanFile).absoluteFilePath();
    return c;
}

// Trains CONFIG with this program; the run's validation accuracy, or -1 when it failed (its
// output then goes to stderr).
double trainTrial(const RunConfig &config, QString *output)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    QStringList args { QStringLiteral("train") };
    args << runCommandLineArguments(config) << QStringLiteral("--no-history")
         << QStringLiteral("--force") << QStringLiteral("--progress") << QStringLiteral("none");
    process.start(QCoreApplication::applicationFilePath(), args);
    process.waitForFinished(-1);
    *output = QString::fromUtf8(process.readAll());
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0)
        return -1.0;
    return readJsonFile(QDir(config.outDir).filePath(QStringLiteral("summary.json")))
        .value(QStringLiteral("val_accuracy"))
        .toDouble(-1.0);
}

// The highest overall sparsity whose allocation's predicted one-shot drop (the sum of the layers'
// own drops) is within BUDGET: a starting point that needs no fine-tuning.
double scanLowerBound(const SensitivityScan &scan, double budget)
{
    double lo = 0.0, hi = kMaxLayerSparsity - 1e-3;
    for (int i = 0; i < 30; ++i) {
        const double mid = 0.5 * (lo + hi);
        const std::optional<LayerTargets> t = allocateLayerTargets(scan, mid, nullptr);
        (t && t->predictedDrop <= budget ? lo : hi) = mid;
    }
    return lo;
}

} // namespace

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

    // The run: its configuration, a model and the dense validation accuracy to keep.
    const QString runDir = QFileInfo(parser.positionalArguments().first()).absoluteFilePath();
    const std::optional<RunInfo> run = readRunInfo(runDir, &error);
    if (!run)
        return fail(QStringLiteral("%1 is not a run folder: %2").arg(runDir, error));
    if (!QFileInfo::exists(run->modelFile())
        && QDir(run->checkpointDir()).entryList(QDir::Files).isEmpty())
        return fail(QStringLiteral("run folder %1 has no trained model (no model.pt, no "
                                   "checkpoint): train it first")
                        .arg(runDir));
    const QJsonObject summary = readJsonFile(run->summaryFile());
    const double denseAccuracy = summary.value(QStringLiteral("val_accuracy")).toDouble(-1.0);
    const std::int64_t steps = summary.value(QStringLiteral("steps")).toInteger();
    const int runEpochs = summary.value(QStringLiteral("epochs")).toInt();
    if (denseAccuracy < 0.0 || steps <= 0 || runEpochs <= 0)
        return fail(QStringLiteral("run folder %1 has no finished run's summary.json with its "
                                   "validation accuracy: let the run finish first")
                        .arg(runDir));
    if (!QFileInfo(parser.value(data)).isDir())
        return fail(QStringLiteral("data folder %1 does not exist").arg(parser.value(data)));

    QElapsedTimer clock;
    clock.start();
    // The scan: read (and checked against the run's architecture), or made now.
    const QString scanFile = parser.isSet(scanOption)
        ? parser.value(scanOption)
        : QDir(runDir).filePath(defaultSensitivityFileName(g));
    std::optional<SensitivityScan> scan;
    if (QFileInfo::exists(scanFile)) {
        scan = readSensitivityScan(scanFile, &error);
        if (!scan)
            return fail(error);
        if (!scanFitsRun(*scan, runDir, scanFile, &error))
            return fail(error);
        if (scan->granularity != g)
            return fail(QStringLiteral("the sensitivity scan %1 prunes %2s, not %3s: give "
                                       "--granularity %2 or another --scan")
                            .arg(scanFile, enumName(scan->granularity), enumName(g)));
    } else {
        SensitivityOptions options;
        options.granularity = g;
        printErr(
            QStringLiteral("advise: scanning each layer's sensitivity into %1\n").arg(scanFile));
        scan = scanSensitivity(runDir, parser.value(data), options, {}, nullptr, &error);
        if (!scan || !writeSensitivityScan(*scan, scanFile, &error))
            return fail(error);
    }
    const double scanSeconds = double(clock.elapsed()) / 1000.0;

    // Bisect between the scan's one-shot bound (taken as fitting) and the highest sparsity.
    const QString workDir
        = parser.isSet(work) ? parser.value(work) : QDir(runDir).filePath(QStringLiteral("advise"));
    const std::int64_t stepsPerEpoch = (steps + runEpochs - 1) / runEpochs;
    const double bound = std::min(scanLowerBound(*scan, maxDrop / 100.0), maxSparsity);
    const double needed = denseAccuracy - maxDrop / 100.0;
    std::vector<Trial> done;
    const auto tryAt = [&](double s) {
        Trial t;
        t.sparsity = std::round(s * 1000.0) / 1000.0;
        QElapsedTimer trialClock;
        trialClock.start();
        RunConfig c = fineTuneConfig(*run, parser.value(data), scanFile, g, fineTuneEpochs,
            stepsPerEpoch, t.sparsity,
            QDir(workDir).filePath(QStringLiteral("trial-%1").arg(t.sparsity, 0, 'f', 3)));
        c.testDir.clear(); // trials are judged on validation only
        QString output;
        t.valAccuracy = trainTrial(c, &output);
        t.seconds = double(trialClock.elapsed()) / 1000.0;
        t.fits = t.valAccuracy >= needed;
        if (t.valAccuracy < 0.0)
            printErr(output);
        printErr(
            QStringLiteral("advise: trial %1 at %2% sparsity: validation accuracy %3 (%4 s)\n")
                .arg(done.size() + 1)
                .arg(t.sparsity * 100.0, 0, 'f', 1)
                .arg(t.valAccuracy < 0.0 ? QStringLiteral("failed")
                                         : QStringLiteral("%1%, %2")
                                               .arg(t.valAccuracy * 100.0, 0, 'f', 2)
                                               .arg(t.fits ? QStringLiteral("within the budget")
                                                           : QStringLiteral("over the budget")))
                .arg(t.seconds, 0, 'f', 0));
        done.push_back(t);
        return t;
    };
    double lo = bound, hi = maxSparsity;
    std::optional<Trial> best;
    for (int i = 0; i < trialCount; ++i) {
        const double s = i == 0 ? hi : 0.5 * (lo + hi);
        if (i > 0 && hi - lo < 0.005)
            break;
        const Trial t = tryAt(s);
        if (t.valAccuracy < 0.0)
            return fail(QStringLiteral("the fine-tuning trial at %1 failed (its output is above)")
                            .arg(t.sparsity));
        if (t.fits) {
            best = t;
            lo = t.sparsity;
            if (i == 0)
                break;
        } else {
            hi = t.sparsity;
        }
    }
    if (!best) { // nothing tried fitted: measure the bound itself
        const Trial t = tryAt(lo);
        if (t.fits)
            best = t;
    }
    const double seconds = double(clock.elapsed()) / 1000.0;

    QJsonArray trialsJson;
    for (const Trial &t : done)
        trialsJson.append(QJsonObject { { QStringLiteral("sparsity"), t.sparsity },
            { QStringLiteral("val_accuracy"), t.valAccuracy }, { QStringLiteral("fits"), t.fits },
            { QStringLiteral("seconds"), t.seconds } });
    QJsonObject report { { QStringLiteral("run_dir"), runDir },
        { QStringLiteral("dense_val_accuracy"), denseAccuracy },
        { QStringLiteral("max_accuracy_drop"), maxDrop },
        { QStringLiteral("scan"), QFileInfo(scanFile).absoluteFilePath() },
        { QStringLiteral("scan_bound"), bound }, { QStringLiteral("trials"), trialsJson },
        { QStringLiteral("scan_seconds"), scanSeconds }, { QStringLiteral("seconds"), seconds } };
    if (!best) {
        report[QStringLiteral("sparsity")] = QJsonValue();
        if (parser.isSet(json))
            printOut(jsonLine(report));
        return fail(QStringLiteral("no sparsity from %1 up keeps validation accuracy within %2 "
                                   "points of %3% with %4 epoch(s) of fine-tuning: allow a larger "
                                   "drop or more --epochs")
                        .arg(lo)
                        .arg(maxDrop)
                        .arg(denseAccuracy * 100.0, 0, 'f', 2)
                        .arg(fineTuneEpochs));
    }
    const QString proposedDir
        = parser.isSet(out) ? parser.value(out) : QString(runDir + QStringLiteral("-pruned"));
    RunConfig proposal = fineTuneConfig(*run, parser.value(data), scanFile, g, fineTuneEpochs,
        stepsPerEpoch, best->sparsity, proposedDir);
    const QString command = runCommandLine(proposal, QCoreApplication::applicationFilePath());
    report[QStringLiteral("sparsity")] = best->sparsity;
    report[QStringLiteral("predicted_val_accuracy")] = best->valAccuracy;
    report[QStringLiteral("command")] = command;
    if (const std::optional<LayerTargets> t
        = allocateLayerTargets(*scan, best->sparsity, nullptr)) {
        report[QStringLiteral("layer_targets")] = t->toJson().value(QStringLiteral("layers"));
    }
    if (parser.isSet(json)) {
        printOut(jsonLine(report));
    } else {
        printOut(QStringLiteral(
            "Highest sparsity within %1 points of the dense validation accuracy (%2%): %3% "
            "(validation accuracy %4% after %5 epoch(s) of fine-tuning; %6 trials, %7 s in all, "
            "the scan %8 s).\nTrain it with:\n  %9\n")
                     .arg(maxDrop)
                     .arg(denseAccuracy * 100.0, 0, 'f', 2)
                     .arg(best->sparsity * 100.0, 0, 'f', 1)
                     .arg(best->valAccuracy * 100.0, 0, 'f', 2)
                     .arg(fineTuneEpochs)
                     .arg(done.size())
                     .arg(seconds, 0, 'f', 0)
                     .arg(scanSeconds, 0, 'f', 0)
                     .arg(command));
    }
    if (!parser.isSet(apply))
        return Ok;
    QStringList trainArgs { QStringLiteral("train") };
    trainArgs << runCommandLineArguments(proposal);
    QProcess process;
    process.setProcessChannelMode(QProcess::ForwardedChannels);
    process.start(QCoreApplication::applicationFilePath(), trainArgs);
    process.waitForFinished(-1);
    return process.exitStatus() == QProcess::NormalExit ? process.exitCode() : Failure;
}

} // namespace leantune::cli
