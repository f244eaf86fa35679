#pragma once
// Private header (includes torch): static int8 in the QOperator layout (QLinearConv, QLinearAdd,
// ...), the one OpenCV 4.6's ONNX importer reads, and the quantization rules it shares with the
// QDQ graph of ExportGraph::quantizeStatic.

#include "export/exportgraph_p.h"

#include <cstdint>
#include <map>
#include <string>

namespace leantune {

// uint8 asymmetric parameters of a per-tensor activation.
struct UInt8Params {
    float scale = 1.0f;
    std::uint8_t zero = 0;
};

// The parameters for the range [LO, HI] widened to hold 0 (so that 0 and zero padding are exact).
UInt8Params uint8ParamsFor(float lo, float hi);

// Per-output-channel symmetric int8 of the weight W (axis 0), in 7 bits so that integer kernels
// without VNNI cannot saturate: q = round(w / scale_c) in [−63, 63], scale_c = max|w_c| / 63 (1 for
// an all-zero channel), rounded to the nearest float16 value when every scale of W is within
// float16's normal range (the QDQ file then stores them in 2 bytes). Returns q; *SCALE gets [C].
torch::Tensor int8PerChannel(const torch::Tensor &w, torch::Tensor *scale);

// The static int8 graph of FLOATGRAPH (the float graph quantizeStatic would rewrite, RANGES as
// observed on it) as ONNX QOperator nodes: QuantizeLinear after the input normalization, every
// Conv (with the ReLU / ReLU6 after it fused into its output range) a QLinearConv, Add a
// QLinearAdd and average pooling a QLinearGlobalAveragePool / QLinearAveragePool (domain
// com.microsoft, which ONNX Runtime and OpenCV read), MaxPool on the uint8 values, and each Gemm
// but the classifier a QLinearConv whose kernel covers the map it reads (a Gemm on Flatten(x) is a
// convolution of x without padding), so that biases stay int32. The classifier reads its input
// through DequantizeLinear and keeps float32 weights, so that the logits are not rounded to uint8.
// Same weights, scales and zero points as quantizeStatic's QDQ graph elsewhere. Throws c10::Error
// on an op it cannot express.
ExportGraph qoperatorGraph(
    const ExportGraph &floatGraph, const std::map<std::string, ValueRange> &ranges);

} // namespace leantune
