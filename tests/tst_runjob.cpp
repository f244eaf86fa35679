// RunJob: the one driver of a run for every front end. A stop during a validation or test pass ends
// the run as stopped with no partial figure; the passes report their progress and cannot be
// paused; every run is recorded in the run history unless told not.

#include "testdata.h"
#include "trainerharness.h"

#include "store/runstore.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QSemaphore>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using testdata::readJson;
using testtrainer::TrainerHarness;

class TestRunJob : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data, m_test;

    RunConfig config(const QString &name) const
    {
        RunConfig c = testtrainer::smallRunConfig(m_data, m_dir.filePath(name));
        c.testDir = m_test;
        c.epochs = 1;
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        m_test = m_dir.filePath(QStringLiteral("test"));
        testdata::writeImageFolder(m_data, 3, 40, 16, 1);
        testdata::writeImageFolder(m_test, 3, 20, 16, 2);
    }

    // The run is held at the start of PASS until the test has asked it to stop.
    void stopDuringAPassRecordsAStoppedRunWithoutItsFigure_data()
    {
        QTest::addColumn<QString>("pass");
        QTest::addColumn<QString>("key");
        QTest::newRow("test pass") << QStringLiteral("test") << QStringLiteral("test_accuracy");
        QTest::newRow("validation pass")
            << QStringLiteral("validation") << QStringLiteral("val_accuracy");
    }
    void stopDuringAPassRecordsAStoppedRunWithoutItsFigure()
    {
        QFETCH(QString, pass);
        QFETCH(QString, key);
        const RunConfig c = config(QStringLiteral("stop-in-") + pass);
        QSemaphore reached, proceed;
        RunJob::Options o;
        o.historyPath = m_dir.filePath(QStringLiteral("history-%1.sqlite").arg(pass));
        o.beforeEvalPass = [&](const QString &what) {
            if (what == pass) {
                reached.release();
                proceed.acquire();
            }
        };
        TrainerHarness h(c, o);
        // However the test ends, the run is let go before the harness waits for it (declared after
        // it).
        struct Release {
            QSemaphore &s;
            ~Release() { s.release(1000); }
        } release { proceed };
        h.start();
        QTRY_VERIFY_WITH_TIMEOUT(reached.available() > 0 || !h.failed->isEmpty(), 120000);
        QVERIFY2(reached.available() > 0, qPrintable(h.error()));
        h.job.stop();
        proceed.release();
        QVERIFY(h.waitDone());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        const RunSummary s = h.summary();
        QCOMPARE(s.status, QStringLiteral("stopped"));
        QCOMPARE(h.job.state(), RunJob::State::Stopped);
        if (pass == QLatin1String("test"))
            QVERIFY(s.testAccuracy < 0);
        else
            QVERIFY(s.valAccuracy < 0); // the only validation pass was cut short
        const QJsonObject json = readJson(c.outDir + QStringLiteral("/summary.json"));
        QCOMPARE(json.value(QStringLiteral("status")).toString(), QStringLiteral("stopped"));
        QVERIFY2(!json.contains(key), qPrintable(QString::fromUtf8(QJsonDocument(json).toJson())));
        QVERIFY(QFile::exists(c.outDir + QStringLiteral("/checkpoints")));
        RunStore store;
        QVERIFY(store.open(o.historyPath));
        const std::optional<StoredRun> stored = store.run(h.job.runId());
        QVERIFY(stored);
        QCOMPARE(stored->status, QStringLiteral("stopped"));
    }

    void aWholeRunReportsItsTestFigure()
    {
        const RunConfig c = config(QStringLiteral("whole"));
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QCOMPARE(h.summary().status, QStringLiteral("finished"));
        QVERIFY(h.summary().testAccuracy >= 0);
        QVERIFY(readJson(c.outDir + QStringLiteral("/summary.json"))
                    .contains(QStringLiteral("test_accuracy")));
        QCOMPARE(h.job.runId(), 0); // the harness keeps test runs out of the user's history
    }

    // Each validation and test pass reports its own progress: from 0, rising, to the pass's image
    // count; the job says so in its progress text and refuses a pause during the pass.
    void evaluationPassesReportTheirProgress()
    {
        const RunConfig c = config(QStringLiteral("eval-progress"));
        TrainerHarness h(c, {});
        QSignalSpy progress(&h.job, &RunJob::evaluationProgress);
        QStringList texts;
        QVector<RunJob::State> states;
        connect(&h.job, &RunJob::stateChanged, this,
            [&states](RunJob::State state) { states.append(state); });
        connect(&h.job, &RunJob::evaluationProgress, this, [&](const QString &pass, qint64 done) {
            texts.append(h.job.progressText());
            QVERIFY(h.job.isEvaluating());
            if (pass == QLatin1String("test") && done == 0)
                h.job.setPaused(true); // refused: the pass runs to its end
        });
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QCOMPARE(h.summary().status, QStringLiteral("finished"));
        QVERIFY(!states.contains(RunJob::State::Paused));
        QVERIFY(!h.job.isEvaluating());

        QMap<QString, QVector<qint64>> done;
        QMap<QString, qint64> total;
        QStringList order;
        for (const QList<QVariant> &args : progress) {
            const QString pass = args.at(0).toString();
            if (order.isEmpty() || order.last() != pass)
                order.append(pass);
            done[pass].append(args.at(1).toLongLong());
            if (total.contains(pass))
                QCOMPARE(args.at(2).toLongLong(), total[pass]); // one total per pass
            total[pass] = args.at(2).toLongLong();
        }
        QCOMPARE(order, QStringList({ QStringLiteral("validation"), QStringLiteral("test") }));
        QCOMPARE(total[QStringLiteral("test")], 60); // 3 classes of 20
        QCOMPARE(total[QStringLiteral("validation")], 30); // a quarter of 3 × 40
        for (const QString &pass : order) {
            const QVector<qint64> &d = done[pass];
            QCOMPARE(d.first(), 0);
            QCOMPARE(d.last(), total[pass]);
            for (int i = 1; i < d.size(); ++i)
                QVERIFY2(d[i] > d[i - 1], qPrintable(pass));
        }
        QVERIFY2(texts.contains(QStringLiteral("Evaluating the test set: 60 / 60 images")),
            qPrintable(texts.join(QLatin1Char('\n'))));
        QVERIFY2(texts.contains(QStringLiteral("Evaluating the validation set: 0 / 30 images")),
            qPrintable(texts.join(QLatin1Char('\n'))));
    }

    void everyRunIsRecordedInTheHistoryUnlessToldNot()
    {
        const QString path = m_dir.filePath(QStringLiteral("history.sqlite"));
        RunJob::Options o;
        o.historyPath = path;
        {
            TrainerHarness h(config(QStringLiteral("recorded")), o);
            QVERIFY(h.run());
            QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
            QVERIFY(h.job.runId() > 0);
        }
        RunStore store;
        QVERIFY(store.open(path));
        QVector<StoredRun> runs = store.runs();
        QCOMPARE(runs.size(), 1);
        QCOMPARE(runs.first().status, QStringLiteral("finished"));
        QVERIFY(runs.first().hasSummary);
        QVERIFY(runs.first().sampleCount > 0);
        QCOMPARE(qint64(store.samples(runs.first().id).size()), runs.first().sampleCount);

        o.recordHistory = false;
        {
            TrainerHarness h(config(QStringLiteral("not-recorded")), o);
            QVERIFY(h.run());
            QCOMPARE(h.job.runId(), 0);
        }
        QCOMPARE(store.runs().size(), 1);
    }

    void anInvalidConfigurationDoesNotStart()
    {
        RunConfig c = config(QStringLiteral("invalid"));
        c.epochs = 0;
        RunJob job(c);
        QString error;
        QVERIFY(!job.start(&error));
        QVERIFY2(error.contains(QStringLiteral("epochs")), qPrintable(error));
        QCOMPARE(job.state(), RunJob::State::Idle);
    }
};

QTEST_GUILESS_MAIN(TestRunJob)
#include "tst_runjob.moc"
