// Weight files from other people (tests/scripts/make_hostile_weights.py) cannot run code, crash
// leantune-cli or exhaust the machine: a LibTorch export, run folder or checkpoint whose
// TorchScript
// __setstate__ writes a file, loops or allocates, a pickle nested 100,000 deep, a zip bomb, pickles
// of millions of opcodes and a 200 MB key are each refused by `train --init`, `train --resume`,
// `evaluate` and `export` with one clear error, within 5 s, under 256 MiB, without a signal, and
// without writing anything outside the run folder; honest runs and exports still load.
#include "clirunner.h"
#include "testdata.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonObject>
#include <QMap>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

const QString Script = QStringLiteral(LEANTUNE_SOURCE_DIR "/tests/scripts/make_hostile_weights.py");
constexpr double KillAfterSeconds = 5;
constexpr qint64 MaxRssKiB = 256 * 1024;

// What `make_hostile_weights.py measure` saw of one leantune-cli run.
struct Measured {
    testcli::Result result;
    bool timedOut = true;
    int signal = 0;
    double seconds = 0;
    qint64 maxRssKiB = 0;
};

QString python()
{
    return QFileInfo::exists(QStringLiteral("/usr/bin/python3"))
        ? QStringLiteral("/usr/bin/python3")
        : QStringLiteral("python3");
}

// Files below ROOT (path → size), except those below EXCEPT.
QMap<QString, qint64> snapshot(const QString &root, const QString &except)
{
    QMap<QString, qint64> files;
    QDirIterator it(root, QDir::Files | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
        QDirIterator::Subdirectories);
    const QString prefix = QDir::cleanPath(except) + QLatin1Char('/');
    while (it.hasNext()) {
        const QString path = it.next();
        if (except.isEmpty() || !path.startsWith(prefix))
            files.insert(path, it.fileInfo().size());
    }
    return files;
}

bool copyTree(const QString &from, const QString &to)
{
    QDir().mkpath(to);
    QDirIterator it(
        from, QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString target = to + path.mid(from.size());
        if (it.fileInfo().isDir() ? !QDir().mkpath(target) : !QFile::copy(path, target))
            return false;
    }
    return true;
}

} // namespace

class TestHostileWeights : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void refused_data();
    void refused();
    void honestStillLoads_data();
    void honestStillLoads();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    QString hostile(const QString &name) const { return path(QStringLiteral("hostile/") + name); }
    QStringList trainArgs(const QString &out) const;
    // ARGS with the placeholders DATA, OUT and the hostile files' folder H/ filled in.
    QStringList expand(const QStringList &args) const;
    Measured measure(const QStringList &args);

    QTemporaryDir m_dir;
    QString m_data;
    int m_runs = 0;
};

QStringList TestHostileWeights::trainArgs(const QString &out) const
{
    return { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
        out, QStringLiteral("--model"), QStringLiteral("smallcnn"), QStringLiteral("--input-size"),
        QStringLiteral("16"), QStringLiteral("--channels"), QStringLiteral("1"),
        QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--batch-size"),
        QStringLiteral("8"), QStringLiteral("--no-history") };
}

QStringList TestHostileWeights::expand(const QStringList &args) const
{
    QStringList out;
    for (const QString &a : args) {
        if (a == QLatin1String("TRAIN"))
            out << trainArgs(path(QStringLiteral("out-%1").arg(m_runs)));
        else if (a == QLatin1String("DATA"))
            out << m_data;
        else if (a.startsWith(QLatin1String("H/")))
            out << hostile(a.mid(2));
        else if (a.startsWith(QLatin1String("T/")))
            out << path(a.mid(2));
        else
            out << a;
    }
    return out;
}

Measured TestHostileWeights::measure(const QStringList &args)
{
    Measured m;
    const QString report = path(QStringLiteral("measure-%1.json").arg(m_runs));
    QProcess p;
    p.start(python(),
        QStringList { Script, QStringLiteral("measure"), report, QString::number(KillAfterSeconds),
            QStringLiteral("--"), testcli::cliPath() }
            + args);
    m.result = testcli::finish(p, 120000);
    const QJsonObject o = testdata::readJson(report);
    QFile::remove(report);
    if (o.isEmpty())
        return m;
    m.result.exitCode = o.value(QLatin1String("exit_code")).toInt(-1);
    m.timedOut = o.value(QLatin1String("timed_out")).toBool(true);
    m.signal = o.value(QLatin1String("signal")).toInt();
    m.seconds = o.value(QLatin1String("seconds")).toDouble();
    m.maxRssKiB = o.value(QLatin1String("max_rss_kib")).toInteger();
    return m;
}

