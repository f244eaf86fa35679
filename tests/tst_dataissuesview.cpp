// Tests for the Data issues view (widgets/audit/dataissuesview.h) in the main window: it reopens
// the folder's last audit, reviews items with its keys (relabel, exclude, keep, keep one of a
// duplicate group, undo) straight into leantune-corrections.csv, the browser's Classes and Data
// checks count the decisions, a training run counts relabeled images under their new class and
// excluded ones not at all, and apply-corrections then --undo gives back every file byte for byte.
// It also refuses an audit of another data set and a folder with one class.

#include "clirunner.h"
#include "filetree.h"
#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"
#include "mainwindow.h"

#include "widgets/audit/dataissuesview.h"
#include "widgets/dataset/datasetbrowser.h"
#include "audit/auditreport.h"
#include "dataset/corrections.h"
#include "dataset/datasetscanner.h"
#include "metrics/predictions.h"

#include <QLabel>
#include <QListView>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using namespace leantune::testcli;
using namespace leantune::testfiles;

namespace {

// The data and test folders' files (not the settings and the audit beside them), keyed
// "data/..." and "test/...".
QMap<QString, QByteArray> dataTrees(const QString &data, const QString &test)
{
    QMap<QString, QByteArray> out;
    for (const QString &root : { data, test }) {
        const QMap<QString, QByteArray> tree = treeHashes(root);
        for (auto it = tree.begin(); it != tree.end(); ++it)
            out.insert(QFileInfo(root).fileName() + QLatin1Char('/') + it.key(), it.value());
    }
    return out;
}

// CLASSES folders of PERCLASS 16 px PNGs named "classK-N.png" (unique across classes, so a
// relabeled file moves without a clash).
void writeData(const QString &root, int classes, int perClass, unsigned seed)
{
    QVERIFY(testfiles::prefixFileNamesWithClass(
        root, guitestdata::writeImageFolder(root, classes, perClass, 16, seed)));
}

QString at(const QString &root, const QString &rel)
{
    return QDir(root).filePath(rel);
}

} // namespace

class TestDataIssuesView : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data, m_test;

    // An audit of m_data (+ m_test) as `leantune-cli audit` writes it, with the fold predictions
    // that give the label issues' top 3.
    void writeAuditOf(const QString &auditDir)
    {
        QString error;
        ScanOptions raw;
        raw.applyCorrections = false;
        const auto train = scanDataset(m_data, raw, &error);
        const auto test = scanDataset(m_test, raw, &error);
        QVERIFY2(train && test, qPrintable(error));
        AuditReport report;
        report.source = AuditSource::of(*train, nullptr, &*test);
        report.images = report.source.files;
        report.folds = 3;
        const auto issue
            = [&](const char *rel, const char *given, const char *suggested, double s) {
                  report.labelIssues.push_back({ at(m_data, QLatin1String(rel)),
                      QLatin1String(given), QLatin1String(suggested), s });
              };
        issue("class0/class0-0000.png", "class0", "class1", 0.01);
        issue("class0/class0-0001.png", "class0", "class2", 0.02);
        issue("class1/class1-0000.png", "class1", "class2", 0.03);
        issue("class2/class2-0000.png", "class2", "class0", 0.04);
        issue("class2/class2-0001.png", "class2", "class1", 0.05);
        AuditDuplicateGroup leak;
        leak.kind = AuditDuplicateGroup::Kind::Exact;
        leak.leak = true;
        leak.images = { { at(m_data, QStringLiteral("class1/class1-0001.png")), AuditSplit::Train,
                            QStringLiteral("class1") },
            { at(m_test, QStringLiteral("class1/class1-dup.png")), AuditSplit::Test,
                QStringLiteral("class1") } };
        report.duplicates.push_back(leak);
        report.outliers.push_back({ at(m_data, QStringLiteral("class2/class2-0002.png")), 3.5 });
        report.overlappingClasses.push_back(
            { QStringLiteral("class0"), QStringLiteral("class1"), 0.1 });
        QVERIFY2(writeAudit(auditDir, report, &error), qPrintable(error));
        QVector<Prediction> rows;
        for (const AuditLabelIssue &i : report.labelIssues) {
            Prediction p;
            p.path = i.path;
            p.label = i.given;
            // Three classes: the third is the one neither given nor suggested.
            const int third = 3 - i.given.right(1).toInt() - i.suggested.right(1).toInt();
            p.top = { { i.suggested, 0.7 }, { i.given, 0.2 },
                { QStringLiteral("class%1").arg(third), 0.1 } };
            p.predicted = i.suggested;
            p.confidence = 0.7;
            p.loss = 1.6;
            rows << p;
        }
        QDir().mkpath(auditDir + QStringLiteral("/folds/0"));
        QVERIFY2(writePredictions(
                     auditDir + QStringLiteral("/folds/0/predictions.csv"), rows, 3, {}, &error),
            qPrintable(error));
    }

