// Faults: kill -9 during training, while a checkpoint is written and while an export is written,
// torn and corrupted checkpoints, a full disk while checkpointing. Nothing already saved may be
// lost, and a resumed run must continue exactly where it stopped.

#include "clirunner.h"
#include "testdata.h"

#include "train/checkpoint_p.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <sys/mount.h>

namespace {

using leantune::testcli::Result;
using leantune::testcli::runCli;
QString cli()
{
    return leantune::testcli::cliPath();
}

QJsonObject summaryOf(const QString &runDir)
{
    QFile f(runDir + QStringLiteral("/summary.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QByteArray bytesOf(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// How leantune-cli ended under strace (see TestFaults::runKilledAt).
struct Traced {
    bool killed = false; // died of SIGKILL
    int exitCode
        = -1; // strace's exit code when it ended normally (the CLI's, or strace's own error)
    QString trace; // strace's output: the fatal call, with the path behind its descriptor
};

// Whether TRACE (strace -y) shows a SYSCALL call on a file in FOLDER. Its line may be cut short by
// other threads' output ("<unfinished ...>"), but it starts with the call and its first argument.
bool calledOn(const QString &trace, const QString &syscall, const QString &folder)
{
    const QRegularExpression call(QStringLiteral("^(\\[pid +\\d+\\] )?")
            + QRegularExpression::escape(syscall) + QStringLiteral("\\([^\\n]*")
            + QRegularExpression::escape(folder + QLatin1Char('/')),
        QRegularExpression::MultilineOption);
    return call.match(trace).hasMatch();
}

} // namespace

class TestFaults : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data;
    QString m_strace; // empty when strace is not installed
    QString m_exportRun, m_exportOut;
    QByteArray m_exportBytes;

    QStringList trainArgs(const QString &out, int epochs, int inputSize = 16) const
    {
        return { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
            out, QStringLiteral("--input-size"), QString::number(inputSize),
            QStringLiteral("--batch-size"), QStringLiteral("8"), QStringLiteral("--epochs"),
            QString::number(epochs), QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--seed"),
            QStringLiteral("5"), QStringLiteral("--augment"), QStringLiteral("--prune"),
            QStringLiteral("constant:0.5:10:-1:10"),
            QStringLiteral("--no-history") }; // the kills below aim at the run folder's writes
    }

    // The uninterrupted 3-epoch run the interrupted ones are compared with (trained once).
    QString referenceRun() const
    {
        const QString reference = m_dir.filePath(QStringLiteral("reference"));
        if (!QFile::exists(reference + QStringLiteral("/summary.json"))) {
            const Result r = runCli(trainArgs(reference, 3));
            if (r.exitCode != 0)
                qWarning("reference run failed: %s", qPrintable(r.err));
        }
        return reference;
    }

    // Runs leantune-cli ARGS under strace, which sends it SIGKILL as it enters the WHEN-th call of
    // SYSCALL: a kill -9 at an exact point of a file write, where a kill from outside would have to
    // hit a window of microseconds. -f follows the threads (the run folder's files are all written
    // on one of them, so the count is the same whether strace counts per thread or per process);
    // -y prints each traced call with the path behind its file descriptor.
    Traced runKilledAt(const QString &syscall, int when, const QStringList &args) const
    {
        QProcess p;
        p.setProcessChannelMode(QProcess::SeparateChannels);
        p.start(m_strace,
            QStringList { QStringLiteral("-f"), QStringLiteral("-q"), QStringLiteral("-y"),
                QStringLiteral("-e"), QStringLiteral("trace=") + syscall, QStringLiteral("-e"),
                QStringLiteral("inject=%1:signal=KILL:when=%2").arg(syscall).arg(when), cli() }
                + args);
        Traced t;
        if (!p.waitForFinished(300000)) {
            p.kill();
            p.waitForFinished();
            t.trace = QStringLiteral("timed out");
            return t;
        }
        t.trace = QString::fromUtf8(p.readAllStandardError());
        // strace ends itself with the signal that killed the traced process.
        t.killed = p.exitStatus() == QProcess::CrashExit
            && t.trace.contains(QStringLiteral("+++ killed by SIGKILL +++"));
        t.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        return t;
    }

    // The export every kill-while-exporting case starts from: a 28 px run (smallcnn exports at 28
    // px) and its ONNX file at OUT, with the bytes it holds.
    bool prepareExport()
    {
        if (!m_exportBytes.isEmpty())
            return true;
        m_exportRun = m_dir.filePath(QStringLiteral("export-run"));
        Result r = runCli(trainArgs(m_exportRun, 1, 28));
        if (r.exitCode != 0) {
            qWarning("training the run to export failed: %s", qPrintable(r.err));
            return false;
        }
        const QString folder = m_dir.filePath(QStringLiteral("exports"));
        QDir().mkpath(folder);
        m_exportOut = folder + QStringLiteral("/model.onnx");
        r = runCli(exportArgs());
        if (r.exitCode != 0) {
            qWarning("the first export failed: %s", qPrintable(r.err));
            return false;
        }
        m_exportBytes = bytesOf(m_exportOut);
        return !m_exportBytes.isEmpty();
    }

    QStringList exportArgs() const
    {
        return { QStringLiteral("export"), m_exportRun, QStringLiteral("--format"),
            QStringLiteral("onnx"), QStringLiteral("--out"), m_exportOut,
            QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--progress"),
            QStringLiteral("none"), QStringLiteral("--latency-runs"), QStringLiteral("0") };
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        leantune::testdata::writeImageFolder(m_data, 2, 300, 16, 9);
        m_strace = QStandardPaths::findExecutable(QStringLiteral("strace"));
    }

    void killDuringTrainingThenResumeMatchesAnUninterruptedRun()
    {
        const QString reference = referenceRun();
        QVERIFY(QFile::exists(reference + QStringLiteral("/summary.json")));

        const QString killed = m_dir.filePath(QStringLiteral("killed"));
        QProcess p;
        QByteArray seen;
        connect(
            &p, &QProcess::readyReadStandardOutput, &p, [&] { seen += p.readAllStandardOutput(); });
        QStringList args = trainArgs(killed, 3);
        args << QStringLiteral("--progress") << QStringLiteral("json");
        p.start(cli(), args);
        // Let it finish epoch 1 (its checkpoint is written before the epoch_end sample) and get
        // into epoch 2, then kill it without warning.
        QTRY_VERIFY_WITH_TIMEOUT(
            seen.contains("\"epoch\":1,") && seen.contains("\"event\":\"epoch_end\""), 120000);
        p.kill(); // SIGKILL
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);
        QVERIFY(!QFile::exists(killed + QStringLiteral("/summary.json")));

        const Result resumed = runCli({ QStringLiteral("train"), QStringLiteral("--out"), killed,
            QStringLiteral("--resume") });
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.err.contains(QStringLiteral("resuming from")), qPrintable(resumed.err));
        const QJsonObject a = summaryOf(reference), b = summaryOf(killed);
        QCOMPARE(b.value(QStringLiteral("steps")).toInteger(),
            a.value(QStringLiteral("steps")).toInteger());
        QCOMPARE(b.value(QStringLiteral("final_sparsity")).toDouble(),
            a.value(QStringLiteral("final_sparsity")).toDouble());
        // Same weights, optimizer state, masks, schedule position and RNG: the same model at the
        // end.
        QCOMPARE(b.value(QStringLiteral("val_loss")).toDouble(),
            a.value(QStringLiteral("val_loss")).toDouble());
        QCOMPARE(b.value(QStringLiteral("val_accuracy")).toDouble(),
            a.value(QStringLiteral("val_accuracy")).toDouble());
    }

