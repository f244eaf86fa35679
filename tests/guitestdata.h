#pragma once
// Shared by the GUI test suites and the GUI benchmark: small, learnable image folders written with
// QImage (no OpenCV, no torch), the same pattern as testdata.h: class k has a bright band in the
// k-th horizontal strip over seeded noise.

#include <QColor>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QRandomGenerator>
#include <QString>
#include <QStringList>

#include <algorithm>

namespace leantune::guitestdata {

// CLASSES folders class0, class1, ... with PER_CLASS grayscale PNGs of SIZE×SIZE pixels; PER_CLASS
// may differ per class with the optional list. Returns the class names.
inline QStringList writeImageFolder(const QString &root, int classes, int perClass, int size = 16,
    quint32 seed = 1, const QList<int> &perClassCounts = {})
{
    QRandomGenerator rng(seed);
    QStringList names;
    for (int k = 0; k < classes; ++k) {
        const QString name = QStringLiteral("class%1").arg(k);
        names << name;
        QDir(root).mkpath(name);
        const int n = perClassCounts.isEmpty() ? perClass : perClassCounts.value(k);
        for (int i = 0; i < n; ++i) {
            QImage img(size, size, QImage::Format_Grayscale8);
            for (int y = 0; y < size; ++y) {
                uchar *line = img.scanLine(y);
                for (int x = 0; x < size; ++x)
                    line[x] = uchar(rng.bounded(60));
            }
            const int band = std::max(1, size / classes);
            for (int y = k * band; y < std::min(size, (k + 1) * band); ++y)
                for (int x = 0; x < size; ++x)
                    img.scanLine(y)[x] = uchar(200 + rng.bounded(30));
            img.save(QDir(root).filePath(
                QStringLiteral("%1/%2.png").arg(name).arg(i, 4, 10, QLatin1Char('0'))));
        }
    }
    return names;
}

// A truncated PNG and a text file posing as an image, for the invalid-file list.
inline void writeBadFiles(const QString &classDir)
{
    QFile text(QDir(classDir).filePath(QStringLiteral("notes.png")));
    if (text.open(QIODevice::WriteOnly))
        text.write("this is not an image\n");
    QImage img(16, 16, QImage::Format_Grayscale8);
    img.fill(128);
    const QString good = QDir(classDir).filePath(QStringLiteral("full.png"));
    img.save(good);
    QFile in(good);
    if (in.open(QIODevice::ReadOnly)) {
        const QByteArray bytes = in.readAll();
        in.close();
        QFile::remove(good);
        QFile cut(QDir(classDir).filePath(QStringLiteral("truncated.png")));
        if (cut.open(QIODevice::WriteOnly))
            cut.write(bytes.left(bytes.size() / 2));
    }
}

} // namespace leantune::guitestdata
