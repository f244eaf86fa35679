#include "dataset/datasetscanner.h"

#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSet>

#include <algorithm>
#include <exception>
#include <new>
#include <utility>

namespace leantune {

namespace {

const QString kNotFollowed = QStringLiteral("symbolic link (not followed)");

struct Candidate {
    QString path;
    int label;
    qint64 bytes;
};

bool isHiddenEntry(const QFileInfo &info)
{
    return info.fileName().startsWith(QLatin1Char('.')) || info.isHidden();
}

bool canList(const QFileInfo &dir)
{
    return dir.isReadable() && dir.isExecutable();
}

// Walks the class folders and collects the files to probe. Real folders are walked first; symlinked
// folders (when followed) afterwards, so a link into another class never steals that class's files.
class Walker {
public:
    Walker(const ScanOptions &options, const ScanProgress &progress, const std::atomic_bool *cancel)
        : m_options(options), m_progress(progress), m_cancel(cancel) {}

    std::vector<Candidate> files;
    std::vector<InvalidFile> invalid;

    bool cancelled() const { return m_cancel && m_cancel->load(std::memory_order_relaxed); }

    // Marks a folder as scanned; false when it was already (only tracked while following links).
    bool visit(const QFileInfo &dir)
    {
        if (!m_options.followSymlinks)
            return true;
        const QString canonical = dir.canonicalFilePath();
        if (canonical.isEmpty() || m_visited.contains(canonical))
            return false;
        m_visited.insert(canonical);
        return true;
    }

    void addClassFolder(const QString &path, int label) { m_dirs.push_back({path, label}); }

    // False when cancelled.
    bool run()
    {
        for (;;) {
            while (!m_dirs.empty()) {
                if (cancelled())
                    return false;
                const auto [dir, label] = m_dirs.back();
                m_dirs.pop_back();
                listFolder(dir, label);
                if (m_progress)
                    m_progress(0, int(files.size()));
            }
            if (m_links.empty())
                return true;
            // Links in sorted order, so which of two links to one folder wins does not depend on
            // the file system's listing order.
            std::sort(m_links.begin(), m_links.end());
            for (const auto &[path, label] : std::exchange(m_links, {})) {
                const QFileInfo info(path);
                if (!info.exists())
                    invalid.push_back({path, QStringLiteral("broken symbolic link")});
                else if (!visit(info))
                    invalid.push_back(
                            {path, QStringLiteral("symbolic link to a folder already scanned")});
                else
                    m_dirs.push_back({path, label});
            }
        }
    }

private:
    void listFolder(const QString &dir, int label)
    {
        const QFileInfo dirInfo(dir);
        if (!canList(dirInfo)) {
            invalid.push_back({dirInfo.absoluteFilePath(),
                               QStringLiteral("unreadable folder (permission denied)")});
            return;
        }
        QDirIterator it(dir, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System);
        while (it.hasNext()) {
            it.next();
            const QFileInfo info = it.fileInfo();
            if (isHiddenEntry(info))
                continue;
            const QString path = info.absoluteFilePath();
            if (info.isSymLink()) {
                if (!m_options.followSymlinks)
                    invalid.push_back({path, kNotFollowed});
                else if (!info.exists())
                    invalid.push_back({path, QStringLiteral("broken symbolic link")});
                else if (info.isDir())
                    m_links.push_back({path, label});
                else if (info.isFile())
                    files.push_back({path, label, info.size()});
                else
                    invalid.push_back({path, QStringLiteral("not a regular file")});
            } else if (info.isDir()) {
                if (visit(info))
                    m_dirs.push_back({path, label});
            } else if (info.isFile()) {
                files.push_back({path, label, info.size()});
            } else {
                invalid.push_back(
                        {path, QStringLiteral("not a regular file")});   // FIFO, socket, device
            }
        }
    }

