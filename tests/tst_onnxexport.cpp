// The ONNX writer and the export graph: every zoo model round-trips through an ONNX file that
// OpenCV DNN runs with the model's outputs; BatchNorm folding, normalization and int8 weights are
// exact to the stated bounds.

#include "export/dnnrunner_p.h"
#include "export/onnxdequantizer_p.h"
#include "export/exportgraph_p.h"
#include "export/onnxwriter_p.h"
#include "model/modelzoo_p.h"

#include <QTest>

using namespace leantune;

namespace {

// A model with non-trivial BatchNorm statistics (so folding is really tested), in eval mode.
std::shared_ptr<ClassifierImpl> trainedLikeModel(const ModelSpec &spec)
{
    torch::manual_seed(7);
    QString error;
    std::shared_ptr<ClassifierImpl> model = createModel(spec, &error);
    if (!model)
        return nullptr;
    torch::NoGradGuard noGrad;
    for (const auto &m : model->modules(false)) {
        if (auto *bn = m->as<torch::nn::BatchNorm2dImpl>()) {
            bn->running_mean.uniform_(-0.2, 0.2);
            bn->running_var.uniform_(0.5, 2.0);
            bn->weight.uniform_(0.5, 1.5);
            bn->bias.uniform_(-0.3, 0.3);
        }
    }
    model->eval();
    return model;
}

torch::Tensor modelLogits(
    ClassifierImpl &model, const torch::Tensor &x01, double mean, double stdev)
{
    torch::NoGradGuard noGrad;
    return model.forward((x01 - mean) / stdev);
}

} // namespace

