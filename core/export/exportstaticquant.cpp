// Static int8: activation ranges observed on calibration images, and the rewrite of the float
// graph into the QDQ layout ONNX Runtime fuses into QLinearConv, QLinearAdd,
// QLinearGlobalAveragePool and QGemm (DequantizeLinear on every input of an op, QuantizeLinear on
// its output; ReLU folded into the output's range).

#include "export/exportqoperator_p.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace leantune {

namespace {

using QParams = UInt8Params;

bool quantizableOp(const std::string &op)
{
    return op == "Conv" || op == "Add" || op == "GlobalAveragePool" || op == "AveragePool"
        || op == "MaxPool";
}

} // namespace

UInt8Params uint8ParamsFor(float lo, float hi)
{
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    UInt8Params p;
    if (!(hi - lo > 0.0f) || !std::isfinite(hi - lo))
        return p; // a value that is always 0
    p.scale = (hi - lo) / 255.0f;
    p.zero = std::uint8_t(std::clamp(std::nearbyint(-lo / p.scale), 0.0f, 255.0f));
    return p;
}

torch::Tensor int8PerChannel(const torch::Tensor &w, torch::Tensor *scale)
{
    // 7 bits: x86 CPUs without VNNI multiply u8 x s8 pairs into a saturating int16 sum
    // (vpmaddubsw), which full-range weights overflow (ONNX Runtime's reduce_range advice).
    constexpr float kWeightMax = 63.0f;
    const std::int64_t channels = w.size(0);
    const torch::Tensor flat = w.reshape({ channels, -1 });
    torch::Tensor s = flat.abs().amax(1) / kWeightMax;
    s = torch::where(s.gt(0), s, torch::ones_like(s));
    // 2^-14 and 65504: the smallest normal and the largest float16; below, float16 loses bits.
    if (s.ge(6.103515625e-05f).logical_and(s.le(65504.0f)).all().item<bool>())
        s = s.to(torch::kHalf).to(torch::kFloat32);
    *scale = s.contiguous();
    return torch::round(flat / scale->unsqueeze(1))
        .clamp(-kWeightMax, kWeightMax)
        .to(torch::kInt8)
        .reshape(w.sizes())
        .contiguous();
}

void ExportGraph::observeRanges(
    const torch::Tensor &x01, RangeMethod method, std::map<std::string, ValueRange> *ranges) const
{
    torch::NoGradGuard noGrad;
    std::map<std::string, torch::Tensor> values;
    runAll(x01, &values);
    for (const GraphNode &n : nodes) {
        const torch::Tensor &v = values.at(n.outputs.front());
        float lo = 0.0f, hi = 0.0f;
        if (method == RangeMethod::Percentile && v.numel() >= 10000) {
            // A strided sample of at most 2^20 elements keeps the sort cheap on large maps.
            torch::Tensor flat = v.reshape({ -1 });
            const std::int64_t step = std::max<std::int64_t>(1, flat.numel() >> 20);
            flat = flat.slice(0, 0, flat.numel(), step).to(torch::kFloat32);
            const torch::Tensor q = torch::quantile(flat, torch::tensor({ 0.0001f, 0.9999f }));
            lo = q[0].item<float>();
            hi = q[1].item<float>();
        } else {
            lo = v.min().item<float>();
            hi = v.max().item<float>();
        }
        auto it = ranges->find(n.outputs.front());
        if (it == ranges->end()) {
            ranges->emplace(n.outputs.front(), ValueRange { lo, hi });
        } else if (method == RangeMethod::Percentile) {
            // Running mean of the batches' percentiles (ONNX Runtime's percentile calibrator
            // pools a histogram instead; the mean is close for equal batches and needs no bins).
            it->second.min = 0.5f * (it->second.min + lo);
            it->second.max = 0.5f * (it->second.max + hi);
        } else {
            it->second.min = std::min(it->second.min, lo);
            it->second.max = std::max(it->second.max, hi);
        }
    }
}

