#pragma once
// The hostile-input catalogue (tests/fixtures/make-hostile.sh) for the suites that scan, train on
// and browse it: generated into a folder, with what the script says each entry must give.

#include <QFile>
#include <QList>
#include <QProcess>
#include <QStandardPaths>
#include <QString>

namespace leantune::hostile {

struct Expectation {
    QString path; // relative to the data folder
    QString outcome; // valid | invalid | skip | decode-fails | unreadable (see make-hostile.sh)
    QString reason; // start of the scanner's reason, for invalid entries
};

// ImageMagick's convert draws the catalogue's images; scripts/setup installs it.
inline bool canGenerate()
{
    return !QStandardPaths::findExecutable(QStringLiteral("convert")).isEmpty();
}

// Writes the catalogue into ROOT (ROOT/data, with MANYCLASSES extra class folders in a separate
// tree) and reads ROOT/expected.tsv into *EXPECTED. False and *ERROR on failure.
inline bool generate(
    const QString &root, int manyClasses, QList<Expectation> *expected, QString *error)
{
    QProcess gen;
    gen.start(QStringLiteral("bash"),
        { QStringLiteral(LEANTUNE_FIXTURES_DIR "/make-hostile.sh"), root,
            QStringLiteral("--many-classes"), QString::number(manyClasses) });
    if (!gen.waitForFinished(120000) || gen.exitCode() != 0) {
        *error = QStringLiteral("make-hostile.sh failed: ")
            + QString::fromUtf8(gen.readAllStandardError());
        return false;
    }
    QFile tsv(root + QStringLiteral("/expected.tsv"));
    if (!tsv.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("no expected.tsv in ") + root;
        return false;
    }
    for (const QByteArray &line : tsv.readAll().split('\n')) {
        if (line.isEmpty())
            continue;
        const QList<QByteArray> f = line.split('\t');
        QString path = QString::fromUtf8(f.value(0));
        path.replace(QStringLiteral("\\n"), QStringLiteral("\n"));
        expected->append({ path, QString::fromUtf8(f.value(1)), QString::fromUtf8(f.value(2)) });
    }
    return true;
}

// Removes the catalogue (QTemporaryDir cannot: Qt cannot name the file whose name is not UTF-8).
inline void remove(const QString &root)
{
    QProcess::execute(QStringLiteral("rm"), { QStringLiteral("-rf"), root });
}

} // namespace leantune::hostile