void TestHostileWeights::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_data = path(QStringLiteral("data"));
    testdata::writeImageFolder(m_data, 2, 8);
    // An honest run and its export, from this build.
    const QString run = path(QStringLiteral("honest-run"));
    testcli::Result r = testcli::runCli(trainArgs(run));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    r = testcli::runCli({ QStringLiteral("export"), run, QStringLiteral("--format"),
        QStringLiteral("libtorch"), QStringLiteral("--out"), path(QStringLiteral("honest.pt")) });
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));

    QProcess p;
    p.start(python(), { Script, hostile(QString()), run });
    QVERIFY(p.waitForFinished(300000));
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        QSKIP(qPrintable(QStringLiteral("python3-torch is needed (scripts/setup installs it): ")
            + QString::fromUtf8(p.readAllStandardError()).right(300)));
}

// Each row: the command (TRAIN = a fresh `train` into out-N, DATA = the data folder, H/ = the
// crafted files, T/ = the test's folder), the folder the command may write into (the run folder),
// and what the one-line error must say.
void TestHostileWeights::refused_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("runFolder");
    QTest::addColumn<QString>("expected");

    const QString setstate = QStringLiteral("not a dict of attributes");
    const auto init = [](const char *file) {
        return QStringList { QStringLiteral("TRAIN"), QStringLiteral("--init"),
            QStringLiteral("H/") + QLatin1String(file) };
    };
    const auto evaluate = [](const char *target) {
        return QStringList { QStringLiteral("evaluate"),
            QStringLiteral("H/") + QLatin1String(target), QStringLiteral("--data"),
            QStringLiteral("DATA") };
    };
    const auto exportRun = [](const char *run) {
        return QStringList { QStringLiteral("export"), QStringLiteral("H/") + QLatin1String(run),
            QStringLiteral("--format"), QStringLiteral("libtorch"), QStringLiteral("--out"),
            QStringLiteral("T/exported.pt") };
    };
    const auto resume = [](const char *copy) {
        return QStringList { QStringLiteral("train"), QStringLiteral("--resume"),
            QStringLiteral("--out"), QStringLiteral("T/") + QLatin1String(copy) };
    };

    for (const char *what : { "writes", "loop", "alloc" }) {
        const QByteArray file = QByteArray("setstate-") + what + ".pt";
        QTest::newRow(QByteArray("--init export, __setstate__ " + QByteArray(what)).constData())
            << init(file.constData()) << QString() << setstate;
        QTest::newRow(QByteArray("evaluate export, __setstate__ " + QByteArray(what)).constData())
            << evaluate(file.constData()) << QString() << setstate;
    }
    // Taken as plain attributes, the dict state loads; the model is refused for missing tensors.
    QTest::newRow("--init export, dict state, __setstate__ writes")
        << init("setstate-dict.pt") << QString() << QStringLiteral("does not match");
    QTest::newRow("evaluate export, dict state, __setstate__ writes")
        << evaluate("setstate-dict.pt") << QString() << QStringLiteral("does not match");
    for (const char *what : { "writes", "loop" }) {
        const QByteArray run = QByteArray("run-setstate-") + what;
        QTest::newRow(QByteArray("--init run, __setstate__ " + QByteArray(what)).constData())
            << init(run.constData()) << QString() << setstate;
        QTest::newRow(QByteArray("evaluate run, __setstate__ " + QByteArray(what)).constData())
            << evaluate(run.constData()) << hostile(QString::fromLatin1(run)) << setstate;
        QTest::newRow(QByteArray("export run, __setstate__ " + QByteArray(what)).constData())
            << exportRun(run.constData()) << hostile(QString::fromLatin1(run)) << setstate;
        QTest::newRow(QByteArray("resume checkpoint, __setstate__ " + QByteArray(what)).constData())
            << resume(QByteArray(QByteArray("resume-") + what).constData())
            << path(QStringLiteral("resume-") + QLatin1String(what)) << setstate;
    }
    const QString deep = QStringLiteral("levels deep");
    QTest::newRow("--init, '(' x 100000 + 'l' x 100000")
        << init("deep-marks.pth") << QString() << deep;
    QTest::newRow("--init, ']' x 100000 + 'a' x 100000")
        << init("deep-lists.pth") << QString() << deep;
    QTest::newRow("--init run, deep model.pt") << init("run-deep") << QString() << deep;
    QTest::newRow("evaluate run, deep model.pt")
        << evaluate("run-deep") << hostile(QStringLiteral("run-deep")) << deep;
    QTest::newRow("export run, deep model.pt")
        << exportRun("run-deep") << hostile(QStringLiteral("run-deep")) << deep;
    QTest::newRow("--init, data.pkl inflating to 1 GiB")
        << init("zip-bomb.pth") << QString() << QStringLiteral("data.pkl is 1073741827 bytes");
    QTest::newRow("--init, data.pkl inflating beyond its declared size")
        << init("zip-liar.pth") << QString()
        << QStringLiteral("inflates to more than its declared 1000 bytes");
    QTest::newRow("--init, 20 MB of opcodes")
        << init("many-ops.pth") << QString() << QStringLiteral("data.pkl is 20000004 bytes");
    QTest::newRow("--init, 12 million pushes")
        << init("many-values.pth") << QString() << QStringLiteral("stack grows beyond");
    QTest::newRow("--init, 6 million lists")
        << init("many-lists.pth") << QString() << QStringLiteral("values");
    QTest::newRow("--init, 200 MB key")
        << init("huge-key.pth") << QString() << QStringLiteral("data.pkl is 200000");
    QTest::newRow("--init, 2 MiB key")
        << init("long-key.pth") << QString()
        << QStringLiteral("key of 2097152 bytes (more than 1024): 'kkkk");
}

