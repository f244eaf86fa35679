// "Predict with...": the dialog classifies images with a run's model as `leantune-cli predict`
// does, shows bad input inline, and opens from a drop on the main window and from the data set
// browser's context menu.

#include "clirunner.h"
#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"

#include "mainwindow.h"
#include "metrics/predictions.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/dataset/thumbnailmodel.h"
#include "widgets/predict/classbars.h"
#include "widgets/predict/predictdialog.h"

#include <QAction>
#include <QDir>
#include <QDropEvent>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QMimeData>
#include <QScreen>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

using namespace leantune;

namespace {
// With LEANTUNE_SCREENSHOT_DIR set, the whole screen as NAME.png (under Xvfb with a window manager:
// the windows as a user sees them).
void saveScreen(const char *name)
{
    const QString dir = qEnvironmentVariable("LEANTUNE_SCREENSHOT_DIR");
    if (QScreen *screen = QGuiApplication::primaryScreen(); screen && !dir.isEmpty())
        screen->grabWindow(0).save(
            QDir(dir).filePath(QLatin1String(name) + QStringLiteral(".png")));
}
} // namespace

class TestPredictDialog : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    guitestdata::TinyRun m_data;

    QString path(const QString &name) const { return m_dir.filePath(name); }

    // Runs DIALOG's prediction of IMAGES to its end; whether it succeeded.
    static bool predict(PredictDialog &dialog, const QStringList &images)
    {
        QSignalSpy done(&dialog, &PredictDialog::predictionDone);
        dialog.predict(images);
        if (!done.wait(120000))
            return false;
        return done.first().first().toBool();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QString error;
        const std::optional<guitestdata::TinyRun> made
            = guitestdata::makeTinyRun(m_dir.path(), 20, 4, 2, &error);
        QVERIFY2(made, qPrintable(error));
        m_data = *made;
    }

    // The dialog's classes and probabilities are `predict --json`'s and the test pass's
    // (predictions.csv) for the same images, within 1e-5; the bars show the five most probable.
    void dialogMatchesPredictAndEvaluation()
    {
        QString error;
        const std::optional<PredictionsFile> evaluated
            = readPredictions(QDir(m_data.run).filePath(QStringLiteral("predictions.csv")), &error);
        QVERIFY2(evaluated && evaluated->rows.size() == 12, qPrintable(error));
        const QStringList images { evaluated->rows[0].path, evaluated->rows[5].path,
            evaluated->rows[11].path };
        const testcli::Result cli
            = testcli::runCli(QStringList { QStringLiteral("predict"), m_data.run } + images
                + QStringList {
                    QStringLiteral("--json"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        const QJsonArray list = QJsonDocument::fromJson(cli.out.toUtf8())
                                    .object()
                                    .value(QStringLiteral("predictions"))
                                    .toArray();
        QCOMPARE(list.size(), 3);

        PredictDialog dialog;
        dialog.setModel(m_data.run);
        dialog.setDataSet(m_data.test,
            { QStringLiteral("class0"), QStringLiteral("class1"), QStringLiteral("class2") });
        QVERIFY(predict(dialog, images));
        QVERIFY(!dialog.isBusy());
        QCOMPARE(dialog.messageText(), QString());
        QCOMPARE(dialog.predictions().size(), 3);
        for (int i = 0; i < 3; ++i) {
            const Prediction &shown = dialog.predictions()[i];
            const QJsonObject o = list[i].toObject();
            QCOMPARE(shown.path, o.value(QStringLiteral("path")).toString());
            QCOMPARE(shown.predicted, o.value(QStringLiteral("predicted")).toString());
            QCOMPARE(shown.predicted, evaluated->rows[i == 0 ? 0 : i == 1 ? 5 : 11].predicted);
            const QJsonArray top = o.value(QStringLiteral("top")).toArray();
            QCOMPARE(shown.top.size(), top.size());
            const Prediction &row = evaluated->rows[i == 0 ? 0 : i == 1 ? 5 : 11];
            for (int j = 0; j < top.size(); ++j) {
                const QJsonObject t = top[j].toObject();
                QCOMPARE(shown.top[j].first, t.value(QStringLiteral("class")).toString());
                QVERIFY(
                    std::abs(shown.top[j].second - t.value(QStringLiteral("p")).toDouble()) < 1e-5);
                QCOMPARE(shown.top[j].first, row.top[j].first);
                QVERIFY(std::abs(shown.top[j].second - row.top[j].second) < 1e-5);
            }
            dialog.setCurrentImage(i);
            QCOMPARE(dialog.bars()->entries(), shown.top.mid(0, PredictDialog::kShownClasses));
            QCOMPARE(dialog.bars()->label(), row.label); // the image's class folder
        }
        dialog.setCurrentImage(0);
        dialog.show();
        QVERIFY(guitestdata::saveScreenshot(&dialog, "predict-dialog"));
    }

    void badInputShowsAnInlineMessage_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("image");
        QTest::addColumn<QString>("expected");
        const QString notImage = path(QStringLiteral("test/class1/not-an-image.png"));
        QFile f(notImage);
        if (f.open(QIODevice::WriteOnly))
            f.write("this is not an image\n");
        QDir().mkpath(path(QStringLiteral("empty-run")));
        QTest::newRow("image that does not decode")
            << m_data.run << notImage << QStringLiteral("cannot decode");
        QTest::newRow("folder that is not a run")
            << path(QStringLiteral("empty-run")) << path(QStringLiteral("test/class0/0000.png"))
            << QStringLiteral("empty-run is not a run folder");
        QDir().mkpath(path(QStringLiteral("run-without-model")));
        QFile::copy(QDir(m_data.run).filePath(QStringLiteral("config.json")),
            path(QStringLiteral("run-without-model/config.json")));
        QTest::newRow("run folder without a model") << path(QStringLiteral("run-without-model"))
                                                    << path(QStringLiteral("test/class0/0000.png"))
                                                    << QStringLiteral("has no trained model");
        QTest::newRow("another class count than the data")
            << m_data.run << path(QStringLiteral("two/class1/0001.png"))
            << QStringLiteral("has 3 classes but the data set");
    }

    void badInputShowsAnInlineMessage()
    {
        QFETCH(QString, model);
        QFETCH(QString, image);
        QFETCH(QString, expected);
        PredictDialog dialog;
        dialog.setModel(model);
        if (image.contains(QStringLiteral("/two/")))
            dialog.setDataSet(m_data.two, { QStringLiteral("class0"), QStringLiteral("class1") });
        QVERIFY(!predict(dialog, { image }));
        QVERIFY2(dialog.messageText().contains(expected), qPrintable(dialog.messageText()));
        QVERIFY(dialog.predictions().isEmpty());
        QVERIFY(dialog.bars()->entries().isEmpty());
    }

    // Images dropped on the main window open the dialog with them; without a model it asks for one
    // inline, and with the run it predicts them.
    void droppedImagesOpenThePrediction()
    {
        // LEANTUNE_SHOT_RUN and LEANTUNE_SHOT_IMAGE (screenshots of a real run): that run and
        // image.
        const QString run = qEnvironmentVariable("LEANTUNE_SHOT_RUN", m_data.run);
        const QString image = qEnvironmentVariable(
            "LEANTUNE_SHOT_IMAGE", path(QStringLiteral("test/class2/0003.png")));
        MainWindow w;
        w.setConfirmOnClose(false);
        w.show();
        if (qEnvironmentVariableIsSet("LEANTUNE_SHOT_IMAGE")) { // its data set, for the label
            QSignalSpy scanned(w.browser(), &DatasetBrowser::scanFinished);
            QDir data = QFileInfo(image).absoluteDir();
            QVERIFY(data.cdUp());
            w.openFolder(data.absolutePath());
            QVERIFY(scanned.wait(120000));
        }
        QMimeData mime;
        mime.setUrls({ QUrl::fromLocalFile(image) });
        QDragEnterEvent enter(
            QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &drop);
        QVERIFY(drop.isAccepted());
        auto *dialog = w.findChild<PredictDialog *>();
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        QCOMPARE(dialog->images(), QStringList { image });
        if (dialog->model().isEmpty())
            QVERIFY(dialog->messageText().contains(QStringLiteral("Choose a model")));
        dialog->setModel(run);
        QVERIFY(predict(*dialog, { image }));
        QCOMPARE(dialog->predictions().size(), 1);
        QVERIFY(QTest::qWaitForWindowExposed(dialog));
        QVERIFY(guitestdata::saveScreenshot(dialog, "predict-dropped"));
        saveScreen("predict-dropped-screen");

        // A folder is not an image: it is not taken for a prediction.
        QMimeData folder;
        folder.setUrls({ QUrl::fromLocalFile(m_data.test) });
        QDragEnterEvent enterFolder(
            QPoint(10, 10), Qt::CopyAction, &folder, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &enterFolder);
        QVERIFY(!enterFolder.isAccepted());
    }

    // The browser's "Predict with..." asks for the selected images.
    void browserContextMenuAsksForTheSelectedImages()
    {
        DatasetBrowser browser;
        QSignalSpy scanned(&browser, &DatasetBrowser::scanFinished);
        browser.openFolder(m_data.test);
        QVERIFY(scanned.wait(30000));
        QAction *action = browser.predictAction();
        QVERIFY(action);
        QVERIFY(browser.thumbnailView()->actions().contains(action));
        QListView *view = browser.thumbnailView();
        view->selectionModel()->clearSelection(); // the scan made the first image current
        view->selectionModel()->select(view->model()->index(1, 0), QItemSelectionModel::Select);
        view->selectionModel()->select(view->model()->index(6, 0), QItemSelectionModel::Select);
        QSignalSpy asked(&browser, &DatasetBrowser::predictRequested);
        action->trigger();
        QCOMPARE(asked.size(), 1);
        const QStringList paths = asked.first().first().toStringList();
        QCOMPARE(paths.size(), 2);
        QVERIFY(
            paths.contains(view->model()->index(1, 0).data(ThumbnailModel::PathRole).toString()));
    }
};

QTEST_MAIN(TestPredictDialog)
#include "tst_predictdialog.moc"
