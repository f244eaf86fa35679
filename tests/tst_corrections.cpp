// Tests for leantune-corrections.csv (dataset/corrections.h) and apply-corrections: the file's
// round trip and quoting, every bad input refused with its line named and nothing changed, the
// scan, train and evaluate counting relabeled images under their new class and excluded ones not
// at all (and --no-corrections ignoring the file), and apply-corrections giving every file back
// byte for byte with --undo, also after it was killed part-way.

#include "clirunner.h"
#include "filetree.h"
#include "testdata.h"

#include "dataset/corrections.h"
#include "dataset/datasetscanner.h"

#include <QJsonArray>
#include <QMap>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using namespace leantune::testcli;
using namespace leantune::testfiles;

namespace {

void writeFile(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    QCOMPARE(f.write(bytes), bytes.size());
}

// A data folder with CLASSES classes of PERCLASS PNGs named "classK-N.png" (names unique across
// classes, so a relabeled file can move without a clash).
void writeData(const QString &root, int classes, int perClass)
{
    QVERIFY(testfiles::prefixFileNamesWithClass(
        root, testdata::writeImageFolder(root, classes, perClass, 16)));
}

const QByteArray kDecisions = "path,action,label\n"
                              "class0/class0-0000.png,relabel,class1\n"
                              "class2/class2-0001.png,exclude,\n"
                              "class1/class1-0002.png,keep,\n";

} // namespace

