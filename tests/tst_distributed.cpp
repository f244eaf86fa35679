// Data-parallel training over c10d: real Gloo process groups on 127.0.0.1, launched by
// `train --nproc 2` and by hand with torchrun's environment, compared with a single process.

#include "clirunner.h"
#include "config/distenv.h"
#include "config/runconfig.h"
#include "job/runjob.h"
#include "metrics/predictions.h"
#include "testdata.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <torch/script.h>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <map>
#include <set>
#include <sys/socket.h>
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

QByteArray firstLine(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readLine().trimmed() : QByteArray();
}

// Gone, or a zombie that nobody has reaped yet (it runs no more).
bool processGone(qint64 pid)
{
    if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH)
        return true;
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return true;
    const QByteArray text = stat.readAll();
    return text.mid(text.lastIndexOf(')') + 2, 1) == "Z";
}

// The processes whose parent is PID.
QVector<qint64> childrenOf(qint64 pid)
{
    QVector<qint64> children;
    for (const QString &entry : QDir(QStringLiteral("/proc")).entryList(QDir::Dirs)) {
        bool isPid = false;
        const qint64 child = entry.toLongLong(&isPid);
        if (!isPid)
            continue;
        QFile stat(QStringLiteral("/proc/%1/stat").arg(child));
        if (!stat.open(QIODevice::ReadOnly))
            continue;
        // pid (comm) state ppid ...: the fields after the last ')'.
        const QByteArray text = stat.readAll();
        const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
        if (fields.size() > 1 && fields[1].toLongLong() == pid)
            children << child;
    }
    return children;
}

