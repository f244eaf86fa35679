#pragma once
// Private header (includes torch).

#include "dataset/streamingloader_p.h"
#include "model/modelzoo_p.h"
#include "train/evaluator.h"

#include <atomic>
#include <functional>

namespace leantune {

// Runs every batch of one epoch of LOADER through MODEL in eval mode without gradients, then puts
// the model back in training mode. Returns false when cancelled. An out-of-memory error empties the
// device cache and re-runs the batch in halves (then quarters, ...), which the rest of the pass
// keeps; report->oomRecoveries and report->chunk say so (the pass starts from report->chunk as
// given, 0 = whole batches). It is rethrown only when a single image does not fit. BEFOREFORWARD
// (tests) is called with the number of images before each forward pass and may throw
// c10::OutOfMemoryError.
bool evaluateModel(ClassifierImpl &model, StreamingLoader &loader, int classes,
    const torch::Device &device, EvaluationReport *report, const std::atomic_bool *cancel = nullptr,
    const std::function<void(std::int64_t images)> &beforeForward = {});

} // namespace leantune