class TestOnnxExport : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roundTripEveryZooModel_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("size");
        QTest::addColumn<int>("channels");
        QTest::newRow("smallcnn 28 gray") << QStringLiteral("smallcnn") << 28 << 1;
        QTest::newRow("smallcnn 56 rgb (avg-pool head)") << QStringLiteral("smallcnn") << 56 << 3;
        QTest::newRow("resnet8 32 rgb") << QStringLiteral("resnet8") << 32 << 3;
        QTest::newRow("resnet18 32 gray") << QStringLiteral("resnet18") << 32 << 1;
        QTest::newRow("resnet18 96 rgb (imagenet stem)") << QStringLiteral("resnet18") << 96 << 3;
    }
    void roundTripEveryZooModel()
    {
        QFETCH(QString, name);
        QFETCH(int, size);
        QFETCH(int, channels);
        const ModelSpec spec { name, size, channels, 5 };
        auto model = trainedLikeModel(spec);
        QVERIFY(model);
        QString error;
        std::optional<ExportGraph> graph = ExportGraph::build(*model, spec, 0.4, 0.3, &error);
        QVERIFY2(graph, qPrintable(error));

        torch::manual_seed(11);
        const torch::Tensor x = torch::rand({ 8, channels, size, size });
        const torch::Tensor expected = modelLogits(*model, x, 0.4, 0.3);
        // The LibTorch interpreter of the graph (BatchNorm folded, normalization in the graph).
        const torch::Tensor fromGraph = graph->run(x);
        QCOMPARE(fromGraph.sizes().vec(), (std::vector<std::int64_t> { 8, 5 }));
        QVERIFY2(torch::allclose(fromGraph, expected, 1e-4, 1e-4),
            qPrintable(QString::number((fromGraph - expected).abs().max().item<double>())));

        // The ONNX bytes in OpenCV DNN, an independent runtime.
        const QByteArray onnx
            = OnnxWriter::serialize(*graph, { { QStringLiteral("k"), QStringLiteral("v") } });
        std::optional<DnnRunner> dnn = DnnRunner::load(onnx, &error);
        QVERIFY2(dnn, qPrintable(error));
        const torch::Tensor fromDnn = dnn->run(x);
        QCOMPARE(fromDnn.sizes().vec(), (std::vector<std::int64_t> { 8, 5 }));
        const double maxDiff = (fromDnn - expected).abs().max().item<double>();
        QVERIFY2(maxDiff < 1e-3, qPrintable(QString::number(maxDiff)));
        QCOMPARE(fromDnn.argmax(1).eq(expected.argmax(1)).sum().item<std::int64_t>(), 8);
        // Batch 1 works too (the batch dimension is symbolic).
        const torch::Tensor one = dnn->run(x.slice(0, 0, 1));
        QVERIFY(torch::allclose(one, expected.slice(0, 0, 1), 1e-3, 1e-3));
    }

    void smallCnnAtSizesWithoutExactPoolingFailsClearly()
    {
        const ModelSpec spec { QStringLiteral("smallcnn"), 32, 1, 3 };
        auto model = trainedLikeModel(spec);
        QVERIFY(model);
        QString error;
        QVERIFY(!ExportGraph::build(*model, spec, 0.5, 0.5, &error));
        QVERIFY2(error.contains(QLatin1String("8x8")) && error.contains(QLatin1String("7x7")),
            qPrintable(error));
    }

    void int8WeightsStayWithinHalfAStepPerChannel()
    {
        const ModelSpec spec { QStringLiteral("smallcnn"), 28, 1, 10 };
        auto model = trainedLikeModel(spec);
        QVERIFY(model);
        QString error;
        std::optional<ExportGraph> graph = ExportGraph::build(*model, spec, 0.5, 0.5, &error);
        QVERIFY(graph);
        const ExportGraph fp32 = *graph;
        graph->quantizeWeights();
        QVERIFY(graph->isQuantized());
        const ExportGraph twin = graph->dequantized();
        for (const std::string &name : fp32.weightNames()) {
            const torch::Tensor w = fp32.initializers.at(name);
            const torch::Tensor q = graph->initializers.at(name + "_quantized");
            const torch::Tensor scale = graph->initializers.at(name + "_scale");
            QCOMPARE(q.scalar_type(), torch::kInt8);
            QVERIFY(q.abs().max().item<int>() <= 127);
            QCOMPARE(scale.numel(), w.size(0));
            // Symmetric per channel: scale = max|w_c| / 127, so the largest weight is exact ±127.
            const torch::Tensor maxAbs = w.reshape({ w.size(0), -1 }).abs().amax(1);
            QVERIFY(torch::allclose(scale, maxAbs / 127.0, 1e-6, 1e-9));
            const torch::Tensor err
                = (twin.initializers.at(name) - w).abs().reshape({ w.size(0), -1 }).amax(1);
            QVERIFY2((err <= scale * 0.5 + 1e-7).all().item<bool>(), name.c_str());
        }
        // The quantized file is 4x smaller in its weights and its logits stay close.
        const QByteArray fp32Bytes = OnnxWriter::serialize(fp32, {});
        const QByteArray int8Bytes = OnnxWriter::serialize(*graph, {});
        QVERIFY(int8Bytes.size() * 3 < fp32Bytes.size());
        torch::manual_seed(3);
        const torch::Tensor x = torch::rand({ 16, 1, 28, 28 });
        const torch::Tensor a = fp32.run(x), b = graph->run(x);
        QVERIFY2((a - b).abs().max().item<double>() < 0.05 * a.abs().max().item<double>(),
            qPrintable(QString::number((a - b).abs().max().item<double>())));
        // OpenCV DNN runs the dequantized twin with the int8 graph's outputs.
        std::optional<DnnRunner> dnn = DnnRunner::load(OnnxWriter::serialize(twin, {}), &error);
        QVERIFY2(dnn, qPrintable(error));
        QVERIFY(torch::allclose(dnn->run(x), b, 1e-3, 1e-3));
        // The twin parsed back from the int8 file's bytes alone computes the same.
        const std::optional<QByteArray> parsed = OnnxDequantizer::floatTwin(int8Bytes, &error);
        QVERIFY2(parsed, qPrintable(error));
        QVERIFY(!parsed->contains("DequantizeLinear"));
        std::optional<DnnRunner> fromFile = DnnRunner::load(*parsed, &error);
        QVERIFY2(fromFile, qPrintable(error));
        QVERIFY(torch::allclose(fromFile->run(x), b, 1e-3, 1e-3));
        // Truncated bytes are an error, not a crash.
        QVERIFY(!OnnxDequantizer::floatTwin(int8Bytes.left(int8Bytes.size() / 2), &error));
        QVERIFY(error.contains(QLatin1String("truncated")));
    }

    void bytesAreWellFormedProtobuf()
    {
        // The header of a ModelProto: field 1 (ir_version) varint 7, then producer_name "LeanTune".
        ExportGraph g;
        g.classes = 2;
        const QByteArray bytes = OnnxWriter::serialize(g, {});
        QVERIFY(bytes.startsWith(QByteArray("\x08\x07\x12\x08LeanTune", 12)));
        // opset_import {domain "", version 13}: field 8, length 4: 0a 00 10 0d.
        QVERIFY(bytes.contains(QByteArray("\x42\x04\x0a\x00\x10\x0d", 6)));
    }
};

QTEST_GUILESS_MAIN(TestOnnxExport)
#include "tst_onnxexport.moc"
