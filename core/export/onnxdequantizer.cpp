#include "export/onnxdequantizer_p.h"

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
            std::set<std::string> folded; // outputs of the DequantizeLinear nodes folded
            struct Clamp {
                std::string input;
                float low = 0.0f, high = 0.0f;
            };
            std::map<std::string, Clamp> clamps; // QuantizeLinear output → its input and range
            QByteArray twins, graphOut;
            for (const Field &gf : graph) {
                if (gf.number != 1)
                    continue;
                std::vector<std::string> inputs, outputs;
                std::string op;
                std::int64_t axis = 1; // ONNX default
                for (const Field &nf : parse(gf.bytes)) {
                    if (nf.number == 1)
                        inputs.push_back(text(nf));
                    else if (nf.number == 2)
                        outputs.push_back(text(nf));
                    else if (nf.number == 4)
                        op = text(nf);
                    else if (nf.number == 5) {
                        std::string attrName;
                        std::int64_t value = 0;
                        for (const Field &af : parse(nf.bytes)) {
                            if (af.number == 1)
                                attrName = text(af);
                            else if (af.number == 3)
                                value = std::int64_t(af.varint);
                        }
                        if (attrName == "axis")
                            axis = value;
                    }
                }
                if (op == "QuantizeLinear") {
                    // Of an activation (static int8): in the twin, the clamp to its range.
                    if (inputs.size() < 2 || outputs.size() != 1 || !inits.count(inputs[1]))
                        throw std::runtime_error("QuantizeLinear without a constant scale");
                    const Tensor &scale = inits.at(inputs[1]);
                    const Tensor *zero = inputs.size() > 2 && inits.count(inputs[2])
                        ? &inits.at(inputs[2])
                        : nullptr;
                    if (scale.dataType != 1 || scale.raw.size() != 4
                        || (zero && (zero->raw.size() != 1 || zero->dataType != 2)))
                        throw std::runtime_error(
                            "QuantizeLinear '" + outputs[0] + "' is not per tensor to UINT8");
                    float sc;
                    std::memcpy(&sc, scale.raw.constData(), 4);
                    const int zp = zero ? int(std::uint8_t(zero->raw[0])) : 0;
                    clamps[outputs[0]] = { inputs[0], float(0 - zp) * sc, float(255 - zp) * sc };
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
                QByteArray t;
                for (std::int64_t d : q.dims) {
                    writeVarint(t, (1 << 3) | 0);
                    writeVarint(t, std::uint64_t(d));
                }
                writeVarint(t, (2 << 3) | 0);
                writeVarint(t, 1); // FLOAT
                writeBytes(t, 8, QByteArray::fromStdString(outputs[0]));
                writeBytes(t, 9,
                    QByteArray(reinterpret_cast<const char *>(values.data()), qsizetype(4 * n)));
                writeBytes(twins, 5, t);
                for (const std::string &in : inputs)
                    consumed.insert(in);
            }
            bool twinsWritten = false;
            for (const Field &gf : graph) {
                if (gf.number == 1) {
                    bool dq = false, quantize = false, dequantize = false;
                    std::string input, output;
                    for (const Field &nf : parse(gf.bytes)) {
                        dq = dq || (nf.number == 2 && folded.count(text(nf)));
                        quantize = quantize || (nf.number == 4 && text(nf) == "QuantizeLinear");
                        dequantize
                            = dequantize || (nf.number == 4 && text(nf) == "DequantizeLinear");
                        if (nf.number == 1 && input.empty())
                            input = text(nf);
                        if (nf.number == 2)
                            output = text(nf);
                    }
                    if (dq || quantize)
                        continue;
                    const auto clamp = clamps.find(input);
                    if (dequantize && clamp != clamps.end()) {
                        // DequantizeLinear(QuantizeLinear(x)) ≈ Clip(x, low, high): the opset-6
                        // form with attributes, the one OpenCV 4.6 imports; rounding is left out.
                        QByteArray node;
                        writeBytes(node, 1, QByteArray::fromStdString(clamp->second.input));
                        writeBytes(node, 2, QByteArray::fromStdString(output));
                        writeBytes(node, 4, QByteArrayLiteral("Clip"));
                        for (const auto &bound : { std::make_pair("min", clamp->second.low),
                                 std::make_pair("max", clamp->second.high) }) {
                            QByteArray a;
                            writeBytes(a, 1, QByteArray(bound.first));
                            writeVarint(a, (2 << 3) | 5);
                            a.append(reinterpret_cast<const char *>(&bound.second), 4);
                            writeVarint(a, (20 << 3) | 0);
                            writeVarint(a, 1); // FLOAT
                            writeBytes(node, 5, a);
                        }
                        writeBytes(graphOut, 1, node);
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
