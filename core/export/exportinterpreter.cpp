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
    runAll(x01, &values);
    const auto it = values.find(outputName);
    TORCH_CHECK(it != values.end(), "graph output '", outputName, "' is undefined");
    return it->second;
}

void ExportGraph::runAll(const torch::Tensor &x01, std::map<std::string, torch::Tensor> *out) const
{
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
        } else if (n.op == "DequantizeLinear") {
            const torch::Tensor q = in(n, 0);
            std::vector<std::int64_t> shape(std::size_t(q.dim()), 1);
            shape[0] = q.size(0);
            const torch::Tensor zero = n.inputs.size() > 2
                ? in(n, 2).to(torch::kFloat32).reshape(shape)
                : torch::zeros(shape);
            y = (q.to(torch::kFloat32) - zero) * in(n, 1).reshape(shape);
        } else {
            TORCH_CHECK(false, "the graph interpreter does not know op ", n.op);
        }
        values[n.outputs.front()] = y;
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
