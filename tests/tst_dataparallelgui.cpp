// Data parallel from the GUI: the run dialog's "CPU, N processes" and "all GPUs" give
// device/nproc and back; a 2-process run started from the main window (RunJob: rank 0 in the GUI's
// process, rank 1 a leantune-cli worker) is one run in the charts and the history, with the
// throughput of both ranks and each rank's memory; Pause is off; stopping it, or losing a worker,
// leaves no worker process behind. LEANTUNE_SCREENSHOT_DIR=DIR saves the dialog and the window.

#include "clirunner.h"
#include "guifixtures.h"
#include "guitestdata.h"

#include "widgets/charts/livecharts.h"
#include "widgets/charts/qcp.h"
#include "widgets/dialogs/devicefield.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "mainwindow.h"
#include "job/runjob.h"
#include "store/runstore.h"

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QSemaphore>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QToolBar>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <memory>

using namespace leantune;

namespace {

bool processGone(qint64 pid)
{
    return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

void screenshot(QWidget &w, const QString &name)
{
    const QString dir = qEnvironmentVariable("LEANTUNE_SCREENSHOT_DIR");
    if (!dir.isEmpty())
        w.grab().save(QDir(dir).filePath(name));
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0.0;
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
}

// The names of the chart's graphs that have data.
QStringList graphsWithData(QCustomPlot *plot)
{
    QStringList names;
    for (int i = 0; i < plot->graphCount(); ++i)
        if (!plot->graph(i)->data()->isEmpty())
            names << plot->graph(i)->name();
    return names;
}

} // namespace

class TestDataParallelGui : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data;

    RunConfig twoProcesses(const QString &name, int epochs) const
    {
        RunConfig c;
        c.dataDir = m_data;
        c.outDir = m_dir.filePath(QStringLiteral("runs/") + name);
        c.model.inputSize = 16;
        c.batchSize = 16;
        c.epochs = epochs;
        c.device = QStringLiteral("cpu");
        c.nproc = 2; // what the dialog's "CPU, 2 processes" gives
        c.workers = 1;
        c.threads = 1;
        c.distTimeoutSec = 20;
        c.prune = QStringLiteral("polynomial:0.3:0.6:1:20:3:2");
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        guitestdata::isolateSettings(m_dir);
        qputenv("LEANTUNE_CLI", testcli::cliPath().toUtf8()); // the workers (not next to tests)
        m_data = m_dir.filePath(QStringLiteral("shapes"));
        guitestdata::writeImageFolder(m_data, 3, 120, 16);
    }

    // Each rank's figures survive the history (JSON) and are one metrics.csv cell per figure, a
    // value per rank; a rank not heard from yet is an empty value.
    void rankFiguresInTheHistoryAndTheCsv()
    {
        MetricsSample s;
        s.ranks = { { 100.5, 2000, -1 }, { 99.5, 3000, -1 }, { 0.0, 0, -1 } };
        const MetricsSample back = RunStore::sampleFromJson(s.toJson());
        QCOMPARE(back.ranks.size(), std::size_t(3));
        QCOMPARE(back.ranks[1].imagesPerSec, 99.5);
        QCOMPARE(back.ranks[1].hostRssBytes, std::int64_t(3000));
        QCOMPARE(back.ranks[1].deviceAllocatedBytes, std::int64_t(-1));
        QCOMPARE(back.toJson(), s.toJson());
        const QStringList header = MetricsSample::csvHeader();
        const QStringList row = s.toCsvRow().split(QLatin1Char(','));
        QCOMPARE(row.size(), header.size());
        QCOMPARE(row[header.indexOf(QStringLiteral("rank_images_per_sec"))],
            QStringLiteral("100.5;99.5;"));
        QCOMPARE(row[header.indexOf(QStringLiteral("rank_host_rss_bytes"))],
            QStringLiteral("2000;3000;"));
        QCOMPARE(row[header.indexOf(QStringLiteral("rank_device_allocated_bytes"))],
            QStringLiteral(";;"));
        QVERIFY(!MetricsSample().toJson().contains(QStringLiteral("ranks")));
        QVERIFY(MetricsSample().toCsvRow().endsWith(QStringLiteral(",,,"))); // single process
    }

