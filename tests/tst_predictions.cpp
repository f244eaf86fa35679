// Per-image predictions: the predictions.csv file (round trip, malformed files), the files a run
// writes for its test and validation passes, evaluate --predictions, predict, and ONNX evaluation.

#include "clirunner.h"
#include "testdata.h"
#include "metrics/predictions.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using leantune::Prediction;
using leantune::testcli::Result;
using leantune::testcli::runCli;

namespace {

QString firstLine(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(f.readLine()).trimmed();
}

// ONNX BYTES without their metadata_props (ModelProto field 14), every other field as it was.
QByteArray withoutMetadata(const QByteArray &bytes)
{
    QByteArray out;
    qsizetype pos = 0;
    const auto varint = [&bytes, &pos] {
        quint64 v = 0;
        for (int shift = 0; pos < bytes.size(); shift += 7) {
            const auto b = quint8(bytes[pos++]);
            v |= quint64(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        return v;
    };
    while (pos < bytes.size()) {
        const qsizetype start = pos;
        const quint64 key = varint();
        switch (key & 7) {
        case 0:
            varint();
            break;
        case 1:
            pos += 8;
            break;
        case 5:
            pos += 4;
            break;
        default: {
            const quint64 length = varint();
            pos += qsizetype(length);
        }
        }
        if ((key >> 3) != 14)
            out += bytes.mid(start, pos - start);
    }
    return out;
}

QJsonObject jsonOf(const Result &r)
{
    return QJsonDocument::fromJson(r.out.toUtf8()).object();
}

} // namespace

class TestPredictions : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_train, m_val, m_test, m_twoClasses;
    QString m_runTest; // trained with --test: predictions.csv and predictions-val.csv
    QString m_runVal; // trained with --val only: predictions-val.csv

    QString path(const QString &name) const { return m_dir.filePath(name); }

    Result train(const QString &out, const QStringList &extra) const
    {
        return runCli(
            QStringList { QStringLiteral("train"), QStringLiteral("--data"), m_train,
                QStringLiteral("--out"), out, QStringLiteral("--input-size"), QStringLiteral("28"),
                QStringLiteral("--epochs"), QStringLiteral("2"), QStringLiteral("--batch-size"),
                QStringLiteral("16"), QStringLiteral("--device"), QStringLiteral("cpu"),
                QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--no-history") }
            + extra);
    }

    static std::optional<leantune::PredictionsFile> read(const QString &file)
    {
        QString error;
        std::optional<leantune::PredictionsFile> f = leantune::readPredictions(file, &error);
        if (!f)
            qWarning().noquote() << error;
        return f;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_train = path(QStringLiteral("train"));
        m_val = path(QStringLiteral("val"));
        m_test = path(QStringLiteral("test"));
        m_twoClasses = path(QStringLiteral("two"));
        leantune::testdata::writeImageFolder(m_train, 3, 30, 16, 1);
        leantune::testdata::writeImageFolder(m_val, 3, 4, 16, 2);
        leantune::testdata::writeImageFolder(m_test, 3, 10, 16, 3);
        leantune::testdata::writeImageFolder(m_twoClasses, 2, 3, 16, 4);
        // 28 px: the exported graph of smallcnn needs a map side that is a multiple of 7.
        m_runTest = path(QStringLiteral("run-test"));
        m_runVal = path(QStringLiteral("run-val"));
        const Result a = train(m_runTest, { QStringLiteral("--test"), m_test });
        QVERIFY2(a.exitCode == 0, qPrintable(a.err));
        const Result b = train(m_runVal, { QStringLiteral("--val"), m_val });
        QVERIFY2(b.exitCode == 0, qPrintable(b.err));
    }

    void fileRoundTripsWithQuotedFields()
    {
        QVector<Prediction> rows(2);
        rows[0].path = QStringLiteral("/data/a,b/\"quoted\" image.png");
        rows[0].label = QStringLiteral("cat, tabby");
        rows[0].predicted = QStringLiteral("dog");
        rows[0].confidence = 0.625;
        rows[0].loss = 1.25;
        rows[0].top = { { QStringLiteral("dog"), 0.625 }, { QStringLiteral("cat, tabby"), 0.25 } };
        rows[0].probabilities = { 0.25, 0.625, 0.125 };
        rows[1].path = QStringLiteral("/data/plain.png");
        rows[1].predicted = QStringLiteral("cat, tabby"); // no label: the loss stays empty
        rows[1].confidence = 0.5;
        rows[1].top = { { QStringLiteral("cat, tabby"), 0.5 }, { QStringLiteral("bird"), 0.3 } };
        rows[1].probabilities = { 0.5, 0.2, 0.3 };
        const QStringList classes { QStringLiteral("cat, tabby"), QStringLiteral("dog"),
            QStringLiteral("bird") };
        const QString file = path(QStringLiteral("roundtrip.csv"));
        QString error;
        QVERIFY2(leantune::writePredictions(file, rows, 2, classes, &error), qPrintable(error));
        QCOMPARE(firstLine(file),
            QStringLiteral("path,label,predicted,confidence,loss,top1,top1_p,top2,top2_p,"
                           "\"p:cat, tabby\",p:dog,p:bird"));
        const std::optional<leantune::PredictionsFile> back = read(file);
        QVERIFY(back);
        QCOMPARE(back->topK, 2);
        QCOMPARE(back->probabilityClasses, classes);
        QCOMPARE(back->rows.size(), 2);
        for (int i = 0; i < 2; ++i) {
            const Prediction &a = rows[i], &b = back->rows[i];
            QCOMPARE(b.path, a.path);
            QCOMPARE(b.label, a.label);
            QCOMPARE(b.predicted, a.predicted);
            QCOMPARE(b.confidence, a.confidence);
            QCOMPARE(std::isnan(b.loss), std::isnan(a.loss));
            if (!std::isnan(a.loss))
                QCOMPARE(b.loss, a.loss);
            QCOMPARE(b.top, a.top);
            QCOMPARE(b.probabilities, a.probabilities);
        }
    }

    void writingRefusesShortRowsAndUnwritablePaths()
    {
        QVector<Prediction> rows(1);
        rows[0].path = QStringLiteral("/data/a.png");
        rows[0].top = { { QStringLiteral("a"), 1.0 } };
        QString error;
        const QString file = path(QStringLiteral("short.csv"));
        QVERIFY(!leantune::writePredictions(file, rows, 2, {}, &error));
        QVERIFY2(error.contains(QStringLiteral("image 1 (/data/a.png) has 1 top classes")),
            qPrintable(error));
        QVERIFY(!QFileInfo::exists(file)); // nothing half-written is left
        QVERIFY(!leantune::writePredictions(
            path(QStringLiteral("no/such/folder/p.csv")), rows, 1, {}, &error));
        QVERIFY2(error.startsWith(QStringLiteral("cannot write ")), qPrintable(error));
    }

    void malformedFilesAreRefusedWithTheLine_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expected");
        const QByteArray header = "path,label,predicted,confidence,loss,top1,top1_p\n";
        QTest::newRow("empty") << QByteArray() << QStringLiteral("line 1: the file is empty");
        QTest::newRow("foreign header")
            << QByteArray("file,class\n") << QStringLiteral("line 1: the header must begin with");
        QTest::newRow("top columns out of order")
            << QByteArray("path,label,predicted,confidence,loss,top2,top2_p\n")
            << QStringLiteral("line 1: column 6 is 'top2'");
        QTest::newRow("missing field") << header + "/a.png,x,x,0.5,0.7,x\n"
                                       << QStringLiteral("line 2: 6 fields, the header has 7");
        QTest::newRow("bad number")
            << header + "/a.png,x,x,0.5,0.7,x,0.5\n/b.png,x,x,high,0.7,x,0.5\n"
            << QStringLiteral("line 3: confidence 'high' is not a number");
        QTest::newRow("missing loss with a label") << header
                + "/a.png,x,x,0.5,,x,0.5\n" << QStringLiteral("line 2: loss '' is not a number");
        QTest::newRow("open quote") << header + "\"/a.png,x,x,0.5,0.7,x,0.5\n"
                                    << QStringLiteral("line 2: a quote that is never closed");
    }
    void malformedFilesAreRefusedWithTheLine()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, expected);
        const QString file = path(QStringLiteral("bad.csv"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(content);
        f.close();
        QString error;
        QVERIFY(!leantune::readPredictions(file, &error));
        QVERIFY2(error.startsWith(file + QLatin1Char(' ')) && error.contains(expected),
            qPrintable(error));
    }

    void aRunWithATestSetKeepsItsPredictions()
    {
        const QString header = QStringLiteral(
            "path,label,predicted,confidence,loss,top1,top1_p,top2,top2_p,top3,top3_p");
        const QString file = QDir(m_runTest).filePath(QStringLiteral("predictions.csv"));
        QCOMPARE(firstLine(file), header);
        const std::optional<leantune::PredictionsFile> test = read(file);
        QVERIFY(test);
        QCOMPARE(test->rows.size(), 30); // one row per test image
        QSet<QString> paths;
        for (const Prediction &p : test->rows) {
            QVERIFY2(
                QFileInfo(p.path).isAbsolute() && QFileInfo::exists(p.path), qPrintable(p.path));
            QVERIFY(p.path.startsWith(QDir(m_test).absolutePath()));
            QCOMPARE(p.label, QFileInfo(p.path).dir().dirName());
            QCOMPARE(p.predicted, p.top.front().first);
            QCOMPARE(p.confidence, p.top.front().second);
            QVERIFY(p.top[0].second >= p.top[1].second && p.top[1].second >= p.top[2].second);
            double labelP = -1.0;
            for (const auto &t : p.top)
                if (t.first == p.label)
                    labelP = t.second;
            QVERIFY(labelP > 0.0); // three classes: the label is among the top 3
            QVERIFY2(std::abs(p.loss + std::log(labelP)) < 1e-3, qPrintable(p.path));
            paths.insert(p.path);
        }
        QCOMPARE(paths.size(), 30);
        // The last validation pass, from the split of the training folder.
        QCOMPARE(
            firstLine(QDir(m_runTest).filePath(QStringLiteral("predictions-val.csv"))), header);
    }

    void aRunWithOnlyValidationKeepsItsLastValidationPass()
    {
        QVERIFY(!QFileInfo::exists(QDir(m_runVal).filePath(QStringLiteral("predictions.csv"))));
        const std::optional<leantune::PredictionsFile> val
            = read(QDir(m_runVal).filePath(QStringLiteral("predictions-val.csv")));
        QVERIFY(val);
        QCOMPARE(val->topK, 3);
        QCOMPARE(val->rows.size(), 12);
        for (const Prediction &p : val->rows)
            QVERIFY(p.path.startsWith(QDir(m_val).absolutePath()));
        // The last pass: the trained model (model.pt) evaluated on the same folder gives the same
        // rows.
        const QString again = path(QStringLiteral("val-again.csv"));
        const Result e = runCli({ QStringLiteral("evaluate"), m_runVal, QStringLiteral("--data"),
            m_val, QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--predictions"), again });
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        const std::optional<leantune::PredictionsFile> evaluated = read(again);
        QVERIFY(evaluated && evaluated->rows.size() == 12);
        for (int i = 0; i < 12; ++i) {
            const Prediction &a = val->rows[i], &b = evaluated->rows[i];
            QCOMPARE(a.path, b.path);
            QCOMPARE(a.predicted, b.predicted);
            QVERIFY2(std::abs(a.confidence - b.confidence) < 1e-5, qPrintable(a.path));
            QVERIFY2(std::abs(a.loss - b.loss) < 1e-4, qPrintable(a.path));
        }
    }

    void evaluateWritesPredictionsAndPerClassFigures()
    {
        const QString file = path(QStringLiteral("eval-predictions.csv"));
        const Result e = runCli({ QStringLiteral("evaluate"), m_runTest, QStringLiteral("--data"),
            m_test, QStringLiteral("--json"), QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--predictions"), file, QStringLiteral("--all-probabilities") });
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        const QJsonObject o = jsonOf(e);
        QCOMPARE(o.value(QStringLiteral("top_k")).toInt(), 3);
        QCOMPARE(o.value(QStringLiteral("top5_accuracy")).toDouble(), 1.0);
        QVERIFY(o.contains(QStringLiteral("macro_f1")));
        const QJsonArray perClass = o.value(QStringLiteral("per_class")).toArray();
        QCOMPARE(perClass.size(), 3);
        for (const QJsonValue &v : perClass) {
            const QJsonObject c = v.toObject();
            QCOMPARE(c.value(QStringLiteral("support")).toInt(), 10);
            QCOMPARE(c.value(QStringLiteral("recall")).toDouble(),
                c.value(QStringLiteral("accuracy")).toDouble());
            QVERIFY(c.contains(QStringLiteral("precision")) && c.contains(QStringLiteral("f1")));
        }
        const std::optional<leantune::PredictionsFile> rows = read(file);
        QVERIFY(rows);
        QCOMPARE(rows->rows.size(), 30);
        QCOMPARE(rows->probabilityClasses,
            (QStringList {
                QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") }));
        int correct = 0;
        for (const Prediction &p : rows->rows) {
            correct += p.predicted == p.label;
            // The p:CLASS columns: a distribution whose entries are the top columns' and the
            // loss's.
            double sum = 0.0;
            for (double v : p.probabilities)
                sum += v;
            QVERIFY2(std::abs(sum - 1.0) < 1e-4, qPrintable(p.path));
            const int predicted = rows->probabilityClasses.indexOf(p.predicted);
            const int label = rows->probabilityClasses.indexOf(p.label);
            QVERIFY(predicted >= 0 && label >= 0);
            QVERIFY2(
                std::abs(p.probabilities[predicted] - p.confidence) < 1e-6, qPrintable(p.path));
            QVERIFY2(
                std::abs(p.probabilities[label] - std::exp(-p.loss)) < 1e-4, qPrintable(p.path));
        }
        QCOMPARE(double(correct) / 30.0, o.value(QStringLiteral("accuracy")).toDouble());
    }

    void predictMatchesEvaluatesRow()
    {
        const QString file = path(QStringLiteral("eval-for-predict.csv"));
        const Result e = runCli({ QStringLiteral("evaluate"), m_runTest, QStringLiteral("--data"),
            m_test, QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--predictions"), file });
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        const std::optional<leantune::PredictionsFile> rows = read(file);
        QVERIFY(rows && rows->rows.size() == 30);
        const Prediction &a = rows->rows[3], &b = rows->rows[17];
        const Result p = runCli({ QStringLiteral("predict"), m_runTest, a.path, b.path,
            QStringLiteral("--json"), QStringLiteral("--top"), QStringLiteral("3"),
            QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(p.exitCode == 0, qPrintable(p.err));
        const QJsonArray list = jsonOf(p).value(QStringLiteral("predictions")).toArray();
        QCOMPARE(list.size(), 2);
        const Prediction *expected[] = { &a, &b };
        for (int i = 0; i < 2; ++i) {
            const QJsonObject o = list[i].toObject();
            QCOMPARE(o.value(QStringLiteral("path")).toString(), expected[i]->path);
            QCOMPARE(o.value(QStringLiteral("predicted")).toString(), expected[i]->predicted);
            const QJsonArray top = o.value(QStringLiteral("top")).toArray();
            QCOMPARE(top.size(), 3);
            for (int j = 0; j < 3; ++j) {
                const QJsonObject t = top[j].toObject();
                QCOMPARE(t.value(QStringLiteral("class")).toString(), expected[i]->top[j].first);
                QVERIFY2(
                    std::abs(t.value(QStringLiteral("p")).toDouble() - expected[i]->top[j].second)
                        < 1e-5,
                    qPrintable(p.out));
            }
        }
        // The text form: the image, then one class and probability a line.
        const Result text
            = runCli({ QStringLiteral("predict"), m_runTest, a.path, QStringLiteral("--top"),
                QStringLiteral("1"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(text.exitCode == 0, qPrintable(text.err));
        QCOMPARE(text.out.trimmed().split(QLatin1Char('\n')).size(), 2);
        QVERIFY(text.out.contains(a.predicted));
    }

    void onnxExportsEvaluateLikeTheirRun()
    {
        const QString fp32 = path(QStringLiteral("model.onnx"));
        const QString int8 = path(QStringLiteral("model-int8.onnx"));
        for (const auto &[out, quantize] : { std::pair { fp32, QStringLiteral("none") },
                 std::pair { int8, QStringLiteral("int8") } }) {
            const Result x = runCli({ QStringLiteral("export"), m_runTest,
                QStringLiteral("--format"), QStringLiteral("onnx"), QStringLiteral("--quantize"),
                quantize, QStringLiteral("--out"), out, QStringLiteral("--data"), m_test });
            QVERIFY2(x.exitCode == 0, qPrintable(x.err));
        }
        const QStringList common { QStringLiteral("--data"), m_test, QStringLiteral("--json"),
            QStringLiteral("--device"), QStringLiteral("cpu") };
        const QString torchFile = path(QStringLiteral("torch-predictions.csv"));
        const Result run = runCli(QStringList { QStringLiteral("evaluate"), m_runTest } + common
            + QStringList { QStringLiteral("--predictions"), torchFile });
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const double accuracy = jsonOf(run).value(QStringLiteral("accuracy")).toDouble();
        const QString file = path(QStringLiteral("onnx-predictions.csv"));
        const Result onnx = runCli(QStringList { QStringLiteral("evaluate"), fp32 } + common
            + QStringList { QStringLiteral("--predictions"), file });
        QVERIFY2(onnx.exitCode == 0, qPrintable(onnx.err));
        QCOMPARE(jsonOf(onnx).value(QStringLiteral("images")).toInt(), 30);
        QVERIFY2(
            std::abs(jsonOf(onnx).value(QStringLiteral("accuracy")).toDouble() - accuracy) < 0.001,
            qPrintable(onnx.out));
        const std::optional<leantune::PredictionsFile> rows = read(file);
        QVERIFY(rows && rows->rows.size() == 30);
        // Image by image, OpenCV DNN's probabilities are LibTorch's.
        const std::optional<leantune::PredictionsFile> torchRows = read(torchFile);
        QVERIFY(torchRows && torchRows->rows.size() == 30);
        for (int i = 0; i < 30; ++i) {
            QCOMPARE(rows->rows[i].path, torchRows->rows[i].path);
            QVERIFY2(
                std::abs(rows->rows[i].top[0].second - torchRows->rows[i].top[0].second) < 1e-4,
                qPrintable(rows->rows[i].path));
        }
        const QString int8File = path(QStringLiteral("int8-predictions.csv"));
        const Result q = runCli(QStringList { QStringLiteral("evaluate"), int8 } + common
            + QStringList { QStringLiteral("--predictions"), int8File });
        QVERIFY2(q.exitCode == 0, qPrintable(q.err));
        QCOMPARE(jsonOf(q).value(QStringLiteral("images")).toInt(), 30);
        // int8 weights move a probability by little: at most three of the 30 images change.
        QVERIFY2(
            std::abs(jsonOf(q).value(QStringLiteral("accuracy")).toDouble() - accuracy) < 0.101,
            qPrintable(q.out));
        // The int8 export's per-class figures against the checkpoint's: each class's accuracy
        // difference is the one its images' predictions give.
        const QJsonArray classesInt8 = jsonOf(q).value(QStringLiteral("per_class")).toArray();
        const QJsonArray classesRun = jsonOf(run).value(QStringLiteral("per_class")).toArray();
        QCOMPARE(classesInt8.size(), 3);
        QCOMPARE(classesRun.size(), 3);
        const std::optional<leantune::PredictionsFile> int8Rows = read(int8File);
        QVERIFY(int8Rows && int8Rows->rows.size() == 30);
        for (int c = 0; c < 3; ++c) {
            const QString name = classesRun[c].toObject().value(QStringLiteral("name")).toString();
            QCOMPARE(classesInt8[c].toObject().value(QStringLiteral("name")).toString(), name);
            int support = 0, gained = 0;
            for (int i = 0; i < 30; ++i) {
                if (torchRows->rows[i].label != name)
                    continue;
                QCOMPARE(int8Rows->rows[i].path, torchRows->rows[i].path);
                ++support;
                gained += int(int8Rows->rows[i].predicted == name)
                    - int(torchRows->rows[i].predicted == name);
            }
            QCOMPARE(support, 10);
            const double difference
                = classesInt8[c].toObject().value(QStringLiteral("accuracy")).toDouble()
                - classesRun[c].toObject().value(QStringLiteral("accuracy")).toDouble();
            QVERIFY2(std::abs(difference - double(gained) / support) < 1e-9,
                qPrintable(QStringLiteral("%1: %2 vs %3 of %4 images")
                               .arg(name)
                               .arg(difference)
                               .arg(gained)
                               .arg(support)));
        }
        // Without metadata, the run folder beside the file describes it; with neither, the file is
        // refused naming what is missing.
        QFile exported(fp32);
        QVERIFY(exported.open(QIODevice::ReadOnly));
        const QByteArray bare = withoutMetadata(exported.readAll());
        QVERIFY(!bare.contains("class_names"));
        const QString inRun = QDir(m_runTest).filePath(QStringLiteral("bare.onnx"));
        const QString alone = path(QStringLiteral("alone/bare.onnx"));
        QDir().mkpath(path(QStringLiteral("alone")));
        for (const QString &target : { inRun, alone }) {
            QFile f(target);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(bare);
        }
        const Result besideRun = runCli(QStringList { QStringLiteral("evaluate"), inRun } + common);
        QVERIFY2(besideRun.exitCode == 0, qPrintable(besideRun.err));
        QCOMPARE(jsonOf(besideRun).value(QStringLiteral("accuracy")).toDouble(),
            jsonOf(onnx).value(QStringLiteral("accuracy")).toDouble());
        QFile::remove(inRun);
        const Result refused = runCli(QStringList { QStringLiteral("evaluate"), alone } + common);
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains(
                     QStringLiteral("carries no class_names, input_size, input_channels metadata "
                                    "and no run folder (config.json) is beside it")),
            qPrintable(refused.err));
        // predict takes the export too.
        const Result p = runCli(
            { QStringLiteral("predict"), fp32, rows->rows[0].path, QStringLiteral("--json") });
        QVERIFY2(p.exitCode == 0, qPrintable(p.err));
        QCOMPARE(jsonOf(p)
                     .value(QStringLiteral("predictions"))
                     .toArray()[0]
                     .toObject()
                     .value(QStringLiteral("predicted"))
                     .toString(),
            rows->rows[0].predicted);
    }

    void badInputsGiveOneLineErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        const QString notImage = path(QStringLiteral("not-an-image.png"));
        QFile f(notImage);
        if (f.open(QIODevice::WriteOnly))
            f.write("this is text, not a PNG");
        f.close();
        // A run folder whose training never wrote a model: its config.json alone.
        const QString noModel = path(QStringLiteral("run-without-model"));
        QDir().mkpath(noModel);
        QFile::copy(QDir(m_runTest).filePath(QStringLiteral("config.json")),
            QDir(noModel).filePath(QStringLiteral("config.json")));
        const QString bare = path(QStringLiteral("bare"));
        QDir().mkpath(bare);
        const QString junk = QDir(bare).filePath(QStringLiteral("junk.onnx"));
        QFile j(junk);
        if (j.open(QIODevice::WriteOnly))
            j.write("not an onnx file");
        j.close();
        const QString image = QDir(m_test).filePath(QStringLiteral("class0/0000.png"));
        QTest::newRow("image that does not decode") << QStringList { QStringLiteral("predict"),
            m_runTest, image, notImage } << QStringLiteral("cannot decode %1").arg(notImage);
        QTest::newRow("missing image") << QStringList { QStringLiteral("predict"), m_runTest,
            path(QStringLiteral("nowhere.png")) }
                                       << QStringLiteral("no such file");
        QTest::newRow("class count differs")
            << QStringList { QStringLiteral("evaluate"), m_runTest, QStringLiteral("--data"),
                   m_twoClasses }
            << QStringLiteral("%1 has 3 classes (class0, class1, class2) but %2 has 2 class "
                              "folders (class0, class1)")
                   .arg(m_runTest, m_twoClasses);
        QTest::newRow("evaluate a run folder without a model")
            << QStringList { QStringLiteral("evaluate"), noModel, QStringLiteral("--data"), m_test }
            << QStringLiteral("has no trained model");
        QTest::newRow("predict with a run folder without a model")
            << QStringList { QStringLiteral("predict"), noModel, image }
            << QStringLiteral("has no trained model");
        QTest::newRow("onnx without metadata or run folder")
            << QStringList { QStringLiteral("evaluate"), junk, QStringLiteral("--data"), m_test }
            << QStringLiteral("carries no class_names, input_size, input_channels metadata");
        QTest::newRow("all probabilities without a file")
            << QStringList { QStringLiteral("evaluate"), m_runTest, QStringLiteral("--data"),
                   m_test, QStringLiteral("--all-probabilities") }
            << QStringLiteral("--all-probabilities needs --predictions FILE");
    }
    void badInputsGiveOneLineErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Result r
            = runCli(args + QStringList { QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(r.exitCode == 1 || r.exitCode == 2, qPrintable(r.out + r.err));
        QVERIFY2(r.err.contains(expected), qPrintable(r.err));
        QCOMPARE(r.err.trimmed().count(QLatin1Char('\n')), 0);
        QVERIFY(r.out.isEmpty());
    }

    void predictHasHelp()
    {
        const Result r = runCli({ QStringLiteral("predict"), QStringLiteral("--help") });
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(
            r.out.startsWith(QStringLiteral("Usage: leantune-cli predict")), qPrintable(r.out));
        QVERIFY(r.out.contains(QStringLiteral("--top")));
    }
};

QTEST_GUILESS_MAIN(TestPredictions)
#include "tst_predictions.moc"