void TestHostileWeights::refused()
{
    QFETCH(QStringList, args);
    QFETCH(QString, runFolder);
    QFETCH(QString, expected);
    ++m_runs;
    if (args.first() == QLatin1String("train") && args.contains(QLatin1String("--resume"))) {
        // A copy of the crafted run folder to resume in (train writes into it).
        const QString what = runFolder.section(QLatin1Char('-'), -1);
        QVERIFY(copyTree(hostile(QStringLiteral("run-setstate-") + what), runFolder));
    }
    const QString out = path(QStringLiteral("out-%1").arg(m_runs));
    const QString writable = runFolder.isEmpty() ? out : runFolder;
    const QMap<QString, qint64> before = snapshot(m_dir.path(), writable);

    const Measured m = measure(expand(args));

    QVERIFY2(!m.timedOut,
        qPrintable(QStringLiteral("still running after %1 s: %2")
                       .arg(KillAfterSeconds)
                       .arg(m.result.err.right(300))));
    QCOMPARE(m.signal, 0);
    QVERIFY2(m.result.exitCode == 1 || m.result.exitCode == 2, qPrintable(m.result.err));
    QVERIFY2(m.result.err.contains(expected), qPrintable(m.result.err.left(1000)));
    // Bounded output: a value from the file is quoted at most 80 characters long.
    QVERIFY2(m.result.err.size() < 2000, qPrintable(m.result.err.left(2000)));
    for (const QString &line : m.result.err.split(QLatin1Char('\n')))
        QVERIFY2(line.size() < 500, qPrintable(line.left(500)));
    QVERIFY2(m.maxRssKiB < MaxRssKiB,
        qPrintable(QStringLiteral("peak RSS %1 MiB").arg(m.maxRssKiB / 1024)));
    QVERIFY(!QFileInfo::exists(hostile(QStringLiteral("pwned-setstate"))));
    QCOMPARE(snapshot(m_dir.path(), writable).keys(), before.keys());
    for (const char *written : { "model.pt", "checkpoints" })
        QVERIFY2(!QFileInfo::exists(QDir(out).filePath(QLatin1String(written))), written);
}

// Runs and exports that LeanTune wrote still load everywhere archives are read.
void TestHostileWeights::honestStillLoads_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected");
    QTest::newRow("evaluate run") << QStringList { QStringLiteral("evaluate"),
        QStringLiteral("T/honest-run"), QStringLiteral("--data"), QStringLiteral("DATA") }
                                  << QStringLiteral("accuracy");
    QTest::newRow("evaluate export") << QStringList { QStringLiteral("evaluate"),
        QStringLiteral("T/honest.pt"), QStringLiteral("--data"), QStringLiteral("DATA") }
                                     << QStringLiteral("accuracy");
    QTest::newRow("--init run") << QStringList { QStringLiteral("TRAIN"), QStringLiteral("--init"),
        QStringLiteral("T/honest-run") }
                                << QString();
    QTest::newRow("--init export") << QStringList { QStringLiteral("TRAIN"),
        QStringLiteral("--init"), QStringLiteral("T/honest.pt") }
                                   << QString();
    QTest::newRow("export run") << QStringList { QStringLiteral("export"),
        QStringLiteral("T/honest-run"), QStringLiteral("--format"), QStringLiteral("libtorch"),
        QStringLiteral("--out"), QStringLiteral("T/again.pt") }
                                << QStringLiteral("agreement");
    QTest::newRow("resume run") << QStringList { QStringLiteral("train"),
        QStringLiteral("--resume"), QStringLiteral("--out"), QStringLiteral("T/honest-resume"),
        QStringLiteral("--epochs"), QStringLiteral("2") }
                                << QString();
}

void TestHostileWeights::honestStillLoads()
{
    QFETCH(QStringList, args);
    QFETCH(QString, expected);
    ++m_runs;
    if (args.contains(QLatin1String("--resume")))
        QVERIFY(
            copyTree(path(QStringLiteral("honest-run")), path(QStringLiteral("honest-resume"))));
    const testcli::Result r = testcli::runCli(expand(args));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const QString output = r.out + r.err;
    QVERIFY2(output.contains(expected), qPrintable(output));
    if (args.contains(QLatin1String("--init"))) {
        QFile log(
            QDir(path(QStringLiteral("out-%1").arg(m_runs))).filePath(QStringLiteral("run.log")));
        QVERIFY(log.open(QIODevice::ReadOnly));
        QVERIFY(log.readAll().contains("starting weights"));
    }
}

QTEST_GUILESS_MAIN(TestHostileWeights)
#include "tst_hostileweights.moc"
