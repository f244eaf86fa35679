// The Evaluation view: its confusion matrix and per-class table equal `leantune-cli evaluate
// --json` for the same run; a cell lists exactly the images with that label and prediction; two
// runs give the difference of their row-normalized matrices; a background evaluation reports
// progress, can be cancelled, and bad input is reported inline.

#include "clirunner.h"
#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"

#include "widgets/eval/classfiguresmodel.h"
#include "widgets/eval/confusionmatrixplot.h"
#include "widgets/eval/evaluationjob.h"
#include "widgets/eval/evaluationview.h"
#include "widgets/charts/qcp.h"
#include "metrics/evaluationsummary.h"
#include "metrics/predictions.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

using namespace leantune;

namespace {

// A predictions row of 3 classes a, b, c: the top columns put PREDICTED first with CONFIDENCE.
Prediction row(
    const QString &path, const QString &label, const QString &predicted, double confidence)
{
    Prediction p;
    p.path = path;
    p.label = label;
    p.predicted = predicted;
    p.confidence = confidence;
    p.loss = 0.5;
    p.top.push_back({ predicted, confidence });
    for (const QString &c : { QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c") })
        if (c != predicted)
            p.top.push_back({ c, (1.0 - confidence) / 2 });
    return p;
}

QVector<QVector<double>> jsonMatrix(const QJsonObject &report)
{
    QVector<QVector<double>> m;
    for (const QJsonValue &r : report.value(QStringLiteral("confusion")).toArray()) {
        QVector<double> row;
        for (const QJsonValue &v : r.toArray())
            row << v.toDouble();
        m << row;
    }
    return m;
}

} // namespace

class TestEvaluationView : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    guitestdata::TinyRun m_data;
    QJsonObject m_cliReport;

    QString path(const QString &name) const { return m_dir.filePath(name); }

    // The view's figures against evaluate's JSON: matrix, per-class table, headline figures.
    void compareWithCli(EvaluationView &view, const QJsonObject &json)
    {
        const EvaluationSummary *s = view.summary();
        QVERIFY(s);
        QCOMPARE(s->images, json.value(QStringLiteral("images")).toInt());
        QCOMPARE(s->accuracy, json.value(QStringLiteral("accuracy")).toDouble());
        QCOMPARE(s->macroF1, json.value(QStringLiteral("macro_f1")).toDouble());
        QCOMPARE(s->topKAccuracy, json.value(QStringLiteral("top5_accuracy")).toDouble());
        view.setNormalized(false);
        QCOMPARE(view.matrix()->mode(), ConfusionMatrixPlot::Mode::Counts);
        QCOMPARE(view.matrix()->values(), jsonMatrix(json));
        const QJsonArray perClass = json.value(QStringLiteral("per_class")).toArray();
        const ClassFiguresModel *m = view.figures();
        QCOMPARE(m->rowCount(), perClass.size());
        const auto cell
            = [m](int r, int c) { return m->index(r, c).data(ClassFiguresModel::ValueRole); };
        for (int r = 0; r < perClass.size(); ++r) {
            const QJsonObject e = perClass[r].toObject();
            QCOMPARE(cell(r, ClassFiguresModel::ClassColumn).toString(),
                e.value(QStringLiteral("name")).toString());
            const auto orUndefined
                = [&e](const char *key) { return e.value(QLatin1String(key)).toDouble(-1.0); };
            QCOMPARE(
                cell(r, ClassFiguresModel::PrecisionColumn).toDouble(), orUndefined("precision"));
            QCOMPARE(cell(r, ClassFiguresModel::RecallColumn).toDouble(), orUndefined("recall"));
            QCOMPARE(cell(r, ClassFiguresModel::F1Column).toDouble(), orUndefined("f1"));
            QCOMPARE(cell(r, ClassFiguresModel::SupportColumn).toInt(),
                e.value(QStringLiteral("support")).toInt());
        }
    }

    static bool writeFile(const QString &file, const QVector<Prediction> &rows)
    {
        QString error;
        const bool ok = writePredictions(file, rows, 3, {}, &error);
        if (!ok)
            qWarning().noquote() << error;
        return ok;
    }

    // A run folder with the trained run's config.json (classes class0..2) and PREDICTIONS.
    QString fakeRun(const QString &name, const QVector<Prediction> &predictions)
    {
        const QString dir = path(name);
        QDir().mkpath(dir);
        QFile::copy(QDir(m_data.run).filePath(QStringLiteral("config.json")),
            QDir(dir).filePath(QStringLiteral("config.json")));
        QString error;
        if (!predictions.isEmpty()
            && !writePredictions(
                QDir(dir).filePath(QStringLiteral("predictions.csv")), predictions, 3, {}, &error))
            qWarning().noquote() << error;
        return dir;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        // One epoch: the model is still wrong on some test images, so the matrix has errors.
        QString error;
        const std::optional<guitestdata::TinyRun> made
            = guitestdata::makeTinyRun(m_dir.path(), 30, 12, 3, &error);
        QVERIFY2(made, qPrintable(error));
        m_data = *made;
        QVERIFY(QFileInfo::exists(QDir(m_data.run).filePath(QStringLiteral("predictions.csv"))));
        const testcli::Result e
            = testcli::runCli({ QStringLiteral("evaluate"), m_data.run, QStringLiteral("--data"),
                m_data.test, QStringLiteral("--json"), QStringLiteral("--device"),
                QStringLiteral("cpu"), QStringLiteral("--threads"), QStringLiteral("1") });
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        m_cliReport = QJsonDocument::fromJson(e.out.toUtf8()).object();
        QVERIFY(m_cliReport.contains(QStringLiteral("confusion")));
    }

    void runMatrixAndTableEqualTheCliReport()
    {
        EvaluationView view;
        view.resize(1200, 800);
        QVERIFY(view.showRun(m_data.run, QStringLiteral("run")));
        QCOMPARE(view.messageText(), QString());
        compareWithCli(view, m_cliReport);
        QVERIFY2(view.figuresText().contains(QString::number(
                     100.0 * m_cliReport.value(QStringLiteral("accuracy")).toDouble(), 'f', 2)),
            qPrintable(view.figuresText()));
        // Row-normalized: each row divided by its support.
        view.setNormalized(true);
        QCOMPARE(view.matrix()->mode(), ConfusionMatrixPlot::Mode::Rates);
        const QVector<QVector<double>> rates = view.matrix()->values();
        const QVector<QVector<double>> counts = jsonMatrix(m_cliReport);
        for (int t = 0; t < counts.size(); ++t) {
            double support = 0;
            for (double v : counts[t])
                support += v;
            for (int p = 0; p < counts[t].size(); ++p)
                QCOMPARE(rates[t][p], counts[t][p] / support);
        }
        guitestdata::saveScreenshot(&view, "evaluation-view-run");
    }

    void tableSortsByItsNumbers()
    {
        EvaluationView view;
        QVERIFY(view.showRun(m_data.run));
        view.figuresView()->sortByColumn(ClassFiguresModel::RecallColumn, Qt::AscendingOrder);
        QAbstractItemModel *shown = view.figuresView()->model();
        for (int r = 1; r < shown->rowCount(); ++r)
            QVERIFY(shown->index(r - 1, ClassFiguresModel::RecallColumn)
                        .data(ClassFiguresModel::ValueRole)
                        .toDouble()
                <= shown->index(r, ClassFiguresModel::RecallColumn)
                       .data(ClassFiguresModel::ValueRole)
                       .toDouble());
    }

    void backgroundEvaluationEqualsTheCliReportAndReportsProgress()
    {
        EvaluationView view;
        QSignalSpy ended(&view, &EvaluationView::evaluationEnded);
        QSignalSpy progress(view.job(), &EvaluationJob::progress);
        const QString file = path(QStringLiteral("background.csv"));
        QVERIFY(view.evaluate(m_data.run, m_data.test, file));
        QVERIFY(view.job()->isRunning());
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, 120000);
        QCOMPARE(ended.first().first().toBool(), true);
        QVERIFY(!progress.isEmpty());
        const QList<QVariant> last = progress.last();
        QCOMPARE(last.at(0).toLongLong(), last.at(1).toLongLong()); // done == total at the end
        QCOMPARE(last.at(1).toLongLong(), 36);
        QCOMPARE(view.predictionsFile(), file);
        compareWithCli(view, m_cliReport);
    }

