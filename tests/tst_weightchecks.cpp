// Weight files from others are data, checked before anything is loaded: crafted state_dicts and
// safetensors files (written by tests/scripts/make_bad_weights.py) are refused with one line naming
// the tensor, and honest ones still load.
#include "clirunner.h"
#include "model/modelzoo_p.h"
#include "model/weightfile_p.h"
#include "model/weightloader_p.h"
#include "testdata.h"
#include "train/initweights_p.h"

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

// N as 8 little-endian bytes, a safetensors file's first.
QByteArray le64(std::uint64_t n)
{
    QByteArray out(8, '\0');
    for (int k = 0; k < 8; ++k)
        out[k] = char((n >> (8 * k)) & 0xff);
    return out;
}

// A safetensors file in memory: the length of HEADER, HEADER, DATA.
QByteArray safetensors(const QByteArray &header, const QByteArray &data = {})
{
    return le64(std::uint64_t(header.size())) + header + data;
}

// LeanTune's smallcnn as make_bad_weights.py writes it: 3 channels, 10 classes.
std::shared_ptr<ClassifierImpl> smallCnn()
{
    QString error;
    std::shared_ptr<ClassifierImpl> model
        = createModel({ QStringLiteral("smallcnn"), 28, 3, 10 }, &error);
    if (!model)
        qWarning("%s", qPrintable(error));
    return model;
}

} // namespace

class TestWeightChecks : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void craftedFileRefused_data();
    void craftedFileRefused();
    void honestFileLoads_data();
    void honestFileLoads();
    void badHeader_data();
    void badHeader();
    void emptyTensorsShareNoBytes();
    void quotesFromTheFileAreShort();
    void integerBufferFromWholeFloats();
    void cliRefusesBeforeWriting_data();
    void cliRefusesBeforeWriting();
    void cliLoadsHonestFile();

private:
    QString file(const QString &name) const { return m_dir.filePath(name); }
    QStringList trainArgs(const QString &weights, const QString &out) const;
    QTemporaryDir m_dir;
    QString m_data;
};

void TestWeightChecks::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QProcess python;
    python.start(QStringLiteral("/usr/bin/python3"),
        { QStringLiteral(LEANTUNE_SOURCE_DIR "/tests/scripts/make_bad_weights.py"), m_dir.path() });
    QVERIFY(python.waitForFinished(120000));
    if (python.exitCode() != 0)
        QSKIP(qPrintable(QStringLiteral("python3-torch is needed (scripts/setup installs it): ")
            + QString::fromUtf8(python.readAllStandardError()).right(300)));
    m_data = m_dir.filePath(QStringLiteral("data"));
    testdata::writeImageFolder(m_data, 10, 2, 28);
}

QStringList TestWeightChecks::trainArgs(const QString &weights, const QString &out) const
{
    return { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
        out, QStringLiteral("--model"), QStringLiteral("smallcnn"), QStringLiteral("--input-size"),
        QStringLiteral("28"), QStringLiteral("--channels"), QStringLiteral("3"),
        QStringLiteral("--epochs"), QStringLiteral("0"), QStringLiteral("--no-history"),
        QStringLiteral("--init"), weights };
}

