// exportRun and `leantune-cli export` on a small run folder: ONNX (fp32, int8, structured) and
// LibTorch files that re-load and agree with the trained model, a size report whose figures add up,
// and clear errors with no file left behind for bad input.

#include "testdata.h"

#include "export/exporter.h"
#include "export/sizereport.h"
#include "export/topagreement.h"
#include "metrics/exportreports.h"
#include "metrics/memoryprobe.h"
#include "model/modelzoo_p.h"
#include "prune/magnitudepruner_p.h"
#include "train/checkpoint_p.h"
#include "train/evaluator.h"
#include "train/rundir.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <map>

using namespace leantune;

namespace {

// A run folder holding a smallcnn (28 px, 3 classes) whose weights are channel-pruned to half
// width, without training (export does not care how good the weights are, only that it reproduces
// them).
bool writeRun(
    const QString &dir, const QString &data, bool channelPruned, QString *error, int inputSize = 28)
{
    RunInfo info;
    info.runDir = dir;
    info.config.dataDir = data;
    info.config.testDir = data;
    info.config.outDir = dir;
    info.config.model = ModelSpec { QStringLiteral("smallcnn"), inputSize, 1, 3 };
    info.classNames
        = { QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") };
    QDir().mkpath(dir);
    if (!writeRunInfo(info, error))
        return false;
    torch::manual_seed(1);
    auto model = createModel(info.config.model, error);
    if (!model)
        return false;
    if (channelPruned) {
        MagnitudePruner pruner(*model,
            *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr),
            PruneGranularity::Channel);
        pruner.updateMasks(0.5);
        pruner.applyMasks();
    }
    return writeCheckedFile(info.modelFile(), serializeModule(*model), error);
}

QStringList filesIn(const QString &dir)
{
    return QDir(dir).entryList(QDir::Files | QDir::Hidden);
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data, m_run, m_channelRun, m_outDir;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        testdata::writeImageFolder(m_data, 3, 20, 28, 4);
        m_run = m_dir.filePath(QStringLiteral("run"));
        m_channelRun = m_dir.filePath(QStringLiteral("channelrun"));
        m_outDir = m_dir.filePath(QStringLiteral("out"));
        QDir().mkpath(m_outDir);
        QString error;
        QVERIFY2(writeRun(m_run, m_data, false, &error), qPrintable(error));
        QVERIFY2(writeRun(m_channelRun, m_data, true, &error), qPrintable(error));
    }

