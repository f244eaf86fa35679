// mobilenet_v2 in the model zoo: torchvision's module structure and parameter names, the pruner's
// view of it (depthwise kernels never pruned, projections kept whole under channel pruning), the
// structured export that cuts the inverted residuals' expansions, and ONNX in OpenCV DNN.

#include "export/dnnrunner_p.h"
#include "export/exportgraph_p.h"
#include "export/onnxwriter_p.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"

#include <QFileInfo>
#include <QProcess>
#include <QTest>

using namespace leantune;

namespace {

ModelSpec spec(int channels, int inputSize, int classes)
{
    ModelSpec s;
    s.name = QStringLiteral("mobilenet_v2");
    s.channels = channels;
    s.inputSize = inputSize;
    s.classes = classes;
    return s;
}

// A model with non-trivial BatchNorm statistics and shifts (fresh ones would fold to identities).
std::shared_ptr<ClassifierImpl> model(const ModelSpec &s)
{
    torch::manual_seed(5);
    QString error;
    auto m = createModel(s, &error);
    if (!m)
        qFatal("%s", qPrintable(error));
    torch::NoGradGuard noGrad;
    for (const auto &sub : m->modules(false)) {
        if (auto *bn = sub->as<torch::nn::BatchNorm2dImpl>()) {
            bn->running_mean.uniform_(-0.2, 0.2);
            bn->running_var.uniform_(0.5, 2.0);
            bn->weight.uniform_(0.5, 1.5);
            bn->bias.uniform_(-0.3, 0.3);
        }
    }
    return m;
}

std::int64_t parameterCount(const torch::nn::Module &m)
{
    std::int64_t n = 0;
    for (const auto &p : m.parameters())
        n += p.numel();
    return n;
}

QString systemPython()
{
    return QFileInfo::exists(QStringLiteral("/usr/bin/python3"))
        ? QStringLiteral("/usr/bin/python3")
        : QStringLiteral("python3");
}

} // namespace

