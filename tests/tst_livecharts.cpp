// LiveCharts: decimation keeps the shape, redraws are throttled, tool-tips and PNG/PDF export, the
// input-bound verdict, comparison overlays, and a real short training run driving the charts
// through RunJob (their data counts grow; stop works; the run is recorded).

#include "guiscreenshot.h"
#include "guitestdata.h"

#include "widgets/charts/livecharts.h"
#include "widgets/charts/qcp.h"
#include "widgets/charts/seriesbuffer.h"
#include "job/runjob.h"
#include "store/runstore.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace leantune;

namespace {

MetricsSample fakeSample(std::int64_t step, double waitMs = 1.0, double computeMs = 9.0)
{
    MetricsSample s;
    s.step = step;
    s.imagesPerSec = 1000.0 + 100.0 * std::sin(double(step) / 10.0);
    s.dataWaitMs = waitMs;
    s.computeMs = computeMs;
    s.loss = 2.0 / (1.0 + double(step) / 50.0);
    s.accuracy = 1.0 - s.loss / 2.5;
    s.valAccuracy = step >= 100 ? 0.8 : -1.0;
    s.valLoss = step >= 100 ? 0.6 : -1.0;
    s.targetSparsity = std::min(0.8, double(step) / 1000.0);
    s.measuredSparsity = s.targetSparsity * 0.99;
    s.hostRssBytes = 200ll * 1024 * 1024 + step * 1024;
    return s;
}

} // namespace

