#include "clicommon.h"
#include "evaluateoptions.h"

#include "export/onnxmodel.h"
#include "train/evaluator.h"

#include <QJsonDocument>
#include <QStringBuilder>

namespace leantune::cli {

int evaluateCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Evaluate a trained run (its model.pt, or its newest valid checkpoint), a "
                       "LibTorch archive or an ONNX file exported from one on a data folder with "
                       "the same classes: accuracy, top-5 accuracy, per-class accuracy, precision, "
                       "recall, F1 and support, macro F1 and the confusion matrix. --predictions "
                       "keeps every image's result (see README: predictions.csv)."));
    parser.addPositionalArgument(QStringLiteral("RUNDIR|MODEL"),
        QStringLiteral("A run folder written by 'train', or a file written by "
                       "'export --format libtorch' or 'export --format onnx' (fp32 or int8; run "
                       "by OpenCV DNN on the CPU)."));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("Data folder to evaluate on."), QStringLiteral("DIR"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the report as JSON."));
    const QCommandLineOption predictions(QStringLiteral("predictions"),
        QStringLiteral("Write every image's label, prediction, confidence, loss and top classes "
                       "to FILE (CSV)."),
        QStringLiteral("FILE"));
    const QCommandLineOption allProbabilities(QStringLiteral("all-probabilities"),
        QStringLiteral("With --predictions: add a p:CLASS column per class."));
    const QCommandLineOption noCorrections(QStringLiteral("no-corrections"),
        QStringLiteral("Ignore the data folder's leantune-corrections.csv (by default relabeled "
                       "images count under their new class and excluded ones are left out)."));
    for (const auto &o : { data, json, predictions, allProbabilities, noCorrections })
        parser.addOption(o);
    // --device, --workers, --threads and --batch-size: train's rows, at evaluate's defaults.
    addEvaluateOptions(parser);
    if (const auto code = parseArguments(parser, QStringLiteral("evaluate"),
            QStringLiteral("RUNDIR|MODEL --data DIR [--json] [--predictions FILE]"), args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(
            QStringLiteral(
                "evaluate takes exactly one RUNDIR or MODEL (see 'leantune-cli evaluate --help')"),
            Usage);
    if (!parser.isSet(data))
        return fail(QStringLiteral("--data DIR is required"), Usage);

    QString error;
    std::optional<EvaluateOptions> given
        = evaluateOptions(parser, QStringLiteral("evaluate"), &error);
    if (!given)
        return fail(error, Usage);
    EvaluateOptions &options = *given;
    options.predictionsFile = parser.value(predictions);
    options.allProbabilities = parser.isSet(allProbabilities);
    options.applyCorrections = !parser.isSet(noCorrections);
    if (options.allProbabilities && options.predictionsFile.isEmpty())
        return fail(QStringLiteral("--all-probabilities needs --predictions FILE"), Usage);

    const QString model = parser.positionalArguments().first();
    const std::optional<EvaluationReport> report = isOnnxModelFile(model)
        ? evaluateOnnx(model, parser.value(data), options, &error)
        : evaluateRun(model, parser.value(data), options, &error);
    if (!report)
        return fail(error);
    if (parser.isSet(json))
        printOut(jsonLine(report->toJson()));
    else
        printOut(report->toText());
    return Ok;
}

} // namespace leantune::cli
