#include "model/modelzoo_p.h"

#include <QTemporaryDir>
#include <QtTest>

using leantune::ClassifierImpl;
using leantune::ModelSpec;

namespace {

ModelSpec spec(const QString &name, int channels, int inputSize, int classes = 10)
{
    ModelSpec s;
    s.name = name;
    s.channels = channels;
    s.inputSize = inputSize;
    s.classes = classes;
    return s;
}

std::int64_t parameterCount(const torch::nn::Module &model)
{
    std::int64_t n = 0;
    for (const auto &p : model.parameters())
        n += p.numel();
    return n;
}

bool sameParameters(const torch::nn::Module &a, const torch::nn::Module &b)
{
    const auto pa = a.named_parameters();
    const auto pb = b.named_parameters();
    if (pa.size() != pb.size())
        return false;
    for (const auto &item : pa) {
        const torch::Tensor *other = pb.find(item.key());
        if (!other || !torch::equal(item.value(), *other))
            return false;
    }
    return true;
}

} // namespace

class TestModelZoo : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void listsModelNames();
    void forwardGivesLogitsPerClass_data();
    void forwardGivesLogitsPerClass();
    void trainModeForwardAndBackward_data();
    void trainModeForwardAndBackward();
    void smallCnnHasAbout100kParameters_data();
    void smallCnnHasAbout100kParameters();
    void resnet18MatchesTorchvisionTopology();
    void resnet8IsSmallAndCifarStyle();
    void layerNamesAreReadable();
    void invalidSpecsAreRejected_data();
    void invalidSpecsAreRejected();
    void seededCreationIsReproducible_data();
    void seededCreationIsReproducible();
    void savesAndLoadsWithTorchSerialize();
};

void TestModelZoo::initTestCase()
{
    torch::manual_seed(1);
    torch::set_num_threads(2);
}

void TestModelZoo::listsModelNames()
{
    const QStringList expected { QStringLiteral("smallcnn"), QStringLiteral("resnet8"),
        QStringLiteral("resnet18"), QStringLiteral("mobilenet_v2") };
    QCOMPARE(leantune::modelNames(), expected);
    for (const QString &name : expected)
        QVERIFY(leantune::validateModelSpec(spec(name, 3, 32)));
}

void TestModelZoo::forwardGivesLogitsPerClass_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("classes");

    for (const QString &name : leantune::modelNames()) {
        const QByteArray n = name.toUtf8();
        QTest::addRow("%s 1ch 28px", n.constData()) << name << 1 << 28 << 3 << 10;
        QTest::addRow("%s 3ch 32px", n.constData()) << name << 3 << 32 << 2 << 7;
        QTest::addRow("%s 3ch 64px", n.constData()) << name << 3 << 64 << 2 << 2;
    }
    QTest::newRow("smallcnn minimum 8px") << QStringLiteral("smallcnn") << 1 << 8 << 2 << 3;
    QTest::newRow("resnet8 minimum 8px") << QStringLiteral("resnet8") << 3 << 8 << 2 << 3;
    QTest::newRow("resnet18 minimum 16px") << QStringLiteral("resnet18") << 3 << 16 << 2 << 3;
    QTest::newRow("resnet18 ImageNet stem 96px") << QStringLiteral("resnet18") << 1 << 96 << 1 << 5;
    QTest::newRow("resnet18 3ch 224px batch 1")
        << QStringLiteral("resnet18") << 3 << 224 << 1 << 1000;
}

void TestModelZoo::forwardGivesLogitsPerClass()
{
    QFETCH(QString, name);
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    QFETCH(int, batch);
    QFETCH(int, classes);

    QString error;
    const auto model = leantune::createModel(spec(name, channels, inputSize, classes), &error);
    QVERIFY2(model, qPrintable(error));
    QVERIFY(error.isEmpty());
    model->eval();
    torch::NoGradGuard noGrad;
    const torch::Tensor out
        = model->forward(torch::randn({ batch, channels, inputSize, inputSize }));
    QCOMPARE(out.dim(), std::int64_t(2));
    QCOMPARE(out.size(0), std::int64_t(batch));
    QCOMPARE(out.size(1), std::int64_t(classes));
    QCOMPARE(out.scalar_type(), torch::kFloat);
    QVERIFY(torch::isfinite(out).all().item<bool>());
}

void TestModelZoo::trainModeForwardAndBackward_data()
{
    QTest::addColumn<QString>("name");
    for (const QString &name : leantune::modelNames())
        QTest::newRow(qPrintable(name)) << name;
}

void TestModelZoo::trainModeForwardAndBackward()
{
    QFETCH(QString, name);
    const auto model = leantune::createModel(spec(name, 3, 32, 4), nullptr);
    QVERIFY(model);
    model->train();
    const torch::Tensor x = torch::randn({ 4, 3, 32, 32 });
    const torch::Tensor y = torch::tensor({ 0, 1, 2, 3 }, torch::kLong);
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    for (const auto &item : model->named_parameters()) {
        QVERIFY2(item.value().grad().defined(), item.key().c_str());
        QVERIFY2(torch::isfinite(item.value().grad()).all().item<bool>(), item.key().c_str());
    }
}