void ExportGraph::quantizeStatic(const std::map<std::string, ValueRange> &ranges)
{
    torch::NoGradGuard noGrad;
    const auto rangeOf = [&ranges](const std::string &value) {
        const auto it = ranges.find(value);
        TORCH_CHECK(it != ranges.end(), "no calibration range for '", value, "'");
        return it->second;
    };
    // The float prefix: the normalization of the [0, 1] input, up to "input_normalized".
    std::size_t first = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].outputs.front() == "input_normalized")
            first = i + 1;
    }

    // 1. Fuse a ReLU / ReLU6 into the Conv or Add before it: the producer writes the activation's
    // value, whose QuantizeLinear (range [0, max], zero point 0) clamps as the ReLU did.
    std::map<std::string, float> clipMax; // fused value → upper bound of its activation
    std::vector<GraphNode> fused;
    std::set<std::size_t> dropped;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (dropped.count(i))
            continue;
        GraphNode n = nodes[i];
        if (i >= first && (n.op == "Conv" || n.op == "Add")) {
            const auto users = consumers(n.outputs.front());
            if (users.size() == 1 && n.outputs.front() != outputName) {
                const GraphNode &a = nodes[users.front()];
                const bool relu = a.op == "Relu";
                const bool relu6 = a.op == "Clip" && a.inputs.size() == 3
                    && initializers.count(a.inputs[1]) && initializers.count(a.inputs[2])
                    && initializers.at(a.inputs[1]).item<float>() == 0.0f;
                if (relu || relu6) {
                    n.outputs.front() = a.outputs.front();
                    clipMax[a.outputs.front()] = relu6 ? initializers.at(a.inputs[2]).item<float>()
                                                       : std::numeric_limits<float>::infinity();
                    dropped.insert(users.front());
                }
            }
        }
        fused.push_back(std::move(n));
    }

    // 2. Rewrite: DequantizeLinear in front of every read of a quantized value, QuantizeLinear
    // after every quantized output, int8 weights and int32 biases.
    std::map<std::string, QParams> quantized; // float value name → its uint8 parameters
    std::map<std::string, std::string> params; // → the prefix of its scale and zero point
    std::vector<GraphNode> out;
    int counter = 0;
    const auto node = [&out](const char *op, std::vector<std::string> inputs, std::string output,
                          std::vector<GraphAttribute> attributes = {}) {
        out.push_back(
            GraphNode::make(op, std::move(inputs), std::move(output), std::move(attributes)));
    };
    // Activations with the same parameters (a MaxPool's output and its input) share one scale and
    // one zero point initializer.
    std::map<std::pair<float, int>, std::string> shared;
    const auto quantize = [&](const std::string &value, const std::string &from, QParams p) {
        auto s = shared.find({ p.scale, p.zero });
        if (s == shared.end()) {
            s = shared.emplace(std::make_pair(p.scale, int(p.zero)), value).first;
            addInitializer(value + "_scale", torch::full({}, p.scale));
            addInitializer(value + "_zero_point", torch::full({}, p.zero, torch::kUInt8));
        }
        node("QuantizeLinear", { from, s->second + "_scale", s->second + "_zero_point" },
            value + "_q");
        quantized[value] = p;
        params[value] = s->second;
    };
    const auto paramsOf = [&](const std::string &value) {
        const ValueRange r = rangeOf(value);
        const auto c = clipMax.find(value);
        return uint8ParamsFor(r.min, c == clipMax.end() ? r.max : std::min(r.max, c->second));
    };
    // A fresh DequantizeLinear of VALUE for one reader (ONNX Runtime groups a DequantizeLinear
    // with a single node).
    const auto dequantize = [&](const std::string &value) {
        const std::string name = value + "_dq" + std::to_string(counter++);
        const std::string &p = params.at(value);
        node("DequantizeLinear", { value + "_q", p + "_scale", p + "_zero_point" }, name);
        return name;
    };
    const auto dropInitializer = [this](const std::string &name) {
        initializers.erase(name);
        initializerOrder.erase(std::find(initializerOrder.begin(), initializerOrder.end(), name));
    };
    // Per-channel symmetric int8 weight (and int32 bias at input scale × weight scale) through
    // DequantizeLinear along axis 0, under the float names the node reads. Weight scales that are
    // float16 values are stored as float16 behind a Cast, and a bias's scale is the Mul of the two
    // scales it is the product of: 6 bytes a channel less, which models with few weights a
    // channel need to be 3.8x smaller than fp32 (bench/README.md). ONNX Runtime folds both into
    // constants at load, before its QDQ fusion.
    const auto quantizeParameters = [&](GraphNode &n, const std::string &input) {
        const std::string wName = n.inputs[1];
        const torch::Tensor w = initializers.at(wName);
        const std::int64_t channels = w.size(0);
        torch::Tensor scale;
        const torch::Tensor q = int8PerChannel(w, &scale);
        dropInitializer(wName);
        addInitializer(wName + "_quantized", q);
        if (scale.equal(scale.to(torch::kHalf).to(torch::kFloat32))) {
            addInitializer(wName + "_scale_half", scale.to(torch::kHalf));
            node("Cast", { wName + "_scale_half" }, wName + "_scale", { intAttr("to", 1) });
        } else {
            addInitializer(wName + "_scale", scale);
        }
        // Conv weights and the int32 biases go without zero points (0 of the input's type by
        // default: a byte a channel less); ONNX Runtime's QGemm wants one per scale.
        std::vector<std::string> dqInputs { wName + "_quantized", wName + "_scale" };
        if (n.op == "Gemm") {
            addInitializer(wName + "_zero_point", torch::zeros({ channels }, torch::kInt8));
            dqInputs.push_back(wName + "_zero_point");
        }
        node("DequantizeLinear", dqInputs, wName, { intAttr("axis", 0) });
        if (input.empty() || n.inputs.size() < 3)
            return;
        const std::string bName = n.inputs[2];
        const std::string &inputScale = params.at(input) + "_scale";
        // Float32 products, as the Mul computes them.
        const torch::Tensor bScale = torch::mul(scale, initializers.at(inputScale)).contiguous();
        const torch::Tensor b = initializers.at(bName);
        // int32 holds |b| / scale up to 2^31; a bias that large is left at the limit.
        const torch::Tensor qb
            = torch::round(b / bScale).clamp(-2147483647.0, 2147483647.0).to(torch::kInt32);
        dropInitializer(bName);
        addInitializer(bName + "_quantized", qb);
        node("Mul", { inputScale, wName + "_scale" }, bName + "_scale");
        node("DequantizeLinear", { bName + "_quantized", bName + "_scale" }, bName,
            { intAttr("axis", 0) });
    };

    for (std::size_t i = 0; i < fused.size(); ++i) {
        GraphNode n = fused[i];
        if (i < first) {
            const bool last = n.outputs.front() == "input_normalized";
            if (last)
                n.outputs.front() = "input_normalized_float";
            out.push_back(n);
            if (last)
                quantize(
                    "input_normalized", "input_normalized_float", paramsOf("input_normalized"));
            continue;
        }
        const bool qop = quantizableOp(n.op);
        const std::size_t activations = n.op == "Add" ? 2 : 1;
        std::string input; // the quantized value read first, if any
        for (std::size_t k = 0; k < activations && k < n.inputs.size(); ++k) {
            const std::string v = n.inputs[k];
            if (!quantized.count(v) && qop) // a float value an integer op reads: quantize it here
                quantize(v, v, paramsOf(v));
            if (quantized.count(v)) {
                if (k == 0)
                    input = v;
                n.inputs[k] = dequantize(v);
            }
        }
        if (n.op == "Conv" || n.op == "Gemm")
            quantizeParameters(n, input);
        // MaxPool and Flatten keep their input's parameters (ONNX Runtime drops their QDQ pair
        // only then); Conv, Add and average pooling get their output's own range.
        const std::string v = n.outputs.front();
        const bool passThrough = (n.op == "MaxPool" || n.op == "Flatten") && !input.empty();
        if ((qop || passThrough) && v != outputName) {
            n.outputs.front() = v + "_float";
            out.push_back(n);
            quantize(v, v + "_float", passThrough ? quantized.at(input) : paramsOf(v));
        } else {
            out.push_back(n);
        }
    }
    nodes = std::move(out);
    // Constants no node reads any more (ReLU6's bounds).
    std::set<std::string> used;
    for (const GraphNode &n : nodes)
        used.insert(n.inputs.begin(), n.inputs.end());
    for (const std::string &name : std::vector<std::string>(initializerOrder)) {
        if (!used.count(name))
            dropInitializer(name);
    }
}