    const ScanOptions &m_options;
    const ScanProgress &m_progress;
    const std::atomic_bool *m_cancel;
    std::vector<std::pair<QString, int>> m_dirs;    // folders still to list, with their label
    std::vector<std::pair<QString, int>> m_links;   // symlinked folders, walked after real ones
    QSet<QString> m_visited;                        // canonical paths (following links only)
};

std::optional<DatasetIndex> scan(const QString &rootPath, const ScanOptions &options,
                                 QString *error, const ScanProgress &progress,
                                 const std::atomic_bool *cancel)
{
    const QFileInfo rootInfo(rootPath);
    if (!rootInfo.exists()) {
        *error = QStringLiteral("no such folder: %1").arg(rootPath);
        return std::nullopt;
    }
    if (!rootInfo.isDir()) {
        *error = QStringLiteral("not a folder: %1").arg(rootPath);
        return std::nullopt;
    }
    if (!canList(rootInfo)) {
        *error = QStringLiteral("cannot read folder (permission denied): %1").arg(rootPath);
        return std::nullopt;
    }

    DatasetIndex index;
    index.root = QDir::cleanPath(rootInfo.absoluteFilePath());
    Walker walker(options, progress, cancel);

    // Classes: the root's visible sub-folders (and symlinked ones, when followed), sorted by name.
    QFileInfoList classDirs, classLinks;
    const QFileInfoList entries = QDir(index.root).entryInfoList(
            QDir::AllDirs | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System, QDir::NoSort);
    for (const QFileInfo &info : entries) {
        if (isHiddenEntry(info) || !info.isDir())
            continue;
        if (!info.isSymLink())
            classDirs.append(info);
        else if (options.followSymlinks)
            classLinks.append(info);
        else
            walker.invalid.push_back({info.absoluteFilePath(), kNotFollowed});
    }
    auto byName = [](const QFileInfo &a, const QFileInfo &b) {
        return a.fileName() < b.fileName();
    };
    std::sort(classDirs.begin(), classDirs.end(), byName);
    std::sort(classLinks.begin(), classLinks.end(), byName);
    walker.visit(rootInfo);
    for (const QFileInfo &info : classDirs)
        walker.visit(info);
    for (const QFileInfo &info : classLinks) {
        if (walker.visit(info))
            classDirs.append(info);
        else
            walker.invalid.push_back({info.absoluteFilePath(),
                                      QStringLiteral("symbolic link to a folder already scanned")});
    }
    std::sort(classDirs.begin(), classDirs.end(), byName);
    for (const QFileInfo &info : classDirs) {
        walker.addClassFolder(info.absoluteFilePath(), int(index.classes.size()));
        index.classes.append(info.fileName());
    }

    if (!walker.run()) {
        *error = QStringLiteral("cancelled");
        return std::nullopt;
    }

    // Deterministic order: by class, then path.
    std::vector<Candidate> files = std::move(walker.files);
    std::sort(files.begin(), files.end(), [](const Candidate &a, const Candidate &b) {
        return a.label != b.label ? a.label < b.label : a.path < b.path;
    });
    index.invalid = std::move(walker.invalid);
    index.images.reserve(files.size());
    const int total = int(files.size());
    int done = 0;
    for (const Candidate &file : files) {
        if (walker.cancelled()) {
            *error = QStringLiteral("cancelled");
            return std::nullopt;
        }
        QString reason;
        if (const std::optional<ImageHeader> header = probeImageFile(file.path, &reason,
                                                                     options.limits)) {
            ImageEntry entry;
            entry.path = file.path;
            entry.label = file.label;
            entry.bytes = file.bytes;
            entry.width = header->width;
            entry.height = header->height;
            entry.channels = header->channels;
            entry.format = header->format;
            index.images.push_back(std::move(entry));
        } else {
            index.invalid.push_back({file.path, reason});
        }
        ++done;
        if (progress)
            progress(done, total);
    }
    std::sort(index.invalid.begin(), index.invalid.end(),
              [](const InvalidFile &a, const InvalidFile &b) { return a.path < b.path; });
    return index;
}

} // namespace

std::optional<DatasetIndex> scanDataset(const QString &root, const ScanOptions &options,
                                        QString *error, const ScanProgress &progress,
                                        const std::atomic_bool *cancel)
{
    QString ignored;
    if (!error)
        error = &ignored;
    try {
        return scan(root, options, error, progress, cancel);
    } catch (const std::bad_alloc &) {
        *error = QStringLiteral("out of memory while scanning %1").arg(root);
    } catch (const std::exception &e) {
        *error = QStringLiteral("scan failed: %1").arg(QString::fromLocal8Bit(e.what()));
    }
    return std::nullopt;
}

DatasetScanner::DatasetScanner(QString root, ScanOptions options, QObject *parent)
    : QObject(parent), m_root(std::move(root)), m_options(options)
{
    qRegisterMetaType<leantune::DatasetIndex>();
}

void DatasetScanner::start()
{
    QElapsedTimer sinceEmit;
    std::pair<int, int> last{-1, -1}, emitted{-1, -1};
    auto onProgress = [&](int done, int total) {
        last = {done, total};
        if (sinceEmit.isValid() && sinceEmit.elapsed() < 50)
            return;   // at most ~20 Hz
        sinceEmit.start();
        emitted = last;
        Q_EMIT progress(done, total);
    };
    QString error;
    std::optional<DatasetIndex> index
            = scanDataset(m_root, m_options, &error, onProgress, &m_cancel);
    if (last != emitted)
        Q_EMIT progress(last.first, last.second);   // the final count is never dropped
    if (index)
        Q_EMIT finished(*index);
    else
        Q_EMIT failed(error);
}

} // namespace leantune
