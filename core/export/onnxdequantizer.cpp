#include "export/onnxdequantizer_p.h"

#include <QtCore/qfloat16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace leantune {

namespace {

struct Field {
    int number = 0;
    int wireType = 0;
    std::uint64_t varint = 0; // wire types 0, 1, 5 (fixed values as raw bits)
    QByteArray bytes; // wire type 2
    QByteArray raw; // the whole field, key included, as read
};

std::uint64_t readVarint(const QByteArray &b, qsizetype &pos)
{
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= b.size())
            throw std::runtime_error("truncated varint");
        const auto byte = std::uint8_t(b[pos++]);
        v |= std::uint64_t(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    throw std::runtime_error("varint too long");
}

std::vector<Field> parse(const QByteArray &b)
{
    std::vector<Field> fields;
    qsizetype pos = 0;
    while (pos < b.size()) {
        const qsizetype start = pos;
        const std::uint64_t key = readVarint(b, pos);
        Field f;
        f.number = int(key >> 3);
        f.wireType = int(key & 7);
        switch (f.wireType) {
        case 0:
            f.varint = readVarint(b, pos);
            break;
        case 1:
        case 5: {
            const int n = f.wireType == 1 ? 8 : 4;
            if (pos + n > b.size())
                throw std::runtime_error("truncated fixed field");
            std::memcpy(&f.varint, b.constData() + pos, std::size_t(n));
            pos += n;
            break;
        }
        case 2: {
            const std::uint64_t len = readVarint(b, pos);
            if (len > std::uint64_t(b.size() - pos))
                throw std::runtime_error("truncated length-delimited field");
            f.bytes = b.mid(pos, qsizetype(len));
            pos += qsizetype(len);
            break;
        }
        default:
            throw std::runtime_error("unsupported wire type " + std::to_string(f.wireType));
        }
        f.raw = b.mid(start, pos - start);
        fields.push_back(std::move(f));
    }
    return fields;
}

void writeVarint(QByteArray &out, std::uint64_t v)
{
    while (v >= 0x80) {
        out.append(char((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.append(char(v));
}

void writeBytes(QByteArray &out, int field, const QByteArray &value)
{
    writeVarint(out, (std::uint64_t(field) << 3) | 2);
    writeVarint(out, std::uint64_t(value.size()));
    out.append(value);
}

std::string text(const Field &f)
{
    return f.bytes.toStdString();
}

struct Tensor {
    std::vector<std::int64_t> dims;
    int dataType = 0;
    QByteArray raw;
};

Tensor readTensor(const QByteArray &bytes, std::string *name)
{
    Tensor t;
    for (const Field &f : parse(bytes)) {
        if (f.number == 1 && f.wireType == 0) {
            t.dims.push_back(std::int64_t(f.varint));
        } else if (f.number == 1 && f.wireType == 2) { // packed dims
            qsizetype pos = 0;
            while (pos < f.bytes.size())
                t.dims.push_back(std::int64_t(readVarint(f.bytes, pos)));
        } else if (f.number == 2) {
            t.dataType = int(f.varint);
        } else if (f.number == 8) {
            *name = text(f);
        } else if (f.number == 9) {
            t.raw = f.bytes;
        }
    }
    return t;
}

std::int64_t elements(const Tensor &t)
{
    std::int64_t n = 1;
    for (std::int64_t d : t.dims)
        n *= d;
    return n;
}

// The FLOAT or FLOAT16 tensor T as float32 values; std::nullopt for other types or a size that
// does not match its dims.
std::optional<std::vector<float>> floatValues(const Tensor &t)
{
    const std::int64_t n = elements(t);
    std::vector<float> v(static_cast<std::size_t>(n));
    if (t.dataType == 1 && t.raw.size() == 4 * n) {
        std::memcpy(v.data(), t.raw.constData(), std::size_t(4 * n));
    } else if (t.dataType == 10 && t.raw.size() == 2 * n) {
        std::vector<qfloat16> h(static_cast<std::size_t>(n));
        std::memcpy(h.data(), t.raw.constData(), std::size_t(2 * n));
        qFloatFromFloat16(v.data(), h.data(), qsizetype(n));
    } else {
        return std::nullopt;
    }
    return v;
}

Tensor floatTensor(std::vector<std::int64_t> dims, const std::vector<float> &values)
{
    Tensor t;
    t.dims = std::move(dims);
    t.dataType = 1;
    t.raw = QByteArray(reinterpret_cast<const char *>(values.data()), qsizetype(4 * values.size()));
    return t;
}

QByteArray tensorProto(const std::string &name, const Tensor &t)
{
    QByteArray out;
    for (std::int64_t d : t.dims) {
        writeVarint(out, (1 << 3) | 0);
        writeVarint(out, std::uint64_t(d));
    }
    writeVarint(out, (2 << 3) | 0);
    writeVarint(out, std::uint64_t(t.dataType));
    writeBytes(out, 8, QByteArray::fromStdString(name));
    writeBytes(out, 9, t.raw);
    return out;
}

struct Node {
    std::string op;
    std::vector<std::string> inputs, outputs;
    std::map<std::string, std::int64_t> ints; // integer attributes
};

Node readNode(const QByteArray &bytes)
{
    Node n;
    for (const Field &nf : parse(bytes)) {
        if (nf.number == 1) {
            n.inputs.push_back(text(nf));
        } else if (nf.number == 2) {
            n.outputs.push_back(text(nf));
        } else if (nf.number == 4) {
            n.op = text(nf);
        } else if (nf.number == 5) {
            std::string attrName;
            std::int64_t value = 0;
            for (const Field &af : parse(nf.bytes)) {
                if (af.number == 1)
                    attrName = text(af);
                else if (af.number == 3)
                    value = std::int64_t(af.varint);
            }
            n.ints[attrName] = value;
        }
    }
    return n;
}

// Folds a Cast to FLOAT of a FLOAT16 or FLOAT constant, and a Mul of two FLOAT constants (one of
// them a scalar, or both of one size), into a FLOAT constant in INITS: the weight and bias
// scales of a static int8 QDQ file. Returns whether N was folded.
bool foldConstant(const Node &n, std::map<std::string, Tensor> &inits)
{
    if (n.outputs.size() != 1 || inits.count(n.outputs[0]))
        return false;
    const auto constant = [&](std::size_t i) -> const Tensor * {
        const auto it = i < n.inputs.size() ? inits.find(n.inputs[i]) : inits.end();
        return it == inits.end() ? nullptr : &it->second;
    };
    if (n.op == "Cast" && n.inputs.size() == 1 && constant(0)) {
        const auto to = n.ints.find("to");
        const auto v = floatValues(*constant(0));
        if (to == n.ints.end() || to->second != 1 || !v)
            return false;
        inits[n.outputs[0]] = floatTensor(constant(0)->dims, *v);
        return true;
    }
    if (n.op == "Mul" && n.inputs.size() == 2 && constant(0) && constant(1)
        && constant(0)->dataType == 1 && constant(1)->dataType == 1) {
        const auto a = floatValues(*constant(0)), b = floatValues(*constant(1));
        if (!a || !b || (a->size() != 1 && b->size() != 1 && a->size() != b->size()))
            return false;
        const std::vector<std::int64_t> dims
            = a->size() >= b->size() ? constant(0)->dims : constant(1)->dims;
        std::vector<float> product(std::max(a->size(), b->size()));
        for (std::size_t i = 0; i < product.size(); ++i)
            product[i] = (*a)[a->size() == 1 ? 0 : i] * (*b)[b->size() == 1 ? 0 : i];
        inits[n.outputs[0]] = floatTensor(dims, product);
        return true;
    }
    return false;
}

} // namespace

std::optional<QByteArray> OnnxDequantizer::floatTwin(const QByteArray &onnx, QString *error)
{
    try {
        std::vector<Field> model = parse(onnx);
        QByteArray modelOut;
        for (const Field &mf : model) {
            if (mf.number != 7) { // not the graph: copy as is
                modelOut.append(mf.raw);
                continue;
            }
            const std::vector<Field> graph = parse(mf.bytes);
            std::map<std::string, Tensor> inits;
            for (const Field &gf : graph) {
                if (gf.number == 5) {
                    std::string name;
                    Tensor t = readTensor(gf.bytes, &name);
                    inits[name] = t;
                }
            }
            std::set<std::string> consumed; // initializers folded into a float twin
            std::set<std::string> folded; // outputs of the nodes folded
            // Constants computed from constants (the scales of a static int8 QDQ file), folded
            // first; those a node of the twin still reads are written as FLOAT initializers.
            std::set<std::string> computed;
            std::vector<Node> nodes; // the graph's nodes in order, parsed once
            for (const Field &gf : graph) {
                if (gf.number == 1)
                    nodes.push_back(readNode(gf.bytes));
            }
            for (const Node &n : nodes) {
                if (foldConstant(n, inits)) {
                    computed.insert(n.outputs[0]);
                    folded.insert(n.outputs[0]);
                    if (n.op == "Cast")
                        consumed.insert(n.inputs[0]);
                }
            }
            struct Clamp {
                std::string input;
                float low = 0.0f, high = 0.0f;
            };
            std::map<std::string, Clamp> clamps; // QuantizeLinear output → its input and range
            QByteArray twins, graphOut;
            for (const Node &node : nodes) {
                const std::vector<std::string> &inputs = node.inputs, &outputs = node.outputs;
                const std::string &op = node.op;
                const auto axisAttr = node.ints.find("axis");
                std::int64_t axis = axisAttr == node.ints.end() ? 1 : axisAttr->second;
                if (op == "QuantizeLinear") {
                    // Of an activation (static int8): in the twin, the clamp to its range.
                    if (inputs.size() < 2 || outputs.size() != 1 || !inits.count(inputs[1]))
                        throw std::runtime_error("QuantizeLinear without a constant scale");
                    const Tensor &scale = inits.at(inputs[1]);
                    const Tensor *zero = inputs.size() > 2 && inits.count(inputs[2])
                        ? &inits.at(inputs[2])
                        : nullptr;
                    const auto sc = floatValues(scale);
                    if (scale.dataType != 1 || !sc || sc->size() != 1
                        || (zero && (zero->raw.size() != 1 || zero->dataType != 2)))
                        throw std::runtime_error(
                            "QuantizeLinear '" + outputs[0] + "' is not per tensor to UINT8");
                    const int zp = zero ? int(std::uint8_t(zero->raw[0])) : 0;
                    clamps[outputs[0]]
                        = { inputs[0], float(0 - zp) * sc->front(), float(255 - zp) * sc->front() };
                    continue;
                }
                if (op != "DequantizeLinear")
                    continue;
                if (inputs.size() < 2 || outputs.size() != 1 || !inits.count(inputs[1]))
                    throw std::runtime_error("DequantizeLinear without a constant scale");
                if (!inits.count(inputs[0]))
                    continue; // of an activation (static int8): stays
                folded.insert(outputs[0]);
                const Tensor &q = inits.at(inputs[0]);
                const Tensor &scale = inits.at(inputs[1]);
                const Tensor *zero
                    = inputs.size() > 2 && inits.count(inputs[2]) ? &inits.at(inputs[2]) : nullptr;
                // INT8 weights, or INT32 biases (static int8), with FLOAT scales.
                const int width = q.dataType == 3 ? 1 : q.dataType == 6 ? 4 : 0;
                if (width == 0 || scale.dataType != 1 || (zero && zero->dataType != q.dataType))
                    throw std::runtime_error("DequantizeLinear '" + outputs[0]
                        + "' is not INT8 or INT32 with FLOAT scales");
                const std::int64_t n = elements(q);
                const std::int64_t channels = elements(scale);
                if (q.raw.size() != width * n || scale.raw.size() != 4 * channels
                    || (zero && zero->raw.size() != width * channels))
                    throw std::runtime_error(
                        "tensor sizes of '" + outputs[0] + "' do not match their dims");
                if (axis < 0)
                    axis += std::int64_t(q.dims.size());
                std::int64_t inner = 1;
                for (std::size_t d = std::size_t(axis) + 1; d < q.dims.size(); ++d)
                    inner *= q.dims[d];
                if (channels != 1
                    && (axis >= std::int64_t(q.dims.size())
                        || q.dims[std::size_t(axis)] != channels))
                    throw std::runtime_error(
                        "scale of '" + outputs[0] + "' does not match its axis");
                std::vector<float> values(static_cast<std::size_t>(n));
                const auto element = [width](const QByteArray &raw, std::int64_t i) {
                    if (width == 1)
                        return std::int64_t(std::int8_t(raw[qsizetype(i)]));
                    std::int32_t v;
                    std::memcpy(&v, raw.constData() + 4 * i, 4);
                    return std::int64_t(v);
                };
                for (std::int64_t i = 0; i < n; ++i) {
                    const std::int64_t c = channels == 1 ? 0 : (i / inner) % channels;
                    float s;
                    std::memcpy(&s, scale.raw.constData() + 4 * c, 4);
                    const std::int64_t zp = zero ? element(zero->raw, c) : 0;
                    values[std::size_t(i)] = float(element(q.raw, i) - zp) * s;
                }
                writeBytes(twins, 5, tensorProto(outputs[0], floatTensor(q.dims, values)));
                for (const std::string &in : inputs)
                    consumed.insert(in);
            }
            for (const Node &n : nodes) {
                if (n.outputs.size() == 1 && folded.count(n.outputs[0]))
                    continue;
                for (const std::string &in : n.inputs) {
                    if (computed.erase(in))
                        writeBytes(twins, 5, tensorProto(in, inits.at(in)));
                }
            }
            bool twinsWritten = false;
            auto node = nodes.begin();
            for (const Field &gf : graph) {
                if (gf.number == 1) {
                    const Node &n = *node++;
                    const bool dropped = std::any_of(n.outputs.begin(), n.outputs.end(),
                        [&folded](const std::string &o) { return folded.count(o) > 0; });
                    if (dropped || n.op == "QuantizeLinear")
                        continue;
                    const std::string input = n.inputs.empty() ? std::string() : n.inputs.front();
                    const std::string output = n.outputs.empty() ? std::string() : n.outputs.back();
                    const auto clamp = clamps.find(input);
                    if (n.op == "DequantizeLinear" && clamp != clamps.end()) {
                        // DequantizeLinear(QuantizeLinear(x)) ≈ Clip(x, low, high): the opset-6
                        // form with attributes, the one OpenCV 4.6 imports; rounding is left out.
                        QByteArray clip;
                        writeBytes(clip, 1, QByteArray::fromStdString(clamp->second.input));
                        writeBytes(clip, 2, QByteArray::fromStdString(output));
                        writeBytes(clip, 4, QByteArrayLiteral("Clip"));
                        for (const auto &bound : { std::make_pair("min", clamp->second.low),
                                 std::make_pair("max", clamp->second.high) }) {
                            QByteArray a;
                            writeBytes(a, 1, QByteArray(bound.first));
                            writeVarint(a, (2 << 3) | 5);
                            a.append(reinterpret_cast<const char *>(&bound.second), 4);
                            writeVarint(a, (20 << 3) | 0);
                            writeVarint(a, 1); // FLOAT
                            writeBytes(clip, 5, a);
                        }
                        writeBytes(graphOut, 1, clip);
                        continue;
                    }
                } else if (gf.number == 5) {
                    std::string name;
                    readTensor(gf.bytes, &name);
                    if (consumed.count(name))
                        continue;
                    if (!twinsWritten) {
                        graphOut.append(twins);
                        twinsWritten = true;
                    }
                }
                graphOut.append(gf.raw);
            }
            if (!twinsWritten)
                graphOut.append(twins);
            writeBytes(modelOut, 7, graphOut);
        }
        return modelOut;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("cannot read the int8 ONNX file back: %1")
                         .arg(QString::fromUtf8(e.what()));
        return std::nullopt;
    }
}

} // namespace leantune
