#pragma once

#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

#include <vector>

namespace leantune {

// Image container formats recognised by content signature (never by file extension).
enum class ImageFormat { Unknown, Jpeg, Png, Bmp, Webp, Tiff, Pnm };
QString imageFormatName(ImageFormat format);

// One valid image of the data set. Sizes are in pixels, bytes is the file size.
struct ImageEntry {
    QString path; // absolute path
    int label = -1; // index into DatasetIndex::classes
    qint64 bytes = 0;
    int width = 0;
    int height = 0;
    int channels = 0; // as stored in the file: 1 (gray), 2 (gray+alpha), 3, 4
    ImageFormat format = ImageFormat::Unknown;
    int bitDepth = 8; // bits per sample as stored
    qint64 decodedBytes = 0; // the most memory decoding it whole takes (ImageHeader::decodedBytes)
};

// A file that will never reach training, with a reason a user can act on.
struct InvalidFile {
    QString path;
    QString reason; // e.g. "truncated JPEG (no end-of-image marker)"
};

// Minimum / median / maximum of the valid images' widths and heights (pixels).
struct SizeStats {
    int minWidth = 0, medianWidth = 0, maxWidth = 0;
    int minHeight = 0, medianHeight = 0, maxHeight = 0;
};

// The result of scanning a data folder: classes are sub-folder names sorted by name, so label ids
// are stable across scans. A plain copyable value; safe to send across threads.
struct DatasetIndex {
    QString root;
    QStringList classes;
    std::vector<ImageEntry> images;
    std::vector<InvalidFile> invalid;
    // What the folder's leantune-corrections.csv changed (dataset/corrections.h): images counted
    // under another class, and images and invalid files left out. 0 when the scan ignored it.
    int relabeled = 0;
    int excluded = 0;

    QVector<int> classCounts() const; // valid images per class, indexed by label
    // The classes without a valid image, each as "'name' (why)": an empty folder, an unreadable
    // one, or files that are all invalid (with the first one's reason). Empty when every class has
    // an image. A class trained on no image is a dead output, so a run refuses these.
    QStringList classesWithoutImages() const;
    SizeStats sizeStats() const;
    qint64 totalBytes() const; // sum of valid images' file sizes
    // "N relabeled, M excluded by leantune-corrections.csv", or empty when the file changed
    // nothing.
    QString correctionsSummary() const;
    // {"root", "classes":[{"name","count"}], "images":N, "invalid":[{"path","reason"}],
    // "sizes":{...}, "corrections":{"relabeled","excluded"}}
    QJsonObject toJson() const;
};

} // namespace leantune

// Lets DatasetIndex travel through queued signals (DatasetScanner::finished).
Q_DECLARE_METATYPE(leantune::DatasetIndex)
