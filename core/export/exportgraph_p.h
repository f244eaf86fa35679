#pragma once
// Private header (includes torch): the inference graph an export writes.

#include "model/modelspec.h"

#include <torch/torch.h>

#include <QString>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace leantune {

// One attribute of a node: an int, a float or a list of ints (the only kinds the exporter needs).
struct GraphAttribute {
    enum Kind { Int, Float, Ints };
    std::string name;
    Kind kind = Int;
    std::int64_t i = 0;
    float f = 0.0f;
    std::vector<std::int64_t> ints;
};

GraphAttribute intAttr(const std::string &name, std::int64_t value);
GraphAttribute intsAttr(const std::string &name, std::vector<std::int64_t> values);

// The smallest and largest value a graph value took on the calibration images.
struct ValueRange {
    float min = 0.0f;
    float max = 0.0f;
};

// How activation ranges are taken from the calibration images: the extremes (min-max), or the
// 0.01st and 99.99th percentiles of each batch averaged over batches (clips rare outliers).
enum class RangeMethod { MinMax, Percentile };

// An ONNX-style node: op type from the ONNX operator set (opset 13), value names in and out.
struct GraphNode {
    std::string op;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    std::vector<GraphAttribute> attributes;

    // A node with one output.
    static GraphNode make(std::string op, std::vector<std::string> inputs, std::string output,
        std::vector<GraphAttribute> attributes = {});
    const GraphAttribute *attribute(const std::string &name) const;
};

// The inference graph of a zoo model in ONNX terms: normalization (Sub, Div) on the [0, 1] input,
// BatchNorm folded into the convs, dropout gone. Initializers are CPU contiguous tensors, float32
// or (after quantizeWeights) int8. Built on the exporting thread; a plain value. build() is in
// exportbuilders.cpp, run() in exportinterpreter.cpp, the passes (shrinkChannels, quantizeWeights,
// dequantized) in exportpasses.cpp.
class ExportGraph {
public:
    // Builds the graph of MODEL (a zoo model built from SPEC, in any mode; read without gradients).
    // Normalization: the model was trained on (x/255 − mean) / std. std::nullopt + *error for a
    // model or input size the exporter cannot express exactly (e.g. adaptive pooling to 7×7 of a
    // map whose side is not a multiple of 7).
    static std::optional<ExportGraph> build(torch::nn::Module &model, const ModelSpec &spec,
        const std::vector<double> &normMean, const std::vector<double> &normStd, QString *error);
    // One mean and std for every channel.
    static std::optional<ExportGraph> build(torch::nn::Module &model, const ModelSpec &spec,
        double normMean, double normStd, QString *error)
    {
        return build(
            model, spec, std::vector<double> { normMean }, std::vector<double> { normStd }, error);
    }

    // Runs the graph with LibTorch ops on X01 [N, C, H, W] in [0, 1] (the reference interpreter the
    // tests compare the model, the shrunk graph and the ONNX runtime with). Throws c10::Error on a
    // malformed graph.
    torch::Tensor run(const torch::Tensor &x01) const;

    // Removes output channels (conv filters, linear rows) whose weights and bias are all zero, and
    // the matching inputs of the layers that consume them, where only ReLU and pooling lie in
    // between (never across Add), and the same channels of a depthwise conv in between whose
    // kernels and bias are zero there (MobileNetV2's expansion → depthwise → projection). The
    // outputs do not change: such a channel is 0 after ReLU (or ReLU6).
    // Returns the number of channels removed.
    std::int64_t shrinkChannels();

    // Per-output-channel symmetric int8 quantization of every conv and Gemm weight:
    // scale_c = max|w_c| / 127, q = round(w / scale_c) in [−127, 127], stored as INT8 initializers
    // read through DequantizeLinear (axis 0, no zero point: 0). Biases stay float32.
    void quantizeWeights();
    // Records into *RANGES the range of every node output on X01 (widening what is there), for
    // quantizeStatic. Call on the float graph (after shrinkChannels), batch after batch.
    void observeRanges(const torch::Tensor &x01, RangeMethod method,
        std::map<std::string, ValueRange> *ranges) const;
    // Static int8 (QDQ, the layout ONNX Runtime fuses into integer kernels): every Conv, Add and
    // pooling after the normalization reads uint8 activations (per-tensor asymmetric, from RANGES)
    // and int8 weights (per channel, symmetric) through DequantizeLinear, with int32 biases of
    // scale input scale × weight scale, and writes its output through QuantizeLinear. A ReLU or
    // ReLU6 after a Conv or Add is fused into its QuantizeLinear (range [0, max], zero point 0).
    // The final Gemm reads the quantized features and writes float logits. RANGES must hold every
    // node output of this (float) graph.
    void quantizeStatic(const std::map<std::string, ValueRange> &ranges);
    // The static int8 graph with each activation's QuantizeLinear → DequantizeLinear replaced by
    // Clip to the range its uint8 values cover: what OnnxDequantizer's twin of the file computes.
    ExportGraph clampedTwin() const;
    // The same graph with every DequantizeLinear replaced by its float result (what the int8 model
    // computes, as a float32 graph).
    ExportGraph dequantized() const;

    std::int64_t parameterCount() const; // elements of all initializers that are parameters
    std::int64_t nonzeroCount() const; // of those, non-zero
    // Names of the weight initializers (conv kernels, Gemm matrices; int8 when quantized).
    std::vector<std::string> weightNames() const;
    bool isQuantized() const;

    std::string inputName = "input";
    std::string outputName = "logits";
    int channels = 1;
    int inputSize = 28;
    int classes = 0;
    std::vector<GraphNode> nodes;
    std::map<std::string, torch::Tensor> initializers;
    std::vector<std::string> initializerOrder; // write order

    void addInitializer(const std::string &name, torch::Tensor value);

private:
    int consumerCount(const std::string &value) const;
    bool deadIn(const GraphNode &n, const torch::Tensor &dead) const;
    std::vector<std::size_t> consumers(const std::string &value) const;
    std::map<std::string, std::vector<std::int64_t>> valueShapes() const;
    // run(), keeping every value computed (inputs, initializers, node outputs) in *VALUES.
    void runAll(const torch::Tensor &x01, std::map<std::string, torch::Tensor> *values,
        bool keepAll = true) const;
};

} // namespace leantune
