// End to end under Xvfb: launches the real `leantune` on a generated data folder with a real X
// server (xvfb-run), starts a short run, and saves a screenshot of the window as a test artifact
// (build/tests/artifacts/gui/*.png). Skipped where xvfb-run is not installed.

#include "guitestdata.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

class TestGuiE2E : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void launchTrainAndScreenshot()
    {
        const QString xvfbRun = QStandardPaths::findExecutable(QStringLiteral("xvfb-run"));
        if (xvfbRun.isEmpty())
            QSKIP("xvfb-run is not installed (Debian: xvfb xauth)");
        QTemporaryDir dir;
        // The sample's layout: train/ and test/ side by side; --start on train/ uses test/.
        const QString data = dir.filePath(QStringLiteral("shapes/train"));
        const QString test = dir.filePath(QStringLiteral("shapes/test"));
        leantune::guitestdata::writeImageFolder(data, 4, 60, 20);
        leantune::guitestdata::writeImageFolder(test, 4, 10, 20, 2);
        leantune::guitestdata::writeBadFiles(data + QStringLiteral("/class2"));
        const QString run = dir.filePath(QStringLiteral("run"));
        // One screenshot per tab and of the run configuration dialog, kept as test artifacts.
        const QString tour = QStringLiteral(LEANTUNE_ARTIFACTS_DIR) + QStringLiteral("/gui");
        QDir(tour).removeRecursively();
        const QString shot = tour + QStringLiteral("/3-training.png");

        QProcess app;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));
        env.insert(QStringLiteral("LEANTUNE_DATA_DIR"), dir.filePath(QStringLiteral("userdata")));
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("xcb"));
        env.remove(QStringLiteral("WAYLAND_DISPLAY"));
        app.setProcessEnvironment(env);
        app.setProcessChannelMode(QProcess::MergedChannels);
        app.start(xvfbRun,
            { QStringLiteral("-a"), QStringLiteral("-s"), QStringLiteral("-screen 0 1600x1000x24"),
                QStringLiteral(LEANTUNE_GUI_PATH), data, QStringLiteral("--start"),
                QStringLiteral("--epochs"), QStringLiteral("3"), QStringLiteral("--device"),
                QStringLiteral("cpu"), QStringLiteral("--out"), run, QStringLiteral("--prune"),
                QStringLiteral("polynomial:0.2:0.7:1:10:3:1"), QStringLiteral("--tour"), tour,
                QStringLiteral("--quit-when-done") });
        QVERIFY(app.waitForStarted(20000));
        const bool done = app.waitForFinished(240000);
        const QByteArray output = app.readAll();
        if (!done)
            app.kill();
        QVERIFY2(done, output.constData());
        QVERIFY2(
            app.exitStatus() == QProcess::NormalExit && app.exitCode() == 0, output.constData());

        QVERIFY(QFileInfo::exists(run + QStringLiteral("/summary.json")));
        QFile config(run + QStringLiteral("/config.json"));
        QVERIFY(config.open(QIODevice::ReadOnly));
        const QJsonObject saved = QJsonDocument::fromJson(config.readAll()).object();
        QCOMPARE(QFileInfo(saved.value(QStringLiteral("test_dir")).toString()).absoluteFilePath(),
            QFileInfo(test).absoluteFilePath());
        QVERIFY(QFileInfo::exists(dir.filePath(QStringLiteral("userdata/runs.sqlite"))));
        const QImage image(shot);
        QVERIFY2(!image.isNull(), qPrintable(shot));
        QVERIFY2(image.width() >= 800 && image.height() >= 600,
            qPrintable(QStringLiteral("%1×%2").arg(image.width()).arg(image.height())));
        // Not a blank frame: the window has drawn charts, text and widgets in many colours.
        QSet<QRgb> colours;
        for (int y = 0; y < image.height(); y += 7)
            for (int x = 0; x < image.width(); x += 7)
                colours.insert(image.pixel(x, y));
        QVERIFY2(colours.size() > 50, qPrintable(QString::number(colours.size())));
        for (const char *name :
            { "1-dataset.png", "2-data-issues.png", "4-history.png", "5-run-configuration.png" })
            QVERIFY2(!QImage(tour + QLatin1Char('/') + QLatin1String(name)).isNull(), name);
        qInfo("screenshots: %s", qPrintable(tour));
    }
};

QTEST_GUILESS_MAIN(TestGuiE2E)
#include "tst_gui_e2e.moc"
