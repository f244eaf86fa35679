#include "clicommon.h"

#include "export/exporter.h"
#include "metrics/bytesize.h"
#include "metrics/exportreports.h"

#include <QJsonDocument>

#include <cstdio>
#include <unistd.h>
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
                       "computation on 99.5 % of them (a class-balanced sample of 2000 by default: "
                       "--limit). Prints the size report (parameters, dense, "
                       "file, deflate and sparse bytes), the trained model's and the file's "
                       "accuracy on the set it names, and their top-1 agreement."));
    parser.addPositionalArgument(
        QStringLiteral("RUNDIR"), QStringLiteral("A run folder written by 'train'."));
    const QCommandLineOption format(QStringLiteral("format"),
        QStringLiteral("onnx | libtorch (default onnx)."), QStringLiteral("F"),
        QStringLiteral("onnx"));
    const QCommandLineOption quantize(QStringLiteral("quantize"),
        QStringLiteral("none | int8 (per-channel int8 weights, float compute: smaller, not faster) "
                       "| int8-static (int8 weights and uint8 activations calibrated on images, "
                       "a QDQ graph ONNX Runtime runs with integer kernels); ONNX only, default "
                       "none."),
        QStringLiteral("Q"), QStringLiteral("none"));
    const QCommandLineOption calibration(QStringLiteral("calibration"),
        QStringLiteral("int8-static: images to calibrate activation ranges on, one sub-folder per "
                       "class of the run, the training images' size (default: the run's training "
                       "folder)."),
        QStringLiteral("DIR"));
    const QCommandLineOption calibrationImages(QStringLiteral("calibration-images"),
        QStringLiteral("int8-static: calibrate on N images drawn evenly across classes (default "
                       "512)."),
        QStringLiteral("N"), QStringLiteral("512"));
    const QCommandLineOption calibrationMethod(QStringLiteral("calibration-method"),
        QStringLiteral("int8-static: minmax | percentile (0.01st-99.99th; default minmax)."),
        QStringLiteral("M"), QStringLiteral("minmax"));
    const QCommandLineOption int8Format(QStringLiteral("int8-format"),
        QStringLiteral("int8-static: qdq (float ops between DequantizeLinear and QuantizeLinear, "
                       "fused by ONNX Runtime) | qoperator (QLinearConv, QLinearAdd, ...: OpenCV "
                       "DNN loads it too); default qdq."),
        QStringLiteral("F"), QStringLiteral("qdq"));
    const QCommandLineOption structured(QStringLiteral("structured"),
        QStringLiteral("Remove channels pruned to zero (train with --prune-granularity channel)."));
    const QCommandLineOption out(
        QStringLiteral("out"), QStringLiteral("Output file."), QStringLiteral("FILE"));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("Images to verify on (default: the run's test folder, else its validation "
                       "folder, else its training folder)."),
        QStringLiteral("DIR"));
    const QCommandLineOption limit(QStringLiteral("limit"),
        QStringLiteral("Verify on a class-balanced sample of N images, the same on every export "
                       "of the run (default %1); 'all' verifies on every image of the folder.")
            .arg(ExportOptions::kDefaultVerificationImages),
        QStringLiteral("N|all"), QString::number(ExportOptions::kDefaultVerificationImages));
    const QCommandLineOption batchSize(QStringLiteral("batch-size"),
        QStringLiteral("Images per verification batch (default 256; under --memory-budget the "
                       "largest batch up to N that fits)."),
        QStringLiteral("N"), QStringLiteral("256"));
    const QCommandLineOption memoryBudget(QStringLiteral("memory-budget"),
        QStringLiteral("Host memory budget for the export, as train's: the calibration and "
                       "verification batches and loader queues are fitted under SIZE less the "
                       "margin, and the latency's large batch is at most the verification "
                       "batch (e.g. 2G)."),
        QStringLiteral("SIZE"));
    const QCommandLineOption latencyRuns(QStringLiteral("latency-runs"),
        QStringLiteral("Time the written file N times at batch 1 and 32 (median and p90) in "
                       "OpenCV DNN and, when installed, ONNX Runtime; 0 skips (default 10)."),
        QStringLiteral("N"), QStringLiteral("10"));
    const QCommandLineOption threads(QStringLiteral("threads"),
        QStringLiteral("Torch threads (default: all cores)."), QStringLiteral("N"),
        QStringLiteral("0"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the report as JSON."));
    const QCommandLineOption progressOption(QStringLiteral("progress"),
        QStringLiteral("bar | none (default bar: on stderr, one updating line on a terminal, else "
                       "a line per stage)."),
        QStringLiteral("P"), QStringLiteral("bar"));
    for (const auto &o : { format, quantize, calibration, calibrationImages, calibrationMethod,
             int8Format, structured, out, data, limit, batchSize, memoryBudget, latencyRuns,
             threads, json, progressOption })
        parser.addOption(o);
    if (const auto code = parseArguments(parser, QStringLiteral("export"),
            QStringLiteral("RUNDIR --format onnx|libtorch [--quantize none|int8|int8-static "
                           "[--calibration DIR] [--calibration-images N]] [--structured] [--limit "
                           "N|all] [--memory-budget SIZE] --out FILE [--json]"),
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
    // --limit all: every image (0, the engine's "all", is taken too).
    const bool allImages
        = parser.value(limit).trimmed().compare(QLatin1String("all"), Qt::CaseInsensitive) == 0;
    const auto l
        = allImages ? std::optional<int>(0) : intOption(parser, QStringLiteral("limit"), &error);
    const auto t = l ? intOption(parser, QStringLiteral("threads"), &error) : std::nullopt;
    if (!t)
        return fail(error, Usage);
    const auto n
        = t ? intOption(parser, QStringLiteral("calibration-images"), &error) : std::nullopt;
    const auto b = n ? intOption(parser, QStringLiteral("batch-size"), &error) : std::nullopt;
    if (!b)
        return fail(error, Usage);
    options.batchSize = *b;
    const auto runs = intOption(parser, QStringLiteral("latency-runs"), &error);
    if (!runs || *runs < 0)
        return fail(runs ? QStringLiteral("--latency-runs must not be negative") : error, Usage);
    options.latencyRuns = *runs;
    const std::optional<CalibrationMethod> method
        = enumFromName<CalibrationMethod>(parser.value(calibrationMethod));
    if (!method)
        return fail(QStringLiteral("unknown calibration method '%1' (choose minmax or percentile)")
                        .arg(parser.value(calibrationMethod)),
            Usage);
    options.limit = *l;
    if (parser.isSet(memoryBudget)) {
        const std::optional<std::int64_t> bytes = parseByteSize(parser.value(memoryBudget));
        if (!bytes)
            return fail(QStringLiteral("--memory-budget takes a size such as 2G or 512M, not '%1'")
                            .arg(parser.value(memoryBudget)),
                Usage);
        options.memoryBudgetBytes = *bytes;
    }
    options.threads = *t;
    options.calibrationDir = parser.value(calibration);
    options.calibrationImages = *n;
    options.calibrationMethod = *method;
    const std::optional<Int8Format> layout = enumFromName<Int8Format>(parser.value(int8Format));
    if (!layout)
        return fail(QStringLiteral("unknown int8 format '%1' (choose qdq or qoperator)")
                        .arg(parser.value(int8Format)),
            Usage);
    options.int8Format = *layout;
    if (!options.validate(&error))
        return fail(error, Usage);

    const QString progressMode = parser.value(progressOption);
    if (progressMode != QLatin1String("bar") && progressMode != QLatin1String("none"))
        return fail(
            QStringLiteral("unknown --progress '%1' (choose bar or none)").arg(progressMode),
            Usage);
    const bool quiet = progressMode == QLatin1String("none");
    // Progress on stderr: one updating line on a terminal, else a line per stage.
    const bool tty = !quiet && isatty(fileno(stderr)) != 0;
    QString lastStage;
    const auto progress = [&](double fraction, const QString &stage) {
        if (quiet)
            return true;
        const QString kind = stage.section(QLatin1Char(':'), 0, 0);
        if (tty)
            printErr(QStringLiteral("\r\033[K%1 (%2 %)").arg(stage).arg(int(fraction * 100.0)));
        else if (kind != lastStage || stage.endsWith(QLatin1String(" images")))
            printErr(stage + QLatin1Char('\n'));
        lastStage = kind;
        return true;
    };
    const std::optional<ExportReport> report
        = exportRun(parser.positionalArguments().first(), options, &error, progress);
    if (tty)
        printErr(QStringLiteral("\r\033[K"));
    if (!report)
        return fail(error);
    // The run keeps the report beside its other exports' for the exports chart; an export whose
    // report cannot be kept is still a good export, so this only warns.
    if (!saveExportReport(parser.positionalArguments().first(), report->toJson(), &error))
        printErr(QStringLiteral("leantune-cli: warning: %1\n").arg(error));
    if (parser.isSet(json))
        printOut(jsonLine(report->toJson()));
    else
        printOut(report->toText());
    return Ok;
}

} // namespace leantune::cli