ExportGraph ExportGraph::clampedTwin() const
{
    ExportGraph g = *this;
    g.nodes.clear();
    std::map<std::string, const GraphNode *> quantizers; // output → QuantizeLinear
    for (const GraphNode &n : nodes) {
        if (n.op == "QuantizeLinear")
            quantizers[n.outputs.front()] = &n;
    }
    for (const GraphNode &n : nodes) {
        if (n.op == "QuantizeLinear")
            continue;
        const auto q = quantizers.find(n.op == "DequantizeLinear" ? n.inputs.front() : "");
        if (q == quantizers.end()) {
            g.nodes.push_back(n);
            continue;
        }
        const GraphNode &qn = *q->second;
        const float scale = initializers.at(qn.inputs[1]).item<float>();
        const float zero = initializers.at(qn.inputs[2]).to(torch::kFloat32).item<float>();
        const std::string bound = qn.inputs.front() + "_clip";
        g.addInitializer(bound + "_min", torch::full({ 1 }, (0.0f - zero) * scale));
        g.addInitializer(bound + "_max", torch::full({ 1 }, (255.0f - zero) * scale));
        GraphNode c;
        c.op = "Clip";
        c.inputs = { qn.inputs.front(), bound + "_min", bound + "_max" };
        c.outputs = n.outputs;
        g.nodes.push_back(c);
    }
    return g;
}

} // namespace leantune
