// leantune-cli's training progress line: fitted to the terminal's width by
// dropping the least important fields first, and no carriage-return bar at all when stdout is not
// a terminal. The CLI cases give leantune-cli a pseudo-terminal of a known width.

#include "clirunner.h"
#include "progressline.h"
#include "testdata.h"

#include <QByteArrayList>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

using namespace leantune::cli;

namespace {

// The fields the printer shows for a CUDA run, most of them as wide as they get; the bar is 24
// characters wide from 120 columns on, 12 below.
std::vector<ProgressField> typicalFields(bool wideBar = false)
{
    return {
        { wideBar ? QStringLiteral("[============            ]") : QStringLiteral("[======      ]"),
            3 },
        { QStringLiteral("epoch 12/100  50%"), 0, QStringLiteral(" ") },
        { QStringLiteral("12345 img/s"), 5 },
        { QStringLiteral("(data 12%)"), 1, QStringLiteral(" ") },
        { QStringLiteral("loss 0.123"), 6 }, { QStringLiteral("sparsity 0.80/0.79"), 2 },
        { QStringLiteral("RSS 1234 MiB"), 1 },
        { QStringLiteral("GPU 10240 MiB (peak 12000 MiB)"), 2 }, { QStringLiteral("ETA 1h05m"), 7 }
    };
}

// A pseudo-terminal COLUMNS wide, output post-processing off (so "\n" is not turned into "\r\n").
class Pty {
public:
    explicit Pty(int columns)
    {
        m_master = ::posix_openpt(O_RDWR | O_NOCTTY);
        if (m_master < 0 || ::grantpt(m_master) != 0 || ::unlockpt(m_master) != 0)
            return;
        m_slaveName = QString::fromLocal8Bit(::ptsname(m_master));
        // Held open so reading the master does not fail (EIO) before the child opens the slave.
        m_slave = ::open(::ptsname(m_master), O_RDWR | O_NOCTTY);
        termios mode {};
        if (m_slave < 0 || ::tcgetattr(m_slave, &mode) != 0)
            return;
        mode.c_oflag &= ~tcflag_t(OPOST);
        winsize size {};
        size.ws_row = 24;
        size.ws_col = ushort(columns);
        m_ok = ::tcsetattr(m_slave, TCSANOW, &mode) == 0
            && ::ioctl(m_master, TIOCSWINSZ, &size) == 0
            && ::fcntl(m_master, F_SETFL, O_NONBLOCK) == 0;
    }
    ~Pty()
    {
        if (m_slave >= 0)
            ::close(m_slave);
        if (m_master >= 0)
            ::close(m_master);
    }
    bool ok() const { return m_ok; }
    QString slaveName() const { return m_slaveName; }

    // Everything written to the terminal so far (never blocks).
    QByteArray drain()
    {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::read(m_master, buffer, sizeof buffer);
            if (n <= 0)
                break;
            m_output.append(buffer, int(n));
        }
        return m_output;
    }

private:
    int m_master = -1;
    int m_slave = -1;
    bool m_ok = false;
    QString m_slaveName;
    QByteArray m_output;
};

} // namespace

