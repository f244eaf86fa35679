// MainWindow: opens a folder (title, recent folders, status bar), trains and records a run that the
// charts and the history show, stops a run, reports a failing run in a banner instead of crashing,
// keeps its settings, and closes cleanly - also in the middle of a run.

#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"

#include "widgets/charts/livecharts.h"
#include "widgets/charts/qcp.h"
#include "widgets/dataset/thumbnailmodel.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/dataset/invalidfilemodel.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "mainwindow.h"
#include "widgets/runs/runhistorywidget.h"
#include "widgets/runs/runtablemodel.h"
#include "job/runjob.h"
#include "store/runstore.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QMenuBar>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolBar>

using namespace leantune;

class TestMainWindow : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data, m_test;

    RunConfig tinyRun(const QString &name, int epochs = 1) const
    {
        RunConfig c;
        c.dataDir = m_data;
        c.outDir = m_dir.filePath(QStringLiteral("runs/") + name);
        c.model.inputSize = 16;
        c.batchSize = 16;
        c.epochs = epochs;
        c.device = QStringLiteral("cpu");
        c.workers = 1;
        c.threads = 1;
        c.prune = QStringLiteral("polynomial:0.3:0.6:1:20:3:2");
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        guitestdata::isolateSettings(m_dir);
        m_data = m_dir.filePath(QStringLiteral("shapes"));
        guitestdata::writeImageFolder(m_data, 3, 40, 16);
        m_test = m_dir.filePath(QStringLiteral("shapes-test"));
        guitestdata::writeImageFolder(m_test, 3, 10, 16);
    }

    void opensFolder()
    {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.menuBar()->actions().size() >= 4);
        QVERIFY(w.findChild<QToolBar *>(QStringLiteral("mainToolBar")));
        QCOMPARE(w.findChildren<QDockWidget *>().size(), 3);
        QSignalSpy scanned(w.browser(), &DatasetBrowser::scanFinished);
        w.openFolder(m_data);
        QCOMPARE(w.windowTitle(), QStringLiteral("LeanTune — shapes"));
        QTRY_COMPARE(scanned.count(), 1);
        QCOMPARE(w.browser()->thumbnailModel()->rowCount(), 120);
        QCOMPARE(w.recentFolders().value(0), QFileInfo(m_data).absoluteFilePath());
        const QString status = w.statusText();
        QVERIFY2(
            status.contains(QStringLiteral("CPU, ")) || status.contains(QStringLiteral("CUDA")),
            qPrintable(status));
        QVERIFY2(status.contains(QStringLiteral("host memory")), qPrintable(status));
        QVERIFY2(status.contains(QStringLiteral("run: idle")), qPrintable(status));
        w.setConfirmOnClose(false);
        QVERIFY(w.close());
    }

    void trainsRecordsAndShows()
    {
        MainWindow w;
        w.show();
        w.openFolder(m_data);
        QSignalSpy ended(&w, &MainWindow::runEnded);
        const int before = w.history()->model()->rowCount();
        QString error;
        QVERIFY2(w.startRun(tinyRun(QStringLiteral("first")), &error), qPrintable(error));
        // The header says the schedule in words (tinyRun: polynomial:0.3:0.6:1:20:3:2).
        QVERIFY2(w.runTitleText().contains(
                     QStringLiteral("pruning: polynomial 30 % → 60 %, steps 1–20")),
            qPrintable(w.runTitleText()));
        QVERIFY(w.statusText().contains(QStringLiteral("run: starting"))
            || w.statusText().contains(QStringLiteral("run: training")));
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 180000);
        QCOMPARE(ended.first().first().toBool(), true);
        QVERIFY(w.errorBannerText().isEmpty());
        QVERIFY(w.charts()->pointCount(LiveCharts::Throughput) > 0);
        QVERIFY(w.charts()->pointCount(LiveCharts::Sparsity) > 0);
        QTRY_VERIFY(!w.job()->isActive());

        // The history shows the finished run, and selecting it draws its charts.
        QCOMPARE(w.history()->model()->rowCount(), before + 1);
        const StoredRun *run
            = w.history()->model()->runAt(w.history()->model()->rowOf(w.job()->runId()));
        QVERIFY(run);
        QCOMPARE(run->status, QStringLiteral("finished"));
        QVERIFY(run->hasSummary);
        QVERIFY(run->sampleCount > 0);
        w.history()->selectRuns({ run->id });
        QCOMPARE(w.history()->charts()->pointCount(LiveCharts::Throughput),
            w.charts()->pointCount(LiveCharts::Throughput));

        // "Run again..." previews the run's steps on the open folder, as the run dialog does.
        RunConfigDialog expected;
        expected.setConfig(run->config);
        expected.setClassCounts(w.browser()->datasetIndex()->classCounts());
        QVERIFY(expected.totalSteps() > 0);
        qint64 previewed = -1;
        QTimer::singleShot(0, &w, [&previewed] {
            if (auto *d = qobject_cast<RunConfigDialog *>(QApplication::activeModalWidget())) {
                previewed = d->totalSteps();
                guitestdata::saveScreenshot(d, "mainwindow-run-again");
                d->reject();
            }
        });
        Q_EMIT w.history()->rerunRequested(run->config);
        QCOMPARE(previewed, expected.totalSteps());
        w.setConfirmOnClose(false);
        QVERIFY(w.close());
    }

    void stopsAndCompares()
    {
        MainWindow w;
        w.show();
        QSignalSpy ended(&w, &MainWindow::runEnded);
        QVERIFY(w.startRun(tinyRun(QStringLiteral("long"), 200)));
        QTRY_VERIFY_WITH_TIMEOUT(w.charts()->pointCount(LiveCharts::Throughput) > 0, 120000);
        w.stopRun();
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 120000);
        QTRY_VERIFY(!w.job()->isActive());
        const auto stopped = w.store()->run(w.job()->runId());
        QCOMPARE(stopped->status, QStringLiteral("stopped"));

        // Two runs selected: their charts are overlaid.
        const QVector<StoredRun> runs = w.store()->runs();
        QVERIFY(runs.size() >= 2);
        w.history()->selectRuns({ runs[0].id, runs[1].id });
        QCOMPARE(w.history()->selectedRunIds().size(), 2);
        QCOMPARE(w.history()->charts()->plot(LiveCharts::Throughput)->graphCount(), 2);
        // Deleting one from the history keeps its folder.
        QVERIFY(w.history()->deleteRuns({ runs[0].id }, false));
        QVERIFY(!w.store()->run(runs[0].id));
        QVERIFY(QFileInfo(runs[0].config.outDir).isDir());
        w.setConfirmOnClose(false);
        w.close();
    }

    // A stopped run goes on from the history: same folder, same history row, from its checkpoint,
    // and the samples of the steps it trains again are not kept twice.
    void resumesAStoppedRunInItsOwnRow()
    {
        MainWindow w;
        w.show();
        QSignalSpy ended(&w, &MainWindow::runEnded);
        QVERIFY(w.startRun(tinyRun(QStringLiteral("resumable"), 200)));
        QTRY_VERIFY_WITH_TIMEOUT(w.charts()->pointCount(LiveCharts::Throughput) > 0, 120000);
        w.stopRun();
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 120000);
        QTRY_VERIFY(!w.job()->isActive());
        const qint64 id = w.job()->runId();
        const qint64 stoppedAt = w.job()->lastSample().step;
        QVERIFY(stoppedAt > 0);
        const int rows = w.history()->model()->rowCount();
        w.history()->selectRuns({ id });
        auto *resume = w.history()->findChild<QPushButton *>(QStringLiteral("resumeRun"));
        QVERIFY(resume);
        QTRY_VERIFY(resume->isEnabled());
        w.showTab(3); // the run history
        QVERIFY(guitestdata::saveScreenshot(&w, "mainwindow-history-resume"));

        ended.clear();
        resume->click();
        QVERIFY(w.job()->isActive());
        QCOMPARE(w.job()->runId(), id);
        QTRY_VERIFY_WITH_TIMEOUT(w.job()->lastSample().step > stoppedAt + 2, 120000);
        QCOMPARE(w.store()->run(id)->status, QStringLiteral("running"));
        w.stopRun();
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 120000);
        QTRY_VERIFY(!w.job()->isActive());
        QCOMPARE(w.history()->model()->rowCount(), rows);
        QCOMPARE(w.store()->run(id)->status, QStringLiteral("stopped"));
        // Each step's training sample once (epoch ends add their own, at the same step).
        QSet<qint64> steps;
        for (const MetricsSample &sample : w.store()->samples(id))
            if (sample.event.isEmpty()) {
                QVERIFY2(!steps.contains(sample.step), qPrintable(QString::number(sample.step)));
                steps.insert(sample.step);
            }
        w.setConfirmOnClose(false);
        w.close();
    }

    // While a validation or test pass runs, the bar and the text follow the pass's images and
    // Pause is off: the pass has no point to rest at, and the test pass ends the run.
    void evaluationPassShowsItsProgressWithoutPause()
    {
        MainWindow w;
        w.show();
        QSignalSpy ended(&w, &MainWindow::runEnded);
        RunConfig c = tinyRun(QStringLiteral("evaluated"));
        c.testDir = m_test;
        QVERIFY(w.startRun(c));
        auto *pause = w.findChild<QAction *>(QStringLiteral("pauseAction"));
        auto *bar = w.findChild<QProgressBar *>(QStringLiteral("runProgress"));
        auto *text = w.findChild<QLabel *>(QStringLiteral("progressText"));
        QVERIFY(pause && bar && text);
        int updates = 0;
        bool pauseOn = false, barFollows = true;
        QStringList texts;
        connect(w.job(), &RunJob::evaluationProgress, this,
            [&](const QString &pass, qint64 done, qint64 total) {
                ++updates;
                pauseOn = pauseOn || pause->isEnabled();
                barFollows = barFollows && bar->maximum() == total && bar->value() == done;
                texts.append(text->text());
                if (pass == QLatin1String("test") && done == total)
                    QVERIFY(guitestdata::saveScreenshot(&w, "mainwindow-evaluating"));
            });
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 180000);
        QCOMPARE(ended.first().first().toBool(), true);
        QVERIFY(updates >= 4); // each pass's 0 and its total
        QVERIFY(!pauseOn);
        QVERIFY(barFollows);
        QVERIFY2(texts.contains(QStringLiteral("Evaluating the test set: 30 / 30 images")),
            qPrintable(texts.join(QLatin1Char('\n'))));
        QVERIFY2(texts.contains(QStringLiteral("Evaluating the validation set: 0 / 12 images")),
            qPrintable(texts.join(QLatin1Char('\n'))));
        w.setConfirmOnClose(false);
        w.close();
    }

    void scheduleInWords_data()
    {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<QString>("words");
        QTest::newRow("none") << "none"
                              << "no pruning";
        QTest::newRow("polynomial") << "polynomial:0.5:0.8:0:56:3:4"
                                    << "pruning: polynomial 50 % → 80 %, steps 0–56";
        QTest::newRow("constant to end") << "constant:0.625:10:90:5"
                                         << "pruning: constant 62.5 %, steps 10–90";
        QTest::newRow("constant") << "constant:0.5:100"
                                  << "pruning: constant 50 % from step 100";
        QTest::newRow("malformed") << "polynomial:x"
                                   << "pruning polynomial:x";
    }

    void scheduleInWords()
    {
        QFETCH(QString, spec);
        QFETCH(QString, words);
        QCOMPARE(MainWindow::scheduleText(spec), words);
    }

    // Runs recorded by another connection (as leantune-cli records them) appear without a restart:
    // when the database changes, on F5, and when the window is activated.
    void historyShowsRunsRecordedElsewhere()
    {
        MainWindow w;
        w.setConfirmOnClose(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QVERIFY(w.store()->isOpen());
        RunStore other;
        QVERIFY2(other.open(w.store()->path()), qPrintable(other.lastError()));
        RunTableModel *model = w.history()->model();
        const int before = model->rowCount();

        const auto id = other.beginRun(tinyRun(QStringLiteral("elsewhere")));
        QVERIFY(id);
        QTRY_COMPARE(model->rowCount(), before + 1);
        QCOMPARE(model->runAt(model->rowOf(*id))->status, QStringLiteral("running"));
        QVERIFY(other.finishRun(*id, RunSummary()));
        QTRY_COMPARE(model->runAt(model->rowOf(*id))->status, QStringLiteral("finished"));

        // F5 and activation refresh at once: no event-loop turn between the write and the check.
        const auto second = other.beginRun(tinyRun(QStringLiteral("elsewhere2")));
        QVERIFY(second);
        QTest::keyClick(&w, Qt::Key_F5);
        QVERIFY(model->rowOf(*second) >= 0);
        const auto third = other.beginRun(tinyRun(QStringLiteral("elsewhere3")));
        QVERIFY(third);
        QEvent activated(QEvent::ActivationChange);
        QApplication::sendEvent(&w, &activated);
        QVERIFY(model->rowOf(*third) >= 0);
        w.close();
    }

    // A rejected file's whole reason is readable at any dock width (a wrapping tool tip, and under
    // the table), and "Show in file manager" / "Open run folder" say when no file manager opened
    // the folder, naming it (the offscreen platform has none).
    void dataChecksAndFoldersSayWhatHappened()
    {
        if (QGuiApplication::platformName() != QLatin1String("offscreen"))
            QSKIP("needs a platform without a file manager (offscreen)");
        const QString folder = m_dir.filePath(QStringLiteral("withbroken"));
        guitestdata::writeImageFolder(folder, 2, 5, 16);
        QFile broken(folder + QStringLiteral("/class0/broken.png"));
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write("this is not a PNG file, only its name says so");
        broken.close();
        MainWindow w;
        w.setConfirmOnClose(false);
        w.show();
        QSignalSpy scanned(w.browser(), &DatasetBrowser::scanFinished);
        w.openFolder(folder);
        QTRY_COMPARE(scanned.count(), 1);
        InvalidFileModel *invalid = w.browser()->invalidModel();
        QCOMPARE(invalid->rowCount(), 1);
        const QModelIndex reason = invalid->index(0, InvalidFileModel::ReasonColumn);
        const QString text = reason.data().toString();
        QVERIFY(!text.isEmpty());
        const QString tip = reason.data(Qt::ToolTipRole).toString();
        QVERIFY2(Qt::mightBeRichText(tip), qPrintable(tip)); // QToolTip wraps rich text only
        QVERIFY2(tip.contains(text.toHtmlEscaped()), qPrintable(tip));

        auto *table = w.browser()->dataChecks()->findChild<QTableView *>();
        QVERIFY(table);
        table->setCurrentIndex(invalid->index(0, 0));
        auto *detail
            = w.browser()->dataChecks()->findChild<QLabel *>(QStringLiteral("invalidDetail"));
        QVERIFY(detail);
        QVERIFY(detail->wordWrap());
        QVERIFY2(w.browser()->invalidDetailText().contains(text),
            qPrintable(w.browser()->invalidDetailText()));
        QPushButton *show = nullptr;
        for (QPushButton *b : w.browser()->dataChecks()->findChildren<QPushButton *>())
            if (b->text() == QLatin1String("Show in file manager"))
                show = b;
        QVERIFY(show);
        show->click();
        const QString shown = QDir::toNativeSeparators(folder + QStringLiteral("/class0"));
        QVERIFY2(w.browser()->invalidDetailText().contains(
                     QStringLiteral("No file manager opened ") + shown),
            qPrintable(w.browser()->invalidDetailText()));
        if (auto *dock = w.findChild<QDockWidget *>(QStringLiteral("checksDock"))) {
            dock->raise(); // its tab, to see it at the dock's width
            QVERIFY(guitestdata::saveScreenshot(&w, "mainwindow-datachecks"));
        }

        // The run history's "Open run folder".
        RunStore other;
        QVERIFY(other.open(w.store()->path()));
        const RunConfig c = tinyRun(QStringLiteral("to-open"));
        QVERIFY(QDir().mkpath(c.outDir));
        const auto id = other.beginRun(c);
        QVERIFY(id);
        w.history()->reload();
        w.history()->selectRuns({ *id });
        QPushButton *open = nullptr;
        for (QPushButton *b : w.history()->findChildren<QPushButton *>())
            if (b->text() == QLatin1String("Open run folder"))
                open = b;
        QVERIFY(open);
        QVERIFY(open->isEnabled());
        open->click();
        QVERIFY2(w.history()->hintText().contains(QStringLiteral("No file manager opened ")
                     + QDir::toNativeSeparators(c.outDir)),
            qPrintable(w.history()->hintText()));
        w.openFolder(m_data); // the last folder again, as the suite's later tests expect
        QTRY_COMPARE(scanned.count(), 2);
        w.close();
    }

    void failingRunShowsBanner()
    {
        const QString oneClass = m_dir.filePath(QStringLiteral("oneclass"));
        guitestdata::writeImageFolder(oneClass, 1, 10, 16);
        MainWindow w;
        w.show();
        QSignalSpy ended(&w, &MainWindow::runEnded);
        RunConfig c = tinyRun(QStringLiteral("bad"));
        c.dataDir = oneClass;
        QVERIFY(w.startRun(c));
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 60000);
        QCOMPARE(ended.first().first().toBool(), false);
        QTRY_VERIFY(!w.job()->isActive());
        QVERIFY2(w.errorBannerText().contains(QStringLiteral("stopped with an error")),
            qPrintable(w.errorBannerText()));
        QCOMPARE(w.store()->run(w.job()->runId())->status, QStringLiteral("failed"));
        // An invalid configuration does not start at all, and says why.
        RunConfig invalid = tinyRun(QStringLiteral("invalid"));
        invalid.batchSize = -3;
        QString error;
        QVERIFY(!w.startRun(invalid, &error));
        QVERIFY(!error.isEmpty());
        w.setConfirmOnClose(false);
        w.close();
    }

    void closesDuringRunAndKeepsSettings()
    {
        QRect geometry;
        {
            MainWindow w;
            w.show();
            w.resize(720, 520); // inside the offscreen platform's 800x600 screen
            QVERIFY(w.startRun(tinyRun(QStringLiteral("closing"), 200)));
            QTRY_VERIFY_WITH_TIMEOUT(w.job()->state() == RunJob::State::Running, 120000);
            w.setConfirmOnClose(false);
            QVERIFY(w.close()); // stops the run (a checkpoint is saved) and waits for it
            QVERIFY(!w.job()->isActive());
            // The stopped run's result summary must not widen the window past the 800x600 screen
            // (its one-line table did, and the restored size then differed).
            QTRY_VERIFY(!w.resultSummaryText().isEmpty());
            QCoreApplication::processEvents();
            QVERIFY2(w.width() <= 800, qPrintable(QString::number(w.width())));
            geometry = w.geometry();
        }
        MainWindow again;
        QCOMPARE(again.size(), geometry.size());
        QCOMPARE(again.recentFolders().value(0), QFileInfo(m_data).absoluteFilePath());
        QVERIFY(again.history()->model()->rowCount() >= 3);
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
