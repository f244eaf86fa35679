// Channel-granularity pruning and the export's channel removal: whole output channels go (with
// their BatchNorm), the classifier and residual-joined convs stay, and the shrunk graph computes
// exactly what the masked model computes, with fewer parameters.

#include "export/dnnrunner_p.h"
#include "export/exportgraph_p.h"
#include "export/onnxwriter_p.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "config/runconfig.h"

#include <QJsonObject>
#include <QTest>

using namespace leantune;

namespace {

std::shared_ptr<ClassifierImpl> model(const ModelSpec &spec)
{
    torch::manual_seed(5);
    QString error;
    auto m = createModel(spec, &error);
    torch::NoGradGuard noGrad;
    for (const auto &sub : m->modules(false)) {
        if (auto *bn = sub->as<torch::nn::BatchNorm2dImpl>()) {
            bn->running_mean.uniform_(-0.2, 0.2);
            bn->running_var.uniform_(0.5, 2.0);
            bn->bias.uniform_(-0.3, 0.3);
        }
    }
    return m;
}

std::map<std::string, torch::Tensor> params(torch::nn::Module &m)
{
    std::map<std::string, torch::Tensor> out;
    for (const auto &p : m.named_parameters())
        out[p.key()] = p.value();
    return out;
}

std::int64_t zeroRows(const torch::Tensor &w)
{
    return w.reshape({ w.size(0), -1 }).abs().amax(1).eq(0).sum().item<std::int64_t>();
}

} // namespace

class TestStructuredPrune : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void channelMasksPruneWholeChannelsByL1()
    {
        const ModelSpec spec { QStringLiteral("smallcnn"), 28, 1, 10 };
        auto m = model(spec);
        auto p = params(*m);
        // Make conv1's channel 3 the smallest by L1 norm.
        {
            torch::NoGradGuard noGrad;
            p.at("conv1.weight")[3].mul_(1e-3);
        }
        MagnitudePruner pruner(*m,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        QCOMPARE(zeroRows(p.at("conv1.weight")), 16);
        QCOMPARE(zeroRows(p.at("conv2.weight")), 32);
        QCOMPARE(zeroRows(p.at("conv3.weight")), 8);
        QCOMPARE(zeroRows(p.at("fc1.weight")), 48);
        QCOMPARE(zeroRows(p.at("fc2.weight")), 0); // classes are never pruned
        QCOMPARE(p.at("conv1.weight")[3].abs().sum().item<double>(), 0.0);
        // The BatchNorm of a pruned channel outputs exactly 0: γ = β = 0.
        const torch::Tensor dead = p.at("conv1.weight").reshape({ 32, -1 }).abs().amax(1).eq(0);
        QCOMPARE(p.at("bn1.weight").masked_select(dead).abs().sum().item<double>(), 0.0);
        QCOMPARE(p.at("bn1.bias").masked_select(dead).abs().sum().item<double>(), 0.0);
        QCOMPARE(p.at("fc1.bias")
                     .masked_select(p.at("fc1.weight").abs().amax(1).eq(0))
                     .abs()
                     .sum()
                     .item<double>(),
            0.0);
        // Masks keep the weights' shapes (checkpoints unchanged); weight granularity is unaffected.
        QCOMPARE(pruner.masks().front().sizes(), p.at("conv1.weight").sizes());
    }

    void residualConvsAreNotChannelPruned()
    {
        const ModelSpec spec { QStringLiteral("resnet8"), 32, 3, 10 };
        auto m = model(spec);
        auto p = params(*m);
        MagnitudePruner pruner(*m,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        QCOMPARE(zeroRows(p.at("layer2.0.conv1.weight")), 16);
        QCOMPARE(zeroRows(p.at("conv1.weight")), 0);
        QCOMPARE(zeroRows(p.at("layer2.0.conv2.weight")), 0);
        QCOMPARE(zeroRows(p.at("layer2.0.downsample.0.weight")), 0);
        QCOMPARE(zeroRows(p.at("fc.weight")), 0);
    }

    void shrinkKeepsOutputsEqualToTheMaskedModel_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("size");
        QTest::newRow("smallcnn") << QStringLiteral("smallcnn") << 28;
        QTest::newRow("resnet8") << QStringLiteral("resnet8") << 32;
    }
    void shrinkKeepsOutputsEqualToTheMaskedModel()
    {
        QFETCH(QString, name);
        QFETCH(int, size);
        const ModelSpec spec { name, size, 1, 10 };
        auto m = model(spec);
        MagnitudePruner pruner(*m,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        m->eval();
        QString error;
        std::optional<ExportGraph> masked = ExportGraph::build(*m, spec, 0.5, 0.5, &error);
        QVERIFY2(masked, qPrintable(error));
        ExportGraph shrunk = *masked;
        const std::int64_t removed = shrunk.shrinkChannels();
        QVERIFY(removed > 0);
        QVERIFY(shrunk.parameterCount() < masked->parameterCount());
        if (name == QLatin1String("smallcnn")) // every hidden layer at half width
            QVERIFY2(shrunk.parameterCount() <= masked->parameterCount() * 55 / 100,
                qPrintable(QStringLiteral("%1 of %2")
                               .arg(shrunk.parameterCount())
                               .arg(masked->parameterCount())));

        torch::manual_seed(9);
        const torch::Tensor x = torch::rand({ 6, 1, size, size });
        torch::Tensor expected;
        {
            torch::NoGradGuard noGrad;
            expected = m->forward((x - 0.5) / 0.5);
        }
        QVERIFY(torch::allclose(shrunk.run(x), expected, 1e-4, 1e-4));
        std::optional<DnnRunner> dnn = DnnRunner::load(OnnxWriter::serialize(shrunk, {}), &error);
        QVERIFY2(dnn, qPrintable(error));
        QVERIFY(torch::allclose(dnn->run(x), expected, 1e-3, 1e-3));
    }

    void runConfigCarriesTheGranularity()
    {
        RunConfig c;
        c.dataDir = QStringLiteral("data");
        c.outDir = QStringLiteral("out");
        QCOMPARE(c.pruneGranularity, PruneGranularity::Weight);
        c.pruneGranularity = PruneGranularity::Channel;
        QVERIFY(c.validate());
        const std::optional<RunConfig> back = RunConfig::fromJson(c.toJson(), nullptr);
        QVERIFY(back);
        QCOMPARE(back->pruneGranularity, PruneGranularity::Channel);
        QJsonObject json = c.toJson();
        json[QStringLiteral("prune_granularity")] = QStringLiteral("filter");
        QString error;
        QVERIFY(!RunConfig::fromJson(json, &error));
        QVERIFY2(error.contains(QLatin1String("prune_granularity: unknown value 'filter'")),
            qPrintable(error));
    }

    void denseModelLosesNoChannel()
    {
        const ModelSpec spec { QStringLiteral("smallcnn"), 28, 1, 10 };
        auto m = model(spec);
        m->eval();
        std::optional<ExportGraph> g = ExportGraph::build(*m, spec, 0.5, 0.5, nullptr);
        QVERIFY(g);
        const std::int64_t before = g->parameterCount();
        QCOMPARE(g->shrinkChannels(), 0);
        QCOMPARE(g->parameterCount(), before);
    }
};

QTEST_GUILESS_MAIN(TestStructuredPrune)
#include "tst_structuredprune.moc"
