#include "prune/magnitudepruner_p.h"

#include <QtTest>

#include <algorithm>
#include <vector>

using leantune::MagnitudePruner;
using leantune::PruningSchedule;

namespace {

void setWeights(const torch::Tensor &weight, const std::vector<float> &values)
{
    torch::NoGradGuard noGrad;
    weight.copy_(torch::tensor(values).view_as(weight));
}

std::int64_t zeros(const torch::Tensor &t)
{
    return t.numel() - t.count_nonzero().item<std::int64_t>();
}

// A little network with every kind of layer the pruner has to tell apart.
struct MixedNet : torch::nn::Module {
    MixedNet()
    {
        conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)));
        bn = register_module("bn", torch::nn::BatchNorm2d(8));
        depthwise = register_module(
            "depthwise", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).groups(8)));
        grouped = register_module(
            "grouped", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 1).groups(2)));
        fc = register_module("fc", torch::nn::Linear(8, 4));
    }
    torch::nn::Conv2d conv { nullptr };
    torch::nn::BatchNorm2d bn { nullptr };
    torch::nn::Conv2d depthwise { nullptr };
    torch::nn::Conv2d grouped { nullptr };
    torch::nn::Linear fc { nullptr };
};

// Two prunable linear layers and a classifier, with weights small enough to work out by hand.
struct TwoLayers : torch::nn::Module {
    TwoLayers()
    {
        fc1 = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(4, 2).bias(false)));
        fc2 = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(2, 2).bias(false)));
        out = register_module("out", torch::nn::Linear(2, 2));
    }
    torch::nn::Linear fc1 { nullptr }, fc2 { nullptr }, out { nullptr };
};

} // namespace

class TestMagnitudePruner : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void prunesExactlyTheSmallestMagnitudes_data();
    void prunesExactlyTheSmallestMagnitudes();
    void keepsTiesAtThreshold();
    void keepsAtLeastOneWeight();
    void zeroSparsityKeepsEverything();
    void findsConvAndLinearWeightsOnly();
    void leavesBiasesAndBatchNormUntouched();
    void doesNotPruneDepthwiseKernels();
    void masksKeepPrunedWeightsZeroAfterOptimizerStep();
    void classifierStaysDenseButCountsInTheMeasuredSparsity();
    void stepFollowsScheduleGating();
    void stepFollowsPolynomialTargets();
    void measuredSparsityIsElementWeighted();
    void masksRoundTripThroughSetMasks();
    void setMasksRejectsMismatches();
    void masksFollowWeightDtype();
    void globalScopeKeepsTheHighestLampScores();
    void globalScopeIgnoresALayersScale();
    void channelGranularityIsAlwaysPerLayer();
};

void TestMagnitudePruner::initTestCase()
{
    torch::manual_seed(7);
}

void TestMagnitudePruner::prunesExactlyTheSmallestMagnitudes_data()
{
    QTest::addColumn<double>("sparsity");
    QTest::addColumn<int>("expectedZeros");

    QTest::newRow("0.3") << 0.3 << 30;
    QTest::newRow("0.5") << 0.5 << 50;
    QTest::newRow("0.9") << 0.9 << 90;
    QTest::newRow("0.123 rounds 87.7 up to keep 88") << 0.123 << 12;
}

void TestMagnitudePruner::prunesExactlyTheSmallestMagnitudes()
{
    QFETCH(double, sparsity);
    QFETCH(int, expectedZeros);

    // Weights ±1..±100 in shuffled order, alternating signs: magnitude, not value, decides.
    torch::nn::Linear fc(torch::nn::LinearOptions(100, 1).bias(false));
    std::vector<float> values(100);
    for (int i = 0; i < 100; ++i)
        values[std::size_t(i)] = float((i * 37) % 100 + 1) * (i % 2 ? -1.0f : 1.0f);
    setWeights(fc->weight, values);

    MagnitudePruner pruner(*fc, PruningSchedule());
    pruner.updateMasks(sparsity);
    pruner.applyMasks();

    const torch::Tensor w = fc->weight.detach().flatten();
    QCOMPARE(zeros(w), std::int64_t(expectedZeros));
    for (std::int64_t i = 0; i < 100; ++i) {
        const float original = std::abs(values[std::size_t(i)]);
        const float now = w[i].item<float>();
        if (original <= float(expectedZeros))
            QCOMPARE(now, 0.0f);
        else
            QCOMPARE(now, values[std::size_t(i)]); // survivors are unchanged
    }
    QCOMPARE(pruner.targetSparsity(), sparsity);
    QVERIFY(qAbs(pruner.measuredSparsity() - expectedZeros / 100.0) < 1e-12);
}

