#pragma once
// Private header (includes torch).

#include "model/statedictunpickler_p.h"

#include <QString>
#include <QStringList>

namespace leantune {

// The model's parameters and buffers by name ("conv1.weight", "bn1.running_mean"), as a state_dict.
NamedTensors namedTensorsOf(torch::nn::Module &model);

// T's shape as users read it in messages: "[64, 3, 7, 7]".
QString shapeText(const torch::Tensor &t);

// The name of MODEL's classifier: its last Linear module ("fc", "fc2", "classifier.1"); empty when
// it has none.
std::string classifierName(torch::nn::Module &model);

// Copies TENSORS into MODEL, all or nothing. Every parameter and buffer of the model must be in
// TENSORS with the same shape and every tensor of TENSORS must be in the model, except the
// classifier's weight and bias when only their output size (the class count) differs: the
// classifier then keeps its fresh weights and *NOTE says so. num_batches_tracked may be missing
// (safetensors files often leave it out). Each tensor is checked as the model's dtype: float
// parameters take floating-point tensors only, integer buffers integers only, every value finite
// after the conversion, and BatchNorm's running_var non-negative. On any mismatch false + *error
// listing the first mismatches (names quoted with textFromFile()), and the model is untouched.
bool loadNamedTensors(
    torch::nn::Module &model, const NamedTensors &tensors, QString *note, QString *error);

} // namespace leantune
