// Data, run folders and model files from other people: images are counted by what they decode to
// (a memory budget holds, a decompression bomb is refused), a class without a valid image is
// refused by name, a symbolic-link loop is reported, a refused start leaves the folder usable,
// and TorchScript, config.json and run-history problems come with their reason.

#include "dataset/datasetscanner.h"
#include "dataset/imagedecoder_p.h"
#include "model/torchscriptmodel_p.h"
#include "store/runstore.h"
#include "train/rundir.h"
#include "clirunner.h"
#include "testdata.h"
#include "trainerharness.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <unistd.h>

using namespace leantune;

namespace {

// A PNG chunk: length, type, data, CRC (the scanner does not check CRCs: zero).
QByteArray pngChunk(const char *type, const QByteArray &data)
{
    QByteArray c(4, '\0');
    qToBigEndian<quint32>(quint32(data.size()), c.data());
    return c + QByteArray(type, 4) + data + QByteArray(4, '\0');
}

// A PNG of WIDTH x HEIGHT with this bit depth and colour type, and no pixels: what a header-only
// scan sees of a decompression bomb. With TRANSPARENCY, a tRNS chunk before the pixel data.
QByteArray pngHeaderOnly(
    quint32 width, quint32 height, int depth, int colour, bool transparency = false)
{
    QByteArray ihdr(13, '\0');
    qToBigEndian<quint32>(width, ihdr.data());
    qToBigEndian<quint32>(height, ihdr.data() + 4);
    ihdr[8] = char(depth);
    ihdr[9] = char(colour);
    // IEND with its real CRC: the scanner checks that the file ends with it.
    return QByteArray("\x89PNG\r\n\x1A\n", 8) + pngChunk("IHDR", ihdr)
        + (transparency ? pngChunk("tRNS", QByteArray(6, '\0')) : QByteArray())
        + pngChunk("IDAT", QByteArray(16, '\0')) + QByteArray("\0\0\0\0IEND\xAE\x42\x60\x82", 12);
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

// A constant 16-bit RGBA PNG: small on disk, 8 bytes a pixel once decoded.
bool writeDeepPng(const QString &path, int width, int height)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    const cv::Mat image(height, width, CV_16UC4, cv::Scalar(1000, 30000, 50000, 65535));
    return cv::imwrite(path.toStdString(), image);
}

QString reasonFor(const DatasetIndex &index, const QString &path)
{
    for (const InvalidFile &f : index.invalid)
        if (f.path == path)
            return f.reason;
    return {};
}

const QStringList kQuickRun { QStringLiteral("--epochs"), QStringLiteral("1"),
    QStringLiteral("--batch-size"), QStringLiteral("8"), QStringLiteral("--input-size"),
    QStringLiteral("16"), QStringLiteral("--channels"), QStringLiteral("1"),
    QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--threads"),
    QStringLiteral("1"), QStringLiteral("--no-history"), QStringLiteral("--progress"),
    QStringLiteral("none") };

// The message an interpreter failure carries (torch.jit.load'ed module whose forward raises), as
// LibTorch 1.13 words it.
const char kScriptRaise[]
    = "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript, serialized code (most recent call last):\n"
      "  File \"code/__torch__.py\", line 11, in forward\n"
      "    if torch.ne(torch.size(x, 1), 7):\n"
      "      ops.prim.RaiseException(_0, \"builtins.ValueError\")\n"
      "      ~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE\n"
      "    else:\n"
      "      pass\n"
      "\n"
      "Traceback of TorchScript, original code (most recent call last):\n"
      "  File \"/tmp/mk.py\", line 14, in forward\n"
      "        if x.size(1) != 7:\n"
      "            raise ValueError(\"expects 7 input channels, got \" + str(x.size(1)))\n"
      "            ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE\n"
      "        return self.fc(x)\n"
      "builtins.ValueError: expects 7 input channels, got 3\n";

} // namespace

