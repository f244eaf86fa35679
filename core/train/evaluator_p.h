#pragma once
// Private header (includes torch).

#include "dataset/streamingloader_p.h"
#include "model/modelzoo_p.h"
#include "train/evaluator.h"

#include "metrics/predictions.h"

#include <atomic>
#include <functional>
#include <vector>

namespace leantune {

// Per-image results of a pass, copied to the CPU once per batch: the loader's sample index, the
// label, the cross-entropy and the top-K classes with their probabilities (and every class's
// probability when allProbabilities is set), row-major.
struct PassPredictions {
    bool allProbabilities = false; // set by the caller
    int topK = 0; // set by the pass: predictionsTopK(classes)
    int classes = 0;
    std::vector<std::int64_t> samples;
    std::vector<std::int64_t> labels;
    std::vector<float> losses;
    std::vector<std::int64_t> topIndex; // topK per image
    std::vector<float> topProb; // topK per image
    std::vector<float> probabilities; // classes per image, when allProbabilities
};

// PREDICTIONS as rows: paths from SAMPLES (the loader's), names from CLASSES.
QVector<Prediction> predictionRows(const PassPredictions &predictions,
    const std::vector<Sample> &samples, const QStringList &classes);
// Writes a pass's predictions to PATH (see predictions.h); all probabilities when it has them.
bool writePassPredictions(const QString &path, const PassPredictions &predictions,
    const std::vector<Sample> &samples, const QStringList &classes, QString *error);

// A loaded classifier: its classes, the decode options its inputs need, and its forward pass
// (images on DEVICE → float32 logits [N, classes]). The LibTorch model of a run or a LibTorch
// export, or an ONNX file run by OpenCV DNN.
struct LoadedClassifier {
    QStringList classes;
    DecodeOptions decode; // evaluation: no augmentation
    torch::Device device { torch::kCPU };
    std::function<torch::Tensor(const torch::Tensor &x)> forward;
    QString source; // the model file or run folder, for messages
};

// Evaluates MODEL on DATADIR (its classes must be the model's), writing options.predictionsFile
// when set. std::nullopt + *error on failure.
std::optional<EvaluationReport> evaluateLoaded(const LoadedClassifier &model,
    const QString &dataDir, const EvaluateOptions &options, QString *error);
// MODEL's top TOPK classes for each of IMAGES, decoded exactly as evaluation decodes them,
// BATCHSIZE images per forward pass. std::nullopt + *error for an image that does not decode.
std::optional<QVector<Prediction>> predictLoaded(const LoadedClassifier &model,
    const QStringList &images, int topK, int batchSize, QString *error);

// Called after each batch of a pass with the images done (decoded or skipped) and the pass's
// total, first with 0 before the first batch; the last call has DONE == TOTAL unless cancelled.
using PassProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// The same as evaluateModel for any forward pass (no train/eval mode switch).
bool evaluateForward(const std::function<torch::Tensor(const torch::Tensor &)> &forward,
    StreamingLoader &loader, int classes, const torch::Device &device, EvaluationReport *report,
    const std::atomic_bool *cancel = nullptr,
    const std::function<void(std::int64_t images)> &beforeForward = {},
    PassPredictions *predictions = nullptr, const PassProgress &progress = {});

// Runs every batch of one epoch of LOADER through MODEL in eval mode without gradients, then puts
// the model back in training mode. Returns false when cancelled. An out-of-memory error empties the
// device cache and re-runs the batch in halves (then quarters, ...), which the rest of the pass
// keeps; report->oomRecoveries and report->chunk say so (the pass starts from report->chunk as
// given, 0 = whole batches). It is rethrown only when a single image does not fit. BEFOREFORWARD
// (tests) is called with the number of images before each forward pass and may throw
// c10::OutOfMemoryError. PREDICTIONS, when given, receives every image's result; PROGRESS, when
// given, the images done.
bool evaluateModel(ClassifierImpl &model, StreamingLoader &loader, int classes,
    const torch::Device &device, EvaluationReport *report, const std::atomic_bool *cancel = nullptr,
    const std::function<void(std::int64_t images)> &beforeForward = {},
    PassPredictions *predictions = nullptr, const PassProgress &progress = {});

} // namespace leantune
