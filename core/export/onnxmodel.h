#pragma once
// Evaluation and prediction with an exported ONNX file (float32 or int8 weights-only), run by
// OpenCV DNN on the CPU.

#include "train/evaluator.h"
#include "metrics/predictions.h"

#include <QString>
#include <QStringList>

#include <optional>

namespace leantune {

// True for a path ending in .onnx (any case).
bool isOnnxModelFile(const QString &path);

// Evaluates the ONNX file on DATADIR as evaluateRun does a run (options.predictionsFile included;
// device is ignored: OpenCV DNN runs on the CPU). Its input size, channels and class names come
// from the export's metadata (class_names, input_size, input_channels), else from a run folder's
// config.json beside the file; normalization is in the exported graph (inputs in [0, 1]). An int8
// weights-only file runs as its dequantized float twin. std::nullopt + *error otherwise, saying
// what is missing.
std::optional<EvaluationReport> evaluateOnnx(
    const QString &file, const QString &dataDir, const EvaluateOptions &options, QString *error);

// The ONNX file's TOPK most probable classes for each of IMAGES, as predictImages.
std::optional<QVector<Prediction>> predictOnnx(const QString &file, const QStringList &images,
    int topK, const EvaluateOptions &options, QString *error);

} // namespace leantune