class TestHostileData : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data; // two learnable classes of 16 px grayscale PNGs

    QString path(const QString &relative) const { return m_dir.filePath(relative); }

    // A copy of the learnable data set at RELATIVE, to add hostile files to.
    QString dataCopy(const QString &relative) const
    {
        const QString root = path(relative);
        testdata::writeImageFolder(root, 2, 12);
        return root;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = dataCopy(QStringLiteral("data"));
    }

    // --- decoded size ---------------------------------------------------------------------------

    // The scan counts an image by its decoded bytes at its native depth: a 10000 x 10000 16-bit
    // RGBA PNG decodes to 800 MB and its 8-bit copy to 400 MB; twice its side is a bomb, refused
    // on its header; a 144-megapixel 8-bit gray image, over the former pixel guard, is fine.
    void scanCountsDecodedBytesAtNativeDepth()
    {
        const QString root = path(QStringLiteral("headers"));
        QVERIFY(
            writeFile(root + QStringLiteral("/a/deep.png"), pngHeaderOnly(10000, 10000, 16, 6)));
        QVERIFY(
            writeFile(root + QStringLiteral("/a/bomb.png"), pngHeaderOnly(20000, 20000, 16, 6)));
        QVERIFY(writeFile(root + QStringLiteral("/b/gray.png"), pngHeaderOnly(12000, 12000, 8, 0)));
        // OpenCV decodes colour with a tRNS chunk to 4 channels, then drops alpha: 4 + 3 a pixel.
        QVERIFY(writeFile(
            root + QStringLiteral("/b/keyed.png"), pngHeaderOnly(1000, 1000, 8, 2, true)));
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(root, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(int(index->images.size()), 3);
        const ImageEntry &deep = index->images.at(0);
        QVERIFY(deep.path.endsWith(QLatin1String("deep.png")));
        QCOMPARE(deep.bitDepth, 16);
        QCOMPARE(deep.decodedBytes, qint64(10000) * 10000 * (8 + 4));
        QCOMPARE(index->images.at(1).decodedBytes, qint64(12000) * 12000);
        QCOMPARE(index->images.at(2).decodedBytes, qint64(1000) * 1000 * (4 + 3));
        const QString bomb = reasonFor(*index, root + QStringLiteral("/a/bomb.png"));
        QVERIFY2(bomb.startsWith(QLatin1String("too large: 20000x20000 pixels, 16-bit, decodes to "
                                               "4.47 GiB (limit 2.00 GiB)")),
            qPrintable(bomb));
    }

    // The decoder refuses an image whose native-depth decode is over its limit, before decoding:
    // 100 x 100 16-bit RGBA is 80 000 bytes and 40 000 for its 8-bit copy.
    void decoderCountsNativeDepth()
    {
        std::vector<uchar> png;
        QVERIFY(cv::imencode(".png", cv::Mat(100, 100, CV_16UC4, cv::Scalar(1, 2, 3, 65535)), png));
        const QByteArray bytes(reinterpret_cast<const char *>(png.data()), qsizetype(png.size()));
        DecodeOptions options;
        options.inputSize = 8;
        options.channels = 3;
        std::vector<float> out(3 * 8 * 8);
        std::mt19937_64 rng(1);
        QString error;
        options.maxDecodedBytes = 120000 - 1;
        QVERIFY(!decodeImageInto(bytes, options, rng, out.data(), &error));
        QVERIFY2(error.contains(QLatin1String("16-bit, decodes to 117 KiB")), qPrintable(error));
        options.maxDecodedBytes = 120000;
        QVERIFY2(decodeImageInto(bytes, options, rng, out.data(), &error), qPrintable(error));
    }

    // Under --memory-budget, decoding must fit beside the run's predicted peak: two decode
    // threads may each hold a 4000 x 4000 16-bit RGBA image (183 MiB), which a 400 MiB budget
    // cannot give; the run refuses before it starts and names the image and its decoded size.
    void budgetRefusesARunWhoseDecodingDoesNotFit()
    {
        const QString data = dataCopy(QStringLiteral("deepdata"));
        QVERIFY(writeDeepPng(data + QStringLiteral("/class1/deep-a.png"), 4000, 4000));
        QVERIFY(writeDeepPng(data + QStringLiteral("/class1/deep-b.png"), 4000, 4000));
        const QString out = path(QStringLiteral("run-deep"));
        const testcli::Result r
            = testcli::runCli(QStringList { QStringLiteral("train"), QStringLiteral("--data"), data,
                                  QStringLiteral("--out"), out, QStringLiteral("--memory-budget"),
                                  QStringLiteral("400M") }
                + kQuickRun);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("decodes to 183 MiB and 2 decode threads")),
            qPrintable(r.err));
        QVERIFY2(r.err.contains(QLatin1String("/class1/deep-a.png (4000x4000 PNG, 16-bit")),
            qPrintable(r.err));
        QVERIFY2(r.err.contains(QLatin1String("2 images decode to more than")), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(out + QStringLiteral("/metrics.csv"))); // never started
    }

    // --- classes, links, run folders ------------------------------------------------------------

    // A class folder whose files are all invalid, or that is empty, is not trained as a class of
    // no images (a dead output): the run refuses and names each one with why.
    void classWithoutValidImagesIsRefusedByName()
    {
        const QString data = dataCopy(QStringLiteral("noimages"));
        QVERIFY(writeFile(data + QStringLiteral("/broken/a.png"), "not an image\n"));
        QVERIFY(writeFile(data + QStringLiteral("/broken/b.jpg"), QByteArray()));
        QVERIFY(QDir().mkpath(data + QStringLiteral("/unused")));
        const testcli::Result r
            = testcli::runCli(QStringList { QStringLiteral("train"), QStringLiteral("--data"), data,
                                  QStringLiteral("--out"), path(QStringLiteral("run-noimages")) }
                + kQuickRun);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("classes 'broken' (all 2 files are invalid, e.g. "
                                              "broken/a.png: not an image (text file)), 'unused' "
                                              "(empty folder) have no valid image")),
            qPrintable(r.err));
    }

    // Two links that point at each other are a loop, reported as one in the invalid-file list,
    // inside a class folder and beside the class folders alike.
    void symlinkPairIsReportedAsALoop()
    {
        const QString data = dataCopy(QStringLiteral("loops"));
        QVERIFY(QFile::link(QStringLiteral("loopB"), data + QStringLiteral("/loopA")));
        QVERIFY(QFile::link(QStringLiteral("loopA"), data + QStringLiteral("/loopB")));
        QVERIFY(QFile::link(QStringLiteral("inB"), data + QStringLiteral("/class0/inA")));
        QVERIFY(QFile::link(QStringLiteral("inA"), data + QStringLiteral("/class0/inB")));
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(data, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(
            index->classes, (QStringList { QStringLiteral("class0"), QStringLiteral("class1") }));
        for (const char *name : { "loopA", "loopB", "class0/inA", "class0/inB" })
            QCOMPARE(reasonFor(*index, data + QLatin1Char('/') + QLatin1String(name)),
                QStringLiteral("symbolic link loop (the links point at each other)"));
        QCOMPARE(int(index->invalid.size()), 4);
    }

    // A start refused after the run folder was made (here a --init file that is not weights)
    // leaves only its run.log; the corrected command then runs in the same folder.
    void refusedStartLeavesTheFolderReusable()
    {
        const QString out = path(QStringLiteral("run-refused"));
        const QString init = path(QStringLiteral("not-weights.pth"));
        QVERIFY(writeFile(init, "these are not weights\n"));
        const QStringList train { QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), out };
        const testcli::Result refused
            = testcli::runCli(train + QStringList { QStringLiteral("--init"), init } + kQuickRun);
        QVERIFY2(refused.exitCode != 0, qPrintable(refused.err));
        QVERIFY(!QFileInfo::exists(out + QStringLiteral("/config.json")));
        const testcli::Result rerun = testcli::runCli(train + kQuickRun);
        QVERIFY2(rerun.exitCode == 0, qPrintable(rerun.err));
        QVERIFY(QFileInfo::exists(out + QStringLiteral("/model.pt")));
        QFile log(out + QStringLiteral("/run.log"));
        QVERIFY(log.open(QIODevice::ReadOnly));
        QVERIFY(!log.readAll().contains("not-weights.pth")); // the new run's log replaced it
    }

    // A run folder holding anything else is still refused without --force or --resume.
    void runFolderWithOtherFilesIsStillRefused()
    {
        const QString out = path(QStringLiteral("run-other"));
        QVERIFY(writeFile(out + QStringLiteral("/run.log"), "a log\n"));
        QVERIFY(writeFile(out + QStringLiteral("/notes.txt"), "mine\n"));
        QString error;
        QVERIFY(!prepareRunDir(out, false, false, &error));
        QVERIFY2(error.contains(QLatin1String("is not empty")), qPrintable(error));
        QVERIFY(QFileInfo::exists(out + QStringLiteral("/run.log")));
    }

    void configThatIsNotAnObjectSaysSo()
    {
        const QString run = path(QStringLiteral("run-array"));
        QVERIFY(writeFile(run + QStringLiteral("/config.json"), "[1, 2, 3]\n"));
        QString error;
        QVERIFY(!readRunInfo(run, &error));
        QVERIFY2(
            error.endsWith(QLatin1String("config.json is not a JSON object")), qPrintable(error));
        QVERIFY(writeFile(run + QStringLiteral("/config.json"), "{ oops"));
        QVERIFY(!readRunInfo(run, &error));
        QVERIFY2(
            error.contains(QLatin1String("config.json is not valid JSON: ")), qPrintable(error));
    }

    // --- TorchScript ----------------------------------------------------------------------------

    void scriptFailureReasonIsTheRaisedError_data()
    {
        QTest::addColumn<QByteArray>("what");
        QTest::addColumn<QString>("reason");
        QTest::newRow("raise") << QByteArray(kScriptRaise)
                               << QStringLiteral("\"ValueError: expects 7 input channels, got 3\"");
        QByteArray view(kScriptRaise);
        view.replace("builtins.ValueError: expects 7 input channels, got 3",
            "RuntimeError: shape '[-1, 12345]' is invalid for input of size 1536\n"
            "Exception raised from view at aten/src/ATen/native/TensorShape.cpp:1\n"
            "frame #0: c10::Error::Error(...)");
        QTest::newRow("op error, backtrace after")
            << view
            << QStringLiteral("\"RuntimeError: shape '[-1, 12345]' is invalid for input of "
                              "size 1536\"");
        QByteArray longer(kScriptRaise);
        longer.replace("expects 7 input channels, got 3", QByteArray(100, 'x'));
        QTest::newRow("long") << longer
                              << QLatin1Char('"') + QStringLiteral("ValueError: ")
                + QString(67, QLatin1Char('x')) + QChar(0x2026) + QLatin1Char('"');
        QTest::newRow("not the interpreter")
            << QByteArray("shape mismatch\nmore") << QStringLiteral("shape mismatch");
    }

    void scriptFailureReasonIsTheRaisedError()
    {
        QFETCH(QByteArray, what);
        QFETCH(QString, reason);
        QCOMPARE(leantune::torchScriptFailureReason(what.constData()), reason);
    }

    // A scripted model whose forward raises: the run's error quotes what it raised.
    void torchScriptModelShowsWhyForwardFails()
    {
        const QString script = path(QStringLiteral("make_raising_model.py"));
        const QString model = path(QStringLiteral("raising.pt"));
        QVERIFY(writeFile(script,
            "import sys, torch\n"
            "class M(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = torch.nn.Linear(3, 2)\n"
            "    def forward(self, x):\n"
            "        if x.size(1) != 7:\n"
            "            raise ValueError('expects 7 input channels, got ' + str(x.size(1)))\n"
            "        return self.fc(x)\n"
            "torch.jit.script(M()).save(sys.argv[1])\n"));
        QProcess python;
        python.start(QFileInfo::exists(QStringLiteral("/usr/bin/python3"))
                ? QStringLiteral("/usr/bin/python3")
                : QStringLiteral("python3"),
            { script, model });
        if (!python.waitForFinished(120000) || python.exitCode() != 0)
            QSKIP("python3-torch is missing or failed (scripts/setup installs it)");
        ModelSpec spec;
        spec.name = QStringLiteral("torchscript:") + model;
        spec.channels = 3;
        spec.inputSize = 16;
        QString error;
        QVERIFY(!validateTorchScriptSpec(spec, &error));
        QVERIFY2(error.endsWith(QLatin1String(
                     "forward fails on a [2, 3, 16, 16] input: \"ValueError: expects 7 input "
                     "channels, got 3\"")),
            qPrintable(error));
    }

    // --- run history ----------------------------------------------------------------------------

    // A history the front end could not open is not silently skipped: the run says it is not
    // recorded, and why.
    void runWithAnUnopenedHistoryWarns()
    {
        RunStore store;
        QVERIFY(writeFile(path(QStringLiteral("blocker")), "a file, not a folder\n"));
        QVERIFY(!store.open(path(QStringLiteral("blocker/runs.sqlite"))));
        RunJob::Options options;
        options.store = &store;
        testtrainer::TrainerHarness h(
            testtrainer::smallRunConfig(m_data, path(QStringLiteral("run-unopened"))), options);
        h.start();
        QVERIFY(h.waitDone());
        QStringList logs;
        for (const QList<QVariant> &args : std::as_const(*h.logs))
            logs << args.value(0).toString();
        QVERIFY2(logs.value(0).startsWith(QLatin1String("the run is not recorded in the history: "
                                                        "cannot create the folder of ")),
            qPrintable(logs.join(QLatin1Char('\n'))));
    }

    // leantune-cli as a user who cannot write the history folder: the run trains and the CLI
    // says that it is not recorded because the folder is not writable. Root writes anyway, so
    // as root the CLI runs as nobody (setpriv).
    void cliWarnsWhenTheHistoryFolderIsNotWritable()
    {
        QStringList prefix;
        if (::geteuid() == 0) {
            const QString setpriv = QStandardPaths::findExecutable(QStringLiteral("setpriv"));
            if (setpriv.isEmpty())
                QSKIP("running as root without setpriv: every folder is writable");
            prefix = { setpriv, QStringLiteral("--reuid=65534"), QStringLiteral("--regid=65534"),
                QStringLiteral("--clear-groups") };
        }
        const auto all = QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner | QFile::ReadGroup
            | QFile::WriteGroup | QFile::ExeGroup | QFile::ReadOther | QFile::WriteOther
            | QFile::ExeOther;
        QVERIFY(QFile::setPermissions(m_dir.path(), all)); // nobody reaches the data
        const QString history = path(QStringLiteral("readonly-history"));
        const QString home = path(QStringLiteral("home"));
        QVERIFY(QDir().mkpath(history) && QDir().mkpath(home));
        QVERIFY(QFile::setPermissions(
            history, QFile::ReadOwner | QFile::ExeOwner | QFile::ReadOther | QFile::ExeOther));
        QVERIFY(QFile::setPermissions(home, all));
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("LEANTUNE_HISTORY"), history + QStringLiteral("/runs.sqlite"));
        env.insert(QStringLiteral("HOME"), home);
        p.setProcessEnvironment(env);
        QStringList args = prefix
            + QStringList { testcli::cliPath(), QStringLiteral("train"), QStringLiteral("--data"),
                  m_data, QStringLiteral("--out"), home + QStringLiteral("/run") }
            + kQuickRun;
        args.removeAll(QStringLiteral("--no-history"));
        args.replace(args.indexOf(QStringLiteral("none")), QStringLiteral("bar"));
        p.start(args.takeFirst(), args);
        const testcli::Result r = testcli::finish(p);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains(QLatin1String("the run is not recorded in the history: the history "
                                              "folder ")),
            qPrintable(r.err));
        QVERIFY2(r.err.contains(QLatin1String("is not writable")), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestHostileData)
#include "tst_hostiledata.moc"
