#pragma once

#include <QString>
#include <QStringList>

namespace leantune {

// What the model zoo needs to build a classifier. Torch-free, so the CLI and GUI can use it.
struct ModelSpec {
    QString name = QStringLiteral("smallcnn"); // smallcnn | resnet8 | resnet18 | mobilenet_v2
    int inputSize = 28; // square input, pixels
    int channels = 1; // 1 or 3
    int classes = 10;
};

// LeanTune's resnet18 has torchvision's ImageNet stem (7×7 stride-2 conv + max-pool) from this
// input size on, and a 3×3 stride-1 stem without max-pool below it; a stem's weights fit only the
// same stem.
constexpr int kResNet18ImageNetStemFrom = 96;

QStringList modelNames();
// Whether the spec is valid; else false and a one-line reason in *ERROR (unknown model, input too
// small, ...).
bool validateModelSpec(const ModelSpec &spec, QString *error = nullptr);

} // namespace leantune