void TestMagnitudePruner::keepsTiesAtThreshold()
{
    // Magnitudes 1, 2, 2, 2, 3, 4 (one negative). s = 0.5 → k = 3; the 3rd largest magnitude is 2,
    // so all three 2s survive: only the 1 is pruned.
    torch::nn::Linear fc(torch::nn::LinearOptions(6, 1).bias(false));
    setWeights(fc->weight, { 2.0f, 1.0f, -2.0f, 4.0f, 2.0f, 3.0f });
    MagnitudePruner pruner(*fc, PruningSchedule());
    pruner.updateMasks(0.5);
    pruner.applyMasks();
    const torch::Tensor expected
        = torch::tensor({ 2.0f, 0.0f, -2.0f, 4.0f, 2.0f, 3.0f }).view({ 1, 6 });
    QVERIFY(torch::equal(fc->weight.detach(), expected));
    QVERIFY(qAbs(pruner.measuredSparsity() - 1.0 / 6.0) < 1e-12);
}

void TestMagnitudePruner::keepsAtLeastOneWeight()
{
    // n = 10, s = 0.99: round(0.1) = 0, but k = max(0, 1) keeps the largest magnitude.
    torch::nn::Linear fc(torch::nn::LinearOptions(10, 1).bias(false));
    setWeights(fc->weight, { 1, 2, 3, 4, 5, 6, 7, -10, 8, 9 });
    MagnitudePruner pruner(*fc, PruningSchedule());
    pruner.updateMasks(0.99);
    pruner.applyMasks();
    QCOMPARE(zeros(fc->weight), std::int64_t(9));
    QCOMPARE(fc->weight.detach().flatten()[7].item<float>(), -10.0f);
}

void TestMagnitudePruner::zeroSparsityKeepsEverything()
{
    torch::nn::Linear fc(16, 8);
    {
        torch::NoGradGuard noGrad;
        fc->weight.uniform_(-1, 1);
        fc->weight[0][0] = 0.0f; // an existing zero stays zero but its mask is 1
    }
    const torch::Tensor before = fc->weight.detach().clone();
    MagnitudePruner pruner(*fc, PruningSchedule());
    pruner.updateMasks(0.5);
    pruner.updateMasks(0.0);
    QVERIFY(torch::equal(pruner.masks().front(), torch::ones_like(before)));
    QCOMPARE(pruner.measuredSparsity(), 0.0);
    pruner.applyMasks();
    QVERIFY(torch::equal(fc->weight.detach(), before));
}

void TestMagnitudePruner::findsConvAndLinearWeightsOnly()
{
    MixedNet net;
    MagnitudePruner pruner(net, PruningSchedule());
    const std::vector<std::string> expected { "conv.weight", "grouped.weight", "fc.weight" };
    QCOMPARE(pruner.prunableNames(), expected);
    QCOMPARE(pruner.masks().size(), expected.size());

    // The root module itself can be the prunable layer.
    torch::nn::Linear fc(4, 2);
    MagnitudePruner single(*fc, PruningSchedule());
    QCOMPARE(single.prunableNames(), std::vector<std::string> { "weight" });
}

