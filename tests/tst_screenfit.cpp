// Every window fits a small screen: on a 1366×768 screen (the offscreen platform's own screen,
// set by a config file before QApplication starts) the main window opens inside the screen with its
// status bar in view (also with a geometry saved at a larger size), and the run dialog opens inside
// it with its Start, Copy and Cancel buttons in view; when the form grows (a weights file's
// summary, "Match the run") the dialog keeps its size and the form scrolls. "Prune to a budget"
// opens inside it with its buttons in view. Set LEANTUNE_SCREENSHOT_DIR to save the windows as
// PNGs.

#include "guifixtures.h"
#include "guiscreenshot.h"
#include "guitestdata.h"
#include "safetensorsfixture.h"

#include "mainwindow.h"
#include "widgets/dialogs/runconfigdialog.h"
#include "widgets/dialogs/startfromfield.h"
#include "widgets/prune/prunebudgetdialog.h"

#include <QApplication>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;

namespace {

// LEANTUNE_SCREENFIT_SCREEN=WxH runs the same checks on another screen (1600x1000 for screenshots).
QRect screenRect()
{
    const QStringList size
        = qEnvironmentVariable("LEANTUNE_SCREENFIT_SCREEN").split(QLatin1Char('x'));
    if (size.size() == 2 && size[0].toInt() > 0 && size[1].toInt() > 0)
        return QRect(0, 0, size[0].toInt(), size[1].toInt());
    return QRect(0, 0, 1366, 768);
}
const QRect kScreen = screenRect();

// The on-screen rectangle of W.
QRect globalRect(const QWidget *w)
{
    return QRect(w->mapToGlobal(QPoint(0, 0)), w->size());
}

} // namespace

