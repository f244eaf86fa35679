// Static int8 as QOperator nodes: the float graph and its calibrated ranges rewritten into
// QLinearConv / QLinearAdd / QLinearGlobalAveragePool, with the quantization rules of the QDQ
// graph (exportstaticquant.cpp).

#include "export/exportqoperator_p.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace leantune {

ExportGraph qoperatorGraph(
    const ExportGraph &floatGraph, const std::map<std::string, ValueRange> &ranges)
{
    torch::NoGradGuard noGrad;
    const ExportGraph &f = floatGraph;
    ExportGraph g;
    g.inputName = f.inputName;
    g.outputName = f.outputName;
    g.channels = f.channels;
    g.inputSize = f.inputSize;
    g.classes = f.classes;

    const auto consumers = [&f](const std::string &value) {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < f.nodes.size(); ++i) {
            const auto &in = f.nodes[i].inputs;
            if (std::find(in.begin(), in.end(), value) != in.end())
                out.push_back(i);
        }
        return out;
    };
    const auto rangeOf = [&ranges](const std::string &value) {
        const auto it = ranges.find(value);
        TORCH_CHECK(it != ranges.end(), "no calibration range for '", value, "'");
        return it->second;
    };
    const auto node = [&g](const char *op, std::vector<std::string> inputs, std::string output,
                          std::vector<GraphAttribute> attributes = {}) {
        g.nodes.push_back(
            GraphNode::make(op, std::move(inputs), std::move(output), std::move(attributes)));
    };

    // The uint8 value of float value V is V_quantized, its scale and zero point V_scale and
    // V_zero_point: OpenCV 4.6's importer finds an int8 output's parameters by these names (the
    // convention of ONNX Runtime's quantizer), so no two values share them.
    std::map<std::string, UInt8Params> params;
    std::map<std::string, std::string> paramNames; // value → prefix of its scale / zero point
    const auto setParams = [&](const std::string &value, UInt8Params p) {
        g.addInitializer(value + "_scale", torch::full({}, p.scale));
        g.addInitializer(value + "_zero_point", torch::full({}, p.zero, torch::kUInt8));
        params[value] = p;
        paramNames[value] = value;
    };
    const auto q = [](const std::string &value) { return value + "_quantized"; };
    const auto scaleOf = [&](const std::string &v) { return paramNames.at(v) + "_scale"; };
    const auto zeroOf = [&](const std::string &v) { return paramNames.at(v) + "_zero_point"; };
    const auto needQuantized = [&](const GraphNode &n, const std::string &v) {
        TORCH_CHECK(params.count(v), "QOperator export: ", n.op, " reads the float value '", v,
            "', which has no uint8 twin");
    };
    const std::string weightZero = "int8_zero";
    g.addInitializer(weightZero, torch::zeros({}, torch::kInt8));

    // The float prefix (normalization), then the input's QuantizeLinear.
    std::size_t first = 0;
    for (std::size_t i = 0; i < f.nodes.size(); ++i) {
        if (f.nodes[i].outputs.front() == "input_normalized")
            first = i + 1;
    }
    TORCH_CHECK(first > 0, "QOperator export: the graph has no input normalization");
    for (std::size_t i = 0; i < first; ++i) {
        GraphNode n = f.nodes[i];
        for (const std::string &in : n.inputs) {
            if (f.initializers.count(in))
                g.addInitializer(in, f.initializers.at(in));
        }
        const bool last = i + 1 == first;
        if (last)
            n.outputs.front() = "input_normalized_float";
        g.nodes.push_back(n);
        if (last) {
            const ValueRange r = rangeOf("input_normalized");
            setParams("input_normalized", uint8ParamsFor(r.min, r.max));
            node("QuantizeLinear",
                { "input_normalized_float", scaleOf("input_normalized"),
                    zeroOf("input_normalized") },
                q("input_normalized"));
        }
    }

    std::set<std::size_t> done;
    std::map<std::string, std::string> flattened; // Flatten output → its 4-d input
    // A ReLU or ReLU6 after node I (its only reader): its output and upper bound, else I's own.
    const auto fusedOutput = [&](std::size_t i, float *clip) {
        const GraphNode &n = f.nodes[i];
        *clip = std::numeric_limits<float>::infinity();
        const auto users = consumers(n.outputs.front());
        if (users.size() != 1 || n.outputs.front() == f.outputName)
            return n.outputs.front();
        const GraphNode &a = f.nodes[users.front()];
        const bool relu = a.op == "Relu";
        const bool relu6 = a.op == "Clip" && a.inputs.size() == 3
            && f.initializers.count(a.inputs[1]) && f.initializers.count(a.inputs[2])
            && f.initializers.at(a.inputs[1]).item<float>() == 0.0f;
        if (!relu && !relu6)
            return n.outputs.front();
        if (relu6)
            *clip = f.initializers.at(a.inputs[2]).item<float>();
        done.insert(users.front());
        return a.outputs.front();
    };
    const auto outputParams = [&](const std::string &value, float clip) {
        const ValueRange r = rangeOf(value);
        setParams(value, uint8ParamsFor(r.min, std::min(r.max, clip)));
    };
    // Weight W per channel, int32 bias B (or zeros) at input scale × weight scale.
    const auto convParameters = [&](const std::string &name, const torch::Tensor &w,
                                    const torch::Tensor &b, float inputScale) {
        torch::Tensor scale;
        g.addInitializer(name + "_weight", int8PerChannel(w, &scale));
        g.addInitializer(name + "_wscale", scale);
        const torch::Tensor bScale = scale * inputScale;
        g.addInitializer(name + "_bias",
            torch::round(b / bScale).clamp(-2147483647.0, 2147483647.0).to(torch::kInt32));
    };

    for (std::size_t i = first; i < f.nodes.size(); ++i) {
        if (done.count(i))
            continue;
        const GraphNode &n = f.nodes[i];
        const std::string &x = n.inputs.front();
        if (n.op == "Gemm" && n.outputs.front() == f.outputName) {
            // The classifier stays float (DequantizeLinear of its input, float32 weights): uint8
            // logits would round every logit to 1/255 of their calibrated range and clip those
            // outside it.
            const auto from = flattened.find(x);
            const std::string source = from != flattened.end() ? from->second : x;
            needQuantized(n, source);
            node("DequantizeLinear", { q(source), scaleOf(source), zeroOf(source) },
                source + "_float");
            const std::string flat = from != flattened.end() ? x : source + "_flat";
            node("Flatten", { source + "_float" }, flat, { intAttr("axis", 1) });
            for (std::size_t k = 1; k < n.inputs.size(); ++k)
                g.addInitializer(n.inputs[k], f.initializers.at(n.inputs[k]));
            GraphNode m = n;
            m.inputs.front() = flat;
            g.nodes.push_back(m);
        } else if (n.op == "Conv" || n.op == "Gemm") {
            float clip = 0.0f;
            const std::string y = fusedOutput(i, &clip);
            std::string source = x;
            torch::Tensor w = f.initializers.at(n.inputs[1]);
            std::vector<GraphAttribute> attributes = n.attributes;
            if (n.op == "Gemm") {
                // Gemm(Flatten(x4), W) with W [M, C·H·W] is Conv(x4, W as [M, C, H, W]); a Gemm on
                // another Gemm's [N, M, 1, 1] output is a 1×1 conv.
                const auto from = flattened.find(x);
                if (from != flattened.end())
                    source = from->second;
                ExportGraph probe = f;
                probe.outputName = source;
                const torch::Tensor shape
                    = probe.run(torch::zeros({ 1, f.channels, f.inputSize, f.inputSize }));
                TORCH_CHECK(shape.dim() == 4 || from == flattened.end(),
                    "QOperator export: a Gemm reads a Flatten of a ", shape.dim(), "-d value");
                const std::int64_t c = shape.dim() == 4 ? shape.size(1) : w.size(1);
                const std::int64_t h = shape.dim() == 4 ? shape.size(2) : 1;
                const std::int64_t wd = shape.dim() == 4 ? shape.size(3) : 1;
                TORCH_CHECK(c * h * wd == w.size(1), "QOperator export: Gemm weight ", w.sizes(),
                    " does not match its input ", shape.sizes());
                w = w.reshape({ w.size(0), c, h, wd });
                attributes = { intsAttr("kernel_shape", { h, wd }) };
            }
            needQuantized(n, source);
            const torch::Tensor b = n.inputs.size() > 2 ? f.initializers.at(n.inputs[2])
                                                        : torch::zeros({ w.size(0) });
            const std::string name = n.inputs[1];
            convParameters(name, w, b, params.at(source).scale);
            const bool logits = y == f.outputName;
            outputParams(y, clip);
            node("QLinearConv",
                { q(source), scaleOf(source), zeroOf(source), name + "_weight", name + "_wscale",
                    weightZero, scaleOf(y), zeroOf(y), name + "_bias" },
                q(y), attributes);
            if (logits) {
                node("DequantizeLinear", { q(y), scaleOf(y), zeroOf(y) }, y + "_4d");
                node(n.op == "Gemm" ? "Flatten" : "Identity", { y + "_4d" }, y,
                    n.op == "Gemm" ? std::vector<GraphAttribute> { intAttr("axis", 1) }
                                   : std::vector<GraphAttribute> {});
            }
        } else if (n.op == "Add") {
            needQuantized(n, n.inputs[0]);
            needQuantized(n, n.inputs[1]);
            float clip = 0.0f;
            const std::string y = fusedOutput(i, &clip);
            outputParams(y, clip);
            node("QLinearAdd",
                { q(n.inputs[0]), scaleOf(n.inputs[0]), zeroOf(n.inputs[0]), q(n.inputs[1]),
                    scaleOf(n.inputs[1]), zeroOf(n.inputs[1]), scaleOf(y), zeroOf(y) },
                q(y));
        } else if (n.op == "GlobalAveragePool" || n.op == "AveragePool") {
            needQuantized(n, x);
            const std::string y = n.outputs.front();
            outputParams(y, std::numeric_limits<float>::infinity());
            std::vector<GraphAttribute> attributes = n.attributes;
            attributes.push_back(intAttr("channels_last", 0));
            node(n.op == "AveragePool" ? "QLinearAveragePool" : "QLinearGlobalAveragePool",
                { q(x), scaleOf(x), zeroOf(x), scaleOf(y), zeroOf(y) }, q(y), attributes);
        } else if (n.op == "MaxPool") {
            // Rounding commutes with max: the output keeps the input's parameters.
            needQuantized(n, x);
            params[n.outputs.front()] = params.at(x);
            paramNames[n.outputs.front()] = paramNames.at(x);
            GraphNode m = n;
            m.inputs = { q(x) };
            m.outputs = { q(n.outputs.front()) };
            g.nodes.push_back(m);
        } else if (n.op == "Flatten") {
            for (std::size_t u : consumers(n.outputs.front()))
                TORCH_CHECK(f.nodes[u].op == "Gemm" && f.nodes[u].inputs.front() == n.outputs[0],
                    "QOperator export: a Flatten is read by ", f.nodes[u].op, ", not a Gemm");
            flattened[n.outputs.front()] = x;
        } else {
            TORCH_CHECK(false, "QOperator export: no integer form for ", n.op, " (", x, ")");
        }
    }
    return g;
}

} // namespace leantune
