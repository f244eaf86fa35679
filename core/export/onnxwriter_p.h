#pragma once
// Private header (includes torch): serializes an ExportGraph as an ONNX ModelProto.

#include "export/exportgraph_p.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>

namespace leantune {

// Writes ONNX (IR version 7, opset 13) with a small hand-written protobuf wire-format encoder: the
// subset of onnx.proto the exporter needs (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto with raw_data, ValueInfoProto, StringStringEntryProto). No protobuf or ONNX library
// is needed at build or run time. The input is "input" [N, C, H, W] float32 with a symbolic batch
// dimension; the output "logits" [N, classes]. METADATA goes to metadata_props in order.
class OnnxWriter {
public:
    static QByteArray serialize(
        const ExportGraph &graph, const QList<QPair<QString, QString>> &metadata);
};

} // namespace leantune
