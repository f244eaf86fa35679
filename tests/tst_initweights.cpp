// Starting weights: torchvision state_dicts and safetensors files give torchvision's
// logits; a bad file (another architecture, truncated, NaN weights, a pickle naming os.system) is
// one clear error with no run folder written.
#include "clirunner.h"
#include "model/modelzoo_p.h"
#include "model/weightfile_p.h"
#include "model/weightloader_p.h"
#include "testdata.h"
#include "train/initweights_p.h"

#include <opencv2/dnn.hpp>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

torch::Tensor readFloats(const QString &path, std::vector<std::int64_t> shape)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray bytes = f.readAll();
    torch::Tensor t = torch::empty(shape);
    if (bytes.size() != t.numel() * 4)
        return {};
    std::memcpy(t.data_ptr(), bytes.constData(), std::size_t(bytes.size()));
    return t;
}

// A .safetensors file of TENSORS (the format: u64 header length, JSON header, raw tensors).
void writeSafetensors(const QString &path, const NamedTensors &tensors)
{
    QJsonObject header;
    QByteArray data;
    for (const auto &[name, t] : tensors) {
        const torch::Tensor c = t.contiguous();
        QJsonArray shape;
        for (std::int64_t d : c.sizes())
            shape.append(double(d));
        const bool isLong = c.scalar_type() == torch::kLong;
        const qsizetype begin = data.size();
        data.append(static_cast<const char *>(c.data_ptr()), qsizetype(c.nbytes()));
        header.insert(QString::fromStdString(name),
            QJsonObject {
                { QStringLiteral("dtype"), isLong ? QStringLiteral("I64") : QStringLiteral("F32") },
                { QStringLiteral("shape"), shape },
                { QStringLiteral("data_offsets"),
                    QJsonArray { double(begin), double(data.size()) } } });
    }
    header.insert(QStringLiteral("__metadata__"),
        QJsonObject { { QStringLiteral("format"), QStringLiteral("pt") } });
    const QByteArray json = QJsonDocument(header).toJson(QJsonDocument::Compact);
    QByteArray out(8, '\0');
    for (int k = 0; k < 8; ++k)
        out[k] = char((std::uint64_t(json.size()) >> (8 * k)) & 0xff);
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(out + json + data);
}

double relativeError(const torch::Tensor &a, const torch::Tensor &b)
{
    return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

} // namespace

class TestInitWeights : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void parity_data();
    void parity();
    void parityBelowTheImageNetStemSize();
    void explicitStemAgainstTheFileIsRefused();
    void epochsZeroOnnxParity();
    void classifierReplaced();
    void mismatchLeavesModelUntouched();
    void badInput_data();
    void badInput();

private:
    QString file(const QString &name) const { return m_dir.filePath(name); }
    QTemporaryDir m_dir;
    QString m_data;
    bool m_hasMobileNet = false;
};

void TestInitWeights::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_hasMobileNet = modelNames().contains(QStringLiteral("mobilenet_v2"));
    QStringList args { QStringLiteral(LEANTUNE_SOURCE_DIR "/tests/scripts/torchvision_weights.py"),
        m_dir.path(), QStringLiteral("resnet18") };
    if (m_hasMobileNet)
        args << QStringLiteral("mobilenet_v2");
    QProcess python;
    python.start(QStringLiteral("/usr/bin/python3"), args);
    QVERIFY(python.waitForFinished(120000));
    if (python.exitCode() != 0)
        QSKIP(
            qPrintable(QStringLiteral("python3-torchvision is needed (scripts/setup installs it): ")
                + QString::fromUtf8(python.readAllStandardError()).right(300)));
    QString error;
    const std::optional<NamedTensors> r18
        = readStateDictFile(file(QStringLiteral("resnet18.pth")), &error);
    QVERIFY2(r18, qPrintable(error));
    writeSafetensors(file(QStringLiteral("resnet18.safetensors")), *r18);
    m_data = m_dir.filePath(QStringLiteral("data"));
    testdata::writeImageFolder(m_data, 2, 4, 32);
}

void TestInitWeights::parity_data()
{
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("weights");
    QTest::newRow("resnet18 state_dict") << "resnet18"
                                         << "resnet18.pth";
    QTest::newRow("resnet18 safetensors") << "resnet18"
                                          << "resnet18.safetensors";
    QTest::newRow("mobilenet_v2 state_dict") << "mobilenet_v2"
                                             << "mobilenet_v2.pth";
}