class TestMobileNetV2 : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(2); }

    // Figures from torchvision 0.14's mobilenet_v2(num_classes=...): 158 parameter tensors, 156
    // buffers (state_dict 314 entries), 3,504,872 parameters for 1000 classes, 2,236,682 for 10.
    void namesAndCountEqualTorchvision()
    {
        const auto imageNet = createModel(spec(3, 224, 1000), nullptr);
        QVERIFY(imageNet);
        QCOMPARE(parameterCount(*imageNet), std::int64_t(3504872));
        const auto m = createModel(spec(3, 32, 10), nullptr);
        QVERIFY(m);
        QCOMPARE(parameterCount(*m), std::int64_t(2236682));
        const auto params = m->named_parameters();
        QCOMPARE(params.size(), std::size_t(158));
        QCOMPARE(m->named_buffers().size(), std::size_t(156));
        const std::vector<std::pair<const char *, std::vector<std::int64_t>>> expected = {
            { "features.0.0.weight", { 32, 3, 3, 3 } },
            { "features.0.1.weight", { 32 } },
            { "features.1.conv.0.0.weight", { 32, 1, 3, 3 } }, // depthwise, no expansion
            { "features.1.conv.1.weight", { 16, 32, 1, 1 } },
            { "features.1.conv.2.bias", { 16 } },
            { "features.2.conv.0.0.weight", { 96, 16, 1, 1 } }, // expansion
            { "features.2.conv.1.0.weight", { 96, 1, 3, 3 } }, // depthwise
            { "features.2.conv.2.weight", { 24, 96, 1, 1 } }, // projection
            { "features.2.conv.3.weight", { 24 } },
            { "features.17.conv.2.weight", { 320, 960, 1, 1 } },
            { "features.18.0.weight", { 1280, 320, 1, 1 } },
            { "features.18.1.bias", { 1280 } },
            { "classifier.1.weight", { 10, 1280 } },
            { "classifier.1.bias", { 10 } },
        };
        for (const auto &[name, shape] : expected) {
            QVERIFY2(params.contains(name), name);
            QCOMPARE(params[name].sizes().vec(), shape);
        }
        QVERIFY(m->named_buffers().contains("features.2.conv.1.1.running_var"));
        QVERIFY(!params.contains("features.0.0.bias"));
    }

    // The whole name → shape list equals torchvision's, where python3-torchvision is installed.
    void everyNameAndShapeEqualsTorchvision()
    {
        QProcess python;
        python.start(systemPython(),
            { QStringLiteral("-c"),
                QStringLiteral("import torchvision\n"
                               "m = torchvision.models.mobilenet_v2(num_classes=7)\n"
                               "for k, v in m.state_dict().items():\n"
                               "    print(k, *v.shape)\n") });
        if (!python.waitForFinished(60000) || python.exitStatus() != QProcess::NormalExit
            || python.exitCode() != 0)
            QSKIP("python3-torchvision is not installed (scripts/setup installs it): the "
                  "hard-coded figures above still check names and counts");
        const QStringList lines = QString::fromUtf8(python.readAllStandardOutput())
                                      .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        const auto m = createModel(spec(3, 32, 7), nullptr);
        QStringList ours;
        const auto add = [&ours](const std::string &name, const torch::Tensor &t) {
            QString line = QString::fromStdString(name);
            for (std::int64_t d : t.sizes())
                line += QLatin1Char(' ') + QString::number(d);
            ours << line;
        };
        for (const auto &p : m->named_parameters())
            add(p.key(), p.value());
        for (const auto &b : m->named_buffers())
            add(b.key(), b.value());
        QStringList theirs = lines;
        theirs.sort();
        ours.sort();
        QCOMPARE(ours.size(), 314);
        QCOMPARE(ours, theirs);
    }

    void forwardGivesLogitsPerClass()
    {
        for (const auto &[channels, size] : { std::pair { 1, 28 }, std::pair { 3, 32 } }) {
            const auto m = createModel(spec(channels, size, 5), nullptr);
            QVERIFY(m);
            m->train();
            const torch::Tensor out = m->forward(torch::randn({ 2, channels, size, size }));
            QCOMPARE(out.sizes().vec(), (std::vector<std::int64_t> { 2, 5 }));
            out.sum().backward();
            QVERIFY(m->named_parameters()["features.0.0.weight"].grad().defined());
        }
        QString reason;
        QVERIFY(!validateModelSpec(spec(3, 27, 10), &reason));
        QVERIFY2(reason.contains(QLatin1String("minimum 28")), qPrintable(reason));
        // Dropout 0.2 before the classifier, as torchvision.
        const auto m = createModel(spec(3, 32, 10), nullptr);
        const auto modules = m->named_modules();
        QVERIFY(modules.contains("classifier.0"));
        auto *dropout = modules["classifier.0"]->as<torch::nn::DropoutImpl>();
        QVERIFY(dropout);
        QCOMPARE(dropout->options.p(), 0.2);
    }

    void depthwiseKernelsAreNotPruned()
    {
        auto m = model(spec(3, 32, 10));
        MagnitudePruner pruner(
            *m, *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr));
        const std::vector<std::string> names = pruner.prunableNames();
        const auto has = [&names](const std::string &n) {
            return std::find(names.begin(), names.end(), n) != names.end();
        };
        QVERIFY(has("features.0.0.weight"));
        QVERIFY(has("features.2.conv.0.0.weight"));
        QVERIFY(has("features.2.conv.2.weight"));
        QVERIFY(has("classifier.1.weight"));
        QVERIFY(!has("features.1.conv.0.0.weight"));
        QVERIFY(!has("features.2.conv.1.0.weight"));
        // 1 stem + 16 expansions + 17 projections + the last conv + the classifier.
        QCOMPARE(names.size(), std::size_t(36));
        const torch::Tensor dw = m->named_parameters()["features.2.conv.1.0.weight"].clone();
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        QVERIFY(torch::equal(dw, m->named_parameters()["features.2.conv.1.0.weight"]));
        QVERIFY(pruner.measuredSparsity() > 0.45);
    }

    // Channel pruning cuts the expansions (with their depthwise convs) and the stem and last conv;
    // the shrunk ONNX graph has fewer parameters and computes what the masked model computes,
    // in LibTorch and in OpenCV DNN.
    void channelPrunedStructuredExportShrinksAndAgrees()
    {
        const ModelSpec s = spec(3, 32, 10);
        auto m = model(s);
        MagnitudePruner pruner(*m,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        const auto params = m->named_parameters();
        const auto zeroRows = [](const torch::Tensor &w) {
            return w.reshape({ w.size(0), -1 }).abs().amax(1).eq(0).sum().item<std::int64_t>();
        };
        QCOMPARE(zeroRows(params["features.2.conv.0.0.weight"]), std::int64_t(48));
        QCOMPARE(zeroRows(params["features.2.conv.1.0.weight"]), std::int64_t(48));
        QCOMPARE(params["features.2.conv.1.1.weight"].eq(0).sum().item<std::int64_t>(), 48);
        QCOMPARE(zeroRows(params["features.2.conv.2.weight"]), std::int64_t(0)); // projection
        QCOMPARE(zeroRows(params["features.3.conv.2.weight"]), std::int64_t(0)); // residual
        m->eval();

        QString error;
        const std::optional<ExportGraph> masked = ExportGraph::build(*m, s, 0.5, 0.25, &error);
        QVERIFY2(masked, qPrintable(error));
        ExportGraph shrunk = *masked;
        const std::int64_t removed = shrunk.shrinkChannels();
        // Stem 16, expansions 16 × half their width, depthwise of block 1, last conv 640.
        QVERIFY2(removed > 3000, qPrintable(QString::number(removed)));
        QVERIFY2(shrunk.parameterCount() < masked->parameterCount() * 70 / 100,
            qPrintable(QStringLiteral("%1 of %2")
                           .arg(shrunk.parameterCount())
                           .arg(masked->parameterCount())));
        QCOMPARE(shrunk.initializers.at("features.2.conv.1.0.weight").size(0), std::int64_t(48));
        QCOMPARE(shrunk.initializers.at("features.2.conv.2.weight").size(1), std::int64_t(48));

        torch::manual_seed(9);
        const torch::Tensor x = torch::rand({ 4, 3, 32, 32 });
        torch::Tensor expected;
        {
            torch::NoGradGuard noGrad;
            expected = m->forward((x - 0.5) / 0.25);
        }
        QVERIFY(torch::allclose(masked->run(x), expected, 1e-4, 1e-4));
        QVERIFY(torch::allclose(shrunk.run(x), expected, 1e-4, 1e-4));
        std::optional<DnnRunner> dnn = DnnRunner::load(OnnxWriter::serialize(shrunk, {}), &error);
        QVERIFY2(dnn, qPrintable(error));
        const torch::Tensor fromDnn = dnn->run(x);
        QVERIFY2(torch::allclose(fromDnn, expected, 1e-3, 1e-3),
            qPrintable(QString::number((fromDnn - expected).abs().max().item<double>())));
        QVERIFY(torch::equal(fromDnn.argmax(1), expected.argmax(1)));
    }

    void denseOnnxAgreesWithLibTorch()
    {
        const ModelSpec s = spec(1, 28, 4);
        auto m = model(s);
        m->eval();
        QString error;
        const std::optional<ExportGraph> g = ExportGraph::build(*m, s, 0.5, 0.5, &error);
        QVERIFY2(g, qPrintable(error));
        torch::manual_seed(3);
        const torch::Tensor x = torch::rand({ 3, 1, 28, 28 });
        torch::Tensor expected;
        {
            torch::NoGradGuard noGrad;
            expected = m->forward((x - 0.5) / 0.5);
        }
        std::optional<DnnRunner> dnn = DnnRunner::load(OnnxWriter::serialize(*g, {}), &error);
        QVERIFY2(dnn, qPrintable(error));
        const torch::Tensor fromDnn = dnn->run(x);
        QVERIFY2(torch::allclose(fromDnn, expected, 1e-3, 1e-3),
            qPrintable(QString::number((fromDnn - expected).abs().max().item<double>())));
    }
};

QTEST_GUILESS_MAIN(TestMobileNetV2)
#include "tst_mobilenetv2.moc"
