#pragma once

#include <QString>

#include <optional>
#include <vector>

namespace leantune {

// What a weight file (`train --init PATH`) was recognized as. Torch-free, for the run dialog.
struct WeightInfo {
    QString format; // "torchvision state_dict", "safetensors", "LeanTune run", "LeanTune export"
    QString architecture; // the zoo model the tensors fit; empty when none does
    int tensors = 0;
    qint64 parameters = 0; // elements of all tensors
    int classes = 0; // the classifier's outputs; 0 when unknown
    int channels = 0; // input channels of the first convolution; 0 when unknown
    int inputSize = 0; // LeanTune runs: the input size they trained at; 0 otherwise
    std::vector<double> normMean, normStd; // the normalization the weights were trained with

    // One line: "torchvision state_dict: resnet18, 102 tensors (11.7 M values), 10 classes, ..."
    QString summary() const;
};

// Reads PATH (a file or a LeanTune run folder) and says what it is. std::nullopt + *error (one
// line) when it is not a weight file LeanTune can start from. Reads the whole file (may take a
// second).
std::optional<WeightInfo> inspectWeights(const QString &path, QString *error);

} // namespace leantune