// The same logits as torchvision in eval mode, within 1e-4 relative.
void TestInitWeights::parity()
{
    QFETCH(QString, arch);
    QFETCH(QString, weights);
    if (arch == QLatin1String("mobilenet_v2") && !m_hasMobileNet)
        QSKIP("mobilenet_v2 is not in the model zoo yet");
    QString error;
    const std::optional<NamedTensors> tensors = weights.endsWith(QLatin1String(".safetensors"))
        ? readSafetensorsFile(file(weights), &error)
        : readStateDictFile(file(weights), &error);
    QVERIFY2(tensors, qPrintable(error));
    ModelSpec spec { arch, 96, 3, 10 };
    std::shared_ptr<ClassifierImpl> model = createModel(spec, &error);
    QVERIFY2(model, qPrintable(error));
    QString note;
    QVERIFY2(loadNamedTensors(*model, *tensors, &note, &error), qPrintable(error));
    QVERIFY(note.isEmpty());
    model->eval();
    torch::NoGradGuard noGrad;
    const torch::Tensor x = readFloats(file(QStringLiteral("input.bin")), { 2, 3, 96, 96 });
    const torch::Tensor expected = readFloats(file(arch + QStringLiteral(".logits")), { 2, 10 });
    QVERIFY(x.defined() && expected.defined());
    const torch::Tensor logits = model->forward(x);
    const double rel = relativeError(logits, expected);
    QVERIFY2(rel < 1e-4, qPrintable(QStringLiteral("relative error %1").arg(rel)));
}

// torchvision's resnet18 at 64 px, as a run builds it from --init: the weights bring their
// ImageNet stem (below the 96 px where the size alone would choose it), and the logits equal
// torchvision's at 64 px within 1e-4 relative.
void TestInitWeights::parityBelowTheImageNetStemSize()
{
    QString error;
    const std::optional<InitWeights> init
        = readInitWeights(file(QStringLiteral("resnet18.pth")), &error);
    QVERIFY2(init, qPrintable(error));
    ModelSpec spec { QStringLiteral("resnet18"), 64, 3, 10 };
    QVERIFY(!usesImageNetStem(spec));
    const std::optional<QString> note = adoptStem(spec, *init, &error);
    QVERIFY2(note, qPrintable(error));
    QVERIFY2(note->contains(QLatin1String("ImageNet")), qPrintable(*note));
    QCOMPARE(spec.stem, ResNetStem::ImageNet);
    std::shared_ptr<ClassifierImpl> model = createModel(spec, &error);
    QVERIFY2(model, qPrintable(error));
    QVERIFY2(
        applyInitWeights(
            *init, file(QStringLiteral("resnet18.pth")), *model, [](const QString &) {}, &error),
        qPrintable(error));
    model->eval();
    torch::NoGradGuard noGrad;
    const torch::Tensor x = readFloats(file(QStringLiteral("input64.bin")), { 2, 3, 64, 64 });
    const torch::Tensor expected = readFloats(file(QStringLiteral("resnet18.logits64")), { 2, 10 });
    QVERIFY(x.defined() && expected.defined());
    const double rel = relativeError(model->forward(x), expected);
    QVERIFY2(rel < 1e-4, qPrintable(QStringLiteral("relative error %1").arg(rel)));
}

// A stem set by hand that the file does not have is refused, saying what to change.
void TestInitWeights::explicitStemAgainstTheFileIsRefused()
{
    QString error;
    const std::optional<InitWeights> init
        = readInitWeights(file(QStringLiteral("resnet18.pth")), &error);
    QVERIFY2(init, qPrintable(error));
    ModelSpec spec { QStringLiteral("resnet18"), 224, 3, 10 };
    spec.stem = ResNetStem::Small;
    QVERIFY(!adoptStem(spec, *init, &error));
    QVERIFY2(
        error.contains(QLatin1String("use --resnet-stem imagenet or auto")), qPrintable(error));
}

// `train --init resnet18.pth --epochs 0` writes the starting model with ImageNet's per-channel
// normalization; its ONNX export gives torchvision's logits in OpenCV DNN within 1e-3 relative.
void TestInitWeights::epochsZeroOnnxParity()
{
    const QString data = m_dir.filePath(QStringLiteral("data10"));
    testdata::writeImageFolder(data, 10, 2, 32);
    const QString run = m_dir.filePath(QStringLiteral("run-epochs0"));
    testcli::Result r = testcli::runCli(
        { QStringLiteral("train"), QStringLiteral("--data"), data, QStringLiteral("--out"), run,
            QStringLiteral("--model"), QStringLiteral("resnet18"), QStringLiteral("--input-size"),
            QStringLiteral("96"), QStringLiteral("--channels"), QStringLiteral("3"),
            QStringLiteral("--epochs"), QStringLiteral("0"), QStringLiteral("--no-history"),
            QStringLiteral("--init"), file(QStringLiteral("resnet18.pth")) });
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QFile config(QDir(run).filePath(QStringLiteral("config.json")));
    QVERIFY(config.open(QIODevice::ReadOnly));
    const QJsonObject json = QJsonDocument::fromJson(config.readAll()).object();
    QCOMPARE(json.value(QLatin1String("norm_mean")).toArray().size(), 3);
    QCOMPARE(json.value(QLatin1String("norm_std")).toArray().at(2).toDouble(), 0.225);
    const QString onnx = m_dir.filePath(QStringLiteral("resnet18.onnx"));
    r = testcli::runCli({ QStringLiteral("export"), run, QStringLiteral("--format"),
        QStringLiteral("onnx"), QStringLiteral("--out"), onnx });
    QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
    const torch::Tensor x01 = readFloats(file(QStringLiteral("input01.bin")), { 2, 3, 96, 96 });
    const torch::Tensor expected = readFloats(file(QStringLiteral("resnet18.logits01")), { 2, 10 });
    QVERIFY(x01.defined() && expected.defined());
    cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx.toStdString());
    const int dims[] = { 2, 3, 96, 96 };
    net.setInput(cv::Mat(4, dims, CV_32F, x01.data_ptr()));
    cv::Mat out = net.forward().clone();
    QCOMPARE(out.total(), std::size_t(20));
    const torch::Tensor logits = torch::from_blob(out.ptr<float>(), { 2, 10 }).clone();
    const double rel = relativeError(logits, expected);
    QVERIFY2(rel < 1e-3, qPrintable(QStringLiteral("relative error %1").arg(rel)));
}