    void cancellingStopsTheEvaluationAndWritesNoFile()
    {
        const QString big = path(QStringLiteral("big"));
        guitestdata::writeImageFolder(big, 3, 500, 16, 7);
        EvaluationView view;
        EvaluateOptions options = view.job()->options();
        options.batchSize = 4; // many batches: the cancel lands long before the end
        options.threads = 1;
        view.job()->setOptions(options);
        QSignalSpy ended(&view, &EvaluationView::evaluationEnded);
        bool cancelled = false;
        qint64 doneAtCancel = -1;
        connect(view.job(), &EvaluationJob::progress, &view, [&](qint64 done, qint64 total) {
            QCOMPARE(total, 1500);
            if (done > 0 && !cancelled) {
                cancelled = true;
                doneAtCancel = done;
                view.cancelEvaluation();
            }
        });
        const QString file = path(QStringLiteral("cancelled.csv"));
        QVERIFY(view.evaluate(m_data.run, big, file));
        QVERIFY(view.progressBar()->isVisibleTo(&view));
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, 120000);
        QVERIFY(cancelled);
        QVERIFY(doneAtCancel > 0 && doneAtCancel < 1500);
        QCOMPARE(ended.first().first().toBool(), false);
        QVERIFY2(view.messageText().contains(QStringLiteral("cancelled")),
            qPrintable(view.messageText()));
        QVERIFY(!QFileInfo::exists(file));
        QVERIFY(!view.job()->isRunning());
        QVERIFY(!view.progressBar()->isVisibleTo(&view));
    }

    void clickingACellListsExactlyItsImagesByConfidence()
    {
        const QString file = path(QStringLiteral("known.csv"));
        const QVector<Prediction> rows {
            row(QStringLiteral("/d/b/1.png"), QStringLiteral("b"), QStringLiteral("a"), 0.55),
            row(QStringLiteral("/d/a/1.png"), QStringLiteral("a"), QStringLiteral("a"), 0.9),
            row(QStringLiteral("/d/b/2.png"), QStringLiteral("b"), QStringLiteral("a"), 0.95),
            row(QStringLiteral("/d/a/2.png"), QStringLiteral("a"), QStringLiteral("b"), 0.6),
            row(QStringLiteral("/d/b/3.png"), QStringLiteral("b"), QStringLiteral("b"), 0.8),
            row(QStringLiteral("/d/c/1.png"), QStringLiteral("c"), QStringLiteral("a"), 0.7),
            row(QStringLiteral("/d/b/4.png"), QStringLiteral("b"), QStringLiteral("a"), 0.75),
        };
        QVERIFY(writeFile(file, rows));
        EvaluationView view;
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QVERIFY(view.showPredictions(file,
            { QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c") },
            QStringLiteral("known")));
        QCustomPlot *plot = view.matrix()->plot();
        plot->replot(); // lays the axes out: cellCenter maps through them
        QTest::mouseClick(plot, Qt::LeftButton, {}, view.matrix()->cellCenter(1, 0));
        QCOMPARE(view.shownImagePaths(),
            QStringList({ QStringLiteral("/d/b/2.png"), QStringLiteral("/d/b/4.png"),
                QStringLiteral("/d/b/1.png") }));
        QTest::mouseClick(plot, Qt::LeftButton, {}, view.matrix()->cellCenter(2, 0));
        QCOMPARE(view.shownImagePaths(), QStringList({ QStringLiteral("/d/c/1.png") }));
        QTest::mouseClick(plot, Qt::LeftButton, {}, view.matrix()->cellCenter(2, 2));
        QCOMPARE(view.shownImagePaths(), QStringList());
        // The pairs list: most images first, then the larger share of the true class (c → a is
        // all of c, a → b half of a); a click lists that pair.
        QCOMPARE(view.confusedPairTexts(),
            QStringList({ QStringLiteral("b → a: 3"), QStringLiteral("c → a: 1"),
                QStringLiteral("a → b: 1") }));
        QTreeWidget *pairs = view.pairsView();
        const QRect third = pairs->visualItemRect(pairs->topLevelItem(2));
        QTest::mouseClick(pairs->viewport(), Qt::LeftButton, {}, third.center());
        QCOMPARE(view.shownImagePaths(), QStringList({ QStringLiteral("/d/a/2.png") }));
        // The hover text names the cell and its count.
        const QString tip = view.matrix()->toolTipAt(1, 0);
        QVERIFY2(tip.contains(QStringLiteral("true b, predicted a"))
                && tip.contains(QStringLiteral("3 images")),
            qPrintable(tip));
    }

    void twoRunsShowTheDifferenceOfTheirMatrices()
    {
        const QString c0 = QStringLiteral("class0"), c1 = QStringLiteral("class1"),
                      c2 = QStringLiteral("class2");
        const auto r = [](const QString &label, const QString &predicted) {
            Prediction p;
            p.path = QStringLiteral("/x/") + label + QStringLiteral(".png");
            p.label = label;
            p.predicted = predicted;
            p.confidence = 0.5;
            p.loss = 0.7;
            for (const QString &c :
                { QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") })
                if (c == predicted)
                    p.top.prepend({ c, 0.5 });
                else
                    p.top.push_back({ c, 0.25 });
            return p;
        };
        // A: class0 4/4 right, class1 2 of 4 as class2, class2 1 of 2 as class0.
        const QString a = fakeRun(QStringLiteral("run-a"),
            { r(c0, c0), r(c0, c0), r(c0, c0), r(c0, c0), r(c1, c1), r(c1, c1), r(c1, c2),
                r(c1, c2), r(c2, c2), r(c2, c0) });
        // B: class0 3 of 4 right (1 as class1), class1 all right, class2 all right.
        const QString b = fakeRun(QStringLiteral("run-b"),
            { r(c0, c0), r(c0, c0), r(c0, c0), r(c0, c1), r(c1, c1), r(c1, c1), r(c2, c2),
                r(c2, c2) });
        EvaluationView view;
        view.resize(1200, 800);
        QVERIFY(view.compareRuns(a, QStringLiteral("A"), b, QStringLiteral("B")));
        QVERIFY(view.comparing());
        QCOMPARE(view.matrix()->mode(), ConfusionMatrixPlot::Mode::Difference);
        const QVector<QVector<double>> expected {
            { 1.0 - 0.75, 0.0 - 0.25, 0.0 },
            { 0.0, 0.5 - 1.0, 0.5 - 0.0 },
            { 0.5 - 0.0, 0.0, 0.5 - 1.0 },
        };
        const QVector<QVector<double>> shown = view.matrix()->values();
        QCOMPARE(shown.size(), 3);
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p)
                QCOMPARE(shown[t][p] + 10.0, expected[t][p] + 10.0); // fuzzy near 0 too
        // The table's change columns: A's recall minus B's, in points.
        const QModelIndex recall1 = view.figures()->index(1, ClassFiguresModel::RecallChangeColumn);
        QCOMPARE(recall1.data(ClassFiguresModel::ValueRole).toDouble(), -50.0);
        guitestdata::saveScreenshot(&view, "evaluation-view-difference");
    }

    void fitsASmallWindow()
    {
        // The main window's tabs take the largest page's minimum: the view must not widen it.
        EvaluationView view;
        QVERIFY(view.showRun(m_data.run));
        const QSize min = view.minimumSizeHint();
        QVERIFY2(min.width() <= 640 && min.height() <= 420,
            qPrintable(QStringLiteral("%1x%2").arg(min.width()).arg(min.height())));
    }

    void badInputIsReportedInline()
    {
        EvaluationView view;
        // Not a run folder.
        QVERIFY(!view.showRun(path(QStringLiteral("train"))));
        QVERIFY2(view.messageText().contains(QStringLiteral("Cannot evaluate")),
            qPrintable(view.messageText()));
        // A run folder without a model (and no predictions): the background evaluation says so.
        const QString noModel = fakeRun(QStringLiteral("no-model"), {});
        QSignalSpy ended(&view, &EvaluationView::evaluationEnded);
        QVERIFY(view.showRun(noModel));
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, 60000);
        QCOMPARE(ended.last().first().toBool(), false);
        QVERIFY2(view.messageText().startsWith(QStringLiteral("Evaluation failed")),
            qPrintable(view.messageText()));
        // A data folder with another number of classes.
        QVERIFY(view.evaluate(m_data.run, m_data.two, path(QStringLiteral("two.csv"))));
        QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 2, 60000);
        QCOMPARE(ended.last().first().toBool(), false);
        QVERIFY2(view.messageText().contains(QStringLiteral("3 classes"))
                && view.messageText().contains(QStringLiteral("2 class folders")),
            qPrintable(view.messageText()));
        guitestdata::saveScreenshot(&view, "evaluation-view-error");
        // A predictions file that names a class the run does not have.
        const QString stray = path(QStringLiteral("stray.csv"));
        QVERIFY(writeFile(stray,
            { row(QStringLiteral("/d/a.png"), QStringLiteral("a"), QStringLiteral("a"), 0.9) }));
        QVERIFY(!view.showPredictions(stray, { QStringLiteral("class0") }, QStringLiteral("x")));
        QVERIFY2(view.messageText().contains(QStringLiteral("not one of")),
            qPrintable(view.messageText()));
    }
};

QTEST_MAIN(TestEvaluationView)
#include "tst_evaluationview.moc"