class TestCorrections : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Decisions written and read back are the same, quoting included, and the file is the same
    // bytes whatever order they were recorded in.
    void writeReadRoundTrip()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        Corrections c;
        QString error;
        const QVector<Correction> given {
            { QStringLiteral("b/with, comma.png"), CorrectionAction::Relabel, QStringLiteral("c,d"),
                0 },
            { QStringLiteral("a/\"quoted\".png"), CorrectionAction::Exclude, QString(), 0 },
            { QStringLiteral("a/line\nbreak.png"), CorrectionAction::Keep, QString(), 0 },
            { QStringLiteral("c/plain.png"), CorrectionAction::Relabel, QStringLiteral("a"), 0 },
        };
        for (const Correction &g : given)
            QVERIFY2(c.set(g, nullptr, &error), qPrintable(error));
        QVERIFY2(c.write(dir.path(), &error), qPrintable(error));
        const QByteArray bytes = readFile(Corrections::filePath(dir.path()));
        QVERIFY(bytes.startsWith("path,action,label\n"));
        QVERIFY(bytes.contains("\"b/with, comma.png\",relabel,\"c,d\"\n"));
        QVERIFY(bytes.contains("\"a/\"\"quoted\"\".png\",exclude,\n"));

        const std::optional<Corrections> read = Corrections::read(dir.path(), &error);
        QVERIFY2(read, qPrintable(error));
        QCOMPARE(read->size(), given.size());
        for (const Correction &g : given) {
            const std::optional<Correction> r = read->find(g.path);
            QVERIFY2(r, qPrintable(g.path));
            QCOMPARE(r->action, g.action);
            QCOMPARE(r->label, g.label);
        }
        Corrections reversed;
        for (int i = int(given.size()) - 1; i >= 0; --i)
            QVERIFY(reversed.set(given[i], nullptr, &error));
        QCOMPARE(reversed.toCsv(), bytes);

        // Replace and remove one decision, as the review and its undo do.
        std::optional<Correction> replaced;
        QVERIFY(c.set({ QStringLiteral("c/plain.png"), CorrectionAction::Keep, QString(), 0 },
            &replaced, &error));
        QVERIFY(replaced);
        QCOMPARE(replaced->action, CorrectionAction::Relabel);
        QCOMPARE(c.size(), given.size());
        QVERIFY(c.remove(QStringLiteral("c/plain.png")));
        QCOMPARE(c.size(), given.size() - 1);
        QVERIFY(!c.remove(QStringLiteral("c/plain.png")));
    }

    // recordCorrection writes each decision at once; restoreCorrection takes it back.
    void recordAndUndoOneDecision()
    {
        QTemporaryDir dir;
        writeData(dir.path(), 3, 2);
        const QStringList classes { QStringLiteral("class0"), QStringLiteral("class1"),
            QStringLiteral("class2") };
        QString error;
        std::optional<Correction> previous;
        const QString image = dir.filePath(QStringLiteral("class0/class0-0000.png"));
        QVERIFY2(recordCorrection(dir.path(), classes,
                     { image, CorrectionAction::Relabel, QStringLiteral("class2"), 0 }, &previous,
                     &error),
            qPrintable(error));
        QVERIFY(!previous);
        QCOMPARE(readFile(Corrections::filePath(dir.path())),
            QByteArray("path,action,label\nclass0/class0-0000.png,relabel,class2\n"));
        QVERIFY(recordCorrection(dir.path(), classes,
            { image, CorrectionAction::Exclude, QString(), 0 }, &previous, &error));
        QVERIFY(previous);
        QCOMPARE(previous->label, QStringLiteral("class2"));
        // A class that does not exist is refused and the file stays as it was.
        QVERIFY(!recordCorrection(dir.path(), classes,
            { image, CorrectionAction::Relabel, QStringLiteral("zebra"), 0 }, nullptr, &error));
        QVERIFY2(error.contains(QStringLiteral("class 'zebra' does not exist")), qPrintable(error));
        QCOMPARE(readFile(Corrections::filePath(dir.path())),
            QByteArray("path,action,label\nclass0/class0-0000.png,exclude,\n"));
        // Undo twice: back to the relabel, then to no decision.
        QVERIFY2(restoreCorrection(dir.path(), image, previous, &error), qPrintable(error));
        QCOMPARE(readFile(Corrections::filePath(dir.path())),
            QByteArray("path,action,label\nclass0/class0-0000.png,relabel,class2\n"));
        QVERIFY(restoreCorrection(dir.path(), image, std::nullopt, &error));
        QCOMPARE(readFile(Corrections::filePath(dir.path())), QByteArray("path,action,label\n"));
    }

    // Each bad file is refused by the scan, scan, train, evaluate and apply-corrections with the
    // file and line named, and nothing on disk changes.
    void badFileIsRefusedNamingTheLine_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("classes");
        QTest::addColumn<int>("line");
        QTest::addColumn<QString>("why");
        const QByteArray h = "path,action,label\n";
        QTest::newRow("wrong header")
            << QByteArray("file,action,label\n") << 2 << 1 << QStringLiteral("the header must be");
        QTest::newRow("two fields")
            << h + "class0/class0-0000.png,keep,\nclass0/class0-0001.png,exclude\n"
            << 2 << 3 << QStringLiteral("2 fields, 3 expected");
        QTest::newRow("unknown action") << h + "class0/class0-0000.png,delete,\n"
                                        << 2 << 2 << QStringLiteral("unknown action 'delete'");
        QTest::newRow("relabel without class")
            << h + "class0/class0-0000.png,relabel,\n"
            << 2 << 2 << QStringLiteral("relabel needs the new class");
        QTest::newRow("exclude with class") << h + "class0/class0-0000.png,exclude,class1\n"
                                            << 2 << 2 << QStringLiteral("exclude takes no label");
        QTest::newRow("absolute path") << h + "/etc/passwd,exclude,\n"
                                       << 2 << 2 << QStringLiteral("is absolute");
        QTest::newRow("outside the folder") << h + "../x/class0-0000.png,exclude,\n"
                                            << 2 << 2 << QStringLiteral("not a plain");
        QTest::newRow("not in a class folder") << h + "class0-0000.png,exclude,\n"
                                               << 2 << 2 << QStringLiteral("not inside a class");
        QTest::newRow("hidden") << h + "class0/.x.png,exclude,\n"
                                << 2 << 2 << QStringLiteral("is hidden");
        QTest::newRow("twice") << h
                + "class0/class0-0000.png,keep,\nclass0/class0-0000.png,exclude,\n"
                               << 2 << 3 << QStringLiteral("already has a decision on line 2");
        QTest::newRow("unterminated quote") << h + "\"class0/class0-0000.png,keep,\n"
                                            << 2 << 2 << QStringLiteral("never closed");
        QTest::newRow("not UTF-8") << h + "class0/\xff.png,exclude,\n"
                                   << 2 << 2 << QStringLiteral("not UTF-8");
        QTest::newRow("missing path")
            << h + "class0/class0-0000.png,keep,\nclass1/gone.png,exclude,\n"
            << 2 << 3 << QStringLiteral("class1/gone.png does not exist");
        QTest::newRow("unknown class") << h + "class0/class0-0000.png,relabel,zebra\n"
                                       << 2 << 2 << QStringLiteral("class 'zebra' does not exist");
        QTest::newRow("its own class") << h + "class1/class1-0000.png,relabel,class1\n"
                                       << 2 << 2 << QStringLiteral("already in class 'class1'");
        QTest::newRow("one class, relabel")
            << h + "class0/class0-0001.png,relabel,class1\n"
            << 1 << 2 << QStringLiteral("class 'class1' does not exist (the classes are class0)");
    }

    void badFileIsRefusedNamingTheLine()
    {
        QFETCH(QByteArray, text);
        QFETCH(int, classes);
        QFETCH(int, line);
        QFETCH(QString, why);
        QTemporaryDir dir;
        writeData(dir.path(), classes, 3);
        const QString file = Corrections::filePath(dir.path());
        writeFile(file, text);
        const QString where = QStringLiteral("%1 line %2: ").arg(file).arg(line);
        const auto names = [&](const QString &message) {
            return message.contains(where) && message.contains(why);
        };
        const QMap<QString, QByteArray> before = treeHashes(dir.path());

        QString error;
        QVERIFY(!scanDataset(dir.path(), {}, &error));
        QVERIFY2(names(error), qPrintable(error));
        ScanOptions ignore;
        ignore.applyCorrections = false;
        QVERIFY2(scanDataset(dir.path(), ignore, &error), qPrintable(error));

        Result r = runCli({ QStringLiteral("scan"), dir.path() });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(names(r.err), qPrintable(r.err));
        r = runCli({ QStringLiteral("apply-corrections"), dir.path() });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(names(r.err), qPrintable(r.err));
        if (classes > 1) {
            QTemporaryDir out;
            r = runCli({ QStringLiteral("train"), QStringLiteral("--data"), dir.path(),
                QStringLiteral("--out"), out.filePath(QStringLiteral("run")),
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
                QStringLiteral("1"), QStringLiteral("--epochs"), QStringLiteral("1"),
                QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--progress"),
                QStringLiteral("none"), QStringLiteral("--no-history") });
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(names(r.err), qPrintable(r.err));
        }
        QCOMPARE(treeDifferences(treeHashes(dir.path()), before), QString());
    }

    // The scan counts a relabeled image under its new class and an excluded one not at all;
    // --no-corrections (applyCorrections false) sees the folders as they are.
    void scanAppliesCorrections()
    {
        QTemporaryDir dir;
        writeData(dir.path(), 3, 4);
        writeFile(Corrections::filePath(dir.path()), kDecisions);
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(dir.path(), {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(index->classCounts(), (QVector<int> { 3, 5, 3 }));
        QCOMPARE(index->relabeled, 1);
        QCOMPARE(index->excluded, 1);
        QCOMPARE(index->correctionsSummary(),
            QStringLiteral("1 relabeled, 1 excluded by leantune-corrections.csv"));
        bool sawRelabeled = false;
        for (const ImageEntry &e : index->images) {
            QVERIFY(!e.path.endsWith(QLatin1String("class2-0001.png")));
            if (e.path.endsWith(QLatin1String("class0-0000.png"))) {
                QCOMPARE(e.label, 1);
                sawRelabeled = true;
            }
        }
        QVERIFY(sawRelabeled);
        // The scan's order stays: by class, then path.
        for (size_t i = 1; i < index->images.size(); ++i) {
            const ImageEntry &a = index->images[i - 1], &b = index->images[i];
            QVERIFY(a.label < b.label || (a.label == b.label && a.path < b.path));
        }

        ScanOptions ignore;
        ignore.applyCorrections = false;
        const std::optional<DatasetIndex> plain = scanDataset(dir.path(), ignore, &error);
        QVERIFY(plain);
        QCOMPARE(plain->classCounts(), (QVector<int> { 4, 4, 4 }));
        QCOMPARE(plain->correctionsSummary(), QString());

        Result r = runCli({ QStringLiteral("scan"), dir.path() });
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(
            r.out.contains(QStringLiteral("1 relabeled, 1 excluded by leantune-corrections.csv")),
            qPrintable(r.out));
        r = runCli({ QStringLiteral("scan"), dir.path(), QStringLiteral("--json") });
        const QJsonObject json = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QCOMPARE(json.value(QStringLiteral("images")).toInt(), 11);
        QCOMPARE(json.value(QStringLiteral("corrections"))
                     .toObject()
                     .value(QStringLiteral("excluded"))
                     .toInt(),
            1);
        r = runCli({ QStringLiteral("scan"), dir.path(), QStringLiteral("--json"),
            QStringLiteral("--no-corrections") });
        QCOMPARE(QJsonDocument::fromJson(r.out.toUtf8())
                     .object()
                     .value(QStringLiteral("images"))
                     .toInt(),
            12);
    }

    // train counts the corrected classes (its validation predictions list every image with the
    // label it trained on) and config.json records whether it applied them; evaluate counts them
    // too; --no-corrections on either ignores the file.
    void trainAndEvaluateCountCorrections()
    {
        QTemporaryDir dir, out;
        writeData(dir.path(), 3, 4);
        writeFile(Corrections::filePath(dir.path()), kDecisions);
        const auto train = [&](const QString &run, const QStringList &extra) {
            return runCli(
                QStringList { QStringLiteral("train"), QStringLiteral("--data"), dir.path(),
                    QStringLiteral("--val"), dir.path(), QStringLiteral("--out"), out.filePath(run),
                    QStringLiteral("--input-size"), QStringLiteral("16"),
                    QStringLiteral("--channels"), QStringLiteral("1"), QStringLiteral("--epochs"),
                    QStringLiteral("1"), QStringLiteral("--batch-size"), QStringLiteral("4"),
                    QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--progress"),
                    QStringLiteral("none"), QStringLiteral("--no-history") }
                + extra);
        };
        // LABEL column of the validation predictions: path's file name -> label.
        const auto labels = [&](const QString &run) {
            QMap<QString, QString> m;
            const QList<QByteArray> lines
                = readFile(out.filePath(run + QStringLiteral("/predictions-val.csv"))).split('\n');
            for (int i = 1; i < lines.size(); ++i)
                if (!lines[i].isEmpty())
                    m.insert(QFileInfo(QString::fromUtf8(lines[i].split(',').value(0))).fileName(),
                        QString::fromUtf8(lines[i].split(',').value(1)));
            return m;
        };

        Result r = train(QStringLiteral("corrected"), {});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(testdata::readJson(out.filePath(QStringLiteral("corrected/config.json")))
                     .value(QStringLiteral("corrections")),
            QJsonValue(true));
        QVERIFY(
            readFile(out.filePath(QStringLiteral("corrected/run.log")))
                .contains("training data: 1 relabeled, 1 excluded by leantune-corrections.csv"));
        QMap<QString, QString> seen = labels(QStringLiteral("corrected"));
        QCOMPARE(seen.size(), 11);
        QCOMPARE(seen.value(QStringLiteral("class0-0000.png")), QStringLiteral("class1"));
        QVERIFY(!seen.contains(QStringLiteral("class2-0001.png")));
        QCOMPARE(seen.value(QStringLiteral("class1-0002.png")), QStringLiteral("class1"));

        r = train(QStringLiteral("plain"), { QStringLiteral("--no-corrections") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(testdata::readJson(out.filePath(QStringLiteral("plain/config.json")))
                     .value(QStringLiteral("corrections")),
            QJsonValue(false));
        seen = labels(QStringLiteral("plain"));
        QCOMPARE(seen.size(), 12);
        QCOMPARE(seen.value(QStringLiteral("class0-0000.png")), QStringLiteral("class0"));

        // evaluate: the support of each class.
        const auto support = [&](const QStringList &extra) {
            const Result e = runCli(
                QStringList { QStringLiteral("evaluate"), out.filePath(QStringLiteral("corrected")),
                    QStringLiteral("--data"), dir.path(), QStringLiteral("--device"),
                    QStringLiteral("cpu"), QStringLiteral("--json") }
                + extra);
            QVector<int> counts;
            for (const QJsonValue &c : QJsonDocument::fromJson(e.out.toUtf8())
                                           .object()
                                           .value(QStringLiteral("per_class"))
                                           .toArray())
                counts << c.toObject().value(QStringLiteral("support")).toInt();
            return counts;
        };
        QCOMPARE(support({}), (QVector<int> { 3, 5, 3 }));
        QCOMPARE(support({ QStringLiteral("--no-corrections") }), (QVector<int> { 4, 4, 4 }));
    }

    // apply-corrections moves the files as the file says and clears the applied decisions; the scan
    // then sees what it saw before; --undo gives back every file, the corrections file included.
    void applyThenUndoRestoresEveryFile()
    {
        QTemporaryDir dir;
        writeData(dir.path(), 3, 4);
        writeFile(Corrections::filePath(dir.path()), kDecisions);
        QString error;
        const QVector<int> counts = scanDataset(dir.path(), {}, &error)->classCounts();
        const QMap<QString, QByteArray> before = treeHashes(dir.path());

        Result r = runCli({ QStringLiteral("apply-corrections"), dir.path() });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(QFile::exists(dir.filePath(QStringLiteral("class1/class0-0000.png"))));
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("class0/class0-0000.png"))));
        QVERIFY(QFile::exists(dir.filePath(QStringLiteral(".excluded/class2/class2-0001.png"))));
        QCOMPARE(readFile(Corrections::filePath(dir.path())),
            QByteArray("path,action,label\nclass1/class1-0002.png,keep,\n"));
        const std::optional<DatasetIndex> after = scanDataset(dir.path(), {}, &error);
        QVERIFY2(after, qPrintable(error));
        QCOMPARE(after->classCounts(), counts);
        QCOMPARE(after->correctionsSummary(), QString());

        r = runCli({ QStringLiteral("apply-corrections"), dir.path(), QStringLiteral("--undo") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(treeDifferences(treeHashes(dir.path()), before), QString());
        r = runCli({ QStringLiteral("apply-corrections"), dir.path(), QStringLiteral("--undo") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("nothing to undo")), qPrintable(r.err));
    }

    // Two applies are two undo steps, each giving back the tree as it was before its apply.
    void undoStepsBackOneApplyAtATime()
    {
        QTemporaryDir dir;
        writeData(dir.path(), 3, 4);
        writeFile(Corrections::filePath(dir.path()), kDecisions);
        const QMap<QString, QByteArray> original = treeHashes(dir.path());
        QVERIFY(runCli({ QStringLiteral("apply-corrections"), dir.path() }).exitCode == 0);
        QString error;
        QVERIFY2(
            recordCorrection(dir.path(),
                { QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") },
                { QStringLiteral("class1/class0-0000.png"), CorrectionAction::Relabel,
                    QStringLiteral("class2"), 0 },
                nullptr, &error),
            qPrintable(error));
        const QMap<QString, QByteArray> between = treeHashes(dir.path());
        Result r = runCli({ QStringLiteral("apply-corrections"), dir.path() });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(QFile::exists(dir.filePath(QStringLiteral("class2/class0-0000.png"))));
        r = runCli({ QStringLiteral("apply-corrections"), dir.path(), QStringLiteral("--undo") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(treeDifferences(treeHashes(dir.path()), between), QString());
        // The decision recorded between the applies names a file this undo moves back: dropped.
        r = runCli({ QStringLiteral("apply-corrections"), dir.path(), QStringLiteral("--undo") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(QStringLiteral("dropped the decisions recorded since on files that "
                                               "moved back: class1/class0-0000.png")),
            qPrintable(r.out));
        QCOMPARE(treeDifferences(treeHashes(dir.path()), original), QString());
    }

    // A move onto an existing file is refused before anything moves.
    void nameClashMovesNothing()
    {
        QTemporaryDir dir;
        writeData(dir.path(), 2, 2);
        QVERIFY(QFile::copy(dir.filePath(QStringLiteral("class0/class0-0000.png")),
            dir.filePath(QStringLiteral("class1/class0-0000.png"))));
        writeFile(Corrections::filePath(dir.path()),
            "path,action,label\nclass0/class0-0001.png,exclude,\nclass0/class0-0000.png,relabel,"
            "class1\n");
        const QMap<QString, QByteArray> before = treeHashes(dir.path());
        const Result r = runCli({ QStringLiteral("apply-corrections"), dir.path() });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("line 3: cannot move class0/class0-0000.png to "
                                               "class1/class0-0000.png: class1/class0-0000.png "
                                               "exists")),
            qPrintable(r.err));
        QCOMPARE(treeDifferences(treeHashes(dir.path()), before), QString());
    }

    // Killed with SIGKILL after N moves (the LEANTUNE_TEST_KILL_AFTER_MOVES hook),
    // apply-corrections leaves a journal that --undo reads to put every file back; a new apply
    // waits for the undo.
    void killedApplyIsUndone_data()
    {
        QTest::addColumn<int>("moves");
        for (int n : { 1, 3, 5 })
            QTest::addRow("after %d moves", n) << n;
    }

    void killedApplyIsUndone()
    {
        QFETCH(int, moves);
        QTemporaryDir dir;
        writeData(dir.path(), 3, 4);
        QByteArray text = "path,action,label\n";
        for (int i = 0; i < 3; ++i) // 6 moves: 3 relabels, 3 exclusions
            text += QStringLiteral("class0/class0-%1.png,relabel,class2\nclass1/class1-%1.png,"
                                   "exclude,\n")
                        .arg(i, 4, 10, QLatin1Char('0'))
                        .toUtf8();
        writeFile(Corrections::filePath(dir.path()), text);
        const QMap<QString, QByteArray> before = treeHashes(dir.path());

        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("LEANTUNE_TEST_KILL_AFTER_MOVES"), QString::number(moves));
        p.setProcessEnvironment(env);
        p.start(cliPath(), { QStringLiteral("apply-corrections"), dir.path() });
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);
        const QMap<QString, QByteArray> killed = treeHashes(dir.path());
        QVERIFY(killed != before);
        QVERIFY(killed.contains(QStringLiteral(".leantune-journal")));

        Result r = runCli({ QStringLiteral("apply-corrections"), dir.path() });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("stopped part-way")), qPrintable(r.err));
        r = runCli({ QStringLiteral("apply-corrections"), dir.path(), QStringLiteral("--undo"),
            QStringLiteral("--json") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(QJsonDocument::fromJson(r.out.toUtf8())
                     .object()
                     .value(QStringLiteral("restored"))
                     .toInt(),
            moves);
        QCOMPARE(treeDifferences(treeHashes(dir.path()), before), QString());
    }

    void helpNamesTheJournal()
    {
        const Result r = runCli({ QStringLiteral("apply-corrections"), QStringLiteral("--help") });
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains(QStringLiteral("--undo")));
        QVERIFY(r.out.contains(QStringLiteral(".leantune-journal")));
    }
};

QTEST_GUILESS_MAIN(TestCorrections)
#include "tst_corrections.moc"
