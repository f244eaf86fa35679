#pragma once
// Private header (includes torch).

#include "dataset/streamingloader_p.h"
#include "model/modelzoo_p.h"
#include "train/evaluator.h"

#include <atomic>

namespace leantune {

// Runs every batch of one epoch of LOADER through MODEL in eval mode without gradients, then puts the
// model back in training mode. Returns false when cancelled.
bool evaluateModel(ClassifierImpl &model, StreamingLoader &loader, int classes, const torch::Device &device,
                   EvaluationReport *report, const std::atomic_bool *cancel = nullptr);

} // namespace leantune