void TestWeightChecks::craftedFileRefused_data()
{
    QTest::addColumn<QString>("weights");
    QTest::addColumn<QString>("tensor");
    QTest::addColumn<QString>("expected");
    for (const char *ext : { ".pth", ".safetensors" }) {
        const QString e = QLatin1String(ext);
        QTest::addRow("float64 1e300 (%s)", ext)
            << QLatin1String("f64-1e300") + e << "conv1.weight"
            << "NaN or infinite values as float32 (float64 in the file)";
        QTest::addRow("NaN (%s)", ext) << QLatin1String("nan") + e << "fc2.weight"
                                       << "NaN or infinite values";
        QTest::addRow("int64 weights (%s)", ext)
            << QLatin1String("int64") + e << "conv2.weight"
            << "is int64 in the file, the model needs floating-point values (float32)";
        QTest::addRow("negative running_var (%s)", ext)
            << QLatin1String("negative-var") + e << "bn2.running_var"
            << "negative values";
    }
    QTest::newRow("overlapping data_offsets") << "overlap.safetensors"
                                              << "bn1.bias"
                                              << "share bytes of the file";
    QTest::newRow("fractional shape") << "fractional-shape.safetensors"
                                      << "'bn3.weight'"
                                      << "bad shape [16.7]";
    QTest::newRow("negative shape") << "negative-shape.safetensors"
                                    << "'bn3.weight'"
                                    << "bad shape [-4,-4]";
    QTest::newRow("data_offsets past the end") << "outside.safetensors"
                                               << "'fc2.bias'"
                                               << "outside the file's";
    QTest::newRow("data_offsets of the wrong size") << "wrong-size.safetensors"
                                                    << "'bn3.bias'"
                                                    << "spanning 68 bytes";
}

// Read and applied as `train --init` does: refused with one line naming the tensor, and the model
// keeps its own weights.
void TestWeightChecks::craftedFileRefused()
{
    QFETCH(QString, weights);
    QFETCH(QString, tensor);
    QFETCH(QString, expected);
    std::shared_ptr<ClassifierImpl> model = smallCnn();
    QVERIFY(model);
    const torch::Tensor before = model->named_parameters()["conv1.weight"].clone();
    QString error;
    const std::optional<InitWeights> w = readInitWeights(file(weights), &error);
    const bool applied = w
        && applyInitWeights(
            *w, file(weights), *model, [](const QString &) {}, &error);
    QVERIFY(!applied);
    QVERIFY2(error.contains(tensor) && error.contains(expected), qPrintable(error));
    QVERIFY2(!error.contains(QLatin1Char('\n')), qPrintable(error));
    QVERIFY(torch::equal(before, model->named_parameters()["conv1.weight"]));
}

void TestWeightChecks::honestFileLoads_data()
{
    QTest::addColumn<QString>("weights");
    QTest::newRow("state_dict") << "good.pth";
    QTest::newRow("safetensors") << "good.safetensors";
    QTest::newRow("float64 safetensors") << "good-f64.safetensors";
}

// A torchvision-style file loads whole, float64 values converted to the model's float32.
void TestWeightChecks::honestFileLoads()
{
    QFETCH(QString, weights);
    std::shared_ptr<ClassifierImpl> model = smallCnn();
    QVERIFY(model);
    QString error;
    const std::optional<InitWeights> w = readInitWeights(file(weights), &error);
    QVERIFY2(w, qPrintable(error));
    QVERIFY2(applyInitWeights(
                 *w, file(weights), *model, [](const QString &) {}, &error),
        qPrintable(error));
    std::map<std::string, torch::Tensor> loaded(w->tensors.begin(), w->tensors.end());
    for (const auto &[name, t] : namedTensorsOf(*model)) {
        QVERIFY2(loaded.count(name), name.c_str());
        QVERIFY2(torch::equal(t, loaded[name].to(t.scalar_type())), name.c_str());
    }
    QVERIFY(model->named_buffers()["bn2.running_var"].min().item<float>() >= 0.5f);
}