void TestMagnitudePruner::leavesBiasesAndBatchNormUntouched()
{
    MixedNet net;
    {
        torch::NoGradGuard noGrad;
        for (auto &p : net.parameters())
            p.uniform_(-1, 1);
        net.bn->running_mean.uniform_(-1, 1);
    }
    std::vector<torch::Tensor> before;
    std::vector<std::string> names;
    for (const auto &item : net.named_parameters()) {
        names.push_back(item.key());
        before.push_back(item.value().detach().clone());
    }
    const torch::Tensor runningMean = net.bn->running_mean.clone();

    MagnitudePruner pruner(net, PruningSchedule());
    pruner.updateMasks(0.9);
    pruner.applyMasks();

    const auto prunable = pruner.prunableNames();
    std::size_t i = 0;
    for (const auto &item : net.named_parameters()) {
        // fc is the classifier: listed (it has a mask) but kept dense.
        const bool pruned = item.key() != "fc.weight"
            && std::find(prunable.begin(), prunable.end(), item.key()) != prunable.end();
        if (pruned)
            QVERIFY2(zeros(item.value()) > 0, item.key().c_str());
        else
            QVERIFY2(torch::equal(item.value().detach(), before[i]), item.key().c_str());
        ++i;
    }
    QVERIFY(torch::equal(net.bn->running_mean, runningMean));
    QVERIFY(torch::equal(net.conv->bias.detach(), before[1])); // conv.bias: never pruned
    QCOMPARE(names[1], std::string("conv.bias"));
}

void TestMagnitudePruner::doesNotPruneDepthwiseKernels()
{
    MixedNet net;
    const torch::Tensor depthwiseBefore = net.depthwise->weight.detach().clone();
    MagnitudePruner pruner(net, PruningSchedule());
    pruner.updateMasks(0.8);
    pruner.applyMasks();
    QVERIFY(torch::equal(net.depthwise->weight.detach(), depthwiseBefore));
    for (const auto &layer : pruner.layerSparsity())
        QVERIFY(layer.name != QStringLiteral("depthwise.weight"));
    // A grouped (not depthwise) conv and a 1-channel conv are pruned.
    QVERIFY(zeros(net.grouped->weight) > 0);
    torch::nn::Conv2d single(torch::nn::Conv2dOptions(1, 1, 3).groups(1));
    MagnitudePruner singlePruner(*single, PruningSchedule());
    QCOMPARE(singlePruner.prunableNames().size(), std::size_t(1));
}

void TestMagnitudePruner::masksKeepPrunedWeightsZeroAfterOptimizerStep()
{
    torch::nn::Sequential net(
        torch::nn::Linear(20, 30), torch::nn::ReLU(), torch::nn::Linear(30, 5));
    MagnitudePruner pruner(*net, PruningSchedule::constantSparsity(0.6, 1, -1, 1000));
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

    const torch::Tensor x = torch::randn({ 16, 20 });
    const torch::Tensor y = torch::randint(0, 5, { 16 }, torch::kLong);
    for (std::int64_t step = 1; step <= 5; ++step) {
        sgd.zero_grad();
        torch::nn::functional::cross_entropy(net->forward(x), y).backward();
        sgd.step();
        if (step > 1) {
            // The optimizer (momentum included) revives pruned weights; the pruner zeroes them.
            const auto masks = pruner.masks();
            QVERIFY(zeros(net[0]->as<torch::nn::Linear>()->weight) < zeros(masks[0]));
        }
        pruner.step(step);
        const auto masks = pruner.masks();
        const auto names = pruner.prunableNames();
        for (std::size_t i = 0; i < masks.size(); ++i) {
            const torch::Tensor weight = net->named_parameters()[names[i]].detach();
            QVERIFY(torch::equal(weight * (1 - masks[i]), torch::zeros_like(weight)));
        }
        // 60 % of the first layer's 600 weights; the classifier's 150 stay dense and count.
        QVERIFY(qAbs(pruner.measuredSparsity() - 0.6 * 600.0 / 750.0) < 0.01);
    }
}