// The local addresses (hex, as /proc/net/tcp* writes them) of the TCP sockets in the LISTEN state
// that process PID holds.
QStringList listeningAddresses(qint64 pid)
{
    std::set<QByteArray> inodes;
    const QDir fds(QStringLiteral("/proc/%1/fd").arg(pid));
    for (const QString &fd : fds.entryList(QDir::Files | QDir::System)) {
        char buffer[64] = {}; // "socket:[INODE]" (QFile::symLinkTarget() makes it a path)
        const QByteArray path = QFile::encodeName(fds.filePath(fd));
        const ssize_t n = ::readlink(path.constData(), buffer, sizeof(buffer) - 1);
        const QByteArray text(buffer, n > 0 ? int(n) : 0);
        if (text.startsWith("socket:["))
            inodes.insert(text.mid(8, text.size() - 9));
    }
    QStringList addresses;
    for (const char *table : { "/proc/net/tcp", "/proc/net/tcp6" }) {
        QFile f { QString::fromLatin1(table) };
        if (!f.open(QIODevice::ReadOnly))
            continue;
        for (const QByteArray &line : f.readAll().split('\n').mid(1)) {
            const QList<QByteArray> cols = line.simplified().split(' ');
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if (cols.size() > 9 && cols[3] == "0A" && inodes.count(cols[9]))
                addresses << QString::fromLatin1(cols[1]);
        }
    }
    return addresses;
}

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
        // Rank 0 gathers both shards: every validation image's result, as the single process has.
        QString error;
        const std::optional<PredictionsFile> one
            = readPredictions(path(QStringLiteral("single/predictions-val.csv")), &error);
        QVERIFY2(one, qPrintable(error));
        const std::optional<PredictionsFile> two
            = readPredictions(QDir(out).filePath(QStringLiteral("predictions-val.csv")), &error);
        QVERIFY2(two, qPrintable(error));
        QCOMPARE(one->rows.size(), 60);
        QCOMPARE(two->rows.size(), one->rows.size());
        for (int i = 0; i < one->rows.size(); ++i) {
            QCOMPARE(two->rows[i].path, one->rows[i].path);
            QCOMPARE(two->rows[i].label, one->rows[i].label);
            QCOMPARE(two->rows[i].predicted, one->rows[i].predicted);
            QVERIFY(std::abs(two->rows[i].confidence - one->rows[i].confidence) < 1e-3);
        }
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

    // The CLI's `--nproc 2` and the GUI's two-process run are one driver (RunJob + LocalRanks):
    // the same metrics.csv columns and the same loss at each of the first 20 steps.
    void cliAndInProcessRankZeroAgree()
    {
        const QString cliLosses = path(QStringLiteral("agree-cli.loss"));
        const QString cliOut = path(QStringLiteral("agree-cli"));
        auto p = startCli(
            args(cliOut, QString(), 3) << QStringLiteral("--nproc") << QStringLiteral("2"),
            { { QStringLiteral("LEANTUNE_STEP_LOSS_FILE"), cliLosses } });
        const testcli::Result r = testcli::finish(*p, 180000);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));

        // As the main window starts it: rank 0 in this process, rank 1 a leantune-cli worker.
        RunConfig c;
        c.dataDir = m_data;
        c.outDir = path(QStringLiteral("agree-job"));
        c.model.name = m_plainModel;
        c.model.inputSize = 16;
        c.model.channels = 1;
        c.batchSize = 64;
        c.epochs = 3;
        c.threads = 1;
        c.workers = 1;
        c.nproc = 2;
        c.testDir = m_data; // a test pass: rank 0 writes predictions.csv for the whole set
        RunJob::Options options;
        options.recordHistory = false;
        options.workerProgram = testcli::cliPath();
        const QString jobLosses = path(QStringLiteral("agree-job.loss"));
        qputenv("LEANTUNE_STEP_LOSS_FILE", QFile::encodeName(jobLosses));
        RunJob job(c, options);
        QString error;
        const bool started = job.start(&error);
        QVERIFY2(started, qPrintable(error));
        QVERIFY(job.waitForFinished(180000));
        qunsetenv("LEANTUNE_STEP_LOSS_FILE");
        QCOMPARE(job.worldSize(), 2);
        QVERIFY2(job.state() == RunJob::State::Finished, qPrintable(job.errorString()));

        const QByteArray header = firstLine(QDir(cliOut).filePath(QStringLiteral("metrics.csv")));
        QVERIFY(header.contains("loss"));
        QString predictionsError;
        const std::optional<PredictionsFile> test = readPredictions(
            QDir(c.outDir).filePath(QStringLiteral("predictions.csv")), &predictionsError);
        QVERIFY2(test, qPrintable(predictionsError));
        QCOMPARE(test->rows.size(), 600); // one row per image, each image once
        QSet<QString> paths;
        for (const Prediction &row : test->rows)
            paths.insert(row.path);
        QCOMPARE(paths.size(), 600);
        QCOMPARE(firstLine(QDir(c.outDir).filePath(QStringLiteral("metrics.csv"))), header);
        const std::map<qint64, double> a = stepLosses(cliLosses), b = stepLosses(jobLosses);
        for (qint64 step = 1; step <= 20; ++step) {
            QVERIFY2(a.count(step) && b.count(step), qPrintable(QString::number(step)));
            QVERIFY2(std::abs(a.at(step) - b.at(step)) <= 1e-6,
                qPrintable(QStringLiteral("step %1: CLI %2, in-process rank 0 %3")
                               .arg(step)
                               .arg(a.at(step), 0, 'g', 10)
                               .arg(b.at(step), 0, 'g', 10)));
        }
    }

    // Local ranks listen on loopback alone (they meet through a FileStore in a private folder),
    // and SIGKILL of the process that started them ends every rank within 5 s.
    void localRanksListenOnLoopbackAndDieWithTheirParent()
    {
        QStringList a = args(path(QStringLiteral("loopback")), QStringLiteral("resnet8"), 20);
        a.replace(a.indexOf(QStringLiteral("none")), QStringLiteral("json"));
        auto p = startCli(a << QStringLiteral("--nproc") << QStringLiteral("2"), {});
        QVERIFY(p->waitForStarted());
        // Training is under way once rank 0 prints a sample: every rank has joined.
        QElapsedTimer clock;
        clock.start();
        QByteArray out;
        while (!out.contains("\"step\"") && p->state() != QProcess::NotRunning
            && clock.elapsed() < 120000) {
            p->waitForReadyRead(1000);
            out += p->readAllStandardOutput();
        }
        QVERIFY2(out.contains("\"step\""), p->readAllStandardError().constData());
        const qint64 parent = p->processId();
        const QVector<qint64> ranks = childrenOf(parent);
        QCOMPARE(ranks.size(), 1);
        QStringList listening;
        for (qint64 pid : QVector<qint64> { parent } + ranks)
            listening += listeningAddresses(pid);
        // The check itself sees a listener: one of this test's own on 127.0.0.1.
        const int own = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in loopback {};
        loopback.sin_family = AF_INET;
        loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        QVERIFY(::bind(own, reinterpret_cast<sockaddr *>(&loopback), sizeof(loopback)) == 0);
        QVERIFY(::listen(own, 1) == 0);
        const QStringList mine = listeningAddresses(QCoreApplication::applicationPid());
        ::close(own);
        QCOMPARE(mine.size(), 1);
        QVERIFY(mine.front().startsWith(QLatin1String("0100007F:")));
        for (const QString &address : listening) // 127.0.0.1, as IPv4 or IPv4-mapped IPv6
            QVERIFY2(address.startsWith(QLatin1String("0100007F:"))
                    || address.startsWith(QLatin1String("0000000000000000FFFF00000100007F:")),
                qPrintable(listening.join(QLatin1Char(' '))));

        ::kill(pid_t(parent), SIGKILL);
        p->waitForFinished(5000);
        QElapsedTimer sinceKill;
        sinceKill.start();
        while (!processGone(ranks.front()) && sinceKill.elapsed() < 5000)
            QThread::msleep(50);
        QVERIFY2(processGone(ranks.front()), "rank 1 outlived its parent by 5 s");
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