class TestProgressLine : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data;
    int m_run = 0;

    // Runs a short training with the bar; stderr (and stdout when BOTHONTTY) on the terminal TTY,
    // stdout otherwise a pipe. Returns what the terminal received; *stdOut gets the piped stdout.
    QByteArray trainOn(Pty &tty, bool bothOnTty, QByteArray *stdOut = nullptr)
    {
        QProcess p;
        p.setStandardErrorFile(tty.slaveName(), QIODevice::Append);
        if (bothOnTty)
            p.setStandardOutputFile(tty.slaveName(), QIODevice::Append);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("COLUMNS")); // the terminal's own width must win
        p.setProcessEnvironment(env);
        p.start(leantune::testcli::cliPath(),
            { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
                m_dir.filePath(QStringLiteral("run%1").arg(++m_run)),
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--epochs"),
                QStringLiteral("2"), QStringLiteral("--batch-size"), QStringLiteral("4"),
                QStringLiteral("--device"), QStringLiteral("cpu"), QStringLiteral("--threads"),
                QStringLiteral("1"), QStringLiteral("--progress"), QStringLiteral("bar") });
        // Keeps the terminal drained while the run goes on, so the child never blocks on it.
        for (int waited = 0; !p.waitForFinished(100) && waited < 300000; waited += 100)
            tty.drain();
        const QByteArray out = tty.drain();
        if (stdOut)
            *stdOut = p.readAllStandardOutput();
        if (p.state() != QProcess::NotRunning) {
            p.kill();
            p.waitForFinished();
        }
        return p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0 ? out : QByteArray();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        leantune::testdata::writeImageFolder(m_data, 2, 24, 16, 3);
    }

    void lineFitsTheWidth_data()
    {
        QTest::addColumn<int>("columns");
        for (int columns : { 1, 10, 20, 39, 40, 60, 79, 80, 100, 120, 200 })
            QTest::newRow(qPrintable(QString::number(columns))) << columns;
    }

    void lineFitsTheWidth()
    {
        QFETCH(int, columns);
        const QString line = fitProgressLine(typicalFields(), columns);
        QVERIFY2(line.size() <= columns, qPrintable(line));
        // The epoch and percentage are never dropped, only cut when nothing else is left.
        const QString epoch = QStringLiteral("epoch 12/100  50%");
        if (columns >= epoch.size())
            QVERIFY2(line.contains(epoch), qPrintable(line));
        else
            QCOMPARE(line, epoch.left(columns));
    }

    void wideTerminalShowsEverything()
    {
        const QString line = fitProgressLine(typicalFields(true), 200);
        QCOMPARE(line,
            QStringLiteral(
                "[============            ] epoch 12/100  50% | 12345 img/s (data 12%) | loss "
                "0.123 | "
                "sparsity 0.80/0.79 | RSS 1234 MiB | GPU 10240 MiB (peak 12000 MiB) | ETA 1h05m"));
    }

    void leastImportantFieldsGoFirst()
    {
        // 80 columns: memory and sparsity go, the bar, speed, loss and ETA stay.
        QCOMPARE(fitProgressLine(typicalFields(), 79),
            QStringLiteral(
                "[======      ] epoch 12/100  50% | 12345 img/s | loss 0.123 | ETA 1h05m"));
        // Narrower: the bar and the speed go too, then the loss; the ETA stays longest.
        QCOMPARE(fitProgressLine(typicalFields(), 42),
            QStringLiteral("epoch 12/100  50% | loss 0.123 | ETA 1h05m"));
        QCOMPARE(
            fitProgressLine(typicalFields(), 40), QStringLiteral("epoch 12/100  50% | ETA 1h05m"));
    }

    // The bar holds its width whatever the fraction; the ETA says when it is not known yet.
    void barAndEtaFields()
    {
        QCOMPARE(progressBar(0.5, 12), QStringLiteral("[======      ]"));
        QCOMPARE(progressBar(0.0, 4), QStringLiteral("[    ]"));
        QCOMPARE(progressBar(1.7, 4), QStringLiteral("[====]"));
        QCOMPARE(progressBar(-0.2, 4), QStringLiteral("[    ]"));
        QCOMPARE(progressEta(-1.0), QStringLiteral("ETA --:--"));
        QCOMPARE(progressEta(75.4), QStringLiteral("ETA 1:15"));
        QCOMPARE(progressEta(3900.0), QStringLiteral("ETA 1h05m"));
    }

    void columnsFallBackToTheEnvironmentThenEighty()
    {
        if (::isatty(STDOUT_FILENO) || ::isatty(STDERR_FILENO))
            QSKIP("run from a terminal: its width comes first");
        const QByteArray saved = qgetenv("COLUMNS");
        qputenv("COLUMNS", "57");
        const int fromEnv = terminalColumns();
        qunsetenv("COLUMNS");
        const int fallback = terminalColumns();
        if (!saved.isNull())
            qputenv("COLUMNS", saved);
        QCOMPARE(fromEnv, 57);
        QCOMPARE(fallback, 80);
    }

    // An 80- and a 40-column terminal get one line redrawn in place: no segment between carriage
    // returns is wider than the terminal, so nothing wraps.
    void terminalBarFitsTheTerminal_data()
    {
        QTest::addColumn<int>("columns");
        QTest::newRow("80") << 80;
        QTest::newRow("40") << 40;
    }

    void terminalBarFitsTheTerminal()
    {
        QFETCH(int, columns);
        Pty tty(columns);
        if (!tty.ok())
            QSKIP("no pseudo-terminal here");
        const QByteArray out = trainOn(tty, true);
        QVERIFY2(!out.isEmpty(), "the training run failed");
        // Each redraw is "\r\033[K" and the bar up to the next carriage return; what ends in a
        // newline instead is a line printed once (the epoch summaries), which may wrap.
        int bars = 0;
        for (const QByteArray &segment : out.split('\r')) {
            if (!segment.startsWith("\033[K") || segment.contains('\n') || segment.size() == 3)
                continue;
            ++bars;
            const QString bar = QString::fromUtf8(segment.mid(3));
            QVERIFY2(bar.size() < columns, qPrintable(bar));
            QVERIFY2(bar.contains(QStringLiteral("epoch ")), qPrintable(bar));
        }
        QVERIFY2(bars > 0, out.constData());
        QVERIFY(out.contains("epoch 2/2: train loss"));
    }

    // stdout redirected (a log, a pipe) while stderr is still the terminal: no bar, no carriage
    // return; the per-epoch lines still come.
    void noBarWhenStdoutIsNotATerminal()
    {
        Pty tty(80);
        if (!tty.ok())
            QSKIP("no pseudo-terminal here");
        QByteArray stdOut;
        const QByteArray err = trainOn(tty, false, &stdOut);
        QVERIFY2(!err.isEmpty(), "the training run failed");
        QVERIFY2(!err.contains('\r'), err.constData());
        QVERIFY2(!stdOut.contains('\r'), stdOut.constData());
        QVERIFY2(!err.contains("[="), err.constData());
        QVERIFY(err.contains("epoch 1/2: train loss"));
        QVERIFY(err.contains("epoch 2/2: train loss"));
    }

    // Both streams piped, as a script or CI runs it.
    void noBarWhenPiped()
    {
        const leantune::testcli::Result r = leantune::testcli::runCli(
            { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
                m_dir.filePath(QStringLiteral("run-piped")), QStringLiteral("--input-size"),
                QStringLiteral("16"), QStringLiteral("--epochs"), QStringLiteral("1"),
                QStringLiteral("--batch-size"), QStringLiteral("4"), QStringLiteral("--device"),
                QStringLiteral("cpu"), QStringLiteral("--threads"), QStringLiteral("1") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(!r.err.contains(QLatin1Char('\r')) && !r.out.contains(QLatin1Char('\r')),
            qPrintable(r.err));
        QVERIFY(r.err.contains(QStringLiteral("epoch 1/1: train loss")));
    }
};

QTEST_GUILESS_MAIN(TestProgressLine)
#include "tst_progressline.moc"
