#pragma once

#include <QString>
#include <QStringList>

namespace leantune {

// resnet18's stem: by input size (Auto), or the one starting weights were trained with.
enum class ResNetStem { Auto, ImageNet, Small }; // ImageNet: 7×7 stride-2 conv + max-pool

// What the model zoo needs to build a classifier. Torch-free, so the CLI and GUI can use it.
struct ModelSpec {
    QString name = QStringLiteral("smallcnn"); // smallcnn | resnet8 | resnet18 | mobilenet_v2
    int inputSize = 28; // square input, pixels
    int channels = 1; // 1 or 3
    int classes = 10;
    ResNetStem stem = ResNetStem::Auto; // resnet18 only
};

// LeanTune's resnet18 has torchvision's ImageNet stem (7×7 stride-2 conv + max-pool) from this
// input size on, and a 3×3 stride-1 stem without max-pool below it; a stem's weights fit only the
// same stem.
constexpr int kResNet18ImageNetStemFrom = 96;
// Whether SPEC's resnet18 has the ImageNet stem: as its stem says, or for Auto from
// kResNet18ImageNetStemFrom px on.
inline bool usesImageNetStem(const ModelSpec &spec)
{
    return spec.stem == ResNetStem::Auto ? spec.inputSize >= kResNet18ImageNetStemFrom
                                         : spec.stem == ResNetStem::ImageNet;
}

QStringList modelNames();
// Whether the spec is valid; else false and a one-line reason in *ERROR (unknown model, input too
// small, ...).
bool validateModelSpec(const ModelSpec &spec, QString *error = nullptr);

} // namespace leantune
