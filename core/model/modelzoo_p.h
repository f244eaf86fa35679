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
    // The classifier's input [N, D] (the penultimate layer; in eval mode an embedding of each
    // image) and the classifier on it: classify(features(x)) is forward(x). A model whose
    // classifier is not known (TorchScript) gives its logits as features; classify() keeps them.
    virtual torch::Tensor features(torch::Tensor x) { return forward(std::move(x)); }
    virtual torch::Tensor classify(torch::Tensor features) { return features; }
};

// Builds a fresh model (weights initialised from torch's current RNG). std::nullopt-like: returns
// nullptr and sets *error for an unknown name or a spec the model cannot take (input too small).
std::shared_ptr<ClassifierImpl> createModel(const ModelSpec &spec, QString *error);
// Stores MODEL's 4-d weights (convolutions) channels-last (NHWC), in place, on their device.
void useChannelsLastWeights(torch::nn::Module &model);

} // namespace leantune