void TestModelZoo::smallCnnHasAbout100kParameters_data()
{
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<int>("expected");
    // Adaptive pooling: the count depends on the channels, not on the input size.
    QTest::newRow("1ch 28px") << 1 << 28 << 96298;
    QTest::newRow("3ch 32px") << 3 << 32 << 96874;
    QTest::newRow("3ch 64px") << 3 << 64 << 96874;
}

void TestModelZoo::smallCnnHasAbout100kParameters()
{
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    QFETCH(int, expected);
    const auto model
        = leantune::createModel(spec(QStringLiteral("smallcnn"), channels, inputSize), nullptr);
    QVERIFY(model);
    const std::int64_t n = parameterCount(*model);
    QVERIFY2(n >= 60000 && n <= 150000, qPrintable(QString::number(n)));
    QCOMPARE(n, std::int64_t(expected));
}

void TestModelZoo::resnet18MatchesTorchvisionTopology()
{
    // torchvision.models.resnet18() (3 channels, 1000 classes) has 11,689,512 parameters.
    const auto imageNet
        = leantune::createModel(spec(QStringLiteral("resnet18"), 3, 224, 1000), nullptr);
    QVERIFY(imageNet);
    QCOMPARE(parameterCount(*imageNet), std::int64_t(11689512));
    const auto params = imageNet->named_parameters();
    QCOMPARE(params["conv1.weight"].sizes(), (torch::IntArrayRef { 64, 3, 7, 7 }));
    QVERIFY(!params.contains("conv1.bias"));

    // Small inputs: a 3×3 stride-1 stem (CIFAR style); one-channel input.
    const auto cifar = leantune::createModel(spec(QStringLiteral("resnet18"), 1, 32, 10), nullptr);
    QVERIFY(cifar);
    QCOMPARE(
        cifar->named_parameters()["conv1.weight"].sizes(), (torch::IntArrayRef { 64, 1, 3, 3 }));
    QCOMPARE(cifar->named_parameters()["fc.weight"].sizes(), (torch::IntArrayRef { 10, 512 }));
}

void TestModelZoo::resnet8IsSmallAndCifarStyle()
{
    const auto model = leantune::createModel(spec(QStringLiteral("resnet8"), 3, 32, 10), nullptr);
    QVERIFY(model);
    const auto params = model->named_parameters();
    QCOMPARE(params["conv1.weight"].sizes(), (torch::IntArrayRef { 16, 3, 3, 3 }));
    QCOMPARE(params["layer1.0.conv1.weight"].sizes(), (torch::IntArrayRef { 16, 16, 3, 3 }));
    QCOMPARE(params["layer2.0.conv1.weight"].sizes(), (torch::IntArrayRef { 32, 16, 3, 3 }));
    QCOMPARE(params["layer3.0.conv2.weight"].sizes(), (torch::IntArrayRef { 64, 64, 3, 3 }));
    QCOMPARE(params["fc.weight"].sizes(), (torch::IntArrayRef { 10, 64 }));
    QVERIFY(!params.contains("layer1.0.downsample.0.weight")); // identity shortcut
    QVERIFY(params.contains("layer2.0.downsample.0.weight"));
    QVERIFY(!params.contains("layer4.0.conv1.weight"));
    // Stem 432 + BN 32, stage 1 4,672, stage 2 13,952 + shortcut 576, stage 3 55,552 + shortcut
    // 2,176, fc 650: 78,042.
    QCOMPARE(parameterCount(*model), std::int64_t(78042));
}

void TestModelZoo::layerNamesAreReadable()
{
    const auto resnet = leantune::createModel(spec(QStringLiteral("resnet18"), 3, 32), nullptr);
    QVERIFY(resnet);
    const auto params = resnet->named_parameters();
    for (const char *name : { "conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight",
             "layer1.1.bn2.bias", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
             "layer4.1.conv2.weight", "fc.weight", "fc.bias" })
        QVERIFY2(params.contains(name), name);
    QVERIFY(resnet->named_buffers().contains("bn1.running_mean"));

    const auto cnn = leantune::createModel(spec(QStringLiteral("smallcnn"), 1, 28), nullptr);
    QVERIFY(cnn);
    const auto cnnParams = cnn->named_parameters();
    for (const char *name : { "conv1.weight", "bn1.weight", "conv2.weight", "bn2.bias",
             "conv3.weight", "bn3.bias", "fc1.weight", "fc2.weight", "fc2.bias" })
        QVERIFY2(cnnParams.contains(name), name);
}