void TestMagnitudePruner::classifierStaysDenseButCountsInTheMeasuredSparsity()
{
    torch::nn::Sequential net(
        torch::nn::Linear(20, 30), torch::nn::ReLU(), torch::nn::Linear(30, 5));
    MagnitudePruner pruner(*net, PruningSchedule());
    pruner.updateMasks(0.8);
    pruner.applyMasks();
    const auto layers = pruner.layerSparsity();
    QCOMPARE(int(layers.size()), 2);
    QCOMPARE(layers[0].zeros, std::int64_t(480)); // 600 weights, keep round(600 · 0.2) = 120
    QCOMPARE(layers[1].name, QStringLiteral("2.weight"));
    QCOMPARE(layers[1].zeros, std::int64_t(0));
    QCOMPARE(zeros(net[2]->as<torch::nn::Linear>()->weight), std::int64_t(0));
    QCOMPARE(pruner.measuredSparsity(), 480.0 / 750.0);
    // Channel granularity keeps it dense too (its rows are the classes).
    MagnitudePruner channels(*net, PruningSchedule(), leantune::PruneGranularity::Channel);
    channels.updateMasks(0.5);
    QCOMPARE(channels.layerSparsity()[1].zeros, std::int64_t(0));
    QCOMPARE(channels.layerSparsity()[0].zeros, std::int64_t(15 * 20));
}

void TestMagnitudePruner::stepFollowsScheduleGating()
{
    torch::nn::Linear fc(torch::nn::LinearOptions(100, 1).bias(false));
    std::vector<float> values(100);
    for (int i = 0; i < 100; ++i)
        values[std::size_t(i)] = float(i + 1);
    setWeights(fc->weight, values);

    MagnitudePruner pruner(*fc, PruningSchedule::constantSparsity(0.5, 10, 30, 10));
    QVERIFY(!pruner.step(5));
    QCOMPARE(pruner.measuredSparsity(), 0.0);
    QCOMPARE(pruner.targetSparsity(), 0.0);
    QCOMPARE(zeros(fc->weight), std::int64_t(0));

    QVERIFY(pruner.step(10));
    QCOMPARE(pruner.targetSparsity(), 0.5);
    QCOMPARE(pruner.measuredSparsity(), 0.5);
    QCOMPARE(zeros(fc->weight), std::int64_t(50));

    QVERIFY(!pruner.step(15));
    QVERIFY(pruner.step(20));
    QVERIFY(pruner.step(30));
    QVERIFY(!pruner.step(40));

    // Masks are applied at every step, updated or not.
    setWeights(fc->weight, values);
    QVERIFY(!pruner.step(41));
    QCOMPARE(zeros(fc->weight), std::int64_t(50));

    MagnitudePruner none(*fc, PruningSchedule());
    QVERIFY(!none.step(1));
    QVERIFY(!none.step(100));
    QCOMPARE(none.measuredSparsity(), 0.0);
}

void TestMagnitudePruner::stepFollowsPolynomialTargets()
{
    torch::nn::Linear fc(torch::nn::LinearOptions(1000, 1).bias(false));
    MagnitudePruner pruner(*fc, PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2));
    for (std::int64_t step = 1; step <= 120; ++step)
        pruner.step(step);
    QCOMPARE(pruner.targetSparsity(), 0.8);
    QCOMPARE(zeros(fc->weight), std::int64_t(800));

    // Frequency 2: step 105 is not an update step, so the target stays at step 104's 0.6704.
    torch::nn::Linear fresh(torch::nn::LinearOptions(1000, 1).bias(false));
    MagnitudePruner halfway(*fresh, PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2));
    QVERIFY(halfway.step(100));
    QCOMPARE(halfway.targetSparsity(), 0.2);
    QCOMPARE(zeros(fresh->weight), std::int64_t(200));
    QVERIFY(halfway.step(104));
    QVERIFY(!halfway.step(105));
    QVERIFY(qAbs(halfway.targetSparsity() - 0.6704) < 1e-12);
    QCOMPARE(zeros(fresh->weight), std::int64_t(670)); // keeps round(1000 · 0.3296) = 330
}

