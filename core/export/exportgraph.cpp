// ExportGraph itself: nodes, initializers and what can be counted of them. The builders of the
// zoo's models are in exportbuilders.cpp, the reference interpreter in exportinterpreter.cpp and
// the passes that rewrite a graph (channel removal, int8 weights) in exportpasses.cpp.

#include "export/exportgraph_p.h"

#include <algorithm>

namespace leantune {

namespace {

bool isParameterName(const std::string &name)
{
    const auto ends = [&name](const std::string &suffix) {
        return name.size() >= suffix.size()
            && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return ends(".weight") || ends(".bias") || ends(".weight_quantized") || ends(".bias_quantized");
}

} // namespace

GraphAttribute intAttr(const std::string &name, std::int64_t value)
{
    GraphAttribute a;
    a.name = name;
    a.kind = GraphAttribute::Int;
    a.i = value;
    return a;
}

GraphAttribute intsAttr(const std::string &name, std::vector<std::int64_t> values)
{
    GraphAttribute a;
    a.name = name;
    a.kind = GraphAttribute::Ints;
    a.ints = std::move(values);
    return a;
}

GraphNode GraphNode::make(std::string op, std::vector<std::string> inputs, std::string output,
    std::vector<GraphAttribute> attributes)
{
    GraphNode n;
    n.op = std::move(op);
    n.inputs = std::move(inputs);
    n.outputs = { std::move(output) };
    n.attributes = std::move(attributes);
    return n;
}

const GraphAttribute *GraphNode::attribute(const std::string &name) const
{
    for (const GraphAttribute &a : attributes) {
        if (a.name == name)
            return &a;
    }
    return nullptr;
}

void ExportGraph::addInitializer(const std::string &name, torch::Tensor value)
{
    if (!initializers.count(name))
        initializerOrder.push_back(name);
    initializers[name] = value.contiguous();
}

std::vector<std::size_t> ExportGraph::consumers(const std::string &value) const
{
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (std::find(nodes[i].inputs.begin(), nodes[i].inputs.end(), value)
            != nodes[i].inputs.end())
            out.push_back(i);
    }
    return out;
}

int ExportGraph::consumerCount(const std::string &value) const
{
    return int(consumers(value).size());
}

std::int64_t ExportGraph::parameterCount() const
{
    std::int64_t n = 0;
    for (const auto &item : initializers)
        n += isParameterName(item.first) ? item.second.numel() : 0;
    return n;
}

std::int64_t ExportGraph::nonzeroCount() const
{
    std::int64_t n = 0;
    for (const auto &item : initializers)
        n += isParameterName(item.first) ? item.second.count_nonzero().item<std::int64_t>() : 0;
    return n;
}

std::vector<std::string> ExportGraph::weightNames() const
{
    std::vector<std::string> names;
    for (const GraphNode &n : nodes) {
        if (n.op == "Conv" || n.op == "Gemm") {
            const std::string &w = n.inputs[1];
            names.push_back(initializers.count(w) ? w : w + "_quantized");
        }
    }
    return names;
}

bool ExportGraph::isQuantized() const
{
    return std::any_of(
        nodes.begin(), nodes.end(), [](const GraphNode &n) { return n.op == "DequantizeLinear"; });
}

} // namespace leantune
