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

QStringList modelNames();
// Whether the spec is valid; else false and a one-line reason in *ERROR (unknown model, input too
// small, ...).
bool validateModelSpec(const ModelSpec &spec, QString *error = nullptr);

} // namespace leantune
