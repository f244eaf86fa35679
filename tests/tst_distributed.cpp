// Data-parallel training over c10d (issue 13): real Gloo process groups on 127.0.0.1, launched by
// `train --nproc 2` and by hand with torchrun's environment, compared with a single process.

#include "clirunner.h"
#include "config/distenv.h"
#include "testdata.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <torch/script.h>

#include <csignal>
#include <map>
#include <unistd.h>

using namespace leantune;

namespace {

// leantune-cli ARGS started with extra environment variables ENV.
std::unique_ptr<QProcess> startCli(const QStringList &args, const std::map<QString, QString> &env)
{
    auto p = std::make_unique<QProcess>();
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    for (const auto &[k, v] : env)
        e.insert(k, v);
    p->setProcessEnvironment(e);
    p->start(testcli::cliPath(), args);
    return p;
}

// The per-step mean losses a run wrote through LEANTUNE_STEP_LOSS_FILE.
std::map<qint64, double> stepLosses(const QString &path)
{
    std::map<qint64, double> losses;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return losses;
    for (const QByteArray &line : f.readAll().split('\n')) {
        const QList<QByteArray> parts = line.trimmed().split(' ');
        if (parts.size() == 2)
            losses[parts[0].toLongLong()] = parts[1].toDouble();
    }
    return losses;
}

// A CNN without BatchNorm or dropout as a TorchScript file (this zoo's smallcnn has both): conv
// 3×3 1→8, ReLU, max-pool 2, linear to 3 classes; seeded weights stored in the file.
bool writePlainCnn(const QString &path)
{
    torch::manual_seed(7);
    torch::jit::Module m("PlainCnn");
    m.register_parameter("w1", torch::randn({ 8, 1, 3, 3 }) * 0.3, false);
    m.register_parameter("b1", torch::zeros({ 8 }), false);
    m.register_parameter("w2", torch::randn({ 3, 8 * 8 * 8 }) * 0.05, false);
    m.register_parameter("b2", torch::zeros({ 3 }), false);
    m.define(R"(
def forward(self, x):
    x = torch.relu(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]))
    x = torch.max_pool2d(x, [2, 2])
    return torch.linear(torch.flatten(x, 1), self.w2, self.b2)
)");
    m.save(path.toStdString());
    return QFile::exists(path);
}

using testdata::readJson;

} // namespace

