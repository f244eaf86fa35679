// leantune-cli as a user runs it: argument errors, scan/schedule output, a tiny train + evaluate.

#include "clirunner.h"
#include "testdata.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

using leantune::testcli::Result;
using leantune::testcli::runCli;

class TestCli : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        leantune::testdata::writeImageFolder(m_data, 3, 30, 16, 3);
        QDir().mkpath(m_dir.filePath(QStringLiteral("oneclass/only")));
        leantune::testdata::writeImageFolder(m_dir.filePath(QStringLiteral("oneclass")), 1, 4);
        QDir().mkpath(m_dir.filePath(QStringLiteral("nonempty")));
        QFile f(m_dir.filePath(QStringLiteral("nonempty/keep.txt")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("keep me");
    }

    void everyCommandHasHelp_data()
    {
        QTest::addColumn<QString>("command");
        for (const char *c : { "scan", "import-idx", "schedule", "train", "evaluate", "sample" })
            QTest::newRow(c) << QString::fromLatin1(c);
    }

    void everyCommandHasHelp()
    {
        QFETCH(QString, command);
        const Result r = runCli({ command, QStringLiteral("--help") });
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(
            r.out.startsWith(QStringLiteral("Usage: leantune-cli ") + command), qPrintable(r.out));
    }

    // The front runs scan, schedule, apply-corrections and audit --duplicates-only itself, without
    // loading LibTorch (the dynamic loader's own log, LD_DEBUG=libs); train, audit's help and an
    // audit with a run option go to the engine, which loads it.
    void onlyTheEngineLoadsLibTorch_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<bool>("torch");
        const QString audit = m_dir.filePath(QStringLiteral("audit-front"));
        QTest::newRow("--version") << QStringList { QStringLiteral("--version") } << false;
        QTest::newRow("scan") << QStringList { QStringLiteral("scan"), m_data } << false;
        QTest::newRow("schedule") << QStringList { QStringLiteral("schedule"),
            QStringLiteral("constant:0.5:0"), QStringLiteral("--steps"), QStringLiteral("1") }
                                  << false;
        QTest::newRow("apply-corrections --help")
            << QStringList { QStringLiteral("apply-corrections"), QStringLiteral("--help") }
            << false;
        QTest::newRow("audit --duplicates-only") << QStringList { QStringLiteral("audit"),
            QStringLiteral("--data"), m_data, QStringLiteral("--out=") + audit,
            QStringLiteral("--duplicates-only"), QStringLiteral("--json") }
                                                 << false;
        QTest::newRow("audit --help")
            << QStringList { QStringLiteral("audit"), QStringLiteral("--help") } << true;
        QTest::newRow("audit --duplicates-only --epochs 1")
            << QStringList { QStringLiteral("audit"), QStringLiteral("--data"), m_data,
                   QStringLiteral("--out"), audit, QStringLiteral("--duplicates-only"),
                   QStringLiteral("--epochs"), QStringLiteral("1") }
            << true;
        QTest::newRow("help train")
            << QStringList { QStringLiteral("help"), QStringLiteral("train") } << true;
    }

    void onlyTheEngineLoadsLibTorch()
    {
        QFETCH(QStringList, args);
        QFETCH(bool, torch);
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("LD_DEBUG"), QStringLiteral("libs"));
        p.setProcessEnvironment(env);
        p.start(leantune::testcli::cliPath(), args);
        const Result r = leantune::testcli::finish(p);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err.right(2000)));
        QVERIFY2(r.err.contains(QStringLiteral("libQt6Core")), "no loader log");
        QCOMPARE(r.err.contains(QStringLiteral("libtorch_cpu")), torch);
    }

    // Without its engine beside it the front still answers what it runs itself, and names what is
    // missing for the rest.
    void frontWithoutItsEngineSaysWhatIsMissing()
    {
        const QString alone = m_dir.filePath(QStringLiteral("alone/leantune-cli"));
        QVERIFY(QDir().mkpath(QFileInfo(alone).path()));
        QVERIFY(QFile::copy(leantune::testcli::cliPath(), alone));
        QProcess version;
        version.start(alone, { QStringLiteral("--version") });
        QCOMPARE(leantune::testcli::finish(version).exitCode, 0);
        QProcess train;
        train.start(alone, { QStringLiteral("train"), QStringLiteral("--help") });
        const Result r = leantune::testcli::finish(train);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith(QStringLiteral("leantune-cli: error: cannot start ")),
            qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("leantune-cli-engine, which runs 'train'")),
            qPrintable(r.err));
        QCOMPARE(r.err.count(QLatin1Char('\n')), 1);
    }

    void badArgumentsGiveOneLineErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("message");
        const QString data = QStringLiteral("DATA");
        const QString out = QStringLiteral("OUT");
        QTest::newRow("unknown command") << QStringList { QStringLiteral("frobnicate") } << 2
                                         << QStringLiteral("unknown command");
        QTest::newRow("no data") << QStringList { QStringLiteral("train"), QStringLiteral("--out"),
            out } << 2 << QStringLiteral("no data folder");
        QTest::newRow("missing folder") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), QStringLiteral("/nonexistent/x"), QStringLiteral("--out"),
            out } << 1 << QStringLiteral("no such folder");
        QTest::newRow("one class") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), QStringLiteral("ONECLASS"), QStringLiteral("--out"), out }
                                   << 1 << QStringLiteral("at least two");
        QTest::newRow("unknown model") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out, QStringLiteral("--model"),
            QStringLiteral("vgg99") } << 2
                                       << QStringLiteral("unknown model");
        QTest::newRow("final < initial") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out, QStringLiteral("--prune"),
            QStringLiteral("polynomial:0.8:0.5:0:100") }
                                         << 2 << QStringLiteral("bad prune spec");
        QTest::newRow("end < begin") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out, QStringLiteral("--prune"),
            QStringLiteral("polynomial:0.5:0.8:100:50") }
                                     << 2 << QStringLiteral("bad prune spec");
        QTest::newRow("sparsity >= 1") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out, QStringLiteral("--prune"),
            QStringLiteral("constant:1.0:0") }
                                       << 2 << QStringLiteral("bad prune spec");
        QTest::newRow("batch size 0") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out,
            QStringLiteral("--batch-size"), QStringLiteral("0") }
                                      << 2 << QStringLiteral("batch size must be at least 1");
        QTest::newRow("batch size not a number") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), out,
            QStringLiteral("--batch-size"),
            QStringLiteral("lots") } << 2 << QStringLiteral("invalid value for --batch-size");
        QTest::newRow("unwritable run folder")
            << QStringList { QStringLiteral("train"), QStringLiteral("--data"), data,
                   QStringLiteral("--out"), QStringLiteral("/dev/null/run") }
            << 1 << QStringLiteral("run folder");
        QTest::newRow("non-empty run folder") << QStringList { QStringLiteral("train"),
            QStringLiteral("--data"), data, QStringLiteral("--out"), QStringLiteral("NONEMPTY") }
                                              << 1 << QStringLiteral("not empty");
        QTest::newRow("unknown device")
            << QStringList { QStringLiteral("train"), QStringLiteral("--data"), data,
                   QStringLiteral("--out"), out, QStringLiteral("--device"), QStringLiteral("tpu") }
            << 2 << QStringLiteral("unknown device");
        QTest::newRow("scan missing folder")
            << QStringList { QStringLiteral("scan"), QStringLiteral("/nonexistent/x") } << 1
            << QStringLiteral("no such folder");
        QTest::newRow("schedule bad spec") << QStringList { QStringLiteral("schedule"),
            QStringLiteral("linear:0.5"), QStringLiteral("--steps"), QStringLiteral("1") }
                                           << 2 << QStringLiteral("bad prune spec");
        QTest::newRow("evaluate not a run") << QStringList { QStringLiteral("evaluate"),
            QStringLiteral("NONEMPTY"), QStringLiteral("--data"), data }
                                            << 1 << QStringLiteral("not a run folder");
        // evaluate's --workers, --threads and --batch-size are train's rows, with their ranges.
        QTest::newRow("evaluate workers 0") << QStringList {
            QStringLiteral("evaluate"), QStringLiteral("NONEMPTY"), QStringLiteral("--data"), data,
            QStringLiteral("--workers"), QStringLiteral("0")
        } << 2 << QStringLiteral("workers must be between 1 and 256 (got 0)");
        QTest::newRow("evaluate threads -1") << QStringList { QStringLiteral("evaluate"),
            QStringLiteral("NONEMPTY"), QStringLiteral("--data"), data, QStringLiteral("--threads"),
            QStringLiteral("-1") } << 2 << QStringLiteral("threads must be between 0");
        QTest::newRow("evaluate batch auto") << QStringList { QStringLiteral("evaluate"),
            QStringLiteral("NONEMPTY"), QStringLiteral("--data"), data,
            QStringLiteral("--batch-size"), QStringLiteral("auto") }
                                             << 2 << QStringLiteral("not auto");
    }

    void badArgumentsGiveOneLineErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, message);
        for (QString &a : args) {
            if (a == QLatin1String("DATA"))
                a = m_data;
            else if (a == QLatin1String("OUT"))
                a = m_dir.filePath(
                    QStringLiteral("out-%1").arg(QString::fromLatin1(QTest::currentDataTag())
                                                     .replace(QLatin1Char(' '), QLatin1Char('-'))));
            else if (a == QLatin1String("ONECLASS"))
                a = m_dir.filePath(QStringLiteral("oneclass"));
            else if (a == QLatin1String("NONEMPTY"))
                a = m_dir.filePath(QStringLiteral("nonempty"));
        }
        const Result r = runCli(args);
        QCOMPARE(r.exitCode, exitCode);
        QVERIFY2(r.err.startsWith(QStringLiteral("leantune-cli: error: ")), qPrintable(r.err));
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        QCOMPARE(r.err.trimmed().count(QLatin1Char('\n')), 0); // one line
        QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("nonempty/keep.txt"))));
    }

    void scheduleReproducesTheReferenceValues()
    {
        const Result r
            = runCli({ QStringLiteral("schedule"), QStringLiteral("polynomial:0.2:0.8:100:110:3:2"),
                QStringLiteral("--steps"), QStringLiteral("100,102,105,110") });
        QCOMPARE(r.exitCode, 0);
        const QStringList lines = r.out.trimmed().split(QLatin1Char('\n'));
        QCOMPARE(lines.size(), 4);
        const double expected[] = { 0.2, 0.4928, 0.725, 0.8 };
        const int steps[] = { 100, 102, 105, 110 };
        for (int i = 0; i < 4; ++i) {
            const QStringList f = lines[i].split(QLatin1Char(' '));
            QCOMPARE(f.size(), 2);
            QCOMPARE(f[0].toInt(), steps[i]);
            QVERIFY2(std::abs(f[1].toDouble() - expected[i]) < 1e-4, qPrintable(lines[i]));
        }
    }

    void scanJsonHasTheDocumentedShape()
    {
        QFile bad(m_data + QStringLiteral("/class0/broken.png"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("this is not an image");
        bad.close();
        const Result r = runCli({ QStringLiteral("scan"), m_data, QStringLiteral("--json") });
        QFile::remove(bad.fileName());
        QCOMPARE(r.exitCode, 0); // invalid files do not make the scan fail
        const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(o.value(QStringLiteral("images")).toInt(), 90);
        const QJsonArray classes = o.value(QStringLiteral("classes")).toArray();
        QCOMPARE(classes.size(), 3);
        QCOMPARE(classes[0].toObject().value(QStringLiteral("name")).toString(),
            QStringLiteral("class0"));
        QCOMPARE(classes[0].toObject().value(QStringLiteral("count")).toInt(), 30);
        const QJsonArray invalid = o.value(QStringLiteral("invalid")).toArray();
        QCOMPARE(invalid.size(), 1);
        QVERIFY(invalid[0]
                    .toObject()
                    .value(QStringLiteral("path"))
                    .toString()
                    .endsWith(QStringLiteral("broken.png")));
        QVERIFY(!invalid[0].toObject().value(QStringLiteral("reason")).toString().isEmpty());
        QVERIFY(o.value(QStringLiteral("sizes")).isObject());
    }

    // A data set of links to images elsewhere (a subset, DVC, git-annex): scanned by default;
    // --no-follow-symlinks reports every link instead.
    void scanFollowsSymlinksUnlessTold()
    {
        const QString links = m_dir.filePath(QStringLiteral("links"));
        for (const QString &c : { QStringLiteral("class0"), QStringLiteral("class1") }) {
            QVERIFY(QDir().mkpath(links + QLatin1Char('/') + c));
            const QStringList names
                = QDir(m_data + QLatin1Char('/') + c).entryList(QDir::Files, QDir::Name).mid(0, 5);
            QCOMPARE(names.size(), 5);
            for (const QString &name : names)
                QVERIFY(QFile::link(m_data + QLatin1Char('/') + c + QLatin1Char('/') + name,
                    links + QLatin1Char('/') + c + QLatin1Char('/') + name));
        }
        QVERIFY(QFile::link(m_data + QStringLiteral("/class2"),
            links + QStringLiteral("/class2"))); // a linked class folder

        const Result r = runCli({ QStringLiteral("scan"), links, QStringLiteral("--json") });
        QCOMPARE(r.exitCode, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(o.value(QStringLiteral("images")).toInt(), 40);
        QCOMPARE(o.value(QStringLiteral("classes")).toArray().size(), 3);
        QVERIFY(o.value(QStringLiteral("invalid")).toArray().isEmpty());

        const Result no = runCli({ QStringLiteral("scan"), links, QStringLiteral("--json"),
            QStringLiteral("--no-follow-symlinks") });
        QCOMPARE(no.exitCode, 0);
        const QJsonObject n = QJsonDocument::fromJson(no.out.toUtf8()).object();
        QCOMPARE(n.value(QStringLiteral("images")).toInt(), 0);
        const QJsonArray invalid = n.value(QStringLiteral("invalid")).toArray();
        QCOMPARE(invalid.size(), 11); // 10 linked files and the linked class folder
        for (const QJsonValue &v : invalid)
            QCOMPARE(v.toObject().value(QStringLiteral("reason")).toString(),
                QStringLiteral("symbolic link (not followed)"));
    }

    // Ctrl-C and SIGTERM stop the run after its batch, save a checkpoint, and exit as shells report
    // a signal: 128 + its number.
    void signalsStopTheRunWithTheShellsExitCode_data()
    {
        QTest::addColumn<int>("signal");
        QTest::addColumn<int>("exitCode");
        QTest::newRow("SIGINT") << int(SIGINT) << 130;
        QTest::newRow("SIGTERM") << int(SIGTERM) << 143;
    }
    void signalsStopTheRunWithTheShellsExitCode()
    {
        QFETCH(int, signal);
        QFETCH(int, exitCode);
        const QString out = m_dir.filePath(QStringLiteral("run-signal-%1").arg(signal));
        QProcess p;
        p.start(leantune::testcli::cliPath(),
            { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
                out, QStringLiteral("--input-size"), QStringLiteral("16"),
                QStringLiteral("--epochs"), QStringLiteral("100"), QStringLiteral("--batch-size"),
                QStringLiteral("4"), QStringLiteral("--device"), QStringLiteral("cpu"),
                QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--progress"),
                QStringLiteral("json"), QStringLiteral("--no-history") });
        QVERIFY(p.waitForStarted());
        // The first sample on stdout: the run is training.
        QTRY_VERIFY_WITH_TIMEOUT(p.canReadLine() || p.state() != QProcess::Running, 120000);
        QVERIFY2(p.state() == QProcess::Running, p.readAllStandardError().constData());
        QCOMPARE(::kill(pid_t(p.processId()), signal), 0);
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), exitCode);
        QFile summary(out + QStringLiteral("/summary.json"));
        QVERIFY(summary.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(summary.readAll())
                     .object()
                     .value(QStringLiteral("status"))
                     .toString(),
            QStringLiteral("stopped"));
        QVERIFY(!QDir(out + QStringLiteral("/checkpoints")).isEmpty());
    }

    // constant:S:0 first updates the masks at step 100 (steps count from 1, frequency 100): a
    // shorter run is refused with the reason instead of training dense without a word.
    void trainRefusesAScheduleThatNeverPrunes()
    {
        const Result t = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), m_dir.filePath(QStringLiteral("run-never-prunes")),
            QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--epochs"),
            QStringLiteral("1"), QStringLiteral("--batch-size"), QStringLiteral("16"),
            QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--threads"),
            QStringLiteral("1"), QStringLiteral("--progress"), QStringLiteral("none"),
            QStringLiteral("--no-history"), QStringLiteral("--prune"),
            QStringLiteral("constant:0.5:0") });
        QCOMPARE(t.exitCode, 1);
        QVERIFY2(t.err.contains(QStringLiteral("first update is at step 100")), qPrintable(t.err));
    }

    void trainThenEvaluate()
    {
        const QString out = m_dir.filePath(QStringLiteral("run-e2e"));
        const Result t = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), out, QStringLiteral("--input-size"), QStringLiteral("16"),
            QStringLiteral("--epochs"), QStringLiteral("2"), QStringLiteral("--batch-size"),
            QStringLiteral("16"), QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--progress"),
            QStringLiteral("json"), QStringLiteral("--prune"),
            QStringLiteral("constant:0.5:1:-1:1") });
        QVERIFY2(t.exitCode == 0, qPrintable(t.err));
        // json progress: every stdout line is one MetricsSample object.
        const QStringList lines = t.out.trimmed().split(QLatin1Char('\n'));
        QVERIFY(lines.size() >= 2);
        for (const QString &line : lines) {
            const QJsonObject s = QJsonDocument::fromJson(line.toUtf8()).object();
            QVERIFY2(
                s.contains(QStringLiteral("step")) && s.contains(QStringLiteral("images_per_sec")),
                qPrintable(line));
        }
        // A second train into the same folder without --resume/--force must refuse and keep the
        // run.
        const Result again = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), out });
        QCOMPARE(again.exitCode, 1);
        QVERIFY(again.err.contains(QStringLiteral("not empty")));
        QVERIFY(QFile::exists(out + QStringLiteral("/model.pt")));

        const Result e = runCli({ QStringLiteral("evaluate"), out, QStringLiteral("--data"), m_data,
            QStringLiteral("--json"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        const QJsonObject o = QJsonDocument::fromJson(e.out.toUtf8()).object();
        QCOMPARE(o.value(QStringLiteral("images")).toInt(), 90);
        QVERIFY2(o.value(QStringLiteral("accuracy")).toDouble() > 0.6, qPrintable(e.out));
        const QJsonArray confusion = o.value(QStringLiteral("confusion")).toArray();
        QCOMPARE(confusion.size(), 3);
        int total = 0;
        for (const QJsonValue &row : confusion) {
            QCOMPARE(row.toArray().size(), 3);
            for (const QJsonValue &v : row.toArray())
                total += v.toInt();
        }
        QCOMPARE(total, 90);
        QCOMPARE(o.value(QStringLiteral("per_class")).toArray().size(), 3);

        // The loader and thread options, as train takes them: the same images.
        const Result tuned = runCli({ QStringLiteral("evaluate"), out, QStringLiteral("--data"),
            m_data, QStringLiteral("--json"), QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--workers"),
            QStringLiteral("1"), QStringLiteral("--batch-size"), QStringLiteral("7") });
        QVERIFY2(tuned.exitCode == 0, qPrintable(tuned.err));
        const QJsonObject tunedReport = QJsonDocument::fromJson(tuned.out.toUtf8()).object();
        QCOMPARE(tunedReport.value(QStringLiteral("images")).toInt(), 90);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