class TestScreenFit : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    static QRect available() { return QGuiApplication::primaryScreen()->availableGeometry(); }

    // The dialog's three buttons are shown and inside the screen, and so is the dialog.
    static void verifyButtonsInView(QDialog &dialog)
    {
        auto *box = dialog.findChild<QDialogButtonBox *>();
        QVERIFY(box);
        QCOMPARE(box->buttons().size(), 3);
        for (QAbstractButton *b : box->buttons()) {
            QVERIFY2(b->isVisible(), qPrintable(b->text()));
            QVERIFY2(available().contains(globalRect(b)),
                qPrintable(QStringLiteral("%1 at %2,%3 %4x%5")
                               .arg(b->text())
                               .arg(globalRect(b).x())
                               .arg(globalRect(b).y())
                               .arg(b->width())
                               .arg(b->height())));
        }
        QVERIFY2(available().contains(dialog.frameGeometry()),
            qPrintable(QStringLiteral("dialog %1x%2 at %3,%4")
                           .arg(dialog.frameGeometry().width())
                           .arg(dialog.frameGeometry().height())
                           .arg(dialog.frameGeometry().x())
                           .arg(dialog.frameGeometry().y())));
    }

    RunConfig base() const
    {
        RunConfig c;
        c.dataDir = m_dir.filePath(QStringLiteral("data"));
        c.outDir = m_dir.filePath(QStringLiteral("runs/new"));
        c.device = QStringLiteral("cpu");
        c.prune = QStringLiteral("polynomial:0.5:0.8:0:56:3:4");
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        guitestdata::isolateSettings(m_dir, QStringLiteral("LeanTuneScreenFit"));
        guitestdata::writeImageFolder(m_dir.filePath(QStringLiteral("data")), 3, 10, 16);
        QVERIFY(
            testweights::writeSafetensors(m_dir.filePath(QStringLiteral("smallcnn3.safetensors")),
                testweights::smallCnn(3, 10), 0.0f));
        // The platform took the small screen (main() below).
        QCOMPARE(available(), kScreen);
    }

    // With no saved geometry, the main window's first size fits the screen: the status bar shows.
    void mainWindowFitsTheScreen()
    {
        MainWindow w;
        w.setConfirmOnClose(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY2(available().contains(w.frameGeometry()),
            qPrintable(QStringLiteral("%1x%2")
                           .arg(w.frameGeometry().width())
                           .arg(w.frameGeometry().height())));
        QVERIFY(w.statusBar()->isVisible());
        QVERIFY(available().contains(globalRect(w.statusBar())));
        QVERIFY(guitestdata::saveScreenshot(&w, "screenfit-mainwindow"));
        w.close();
    }

    // A geometry saved on a larger screen (or a larger window) is fitted to this one.
    void savedGeometryIsFittedToTheScreen()
    {
        {
            MainWindow big;
            big.setConfirmOnClose(false);
            big.show();
            QVERIFY(QTest::qWaitForWindowExposed(&big));
            big.setGeometry(200, 100, 1500, 950);
            QVERIFY(big.close()); // saves the geometry
        }
        MainWindow w;
        w.setConfirmOnClose(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY2(available().contains(w.frameGeometry()),
            qPrintable(QStringLiteral("%1x%2 at %3,%4")
                           .arg(w.frameGeometry().width())
                           .arg(w.frameGeometry().height())
                           .arg(w.frameGeometry().x())
                           .arg(w.frameGeometry().y())));
        w.close();
    }

    void runDialogFitsTheScreen()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        verifyButtonsInView(dialog);
        // A form taller than the room left (on 1366×768 it is) scrolls instead of pushing the
        // buttons out; on a taller screen it may fit.
        QScrollArea *form = dialog.formScrollArea();
        const bool taller = form->widget()->height() > form->viewport()->height();
        QCOMPARE(form->verticalScrollBar()->maximum() > 0, taller);
        if (kScreen.height() <= 768)
            QVERIFY(taller);
        QVERIFY(guitestdata::saveScreenshot(&dialog, "screenfit-rundialog"));
    }

    // A weights file's summary and "Match the run" make the form taller; the dialog stays.
    void runDialogKeepsItsSizeAsTheFormGrows()
    {
        RunConfigDialog dialog;
        RunConfig c = base();
        c.model.name = QStringLiteral("resnet8");
        dialog.setConfig(c);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        const QSize before = dialog.size();
        const int formBefore = dialog.formScrollArea()->widget()->sizeHint().height();
        auto *field = dialog.findChild<StartFromField *>(QStringLiteral("init"));
        QVERIFY(field);
        field->setPath(m_dir.filePath(QStringLiteral("smallcnn3.safetensors")));
        QVERIFY(QTest::qWaitFor(
            [&] {
                return !dialog.errorText().startsWith(
                    QLatin1String("reading the starting weights"));
            },
            120000));
        auto *match = dialog.findChild<QPushButton *>(QStringLiteral("matchWeights"));
        QVERIFY(match);
        QVERIFY(!match->isHidden());
        match->click();
        QCoreApplication::sendPostedEvents(); // the layouts' pending requests
        QCoreApplication::processEvents();
        QVERIFY(dialog.formScrollArea()->widget()->sizeHint().height() > formBefore);
        QCOMPARE(dialog.size(), before);
        verifyButtonsInView(dialog);
        QVERIFY(guitestdata::saveScreenshot(&dialog, "screenfit-rundialog-weights"));
    }

    // "Prune to a budget" opens inside the screen with its buttons in view, also at its tallest:
    // an inline error under the longest trial list (20 trials, the most it runs; the list is set
    // as the advice shows it, since trials need a trained run and minutes).
    void pruneBudgetDialogFitsTheScreen()
    {
        const QString run = m_dir.filePath(QStringLiteral("runs/untrained"));
        QDir().mkpath(run);
        PruneBudgetDialog dialog(run, m_dir.filePath(QStringLiteral("data")));
        QVERIFY(!dialog.errorText().isEmpty()); // no run there: the error is shown inline
        QStringList trials;
        for (int i = 0; i < 20; ++i)
            trials << QStringLiteral("%1 % (sensitivity): 93.75 %, %2")
                          .arg(50.0 + 2.3 * i, 0, 'f', 1)
                          .arg(i % 2 ? QStringLiteral("within") : QStringLiteral("over"));
        auto *list = dialog.findChild<QLabel *>(QStringLiteral("trials"));
        QVERIFY(list);
        list->setText(trials.join(QLatin1Char('\n')));
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QCoreApplication::sendPostedEvents(); // the layouts' pending requests
        QCoreApplication::processEvents();
        verifyButtonsInView(dialog); // Find, Start and Close
        // Every trial can be read: the list is as tall as its lines (in view or scrolled to).
        QVERIFY2(list->height() >= list->heightForWidth(list->width()),
            qPrintable(QStringLiteral("trial list %1 px high, its lines need %2")
                           .arg(list->height())
                           .arg(list->heightForWidth(list->width()))));
        QVERIFY(guitestdata::saveScreenshot(&dialog, "screenfit-prunebudget"));
    }

    // A size given before the first show is kept where it fits, and bounded where it does not.
    void givenSizeIsBoundedToTheScreen()
    {
        RunConfigDialog dialog;
        dialog.setConfig(base());
        dialog.resize(1100, 900);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QCOMPARE(dialog.width(), 1100);
        verifyButtonsInView(dialog);
    }
};

// The offscreen platform reads its screens from a JSON file named in the platform's arguments.
int main(int argc, char *argv[])
{
    QTemporaryDir config;
    const QString path = config.filePath(QStringLiteral("screens.json"));
    QFile f(path);
    const QJsonObject screen { { QStringLiteral("name"), QStringLiteral("small") },
        { QStringLiteral("x"), kScreen.x() }, { QStringLiteral("y"), kScreen.y() },
        { QStringLiteral("width"), kScreen.width() },
        { QStringLiteral("height"), kScreen.height() }, { QStringLiteral("logicalDpi"), 96 },
        { QStringLiteral("logicalBaseDpi"), 96 }, { QStringLiteral("dpr"), 1 } };
    if (!config.isValid() || !f.open(QIODevice::WriteOnly)
        || f.write(
               QJsonDocument(QJsonObject { { QStringLiteral("screens"), QJsonArray { screen } } })
                   .toJson())
            <= 0)
        return 1;
    f.close();
    qputenv("QT_QPA_PLATFORM", QByteArrayLiteral("offscreen:configfile=") + path.toUtf8());
    QApplication app(argc, argv);
    TestScreenFit test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_screenfit.moc"