    void onnxExportIsVerifiedAndReportsSizes()
    {
        ExportOptions o;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("model.onnx"));
        QVector<double> fractions;
        QString error;
        const auto report = exportRun(m_run, o, &error, [&fractions](double f, const QString &) {
            fractions << f;
            return true;
        });
        QVERIFY2(report, qPrintable(error));
        QVERIFY(QFileInfo::exists(o.outFile));
        QCOMPARE(report->size.fileBytes, QFileInfo(o.outFile).size());
        QCOMPARE(report->images, 60);
        QVERIFY(report->agreement >= 0.995);
        QVERIFY(report->maxAbsLogitDiff < 1e-3);
        QVERIFY(report->runtime.startsWith(QLatin1String("OpenCV DNN")));
        QCOMPARE(report->accuracyAfter, report->accuracyBefore);
        QCOMPARE(report->size.parameters, report->size.denseParameters);
        QCOMPARE(report->size.denseFp32Bytes, 4 * report->size.denseParameters);
        // A dense float32 file is the weights plus a little framing.
        QVERIFY(report->size.fileBytes > report->size.denseFp32Bytes);
        QVERIFY(report->size.fileBytes < report->size.denseFp32Bytes + 8192);
        QVERIFY(report->size.zipBytes > 0 && report->size.zipBytes < report->size.fileBytes);
        QVERIFY(!fractions.isEmpty() && fractions.last() == 1.0);
        QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));
        // The metadata a consumer needs is in the file.
        QFile f(o.outFile);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        for (const char *s : { "class_names", "[\"class0\",\"class1\",\"class2\"]", "input_size",
                 "input_channels", "normalization" })
            QVERIFY2(bytes.contains(s), s);
        const QJsonObject json = report->toJson();
        QCOMPARE(json.value(QLatin1String("size"))
                     .toObject()
                     .value(QLatin1String("file_bytes"))
                     .toInteger(),
            report->size.fileBytes);
        QVERIFY(json.value(QLatin1String("verification"))
                    .toObject()
                    .contains(QLatin1String("max_abs_logit_diff")));
        // Near-ties are counted and said, in the text and the JSON.
        QVERIFY2(
            report->toText().contains(QStringLiteral("%1 near-ties skipped").arg(report->nearTies)),
            qPrintable(report->toText()));
        QCOMPARE(json.value(QLatin1String("verification"))
                     .toObject()
                     .value(QLatin1String("near_ties"))
                     .toObject()
                     .value(QLatin1String("skipped"))
                     .toInt(-1),
            report->nearTies);
    }

    // The top-1 check of verification on logits made by hand: an image whose reference's top two
    // logits are closer than the format's typical error is skipped as a near-tie (and said) even
    // when the file swaps them; the same swap where the reference leads clearly fails, and so
    // does a file whose error is as large as the logits' margins.
    void nearTiesAreSkippedAndClearDisagreementsFail()
    {
        // 59 images on which class 0 leads by 2 and the file is off by 0.05 per logit.
        const float leadRef[] = { 2.0f, 0.0f, -1.0f }, leadOut[] = { 1.95f, 0.05f, -1.0f };
        const TopOneCheck lead = checkTopOne(leadRef, leadOut, 3);
        QVERIFY(lead.agrees);
        QCOMPARE(lead.margin, 2.0);
        QVERIFY(std::abs(lead.error - 0.05) < 1e-6);
        const std::vector<TopOneCheck> agreeing(59, lead);

        // The reference ranks 0.50 over 0.49; off by 0.04, the file ranks them the other way.
        const float tieRef[] = { 0.50f, 0.49f, -1.0f }, tieOut[] = { 0.46f, 0.53f, -1.0f };
        const TopOneCheck tie = checkTopOne(tieRef, tieOut, 3);
        QVERIFY(!tie.agrees);
        QVERIFY(std::abs(tie.margin - 0.01) < 1e-6);
        std::vector<TopOneCheck> checks = agreeing;
        checks.push_back(tie);
        const TopAgreement skipped = judgeTopAgreement(checks, 0.995);
        QVERIFY(skipped.ok);
        QCOMPARE(skipped.images, 60);
        QCOMPARE(skipped.nearTies, 1);
        QCOMPARE(skipped.nearTieFlips, 1);
        QCOMPARE(skipped.disagreements, 0);
        QCOMPARE(skipped.decided(), 59);
        QCOMPARE(skipped.agreement, 1.0);
        QVERIFY(std::abs(skipped.tolerance - 0.1) < 1e-6); // twice the median error

        // The same swap where the reference leads by 2 is a disagreement: 59 of 60 fails 99.5 %.
        const float clearRef[] = { 2.0f, 0.0f, -1.0f }, clearOut[] = { 0.9f, 1.1f, -1.0f };
        const TopOneCheck clear = checkTopOne(clearRef, clearOut, 3);
        QVERIFY(!clear.agrees);
        checks.back() = clear;
        const TopAgreement failed = judgeTopAgreement(checks, 0.995);
        QVERIFY(!failed.ok);
        QCOMPARE(failed.nearTies, 0);
        QCOMPARE(failed.disagreements, 1);
        QVERIFY(failed.agreement < 0.995);

        // A file off by 3 on every image: every margin is a "near-tie", so nothing is decided and
        // the check fails rather than excusing the file.
        const float wrongOut[] = { -1.0f, 3.0f, 2.0f };
        const std::vector<TopOneCheck> wrong(60, checkTopOne(leadRef, wrongOut, 3));
        const TopAgreement broken = judgeTopAgreement(wrong, 0.995);
        QVERIFY(!broken.ok);
        QCOMPARE(broken.nearTies, 60);

        // An exact tie that the file reproduces is decided and agrees (the first maximum wins).
        const float even[] = { 1.0f, 1.0f, 0.0f };
        const TopOneCheck exact = checkTopOne(even, even, 3);
        QVERIFY(exact.agrees);
        QCOMPARE(exact.margin, 0.0);
        QCOMPARE(exact.error, 0.0);
        const TopAgreement same = judgeTopAgreement(std::vector<TopOneCheck>(10, exact), 0.995);
        QVERIFY(same.ok);
        QCOMPARE(same.nearTies, 0);
    }

    void int8ExportIsAboutFourTimesSmaller()
    {
        ExportOptions o;
        o.quantize = ExportQuantization::Int8;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("model-int8.onnx"));
        QString error;
        const auto report = exportRun(m_run, o, &error);
        QVERIFY2(report, qPrintable(error));
        QVERIFY(report->size.fileBytes * 3 < report->size.denseFp32Bytes);
        QVERIFY(report->runtimeAgreement >= 0.995); // OpenCV DNN reproduces the int8 graph
        QVERIFY(report->agreement >= 0.9); // the int8 file against the trained fp32 model
        QCOMPARE(report->dataSet, QStringLiteral("test"));
        QVERIFY(report->toText().contains(QStringLiteral("accuracy on the test set")));
    }

    void previewMatchesTheWrittenSizes()
    {
        ExportOptions o;
        o.quantize = ExportQuantization::Int8;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("preview.onnx"));
        QString error;
        const std::optional<SizeReport> preview = previewExportSize(m_run, o, &error);
        QVERIFY2(preview, qPrintable(error));
        QVERIFY(!QFileInfo::exists(o.outFile)); // a preview writes nothing
        const auto report = exportRun(m_run, o, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(preview->fileBytes, report->size.fileBytes);
        QCOMPARE(preview->zipBytes, report->size.zipBytes);
        QCOMPARE(preview->sparseBytes, report->size.sparseBytes);
        QCOMPARE(preview->parameters, report->size.parameters);
    }

    void structuredExportRemovesPrunedChannels()
    {
        ExportOptions o;
        o.structured = true;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("model-structured.onnx"));
        QString error;
        const auto report = exportRun(m_channelRun, o, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->channelsRemoved, 16 + 32 + 8 + 48);
        QVERIFY(report->size.parameters * 100 <= report->size.denseParameters * 55);
        QCOMPARE(report->size.nonzeroParameters <= report->size.parameters, true);
        QVERIFY(report->agreement >= 0.995);
        QVERIFY(report->size.fileBytes < report->size.denseFp32Bytes / 2);
    }

    void libtorchArchiveReloads()
    {
        ExportOptions o;
        o.format = ExportFormat::LibTorch;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("model.pt"));
        QString error;
        const auto report = exportRun(m_run, o, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->agreement, 1.0);
        QCOMPARE(report->maxAbsLogitDiff, 0.0);
        // A plain torch::save archive: loads into a fresh zoo model.
        QFile f(o.outFile);
        QVERIFY(f.open(QIODevice::ReadOnly));
        auto model = createModel(ModelSpec { QStringLiteral("smallcnn"), 28, 1, 3 }, &error);
        QVERIFY2(loadModule(*model, f.readAll(), &error), qPrintable(error));
    }

    void exportedArchiveEvaluatesLikeItsRun()
    {
        ExportOptions o;
        o.format = ExportFormat::LibTorch;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("standalone.pt"));
        QString error;
        QVERIFY2(exportRun(m_run, o, &error), qPrintable(error));
        // The archive carries the run's description: evaluate needs nothing but the file.
        EvaluateOptions eo;
        eo.device = QStringLiteral("cpu");
        const auto fromRun = evaluateRun(m_run, m_data, eo, &error);
        QVERIFY2(fromRun, qPrintable(error));
        const auto fromFile = evaluateRun(o.outFile, m_data, eo, &error);
        QVERIFY2(fromFile, qPrintable(error));
        QCOMPARE(fromFile->images, 60);
        QCOMPARE(fromFile->classes, fromRun->classes);
        QCOMPARE(fromFile->confusion, fromRun->confusion);
        QCOMPARE(fromFile->loss, fromRun->loss);

        // A file that is no LeanTune export (here: the run's checked model.pt) is refused clearly.
        error.clear();
        QVERIFY(!evaluateRun(QDir(m_run).filePath(QStringLiteral("model.pt")), m_data, eo, &error));
        QVERIFY2(error.contains(QLatin1String("is not a model exported by LeanTune")),
            qPrintable(error));

        // And through the CLI.
        QProcess p;
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("evaluate"), o.outFile, QStringLiteral("--data"), m_data,
                QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--json") });
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QJsonObject json = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
        QCOMPARE(json.value(QLatin1String("images")).toInt(), 60);
    }

    void sizeReportArithmetic()
    {
        SizeReport s;
        s.parameters = 1000;
        s.nonzeroParameters = 200;
        s.denseParameters = 1000;
        s.denseFp32Bytes = 4000;
        s.fileBytes = 4100;
        s.zipBytes = 1000;
        s.sparseBytes = bitmaskEncodedBytes(1000, 200, 4);
        QCOMPARE(s.sparseBytes, 125 + 800);
        QCOMPARE(bitmaskEncodedBytes(9, 0, 1), 2);
        QCOMPARE(s.sparsity(), 0.8);
        QCOMPARE(s.ratio(s.zipBytes), 4.0);
        QCOMPARE(s.ratio(0), 0.0);
        const QJsonObject j = s.toJson();
        QCOMPARE(j.value(QLatin1String("zip_ratio")).toDouble(), 4.0);
        QCOMPARE(j.value(QLatin1String("sparse_bytes")).toInteger(), 925);
        // Deflate: a run of zeros shrinks to almost nothing, random bytes do not shrink.
        QVERIFY(deflatedSize(QByteArray(100000, '\0')) < 200);
        QByteArray noise(100000, '\0');
        std::mt19937 rng(1);
        for (char &c : noise)
            c = char(rng());
        QVERIFY(deflatedSize(noise) > 99000);
    }

    void badInputFailsClearlyWithoutFiles_data()
    {
        QTest::addColumn<QString>("run");
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("quantize");
        QTest::addColumn<QString>("out");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown format") << "run"
                                        << "tflite"
                                        << "none"
                                        << "out/a.onnx"
                                        << "unknown format 'tflite' (choose onnx or libtorch)";
        QTest::newRow("unknown quantization") << "run"
                                              << "onnx"
                                              << "int4"
                                              << "out/b.onnx"
                                              << "unknown quantization 'int4'";
        QTest::newRow("int8 libtorch") << "run"
                                       << "libtorch"
                                       << "int8"
                                       << "out/c.pt"
                                       << "use --format onnx --quantize int8";
        QTest::newRow("run without a model") << "data"
                                             << "onnx"
                                             << "none"
                                             << "out/d.onnx"
                                             << "not a run folder";
        QTest::newRow("missing output folder") << "run"
                                               << "onnx"
                                               << "none"
                                               << "nowhere/e.onnx"
                                               << "does not exist";
        QTest::newRow("output is a folder") << "run"
                                            << "onnx"
                                            << "none"
                                            << "out"
                                            << "is a folder";
    }
    void badInputFailsClearlyWithoutFiles()
    {
        QFETCH(QString, run);
        QFETCH(QString, format);
        QFETCH(QString, quantize);
        QFETCH(QString, out);
        QFETCH(QString, message);
        const QStringList before = filesIn(m_outDir);
        ExportOptions o;
        QString error;
        const bool named = o.setFormat(format, &error) && o.setQuantization(quantize, &error);
        o.outFile = m_dir.filePath(out);
        QVERIFY(!named || !exportRun(m_dir.filePath(run), o, &error));
        QVERIFY2(error.contains(message), qPrintable(error));
        QCOMPARE(filesIn(m_outDir), before);
        QVERIFY(!QFileInfo(o.outFile).isFile());
    }

    // The options' own rules, said once for the command line, the dialog and exportRun().
    void optionsRefuseWhatCannotExport_data()
    {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("quantize");
        QTest::addColumn<bool>("structured");
        QTest::addColumn<int>("limit");
        QTest::addColumn<int>("threads");
        QTest::addColumn<QString>("message"); // empty: the options can export
        QTest::newRow("onnx int8 structured") << "onnx"
                                              << "int8" << true << 0 << 0 << QString();
        QTest::newRow("libtorch") << "libtorch"
                                  << "none" << false << 10 << 2 << QString();
        QTest::newRow("libtorch int8")
            << "libtorch"
            << "int8" << false << 0 << 0 << "use --format onnx --quantize int8";
        QTest::newRow("libtorch structured")
            << "libtorch"
            << "none" << true << 0 << 0 << "--structured rebuilds layers";
        QTest::newRow("negative limit") << "onnx"
                                        << "none" << false << -1 << 0 << "--limit";
        QTest::newRow("negative threads") << "onnx"
                                          << "none" << false << 0 << -2 << "--threads";
    }
    void optionsRefuseWhatCannotExport()
    {
        QFETCH(QString, format);
        QFETCH(QString, quantize);
        QFETCH(bool, structured);
        QFETCH(int, limit);
        QFETCH(int, threads);
        QFETCH(QString, message);
        ExportOptions o;
        QString error;
        QVERIFY(o.setFormat(format, &error) && o.setQuantization(quantize, &error));
        QCOMPARE(enumName(o.format), format);
        QCOMPARE(enumName(o.quantize), quantize);
        o.structured = structured;
        o.limit = limit;
        o.threads = threads;
        o.outFile = QStringLiteral("model.out");
        if (message.isEmpty()) {
            QVERIFY2(o.validate(&error), qPrintable(error));
        } else {
            QVERIFY(!o.validate(&error));
            QVERIFY2(error.contains(message), qPrintable(error));
        }
        o.outFile.clear();
        QVERIFY(!o.validate(&error));
    }

    void runFolderWithoutModelFails()
    {
        const QString empty = m_dir.filePath(QStringLiteral("emptyrun"));
        QDir().mkpath(empty);
        QVERIFY(QFile::copy(QDir(m_run).filePath(QStringLiteral("config.json")),
            QDir(empty).filePath(QStringLiteral("config.json"))));
        ExportOptions o;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("none.onnx"));
        QString error;
        QVERIFY(!exportRun(empty, o, &error));
        QVERIFY2(error.contains(QLatin1String("no trained model")), qPrintable(error));
        QVERIFY(!QFileInfo::exists(o.outFile));
    }

    void verificationImagesAreASeededClassBalancedSample()
    {
        QString error;
        const std::optional<QStringList> a = verificationImages(m_data, 30, &error);
        QVERIFY2(a, qPrintable(error));
        QCOMPARE(a->size(), 30);
        // Evenly across the three classes, and the same images on every call.
        std::map<QString, int> perClass;
        for (const QString &path : *a)
            ++perClass[QFileInfo(path).dir().dirName()];
        QCOMPARE(perClass.size(), std::size_t(3));
        for (const auto &c : perClass)
            QCOMPARE(c.second, 10);
        QCOMPARE(*verificationImages(m_data, 30, &error), *a);
        // 0, or a limit the folder does not reach: every image.
        QCOMPARE(verificationImages(m_data, 0, &error)->size(), 60);
        QCOMPARE(verificationImages(m_data, 2000, &error)->size(), 60);
        QCOMPARE(ExportOptions().limit, 2000);
    }

    void aLimitVerifiesOnASampleAndSaysSo()
    {
        ExportOptions o;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("sampled.onnx"));
        o.limit = 30;
        QString error;
        const auto report = exportRun(m_run, o, &error);
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->images, 30);
        QCOMPARE(report->folderImages, 60);
        QVERIFY(report->sampled);
        QVERIFY2(report->toText().contains(
                     QLatin1String("a class-balanced sample of 30 of the 60 images")),
            qPrintable(report->toText()));
        const QJsonObject v = report->toJson().value(QLatin1String("verification")).toObject();
        QCOMPARE(v.value(QLatin1String("sample")).toString(), QStringLiteral("class-balanced"));
        QCOMPARE(v.value(QLatin1String("folder_images")).toInt(), 60);
    }

    // At 224 px a smallcnn verification step holds tens of MB per image, so a budget a few hundred
    // MB over what the process holds cannot take all 60 images in one batch.
    void aMemoryBudgetBoundsTheVerificationBatch()
    {
        const QString data = m_dir.filePath(QStringLiteral("data224"));
        testdata::writeImageFolder(data, 3, 20, 224, 5);
        const QString run = m_dir.filePath(QStringLiteral("run224"));
        QString error;
        QVERIFY2(writeRun(run, data, false, &error, 224), qPrintable(error));
        ExportOptions o;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("budget.onnx"));
        o.memoryBudgetBytes = hostRssBytes() + (std::int64_t(300) << 20);
        QVector<QString> stages;
        const auto report = exportRun(run, o, &error, [&stages](double, const QString &stage) {
            stages << stage;
            return true;
        });
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->images, 60);
        QCOMPARE(report->memoryBudgetBytes, o.memoryBudgetBytes);
        QVERIFY(report->memoryLimitBytes < o.memoryBudgetBytes);
        QVERIFY2(report->verificationBatch >= 1 && report->verificationBatch < 60,
            qPrintable(QString::number(report->verificationBatch)));
        QVERIFY(report->predictedPeakBytes > 0);
        QVERIFY(report->predictedPeakBytes <= report->memoryLimitBytes);
        QVERIFY(report->toText().contains(QLatin1String("memory budget")));
        const auto plan = std::find_if(stages.begin(), stages.end(),
            [](const QString &s) { return s.startsWith(QLatin1String("memory plan")); });
        QVERIFY(plan != stages.end());
        QVERIFY2(
            plan->contains(QStringLiteral("verification batch %1,").arg(report->verificationBatch)),
            qPrintable(*plan));
        QCOMPARE(report->toJson()
                     .value(QLatin1String("verification"))
                     .toObject()
                     .value(QLatin1String("batch_size"))
                     .toInt(),
            report->verificationBatch);

        // Without a budget the same export verifies in one batch.
        o.memoryBudgetBytes = 0;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("nobudget.onnx"));
        const auto whole = exportRun(run, o, &error);
        QVERIFY2(whole, qPrintable(error));
        QCOMPARE(whole->verificationBatch, 60);
    }

    // Under a budget, static int8's calibration batch is fitted to it as the verification's is
    // (from the calibration step's own measured peak), and the latency's large batch is at most
    // the verification batch; without one, calibration takes its batches of 16 and latency is
    // timed at 32.
    void aMemoryBudgetBoundsCalibrationAndTiming()
    {
        const QString data = m_dir.filePath(QStringLiteral("data224s"));
        testdata::writeImageFolder(data, 3, 12, 224, 6);
        const QString run = m_dir.filePath(QStringLiteral("run224s"));
        QString error;
        QVERIFY2(writeRun(run, data, false, &error, 224), qPrintable(error));
        ExportOptions o;
        o.quantize = ExportQuantization::Int8Static;
        o.int8Format = Int8Format::QOperator; // OpenCV DNN loads and times it in-process
        o.calibrationImages = 36;
        o.latencyRuns = 3;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("budget-static.onnx"));
        o.memoryBudgetBytes = hostRssBytes() + (std::int64_t(600) << 20);
        QVector<QString> stages;
        const auto report = exportRun(run, o, &error, [&stages](double, const QString &stage) {
            stages << stage;
            return true;
        });
        QVERIFY2(report, qPrintable(error));
        QCOMPARE(report->calibrationImages, 36);
        QVERIFY(report->calibrationBatch >= 1 && report->calibrationBatch <= 16);
        QVERIFY(report->calibrationPredictedPeakBytes > 0);
        QVERIFY2(report->calibrationPredictedPeakBytes <= report->memoryLimitBytes,
            qPrintable(QStringLiteral("calibration batch %1 predicted at %2 bytes, limit %3")
                           .arg(report->calibrationBatch)
                           .arg(report->calibrationPredictedPeakBytes)
                           .arg(report->memoryLimitBytes)));
        const auto plan = std::find_if(stages.begin(), stages.end(), [](const QString &s) {
            return s.startsWith(QLatin1String("memory plan: calibration"));
        });
        QVERIFY(plan != stages.end());
        QVERIFY2(
            plan->contains(QStringLiteral("calibration batch %1,").arg(report->calibrationBatch)),
            qPrintable(*plan));
        const QJsonObject calibration
            = report->toJson().value(QLatin1String("calibration")).toObject();
        QCOMPARE(calibration.value(QLatin1String("batch_size")).toInt(), report->calibrationBatch);
        QCOMPARE(calibration.value(QLatin1String("predicted_peak_bytes")).toInteger(),
            report->calibrationPredictedPeakBytes);
        QVERIFY(!report->latency.isEmpty());
        for (const LatencyFigure &f : report->latency)
            QVERIFY2(f.batch <= report->verificationBatch,
                qPrintable(QStringLiteral("%1 timed at batch %2, verification batch %3")
                               .arg(f.runtime)
                               .arg(f.batch)
                               .arg(report->verificationBatch)));

        o.memoryBudgetBytes = 0;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("nobudget-static.onnx"));
        const auto free = exportRun(run, o, &error);
        QVERIFY2(free, qPrintable(error));
        QCOMPARE(free->calibrationBatch, 16);
        QVERIFY(std::any_of(free->latency.begin(), free->latency.end(),
            [](const LatencyFigure &f) { return f.batch == 32; }));
    }

    void anImpossibleMemoryBudgetFailsWithoutAFile()
    {
        QProcess p;
        const QString out = QDir(m_outDir).filePath(QStringLiteral("tight.onnx"));
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("export"), m_run, QStringLiteral("--memory-budget"),
                QStringLiteral("16M"), QStringLiteral("--out"), out });
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 1);
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(
            err.contains(QLatin1String("memory budget 16.0 MiB is too small")), qPrintable(err));
        QVERIFY2(err.contains(QLatin1String("--memory-budget")), qPrintable(err));
        QVERIFY(!QFileInfo::exists(out));
    }

    void cancelLeavesNoFile()
    {
        ExportOptions o;
        o.outFile = QDir(m_outDir).filePath(QStringLiteral("cancelled.onnx"));
        QString error;
        QVERIFY(!exportRun(m_run, o, &error, [](double f, const QString &) { return f < 0.5; }));
        QVERIFY2(error.contains(QLatin1String("cancelled")), qPrintable(error));
        QVERIFY(!QFileInfo::exists(o.outFile));
    }

    void cliPrintsJsonReportAndRejectsBadFormat()
    {
        QProcess p;
        const QString out = QDir(m_outDir).filePath(QStringLiteral("cli.onnx"));
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("export"), m_run, QStringLiteral("--format"), QStringLiteral("onnx"),
                QStringLiteral("--quantize"), QStringLiteral("int8"), QStringLiteral("--out"), out,
                QStringLiteral("--json") });
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QJsonObject json = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
        QCOMPARE(json.value(QLatin1String("quantize")).toString(), QStringLiteral("int8"));
        QCOMPARE(json.value(QLatin1String("size"))
                     .toObject()
                     .value(QLatin1String("file_bytes"))
                     .toInteger(),
            QFileInfo(out).size());
        // The run keeps the report where the exports chart reads it.
        const QList<QJsonObject> kept = readExportReports(m_run);
        const auto cli = std::find_if(kept.begin(), kept.end(), [&](const QJsonObject &r) {
            return QFileInfo(r.value(QLatin1String("out")).toString()).fileName()
                == QLatin1String("cli.onnx");
        });
        QVERIFY(cli != kept.end());
        QCOMPARE(cli->value(QLatin1String("quantize")).toString(), QStringLiteral("int8"));

        // --limit all verifies on every image; --help says what the default verifies on.
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("export"), m_run, QStringLiteral("--limit"), QStringLiteral("all"),
                QStringLiteral("--progress"), QStringLiteral("none"), QStringLiteral("--out"),
                QDir(m_outDir).filePath(QStringLiteral("all.onnx")), QStringLiteral("--json") });
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QJsonObject all = QJsonDocument::fromJson(p.readAllStandardOutput())
                                    .object()
                                    .value(QLatin1String("verification"))
                                    .toObject();
        QCOMPARE(all.value(QLatin1String("images")).toInt(), 60);
        QCOMPARE(all.value(QLatin1String("sample")).toString(), QStringLiteral("all"));
        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("export"), QStringLiteral("--help") });
        QVERIFY(p.waitForFinished(60000));
        const QString help = QString::fromUtf8(p.readAllStandardOutput()).simplified();
        QVERIFY2(
            help.contains(QLatin1String("class-balanced sample of N images")), qPrintable(help));
        QVERIFY2(help.contains(QLatin1String("(default 2000)")), qPrintable(help));
        QVERIFY(help.contains(QLatin1String("--memory-budget")));

        p.start(QStringLiteral(LEANTUNE_CLI_PATH),
            { QStringLiteral("export"), m_run, QStringLiteral("--format"), QStringLiteral("tflite"),
                QStringLiteral("--out"), QDir(m_outDir).filePath(QStringLiteral("x.tflite")) });
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(QString::fromUtf8(p.readAllStandardError())
                    .contains(QLatin1String("unknown format 'tflite'")));
        QVERIFY(!QFileInfo::exists(QDir(m_outDir).filePath(QStringLiteral("x.tflite"))));
    }
};

QTEST_GUILESS_MAIN(TestExport)
#include "tst_export.moc"
