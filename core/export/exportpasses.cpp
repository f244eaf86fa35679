// The passes that rewrite an ExportGraph in place: removing channels pruned to zero, and int8
// weights read through DequantizeLinear (and back to float for the dequantized twin).

#include "export/exportgraph_p.h"

#include <algorithm>

namespace leantune {

// True when the float32 depthwise conv N has all-zero kernels and bias on the channels DEAD marks.
bool ExportGraph::deadIn(const GraphNode &n, const torch::Tensor &dead) const
{
    const torch::Tensor &w = initializers.at(n.inputs[1]);
    if (w.scalar_type() != torch::kFloat32 || w.size(0) != dead.size(0) || w.size(1) != 1)
        return false;
    const torch::Tensor idx = dead.nonzero().reshape({ -1 });
    bool zero = w.index_select(0, idx).abs().max().item<float>() == 0.0f;
    if (n.inputs.size() > 2)
        zero = zero
            && initializers.at(n.inputs[2]).index_select(0, idx).abs().max().item<float>() == 0.0f;
    return zero;
}

std::int64_t ExportGraph::shrinkChannels()
{
    torch::NoGradGuard noGrad;
    const auto shapes = valueShapes();
    std::int64_t removed = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        GraphNode &producer = nodes[i];
        if (producer.op != "Conv" && producer.op != "Gemm")
            continue;
        if (producer.op == "Conv" && producer.attribute("group")
            && producer.attribute("group")->i != 1)
            continue;
        torch::Tensor w = initializers.at(producer.inputs[1]);
        if (w.scalar_type() != torch::kFloat32)
            continue;
        const std::int64_t channels = w.size(0);
        torch::Tensor b = producer.inputs.size() > 2 ? initializers.at(producer.inputs[2])
                                                     : torch::zeros({ channels });
        const torch::Tensor dead
            = w.reshape({ channels, -1 }).abs().amax(1).eq(0).logical_and(b.eq(0));
        const torch::Tensor keep = dead.logical_not().nonzero().reshape({ -1 });
        if (keep.numel() == channels || keep.numel() == 0)
            continue;
        // Follow the value through zero-preserving, channel-wise ops to its consumers. A depthwise
        // conv whose kernels and bias are zero on the dead channels (the pruner zeroes them with
        // the expansion's channels) keeps them dead and loses them too.
        std::string value = producer.outputs.front();
        bool ok = value != outputName;
        std::vector<std::size_t> depthwise;
        while (ok) {
            const auto next = consumers(value);
            if (next.size() != 1)
                break;
            const GraphNode &n = nodes[next.front()];
            const bool zeroPreserving = n.op == "Relu" || n.op == "MaxPool" || n.op == "AveragePool"
                || n.op == "GlobalAveragePool" || (n.op == "Clip" && n.inputs.front() == value);
            const bool deadDepthwise = n.op == "Conv" && n.inputs.front() == value
                && n.attribute("group") && n.attribute("group")->i == channels && deadIn(n, dead);
            if (!zeroPreserving && !deadDepthwise)
                break;
            if (deadDepthwise)
                depthwise.push_back(next.front());
            value = n.outputs.front();
            ok = value != outputName;
        }
        // Every consumer must be a plain conv or a Gemm (directly, or through Flatten).
        struct Cut {
            std::string weight;
            torch::Tensor columns;
        };
        std::vector<Cut> cuts;
        const auto users = consumers(value);
        ok = ok && !users.empty();
        for (std::size_t u : users) {
            if (!ok)
                break;
            const GraphNode &n = nodes[u];
            const bool direct = n.inputs.front() == value; // not as a weight or a second operand
            if (direct
                && ((n.op == "Conv" && (!n.attribute("group") || n.attribute("group")->i == 1))
                    || (n.op == "Gemm" && producer.op == "Gemm"))) {
                // A dense consumer: its weight loses the input channels that were cut.
                cuts.push_back({ n.inputs[1], keep });
            } else if (direct && n.op == "Flatten" && n.outputs.front() != outputName) {
                const auto &shape = shapes.at(value);
                std::int64_t spatial = 1;
                for (std::size_t d = 2; d < shape.size(); ++d)
                    spatial *= shape[d];
                const torch::Tensor columns = (keep.unsqueeze(1) * spatial
                    + torch::arange(spatial, keep.options()).unsqueeze(0))
                                                  .reshape({ -1 });
                for (std::size_t g : consumers(n.outputs.front())) {
                    if (nodes[g].op != "Gemm" || nodes[g].inputs.front() != n.outputs.front())
                        ok = false;
                    else
                        cuts.push_back({ nodes[g].inputs[1], columns });
                }
            } else {
                ok = false;
            }
        }
        for (const Cut &c : cuts)
            ok = ok && initializers.at(c.weight).scalar_type() == torch::kFloat32;
        if (!ok)
            continue;
        addInitializer(producer.inputs[1], w.index_select(0, keep));
        if (producer.inputs.size() > 2)
            addInitializer(producer.inputs[2], b.index_select(0, keep));
        for (std::size_t d : depthwise) {
            GraphNode &n = nodes[d];
            for (std::size_t k = 1; k < n.inputs.size(); ++k)
                addInitializer(n.inputs[k], initializers.at(n.inputs[k]).index_select(0, keep));
            for (GraphAttribute &a : n.attributes) {
                if (a.name == "group")
                    a.i = keep.numel();
            }
        }
        for (const Cut &c : cuts)
            addInitializer(c.weight, initializers.at(c.weight).index_select(1, c.columns));
        removed += channels - keep.numel();
    }
    return removed;
}