    // "CPU, N processes" is device cpu with nproc N, and a run with those shows that entry again.
    void dialogChoosesCpuProcesses()
    {
        RunConfigDialog dialog;
        RunConfig c = twoProcesses(QStringLiteral("dialog"), 1);
        c.nproc = 1;
        dialog.setConfig(c);
        auto *field = dialog.findChild<DeviceField *>();
        QVERIFY(field);
        QComboBox *device = field->deviceBox();
        QSpinBox *processes = field->processBox();
        QVERIFY(!processes->isVisibleTo(&dialog)); // one process: no count to show
        const int entry = device->findText(QStringLiteral("CPU, N processes"), Qt::MatchStartsWith);
        QVERIFY(entry >= 0);
        device->setCurrentIndex(entry); // as a user picks it: two processes to start with
        QVERIFY(processes->isVisibleTo(&dialog));
        QCOMPARE(processes->value(), 2);
        QCOMPARE(dialog.config().nproc, 2);
        QCOMPARE(dialog.config().device, QStringLiteral("cpu"));
        QVERIFY2(dialog.canStart(), qPrintable(dialog.errorText()));
        QVERIFY(device->currentText().contains(QStringLiteral("2 processes")));
        dialog.resize(1100, 760);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        device->showPopup();
        QTest::qWait(200);
        screenshot(dialog, QStringLiteral("dialog-device-list.png"));
        if (QWidget *popup = device->view()->window())
            screenshot(*popup, QStringLiteral("dialog-device-popup.png"));
        device->hidePopup();
        screenshot(dialog, QStringLiteral("dialog-cpu-2-processes.png"));

        // A batch the processes cannot share evenly is said inline.
        RunConfig odd = dialog.config();
        odd.batchSize = 15;
        dialog.setConfig(odd);
        QVERIFY2(dialog.errorText().contains(QStringLiteral("multiple of the 2 processes")),
            qPrintable(dialog.errorText()));

        // And back: a run with 3 CPU processes shows the entry with its count.
        RunConfig three = c;
        three.nproc = 3;
        three.batchSize = 48;
        dialog.setConfig(three);
        QCOMPARE(device->currentIndex(), entry);
        QCOMPARE(processes->value(), 3);
        QCOMPARE(dialog.config().nproc, 3);
        QCOMPARE(dialog.config().device, QStringLiteral("cpu"));
        // Back to one CPU process.
        device->setCurrentIndex(device->findData(QStringLiteral("cpu")));
        QCOMPARE(dialog.config().nproc, 1);
        QVERIFY(!processes->isVisibleTo(&dialog));

        // With CUDA devices, "all GPUs" is cuda:all (one process per GPU: nproc stays 1).
        dialog.setCudaDevices({ QStringLiteral("GPU A"), QStringLiteral("GPU B") });
        const int all = device->findData(QStringLiteral("cuda:all"));
        QVERIFY(all >= 0);
        QVERIFY(device->itemText(all).startsWith(QStringLiteral("all GPUs (2)")));
        device->showPopup();
        QTest::qWait(200);
        if (QWidget *popup = device->view()->window())
            screenshot(*popup, QStringLiteral("dialog-device-popup-gpus.png"));
        device->hidePopup();
        device->setCurrentIndex(all);
        QCOMPARE(dialog.config().device, QStringLiteral("cuda:all"));
        QCOMPARE(dialog.config().nproc, 1);
        RunConfig gpus = c;
        gpus.device = QStringLiteral("cuda:all");
        dialog.setConfig(gpus);
        QCOMPARE(device->currentIndex(), all);
        QCOMPARE(dialog.config().device, QStringLiteral("cuda:all"));
    }

    // Rank 0 trains in the GUI, rank 1 in a worker: one run, its samples carrying both ranks.
    void twoProcessesAreOneRun()
    {
        MainWindow w;
        w.resize(1500, 950);
        w.show();
        w.openFolder(m_data);
        QSignalSpy ended(&w, &MainWindow::runEnded);
        const qsizetype before = w.store()->runs().size();
        QString error;
        QVERIFY2(w.startRun(twoProcesses(QStringLiteral("two"), 3), &error), qPrintable(error));
        QCOMPARE(w.job()->worldSize(), 2);
        const QVector<qint64> workers = w.job()->workerPids();
        QCOMPARE(workers.size(), 1);
        QAction *pause = nullptr;
        for (QAction *a : w.findChild<QToolBar *>(QStringLiteral("mainToolBar"))->actions())
            if (a->shortcut() == QKeySequence(Qt::CTRL | Qt::Key_P))
                pause = a;
        QVERIFY(pause);
        QTRY_VERIFY_WITH_TIMEOUT(
            w.job()->lastSample().ranks.size() == 2 || !ended.isEmpty(), 120000);
        QVERIFY(!pause->isEnabled());
        QVERIFY(pause->toolTip().contains(QStringLiteral("not available")));
        QTRY_VERIFY_WITH_TIMEOUT(
            graphsWithData(w.charts()->plot(LiveCharts::Memory)).size() >= 2 || !ended.isEmpty(),
            120000);
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 300000);
        QCOMPARE(ended.first().first().toBool(), true);
        w.charts()->flush();
        screenshot(w, QStringLiteral("mainwindow-2-processes-finished.png"));

