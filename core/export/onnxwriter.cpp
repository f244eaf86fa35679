#include "export/onnxwriter_p.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <cstring>

namespace leantune {

namespace {

// Protobuf wire format: each field is a key varint (field_number << 3 | wire_type) and a payload.
class Proto {
public:
    void varint(int field, std::uint64_t value)
    {
        key(field, 0);
        raw(value);
    }
    void fixed32(int field, float value)
    {
        key(field, 5);
        std::uint32_t bits;
        std::memcpy(&bits, &value, 4);
        for (int i = 0; i < 4; ++i)
            m_bytes.append(char((bits >> (8 * i)) & 0xff));
    }
    void bytes(int field, const QByteArray &value)
    {
        key(field, 2);
        raw(std::uint64_t(value.size()));
        m_bytes.append(value);
    }
    void string(int field, const std::string &value)
    {
        bytes(field, QByteArray(value.data(), qsizetype(value.size())));
    }
    void message(int field, const Proto &value) { bytes(field, value.m_bytes); }
    const QByteArray &data() const { return m_bytes; }

private:
    void key(int field, int wireType)
    {
        raw((std::uint64_t(field) << 3) | std::uint64_t(wireType));
    }
    void raw(std::uint64_t value)
    {
        while (value >= 0x80) {
            m_bytes.append(char((value & 0x7f) | 0x80));
            value >>= 7;
        }
        m_bytes.append(char(value));
    }
    QByteArray m_bytes;
};

// onnx.proto field numbers and enum values used below.
enum TensorDataType {
    kOnnxFloat = 1,
    kOnnxUint8 = 2,
    kOnnxInt8 = 3,
    kOnnxInt32 = 6,
    kOnnxFloat16 = 10
};
enum AttributeType { kAttrFloat = 1, kAttrInt = 2, kAttrInts = 7 };

Proto tensorProto(const std::string &name, const torch::Tensor &value)
{
    const torch::Tensor t = value.contiguous();
    Proto p;
    for (std::int64_t d : t.sizes())
        p.varint(1, std::uint64_t(d)); // dims
    const auto type = t.scalar_type();
    p.varint(2,
        type == torch::kInt8        ? kOnnxInt8
            : type == torch::kUInt8 ? kOnnxUint8
            : type == torch::kInt32 ? kOnnxInt32
            : type == torch::kHalf  ? kOnnxFloat16
                                    : kOnnxFloat); // data_type
    p.string(8, name); // name
    // raw_data: little-endian element bytes (x86-64 and aarch64 are little-endian).
    p.bytes(9, QByteArray(static_cast<const char *>(t.data_ptr()), qsizetype(t.nbytes())));
    return p;
}

Proto attributeProto(const GraphAttribute &a)
{
    Proto p;
    p.string(1, a.name);
    switch (a.kind) {
    case GraphAttribute::Int:
        p.varint(3, std::uint64_t(a.i));
        p.varint(20, kAttrInt);
        break;
    case GraphAttribute::Float:
        p.fixed32(2, a.f);
        p.varint(20, kAttrFloat);
        break;
    case GraphAttribute::Ints:
        for (std::int64_t v : a.ints)
            p.varint(8, std::uint64_t(v));
        p.varint(20, kAttrInts);
        break;
    }
    return p;
}

Proto valueInfo(
    const std::string &name, const std::vector<std::pair<std::int64_t, std::string>> &dims)
{
    Proto shape;
    for (const auto &d : dims) {
        Proto dim;
        if (d.second.empty())
            dim.varint(1, std::uint64_t(d.first)); // dim_value
        else
            dim.string(2, d.second); // dim_param
        shape.message(1, dim);
    }
    Proto tensorType;
    tensorType.varint(1, kOnnxFloat); // elem_type
    tensorType.message(2, shape);
    Proto type;
    type.message(1, tensorType); // TypeProto.tensor_type
    Proto p;
    p.string(1, name);
    p.message(2, type);
    return p;
}

// The QOperator ops outside the ONNX standard, in ONNX Runtime's contrib domain (OpenCV's importer
// reads them there too).
bool microsoftOp(const std::string &op)
{
    return op == "QLinearAdd" || op == "QLinearGlobalAveragePool" || op == "QLinearAveragePool";
}

// The graph's nodes as written. Clip(x, 0, max) (ReLU6) becomes Relu(x) − Relu(x − max): OpenCV
// 4.6 imports only the opset-6 Clip, whose bounds are attributes, and opset 13 has them as inputs.
std::vector<GraphNode> lowered(const ExportGraph &graph)
{
    std::vector<GraphNode> out;
    for (const GraphNode &n : graph.nodes) {
        const auto min = n.op == "Clip" && n.inputs.size() == 3
            ? graph.initializers.find(n.inputs[1])
            : graph.initializers.end();
        if (min == graph.initializers.end() || min->second.numel() != 1
            || min->second.item<float>() != 0.0f) {
            out.push_back(n);
            continue;
        }
        const std::string &x = n.inputs[0], &max = n.inputs[2], &y = n.outputs.front();
        const auto node
            = [&out](const char *op, std::vector<std::string> inputs, const std::string &output) {
                  GraphNode m;
                  m.op = op;
                  m.inputs = std::move(inputs);
                  m.outputs = { output };
                  out.push_back(m);
              };
        node("Relu", { x }, y + "_low");
        node("Sub", { x, max }, y + "_shifted");
        node("Relu", { y + "_shifted" }, y + "_high");
        node("Sub", { y + "_low", y + "_high" }, y);
    }
    return out;
}

} // namespace

QByteArray OnnxWriter::serialize(
    const ExportGraph &graph, const QList<QPair<QString, QString>> &metadata)
{
    Proto g;
    const std::vector<GraphNode> nodes = lowered(graph);
    std::set<std::string> used;
    for (const GraphNode &n : nodes)
        used.insert(n.inputs.begin(), n.inputs.end());
    // Static int8 files name their initializers and values by short generated names (base 36 in
    // order of first use): the long layer names on every QuantizeLinear / DequantizeLinear and
    // per-channel tensor were 2 % of a MobileNetV2 file. The input and output keep their names.
    // QOperator files keep the suffixes _quantized, _scale and _zero_point (without the
    // underscore) after the short name of what precedes them: OpenCV 4.6 finds an int8 output's
    // parameters by them.
    const bool shortNames = std::any_of(
        nodes.begin(), nodes.end(), [](const GraphNode &n) { return n.op == "QuantizeLinear"; });
    const bool keepSuffixes = std::any_of(
        nodes.begin(), nodes.end(), [](const GraphNode &n) { return n.op == "QLinearConv"; });
    std::map<std::string, std::string> renamed;
    std::size_t skipped = 0;
    std::function<std::string(const std::string &)> nameOf;
    nameOf = [&](const std::string &name) -> std::string {
        if (!shortNames || name.empty() || name == graph.inputName || name == graph.outputName)
            return name;
        if (keepSuffixes) {
            for (const std::string suffix : { "_quantized", "_scale", "_zero_point" }) {
                if (name.size() > suffix.size()
                    && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                    return nameOf(name.substr(0, name.size() - suffix.size())) + suffix.substr(1);
            }
        }
        auto it = renamed.find(name);
        while (it == renamed.end()) {
            // A C identifier (as the ONNX IR asks): a letter, then base 36.
            std::size_t i = renamed.size() + skipped;
            std::string shortName(1, char('a' + i % 26));
            for (i /= 26; i > 0; i /= 36)
                shortName += "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
            if (shortName == graph.inputName || shortName == graph.outputName)
                ++skipped;
            else
                it = renamed.emplace(name, shortName).first;
        }
        return it->second;
    };
    for (const GraphNode &n : nodes) {
        // No node names (optional in ONNX; viewers show op types and value names).
        Proto node;
        for (const std::string &in : n.inputs)
            node.string(1, nameOf(in));
        for (const std::string &out : n.outputs)
            node.string(2, nameOf(out));
        node.string(4, n.op);
        if (microsoftOp(n.op))
            node.string(7, "com.microsoft"); // domain
        for (const GraphAttribute &a : n.attributes)
            node.message(5, attributeProto(a));
        g.message(1, node);
    }
    g.string(2, "leantune");
    for (const std::string &name : graph.initializerOrder) {
        if (used.count(name)) // ReLU6's lower bound is gone with its Clip
            g.message(5, tensorProto(nameOf(name), graph.initializers.at(name)));
    }
    g.message(11,
        valueInfo(graph.inputName,
            { { 0, "batch" }, { graph.channels, {} }, { graph.inputSize, {} },
                { graph.inputSize, {} } }));
    g.message(12, valueInfo(graph.outputName, { { 0, "batch" }, { graph.classes, {} } }));

    Proto model;
    model.varint(1, 7); // ir_version (IR 7 goes with opset 13)
    model.string(2, "LeanTune"); // producer_name
    model.string(3, "0.1"); // producer_version
    model.message(7, g); // graph
    Proto opset;
    opset.string(1, ""); // default domain ai.onnx
    opset.varint(2, 13);
    model.message(8, opset); // opset_import
    if (std::any_of(
            nodes.begin(), nodes.end(), [](const GraphNode &n) { return microsoftOp(n.op); })) {
        Proto contrib;
        contrib.string(1, "com.microsoft");
        contrib.varint(2, 1);
        model.message(8, contrib);
    }
    for (const auto &entry : metadata) {
        Proto kv;
        kv.string(1, entry.first.toStdString());
        kv.string(2, entry.second.toStdString());
        model.message(14, kv); // metadata_props
    }
    return model.data();
}

} // namespace leantune