class TestDistributed : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data;
    QString m_lossSingle; // the single-process smallcnn run's per-step losses
    QJsonObject m_summarySingle;

    QString m_plainModel; // torchscript:PATH of writePlainCnn()

    QString path(const QString &name) const { return m_dir.filePath(name); }

    // A CNN without BatchNorm (writePlainCnn()), no augmentation, global batch 64, deterministic
    // CPU kernels (one thread).
    QStringList args(const QString &out, QString model = QString(), int epochs = 6) const
    {
        if (model.isEmpty())
            model = m_plainModel;
        return { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
            out, QStringLiteral("--model"), model, QStringLiteral("--input-size"),
            QStringLiteral("16"), QStringLiteral("--channels"), QStringLiteral("1"),
            QStringLiteral("--batch-size"), QStringLiteral("64"), QStringLiteral("--epochs"),
            QString::number(epochs), QStringLiteral("--threads"), QStringLiteral("1"),
            QStringLiteral("--workers"), QStringLiteral("1"), QStringLiteral("--no-history"),
            QStringLiteral("--progress"), QStringLiteral("none") };
    }

    void compareFirstSteps(const QString &distributedLosses)
    {
        const std::map<qint64, double> single = stepLosses(m_lossSingle);
        const std::map<qint64, double> dist = stepLosses(distributedLosses);
        QVERIFY2(single.size() >= 50, qPrintable(QString::number(single.size())));
        QCOMPARE(dist.size(), single.size());
        for (qint64 step = 1; step <= 50; ++step) {
            QVERIFY(single.count(step) && dist.count(step));
            const double a = single.at(step), b = dist.at(step);
            QVERIFY2(std::abs(a - b) <= 1e-4,
                qPrintable(QStringLiteral("step %1: single %2, data parallel %3")
                               .arg(step)
                               .arg(a, 0, 'g', 10)
                               .arg(b, 0, 'g', 10)));
        }
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_dir.setAutoRemove(!qEnvironmentVariableIsSet("LEANTUNE_KEEP_TEST_DIR"));
        m_data = path(QStringLiteral("data"));
        // 3 × 200 images; 540 train after the 0.1 split: 9 steps of 64 an epoch (last one 28).
        testdata::writeImageFolder(m_data, 3, 200, 16, 13);
        QVERIFY(writePlainCnn(path(QStringLiteral("plaincnn.pt"))));
        m_plainModel = QStringLiteral("torchscript:") + path(QStringLiteral("plaincnn.pt"));
        m_lossSingle = path(QStringLiteral("single.loss"));
        auto p = startCli(args(path(QStringLiteral("single"))),
            { { QStringLiteral("LEANTUNE_STEP_LOSS_FILE"), m_lossSingle } });
        const testcli::Result r = testcli::finish(*p, 120000);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        m_summarySingle = readJson(path(QStringLiteral("single/summary.json")));
        QCOMPARE(m_summarySingle.value(QStringLiteral("steps")).toInt(), 54);
    }

    // `train --nproc 2`: two ranks over Gloo; each of the first 50 steps' loss equals the single
    // process's within 1e-4; rank 0 alone writes the run folder, which looks like any run's.
    void nprocLossEqualsSingleProcess()
    {
        const QString losses = path(QStringLiteral("nproc.loss"));
        const QString out = path(QStringLiteral("nproc"));
        auto p = startCli(args(out) << QStringLiteral("--nproc") << QStringLiteral("2"),
            { { QStringLiteral("LEANTUNE_STEP_LOSS_FILE"), losses } });
        const testcli::Result r = testcli::finish(*p, 120000);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareFirstSteps(losses);
        const QJsonObject summary = readJson(QDir(out).filePath(QStringLiteral("summary.json")));
        QCOMPARE(summary.value(QStringLiteral("steps")).toInt(), 54);
        QVERIFY(std::abs(summary.value(QStringLiteral("val_accuracy")).toDouble()
                    - m_summarySingle.value(QStringLiteral("val_accuracy")).toDouble())
            < 1e-6);
        QVERIFY(QFile::exists(QDir(out).filePath(QStringLiteral("model.pt"))));
        QVERIFY(QFile::exists(QDir(out).filePath(QStringLiteral("run.log"))));
        QVERIFY(readJson(QDir(out).filePath(QStringLiteral("config.json")))
                    .value(QStringLiteral("nproc"))
                    .toInt()
            == 2);
    }

    // The same run started as torchrun would, two processes with RANK, WORLD_SIZE, LOCAL_RANK,
    // MASTER_ADDR and MASTER_PORT and no --nproc: the same losses.
    void torchrunEnvironment()
    {
        const QString losses = path(QStringLiteral("torchrun.loss"));
        const QString out = path(QStringLiteral("torchrun"));
        const QString port = QString::number(DistEnv::freeLocalPort());
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r)
            ranks.push_back(startCli(args(out),
                { { QStringLiteral("RANK"), QString::number(r) },
                    { QStringLiteral("LOCAL_RANK"), QString::number(r) },
                    { QStringLiteral("WORLD_SIZE"), QStringLiteral("2") },
                    { QStringLiteral("MASTER_ADDR"), QStringLiteral("127.0.0.1") },
                    { QStringLiteral("MASTER_PORT"), port },
                    { QStringLiteral("LEANTUNE_STEP_LOSS_FILE"), losses } }));
        for (auto &p : ranks) {
            const testcli::Result r = testcli::finish(*p, 120000);
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        }
        compareFirstSteps(losses);
        QCOMPARE(readJson(QDir(out).filePath(QStringLiteral("summary.json")))
                     .value(QStringLiteral("steps"))
                     .toInt(),
            54);
    }

    // resnet8 has BatchNorm (statistics per replica): not step-equal, but it ends within one point
    // of validation accuracy of the single process.
    void batchNormEndsWithinOnePoint()
    {
        const QString single = path(QStringLiteral("bn1")), dist = path(QStringLiteral("bn2"));
        const testcli::Result a = testcli::runCli(args(single, QStringLiteral("resnet8"), 4));
        QVERIFY2(a.exitCode == 0, qPrintable(a.err));
        const testcli::Result b = testcli::runCli(args(dist, QStringLiteral("resnet8"), 4)
            << QStringLiteral("--nproc") << QStringLiteral("2"));
        QVERIFY2(b.exitCode == 0, qPrintable(b.err));
        const double accSingle = readJson(QDir(single).filePath(QStringLiteral("summary.json")))
                                     .value(QStringLiteral("val_accuracy"))
                                     .toDouble();
        const double accDist = readJson(QDir(dist).filePath(QStringLiteral("summary.json")))
                                   .value(QStringLiteral("val_accuracy"))
                                   .toDouble();
        QVERIFY2(std::abs(accSingle - accDist) <= 0.01,
            qPrintable(QStringLiteral("%1 vs %2").arg(accSingle).arg(accDist)));
    }

    // kill -9 of rank 1 mid-epoch: rank 0 exits non-zero within 90 s naming rank 1; its last
    // checkpoint is valid, and `--resume --nproc 1` finishes with the steps of an unbroken run.
    void killedRankStopsTheOtherAndResumeFinishes()
    {
        const QString out = path(QStringLiteral("killed"));
        const QString port = QString::number(DistEnv::freeLocalPort());
        QStringList a = args(out, QStringLiteral("resnet8"));
        a.replace(a.indexOf(QStringLiteral("none")), QStringLiteral("json"));
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r)
            ranks.push_back(startCli(a,
                { { QStringLiteral("RANK"), QString::number(r) },
                    { QStringLiteral("WORLD_SIZE"), QStringLiteral("2") },
                    { QStringLiteral("MASTER_ADDR"), QStringLiteral("127.0.0.1") },
                    { QStringLiteral("MASTER_PORT"), port } }));
        // Rank 0's samples: kill rank 1 once the second epoch is under way (a checkpoint exists).
        QProcess &zero = *ranks[0];
        bool killed = false;
        QByteArray pending;
        QElapsedTimer clock;
        clock.start();
        while (!killed && zero.state() != QProcess::NotRunning && clock.elapsed() < 120000) {
            zero.waitForReadyRead(1000);
            pending += zero.readAllStandardOutput();
            qsizetype nl;
            while (!killed && (nl = pending.indexOf('\n')) >= 0) {
                const QJsonObject s = QJsonDocument::fromJson(pending.left(nl)).object();
                pending.remove(0, nl + 1);
                if (s.value(QStringLiteral("epoch")).toInt() >= 1
                    && s.value(QStringLiteral("epoch_progress")).toDouble() < 0.9) {
                    ::kill(pid_t(ranks[1]->processId()), SIGKILL);
                    killed = true;
                }
            }
        }
        QVERIFY2(killed, "rank 0 ended before the second epoch");
        QElapsedTimer sinceKill;
        sinceKill.start();
        const testcli::Result r = testcli::finish(zero, 90000);
        QVERIFY2(r.err != QLatin1String("timed out"), "rank 0 hung after rank 1 died");
        QVERIFY(sinceKill.elapsed() < 90000);
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains(QLatin1String("rank 1")), qPrintable(r.err));
        testcli::finish(*ranks[1], 10000);

        const testcli::Result resumed = testcli::runCli(
            { QStringLiteral("train"), QStringLiteral("--resume"), QStringLiteral("--out"), out,
                QStringLiteral("--nproc"), QStringLiteral("1"), QStringLiteral("--no-history"),
                QStringLiteral("--progress"), QStringLiteral("none") });
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.err));
        const QJsonObject summary = readJson(QDir(out).filePath(QStringLiteral("summary.json")));
        QCOMPARE(summary.value(QStringLiteral("steps")).toInt(),
            m_summarySingle.value(QStringLiteral("steps")).toInt());
        QCOMPARE(summary.value(QStringLiteral("status")).toString(), QStringLiteral("finished"));
    }

    // A rank whose master does not answer fails with a clear error within --dist-timeout.
    void unreachableMasterFails()
    {
        QElapsedTimer clock;
        clock.start();
        auto p = startCli(args(path(QStringLiteral("lonely")))
                << QStringLiteral("--dist-timeout") << QStringLiteral("3"),
            { { QStringLiteral("RANK"), QStringLiteral("1") },
                { QStringLiteral("WORLD_SIZE"), QStringLiteral("2") },
                { QStringLiteral("MASTER_ADDR"), QStringLiteral("127.0.0.1") },
                { QStringLiteral("MASTER_PORT"), QString::number(DistEnv::freeLocalPort()) } });
        const testcli::Result r = testcli::finish(*p, 60000);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("MASTER_ADDR:MASTER_PORT")), qPrintable(r.err));
        QVERIFY(clock.elapsed() < 30000);
    }
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
