#include "job/pruneadvisor.h"

#include "config/runfields.h"
#include "job/runjob.h"
#include "train/rundir.h"
#include "train/sensitivityscanner.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QJsonObject readJsonFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(file.read(16 << 20)).object();
}

QString cancelledMessage()
{
    return QStringLiteral("cancelled");
}

// The run a proposal or a trial trains: RUN's configuration fine-tuned from RUN's weights for
// EPOCHS epochs, pruned by a polynomial schedule from 0 to SPARSITY over the first 70 % of its
// steps (the rest recovers at the final masks), with SCOPE (sensitivity: each layer to its own
// target from the scan).
RunConfig fineTuneConfig(const AdvisedRun &run, const PruneAdvisorOptions &options,
    const QString &scanFile, PruneScope scope, std::int64_t stepsPerEpoch, double sparsity,
    const QString &outDir)
{
    RunConfig c = run.config;
    c.dataDir = options.dataDir;
    c.outDir = outDir;
    c.initWeights = run.runDir;
    c.epochs = options.epochs;
    c.freezeEpochs = 0;
    const std::int64_t end = std::max<std::int64_t>(1, stepsPerEpoch * options.epochs * 7 / 10);
    const std::int64_t frequency = std::max<std::int64_t>(1, end / 10);
    c.prune = QStringLiteral("polynomial:0:%1:0:%2:3:%3")
                  .arg(QString::number(sparsity, 'f', 3))
                  .arg(end)
                  .arg(frequency);
    c.pruneGranularity = options.granularity;
    c.pruneScope = scope;
    c.pruneSensitivityFile
        = scope == PruneScope::Sensitivity ? QFileInfo(scanFile).absoluteFilePath() : QString();
    return c;
}