private Q_SLOTS:
    void initTestCase()
    {
        guitestdata::isolateSettings(m_dir);
        m_data = m_dir.filePath(QStringLiteral("data"));
        m_test = m_dir.filePath(QStringLiteral("test"));
        writeData(m_data, 3, 6, 1);
        writeData(m_test, 3, 2, 2);
        QVERIFY(QFile::copy(at(m_data, QStringLiteral("class1/class1-0001.png")),
            at(m_test, QStringLiteral("class1/class1-dup.png"))));
    }

    // The whole review through the main window, then training and apply-corrections on its result.
    void reviewTrainApplyAndUndo()
    {
        writeAuditOf(DataIssuesView::defaultAuditDir(m_data));
        const QMap<QString, QByteArray> original = dataTrees(m_data, m_test);

        MainWindow w;
        w.setConfirmOnClose(false);
        w.resize(1366, 768);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto *view = w.findChild<DataIssuesView *>();
        QVERIFY(view);
        QSignalSpy scanned(w.browser(), &DatasetBrowser::scanFinished);
        w.openFolder(m_data);
        QTRY_COMPARE(scanned.count(), 1);
        // The folder's last audit opens by itself.
        QCOMPARE(view->auditDir(), DataIssuesView::defaultAuditDir(m_data));
        QCOMPARE(view->errorText(), QString());
        QCOMPARE(view->remaining(DataIssuesView::WrongLabels), 5);
        QCOMPARE(view->remaining(DataIssuesView::Duplicates), 1);
        QCOMPARE(view->remaining(DataIssuesView::Outliers), 1);
        QCOMPARE(view->remaining(DataIssuesView::OverlappingClasses), 1);
        auto *tabs = w.findChild<QTabWidget *>();
        tabs->setCurrentWidget(view);
        view->setCurrentList(DataIssuesView::WrongLabels);
        auto *list = view->findChild<QListView *>(QStringLiteral("wrongLabels"));
        list->setFocus();
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class0/class0-0000.png")));
        QVERIFY2(view->detailText().contains(QStringLiteral("Top 3: class1 70.0 %")),
            qPrintable(view->detailText()));
        guitestdata::saveScreenshot(&w, "dataissues-wrong-labels");

        // X then Ctrl+Z on a folder without a corrections file leaves it without one.
        QTest::keyClick(list, Qt::Key_X);
        QVERIFY(QFileInfo::exists(Corrections::filePath(m_data)));
        QTest::keyClick(list, Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!QFileInfo::exists(Corrections::filePath(m_data)));
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class0/class0-0000.png")));
        QCOMPARE(view->undoCount(), 0);

        // R: relabel to the suggestion; the next issue becomes current.
        QTest::keyClick(list, Qt::Key_R);
        QCOMPARE(view->remaining(DataIssuesView::WrongLabels), 4);
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class0/class0-0001.png")));
        // Relabel to another class than the suggestion.
        QVERIFY(view->relabelTo(QStringLiteral("class1")));
        // X: exclude; K: keep (not an issue).
        QTest::keyClick(list, Qt::Key_X);
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class2/class2-0000.png")));
        QTest::keyClick(list, Qt::Key_K);
        // X then Ctrl+Z: the decision is taken back and the issue is queued again.
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class2/class2-0001.png")));
        QTest::keyClick(list, Qt::Key_X);
        QCOMPARE(view->remaining(DataIssuesView::WrongLabels), 0);
        QTest::keyClick(list, Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(view->remaining(DataIssuesView::WrongLabels), 1);
        QCOMPARE(view->currentPath(), at(m_data, QStringLiteral("class2/class2-0001.png")));

        // The duplicate group (a leak): 2 keeps the test copy and excludes the training one.
        view->setCurrentList(DataIssuesView::Duplicates);
        auto *groups = view->findChild<QListView *>(QStringLiteral("duplicates"));
        groups->setFocus();
        QVERIFY2(
            view->detailText().contains(QStringLiteral("Leak")), qPrintable(view->detailText()));
        guitestdata::saveScreenshot(&w, "dataissues-duplicates");
        QTest::keyClick(groups, Qt::Key_2);
        QCOMPARE(view->remaining(DataIssuesView::Duplicates), 0);
        QCOMPARE(view->undoCount(), 5);

        QCOMPARE(readFile(Corrections::filePath(m_data)),
            QByteArray("path,action,label\n"
                       "class0/class0-0000.png,relabel,class1\n"
                       "class0/class0-0001.png,relabel,class1\n"
                       "class1/class1-0000.png,exclude,\n"
                       "class1/class1-0001.png,exclude,\n"
                       "class2/class2-0000.png,keep,\n"));
        QCOMPARE(readFile(Corrections::filePath(m_test)),
            QByteArray("path,action,label\nclass1/class1-dup.png,keep,\n"));

        // The browser rescans: the Classes dock counts the corrected classes, Data checks says why.
        QTRY_VERIFY(w.browser()->datasetIndex() && w.browser()->datasetIndex()->excluded == 2
            && !w.browser()->isScanning());
        QCOMPARE(w.browser()->datasetIndex()->classCounts(), (QVector<int> { 4, 6, 6 }));
        const QString checks = w.findChild<QLabel *>(QStringLiteral("sizeStats"))->text();
        QVERIFY2(checks.contains(QStringLiteral("2 relabeled, 2 excluded")), qPrintable(checks));
        // A reopened view shows only what is left to review.
        DataIssuesView again;
        again.setDataFolder(m_data);
        QCOMPARE(again.remaining(DataIssuesView::WrongLabels), 1);
        QCOMPARE(again.remaining(DataIssuesView::Duplicates), 0);
        QCOMPARE(again.remaining(DataIssuesView::Outliers), 1);
        w.close();

        // A run trains on the corrected labels: its validation predictions list every image it
        // saw with the label it trained on.
        const QString run = m_dir.filePath(QStringLiteral("run"));
        const Result r = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--val"), m_data, QStringLiteral("--out"), run,
            QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
            QStringLiteral("1"), QStringLiteral("--epochs"), QStringLiteral("1"),
            QStringLiteral("--batch-size"), QStringLiteral("4"), QStringLiteral("--device"),
            QStringLiteral("cpu"), QStringLiteral("--progress"), QStringLiteral("none"),
            QStringLiteral("--no-history") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QMap<QString, QString> labels;
        const QList<QByteArray> lines
            = readFile(run + QStringLiteral("/predictions-val.csv")).split('\n');
        for (int i = 1; i < lines.size(); ++i)
            if (!lines[i].isEmpty())
                labels.insert(QFileInfo(QString::fromUtf8(lines[i].split(',').value(0))).fileName(),
                    QString::fromUtf8(lines[i].split(',').value(1)));
        QCOMPARE(labels.size(), 16);
        QCOMPARE(labels.value(QStringLiteral("class0-0000.png")), QStringLiteral("class1"));
        QCOMPARE(labels.value(QStringLiteral("class0-0001.png")), QStringLiteral("class1"));
        QVERIFY(!labels.contains(QStringLiteral("class1-0000.png")));
        QVERIFY(!labels.contains(QStringLiteral("class1-0001.png")));
        QCOMPARE(labels.value(QStringLiteral("class2-0000.png")), QStringLiteral("class2"));
        QVERIFY(QDir(run).removeRecursively());

        // apply-corrections moves the files; --undo gives back every file byte for byte.
        const QMap<QString, QByteArray> reviewed = dataTrees(m_data, m_test);
        Result a = runCli({ QStringLiteral("apply-corrections"), m_data });
        QVERIFY2(a.exitCode == 0, qPrintable(a.err));
        QVERIFY(QFileInfo::exists(at(m_data, QStringLiteral("class1/class0-0000.png"))));
        QVERIFY(!QFileInfo::exists(at(m_data, QStringLiteral("class1/class1-0000.png"))));
        a = runCli({ QStringLiteral("apply-corrections"), m_data, QStringLiteral("--undo") });
        QVERIFY2(a.exitCode == 0, qPrintable(a.err));
        QMap<QString, QByteArray> now = dataTrees(m_data, m_test);
        QCOMPARE(now.keys(), reviewed.keys());
        QVERIFY(now == reviewed);
        // And with the corrections files removed, the tree is the one before the review.
        QVERIFY(QFile::remove(Corrections::filePath(m_data)));
        QVERIFY(QFile::remove(Corrections::filePath(m_test)));
        now = dataTrees(m_data, m_test);
        QCOMPARE(now.keys(), original.keys());
        QVERIFY(now == original);
    }

    // Find issues runs the audit engine in the background: duplicates only finds the leak; a full
    // audit cancelled in its first fold ends as stopped, and run again finishes and fills the
    // lists.
    void findsIssuesInTheBackground()
    {
        const QString data = m_dir.filePath(QStringLiteral("fresh"));
        const QString test = m_dir.filePath(QStringLiteral("fresh-test"));
        writeData(data, 3, 8, 9);
        writeData(test, 3, 2, 10);
        QVERIFY(QFile::copy(at(data, QStringLiteral("class2/class2-0003.png")),
            at(test, QStringLiteral("class2/copy.png"))));
        DataIssuesView view;
        view.setDataFolder(data);
        QCOMPARE(view.errorText(), QString());
        QSignalSpy finished(&view, &DataIssuesView::auditFinished);
        QSignalSpy progress(&view, &DataIssuesView::auditProgress);
        QString error;
        QVERIFY2(view.findIssues(true, 3, 1, test, &error), qPrintable(error));
        QVERIFY(view.isAuditing());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        QCOMPARE(finished.first().first().toBool(), true);
        QVERIFY(!progress.isEmpty());
        QCOMPARE(view.auditDir(), DataIssuesView::defaultAuditDir(data));
        QCOMPARE(view.report().folds, 0);
        QCOMPARE(view.remaining(DataIssuesView::Duplicates), 1);
        QVERIFY(view.report().duplicates.front().leak);

        // Cancelled as soon as the first fold trains.
        finished.clear();
        connect(&view, &DataIssuesView::auditProgress, &view, [&view](const QString &text) {
            if (text.startsWith(QLatin1String("fold 1/2 training")))
                view.cancelAudit();
        });
        QVERIFY2(view.findIssues(false, 2, 1, test, &error), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 120000);
        QCOMPARE(finished.first().first().toBool(), false);
        QCOMPARE(view.errorText(), QString());
        QVERIFY(!view.isAuditing());
        QCOMPARE(view.report().folds, 0); // the duplicates-only audit stays open

        // Run again to the end: two fold models, and their findings in the lists.
        view.disconnect(&view, &DataIssuesView::auditProgress, &view, nullptr);
        finished.clear();
        progress.clear();
        QVERIFY2(view.findIssues(false, 2, 1, test, &error), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 240000);
        QVERIFY2(finished.first().first().toBool(), qPrintable(view.errorText()));
        // Epochs chosen in the view are trained exactly, not stretched for a small folder.
        QStringList trained;
        for (const QList<QVariant> &p : progress)
            if (p.first().toString().contains(
                    QRegularExpression(QStringLiteral("^fold \\d/2 training"))))
                trained << p.first().toString();
        QVERIFY(!trained.isEmpty());
        for (const QString &text : trained)
            QVERIFY2(text.contains(QLatin1String("epoch 1/1")), qPrintable(text));
        QCOMPARE(view.report().folds, 2);
        QCOMPARE(view.report().images, 31);
        QVERIFY(QFileInfo::exists(view.auditDir() + QStringLiteral("/folds/1/predictions.csv")));
        QCOMPARE(view.remaining(DataIssuesView::Duplicates), 1);
        QCOMPARE(
            view.remaining(DataIssuesView::WrongLabels), int(view.report().labelIssues.size()));

        // Once more: both folds are reused, none is trained again.
        finished.clear();
        progress.clear();
        QVERIFY2(view.findIssues(false, 2, 1, test, &error), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 120000);
        QVERIFY2(finished.first().first().toBool(), qPrintable(view.errorText()));
        QStringList texts;
        for (const QList<QVariant> &p : progress)
            texts << p.first().toString();
        QVERIFY2(texts.contains(QStringLiteral("fold 2/2 reused")), qPrintable(texts.join(u'|')));
        for (const QString &text : texts)
            QVERIFY2(!text.contains(QRegularExpression(QStringLiteral("^fold \\d/2 training"))),
                qPrintable(text));
    }

    // An audit folder made for another data set, and a data folder with one class, are refused
    // inline and nothing is written.
    void refusesAnotherDataSetAndOneClass()
    {
        const QString other = m_dir.filePath(QStringLiteral("other"));
        writeData(other, 2, 3, 5);
        DataIssuesView view;
        view.setDataFolder(other);
        QString error;
        QVERIFY(!view.openAudit(DataIssuesView::defaultAuditDir(m_data), &error));
        QVERIFY2(error.contains(QStringLiteral("another data set")), qPrintable(error));
        QCOMPARE(view.errorText(), error);
        QCOMPARE(view.remaining(DataIssuesView::WrongLabels), 0);
        guitestdata::saveScreenshot(&view, "dataissues-another-data-set");

        const QString one = m_dir.filePath(QStringLiteral("one"));
        writeData(one, 1, 3, 6);
        const QMap<QString, QByteArray> before = treeHashes(one);
        view.setDataFolder(one);
        QVERIFY2(view.errorText().contains(QStringLiteral("at least two classes")),
            qPrintable(view.errorText()));
        QVERIFY(!view.findIssues(false, 3, 1, {}, &error));
        QVERIFY2(error.contains(QStringLiteral("at least two classes")), qPrintable(error));
        QVERIFY(!view.isAuditing());
        QCOMPARE(treeHashes(one), before);
    }
};

QTEST_MAIN(TestDataIssuesView)
#include "tst_dataissuesview.moc"
