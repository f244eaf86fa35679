// find-batch-size: the largest batch that fits the device (or the host budget) with a margin, and
// the memory planner's prediction behind it.

#include "clicommon.h"

#include "dataset/datasetscanner.h"
#include "metrics/bytesize.h"
#include "train/batchsizefinder.h"
#include "config/runfields.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QStringBuilder>

#include <cmath>

namespace leantune::cli {

int findBatchSizeCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Find the largest batch size that fits, with a safety margin: probes peak memory at a "
        "few small batch sizes, fits it against the batch size, then doubles and bisects. On a "
        "CUDA device every trial is a real short training run (an out-of-memory is caught and "
        "the allocator cleaned); on the CPU the search runs against the host budget with the "
        "planner's predictions."));
    addRunOptions(parser, RunField::FindBatchSize);
    parser.addOption({ QStringLiteral("predict"),
        QStringLiteral(
            "Also print the planner's predicted peak for these batch sizes (comma-separated)."),
        QStringLiteral("N,N") });
    parser.addOption({ QStringLiteral("json"), QStringLiteral("Print the result as JSON.") });
    if (const auto code = parseArguments(parser, QStringLiteral("find-batch-size"),
            QStringLiteral("--data DIR [model/input options] [--device DEV] [--max N] "
                           "[--margin F|auto] [--memory-budget SIZE] [--json]"),
            args))
        return *code;
    if (!parser.positionalArguments().isEmpty())
        return fail(
            QStringLiteral("unexpected argument '%1' (see 'leantune-cli find-batch-size --help')")
                .arg(parser.positionalArguments().first()),
            Usage);

    RunConfig c;
    c.outDir = QStringLiteral("-"); // not written; validate() wants one
    QString error;
    if (!applyRunOptions(parser, RunField::FindBatchSize, c, false, nullptr, &error))
        return fail(error, Usage);
    std::vector<int> predictAt;
    if (error.isEmpty() && parser.isSet(QStringLiteral("predict"))) {
        for (const QString &part :
            parser.value(QStringLiteral("predict")).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            bool ok = false;
            const int b = part.trimmed().toInt(&ok);
            if (!ok || b < 1) {
                error = QStringLiteral(
                    "invalid value for --predict: '%1' (expected batch sizes such as 32,64,128)")
                            .arg(part);
                break;
            }
            predictAt.push_back(b);
        }
    }
    if (!error.isEmpty())
        return fail(error, Usage);
    c.batchSizeAuto = true;
    if (!c.validate(&error))
        return fail(error, Usage);

    QString scanError;
    ScanOptions scanOptions;
    scanOptions.followSymlinks = c.followSymlinks;
    const std::optional<DatasetIndex> index = scanDataset(c.dataDir, scanOptions, &scanError);
    if (!index)
        return fail(QStringLiteral("training data: ") % scanError);
    std::int64_t images = 0;
    int classes = 0;
    for (int n : index->classCounts()) {
        images += n;
        classes += n > 0;
    }
    if (classes < 2)
        return fail(
            QStringLiteral("data folder %1 needs at least two class sub-folders with valid images")
                .arg(c.dataDir));
    c.model.classes = int(index->classes.size());

    // The run trains on what the validation split leaves (about: the split is per class).
    const std::int64_t trainImages
        = c.valDir.isEmpty() ? std::llround(double(images) * (1.0 - c.valSplit)) : images;
    const std::optional<BatchSizeReport> report = BatchSizeFinder::find(c, trainImages, &error);
    if (!report)
        return fail(error);
    const MemoryPlan &plan = report->plan;
    // The answer holds for a run with the same memory options (a budget also sets the host
    // allocator's policy that the search measured): the exact `train` flags that start it.
    RunConfig run = c;
    run.batchSize = report->search.batchSize;
    run.batchSizeAuto = false;
    run.outDir.clear();
    QStringList trainArgs;
    const QStringList all = runCommandLineArguments(run);
    for (int i = 0; i < all.size(); ++i) {
        if (all[i] == QLatin1String("--out")) {
            ++i; // the user's run folder, not known here
            continue;
        }
        trainArgs << all[i];
    }

    if (parser.isSet(QStringLiteral("json"))) {
        QJsonObject o = report->toJson();
        o[QStringLiteral("train_args")] = QJsonArray::fromStringList(trainArgs);
        QJsonArray predictions;
        for (int b : predictAt)
            predictions.append(QJsonObject { { QStringLiteral("batch_size"), b },
                { QStringLiteral("predicted_peak_bytes"), qint64(plan.predictPeak(b)) } });
        if (!predictAt.empty())
            o[QStringLiteral("predictions")] = predictions;
        printOut(jsonLine(o));
        return Ok;
    }
    QString text;
    text += QStringLiteral("device:      %1 (%2)\n")
                .arg(plan.device,
                    plan.onDevice ? QStringLiteral("CUDA allocator peak")
                                  : QStringLiteral("host RSS peak of the process"));
    QStringList probes;
    for (const MemoryProbe &p : plan.trainProbes)
        probes << QStringLiteral("%1: %2").arg(p.batchSize).arg(formatBytes(p.peakBytes));
    text += QStringLiteral("probes:      %1\n").arg(probes.join(QStringLiteral(", ")));
    text += QStringLiteral("fit:         %1 + %2 per image (worst probe residual %3%)%4\n")
                .arg(formatBytes(std::int64_t(plan.train.fixedBytes)),
                    formatBytes(std::int64_t(plan.train.perImageBytes)))
                .arg(plan.train.maxResidualFraction * 100.0, 0, 'f', 1)
                .arg(plan.onDevice ? QString()
                                   : QStringLiteral(", loader %1 per image x %2 batches")
                                         .arg(formatBytes(plan.loaderBytesPerImage))
                                         .arg(plan.queueDepth + 1));
    text += QStringLiteral("capacity:    %1, limit %2 (margin %3%)\n")
                .arg(formatBytes(report->search.capacityBytes),
                    formatBytes(report->search.limitBytes))
                .arg(plan.margin * 100.0, 0, 'f', 0);
    QStringList trials;
    for (const BatchTrial &t : report->search.trials)
        trials << QStringLiteral("%1%2")
                      .arg(t.batchSize)
                      .arg(t.outOfMemory ? QStringLiteral(" OOM")
                              : t.fits   ? QString()
                                         : QStringLiteral(" over"));
    text += QStringLiteral("trials:      %1\n").arg(trials.join(QStringLiteral(", ")));
    text += QStringLiteral("batch size:  %1%2, predicted peak %3%4\n")
                .arg(report->search.batchSize)
                .arg(report->capText())
                .arg(formatBytes(report->predictedPeakBytes))
                .arg(report->measured ? QString(
                         QStringLiteral(", measured ") % formatBytes(report->search.peakBytes))
                                      : QString());
    for (int b : predictAt)
        text += QStringLiteral("predicted:   batch %1 -> %2\n")
                    .arg(b)
                    .arg(formatBytes(plan.predictPeak(b)));
    QStringList words { QStringLiteral("leantune-cli"), QStringLiteral("train") };
    for (const QString &arg : trainArgs)
        words << shellQuote(arg);
    text += QStringLiteral("train with:  %1 --out RUNDIR\n").arg(words.join(QLatin1Char(' ')));
    printOut(text);
    return Ok;
}

} // namespace leantune::cli
