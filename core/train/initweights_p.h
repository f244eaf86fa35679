#pragma once
// Private header (includes torch).

#include "model/modelzoo_p.h"
#include "model/statedictunpickler_p.h"
#include "train/weightinfo.h"

#include <functional>

namespace leantune {

// Starting weights read from `train --init PATH` (see weightinfo.h for what PATH may be).
struct InitWeights {
    WeightInfo info; // architecture is filled in only by inspectWeights()
    NamedTensors tensors;
};

// Reads PATH: a LeanTune run folder, a LeanTune LibTorch export, a .safetensors file or a zip
// torch.save() state_dict. std::nullopt + *error (one line) when it cannot be read.
std::optional<InitWeights> readInitWeights(const QString &path, QString *error);

// Loads WEIGHTS into MODEL all or nothing (loadNamedTensors()); LOG hears what was loaded and a
// replaced classifier. False + *error naming PATH on a mismatch.
bool applyInitWeights(const InitWeights &weights, const QString &path, ClassifierImpl &model,
    const std::function<void(const QString &)> &log, QString *error);

// resnet18 builds the stem its starting weights were trained with (conv1.weight 7×7: ImageNet's,
// with max-pool; 3×3: the small one), so torchvision's weights run at any input size: SPEC's Auto
// stem becomes the file's, and the returned line says which was built (empty when SPEC is not a
// resnet18 or the file has no conv1). std::nullopt + *error when SPEC asks for the other stem.
std::optional<QString> adoptStem(ModelSpec &spec, const InitWeights &weights, QString *error);

} // namespace leantune
