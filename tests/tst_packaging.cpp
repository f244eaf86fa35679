// What a user who installs LeanTune meets first: 'cmake --install' puts the
// programs, the desktop entry, the AppStream metadata and the icons in place, the desktop entry
// no longer claims every folder, both validators accept what is installed, 'leantune --help' and
// '--version' work without a display, and 'leantune-cli help COMMAND' shows that command's help.

#include "clirunner.h"

#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

namespace {

const QString kAppId = QStringLiteral("io.github.leantune.LeanTune");

struct Run {
    int exitCode = -1; // -1: crashed, timed out or could not start
    QString out;
    QString err;
};

Run run(const QString &program, const QStringList &args,
    const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(program, args);
    Run r;
    if (!p.waitForFinished(120000)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("did not finish: ") + p.errorString();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace

class TestPackaging : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_prefix;

    QString installed(const QString &relative) const
    {
        return m_prefix + QLatin1Char('/') + relative;
    }
    QString desktopFile() const
    {
        return installed(
            QStringLiteral("share/applications/") + kAppId + QStringLiteral(".desktop"));
    }
    QString metainfoFile() const
    {
        return installed(
            QStringLiteral("share/metainfo/") + kAppId + QStringLiteral(".metainfo.xml"));
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_prefix = m_dir.filePath(QStringLiteral("prefix"));
        const Run r = run(QStringLiteral(LEANTUNE_CMAKE_COMMAND),
            { QStringLiteral("--install"), QStringLiteral(LEANTUNE_BINARY_DIR),
                QStringLiteral("--prefix"), m_prefix });
        QVERIFY2(r.exitCode == 0, qPrintable(r.out + r.err));
    }

    void installPutsEveryFileInPlace_data()
    {
        QTest::addColumn<QString>("path");
        QTest::newRow("cli") << QStringLiteral("bin/leantune-cli");
        QTest::newRow("cli engine") << QStringLiteral("bin/leantune-cli-engine");
        QTest::newRow("gui") << QStringLiteral("bin/leantune");
        QTest::newRow("desktop") << QStringLiteral("share/applications/") + kAppId
                + QStringLiteral(".desktop");
        QTest::newRow("metainfo") << QStringLiteral("share/metainfo/") + kAppId
                + QStringLiteral(".metainfo.xml");
        QTest::newRow("svg icon") << QStringLiteral("share/icons/hicolor/scalable/apps/") + kAppId
                + QStringLiteral(".svg");
    }

    void installPutsEveryFileInPlace()
    {
        QFETCH(QString, path);
        const QFileInfo info(installed(path));
        QVERIFY2(info.isFile() && info.size() > 0, qPrintable(path));
        if (path.startsWith(QLatin1String("bin/")))
            QVERIFY2(info.isExecutable(), qPrintable(path));
    }

    // The PNG sizes exist when the build had a renderer (rsvg-convert or ImageMagick); then all
    // three.
    void pngIconsAreAllThereOrNone()
    {
        int found = 0;
        for (int size : { 48, 128, 256 })
            found += QFileInfo::exists(
                installed(QStringLiteral("share/icons/hicolor/%1x%1/apps/").arg(size) + kAppId
                    + QStringLiteral(".png")));
        QVERIFY2(found == 0 || found == 3, qPrintable(QString::number(found)));
    }

    // The entry starts LeanTune from the menu with an icon that exists, and no longer offers
    // LeanTune for every folder (MimeType=inode/directory).
    void desktopEntryNamesTheInstalledIconAndNoFolderType()
    {
        QFile file(desktopFile());
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(file.readAll());
        QVERIFY2(!text.contains(QStringLiteral("inode/directory")), qPrintable(text));
        QVERIFY2(!text.contains(QStringLiteral("MimeType=")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("\nIcon=") + kAppId + QLatin1Char('\n')),
            qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("\nExec=leantune ")), qPrintable(text));
        // The metainfo launches this very entry.
        QFile meta(metainfoFile());
        QVERIFY(meta.open(QIODevice::ReadOnly));
        QVERIFY(meta.readAll().contains(
            QStringLiteral("<launchable type=\"desktop-id\">%1.desktop</launchable>")
                .arg(kAppId)
                .toUtf8()));
    }

    void desktopEntryValidates()
    {
        const QString validator
            = QStandardPaths::findExecutable(QStringLiteral("desktop-file-validate"));
        if (validator.isEmpty())
            QSKIP("desktop-file-validate is not installed (Debian: desktop-file-utils)");
        const Run r = run(validator, { desktopFile() });
        QVERIFY2(r.exitCode == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.trimmed().isEmpty(), qPrintable(r.out)); // not even a hint
    }

    void metainfoValidates()
    {
        const QString validator = QStandardPaths::findExecutable(QStringLiteral("appstreamcli"));
        if (validator.isEmpty())
            QSKIP("appstreamcli is not installed (Debian: appstream)");
        const Run r = run(
            validator, { QStringLiteral("validate"), QStringLiteral("--no-net"), metainfoFile() });
        QVERIFY2(r.exitCode == 0, qPrintable(r.out + r.err));
    }

    void guiAnswersHelpAndVersionWithoutADisplay_data()
    {
        QTest::addColumn<QString>("option");
        QTest::addColumn<QString>("expected");
        QTest::newRow("--help") << QStringLiteral("--help") << QStringLiteral("--start");
        QTest::newRow("-h") << QStringLiteral("-h") << QStringLiteral("--start");
        QTest::newRow("--version")
            << QStringLiteral("--version") << QStringLiteral("LeanTune " LEANTUNE_VERSION);
    }

    void guiAnswersHelpAndVersionWithoutADisplay()
    {
        QFETCH(QString, option);
        QFETCH(QString, expected);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char *name : { "QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY" })
            env.remove(QString::fromLatin1(name));
        const Run r = run(QStringLiteral(LEANTUNE_GUI_PATH), { option }, env);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(expected), qPrintable(r.out));
    }

    // The installed front finds its engine: a command that needs LibTorch runs from the prefix.
    void installedCliHandsTrainToItsEngine()
    {
        const Run r = run(installed(QStringLiteral("bin/leantune-cli")),
            { QStringLiteral("help"), QStringLiteral("train") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(QStringLiteral("--epochs")), qPrintable(r.out));
    }

    void cliHelpCommandShowsThatCommandsHelp()
    {
        const leantune::testcli::Result help
            = leantune::testcli::runCli({ QStringLiteral("help"), QStringLiteral("train") });
        QCOMPARE(help.exitCode, 0);
        QVERIFY2(
            help.out.startsWith(QStringLiteral("Usage: leantune-cli train")), qPrintable(help.out));
        QVERIFY2(help.out.contains(QStringLiteral("--epochs")), qPrintable(help.out));
        // The same text as 'train --help'.
        const leantune::testcli::Result direct
            = leantune::testcli::runCli({ QStringLiteral("train"), QStringLiteral("--help") });
        QCOMPARE(help.out, direct.out);
        // 'help' alone still lists the commands; 'help NOSUCH' is a usage error.
        QVERIFY(leantune::testcli::runCli({ QStringLiteral("help") })
                    .out.contains(QStringLiteral("Commands:")));
        QCOMPARE(leantune::testcli::runCli({ QStringLiteral("help"), QStringLiteral("nosuch") })
                     .exitCode,
            2);
    }
};

QTEST_GUILESS_MAIN(TestPackaging)
#include "tst_packaging.moc"
