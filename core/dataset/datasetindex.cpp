#include "dataset/datasetindex.h"

#include <QJsonArray>

#include <algorithm>

namespace leantune {

QString imageFormatName(ImageFormat format)
{
    switch (format) {
    case ImageFormat::Jpeg:
        return QStringLiteral("JPEG");
    case ImageFormat::Png:
        return QStringLiteral("PNG");
    case ImageFormat::Bmp:
        return QStringLiteral("BMP");
    case ImageFormat::Webp:
        return QStringLiteral("WebP");
    case ImageFormat::Tiff:
        return QStringLiteral("TIFF");
    case ImageFormat::Pnm:
        return QStringLiteral("PNM");
    case ImageFormat::Unknown:
        break;
    }
    return QStringLiteral("unknown");
}

QVector<int> DatasetIndex::classCounts() const
{
    QVector<int> counts(classes.size(), 0);
    for (const ImageEntry &image : images) {
        if (image.label >= 0 && image.label < counts.size())
            ++counts[image.label];
    }
    return counts;
}

namespace {

// Median of a non-empty vector; the mean of the two middle values for an even count.
int median(std::vector<int> values)
{
    const size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + mid, values.end());
    const int upper = values[mid];
    if (values.size() % 2 == 1)
        return upper;
    const int lower = *std::max_element(values.begin(), values.begin() + mid);
    return int((qint64(lower) + upper) / 2);
}

} // namespace

SizeStats DatasetIndex::sizeStats() const
{
    // Images whose header gave no size (some TIFF layouts) do not count.
    std::vector<int> widths, heights;
    widths.reserve(images.size());
    heights.reserve(images.size());
    for (const ImageEntry &image : images) {
        if (image.width > 0 && image.height > 0) {
            widths.push_back(image.width);
            heights.push_back(image.height);
        }
    }
    SizeStats stats;
    if (widths.empty())
        return stats;
    const auto [minW, maxW] = std::minmax_element(widths.begin(), widths.end());
    const auto [minH, maxH] = std::minmax_element(heights.begin(), heights.end());
    stats.minWidth = *minW;
    stats.maxWidth = *maxW;
    stats.minHeight = *minH;
    stats.maxHeight = *maxH;
    stats.medianWidth = median(std::move(widths));
    stats.medianHeight = median(std::move(heights));
    return stats;
}

QStringList DatasetIndex::classesWithoutImages() const
{
    QStringList found;
    const QVector<int> counts = classCounts();
    for (int i = 0; i < classes.size(); ++i) {
        if (counts.at(i) > 0)
            continue;
        const QString folder = root + QLatin1Char('/') + classes.at(i);
        const QString inside = folder + QLatin1Char('/');
        const InvalidFile *first = nullptr;
        int files = 0;
        for (const InvalidFile &file : invalid) {
            if (file.path == folder) { // the folder itself: unreadable, a broken link
                first = &file;
                files = -1;
                break;
            }
            if (file.path.startsWith(inside)) {
                first = first ? first : &file;
                ++files;
            }
        }
        QString why;
        if (files < 0)
            why = first->reason;
        else if (files == 0)
            why = QStringLiteral("empty folder");
        else
            why = (files == 1 ? QStringLiteral("its one file is invalid")
                              : QStringLiteral("all %1 files are invalid, e.g.").arg(files))
                + QStringLiteral(" %1: %2").arg(first->path.mid(root.size() + 1), first->reason);
        found << QStringLiteral("'%1' (%2)").arg(classes.at(i), why);
    }
    return found;
}

QString DatasetIndex::correctionsSummary() const
{
    if (relabeled == 0 && excluded == 0)
        return {};
    return QStringLiteral("%1 relabeled, %2 excluded by leantune-corrections.csv")
        .arg(relabeled)
        .arg(excluded);
}

qint64 DatasetIndex::totalBytes() const
{
    qint64 total = 0;
    for (const ImageEntry &image : images)
        total += image.bytes;
    return total;
}

QJsonObject DatasetIndex::toJson() const
{
    QJsonArray classArray;
    const QVector<int> counts = classCounts();
    for (int i = 0; i < classes.size(); ++i)
        classArray.append(QJsonObject {
            { QStringLiteral("name"), classes.at(i) }, { QStringLiteral("count"), counts.at(i) } });

    QJsonArray invalidArray;
    for (const InvalidFile &file : invalid)
        invalidArray.append(QJsonObject {
            { QStringLiteral("path"), file.path }, { QStringLiteral("reason"), file.reason } });

    const SizeStats s = sizeStats();
    const QJsonObject sizes { { QStringLiteral("min_width"), s.minWidth },
        { QStringLiteral("median_width"), s.medianWidth },
        { QStringLiteral("max_width"), s.maxWidth }, { QStringLiteral("min_height"), s.minHeight },
        { QStringLiteral("median_height"), s.medianHeight },
        { QStringLiteral("max_height"), s.maxHeight } };

    return QJsonObject { { QStringLiteral("root"), root },
        { QStringLiteral("classes"), classArray },
        { QStringLiteral("images"), qint64(images.size()) },
        { QStringLiteral("invalid"), invalidArray }, { QStringLiteral("sizes"), sizes },
        { QStringLiteral("total_bytes"), totalBytes() },
        { QStringLiteral("corrections"),
            QJsonObject { { QStringLiteral("relabeled"), relabeled },
                { QStringLiteral("excluded"), excluded } } } };
}

} // namespace leantune
