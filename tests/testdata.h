#pragma once
// Shared by the test suites: writes small, learnable image folders (one sub-folder per class).

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <algorithm>
#include <random>

namespace leantune::testdata {

// CLASSES folders named class0, class1, ... with PER_CLASS grayscale PNGs of SIZE×SIZE pixels.
// Class k has a bright horizontal band in the k-th horizontal strip over seeded noise (unchanged by
// the horizontal-flip augmentation), so a small CNN learns it in a few steps. Returns the class
// names.
inline QStringList writeImageFolder(
    const QString &root, int classes, int perClass, int size = 16, unsigned seed = 1)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> noise(0, 60);
    QStringList names;
    for (int k = 0; k < classes; ++k) {
        const QString name = QStringLiteral("class%1").arg(k);
        names << name;
        QDir(root).mkpath(name);
        for (int i = 0; i < perClass; ++i) {
            cv::Mat img(size, size, CV_8UC1);
            for (int y = 0; y < size; ++y)
                for (int x = 0; x < size; ++x)
                    img.at<uchar>(y, x) = uchar(noise(rng));
            const int band = std::max(1, size / classes);
            img(cv::Rect(0, k * band, size, band)).setTo(200 + noise(rng) / 2);
            const QString path = QDir(root).filePath(
                QStringLiteral("%1/%2.png").arg(name).arg(i, 4, 10, QLatin1Char('0')));
            cv::imwrite(path.toStdString(), img);
        }
    }
    return names;
}

// The JSON object in PATH (summary.json, config.json); empty when it cannot be read.
inline QJsonObject readJson(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

} // namespace leantune::testdata