void TestModelZoo::invalidSpecsAreRejected_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("inputSize");
    QTest::addColumn<int>("classes");
    QTest::addColumn<QString>("errorPart");

    QTest::newRow("unknown model") << QStringLiteral("vgg16") << 3 << 32 << 10
                                   << QStringLiteral("unknown model 'vgg16' (choose smallcnn, "
                                                     "resnet8, resnet18, mobilenet_v2 or "
                                                     "torchscript:PATH)");
    QTest::newRow("empty name") << QString() << 3 << 32 << 10 << QStringLiteral("unknown model ''");
    QTest::newRow("name is case-sensitive")
        << QStringLiteral("ResNet8") << 3 << 32 << 10 << QStringLiteral("unknown model");
    QTest::newRow("smallcnn 7px") << QStringLiteral("smallcnn") << 1 << 7 << 10
                                  << QStringLiteral("too small for smallcnn (minimum 8");
    QTest::newRow("resnet8 4px") << QStringLiteral("resnet8") << 3 << 4 << 10
                                 << QStringLiteral("too small for resnet8 (minimum 8");
    QTest::newRow("resnet18 15px") << QStringLiteral("resnet18") << 3 << 15 << 10
                                   << QStringLiteral("too small for resnet18 (minimum 16");
    QTest::newRow("zero size") << QStringLiteral("smallcnn") << 1 << 0 << 10
                               << QStringLiteral("too small");
    QTest::newRow("too large") << QStringLiteral("resnet18") << 3 << 1025 << 10
                               << QStringLiteral("too large (maximum 1024");
    QTest::newRow("2 channels") << QStringLiteral("smallcnn") << 2 << 28 << 10
                                << QStringLiteral("channels must be 1 or 3");
    QTest::newRow("0 channels") << QStringLiteral("resnet8") << 0 << 28 << 10
                                << QStringLiteral("channels must be 1 or 3");
    QTest::newRow("1 class") << QStringLiteral("smallcnn") << 1 << 28 << 1
                             << QStringLiteral("classes must be at least 2");
    QTest::newRow("negative classes") << QStringLiteral("resnet8") << 3 << 32 << -4
                                      << QStringLiteral("classes must be at least 2");
}

void TestModelZoo::invalidSpecsAreRejected()
{
    QFETCH(QString, name);
    QFETCH(int, channels);
    QFETCH(int, inputSize);
    QFETCH(int, classes);
    QFETCH(QString, errorPart);

    const ModelSpec s = spec(name, channels, inputSize, classes);
    QString reason;
    QVERIFY(!leantune::validateModelSpec(s, &reason));
    QVERIFY2(reason.contains(errorPart), qPrintable(reason));
    QVERIFY(!reason.contains(QLatin1Char('\n')));

    QString error;
    QVERIFY(!leantune::createModel(s, &error));
    QCOMPARE(error, reason);
    QVERIFY(!leantune::createModel(s, nullptr)); // null error pointer is fine
}

void TestModelZoo::seededCreationIsReproducible_data()
{
    QTest::addColumn<QString>("name");
    for (const QString &name : leantune::modelNames())
        QTest::newRow(qPrintable(name)) << name;
}

void TestModelZoo::seededCreationIsReproducible()
{
    QFETCH(QString, name);
    const ModelSpec s = spec(name, 3, 32);
    torch::manual_seed(42);
    const auto a = leantune::createModel(s, nullptr);
    torch::manual_seed(42);
    const auto b = leantune::createModel(s, nullptr);
    torch::manual_seed(43);
    const auto c = leantune::createModel(s, nullptr);
    QVERIFY(a && b && c);
    QVERIFY(sameParameters(*a, *b));
    QVERIFY(!sameParameters(*a, *c));
}

void TestModelZoo::savesAndLoadsWithTorchSerialize()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = dir.filePath(QStringLiteral("resnet8.pt")).toStdString();
    const ModelSpec s = spec(QStringLiteral("resnet8"), 3, 32, 5);

    torch::manual_seed(5);
    const auto original = leantune::createModel(s, nullptr);
    QVERIFY(original);
    {
        // Give BatchNorm non-default running statistics so buffers are checked too.
        torch::NoGradGuard noGrad;
        original->train();
        original->forward(torch::randn({ 4, 3, 32, 32 }));
    }
    torch::serialize::OutputArchive out;
    original->save(out);
    out.save_to(path);

    torch::manual_seed(6);
    const auto loaded = leantune::createModel(s, nullptr);
    QVERIFY(loaded);
    QVERIFY(!sameParameters(*original, *loaded));
    torch::serialize::InputArchive in;
    in.load_from(path);
    loaded->load(in);
    QVERIFY(sameParameters(*original, *loaded));

    original->eval();
    loaded->eval();
    torch::NoGradGuard noGrad;
    const torch::Tensor x = torch::randn({ 2, 3, 32, 32 });
    QVERIFY(torch::equal(original->forward(x), loaded->forward(x)));
}

QTEST_GUILESS_MAIN(TestModelZoo)
#include "tst_modelzoo.moc"
