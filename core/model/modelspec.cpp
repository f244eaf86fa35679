#include "model/modelspec.h"

#include "model/torchscriptmodel_p.h"

namespace leantune {

namespace {

constexpr int MaxInputSize = 1024;

// Smallest square input each model can take (its feature maps must not shrink below 1×1).
int minInputSize(const QString &name)
{
    if (name == QLatin1String("resnet18"))
        return 16;
    if (name == QLatin1String("mobilenet_v2"))
        return 28; // five stride-2 stages: 28 and 32 px both end in a 1×1 map
    return 8; // smallcnn, resnet8
}

// validateModelSpec()'s work: the first problem of SPEC, empty when it is fine.
QString specProblem(const ModelSpec &spec)
{
    if (isTorchScriptModelName(spec.name)) {
        QString problem;
        validateTorchScriptSpec(spec, &problem);
        return problem;
    }
    if (!modelNames().contains(spec.name))
        return QStringLiteral("unknown model '%1' (choose smallcnn, resnet8, resnet18, "
                              "mobilenet_v2 or torchscript:PATH)")
            .arg(spec.name);
    const int minSize = minInputSize(spec.name);
    if (spec.inputSize < minSize)
        return QStringLiteral("input size %1 is too small for %2 (minimum %3 pixels)")
            .arg(spec.inputSize)
            .arg(spec.name)
            .arg(minSize);
    if (spec.inputSize > MaxInputSize)
        return QStringLiteral("input size %1 is too large (maximum %2 pixels)")
            .arg(spec.inputSize)
            .arg(MaxInputSize);
    if (spec.channels != 1 && spec.channels != 3)
        return QStringLiteral("channels must be 1 or 3, got %1").arg(spec.channels);
    if (spec.classes < 2)
        return QStringLiteral("classes must be at least 2, got %1").arg(spec.classes);
    return {};
}

} // namespace

QStringList modelNames()
{
    return { QStringLiteral("smallcnn"), QStringLiteral("resnet8"), QStringLiteral("resnet18"),
        QStringLiteral("mobilenet_v2") };
}

bool validateModelSpec(const ModelSpec &spec, QString *error)
{
    const QString reason = specProblem(spec);
    if (error && !reason.isEmpty())
        *error = reason;
    return reason.isEmpty();
}

} // namespace leantune
