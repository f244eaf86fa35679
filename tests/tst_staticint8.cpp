// Static int8 export (--quantize int8-static): the QDQ file's logits follow the fp32 file's on the
// calibration images, its weights are int8 (at least 3.8x smaller than fp32), and a calibration
// folder with another class set or image size is refused with nothing written.

#include "testdata.h"

#include "export/dnnrunner_p.h"
#include "export/exporter.h"
#include "export/exportgraph_p.h"
#include "export/exportqoperator_p.h"
#include "export/onnxdequantizer_p.h"
#include "export/onnxwriter_p.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "train/checkpoint_p.h"
#include "train/rundir.h"
#include "train/rundir_p.h"

#include <opencv2/imgcodecs.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

// A run folder holding an untrained zoo model (seeded; BatchNorm statistics set away from the
// identity so that folding them matters) over DATA's 3 classes.
bool writeRun(const QString &dir, const QString &data, const ModelSpec &spec, bool channelPruned,
    QString *error)
{
    RunInfo info;
    info.runDir = dir;
    info.config.dataDir = data;
    info.config.testDir = data;
    info.config.outDir = dir;
    info.config.model = spec;
    info.classNames
        = { QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") };
    QDir().mkpath(dir);
    if (!writeRunInfo(info, error))
        return false;
    torch::manual_seed(7);
    auto model = createModel(info.config.model, error);
    if (!model)
        return false;
    torch::NoGradGuard noGrad;
    for (auto &item : model->named_buffers()) {
        if (item.key().find("running_mean") != std::string::npos)
            item.value().uniform_(-0.2, 0.2);
        else if (item.key().find("running_var") != std::string::npos)
            item.value().uniform_(0.5, 1.5);
    }
    if (channelPruned) { // half the output channels of each prunable layer set to zero
        MagnitudePruner pruner(*model,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
    }
    return writeCheckedFile(info.modelFile(), serializeModule(*model), error);
}

// The images of DATA as [N, 1, S, S] in [0, 1], in a fixed order.
torch::Tensor imagesOf(const QString &data, int size)
{
    std::vector<torch::Tensor> images;
    for (const QString &cls : QDir(data).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        const QDir d(QDir(data).filePath(cls));
        for (const QString &f : d.entryList(QDir::Files, QDir::Name)) {
            const cv::Mat m = cv::imread(d.filePath(f).toStdString(), cv::IMREAD_GRAYSCALE);
            if (m.rows != size || m.cols != size)
                continue;
            images.push_back(
                torch::from_blob(m.data, { 1, 1, size, size }, torch::kUInt8).to(torch::kFloat32)
                / 255.0);
        }
    }
    return torch::cat(images);
}

// The largest logit error allowed, as a share of the fp32 logits' spread on the images: 5 %; 10 %
// for MobileNetV2, whose untrained logits barely differ between images (a spread of about 0.017),
// so that the same rounding is a larger share of it.
double boundFor(const QString &model)
{
    return model == QLatin1String("mobilenet_v2") ? 0.10 : 0.05;
}

} // namespace

class TestStaticInt8 : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data, m_outDir;

    QString runFor(const ModelSpec &spec, bool channelPruned = false)
    {
        const QString dir = m_dir.filePath(QStringLiteral("run-") + spec.name
            + (channelPruned ? QStringLiteral("-channels") : QString()));
        QString error;
        if (!QFileInfo::exists(dir) && !writeRun(dir, m_data, spec, channelPruned, &error))
            qWarning("%s", qPrintable(error));
        return dir;
    }

    // The float export graph of MODEL's 3-class 28 px test run, its empty channels removed when
    // STRUCTURED (the run is then channel-pruned).
    std::optional<ExportGraph> graphFor(const QString &model, bool structured, QString *error)
    {
        const std::optional<RunInfo> info
            = readRunInfo(runFor(ModelSpec { model, 28, 1, 3 }, structured), error);
        if (!info)
            return std::nullopt;
        auto m = loadRunModel(*info, error);
        if (!m)
            return std::nullopt;
        m->eval();
        ModelSpec spec = info->config.model;
        spec.classes = 3;
        std::optional<ExportGraph> g
            = ExportGraph::build(*m, spec, info->config.normMean, info->config.normStd, error);
        if (g && structured && g->shrinkChannels() == 0) {
            *error = QStringLiteral("the channel-pruned run has no channel to remove");
            return std::nullopt;
        }
        return g;
    }

    // graphFor()'s graph, the calibration images and their min-max ranges.
    struct Calibrated {
        ExportGraph graph;
        torch::Tensor images;
        std::map<std::string, ValueRange> ranges;
    };
    std::optional<Calibrated> calibrated(const QString &model, bool structured, QString *error)
    {
        std::optional<ExportGraph> g = graphFor(model, structured, error);
        if (!g)
            return std::nullopt;
        Calibrated c { std::move(*g), imagesOf(m_data, 28), {} };
        c.graph.observeRanges(c.images, RangeMethod::MinMax, &c.ranges);
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        testdata::writeImageFolder(m_data, 3, 20, 28, 4);
        m_outDir = m_dir.filePath(QStringLiteral("out"));
        QDir().mkpath(m_outDir);
        torch::set_num_threads(1);
    }

    // Static int8 weights use 7 bits (±63): on x86 without VNNI, ONNX Runtime's u8s8 kernels add
    // two u8 × s8 products in a saturating int16, which full-range weights overflow.
    void weightsUseSevenBitsPerChannel()
    {
        torch::manual_seed(3);
        const torch::Tensor w = torch::randn({ 4, 3, 3, 3 })
            * torch::tensor({ 1.0f, 0.1f, 5.0f, 0.0f }).reshape({ 4, 1, 1, 1 });
        torch::Tensor scale;
        const torch::Tensor q = int8PerChannel(w, &scale);
        QCOMPARE(q.scalar_type(), torch::kInt8);
        const torch::Tensor peak = q.reshape({ 4, -1 }).to(torch::kInt32).abs().amax(1);
        for (int c = 0; c < 3; ++c)
            QCOMPARE(peak[c].item<int>(), 63); // each channel's largest weight maps to 63
        QCOMPARE(peak[3].item<int>(), 0); // an all-zero channel stays 0 (scale 1)
        QCOMPARE(scale[3].item<float>(), 1.0f);
        const torch::Tensor back = q.to(torch::kFloat32) * scale.reshape({ 4, 1, 1, 1 });
        const torch::Tensor err = (back - w).abs().reshape({ 4, -1 }).amax(1);
        QVERIFY((err <= scale * 0.5f + 1e-7f).all().item<bool>());
    }

    // The QDQ graph in the reference interpreter (LibTorch ops, QuantizeLinear rounding and
    // saturating) against the float graph it was made from, on the calibration images.
    void qdqGraphFollowsFloatGraph_data() { logitsFollowFp32OnCalibrationImages_data(); }

    void qdqGraphFollowsFloatGraph()
    {
        QFETCH(QString, model);
        QFETCH(bool, structured);
        QString error;
        std::optional<Calibrated> c = calibrated(model, structured, &error);
        QVERIFY2(c, qPrintable(error));
        ExportGraph *g = &c->graph;
        const torch::Tensor &x = c->images;
        const std::map<std::string, ValueRange> &ranges = c->ranges;
        ExportGraph q = *g;
        q.quantizeStatic(ranges);
        const torch::Tensor ya = g->run(x), yb = q.run(x);
        const double spread = (ya.max() - ya.min()).item<double>();
        const double maxDiff = (ya - yb).abs().max().item<double>();
        const double agree
            = ya.argmax(1).eq(yb.argmax(1)).to(torch::kFloat64).mean().item<double>();
        qInfo("%s%s (interpreter): logit spread %.4f, max |qdq - fp32| %.4f (%.2f %%), top-1 %.3f",
            qPrintable(model), structured ? " structured" : "", spread, maxDiff,
            100.0 * maxDiff / spread, agree);
        const QString keep = qEnvironmentVariable("LEANTUNE_STATICINT8_DIR");
        if (!keep.isEmpty()) {
            for (const auto &item : { std::make_pair(QStringLiteral("fp32"), &*g),
                     std::make_pair(QStringLiteral("qdq"), &q) }) {
                QFile f(QDir(keep).filePath(model
                    + (structured ? QStringLiteral("-s-") : QStringLiteral("-")) + item.first
                    + QStringLiteral(".onnx")));
                QVERIFY(f.open(QIODevice::WriteOnly));
                f.write(OnnxWriter::serialize(
                    *item.second, { { QStringLiteral("input_size"), QStringLiteral("28") } }));
            }
        }
        QVERIFY2(
            maxDiff <= boundFor(model) * spread, qPrintable(QString::number(maxDiff / spread)));
        QVERIFY(agree >= 0.9);
    }

    // The QOperator file (QLinearConv, QLinearAdd, ...) loads in OpenCV DNN itself, and its logits
    // there follow the fp32 graph's on the calibration images.
    void qoperatorFileRunsInOpenCv_data() { logitsFollowFp32OnCalibrationImages_data(); }

    void qoperatorFileRunsInOpenCv()
    {
        QFETCH(QString, model);
        QFETCH(bool, structured);
        QString error;
        std::optional<Calibrated> c = calibrated(model, structured, &error);
        QVERIFY2(c, qPrintable(error));
        ExportGraph *g = &c->graph;
        const torch::Tensor &x = c->images;
        const std::map<std::string, ValueRange> &ranges = c->ranges;
        const QByteArray bytes = OnnxWriter::serialize(qoperatorGraph(*g, ranges), {});
        QVERIFY(bytes.contains("QLinearConv"));
        QVERIFY(!bytes.contains("\x22\x04"
                                "Conv")); // no float Conv left (op_type "Conv")
        QVERIFY(!bytes.contains(".weight")); // short generated names
        const QString keep = qEnvironmentVariable("LEANTUNE_STATICINT8_DIR");
        if (!keep.isEmpty()) {
            QFile out(QDir(keep).filePath(model + (structured ? QStringLiteral("-s") : QString())
                + QStringLiteral("-qop.onnx")));
            QVERIFY(out.open(QIODevice::WriteOnly));
            out.write(bytes);
        }
        auto dnn = DnnRunner::load(bytes, &error);
        QVERIFY2(dnn, qPrintable(error));
        const torch::Tensor ya = g->run(x), yb = dnn->run(x);
        const double spread = (ya.max() - ya.min()).item<double>();
        const double maxDiff = (ya - yb).abs().max().item<double>();
        const double agree
            = ya.argmax(1).eq(yb.argmax(1)).to(torch::kFloat64).mean().item<double>();
        qInfo("%s%s (QOperator in OpenCV): logit spread %.4f, max |int8 - fp32| %.4f (%.2f %%), "
              "top-1 %.3f",
            qPrintable(model), structured ? " structured" : "", spread, maxDiff,
            100.0 * maxDiff / spread, agree);
        QVERIFY2(
            maxDiff <= boundFor(model) * spread, qPrintable(QString::number(maxDiff / spread)));
        QVERIFY(agree >= 0.9);
    }

    void logitsFollowFp32OnCalibrationImages_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<bool>("structured");
        QTest::newRow("smallcnn") << QStringLiteral("smallcnn") << false;
        QTest::newRow("resnet8") << QStringLiteral("resnet8") << false;
        QTest::newRow("resnet8 structured") << QStringLiteral("resnet8") << true;
        QTest::newRow("mobilenet_v2") << QStringLiteral("mobilenet_v2") << false;
    }

    void logitsFollowFp32OnCalibrationImages()
    {
        QFETCH(QString, model);
        QFETCH(bool, structured);
        const QString run = runFor(ModelSpec { model, 28, 1, 3 }, structured);
        QString error;
        ExportOptions fp32;
        fp32.structured = structured;
        fp32.outFile = QDir(m_outDir).filePath(model + QStringLiteral("-fp32.onnx"));
        const auto dense = exportRun(run, fp32, &error);
        QVERIFY2(dense, qPrintable(error));

        ExportOptions o = fp32;
        o.quantize = ExportQuantization::Int8Static;
        o.calibrationDir = m_data;
        o.outFile = QDir(m_outDir).filePath(model + QStringLiteral("-int8-static.onnx"));
        QStringList stages;
        const auto report = exportRun(run, o, &error, [&stages](double, const QString &stage) {
            stages << stage;
            return true;
        });
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->quantize, QStringLiteral("int8-static"));
        QCOMPARE(report->calibrationImages, 60);
        QCOMPARE(report->channelsRemoved > 0, structured);
        QCOMPARE(report->channelsRemoved, dense->channelsRemoved);
        QVERIFY(stages.contains(QStringLiteral("calibrating: 60 / 60 images")));

        // Both files in OpenCV DNN on the 60 calibration images.
        const torch::Tensor x = imagesOf(m_data, 28);
        QCOMPARE(x.size(0), 60);
        auto a = DnnRunner::loadFile(fp32.outFile, &error);
        QVERIFY2(a, qPrintable(error));
        // OpenCV 4.6 does not load the QDQ file itself: its twin (weights dequantized, each
        // activation's QDQ pair a Clip) runs there.
        QVERIFY(!DnnRunner::loadFile(o.outFile, &error));
        QFile file(o.outFile);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const std::optional<QByteArray> twin = OnnxDequantizer::floatTwin(file.readAll(), &error);
        QVERIFY2(twin, qPrintable(error));
        auto b = DnnRunner::load(*twin, &error);
        QVERIFY2(b, qPrintable(error));
        QVERIFY(report->agreement >= 0.9);
        const torch::Tensor ya = a->run(x), yb = b->run(x);
        const double spread = (ya.max() - ya.min()).item<double>();
        const double maxDiff = (ya - yb).abs().max().item<double>();
        const double agree
            = ya.argmax(1).eq(yb.argmax(1)).to(torch::kFloat64).mean().item<double>();
        qInfo("%s: logit spread %.4f, max |int8 - fp32| %.4f (%.2f %%), top-1 agreement %.3f",
            qPrintable(model), spread, maxDiff, 100.0 * maxDiff / spread, agree);
        QVERIFY2(
            maxDiff <= boundFor(model) * spread, qPrintable(QString::number(maxDiff / spread)));
        QVERIFY(agree >= 0.9);
        // The file is the QDQ graph written: int8 weights, uint8 activations.
        QFile f(o.outFile);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(bytes.contains("QuantizeLinear"));
        // Fused into the QuantizeLinear ranges (smallcnn keeps the ReLU after its float fc1).
        QCOMPARE(bytes.contains("Relu"), model == QLatin1String("smallcnn"));
    }

    void isAtLeast3_8TimesSmallerThanFp32_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("format");
        QTest::newRow("resnet18 qdq") << QStringLiteral("resnet18") << int(Int8Format::Qdq);
        QTest::newRow("resnet18 qoperator")
            << QStringLiteral("resnet18") << int(Int8Format::QOperator);
        // Few weights a channel (9 in a depthwise convolution): the QDQ file stores the weight
        // scales as float16 and computes the bias scales, 6 bytes a channel less.
        QTest::newRow("mobilenet_v2 qdq") << QStringLiteral("mobilenet_v2") << int(Int8Format::Qdq);
        QTest::newRow("smallcnn qdq") << QStringLiteral("smallcnn") << int(Int8Format::Qdq);
    }

    void isAtLeast3_8TimesSmallerThanFp32()
    {
        // Per-channel scales and int32 biases add bytes an output channel, which only models with
        // few weights a channel notice (the QOperator file of mobilenet_v2 is 3.71x, bench/README).
        QFETCH(QString, model);
        QFETCH(int, format);
        const QString run = runFor(ModelSpec { model, 28, 1, 3 });
        ExportOptions o;
        o.quantize = ExportQuantization::Int8Static;
        o.int8Format = Int8Format(format);
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("size.onnx"));
        QString error;
        if (o.int8Format == Int8Format::QOperator) {
            // Sizes only (OpenCV's int8 kernels round differently from the LibTorch reference,
            // and on this untrained ResNet-18's near ties, 1 of the 60 images flips its top-1).
            const auto size = previewExportSize(run, o, &error);
            QVERIFY2(size, qPrintable(error));
            const double ratio = double(size->denseFp32Bytes) / double(size->fileBytes);
            qInfo("%s: fp32 %lld bytes, QOperator file %lld bytes (%.3fx)", qPrintable(model),
                size->denseFp32Bytes, size->fileBytes, ratio);
            QVERIFY2(ratio >= 3.8, qPrintable(QString::number(ratio)));
            return;
        }
        const auto report = exportRun(run, o, &error);
        QVERIFY2(report, qPrintable(error));
        // Defaults: the run's training folder (60 images here, fewer than 512).
        QCOMPARE(report->calibrationDir, m_data);
        QCOMPARE(report->calibrationImages, 60);
        const double ratio = double(report->size.denseFp32Bytes) / double(report->size.fileBytes);
        qInfo("%s: fp32 %lld bytes, static int8 file %lld bytes (%.3fx)", qPrintable(model),
            report->size.denseFp32Bytes, report->size.fileBytes, ratio);
        QVERIFY2(ratio >= 3.8, qPrintable(QString::number(ratio)));
        // Short generated names: no layer name on the file's tensors and quantization nodes.
        QFile f(o.outFile);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(!bytes.contains("layer1.0.conv1"));
        QVERIFY(!bytes.contains(".weight"));
        // The scales computed in the file (Cast of float16, Mul) reach OpenCV's twin as the
        // export's own verification saw them: it agreed with the graph on the calibration images.
        QVERIFY(bytes.contains("\x22\x04"
                               "Cast")); // op_type "Cast"
        QVERIFY(bytes.contains("\x22\x03"
                               "Mul"));
        QVERIFY2(report->agreement >= 0.9, qPrintable(QString::number(report->agreement)));
    }

    // --int8-format qoperator: the file itself loads in OpenCV DNN, which verifies and times it,
    // and its logits there follow the fp32 file's on the calibration images.
    void qoperatorExportIsVerifiedAndTimedInOpenCv()
    {
        const QString run = runFor(ModelSpec { QStringLiteral("resnet8"), 28, 1, 3 });
        ExportOptions fp32;
        fp32.outFile = QDir(m_outDir).filePath(QStringLiteral("qop-fp32.onnx"));
        QString error;
        QVERIFY2(exportRun(run, fp32, &error), qPrintable(error));
        ExportOptions o;
        o.quantize = ExportQuantization::Int8Static;
        o.int8Format = Int8Format::QOperator;
        o.latencyRuns = 3;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("qop.onnx"));
        const auto report = exportRun(run, o, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->runtime, QStringLiteral("OpenCV DNN %1").arg(QLatin1String(CV_VERSION)));
        QVERIFY(report->verificationNote.isEmpty());
        QCOMPARE(report->toJson().value(QLatin1String("int8_format")).toString(),
            QStringLiteral("qoperator"));
        int opencv = 0;
        for (const LatencyFigure &f : report->latency)
            opencv += f.runtime.startsWith(QLatin1String("OpenCV")) ? 1 : 0;
        QCOMPARE(opencv, 2);
        auto a = DnnRunner::loadFile(fp32.outFile, &error);
        QVERIFY2(a, qPrintable(error));
        auto b = DnnRunner::loadFile(o.outFile, &error);
        QVERIFY2(b, qPrintable(error));
        const torch::Tensor x = imagesOf(m_data, 28);
        const torch::Tensor ya = a->run(x), yb = b->run(x);
        const double spread = (ya.max() - ya.min()).item<double>();
        const double maxDiff = (ya - yb).abs().max().item<double>();
        QVERIFY2(maxDiff <= 0.05 * spread, qPrintable(QString::number(maxDiff / spread)));
        QVERIFY(ya.argmax(1).eq(yb.argmax(1)).to(torch::kFloat64).mean().item<double>() >= 0.9);
    }

    void calibrationFolderOfOtherClassesOrSizeIsRefused_data()
    {
        QTest::addColumn<int>("classes");
        QTest::addColumn<int>("size");
        QTest::addColumn<QString>("message");
        QTest::newRow("two classes") << 2 << 28 << QStringLiteral("has other classes");
        QTest::newRow("56 px") << 3 << 56
                               << QStringLiteral("are 56x56 px but the run trained on 28x28");
    }

    void calibrationFolderOfOtherClassesOrSizeIsRefused()
    {
        QFETCH(int, classes);
        QFETCH(int, size);
        QFETCH(QString, message);
        const QString run = runFor(ModelSpec { QStringLiteral("smallcnn"), 28, 1, 3 });
        const QString bad = m_dir.filePath(QStringLiteral("bad-%1-%2").arg(classes).arg(size));
        testdata::writeImageFolder(bad, classes, 4, size, 9);
        ExportOptions o;
        o.quantize = ExportQuantization::Int8Static;
        o.calibrationDir = bad;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("refused.onnx"));
        QString error;
        QVERIFY(!exportRun(run, o, &error));
        QVERIFY2(error.contains(message), qPrintable(error));
        QVERIFY2(error.contains(bad), qPrintable(error));
        QVERIFY(!QFileInfo::exists(o.outFile));
    }

    // fp32 is timed in OpenCV DNN at batch 1 and 32; OpenCV does not load static int8, which the
    // report says. (ONNX Runtime adds figures only where it is installed.)
    void latencyIsMeasuredWhereTheFileLoads()
    {
        const QString run = runFor(ModelSpec { QStringLiteral("smallcnn"), 28, 1, 3 });
        for (const ExportQuantization q :
            { ExportQuantization::None, ExportQuantization::Int8Static }) {
            ExportOptions o;
            o.quantize = q;
            o.latencyRuns = 3;
            o.outFile = QDir(m_outDir).filePath(QStringLiteral("latency.onnx"));
            QString error;
            const auto report = exportRun(run, o, &error);
            QVERIFY2(report, qPrintable(error));
            QList<LatencyFigure> opencv;
            for (const LatencyFigure &f : report->latency) {
                QVERIFY(f.medianMs > 0.0 && f.medianMs <= f.p90Ms);
                if (f.runtime.startsWith(QLatin1String("OpenCV")))
                    opencv << f;
            }
            if (q == ExportQuantization::None) {
                QCOMPARE(opencv.size(), 2);
                QCOMPARE(opencv[0].batch, 1);
                QCOMPARE(opencv[1].batch, 32);
            } else {
                QVERIFY(opencv.isEmpty());
                QVERIFY2(report->latencyNote.contains(QLatin1String("does not load int8-static")),
                    qPrintable(report->latencyNote));
            }
            QVERIFY(report->toText().contains(QLatin1String("latency")));
            QCOMPARE(report->toJson().value(QLatin1String("latency")).toArray().size(),
                report->latency.size());
        }
    }

    void calibrationFolderNeedsStaticInt8()
    {
        ExportOptions o;
        o.quantize = ExportQuantization::Int8;
        o.calibrationDir = m_data;
        o.outFile = QStringLiteral("x.onnx");
        QString error;
        QVERIFY(!o.validate(&error));
        QVERIFY2(error.contains(QLatin1String("int8-static")), qPrintable(error));
        o.quantize = ExportQuantization::Int8Static;
        QVERIFY(o.validate(&error));
        o.format = ExportFormat::LibTorch;
        QVERIFY(!o.validate(&error));
        // --int8-format is static int8's.
        ExportOptions q;
        q.int8Format = Int8Format::QOperator;
        q.outFile = QStringLiteral("x.onnx");
        QVERIFY(!q.validate(&error));
        QVERIFY2(error.contains(QLatin1String("int8-static")), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestStaticInt8)
#include "tst_staticint8.moc"