class TestLiveCharts : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void decimationKeepsExtremes()
    {
        SeriesBuffer b;
        for (int i = 0; i < 100000; ++i)
            b.append(i, i == 54321 ? 1000.0 : (i == 77777 ? -500.0 : std::sin(i / 100.0)));
        QVector<double> x, y;
        b.decimated(2000, &x, &y);
        QVERIFY(x.size() <= 2000);
        QVERIFY(x.size() > 1000);
        QCOMPARE(x.first(), 0.0);
        QCOMPARE(x.last(), 99999.0);
        QVERIFY(std::is_sorted(x.cbegin(), x.cend()));
        QVERIFY(y.contains(1000.0)); // the spike survives
        QVERIFY(y.contains(-500.0));
        // Few points pass through unchanged.
        SeriesBuffer small;
        small.append(1, 2);
        small.append(2, 3);
        small.decimated(2000, &x, &y);
        QCOMPARE(x, (QVector<double> { 1, 2 }));
        double px = 0, py = 0;
        QVERIFY(b.nearest(54321.2, &px, &py));
        QCOMPARE(px, 54321.0);
        QCOMPARE(py, 1000.0);
    }

    void samplesFillEveryChart()
    {
        LiveCharts charts;
        charts.resize(1000, 700);
        charts.show();
        for (int step = 1; step <= 300; ++step)
            charts.addSample(fakeSample(step));
        charts.flush();
        QCOMPARE(charts.pointCount(LiveCharts::Throughput), 600); // images/s and data wait
        QCOMPARE(charts.pointCount(LiveCharts::Memory), 300); // host RSS only on CPU
        QCOMPARE(charts.pointCount(LiveCharts::Sparsity), 600);
        // train loss and accuracy each step; validation figures only when they change (once here).
        QCOMPARE(charts.pointCount(LiveCharts::LossAccuracy), 600 + 1 + 1);
        for (int c = 0; c < LiveCharts::ChartCount; ++c)
            QVERIFY(charts.displayedPointCount(LiveCharts::Chart(c)) > 0);
        // An event sample (epoch end: no training interval behind it, images/s 0) feeds memory and
        // sparsity but not throughput or the training loss.
        MetricsSample epochEnd = fakeSample(300);
        epochEnd.imagesPerSec = 0;
        epochEnd.event = QStringLiteral("epoch_end");
        charts.addSample(epochEnd);
        QCOMPARE(charts.pointCount(LiveCharts::Throughput), 600);
        QCOMPARE(charts.pointCount(LiveCharts::LossAccuracy), 602);
        QCOMPARE(charts.pointCount(LiveCharts::Memory), 301);
        MetricsSample oom = fakeSample(301);
        oom.event = QStringLiteral("oom_recovered");
        charts.addSample(oom);
        QCOMPARE(charts.plot(LiveCharts::Memory)->itemCount(), 2); // a marker line and its label
        // Keys follow the run, with room for the markers at both ends.
        const QCPRange keys = charts.plot(LiveCharts::Throughput)->xAxis->range();
        QVERIFY(keys.lower < 1.0 && keys.upper > 301.0);
        QVERIFY(keys.upper < 320.0);
        // Device lines stay out of the legend on a CPU run.
        QCOMPARE(charts.plot(LiveCharts::Memory)->legend->itemCount(), 1);

        charts.clear();
        QCOMPARE(charts.pointCount(LiveCharts::Throughput), 0);
    }

    void longRunIsDecimatedForDisplay()
    {
        LiveCharts charts;
        charts.setMaxDisplayPoints(1000);
        for (int step = 1; step <= 50000; ++step)
            charts.addSample(fakeSample(step));
        charts.flush();
        QCOMPARE(charts.pointCount(LiveCharts::Sparsity), 100000); // the whole run is kept
        QVERIFY(charts.displayedPointCount(LiveCharts::Sparsity) <= 2000); // two lines, ≤ 1000 each
    }

    void redrawsAreThrottled()
    {
        LiveCharts charts;
        charts.show();
        QSignalSpy redrawn(&charts, &LiveCharts::redrawn);
        QElapsedTimer t;
        t.start();
        // 2000 samples as fast as they come, with the event loop turning in between.
        for (int step = 1; step <= 2000; ++step) {
            charts.addSample(fakeSample(step));
            if (step % 50 == 0)
                QCoreApplication::processEvents();
        }
        const qint64 elapsed = t.elapsed();
        QTRY_VERIFY(redrawn.count() >= 1);
        // At most one redraw per 50 ms (+2 for the edges of the interval).
        QVERIFY2(redrawn.count() <= elapsed / 50 + 2,
            qPrintable(QStringLiteral("%1 redraws in %2 ms").arg(redrawn.count()).arg(elapsed)));
    }

    void toolTipsAndVerdict()
    {
        LiveCharts charts;
        for (int step = 1; step <= 20; ++step)
            charts.addSample(fakeSample(step, 30.0, 10.0)); // waits 75 % of the time
        charts.flush();
        const QString tip = charts.toolTipAt(LiveCharts::Throughput, 10.2);
        QVERIFY2(tip.startsWith(QStringLiteral("step 10")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("data wait: 75.0 %")), qPrintable(tip));
        QVERIFY(charts.toolTipAt(LiveCharts::Memory, 5).contains(QStringLiteral("MiB")));
        QVERIFY(charts.throughputVerdict().startsWith(QStringLiteral("input-bound")));

        charts.clear();
        for (int step = 1; step <= 20; ++step)
            charts.addSample(fakeSample(step, 1.0, 30.0));
        charts.flush();
        QVERIFY(charts.throughputVerdict().startsWith(QStringLiteral("compute-bound")));
        QVERIFY(charts.toolTipAt(LiveCharts::Sparsity, -100).startsWith(QStringLiteral("step 1")));
        LiveCharts empty;
        QVERIFY(empty.toolTipAt(LiveCharts::Sparsity, 1).isEmpty());
    }

    void savesPngAndPdf()
    {
        QTemporaryDir dir;
        LiveCharts charts;
        charts.resize(900, 600);
        for (int step = 1; step <= 100; ++step)
            charts.addSample(fakeSample(step));
        charts.flush();
        const QString png = dir.filePath(QStringLiteral("throughput.png"));
        const QString pdf = dir.filePath(QStringLiteral("sparsity.pdf"));
        QString error;
        QVERIFY2(charts.saveChart(LiveCharts::Throughput, png, &error), qPrintable(error));
        QVERIFY2(charts.saveChart(LiveCharts::Sparsity, pdf, &error), qPrintable(error));
        QImage image(png);
        QVERIFY(!image.isNull());
        QVERIFY(image.width() >= 640);
        QFile f(pdf);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY(f.read(5) == "%PDF-");
        QVERIFY(
            !charts.saveChart(LiveCharts::Memory, dir.filePath(QStringLiteral("x.gif")), &error));
        QVERIFY(error.contains(QStringLiteral(".png")));
    }

    // A 1-epoch run has one validation point, at the last step: its marker is inside the chart.
    void singleValidationPointIsInView()
    {
        LiveCharts charts;
        charts.resize(1000, 700);
        charts.show();
        QVERIFY(QTest::qWaitForWindowExposed(&charts));
        for (int step = 1; step <= 56; ++step) {
            MetricsSample s = fakeSample(step);
            s.valAccuracy = -1;
            s.valLoss = -1;
            charts.addSample(s);
        }
        MetricsSample epochEnd = fakeSample(56);
        epochEnd.event = QStringLiteral("epoch_end");
        epochEnd.valAccuracy = 0.7;
        epochEnd.valLoss = 0.9;
        charts.addSample(epochEnd);
        charts.flush();
        QCustomPlot *p = charts.plot(LiveCharts::LossAccuracy);
        p->replot(QCustomPlot::rpImmediateRefresh);
        QCPGraph *validation = nullptr;
        for (int i = 0; i < p->graphCount(); ++i)
            if (p->graph(i)->name() == QLatin1String("validation accuracy"))
                validation = p->graph(i);
        QVERIFY(validation);
        QCOMPARE(validation->dataCount(), 1);
        QVERIFY(validation->scatterStyle().shape() != QCPScatterStyle::ssNone);
        const double size = validation->scatterStyle().size();
        QVERIFY(size >= 5);
        const double x = p->xAxis->coordToPixel(56);
        const QRect plotArea = p->axisRect()->rect();
        QVERIFY2(x + size / 2 <= plotArea.right(),
            qPrintable(
                QStringLiteral("marker at %1, plot ends at %2").arg(x).arg(plotArea.right())));
        QVERIFY(guitestdata::saveScreenshot(&charts, "livecharts-one-epoch"));
    }

    // Legends sit outside the plots (they never cover a line), and only with entries.
    void legendsLeaveThePlotsFree()
    {
        LiveCharts charts;
        charts.resize(1000, 700);
        charts.show();
        QVERIFY(QTest::qWaitForWindowExposed(&charts));
        charts.flush();
        for (int c = 0; c < LiveCharts::ChartCount; ++c) {
            QCustomPlot *p = charts.plot(LiveCharts::Chart(c));
            p->replot(QCustomPlot::rpImmediateRefresh);
            QVERIFY2(
                !p->legend->visible(), qPrintable(LiveCharts::chartTitle(LiveCharts::Chart(c))));
        }
        QVERIFY(guitestdata::saveScreenshot(&charts, "livecharts-empty"));

        const auto verifyLegends = [&charts] {
            for (int c = 0; c < LiveCharts::ChartCount; ++c) {
                QCustomPlot *p = charts.plot(LiveCharts::Chart(c));
                p->replot(QCustomPlot::rpImmediateRefresh);
                const QString title = LiveCharts::chartTitle(LiveCharts::Chart(c));
                if (p->legend->itemCount() == 0) {
                    QVERIFY2(!p->legend->visible(), qPrintable(title));
                    continue;
                }
                QVERIFY2(p->legend->visible(), qPrintable(title));
                QVERIFY2(
                    !p->legend->outerRect().intersects(p->axisRect()->rect()), qPrintable(title));
                QVERIFY2(p->viewport().contains(p->legend->outerRect()), qPrintable(title));
            }
        };
        for (int step = 1; step <= 300; ++step) {
            MetricsSample s = fakeSample(step);
            s.deviceAllocatedBytes = 100ll << 20; // a CUDA run: six memory lines
            s.deviceReservedBytes = 120ll << 20;
            s.devicePeakBytes = 150ll << 20;
            s.deviceUsedBytes = 400ll << 20;
            s.deviceTotalBytes = 8000ll << 20;
            charts.addSample(s);
        }
        charts.flush();
        verifyLegends();
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(charts.plot(LiveCharts::Memory)->legend->itemCount(), 6);
        QVERIFY(guitestdata::saveScreenshot(&charts, "livecharts-legends"));

        QVector<MetricsSample> a, b, c;
        for (int step = 1; step <= 50; ++step) {
            a << fakeSample(step);
            b << fakeSample(step * 2);
            c << fakeSample(step * 3);
        }
        charts.setOverlay({ { QStringLiteral("#1 run-a"), a }, { QStringLiteral("#2 run-b"), b },
            { QStringLiteral("#3 run-c"), c } });
        verifyLegends();
        if (QTest::currentTestFailed())
            return;
        QVERIFY(guitestdata::saveScreenshot(&charts, "livecharts-overlay"));
        charts.clear();
        verifyLegends();
        if (QTest::currentTestFailed())
            return;
    }

    void overlayComparesRuns()
    {
        LiveCharts charts;
        QVector<MetricsSample> a, b;
        for (int step = 1; step <= 50; ++step) {
            a << fakeSample(step);
            b << fakeSample(step * 2);
        }
        charts.setOverlay({ { QStringLiteral("run A"), a }, { QStringLiteral("run B"), b } });
        QCOMPARE(charts.pointCount(LiveCharts::Throughput), 100);
        QCOMPARE(charts.plot(LiveCharts::Throughput)->legend->itemCount(), 2);
        QCOMPARE(charts.plot(LiveCharts::Throughput)->graph(1)->name(), QStringLiteral("run B"));
        // A live sample ends the comparison.
        charts.addSample(fakeSample(1));
        QCOMPARE(charts.pointCount(LiveCharts::Throughput), 2);
    }

    void realRunDrivesChartsAndStops()
    {
        QTemporaryDir dir;
        const QString data = dir.filePath(QStringLiteral("data"));
        guitestdata::writeImageFolder(data, 2, 400, 16);
        RunStore store;
        QVERIFY(store.open(dir.filePath(QStringLiteral("runs.sqlite"))));

        RunConfig c;
        c.dataDir = data;
        c.outDir = dir.filePath(QStringLiteral("run"));
        c.model.inputSize = 16;
        c.batchSize = 8;
        c.epochs = 50; // far longer than the test: it is stopped
        c.device = QStringLiteral("cpu");
        c.workers = 1;
        c.threads = 1;
        c.prune = QStringLiteral("polynomial:0.2:0.6:1:200:3:5");

        LiveCharts charts;
        charts.show();
        RunJob::Options options;
        options.store = &store;
        RunJob session(c, options);
        connect(&session, &RunJob::sampleReady, &charts, &LiveCharts::addSample);
        QSignalSpy finished(&session, &RunJob::finished);
        QSignalSpy failed(&session, &RunJob::failed);
        QSignalSpy started(&session, &RunJob::started);
        QString error;
        QVERIFY2(session.start(&error), qPrintable(error));
        QVERIFY(!session.start(&error)); // a job runs once
        QVERIFY(session.runId() > 0);

        QTRY_VERIFY_WITH_TIMEOUT(
            charts.pointCount(LiveCharts::Throughput) > 0 || !failed.isEmpty(), 120000);
        QVERIFY2(failed.isEmpty(),
            qPrintable(failed.isEmpty() ? QString() : failed.first().first().toString()));
        QCOMPARE(started.count(), 1);
        QCOMPARE(session.totalSteps(), session.stepsPerEpoch() * 50);
        const int first = charts.pointCount(LiveCharts::Throughput);
        QTRY_VERIFY_WITH_TIMEOUT(charts.pointCount(LiveCharts::Throughput) > first + 4, 60000);
        QTRY_VERIFY_WITH_TIMEOUT(charts.pointCount(LiveCharts::Sparsity) > 4, 60000);
        QTRY_VERIFY(charts.displayedPointCount(LiveCharts::Memory) > 0);
        QVERIFY(session.progressText().contains(QStringLiteral("step")));
        QVERIFY(session.secondsLeft() > 0);

        session.setPaused(true);
        QTRY_COMPARE(session.state(), RunJob::State::Paused);
        session.setPaused(false);
        QCOMPARE(session.state(), RunJob::State::Running);

        session.stop();
        QCOMPARE(session.state(), RunJob::State::Stopping);
        QVERIFY(session.waitForFinished(120000));
        QCOMPARE(failed.count(), 0);
        QCOMPARE(finished.count(), 1);
        const RunSummary summary = finished.first().first().value<RunSummary>();
        QCOMPARE(summary.status, QStringLiteral("stopped"));
        QVERIFY(summary.steps < session.totalSteps());

        const auto stored = store.run(session.runId());
        QVERIFY(stored);
        QCOMPARE(stored->status, QStringLiteral("stopped"));
        QCOMPARE(stored->sampleCount, qint64(session.sampleCount()));
        QCOMPARE(store.samples(session.runId()).size(), session.sampleCount());
    }

    void failureIsReportedNotCrashed()
    {
        QTemporaryDir dir;
        const QString data = dir.filePath(QStringLiteral("data"));
        guitestdata::writeImageFolder(data, 1, 10, 16); // one class: the trainer refuses
        RunStore store;
        QVERIFY(store.open(dir.filePath(QStringLiteral("runs.sqlite"))));
        RunConfig c;
        c.dataDir = data;
        c.outDir = dir.filePath(QStringLiteral("run"));
        c.model.inputSize = 16;
        c.device = QStringLiteral("cpu");
        RunJob::Options options;
        options.store = &store;
        RunJob session(c, options);
        QSignalSpy failed(&session, &RunJob::failed);
        QVERIFY(session.start());
        QVERIFY(session.waitForFinished(60000));
        QCOMPARE(failed.count(), 1);
        QVERIFY(!failed.first().first().toString().isEmpty());
        QCOMPARE(store.run(session.runId())->status, QStringLiteral("failed"));
    }

    void destroyedDuringRun()
    {
        QTemporaryDir dir;
        const QString data = dir.filePath(QStringLiteral("data"));
        guitestdata::writeImageFolder(data, 2, 200, 16);
        RunConfig c;
        c.dataDir = data;
        c.outDir = dir.filePath(QStringLiteral("run"));
        c.model.inputSize = 16;
        c.batchSize = 4;
        c.epochs = 100;
        c.device = QStringLiteral("cpu");
        c.threads = 1;
        RunJob::Options options;
        options.recordHistory = false;
        auto session = std::make_unique<RunJob>(c, options);
        QSignalSpy samples(session.get(), &RunJob::sampleReady);
        QVERIFY(session->start());
        QTRY_VERIFY_WITH_TIMEOUT(!samples.isEmpty(), 60000);
        QElapsedTimer t;
        t.start();
        session.reset(); // asks the trainer to stop and waits: no crash, no leak of the thread
        QVERIFY(t.elapsed() < 30000);
    }
};

QTEST_MAIN(TestLiveCharts)
#include "tst_livecharts.moc"
