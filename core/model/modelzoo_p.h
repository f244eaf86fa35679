#pragma once
// Private header (includes torch).

#include "model/modelspec.h"

#include <torch/torch.h>

#include <QString>

#include <memory>

namespace leantune {

// Base of every zoo model: an image classifier from [N, C, H, W] float input to [N, classes]
// logits.
class ClassifierImpl : public torch::nn::Module {
public:
    virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// Builds a fresh model (weights initialised from torch's current RNG). std::nullopt-like: returns
// nullptr and sets *error for an unknown name or a spec the model cannot take (input too small).
std::shared_ptr<ClassifierImpl> createModel(const ModelSpec &spec, QString *error);
// Stores MODEL's 4-d weights (convolutions) channels-last (NHWC), in place, on their device.
void useChannelsLastWeights(torch::nn::Module &model);

} // namespace leantune
