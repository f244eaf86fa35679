#include "clicommon.h"

#include "config/runfields.h"
#include "train/evaluator.h"

#include <QJsonDocument>
#include <QStringBuilder>

namespace leantune::cli {

int evaluateCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Evaluate a trained run (its model.pt, or its newest valid checkpoint) or a "
                       "LibTorch archive exported from "
                       "one on a data folder with the same classes: accuracy, per-class accuracy "
                       "and the confusion matrix."));
    parser.addPositionalArgument(QStringLiteral("RUNDIR|MODEL"),
        QStringLiteral("A run folder written by 'train', or a file written by "
                       "'export --format libtorch'."));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("Data folder to evaluate on."), QStringLiteral("DIR"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the report as JSON."));
    for (const auto &o : { data, json })
        parser.addOption(o);
    // --device, --workers, --threads and --batch-size: train's rows, at evaluate's defaults.
    RunConfig run;
    const EvaluateOptions defaults;
    run.device = defaults.device;
    run.workers = defaults.workers;
    run.threads = defaults.threads;
    run.batchSize = defaults.batchSize;
    addRunOptions(parser, RunField::Evaluate, run);
    if (const auto code = parseArguments(parser, QStringLiteral("evaluate"),
            QStringLiteral("RUNDIR|MODEL --data DIR [--json]"), args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(
            QStringLiteral(
                "evaluate takes exactly one RUNDIR or MODEL (see 'leantune-cli evaluate --help')"),
            Usage);
    if (!parser.isSet(data))
        return fail(QStringLiteral("--data DIR is required"), Usage);

    QString error;
    if (!applyRunOptions(parser, RunField::Evaluate, run, false, nullptr, &error)
        || !checkRunFields(run, RunField::Evaluate, &error))
        return fail(error, Usage);
    if (run.batchSizeAuto)
        return fail(QStringLiteral("evaluate takes a number for --batch-size, not auto"), Usage);
    EvaluateOptions options;
    options.device = run.device;
    options.workers = run.workers;
    options.threads = run.threads;
    options.batchSize = run.batchSize;

    const std::optional<EvaluationReport> report
        = evaluateRun(parser.positionalArguments().first(), parser.value(data), options, &error);
    if (!report)
        return fail(error);
    if (parser.isSet(json))
        printOut(jsonLine(report->toJson()));
    else
        printOut(report->toText());
    return Ok;
}

} // namespace leantune::cli