void ExportGraph::quantizeWeights()
{
    torch::NoGradGuard noGrad;
    std::vector<GraphNode> out;
    for (const GraphNode &n : nodes) {
        if ((n.op == "Conv" || n.op == "Gemm")
            && initializers.at(n.inputs[1]).scalar_type() == torch::kFloat32) {
            const std::string name = n.inputs[1];
            const torch::Tensor w = initializers.at(name);
            const std::int64_t channels = w.size(0);
            const torch::Tensor flat = w.reshape({ channels, -1 });
            torch::Tensor scale = flat.abs().amax(1) / 127.0f;
            scale = torch::where(scale.gt(0), scale, torch::ones_like(scale));
            const torch::Tensor q = torch::round(flat / scale.unsqueeze(1))
                                        .clamp(-127, 127)
                                        .to(torch::kInt8)
                                        .reshape(w.sizes());
            initializers.erase(name);
            initializerOrder.erase(
                std::find(initializerOrder.begin(), initializerOrder.end(), name));
            addInitializer(name + "_quantized", q);
            addInitializer(name + "_scale", scale.contiguous());
            // Symmetric: no zero point input (ONNX's default is 0, of the int8 input's type).
            GraphNode dq;
            dq.op = "DequantizeLinear";
            dq.inputs = { name + "_quantized", name + "_scale" };
            dq.outputs = { name };
            dq.attributes = { intAttr("axis", 0) };
            out.push_back(dq);
        }
        out.push_back(n);
    }
    nodes = std::move(out);
}

ExportGraph ExportGraph::dequantized() const
{
    ExportGraph g = *this;
    g.nodes.clear();
    for (const GraphNode &n : nodes) {
        if (n.op != "DequantizeLinear") {
            g.nodes.push_back(n);
            continue;
        }
        ExportGraph single;
        single.initializers = initializers;
        single.nodes = { n };
        single.outputName = n.outputs.front();
        const torch::Tensor w = single.run(torch::zeros({ 1 })).contiguous();
        for (const std::string &name : n.inputs) {
            g.initializers.erase(name);
            g.initializerOrder.erase(
                std::find(g.initializerOrder.begin(), g.initializerOrder.end(), name));
        }
        g.addInitializer(n.outputs.front(), w);
    }
    return g;
}

} // namespace leantune
