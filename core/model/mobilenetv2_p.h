#pragma once
// Private header (includes torch).

#include "model/modelzoo_p.h"

#include <memory>

namespace leantune {

// torchvision's MobileNetV2 (width 1.0, ReLU6, dropout 0.2 before the classifier) for CHANNELS
// input channels and CLASSES outputs. Module structure and parameter names equal
// torchvision.models.mobilenet_v2's, so a torchvision state_dict loads by name:
//   features.0        stem: 3×3 stride-2 conv (features.0.0) + BN (features.0.1) + ReLU6
//   features.1..17    inverted residual blocks, `features.N.conv.M...` (expansion 1×1 conv +
//                     BN + ReLU6 when the expansion ratio is not 1, depthwise 3×3 conv + BN +
//                     ReLU6, projection 1×1 conv + BN; the input is added when stride 1 and
//                     the channel count is kept)
//   features.18       1×1 conv 320 → 1280 + BN + ReLU6
//   global average pool, classifier.0 dropout, classifier.1 linear 1280 → classes.
// 2,236,682 parameters for 3 channels and 10 classes (158 tensors). Five stride-2 stages: a 32 px
// input ends in a 1×1 map. Weights initialised as torchvision does (Kaiming-normal fan-out convs,
// BN γ = 1, β = 0, classifier N(0, 0.01) with zero bias).
std::shared_ptr<ClassifierImpl> makeMobileNetV2(int channels, int classes);

} // namespace leantune