        // The charts: one memory line per rank, each rank's images/s under the total.
        const QStringList memory = graphsWithData(w.charts()->plot(LiveCharts::Memory));
        QVERIFY2(memory.contains(QStringLiteral("host RSS, rank 0"))
                && memory.contains(QStringLiteral("host RSS, rank 1"))
                && !memory.contains(QStringLiteral("host RSS")),
            qPrintable(memory.join(QStringLiteral(" | "))));
        const QStringList throughput = graphsWithData(w.charts()->plot(LiveCharts::Throughput));
        QVERIFY2(throughput.contains(QStringLiteral("images/s, all 2 ranks"))
                && throughput.contains(QStringLiteral("rank 1")),
            qPrintable(throughput.join(QStringLiteral(" | "))));

        // One run in the history, finished, with the steps of the whole data set.
        const QVector<StoredRun> runs = w.store()->runs();
        QCOMPARE(runs.size(), before + 1);
        QCOMPARE(runs.first().id, w.job()->runId());
        QCOMPARE(runs.first().status, QStringLiteral("finished"));
        QCOMPARE(runs.first().config.nproc, 2);
        QCOMPARE(w.job()->summary().steps, w.job()->totalSteps());

        // Its samples: the throughput is the sum over the ranks (each rank's own images/s are
        // about half of it), and each rank's host memory is there. Rank 0's own figure covers the
        // same interval as the total; the other rank's arrives with the next step's allreduce, so
        // it is one interval old and is compared only through medians.
        std::vector<double> total, sum, ownShare;
        for (const MetricsSample &s : w.store()->samples(w.job()->runId())) {
            if (!s.event.isEmpty() || s.ranks.size() != 2 || s.ranks[1].imagesPerSec <= 0
                || s.ranks[0].imagesPerSec <= 0)
                continue;
            QVERIFY(s.ranks[0].hostRssBytes > 0 && s.ranks[1].hostRssBytes > 0);
            QCOMPARE(s.ranks[0].hostRssBytes, s.hostRssBytes); // rank 0 is this process
            total.push_back(s.imagesPerSec);
            sum.push_back(s.ranks[0].imagesPerSec + s.ranks[1].imagesPerSec);
            ownShare.push_back(s.imagesPerSec / s.ranks[0].imagesPerSec);
        }
        QVERIFY2(total.size() >= 3, qPrintable(QString::number(total.size())));
        const double ratio = median(total) / median(sum);
        QVERIFY2(ratio > 0.6 && ratio < 1.6, qPrintable(QString::number(ratio)));
        // Two ranks, each half of every global batch: the total is twice rank 0's own rate.
        QVERIFY2(median(ownShare) > 1.6 && median(ownShare) < 2.4,
            qPrintable(QString::number(median(ownShare))));

        // metrics.csv has the per-rank columns, one value per rank.
        QFile csv(QDir(runs.first().config.outDir).filePath(QStringLiteral("metrics.csv")));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList header
            = QString::fromUtf8(csv.readLine()).trimmed().split(QLatin1Char(','));
        const qsizetype column = header.indexOf(QStringLiteral("rank_host_rss_bytes"));
        QVERIFY(column > 0);
        const QStringList last = QString::fromUtf8(csv.readAll())
                                     .trimmed()
                                     .split(QLatin1Char('\n'))
                                     .last()
                                     .split(QLatin1Char(','));
        QCOMPARE(last.value(column).split(QLatin1Char(';')).size(), 2);

