#include "clicommon.h"

#include "export/exporter.h"

#include <QJsonDocument>
#include <QStringBuilder>

namespace leantune::cli {

int exportCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Export a trained run as ONNX (opset 13; normalization, class names and "
                       "input size inside the file) or as a LibTorch archive, optionally with int8 "
                       "weights and with pruned channels removed. The written file is re-loaded in "
                       "an independent runtime (OpenCV DNN for ONNX) and run beside the LibTorch "
                       "model on the run's test images (else its validation images); the export "
                       "fails, leaving no file, when the runtime does not reproduce the LibTorch "
                       "computation on 99.5 % of them. Prints the size report (parameters, dense, "
                       "file, deflate and sparse bytes), the trained model's and the file's "
                       "accuracy on the set it names, and their top-1 agreement."));
    parser.addPositionalArgument(
        QStringLiteral("RUNDIR"), QStringLiteral("A run folder written by 'train'."));
    const QCommandLineOption format(QStringLiteral("format"),
        QStringLiteral("onnx | libtorch (default onnx)."), QStringLiteral("F"),
        QStringLiteral("onnx"));
    const QCommandLineOption quantize(QStringLiteral("quantize"),
        QStringLiteral("none | int8 (per-channel int8 weights, ONNX only; default none)."),
        QStringLiteral("Q"), QStringLiteral("none"));
    const QCommandLineOption structured(QStringLiteral("structured"),
        QStringLiteral("Remove channels pruned to zero (train with --prune-granularity channel)."));
    const QCommandLineOption out(
        QStringLiteral("out"), QStringLiteral("Output file."), QStringLiteral("FILE"));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("Images to verify on (default: the run's test folder, else its validation "
                       "folder, else its training folder)."),
        QStringLiteral("DIR"));
    const QCommandLineOption limit(QStringLiteral("limit"),
        QStringLiteral("Verify on at most N images (default: all)."), QStringLiteral("N"),
        QStringLiteral("0"));
    const QCommandLineOption threads(QStringLiteral("threads"),
        QStringLiteral("Torch threads (default: all cores)."), QStringLiteral("N"),
        QStringLiteral("0"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the report as JSON."));
    for (const auto &o : { format, quantize, structured, out, data, limit, threads, json })
        parser.addOption(o);
    if (const auto code = parseArguments(parser, QStringLiteral("export"),
            QStringLiteral("RUNDIR --format onnx|libtorch [--quantize none|int8] "
                           "[--structured] --out FILE [--json]"),
            args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(
            QStringLiteral("export takes exactly one RUNDIR (see 'leantune-cli export --help')"),
            Usage);
    if (!parser.isSet(out))
        return fail(QStringLiteral("--out FILE is required"), Usage);

    ExportOptions options;
    QString error;
    if (!options.setFormat(parser.value(format), &error)
        || !options.setQuantization(parser.value(quantize), &error))
        return fail(error, Usage);
    options.structured = parser.isSet(structured);
    options.outFile = parser.value(out);
    options.dataDir = parser.value(data);
    const auto l = intOption(parser, QStringLiteral("limit"), &error);
    const auto t = l ? intOption(parser, QStringLiteral("threads"), &error) : std::nullopt;
    if (!t)
        return fail(error, Usage);
    options.limit = *l;
    options.threads = *t;
    if (!options.validate(&error))
        return fail(error, Usage);

    const std::optional<ExportReport> report
        = exportRun(parser.positionalArguments().first(), options, &error);
    if (!report)
        return fail(error);
    if (parser.isSet(json))
        printOut(jsonLine(report->toJson()));
    else
        printOut(report->toText());
    return Ok;
}

} // namespace leantune::cli
