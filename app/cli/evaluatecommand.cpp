#include "clicommon.h"

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
    const QCommandLineOption device(QStringLiteral("device"),
        QStringLiteral("auto | cpu | cuda | cuda:N (default auto)."), QStringLiteral("DEV"),
        QStringLiteral("auto"));
    const QCommandLineOption workers(QStringLiteral("workers"),
        QStringLiteral("Loader decode threads (default 2)."), QStringLiteral("N"),
        QStringLiteral("2"));
    const QCommandLineOption threads(QStringLiteral("threads"),
        QStringLiteral("Torch threads (default: all cores)."), QStringLiteral("N"),
        QStringLiteral("0"));
    const QCommandLineOption batch(QStringLiteral("batch-size"),
        QStringLiteral("Images per batch (default 256)."), QStringLiteral("N"),
        QStringLiteral("256"));
    for (const auto &o : { data, json, device, workers, threads, batch })
        parser.addOption(o);
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

    EvaluateOptions options;
    options.device = parser.value(device);
    QString error;
    const auto w = intOption(parser, QStringLiteral("workers"), &error);
    const auto t = w ? intOption(parser, QStringLiteral("threads"), &error) : std::nullopt;
    const auto b = t ? intOption(parser, QStringLiteral("batch-size"), &error) : std::nullopt;
    if (!b)
        return fail(error, Usage);
    if (*w < 1 || *t < 0 || *b < 1)
        return fail(
            QStringLiteral("--workers and --batch-size must be at least 1, --threads at least 0"),
            Usage);
    options.workers = *w;
    options.threads = *t;
    options.batchSize = *b;

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