    void tornNewestCheckpointIsNeverTakenForValid()
    {
        const QString run = m_dir.filePath(QStringLiteral("torn"));
        Result r = runCli(trainArgs(run, 1));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QStringList ckpts = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(ckpts.size(), 1);
        // What a kill -9 in the middle of a non-atomic write would leave: a newer, half-written
        // file.
        QFile good(ckpts.first());
        QVERIFY(good.open(QIODevice::ReadOnly));
        const QByteArray bytes = good.readAll();
        QFile torn(run + QStringLiteral("/checkpoints/") + leantune::checkpointFileName(999999));
        QVERIFY(torn.open(QIODevice::WriteOnly));
        torn.write(bytes.left(bytes.size() / 2));
        torn.close();
        QString error;
        QVERIFY(!leantune::readCheckedFile(torn.fileName(), &error));
        QVERIFY2(error.contains(QStringLiteral("truncated")), qPrintable(error));

        r = runCli({ QStringLiteral("train"), QStringLiteral("--out"), run,
            QStringLiteral("--resume"), QStringLiteral("--epochs"), QStringLiteral("2") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("skipping unusable checkpoint")), qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("resuming from checkpoints/")
                     + QFileInfo(ckpts.first()).fileName()),
            qPrintable(r.err));
        QCOMPARE(summaryOf(run).value(QStringLiteral("epochs")).toInt(), 2);
    }

    // tornNewestCheckpointIsNeverTakenForValid covers what a non-atomic write would leave; this is
    // a real kill -9 in the middle of the write of the epoch 2 checkpoint.
    void killWhileACheckpointIsWrittenKeepsTheOlderOne()
    {
        if (m_strace.isEmpty())
            QSKIP("strace is not installed: it stops the process at an exact point of the write");
        const QString reference = referenceRun();
        QVERIFY(QFile::exists(reference + QStringLiteral("/summary.json")));

        // The trainer thread syncs config.json (1), then each checkpoint before linking it into
        // place: the 3rd fdatasync is the epoch 2 checkpoint, all bytes written, not yet in
        // checkpoints/.
        const QString run = m_dir.filePath(QStringLiteral("killed-in-checkpoint"));
        const QString ckptDir = run + QStringLiteral("/checkpoints");
        const Traced t = runKilledAt(QStringLiteral("fdatasync"), 3, trainArgs(run, 3));
        if (!t.killed && t.exitCode != 0 && t.trace.contains(QStringLiteral("ptrace")))
            QSKIP(qPrintable(QStringLiteral("strace cannot trace here: ") + t.trace.left(300)));
        QVERIFY2(t.killed,
            qPrintable(QStringLiteral("the run was not killed (exit %1): %2")
                           .arg(t.exitCode)
                           .arg(t.trace.right(2000))));
        QVERIFY2(calledOn(t.trace, QStringLiteral("fdatasync"), ckptDir),
            qPrintable(
                QStringLiteral("not killed while writing a checkpoint: ") + t.trace.right(2000)));

        // The epoch 1 checkpoint is intact, and it is the only one: the new one was never linked
        // into the folder. QSaveFile wrote it as an unnamed O_TMPFILE, which went with the process;
        // on a file system without O_TMPFILE a step-N.ckpt.XXXXXX would be left, which is never
        // listed.
        const QStringList ckpts = leantune::listCheckpoints(ckptDir);
        QCOMPARE(ckpts.size(), 1);
        QStringList others = QDir(ckptDir).entryList(
            QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
        QVERIFY(others.removeOne(QFileInfo(ckpts.first()).fileName()));
        if (t.trace.contains(QStringLiteral("(deleted)"))) {
            QVERIFY2(others.isEmpty(), qPrintable(others.join(QLatin1Char(' '))));
        } else {
            const QRegularExpression tempName(
                QStringLiteral("^step-\\d+\\.ckpt\\.[A-Za-z0-9]{6}$"));
            for (const QString &name : std::as_const(others))
                QVERIFY2(tempName.match(name).hasMatch(), qPrintable(name));
        }
        QString error;
        QVERIFY2(leantune::readCheckedFile(ckpts.first(), &error), qPrintable(error));
        QVERIFY(!QFile::exists(run + QStringLiteral("/summary.json")));
        QVERIFY(!QFile::exists(run + QStringLiteral("/model.pt")));

        const Result resumed = runCli(
            { QStringLiteral("train"), QStringLiteral("--out"), run, QStringLiteral("--resume") });
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.err.contains(QStringLiteral("resuming from checkpoints/")
                     + QFileInfo(ckpts.first()).fileName()),
            qPrintable(resumed.err));
        const QJsonObject a = summaryOf(reference), b = summaryOf(run);
        QCOMPARE(b.value(QStringLiteral("steps")).toInteger(),
            a.value(QStringLiteral("steps")).toInteger());
        QCOMPARE(b.value(QStringLiteral("val_loss")).toDouble(),
            a.value(QStringLiteral("val_loss")).toDouble());
        QCOMPARE(b.value(QStringLiteral("val_accuracy")).toDouble(),
            a.value(QStringLiteral("val_accuracy")).toDouble());
    }

    void killWhileAnExportIsWrittenKeepsTheOldFile_data()
    {
        QTest::addColumn<QString>("syscall");
        QTest::addColumn<bool>("tempLeft");
        // QSaveFile's steps when OUT exists: write the bytes to an unnamed temporary file in OUT's
        // folder (O_TMPFILE), fdatasync it, link it in as OUT.XXXXXX, rename that over OUT.
        QTest::newRow("while the bytes are written") << QStringLiteral("write") << false;
        QTest::newRow("while the bytes are synced") << QStringLiteral("fdatasync") << false;
        QTest::newRow("just before the rename over OUT") << QStringLiteral("rename") << true;
    }

    void killWhileAnExportIsWrittenKeepsTheOldFile()
    {
        QFETCH(QString, syscall);
        QFETCH(bool, tempLeft);
        if (m_strace.isEmpty())
            QSKIP("strace is not installed: it stops the process at an exact point of the write");
        QVERIFY(prepareExport());
        const QString folder = QFileInfo(m_exportOut).absolutePath();
        const QByteArray sha = QCryptographicHash::hash(m_exportBytes, QCryptographicHash::Sha256);

        // The same export to the same path, killed inside the write of the new file.
        const Traced t = runKilledAt(syscall, 1, exportArgs());
        if (!t.killed && t.exitCode != 0 && t.trace.contains(QStringLiteral("ptrace")))
            QSKIP(qPrintable(QStringLiteral("strace cannot trace here: ") + t.trace.left(300)));
        QVERIFY2(t.killed,
            qPrintable(QStringLiteral("the export was not killed (exit %1): %2")
                           .arg(t.exitCode)
                           .arg(t.trace.right(2000))));
        QVERIFY2(calledOn(t.trace, syscall, folder),
            qPrintable(QStringLiteral("not killed in %1 of a file in %2: %3")
                           .arg(syscall, folder, t.trace.right(2000))));

        // OUT is exactly the first export.
        QCOMPARE(QCryptographicHash::hash(bytesOf(m_exportOut), QCryptographicHash::Sha256), sha);

        // Nothing else in the folder can be taken for a model. What a kill leaves depends on the
        // moment: before the link, the unnamed temporary file vanishes with the process; between
        // the link and the rename, QSaveFile's OUT.XXXXXX stays behind - complete, but never under
        // a model's name (nothing removes it later; a new export leaves it alone).
        const QRegularExpression tempName(QRegularExpression::anchoredPattern(
            QRegularExpression::escape(QFileInfo(m_exportOut).fileName())
            + QStringLiteral("\\.[A-Za-z0-9]{6}")));
        QStringList others = QDir(folder).entryList(
            QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
        QVERIFY(others.removeOne(QFileInfo(m_exportOut).fileName()));
        for (const QString &name : others) {
            QVERIFY2(tempName.match(name).hasMatch(), qPrintable(name));
            QVERIFY2(!name.endsWith(QLatin1String(".onnx"), Qt::CaseInsensitive), qPrintable(name));
        }
        const bool unnamed
            = t.trace.contains(QStringLiteral("(deleted)")); // O_TMPFILE (ext4, tmpfs, ...)
        if (tempLeft) {
            QCOMPARE(others.size(), 1);
            QCOMPARE(bytesOf(folder + QLatin1Char('/') + others.first()), m_exportBytes);
            qInfo(
                "left behind after the kill: %s (a complete copy under QSaveFile's temporary name)",
                qPrintable(others.first()));
            QVERIFY(QFile::remove(
                folder + QLatin1Char('/') + others.first())); // the next row starts clean
        } else if (unnamed) {
            QVERIFY2(others.isEmpty(), qPrintable(others.join(QLatin1Char(' '))));
        } else {
            for (const QString &name :
                others) // a file system without O_TMPFILE: a partial temp file
                QVERIFY(QFile::remove(folder + QLatin1Char('/') + name));
        }

        // A fresh export to OUT still works and writes the same bytes.
        const Result again = runCli(exportArgs());
        QVERIFY2(again.exitCode == 0, qPrintable(again.err));
        QCOMPARE(bytesOf(m_exportOut), m_exportBytes);
    }

    void corruptedFilesGiveClearErrors()
    {
        const QString run = m_dir.filePath(QStringLiteral("corrupt"));
        Result r = runCli(trainArgs(run, 1));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const auto flipByte = [](const QString &path) {
            QFile f(path);
            if (!f.open(QIODevice::ReadWrite))
                return false;
            QByteArray b = f.readAll();
            b[b.size() / 2] = char(b[b.size() / 2] ^ 0x5a);
            f.seek(0);
            return f.write(b) == b.size();
        };
        QVERIFY(flipByte(run + QStringLiteral("/model.pt")));
        r = runCli({ QStringLiteral("evaluate"), run, QStringLiteral("--data"), m_data,
            QStringLiteral("--device"), QStringLiteral("cpu") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(
            r.err.contains(QStringLiteral("corrupted (checksum mismatch)")), qPrintable(r.err));

        const QStringList ckpts = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(ckpts.size(), 1);
        QVERIFY(flipByte(ckpts.first()));
        r = runCli({ QStringLiteral("train"), QStringLiteral("--out"), run,
            QStringLiteral("--resume"), QStringLiteral("--epochs"), QStringLiteral("2") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("cannot resume"))
                && r.err.contains(QStringLiteral("corrupted")),
            qPrintable(r.err));
    }

    void fullDiskWhileCheckpointingLosesNothing()
    {
        const QString mnt = m_dir.filePath(QStringLiteral("small-fs"));
        QDir().mkpath(mnt);
        if (::mount("tmpfs", QFile::encodeName(mnt).constData(), "tmpfs", 0, "size=8m") != 0)
            QSKIP("cannot mount a size-limited tmpfs here (needs root in a namespace that allows "
                  "mounts)");
        const auto unmount
            = qScopeGuard([&] { ::umount2(QFile::encodeName(mnt).constData(), MNT_DETACH); });
        const QString run = mnt + QStringLiteral("/run");
        Result r = runCli(trainArgs(run, 1));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QStringList before = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(before.size(), 1);

        // Fill the file system, leaving far less room than a checkpoint needs.
        QFile filler(mnt + QStringLiteral("/filler"));
        QVERIFY(filler.open(QIODevice::WriteOnly));
        const QByteArray chunk(64 * 1024, 'x');
        while (filler.write(chunk) == chunk.size() && filler.flush()) { }
        filler.close();
        QFile::resize(filler.fileName(), filler.size() - 32 * 1024);

        r = runCli({ QStringLiteral("train"), QStringLiteral("--out"), run,
            QStringLiteral("--resume"), QStringLiteral("--epochs"), QStringLiteral("2") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("No space left on device")), qPrintable(r.err));
        // The earlier checkpoint is intact and nothing half-written is lying around.
        const QStringList after = QDir(run + QStringLiteral("/checkpoints")).entryList(QDir::Files);
        QCOMPARE(after, QStringList { QFileInfo(before.first()).fileName() });
        QString error;
        QVERIFY2(leantune::readCheckedFile(before.first(), &error), qPrintable(error));

        // With room again, the run resumes and finishes.
        QVERIFY(QFile::remove(filler.fileName()));
        r = runCli({ QStringLiteral("train"), QStringLiteral("--out"), run,
            QStringLiteral("--resume"), QStringLiteral("--epochs"), QStringLiteral("2") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(summaryOf(run).value(QStringLiteral("epochs")).toInt(), 2);
    }
};

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