void TestWeightChecks::badHeader_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    const auto one = [](const QByteArray &entry, const QByteArray &data = QByteArray(4, '\0')) {
        return safetensors("{\"w\":" + entry + "}", data);
    };
    QTest::newRow("nested 5000 deep")
        << safetensors("{\"w\":" + QByteArray(5000, '[') + QByteArray(5000, ']') + "}")
        << "nested deeper than the format's 3 levels";
    QByteArray many = "{";
    for (int k = 0; k < 70000; ++k)
        many += "\"t" + QByteArray::number(k)
            + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},";
    many.back() = '}';
    QTest::newRow("70000 tensors") << safetensors(many) << "names more than 65536 tensors";
    QTest::newRow("17 MiB header")
        << le64(17 << 20) + QByteArray(17 << 20, ' ') << "over the limit of 16 MiB";
    QTest::newRow("header past the end")
        << QByteArray("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10) << "larger than the file";
    QTest::newRow("no header") << QByteArray("\x01\x00", 2) << "too short";
    QTest::newRow("not JSON") << safetensors("{\"w\": nul}") << "not JSON";
    QTest::newRow("an array") << safetensors("[]") << "not a JSON object";
    QTest::newRow("no tensors") << safetensors("{\"__metadata__\":{\"a\":\"b\"}}")
                                << "holds no tensors";
    QTest::newRow("entry not an object") << one("[1]") << "'w' is not a {dtype";
    QTest::newRow("unknown dtype")
        << one("{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}")
        << "'w' has an unsupported dtype \"F8_E4M3\"";
    QTest::newRow("shape of strings")
        << one("{\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]}")
        << "'w' has a bad shape [\"4\"]";
    QTest::newRow("shape 2^40") << one(
        "{\"dtype\":\"U8\",\"shape\":[1099511627776,0],\"data_offsets\":[0,0]}")
                                << "'w' has a bad shape";
    QTest::newRow("shape overflows 64 bits") << one(
        "{\"dtype\":\"U8\",\"shape\":[1099511627775,1099511627775,1099511627775],"
        "\"data_offsets\":[0,4]}") << "'w' has a bad shape";
    QTest::newRow("empty, but strides past 2^63") << one(
        "{\"dtype\":\"U8\",\"shape\":[549755813888,549755813888,0],"
        "\"data_offsets\":[0,0]}") << "'w' has a bad shape";
    QTest::newRow("9 dimensions") << one(
        "{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,4],\"data_offsets\":[0,4]}")
                                  << "'w' has a bad shape";
    QTest::newRow("fractional data_offsets")
        << one("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4.5]}")
        << "'w' has bad data_offsets [0,4.5]";
    QTest::newRow("negative data_offsets")
        << one("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}")
        << "'w' has bad data_offsets";
    QTest::newRow("data_offsets backwards")
        << one("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]}")
        << "'w' has bad data_offsets";
    QTest::newRow("one data_offset") << one("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4]}")
                                     << "'w' has bad data_offsets";
    QTest::newRow("bytes too few for the shape")
        << one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,4]}")
        << "spanning 4 bytes, but \"F32\" of shape [4] takes 16";
    QTest::newRow("bool of 2") << one("{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}",
        QByteArray("\x00\x01\x02\x00", 4))
                               << "'w' has BOOL bytes other than 0 and 1";
    QTest::newRow("ranges overlap by a byte") << safetensors(
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
        QByteArray(4, '\0')) << "tensors 'a' and 'b' share bytes";
}

// parseSafetensors() refuses each malformed header with one line saying what is wrong.
void TestWeightChecks::badHeader()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!parseSafetensors(bytes, &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY2(!error.contains(QLatin1Char('\n')) && error.size() < 300, qPrintable(error));
}

// Tensors with no elements hold no bytes, so they may sit at any offset, and a scalar's shape is
// [].
void TestWeightChecks::emptyTensorsShareNoBytes()
{
    QString error;
    const std::optional<NamedTensors> t = parseSafetensors(
        safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                    "\"__metadata__\":{\"format\":\"pt\"}}",
            QByteArray("\x00\x00\x80\x3f", 4)),
        &error);
    QVERIFY2(t, qPrintable(error));
    QCOMPARE(t->size(), std::size_t(3));
    QCOMPARE(t->at(0).second.sizes().vec(), (std::vector<std::int64_t> { 0, 3 }));
    QCOMPARE(t->at(1).second.dim(), 0);
    QCOMPARE(t->at(1).second.item<float>(), 1.0f);
}

