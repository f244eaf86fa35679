#pragma once
// Private header (includes torch).

#include <torch/torch.h>

namespace leantune {

class ClassifierImpl;

// The centre crop of the zoomed view, as a share of each side (training crops 0.8-1.0 of it).
constexpr double kZoomViewScale = 0.9;

// The centre SCALE × SCALE crop of batch X (N × C × H × W), resized back to H × W (bilinear).
torch::Tensor zoomView(const torch::Tensor &x, double scale = kZoomViewScale);

// A fold model's class probabilities (N × classes, float32) for its held-out batch X. A model
// trained with augmentation (random crops and mirrors) gives the mean over four views: the image,
// its mirror, its zoomView() and that view's mirror; otherwise the image alone. *FEATURES, when
// given, is set to the image's own features (N × D, float32), whatever the views.
torch::Tensor heldOutProbabilities(
    ClassifierImpl &model, const torch::Tensor &x, bool augmentedViews, torch::Tensor *features);

} // namespace leantune