void TestMagnitudePruner::measuredSparsityIsElementWeighted()
{
    // 100-element and 300-element layers with 50 % and 10 % zeros: 80 / 400 = 0.2, not 0.3.
    torch::nn::Sequential net(torch::nn::Linear(10, 10), torch::nn::Linear(10, 30));
    MagnitudePruner pruner(*net, PruningSchedule());
    torch::Tensor first = torch::ones({ 10, 10 });
    first.view({ -1 }).slice(0, 0, 50).zero_();
    torch::Tensor second = torch::ones({ 30, 10 });
    second.view({ -1 }).slice(0, 0, 30).zero_();
    QVERIFY(pruner.setMasks({ first, second }, 0.3));

    QVERIFY(qAbs(pruner.measuredSparsity() - 0.2) < 1e-12);
    const auto layers = pruner.layerSparsity();
    QCOMPARE(layers.size(), std::size_t(2));
    QCOMPARE(layers[0].name, QStringLiteral("0.weight"));
    QCOMPARE(layers[0].elements, std::int64_t(100));
    QCOMPARE(layers[0].zeros, std::int64_t(50));
    QCOMPARE(layers[0].sparsity(), 0.5);
    QCOMPARE(layers[1].name, QStringLiteral("1.weight"));
    QCOMPARE(layers[1].elements, std::int64_t(300));
    QCOMPARE(layers[1].zeros, std::int64_t(30));
    QCOMPARE(layers[1].sparsity(), 0.1);
}

void TestMagnitudePruner::masksRoundTripThroughSetMasks()
{
    MixedNet net;
    MagnitudePruner pruner(net, PruningSchedule());
    pruner.updateMasks(0.7);
    const auto saved = pruner.masks();
    const double measured = pruner.measuredSparsity();

    MagnitudePruner restored(net, PruningSchedule());
    QString error;
    QVERIFY2(restored.setMasks(saved, 0.7, &error), qPrintable(error));
    QCOMPARE(restored.targetSparsity(), 0.7);
    QCOMPARE(restored.measuredSparsity(), measured);
    const auto again = restored.masks();
    QCOMPARE(again.size(), saved.size());
    for (std::size_t i = 0; i < saved.size(); ++i)
        QVERIFY(torch::equal(again[i], saved[i]));

    // Bool masks (as a checkpoint may store them) are accepted and become float 0/1.
    std::vector<torch::Tensor> boolMasks;
    for (const auto &m : saved)
        boolMasks.push_back(m.to(torch::kBool));
    MagnitudePruner fromBool(net, PruningSchedule());
    QVERIFY(fromBool.setMasks(boolMasks, 0.7));
    for (std::size_t i = 0; i < saved.size(); ++i)
        QVERIFY(torch::equal(fromBool.masks()[i], saved[i]));

    // masks() hands out copies: changing them does not change the pruner.
    auto copy = restored.masks();
    copy[0].zero_();
    QCOMPARE(restored.measuredSparsity(), measured);
}

void TestMagnitudePruner::setMasksRejectsMismatches()
{
    MixedNet net;
    MagnitudePruner pruner(net, PruningSchedule());
    pruner.updateMasks(0.5);
    const auto good = pruner.masks();
    const double measured = pruner.measuredSparsity();

    QString error;
    QVERIFY(!pruner.setMasks({ good[0] }, 0.1, &error));
    QVERIFY2(error.contains(QStringLiteral("expected 3 pruning masks, got 1")), qPrintable(error));

    auto wrongShape = good;
    wrongShape[2] = torch::ones({ 3, 3 });
    QVERIFY(!pruner.setMasks(wrongShape, 0.1, &error));
    QVERIFY2(error.contains(QStringLiteral("fc.weight")), qPrintable(error));

    QCOMPARE(pruner.targetSparsity(), 0.5); // nothing changed
    QCOMPARE(pruner.measuredSparsity(), measured);
}

