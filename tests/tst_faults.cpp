// Faults: kill -9 during training, torn and corrupted checkpoints, a full disk while checkpointing.
// Nothing already saved may be lost, and a resumed run must continue exactly where it stopped.

#include "clirunner.h"
#include "testdata.h"

#include "train/checkpoint_p.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

#include <sys/mount.h>

namespace {

using leantune::testcli::Result;
using leantune::testcli::runCli;
QString cli() { return leantune::testcli::cliPath(); }

QJsonObject summaryOf(const QString &runDir)
{
    QFile f(runDir + QStringLiteral("/summary.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

} // namespace

class TestFaults : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data;

    QStringList trainArgs(const QString &out, int epochs) const
    {
        return {QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"), out,
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--batch-size"), QStringLiteral("8"),
                QStringLiteral("--epochs"), QString::number(epochs), QStringLiteral("--device"), QStringLiteral("cpu"),
                QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("--seed"), QStringLiteral("5"),
                QStringLiteral("--augment"), QStringLiteral("--prune"), QStringLiteral("constant:0.5:10:-1:10")};
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        leantune::testdata::writeImageFolder(m_data, 2, 300, 16, 9);
    }

    void killDuringTrainingThenResumeMatchesAnUninterruptedRun()
    {
        const QString reference = m_dir.filePath(QStringLiteral("reference"));
        const Result r = runCli(trainArgs(reference, 3));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));

        const QString killed = m_dir.filePath(QStringLiteral("killed"));
        QProcess p;
        QByteArray seen;
        connect(&p, &QProcess::readyReadStandardOutput, &p, [&] { seen += p.readAllStandardOutput(); });
        QStringList args = trainArgs(killed, 3);
        args << QStringLiteral("--progress") << QStringLiteral("json");
        p.start(cli(), args);
        // Let it finish epoch 1 (its checkpoint is written before the epoch_end sample) and get into
        // epoch 2, then kill it without warning.
        QTRY_VERIFY_WITH_TIMEOUT(seen.contains("\"epoch\":1,") && seen.contains("\"event\":\"epoch_end\""), 120000);
        p.kill();   // SIGKILL
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);
        QVERIFY(!QFile::exists(killed + QStringLiteral("/summary.json")));

        const Result resumed = runCli({QStringLiteral("train"), QStringLiteral("--out"), killed, QStringLiteral("--resume")});
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.err.contains(QStringLiteral("resuming from")), qPrintable(resumed.err));
        const QJsonObject a = summaryOf(reference), b = summaryOf(killed);
        QCOMPARE(b.value(QStringLiteral("steps")).toInteger(), a.value(QStringLiteral("steps")).toInteger());
        QCOMPARE(b.value(QStringLiteral("final_sparsity")).toDouble(), a.value(QStringLiteral("final_sparsity")).toDouble());
        // Same weights, optimizer state, masks, schedule position and RNG: the same model at the end.
        QCOMPARE(b.value(QStringLiteral("val_loss")).toDouble(), a.value(QStringLiteral("val_loss")).toDouble());
        QCOMPARE(b.value(QStringLiteral("val_accuracy")).toDouble(), a.value(QStringLiteral("val_accuracy")).toDouble());
    }

    void tornNewestCheckpointIsNeverTakenForValid()
    {
        const QString run = m_dir.filePath(QStringLiteral("torn"));
        Result r = runCli(trainArgs(run, 1));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QStringList ckpts = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(ckpts.size(), 1);
        // What a kill -9 in the middle of a non-atomic write would leave: a newer, half-written file.
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

        r = runCli({QStringLiteral("train"), QStringLiteral("--out"), run, QStringLiteral("--resume"), QStringLiteral("--epochs"),
                    QStringLiteral("2")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("skipping unusable checkpoint")), qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("resuming from checkpoints/") + QFileInfo(ckpts.first()).fileName()), qPrintable(r.err));
        QCOMPARE(summaryOf(run).value(QStringLiteral("epochs")).toInt(), 2);
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
        r = runCli({QStringLiteral("evaluate"), run, QStringLiteral("--data"), m_data, QStringLiteral("--device"), QStringLiteral("cpu")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("corrupted (checksum mismatch)")), qPrintable(r.err));

        const QStringList ckpts = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(ckpts.size(), 1);
        QVERIFY(flipByte(ckpts.first()));
        r = runCli({QStringLiteral("train"), QStringLiteral("--out"), run, QStringLiteral("--resume"), QStringLiteral("--epochs"),
                    QStringLiteral("2")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("cannot resume")) && r.err.contains(QStringLiteral("corrupted")), qPrintable(r.err));
    }

    void fullDiskWhileCheckpointingLosesNothing()
    {
        const QString mnt = m_dir.filePath(QStringLiteral("small-fs"));
        QDir().mkpath(mnt);
        if (::mount("tmpfs", QFile::encodeName(mnt).constData(), "tmpfs", 0, "size=8m") != 0)
            QSKIP("cannot mount a size-limited tmpfs here (needs root in a namespace that allows mounts)");
        const auto unmount = qScopeGuard([&] { ::umount2(QFile::encodeName(mnt).constData(), MNT_DETACH); });
        const QString run = mnt + QStringLiteral("/run");
        Result r = runCli(trainArgs(run, 1));
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QStringList before = leantune::listCheckpoints(run + QStringLiteral("/checkpoints"));
        QCOMPARE(before.size(), 1);

        // Fill the file system, leaving far less room than a checkpoint needs.
        QFile filler(mnt + QStringLiteral("/filler"));
        QVERIFY(filler.open(QIODevice::WriteOnly));
        const QByteArray chunk(64 * 1024, 'x');
        while (filler.write(chunk) == chunk.size() && filler.flush()) {
        }
        filler.close();
        QFile::resize(filler.fileName(), filler.size() - 32 * 1024);

        r = runCli({QStringLiteral("train"), QStringLiteral("--out"), run, QStringLiteral("--resume"), QStringLiteral("--epochs"),
                    QStringLiteral("2")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("No space left on device")), qPrintable(r.err));
        // The earlier checkpoint is intact and nothing half-written is lying around.
        const QStringList after = QDir(run + QStringLiteral("/checkpoints")).entryList(QDir::Files);
        QCOMPARE(after, QStringList{QFileInfo(before.first()).fileName()});
        QString error;
        QVERIFY2(leantune::readCheckedFile(before.first(), &error), qPrintable(error));

        // With room again, the run resumes and finishes.
        QVERIFY(QFile::remove(filler.fileName()));
        r = runCli({QStringLiteral("train"), QStringLiteral("--out"), run, QStringLiteral("--resume"), QStringLiteral("--epochs"),
                    QStringLiteral("2")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(summaryOf(run).value(QStringLiteral("epochs")).toInt(), 2);
    }
};

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
