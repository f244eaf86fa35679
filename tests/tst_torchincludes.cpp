// The layering rule the link lines enforce: no translation unit of the widgets library or the
// desktop application is compiled with a LibTorch include path (torch is linked PRIVATE behind
// torch-free headers). Read from the build's compile_commands.json.

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

class TestTorchIncludes : public QObject {
    Q_OBJECT

    QJsonArray m_commands;

    static QStringList torchIncludeDirs()
    {
        QStringList dirs;
        for (const QString &d :
            QStringLiteral(LEANTUNE_TORCH_INCLUDE_DIRS).split(QLatin1Char('|'), Qt::SkipEmptyParts))
            dirs << QDir::cleanPath(d);
        return dirs;
    }
    // The torch include directories on the compile line of FILE's entry (relative to the source
    // root).
    QStringList torchIncludesOf(const QString &file) const
    {
        const QString path
            = QDir::cleanPath(QStringLiteral(LEANTUNE_SOURCE_DIR) + QLatin1Char('/') + file);
        for (const QJsonValue &v : m_commands) {
            const QJsonObject o = v.toObject();
            if (QDir::cleanPath(o.value(QStringLiteral("file")).toString()) == path)
                return includesIn(o.value(QStringLiteral("command")).toString());
        }
        return { QStringLiteral("(no entry for %1)").arg(file) };
    }
    static QStringList includesIn(const QString &command)
    {
        QStringList found;
        for (const QString &dir : torchIncludeDirs()) {
            if (command.contains(QStringLiteral("-I") + dir + QLatin1Char(' '))
                || command.contains(QStringLiteral("-isystem ") + dir + QLatin1Char(' ')))
                found << dir;
        }
        return found;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QFile f(QStringLiteral(LEANTUNE_COMPILE_COMMANDS));
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(f.fileName()));
        m_commands = QJsonDocument::fromJson(f.readAll()).array();
        QVERIFY(!m_commands.isEmpty());
        QVERIFY(!torchIncludeDirs().isEmpty());
    }

    // The check itself: an engine file that includes torch has the path on its line.
    void theEngineIsCompiledWithTorch()
    {
        QVERIFY(!torchIncludesOf(QStringLiteral("core/train/trainer.cpp")).isEmpty());
    }

    void noGuiTranslationUnitSeesTorch()
    {
        const QString widgets
            = QDir::cleanPath(QStringLiteral(LEANTUNE_SOURCE_DIR "/widgets")) + QLatin1Char('/');
        const QString gui
            = QDir::cleanPath(QStringLiteral(LEANTUNE_SOURCE_DIR "/app/gui")) + QLatin1Char('/');
        int checked = 0;
        QStringList offenders;
        for (const QJsonValue &v : std::as_const(m_commands)) {
            const QJsonObject o = v.toObject();
            const QString file = QDir::cleanPath(o.value(QStringLiteral("file")).toString());
            if (!file.startsWith(widgets) && !file.startsWith(gui))
                continue;
            ++checked;
            if (!includesIn(o.value(QStringLiteral("command")).toString()).isEmpty())
                offenders << file;
        }
        QVERIFY2(
            checked >= 10, qPrintable(QString::number(checked))); // widgets and app/gui were built
        QVERIFY2(offenders.isEmpty(), qPrintable(offenders.join(QLatin1Char('\n'))));
    }
};

QTEST_GUILESS_MAIN(TestTorchIncludes)
#include "tst_torchincludes.moc"