void TestMagnitudePruner::masksFollowWeightDtype()
{
    torch::nn::Linear fc(8, 8);
    fc->to(torch::kDouble);
    MagnitudePruner pruner(*fc, PruningSchedule());
    pruner.updateMasks(0.5);
    const auto masks = pruner.masks();
    QCOMPARE(masks[0].scalar_type(), torch::kDouble);
    QCOMPARE(masks[0].device(), fc->weight.device());
    QVERIFY(!masks[0].requires_grad());
    pruner.applyMasks();
    QCOMPARE(zeros(fc->weight), std::int64_t(32));
    QVERIFY(fc->weight.requires_grad()); // still a trainable parameter

    // The model changes dtype after the masks were made: the masks follow it.
    fc->to(torch::kFloat);
    pruner.applyMasks();
    QCOMPARE(pruner.masks()[0].scalar_type(), torch::kFloat);
    QCOMPARE(zeros(fc->weight), std::int64_t(32));
}

// LAMP by hand. fc1 = 1..8: squares 1,4,...,64 over their tails 204,203,199,190,174,149,113,64
// score .005 .020 .045 .084 .144 .242 .434 1. fc2 = 1,10,100,1000: scores 1e-6, 1e-4, .0099, 1.
// Keeping 6 of the 12 keeps the six highest: fc1's 4..8 and fc2's 1000 (per layer it would be
// fc1's 5..8 and fc2's 100 and 1000).
void TestMagnitudePruner::globalScopeKeepsTheHighestLampScores()
{
    TwoLayers net;
    setWeights(net.fc1->weight, { 3, -1, 8, 2, -5, 7, 4, -6 });
    setWeights(net.fc2->weight, { 1000, 1, -100, 10 });
    MagnitudePruner pruner(
        net, PruningSchedule(), leantune::PruneGranularity::Weight, leantune::PruneScope::Global);
    QCOMPARE(pruner.scope(), leantune::PruneScope::Global);
    pruner.updateMasks(0.5);
    pruner.applyMasks();
    QVERIFY(torch::equal(net.fc1->weight.reshape({ -1 }),
        torch::tensor({ 0.f, 0.f, 8.f, 0.f, -5.f, 7.f, 4.f, -6.f })));
    QVERIFY(
        torch::equal(net.fc2->weight.reshape({ -1 }), torch::tensor({ 1000.f, 0.f, 0.f, 0.f })));
    QCOMPARE(zeros(net.out->weight), std::int64_t(0)); // the classifier stays dense
    const std::vector<leantune::LayerSparsity> layers = pruner.layerSparsity();
    QCOMPARE(layers.size(), std::size_t(3));
    QCOMPARE(layers[0].zeros + layers[1].zeros, std::int64_t(6)); // 6 of the 12 prunable weights
}

// A conv followed by BatchNorm can carry any scale: LAMP ranks within the layer, so scaling one
// layer's weights changes nothing (a plain global threshold would empty the scaled-down layer).
void TestMagnitudePruner::globalScopeIgnoresALayersScale()
{
    torch::manual_seed(3);
    TwoLayers a, b;
    {
        torch::NoGradGuard noGrad;
        b.fc1->weight.copy_(a.fc1->weight * 1e-4);
        b.fc2->weight.copy_(a.fc2->weight);
    }
    MagnitudePruner pa(
        a, PruningSchedule(), leantune::PruneGranularity::Weight, leantune::PruneScope::Global);
    MagnitudePruner pb(
        b, PruningSchedule(), leantune::PruneGranularity::Weight, leantune::PruneScope::Global);
    pa.updateMasks(0.6);
    pb.updateMasks(0.6);
    const std::vector<torch::Tensor> ma = pa.masks(), mb = pb.masks();
    QCOMPARE(ma.size(), mb.size());
    for (std::size_t i = 0; i < ma.size(); ++i)
        QVERIFY(torch::equal(ma[i], mb[i]));
    QVERIFY(zeros(ma[0]) < ma[0].numel()); // the largest weight of each layer survives
    QVERIFY(zeros(ma[1]) < ma[1].numel());
}

void TestMagnitudePruner::channelGranularityIsAlwaysPerLayer()
{
    MixedNet net;
    MagnitudePruner pruner(
        net, PruningSchedule(), leantune::PruneGranularity::Channel, leantune::PruneScope::Global);
    QCOMPARE(pruner.scope(), leantune::PruneScope::Layer);
}

QTEST_GUILESS_MAIN(TestMagnitudePruner)
#include "tst_magnitudepruner.moc"
