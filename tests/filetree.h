#pragma once
// Shared by the suites that check what a command or a view did to a data folder (apply-corrections
// and --undo, the Data issues view's review): a tree's content, byte for byte, and class folders
// whose file names are unique across classes.

#include <QByteArray>
#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QMap>
#include <QString>
#include <QStringList>

namespace leantune::testfiles {

// Every file and folder under ROOT (hidden ones too), each with its content's hash (a folder:
// "rel/" and none): two equal maps mean the same tree, byte for byte. Empty when a file cannot be
// read.
inline QMap<QString, QByteArray> treeHashes(const QString &root)
{
    QMap<QString, QByteArray> out;
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
        QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString rel = QDir(root).relativeFilePath(path);
        if (it.fileInfo().isDir()) {
            out.insert(rel + QLatin1Char('/'), QByteArray());
            continue;
        }
        QFile f(path);
        if (!f.open(QIODevice::ReadOnly))
            return {};
        out.insert(rel, QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256));
    }
    return out;
}

// How tree B differs from tree A (treeHashes()): "-rel" gone, "~rel" changed, "+rel" new; empty
// when they are the same.
inline QString treeDifferences(
    const QMap<QString, QByteArray> &a, const QMap<QString, QByteArray> &b)
{
    QStringList d;
    for (auto it = a.begin(); it != a.end(); ++it)
        if (!b.contains(it.key()))
            d << QStringLiteral("-") + it.key();
        else if (b.value(it.key()) != it.value())
            d << QStringLiteral("~") + it.key();
    for (auto it = b.begin(); it != b.end(); ++it)
        if (!a.contains(it.key()))
            d << QStringLiteral("+") + it.key();
    return d.join(QLatin1Char(' '));
}

// The whole file; empty when it cannot be read.
inline QByteArray readFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// Renames the files of ROOT's class folders CLASSES from "N.png" to "CLASS-N.png", so that names
// are unique across classes (a relabeled file moves without a clash); false when a rename fails.
inline bool prefixFileNamesWithClass(const QString &root, const QStringList &classes)
{
    for (const QString &c : classes)
        for (const QString &file : QDir(root + QLatin1Char('/') + c).entryList(QDir::Files))
            if (!QFile::rename(QStringLiteral("%1/%2/%3").arg(root, c, file),
                    QStringLiteral("%1/%2/%2-%3").arg(root, c, file)))
                return false;
    return true;
}

} // namespace leantune::testfiles