// Trains CONFIG in this thread (its own RunJob, not in the history); its validation accuracy, or
// std::nullopt + *error when it failed or CANCEL was set. FRACTION gets the share of its steps
// done.
std::optional<double> trainTrial(const RunConfig &config, const std::atomic_bool *cancel,
    const std::function<void(double)> &fraction, QString *error)
{
    RunJob::Options options;
    options.force = true;
    options.recordHistory = false;
    RunJob job(config, options);
    QString message;
    QObject::connect(&job, &RunJob::failed, &job, [&message](const QString &m) { message = m; });
    QObject::connect(&job, &RunJob::sampleReady, &job, [&](const MetricsSample &s) {
        if (fraction && job.totalSteps() > 0)
            fraction(std::min(1.0, double(s.step) / double(job.totalSteps())));
    });
    if (!job.start(&message)) {
        if (error)
            *error = message;
        return std::nullopt;
    }
    bool stopped = false;
    while (!job.waitForFinished(100)) {
        if (cancel && cancel->load() && !stopped) {
            job.stop();
            stopped = true;
        }
    }
    if (stopped || (cancel && cancel->load())) {
        if (error)
            *error = cancelledMessage();
        return std::nullopt;
    }
    if (job.state() != RunJob::State::Finished) {
        if (error)
            *error = message.isEmpty() ? QStringLiteral("the run stopped") : message;
        return std::nullopt;
    }
    const double accuracy
        = readJsonFile(QDir(config.outDir).filePath(QStringLiteral("summary.json")))
              .value(QStringLiteral("val_accuracy"))
              .toDouble(-1.0);
    if (accuracy < 0.0) {
        if (error)
            *error
                = QStringLiteral("the run in %1 wrote no validation accuracy").arg(config.outDir);
        return std::nullopt;
    }
    return accuracy;
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

bool PruneAdvisorOptions::validate(QString *error) const
{
    QString message;
    if (!(maxAccuracyDrop >= 0.0 && maxAccuracyDrop <= 100.0))
        message = QStringLiteral("the accuracy budget (--max-accuracy-drop) must be between 0 and "
                                 "100 points (got %1)")
                      .arg(maxAccuracyDrop);
    else if (epochs < 1)
        message = QStringLiteral("--epochs must be at least 1");
    else if (trials < 1)
        message = QStringLiteral("--trials must be at least 1");
    else if (!(maxSparsity > 0.0 && maxSparsity < kMaxLayerSparsity))
        message = QStringLiteral("--max-sparsity must be in (0, %1)").arg(kMaxLayerSparsity);
    if (message.isEmpty())
        return true;
    if (error)
        *error = message;
    return false;
}

QJsonObject PruneAdvice::toJson() const
{
    QJsonArray trialsJson;
    for (const PruneTrial &t : trials)
        trialsJson.append(QJsonObject { { QStringLiteral("sparsity"), t.sparsity },
            { QStringLiteral("scope"), enumName(t.scope) },
            { QStringLiteral("val_accuracy"), t.valAccuracy }, { QStringLiteral("fits"), t.fits },
            { QStringLiteral("seconds"), t.seconds } });
    QJsonObject o { { QStringLiteral("run_dir"), runDir },
        { QStringLiteral("dense_val_accuracy"), denseValAccuracy },
        { QStringLiteral("max_accuracy_drop"), maxAccuracyDrop },
        { QStringLiteral("scan"), scanFile }, { QStringLiteral("scan_bound"), scanBound },
        { QStringLiteral("trials"), trialsJson }, { QStringLiteral("scan_seconds"), scanSeconds },
        { QStringLiteral("seconds"), seconds } };
    if (!found) {
        o[QStringLiteral("sparsity")] = QJsonValue();
        return o;
    }
    o[QStringLiteral("sparsity")] = sparsity;
    o[QStringLiteral("predicted_val_accuracy")] = predictedValAccuracy;
    o[QStringLiteral("scope")] = enumName(scope);
    o[QStringLiteral("command")] = command;
    if (!layerTargets.isEmpty())
        o[QStringLiteral("layer_targets")] = layerTargets;
    return o;
}

std::optional<AdvisedRun> readAdvisedRun(const QString &runDir, QString *error)
{
    const auto failWith = [error](const QString &message) {
        if (error)
            *error = message;
        return std::nullopt;
    };
    AdvisedRun advised;
    advised.runDir = QFileInfo(runDir).absoluteFilePath();
    QString why;
    const std::optional<RunInfo> run = readRunInfo(advised.runDir, &why);
    if (!run)
        return failWith(QStringLiteral("%1 is not a run folder: %2").arg(advised.runDir, why));
    if (!QFileInfo::exists(run->modelFile())
        && QDir(run->checkpointDir()).entryList(QDir::Files).isEmpty())
        return failWith(QStringLiteral("run folder %1 has no trained model (no model.pt, no "
                                       "checkpoint): train it first")
                            .arg(advised.runDir));
    const QJsonObject summary = readJsonFile(run->summaryFile());
    advised.config = run->config;
    advised.denseValAccuracy = summary.value(QStringLiteral("val_accuracy")).toDouble(-1.0);
    advised.steps = summary.value(QStringLiteral("steps")).toInteger();
    advised.epochs = summary.value(QStringLiteral("epochs")).toInt();
    if (advised.denseValAccuracy < 0.0 || advised.steps <= 0 || advised.epochs <= 0)
        return failWith(QStringLiteral("run folder %1 has no finished run's summary.json with its "
                                       "validation accuracy: let the run finish first")
                            .arg(advised.runDir));
    return advised;
}

std::optional<SensitivityScan> loadOrScanSensitivity(const QString &runDir,
    const PruneAdvisorOptions &options, const PruneAdvisorProgress &progress,
    const std::atomic_bool *cancel, QString *error)
{
    const QString scanFile = options.scanFile.isEmpty()
        ? QDir(runDir).filePath(defaultSensitivityFileName(options.granularity))
        : options.scanFile;
    if (QFileInfo::exists(scanFile)) {
        std::optional<SensitivityScan> scan = readSensitivityScan(scanFile, error);
        if (!scan || !scanFitsRun(*scan, runDir, scanFile, error))
            return std::nullopt;
        if (scan->granularity != options.granularity) {
            if (error)
                *error = QStringLiteral("the sensitivity scan %1 prunes %2s, not %3s: give "
                                        "--granularity %2 or another --scan")
                             .arg(scanFile, enumName(scan->granularity),
                                 enumName(options.granularity));
            return std::nullopt;
        }
        return scan;
    }
    SensitivityOptions scanOptions;
    scanOptions.granularity = options.granularity;
    if (progress)
        progress(QStringLiteral("Scanning each layer's sensitivity into %1").arg(scanFile), 0.0);
    const auto points = [&progress](int done, int total) {
        if (progress)
            progress(QStringLiteral("Scanning each layer's sensitivity: %1 / %2 points")
                         .arg(done)
                         .arg(total),
                total > 0 ? double(done) / double(total) : 0.0);
    };
    std::optional<SensitivityScan> scan
        = scanSensitivity(runDir, options.dataDir, scanOptions, points, cancel, error);
    if (!scan || !writeSensitivityScan(*scan, scanFile, error))
        return std::nullopt;
    return scan;
}

std::optional<PruneAdvice> advisePruning(const QString &runDir, const PruneAdvisorOptions &options,
    const PruneAdvisorProgress &progress, const std::atomic_bool *cancel, QString *error)
{
    const auto failWith = [error](const QString &message) {
        if (error)
            *error = message;
        return std::nullopt;
    };
    if (!options.validate(error))
        return std::nullopt;
    const std::optional<AdvisedRun> run = readAdvisedRun(runDir, error);
    if (!run)
        return std::nullopt;
    if (!QFileInfo(options.dataDir).isDir())
        return failWith(QStringLiteral("data folder %1 does not exist").arg(options.dataDir));

    QElapsedTimer clock;
    clock.start();
    PruneAdvice advice;
    advice.runDir = run->runDir;
    advice.denseValAccuracy = run->denseValAccuracy;
    advice.maxAccuracyDrop = options.maxAccuracyDrop;
    const QString scanFile = options.scanFile.isEmpty()
        ? QDir(run->runDir).filePath(defaultSensitivityFileName(options.granularity))
        : options.scanFile;
    advice.scanFile = QFileInfo(scanFile).absoluteFilePath();
    const std::optional<SensitivityScan> scan
        = loadOrScanSensitivity(run->runDir, options, progress, cancel, error);
    if (!scan)
        return std::nullopt;
    advice.scanSeconds = double(clock.elapsed()) / 1000.0;

    // Bisect between the scan's one-shot bound (taken as fitting) and the highest sparsity.
    const QString workDir = options.workDir.isEmpty()
        ? QDir(run->runDir).filePath(QStringLiteral("advise"))
        : options.workDir;
    const std::int64_t stepsPerEpoch = (run->steps + run->epochs - 1) / run->epochs;
    advice.scanBound
        = std::min(scanLowerBound(*scan, options.maxAccuracyDrop / 100.0), options.maxSparsity);
    const double needed = run->denseValAccuracy - options.maxAccuracyDrop / 100.0;
    QString trialError;
    // Every trial prunes each layer to its own target from the scan (the sensitivity scope).
    const auto tryAt = [&](double s) -> std::optional<PruneTrial> {
        PruneTrial t;
        t.sparsity = std::round(s * 1000.0) / 1000.0;
        t.scope = PruneScope::Sensitivity;
        QElapsedTimer trialClock;
        trialClock.start();
        RunConfig c = fineTuneConfig(*run, options, scanFile, t.scope, stepsPerEpoch, t.sparsity,
            QDir(workDir).filePath(QStringLiteral("trial-%1").arg(t.sparsity, 0, 'f', 3)));
        c.testDir.clear(); // trials are judged on validation only
        const int index = advice.trials.size();
        const QString text
            = QStringLiteral("Fine-tuning trial %1 of at most %2 at %3 % sparsity, %4 scope")
                  .arg(index + 1)
                  .arg(options.trials)
                  .arg(t.sparsity * 100.0, 0, 'f', 1)
                  .arg(enumName(t.scope));
        if (progress)
            progress(text, double(index) / double(options.trials));
        const std::optional<double> accuracy = trainTrial(
            c, cancel,
            [&](double f) {
                if (progress)
                    progress(text, (double(index) + f) / double(options.trials));
            },
            &trialError);
        if (!accuracy)
            return std::nullopt;
        t.valAccuracy = *accuracy;
        t.seconds = double(trialClock.elapsed()) / 1000.0;
        t.fits = t.valAccuracy >= needed;
        advice.trials.push_back(t);
        if (progress)
            progress(
                QStringLiteral("Trial %1 at %2 % sparsity, %6 scope: validation accuracy %3 %, %4 "
                               "(%5 s)")
                    .arg(index + 1)
                    .arg(t.sparsity * 100.0, 0, 'f', 1)
                    .arg(t.valAccuracy * 100.0, 0, 'f', 2)
                    .arg(t.fits ? QStringLiteral("within the budget")
                                : QStringLiteral("over the budget"))
                    .arg(t.seconds, 0, 'f', 0)
                    .arg(enumName(t.scope)),
                double(index + 1) / double(options.trials));
        return t;
    };
    const auto trialFailed = [&](double s) {
        return failWith(trialError == cancelledMessage()
                ? trialError
                : QStringLiteral("the fine-tuning trial at %1 failed: %2").arg(s).arg(trialError));
    };
    double lo = advice.scanBound, hi = options.maxSparsity;
    std::optional<PruneTrial> best;
    for (int i = 0; i < options.trials; ++i) {
        const double s = i == 0 ? hi : 0.5 * (lo + hi);
        if (i > 0 && hi - lo < 0.005)
            break;
        const std::optional<PruneTrial> t = tryAt(s);
        if (!t)
            return trialFailed(s);
        if (t->fits) {
            best = t;
            lo = t->sparsity;
            if (i == 0)
                break;
        } else {
            hi = t->sparsity;
        }
    }
    if (!best) { // nothing tried fitted: measure the bound itself
        const std::optional<PruneTrial> t = tryAt(lo);
        if (!t)
            return trialFailed(lo);
        if (t->fits)
            best = t;
    }
    advice.seconds = double(clock.elapsed()) / 1000.0;
    if (!best) {
        advice.noFitMessage
            = QStringLiteral("no sparsity from %1 up keeps validation accuracy within %2 points "
                             "of %3% with %4 epoch(s) of fine-tuning: allow a larger drop or more "
                             "--epochs")
                  .arg(lo)
                  .arg(options.maxAccuracyDrop)
                  .arg(run->denseValAccuracy * 100.0, 0, 'f', 2)
                  .arg(options.epochs);
        return advice;
    }
    const QString proposedDir = options.outDir.isEmpty()
        ? QString(run->runDir + QStringLiteral("-pruned"))
        : options.outDir;
    advice.found = true;
    advice.sparsity = best->sparsity;
    advice.predictedValAccuracy = best->valAccuracy;
    advice.proposal = fineTuneConfig(
        *run, options, scanFile, best->scope, stepsPerEpoch, best->sparsity, proposedDir);
    advice.scope = advice.proposal.pruneScope;
    advice.command = runCommandLine(advice.proposal, options.program);
    if (const std::optional<LayerTargets> t = best->scope == PruneScope::Sensitivity
            ? allocateLayerTargets(*scan, best->sparsity, nullptr)
            : std::nullopt)
        advice.layerTargets = t->toJson().value(QStringLiteral("layers")).toObject();
    return advice;
}

} // namespace leantune
