#include "clicommon.h"
#include "evaluateoptions.h"

#include "export/onnxmodel.h"
#include "train/evaluator.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QStringBuilder>

namespace leantune::cli {

int predictCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Print a trained model's most probable classes for each image, with their probabilities. "
        "Images are decoded exactly as training evaluates them (input size, channels, "
        "normalization), --batch-size at a time; --workers is accepted and unused."));
    parser.addPositionalArgument(QStringLiteral("MODEL|RUNDIR"),
        QStringLiteral("A run folder written by 'train', or a file written by 'export' (LibTorch, "
                       "or ONNX run by OpenCV DNN on the CPU)."));
    parser.addPositionalArgument(
        QStringLiteral("IMAGE"), QStringLiteral("Images to classify."), QStringLiteral("IMAGE..."));
    const QCommandLineOption json(QStringLiteral("json"),
        QStringLiteral("Print one JSON object: {\"predictions\": [{\"path\", \"predicted\", "
                       "\"confidence\", \"top\": [{\"class\", \"p\"}]}]}."));
    const QCommandLineOption top(QStringLiteral("top"),
        QStringLiteral("How many classes to print per image (default 5, at most the model's)."),
        QStringLiteral("K"), QStringLiteral("5"));
    for (const auto &o : { json, top })
        parser.addOption(o);
    // --device, --threads and --batch-size (images per forward pass): train's rows, at evaluate's
    // defaults; --workers comes with them and is unused (the images are decoded on this thread).
    addEvaluateOptions(parser);
    if (const auto code = parseArguments(parser, QStringLiteral("predict"),
            QStringLiteral("MODEL|RUNDIR IMAGE... [--json] [--top K]"), args))
        return *code;
    const QStringList positional = parser.positionalArguments();
    if (positional.size() < 2)
        return fail(QStringLiteral("predict takes a MODEL or RUNDIR and at least one IMAGE (see "
                                   "'leantune-cli predict --help')"),
            Usage);
    bool ok = false;
    const int k = parser.value(top).toInt(&ok);
    if (!ok || k < 1)
        return fail(QStringLiteral("--top takes a whole number of at least 1 (got '%1')")
                        .arg(parser.value(top)),
            Usage);
    QString error;
    const std::optional<EvaluateOptions> given
        = evaluateOptions(parser, QStringLiteral("predict"), &error);
    if (!given)
        return fail(error, Usage);
    const EvaluateOptions &options = *given;

    const QString model = positional.first();
    const QStringList images = positional.mid(1);
    const std::optional<QVector<Prediction>> rows = isOnnxModelFile(model)
        ? predictOnnx(model, images, k, options, &error)
        : predictImages(model, images, k, options, &error);
    if (!rows)
        return fail(error);
    if (parser.isSet(json)) {
        QJsonArray list;
        for (const Prediction &p : *rows) {
            QJsonObject o;
            o[QStringLiteral("path")] = p.path;
            o[QStringLiteral("predicted")] = p.predicted;
            o[QStringLiteral("confidence")] = p.confidence;
            QJsonArray classes;
            for (const auto &c : p.top)
                classes.append(QJsonObject {
                    { QStringLiteral("class"), c.first }, { QStringLiteral("p"), c.second } });
            o[QStringLiteral("top")] = classes;
            list.append(o);
        }
        printOut(jsonLine(QJsonObject { { QStringLiteral("predictions"), list } }));
        return Ok;
    }
    QString text;
    for (const Prediction &p : *rows) {
        int width = 5;
        for (const auto &c : p.top)
            width = qMax(width, int(c.first.size()));
        text += p.path % QLatin1Char('\n');
        for (const auto &c : p.top)
            text += QStringLiteral("  ") % c.first.leftJustified(width) % QStringLiteral("  ")
                % QString::number(c.second, 'f', 6) % QLatin1Char('\n');
    }
    printOut(text);
    return Ok;
}

} // namespace leantune::cli