// Another class count: the classifier keeps fresh weights, every other tensor is loaded.
void TestInitWeights::classifierReplaced()
{
    QString error, note;
    const std::optional<NamedTensors> tensors
        = readStateDictFile(file(QStringLiteral("resnet18.pth")), &error);
    QVERIFY2(tensors, qPrintable(error));
    std::shared_ptr<ClassifierImpl> model
        = createModel({ QStringLiteral("resnet18"), 96, 3, 5 }, &error);
    QVERIFY(model);
    QVERIFY2(loadNamedTensors(*model, *tensors, &note, &error), qPrintable(error));
    QVERIFY2(note.contains(QLatin1String("classifier fc replaced")), qPrintable(note));
    QVERIFY(note.contains(QLatin1String("10 classes")));
    const auto params = model->named_parameters();
    QVERIFY(torch::equal(params["conv1.weight"], tensors->front().second));
    QCOMPARE(params["fc.weight"].size(0), 5);
}

// A file of another architecture: a clear error listing mismatches, and nothing copied.
void TestInitWeights::mismatchLeavesModelUntouched()
{
    QString error, note;
    const std::optional<NamedTensors> other
        = readStateDictFile(file(QStringLiteral("other.pth")), &error);
    QVERIFY2(other, qPrintable(error));
    std::shared_ptr<ClassifierImpl> model
        = createModel({ QStringLiteral("resnet18"), 96, 3, 10 }, &error);
    QVERIFY(model);
    const torch::Tensor before = model->named_parameters()["conv1.weight"].clone();
    QVERIFY(!loadNamedTensors(*model, *other, &note, &error));
    QVERIFY2(error.contains(QLatin1String("do not fit"))
            && error.contains(QLatin1String("missing conv1.weight")),
        qPrintable(error));
    QVERIFY(error.contains(QLatin1String("more")));
    QVERIFY(torch::equal(before, model->named_parameters()["conv1.weight"]));
}

void TestInitWeights::badInput_data()
{
    QTest::addColumn<QString>("weights");
    QTest::addColumn<QString>("expected");
    QTest::newRow("another architecture") << "other.pth"
                                          << "do not fit this model";
    QTest::newRow("truncated") << "truncated.pth"
                               << "truncated";
    QTest::newRow("truncated safetensors") << "truncated.safetensors"
                                           << "truncated";
    QTest::newRow("NaN weights") << "nan.pth"
                                 << "NaN";
    QTest::newRow("pickle naming os.system") << "evil.pth"
                                             << "'posix.system'";
    QTest::newRow("missing") << "none.pth"
                             << "no such file";
}

// `train --init BAD`: one clear error, exit 1 or 2, no config.json / model / checkpoint written,
// and (os.system) nothing run.
void TestInitWeights::badInput()
{
    QFETCH(QString, weights);
    QFETCH(QString, expected);
    for (const char *name : { "resnet18.pth", "resnet18.safetensors" }) {
        QFile full(file(QLatin1String(name)));
        QVERIFY(full.open(QIODevice::ReadOnly));
        QFile cut(file(QString::fromLatin1(name).replace(
            QLatin1String("resnet18"), QLatin1String("truncated"))));
        QVERIFY(cut.open(QIODevice::WriteOnly));
        cut.write(full.read(full.size() / 2));
    }
    const QString out = m_dir.filePath(QStringLiteral("run-") + weights);
    const testcli::Result r = testcli::runCli({ QStringLiteral("train"), QStringLiteral("--data"),
        m_data, QStringLiteral("--out"), out, QStringLiteral("--model"), QStringLiteral("resnet18"),
        QStringLiteral("--input-size"), QStringLiteral("96"), QStringLiteral("--channels"),
        QStringLiteral("3"), QStringLiteral("--epochs"), QStringLiteral("1"),
        QStringLiteral("--no-history"), QStringLiteral("--init"), file(weights) });
    QVERIFY2(r.exitCode == 1 || r.exitCode == 2, qPrintable(r.err));
    QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    QVERIFY2(r.err.trimmed().count(QLatin1Char('\n')) < 3, qPrintable(r.err));
    for (const char *written : { "config.json", "model.pt", "checkpoints" })
        QVERIFY2(!QFileInfo::exists(QDir(out).filePath(QLatin1String(written))), written);
    QVERIFY(!QFileInfo::exists(file(QStringLiteral("pwned"))));
}

QTEST_GUILESS_MAIN(TestInitWeights)
#include "tst_initweights.moc"
