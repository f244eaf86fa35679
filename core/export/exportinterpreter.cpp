// The reference interpreter: an ExportGraph run with LibTorch ops, which the tests compare the
// model, the shrunk graph and the ONNX runtime with, and the passes read value shapes from.

#include "export/exportgraph_p.h"

namespace leantune {

namespace {

std::vector<std::int64_t> ints(
    const GraphNode &n, const std::string &name, std::vector<std::int64_t> fallback)
{
    const GraphAttribute *a = n.attribute(name);
    return a ? a->ints : fallback;
}

} // namespace

torch::Tensor ExportGraph::run(const torch::Tensor &x01) const
{
    std::map<std::string, torch::Tensor> values;
    runAll(x01, &values, /*keepAll=*/false);
    const auto it = values.find(outputName);
    TORCH_CHECK(it != values.end(), "graph output '", outputName, "' is undefined");
    return it->second;
}

void ExportGraph::runAll(
    const torch::Tensor &x01, std::map<std::string, torch::Tensor> *out, bool keepAll) const
{
    // Without keepAll, a node output is freed after its last reader (a 224 px batch would
    // otherwise hold every activation of the network at once).
    std::map<std::string, std::size_t> lastUse;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        for (const std::string &v : nodes[i].inputs)
            lastUse[v] = i;
    }
    torch::NoGradGuard noGrad;
    std::map<std::string, torch::Tensor> &values = *out;
    values = initializers;
    values[inputName] = x01.to(torch::kFloat32);
    const auto in = [&values](const GraphNode &n, std::size_t i) -> torch::Tensor {
        const auto it = values.find(n.inputs.at(i));
        TORCH_CHECK(it != values.end(), "graph value '", n.inputs.at(i), "' is undefined");
        return it->second;
    };
    for (const GraphNode &n : nodes) {
        torch::Tensor y;
        if (n.op == "Sub") {
            y = in(n, 0) - in(n, 1);
        } else if (n.op == "Div") {
            y = in(n, 0) / in(n, 1);
        } else if (n.op == "Add") {
            y = in(n, 0) + in(n, 1);
        } else if (n.op == "Mul") {
            y = in(n, 0) * in(n, 1);
        } else if (n.op == "Cast") {
            const GraphAttribute *to = n.attribute("to");
            TORCH_CHECK(to && to->i == 1, "the graph interpreter casts only to float");
            y = in(n, 0).to(torch::kFloat32);
        } else if (n.op == "Relu") {
            y = torch::relu(in(n, 0));
        } else if (n.op == "Clip") {
            y = torch::clamp(in(n, 0), in(n, 1).item<float>(), in(n, 2).item<float>());
        } else if (n.op == "Conv") {
            const auto pads = ints(n, "pads", { 0, 0, 0, 0 });
            TORCH_CHECK(pads[0] == pads[2] && pads[1] == pads[3], "asymmetric pads");
            y = torch::conv2d(in(n, 0), in(n, 1), n.inputs.size() > 2 ? in(n, 2) : torch::Tensor(),
                ints(n, "strides", { 1, 1 }), { pads[0], pads[1] }, ints(n, "dilations", { 1, 1 }),
                n.attribute("group") ? n.attribute("group")->i : 1);
        } else if (n.op == "MaxPool" || n.op == "AveragePool") {
            const auto k = ints(n, "kernel_shape", {});
            const auto s = ints(n, "strides", { 1, 1 });
            const auto pads = ints(n, "pads", { 0, 0, 0, 0 });
            y = n.op == "MaxPool" ? torch::max_pool2d(in(n, 0), k, s, { pads[0], pads[1] })
                                  : torch::avg_pool2d(in(n, 0), k, s, { pads[0], pads[1] }, false,
                                      /*count_include_pad=*/false);
        } else if (n.op == "GlobalAveragePool") {
            y = in(n, 0).mean({ 2, 3 }, /*keepdim=*/true);
        } else if (n.op == "Flatten") {
            y = in(n, 0).flatten(1);
        } else if (n.op == "Gemm") {
            y = torch::addmm(in(n, 2), in(n, 0), in(n, 1).t());
        } else if (n.op == "DequantizeLinear" || n.op == "QuantizeLinear") {
            // Per tensor (a 1-element scale) or per channel along `axis` (default 1, as in ONNX).
            const torch::Tensor x = in(n, 0);
            const torch::Tensor scale = in(n, 1);
            std::vector<std::int64_t> shape(std::size_t(std::max<std::int64_t>(x.dim(), 1)), 1);
            if (scale.numel() > 1) {
                const GraphAttribute *a = n.attribute("axis");
                std::int64_t axis = a ? a->i : 1;
                axis = axis < 0 ? axis + x.dim() : axis;
                shape[std::size_t(axis)] = scale.numel();
            }
            const torch::Tensor s = scale.to(torch::kFloat32).reshape(shape);
            const torch::Tensor zero = n.inputs.size() > 2
                ? in(n, 2)
                      .to(torch::kFloat32)
                      .reshape(scale.numel() > 1 ? shape : std::vector<std::int64_t> {})
                : torch::zeros({});
            if (n.op == "DequantizeLinear") {
                y = (x.to(torch::kFloat32) - zero) * s;
            } else { // saturate to the zero point's type (uint8 without one), round half to even
                const auto type = n.inputs.size() > 2 ? in(n, 2).scalar_type() : torch::kUInt8;
                const double low = type == torch::kInt8 ? -128.0 : 0.0;
                const double high = type == torch::kInt8 ? 127.0 : 255.0;
                y = torch::clamp(torch::round(x / s) + zero, low, high).to(type);
            }
        } else {
            TORCH_CHECK(false, "the graph interpreter does not know op ", n.op);
        }
        values[n.outputs.front()] = y;
        if (!keepAll) {
            const std::size_t i = std::size_t(&n - nodes.data());
            for (const std::string &v : n.inputs) {
                if (lastUse.at(v) == i && v != outputName && !initializers.count(v))
                    values.erase(v);
            }
        }
    }
}

std::map<std::string, std::vector<std::int64_t>> ExportGraph::valueShapes() const
{
    // Record every value's shape by running the graph on one zero image.
    std::map<std::string, torch::Tensor> values;
    runAll(torch::zeros({ 1, channels, inputSize, inputSize }), &values);
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const auto &item : values)
        shapes[item.first] = item.second.sizes().vec();
    return shapes;
}

} // namespace leantune
