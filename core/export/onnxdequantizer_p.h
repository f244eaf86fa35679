#pragma once
// Private header: reads back an ONNX file with int8 weights (weights-only QDQ) and writes its float
// twin.

#include <QByteArray>
#include <QString>

#include <optional>

namespace leantune {

// OpenCV 4.6's ONNX importer takes DequantizeLinear only inside its own int8 pipelines, not as the
// float weights of a Conv or Gemm. To still check the int8 file as written, this parses its bytes
// (protobuf wire format: ModelProto → GraphProto → NodeProto / TensorProto), replaces every
// DequantizeLinear whose inputs are INT8 / FLOAT / INT8 (or INT32 / FLOAT / INT32: static int8's
// biases) initializers by a FLOAT initializer holding (q − zero_point) · scale (per channel along
// `axis`, or per tensor; a scale may itself be a Cast of a FLOAT16 constant or a Mul of two
// constants, folded first), and re-encodes the model, all other fields byte for byte. An
// activation's QuantizeLinear → DequantizeLinear (static int8, uint8 per tensor) becomes Clip to
// the range the uint8 values cover (the same graph without the rounding). Independent of the graph
// the file was written from: it sees only the file. std::nullopt + *error on bytes it cannot parse.
class OnnxDequantizer {
public:
    static std::optional<QByteArray> floatTwin(const QByteArray &onnx, QString *error);
};

} // namespace leantune