        QTRY_VERIFY_WITH_TIMEOUT(processGone(workers.first()), 5000);
        w.setConfirmOnClose(false);
        QVERIFY(w.close());
    }

    // Stop ends every rank after the same step: a stopped run, no worker left.
    void stopStopsEveryRank()
    {
        MainWindow w;
        w.resize(1500, 950);
        w.show();
        QSignalSpy ended(&w, &MainWindow::runEnded);
        QVERIFY(w.startRun(twoProcesses(QStringLiteral("stopped"), 200)));
        const QVector<qint64> workers = w.job()->workerPids();
        QCOMPARE(workers.size(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(w.job()->lastSample().step >= 80 || !ended.isEmpty(), 120000);
        QCOMPARE(graphsWithData(w.charts()->plot(LiveCharts::Memory)).size(), 2); // a line a rank
        w.charts()->flush();
        screenshot(w, QStringLiteral("mainwindow-2-processes-running.png"));
        w.stopRun();
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 120000);
        QVERIFY(!w.job()->isActive());
        QCOMPARE(w.store()->run(w.job()->runId())->status, QStringLiteral("stopped"));
        QVERIFY(processGone(workers.first()));
        w.setConfirmOnClose(false);
        w.close();
    }

    // A stop while rank 0 is at the start of its validation pass (the worker in the pass's first
    // collective) still ends every rank as stopped.
    void stopDuringValidationStopsEveryRank()
    {
        QSemaphore reached, proceed;
        RunJob::Options o;
        o.historyPath = m_dir.filePath(QStringLiteral("stop-in-validation.sqlite"));
        o.beforeEvalPass = [&](const QString &pass) {
            if (pass == QLatin1String("validation")) {
                reached.release();
                proceed.acquire();
            }
        };
        struct Release { // however the test ends, the run is let go before the job waits for it
            QSemaphore &s;
            ~Release() { s.release(1000); }
        };
        RunJob job(twoProcesses(QStringLiteral("stop-in-validation"), 200), o);
        Release release { proceed };
        QString error;
        QVERIFY2(job.start(&error), qPrintable(error));
        QTRY_VERIFY_WITH_TIMEOUT(reached.available() > 0 || !job.isActive(), 120000);
        QVERIFY2(reached.available() > 0, qPrintable(job.errorString()));
        const qint64 worker = job.workerPids().value(0);
        job.stop();
        proceed.release(1000);
        QVERIFY(job.waitForFinished(120000));
        QVERIFY2(job.state() == RunJob::State::Stopped, qPrintable(job.errorString()));
        QVERIFY(processGone(worker));
    }

    // Destroying the job mid-run (the window closed) stops and ends every rank.
    void destroyedJobLeavesNoWorker()
    {
        RunJob::Options o;
        o.recordHistory = false;
        auto job = std::make_unique<RunJob>(twoProcesses(QStringLiteral("destroyed"), 200), o);
        QString error;
        QVERIFY2(job->start(&error), qPrintable(error));
        QTRY_VERIFY_WITH_TIMEOUT(job->sampleCount() > 2 || !job->isActive(), 120000);
        const qint64 worker = job->workerPids().value(0);
        QVERIFY(worker > 0);
        job.reset();
        QVERIFY(processGone(worker));
    }

    // A worker killed mid-run fails the run with a message that names it; none is left behind.
    void lostWorkerFailsTheRun()
    {
        RunJob::Options o;
        o.historyPath = m_dir.filePath(QStringLiteral("lost.sqlite"));
        RunJob job(twoProcesses(QStringLiteral("lost"), 200), o);
        QSignalSpy failed(&job, &RunJob::failed);
        QString error;
        QVERIFY2(job.start(&error), qPrintable(error));
        QTRY_VERIFY_WITH_TIMEOUT(job.sampleCount() > 2 || !failed.isEmpty(), 120000);
        const qint64 worker = job.workerPids().value(0);
        QVERIFY(worker > 0);
        ::kill(pid_t(worker), SIGKILL);
        QVERIFY(job.waitForFinished(90000));
        QCOMPARE(job.state(), RunJob::State::Failed);
        QVERIFY2(
            job.errorString().contains(QStringLiteral("rank 1")), qPrintable(job.errorString()));
        QVERIFY(job.errorString().contains(QStringLiteral("killed by a signal")));
        QVERIFY(processGone(worker));
        RunStore store;
        QVERIFY(store.open(o.historyPath));
        QCOMPARE(store.runs().size(), 1);
        QCOMPARE(store.runs().first().status, QStringLiteral("failed"));
    }
};

QTEST_MAIN(TestDataParallelGui)
#include "tst_dataparallelgui.moc"