// A name or value from the file appears in a message at most 80 characters long and on one line,
// from the reader and from the loader.
void TestWeightChecks::quotesFromTheFileAreShort()
{
    const QByteArray name = "line1\\nline2" + QByteArray(10000, 'n'); // "\n" in JSON
    QString error;
    QVERIFY(!parseSafetensors(
        safetensors("{\"" + name + "\":{\"dtype\":\"" + QByteArray(10000, 'd') + "\"}}"), &error));
    QVERIFY2(error.startsWith(QLatin1String("tensor 'line1?line2nnn")), qPrintable(error));
    QVERIFY2(error.size() < 250 && error.count(QChar(0x2026)) == 2, qPrintable(error));

    std::shared_ptr<ClassifierImpl> model = smallCnn();
    QVERIFY(model);
    NamedTensors tensors = namedTensorsOf(*model);
    tensors.emplace_back("\r\n" + std::string(5000, 'x'), torch::zeros({ 1 }));
    QVERIFY(!loadNamedTensors(*model, tensors, nullptr, &error));
    QVERIFY2(error.contains(QLatin1String("unexpected ??xxx")), qPrintable(error));
    QVERIFY2(error.size() < 250 && !error.contains(QLatin1Char('\n')), qPrintable(error));
}

// num_batches_tracked stored as float (every tensor made half by a script) loads when its values
// are whole; 7.5 is refused naming the tensor, and so is a bool.
void TestWeightChecks::integerBufferFromWholeFloats()
{
    std::shared_ptr<ClassifierImpl> model = smallCnn();
    QVERIFY(model);
    NamedTensors tensors;
    for (const auto &[name, t] : namedTensorsOf(*model))
        tensors.emplace_back(name, t.clone());
    const auto load = [&](const torch::Tensor &count, QString *error) {
        NamedTensors with = tensors;
        for (auto &[name, t] : with)
            if (name == "bn1.num_batches_tracked")
                t = count;
        return loadNamedTensors(*model, with, nullptr, error);
    };
    QString error;
    QVERIFY2(load(torch::full({}, 7.0, torch::kHalf), &error), qPrintable(error));
    QCOMPARE(model->named_buffers()["bn1.num_batches_tracked"].item<std::int64_t>(), 7);
    QVERIFY(!load(torch::full({}, 7.5, torch::kHalf), &error));
    QVERIFY2(error.contains(QLatin1String(
                 "bn1.num_batches_tracked is float16 with fractions in the file, the model needs "
                 "integers (int64)")),
        qPrintable(error));
    QVERIFY(!load(torch::full({}, true, torch::kBool), &error));
    QVERIFY2(error.contains(QLatin1String("bn1.num_batches_tracked is bool in the file")),
        qPrintable(error));
}

void TestWeightChecks::cliRefusesBeforeWriting_data()
{
    QTest::addColumn<QString>("weights");
    QTest::addColumn<QString>("expected");
    QTest::newRow("float64 1e300 state_dict")
        << "f64-1e300.pth"
        << "conv1.weight has NaN or infinite values as float32";
    QTest::newRow("overlapping safetensors") << "overlap.safetensors"
                                             << "share bytes of the file";
}

// `train --init BAD --epochs 0` ends with exit 1 and one error line, before writing a model.
void TestWeightChecks::cliRefusesBeforeWriting()
{
    QFETCH(QString, weights);
    QFETCH(QString, expected);
    const QString out = m_dir.filePath(QStringLiteral("run-") + weights);
    const testcli::Result r = testcli::runCli(trainArgs(file(weights), out));
    QVERIFY2(r.exitCode == 1, qPrintable(r.err));
    QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    QVERIFY2(r.err.trimmed().count(QLatin1Char('\n')) < 3, qPrintable(r.err));
    for (const char *written : { "config.json", "model.pt", "checkpoints" })
        QVERIFY2(!QFileInfo::exists(QDir(out).filePath(QLatin1String(written))), written);
}

// The honest safetensors file through the same command: the run writes its model.
void TestWeightChecks::cliLoadsHonestFile()
{
    const QString out = m_dir.filePath(QStringLiteral("run-good"));
    const testcli::Result r
        = testcli::runCli(trainArgs(file(QStringLiteral("good.safetensors")), out));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY(QFileInfo::exists(QDir(out).filePath(QStringLiteral("model.pt"))));
}

QTEST_GUILESS_MAIN(TestWeightChecks)
#include "tst_weightchecks.moc"
