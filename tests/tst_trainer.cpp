// Trainer: seeded smoke runs on a generated data set, cancel, pause and resume, run-folder
// contents.

#include "testdata.h"
#include "trainerharness.h"

#include "train/checkpoint_p.h"
#include "train/rundir.h"
#include "train/trainer.h"
#include "metrics/memoryprobe.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

using namespace leantune;

namespace {

using testtrainer::TrainerHarness;

using testdata::readJson;

} // namespace

class TestTrainer : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_small; // 3 classes × 40 images, 16 px
    QString m_large; // 2 classes × 600 images, 16 px: epochs long enough to cancel mid-way

    RunConfig baseConfig(const QString &data, const QString &out) const
    {
        return testtrainer::smallRunConfig(data, out);
    }

private Q_SLOTS:
    void initTestCase()
    {
        usePredictableHostAllocator(); // as the programs do: the planner's probes measure host
                                       // memory
        QVERIFY(m_dir.isValid());
        m_small = m_dir.filePath(QStringLiteral("small"));
        m_large = m_dir.filePath(QStringLiteral("large"));
        testdata::writeImageFolder(m_small, 3, 40, 16, 1);
        testdata::writeImageFolder(m_large, 2, 600, 16, 2);
    }

    void seededTwoEpochRunLearnsAndWritesTheRunFolder()
    {
        const QString out = m_dir.filePath(QStringLiteral("run-smoke"));
        RunConfig c = baseConfig(m_small, out);
        c.prune = QStringLiteral("polynomial:0.2:0.6:0:10:3:2"); // last update at step 10
        TrainerHarness h(c, {});
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("finished"));
        QCOMPARE(s.epochs, 2);
        // 90 training images (30 per class after a 25% split) in batches of 16: 6 steps per epoch.
        QCOMPARE(s.steps, qint64(12));
        QCOMPARE(h.epochs->size(), 2);
        QVERIFY2(s.valAccuracy > 0.6, qPrintable(QString::number(s.valAccuracy))); // chance is 0.33
        QVERIFY(std::abs(s.targetSparsity - 0.6) < 1e-9);
        QVERIFY2(
            std::abs(s.finalSparsity - 0.6) < 0.01, qPrintable(QString::number(s.finalSparsity)));
        QVERIFY(s.peakHostRssBytes > 0);
        QCOMPARE(s.peakDeviceBytes, qint64(-1));

        for (const char *name : { "config.json", "metrics.csv", "summary.json", "model.pt" })
            QVERIFY2(QFile::exists(out + QLatin1Char('/') + QLatin1String(name)), name);
        QVERIFY(!listCheckpoints(out + QStringLiteral("/checkpoints")).isEmpty());
        const QJsonObject summary = readJson(out + QStringLiteral("/summary.json"));
        for (const char *key : { "val_accuracy", "final_sparsity", "target_sparsity",
                 "images_per_sec", "peak_host_rss_bytes", "peak_device_bytes", "steps", "epochs",
                 "skipped_files", "device" })
            QVERIFY2(summary.contains(QLatin1String(key)), key);
        QCOMPARE(summary.value(QStringLiteral("device")).toString(), QStringLiteral("cpu"));
        QVERIFY(!summary.contains(QStringLiteral("test_accuracy"))); // no test folder: no figure
        QVERIFY(summary.value(QStringLiteral("images_per_sec")).toDouble() > 0);

        QFile metrics(out + QStringLiteral("/metrics.csv"));
        QVERIFY(metrics.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = metrics.readAll().trimmed().split('\n');
        QCOMPARE(lines.size() - 1, h.samples->size()); // header + one row per emitted sample
        QVERIFY(lines.first().startsWith("step,epoch,"));

        // run.log: every message the run emitted, in order, then how it ended.
        QFile log(out + QStringLiteral("/run.log"));
        QVERIFY(log.open(QIODevice::ReadOnly));
        const QStringList logLines
            = QString::fromUtf8(log.readAll()).trimmed().split(QLatin1Char('\n'));
        QCOMPARE(logLines.size(), h.logs->size() + 1);
        for (int i = 0; i < h.logs->size(); ++i)
            QVERIFY2(logLines[i].endsWith(QLatin1Char(' ') + h.logs->at(i).first().toString()),
                qPrintable(logLines[i]));
        QVERIFY2(logLines.last().endsWith(QStringLiteral(" finished: finished")),
            qPrintable(logLines.last()));

        QString error;
        const std::optional<RunInfo> info = readRunInfo(out, &error);
        QVERIFY2(info, qPrintable(error));
        QCOMPARE(info->classNames,
            (QStringList {
                QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") }));
        QCOMPARE(info->config.model.classes, 3);
    }

    void sameSeedGivesTheSameRun()
    {
        double losses[2];
        for (int i = 0; i < 2; ++i) {
            RunConfig c = baseConfig(m_small, m_dir.filePath(QStringLiteral("run-seed-%1").arg(i)));
            c.epochs = 1;
            c.workers = i + 1; // the batches must not depend on the number of decode threads
            c.augment = true; // nor the per-sample augmentation
            TrainerHarness h(c, {});
            h.start();
            QVERIFY(h.waitDone());
            QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
            losses[i] = h.epochs->first().first().value<EpochSummary>().trainLoss;
        }
        QCOMPARE(losses[0], losses[1]);
    }

    void cancelMidEpochStopsWithinASecondAndResumeContinues()
    {
        const QString out = m_dir.filePath(QStringLiteral("run-cancel"));
        RunConfig c = baseConfig(m_large, out);
        c.batchSize = 8;
        c.epochs = 1;
        c.valSplit = 0.1;
        c.prune = QStringLiteral("constant:0.5:5:-1:5");
        qint64 cancelledAt = 0;
        {
            TrainerHarness h(c, {});
            QElapsedTimer sinceCancel;
            // Cancel from this (the GUI's) thread, through a queued signal, once the run is under
            // way.
            QObject::connect(&h.job, &RunJob::sampleReady, this, [&](const MetricsSample &s) {
                if (s.step >= 20 && !sinceCancel.isValid()) {
                    sinceCancel.start();
                    h.job.stop();
                }
            });
            h.start();
            QVERIFY(h.waitDone());
            QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
            QVERIFY(sinceCancel.isValid());
            const RunSummary s = h.summary();
            QCOMPARE(s.status, QStringLiteral("stopped"));
            QVERIFY2(
                sinceCancel.elapsed() < 1000, qPrintable(QString::number(sinceCancel.elapsed())));
            cancelledAt = s.steps;
            QVERIFY(cancelledAt >= 20);
            // 1080 training images / 8 = 135 steps in the epoch: the cancel came well before its
            // end.
            QVERIFY(cancelledAt < 135);
            QVERIFY(!QFile::exists(out + QStringLiteral("/model.pt")));
        }
        RunJob::Options resume;
        resume.resume = true;
        TrainerHarness h(c, resume);
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QVERIFY(!h.samples->isEmpty());
        const MetricsSample first = h.samples->first().first().value<MetricsSample>();
        QCOMPARE(first.event, QStringLiteral("resume"));
        QCOMPARE(first.step, cancelledAt);
        QVERIFY(first.measuredSparsity > 0.49); // masks came back with the checkpoint
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("finished"));
        QCOMPARE(s.steps, qint64(135));
        QVERIFY(QFile::exists(out + QStringLiteral("/model.pt")));
    }

    void pausedRunMakesNoProgressAndCancelEndsIt()
    {
        RunConfig c = baseConfig(m_large, m_dir.filePath(QStringLiteral("run-pause")));
        TrainerHarness h(c, {});
        QObject::connect(&h.job, &RunJob::sampleReady, this,
            [&](const MetricsSample &) { h.job.setPaused(true); });
        h.start();
        QTRY_VERIFY(h.samples->size() >= 1);
        // The job says "paused" once the trainer has stopped between batches: no sample is on its
        // way.
        QTRY_COMPARE(h.job.state(), RunJob::State::Paused);
        const int before = h.samples->size();
        QTest::qWait(300); // a paused run must stay silent: observe it for a while
        QCOMPARE(h.samples->size(), before);
        h.job.stop();
        QVERIFY(h.waitDone(5000));
        QCOMPARE(h.summary().status, QStringLiteral("stopped"));
    }

    void badInputFailsWithAMessage_data()
    {
        QTest::addColumn<QString>("data");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing folder")
            << QStringLiteral("/nonexistent/leantune") << QStringLiteral("no such folder");
        QTest::newRow("one class") << QStringLiteral("ONECLASS") << QStringLiteral("at least two");
    }

    void badInputFailsWithAMessage()
    {
        QFETCH(QString, data);
        QFETCH(QString, expected);
        if (data == QLatin1String("ONECLASS")) {
            data = m_dir.filePath(QStringLiteral("oneclass"));
            testdata::writeImageFolder(data, 1, 5);
        }
        TrainerHarness h(
            baseConfig(data,
                m_dir.filePath(QStringLiteral("run-bad-%1")
                                   .arg(QString::fromLatin1(QTest::currentDataTag())))),
            {});
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY(h.finished->isEmpty());
        QVERIFY2(h.error().contains(expected), qPrintable(h.error()));
    }

    void cudaRunReportsDeviceMemory_data()
    {
        QTest::addColumn<QString>("precision");
        QTest::addColumn<bool>("channelsLast");
        QTest::newRow("fp32") << QStringLiteral("fp32") << false;
        QTest::newRow("bf16 channels-last") << QStringLiteral("bf16") << true;
    }

    void cudaRunReportsDeviceMemory()
    {
        if (cudaDeviceCount() == 0)
            QSKIP("no CUDA device (CPU-only LibTorch or no GPU)");
        QFETCH(QString, precision);
        QFETCH(bool, channelsLast);
        RunConfig c
            = baseConfig(m_small, m_dir.filePath(QStringLiteral("run-cuda-%1").arg(precision)));
        c.device = QStringLiteral("cuda");
        c.precision = *enumFromName<Precision>(precision);
        c.memoryFormat = channelsLast ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
        TrainerHarness h(c, {});
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        const RunSummary s = h.summary();
        QCOMPARE(s.device, QStringLiteral("cuda:0"));
        QVERIFY(s.peakDeviceBytes > 0);
        QVERIFY2(s.valAccuracy > 0.6, qPrintable(QString::number(s.valAccuracy)));
        const MetricsSample last = h.samples->last().first().value<MetricsSample>();
        QVERIFY(last.deviceTotalBytes > 0);
        QVERIFY(last.deviceUsedBytes > 0 && last.deviceUsedBytes <= last.deviceTotalBytes);
    }

    void bf16OnTheCpuIsRefused()
    {
        RunConfig c = baseConfig(m_small, m_dir.filePath(QStringLiteral("run-bf16-cpu")));
        c.precision = Precision::Bf16;
        TrainerHarness h(c, {});
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY2(
            h.error().contains(QStringLiteral("bf16 needs a CUDA device")), qPrintable(h.error()));
    }

    void existingRunIsNotOverwrittenWithoutForce()
    {
        const QString out = m_dir.filePath(QStringLiteral("run-existing"));
        QDir().mkpath(out);
        QFile keep(out + QStringLiteral("/notes.txt"));
        QVERIFY(keep.open(QIODevice::WriteOnly));
        keep.write("precious");
        keep.close();
        TrainerHarness h(baseConfig(m_small, out), {});
        h.start();
        QVERIFY(h.waitDone());
        QVERIFY2(h.error().contains(QStringLiteral("not empty")), qPrintable(h.error()));
        QVERIFY(QFile::exists(out + QStringLiteral("/notes.txt")));
        QVERIFY(!QFile::exists(out + QStringLiteral("/config.json")));
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "tst_trainer.moc"
