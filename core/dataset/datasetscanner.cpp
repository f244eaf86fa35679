#include "dataset/datasetscanner.h"

#include "dataset/corrections.h"

#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSet>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <new>
#include <utility>

#include <dirent.h>
#include <sys/stat.h>

namespace leantune {

namespace {

const QString kNotFollowed = QStringLiteral("symbolic link (not followed)");
const QString kLoop = QStringLiteral("symbolic link loop (points to a parent folder)");
const QString kLinkCycle = QStringLiteral("symbolic link loop (the links point at each other)");
const QString kAlreadyScanned = QStringLiteral("symbolic link to a folder already scanned");
const QString kBadFileName = QStringLiteral("file name is not valid UTF-8; rename it");
const QString kBadFolderName
    = QStringLiteral("folder name is not valid UTF-8; rename it (its files were not scanned)");

// True when ANCESTOR is PATH or one of PATH's parent folders (both canonical).
bool isAncestorOrSelf(const QString &ancestor, const QString &path)
{
    if (path == ancestor)
        return true;
    return path.startsWith(
        ancestor.endsWith(QLatin1Char('/')) ? ancestor : ancestor + QLatin1Char('/'));
}

// Qt decodes file names as UTF-8 and replaces invalid bytes with U+FFFD, so the QString path of
// such an entry no longer names it: nothing can open it by that path.
bool nameIsLost(const QFileInfo &info)
{
    if (!info.fileName().contains(QChar::ReplacementCharacter))
        return false;
    struct stat st;
    return ::lstat(QFile::encodeName(info.absoluteFilePath()).constData(), &st) != 0;
}

// Why a link cannot be followed, from stat()'s errno: a cycle of links, or a missing target.
QString brokenLinkReason(const QString &path)
{
    struct stat st;
    if (::stat(QFile::encodeName(path).constData(), &st) != 0 && errno == ELOOP)
        return kLinkCycle;
    return QStringLiteral("broken symbolic link");
}

struct UndecodableEntry {
    QString path; // as Qt shows it (U+FFFD for the invalid bytes)
    bool isDir;
};

// The visible entries of DIR whose names are not valid UTF-8, read by their raw bytes (POSIX).
std::vector<UndecodableEntry> undecodableEntries(const QString &dir)
{
    std::vector<UndecodableEntry> found;
    const QByteArray dirBytes = QFile::encodeName(dir);
    DIR *handle = ::opendir(dirBytes.constData());
    if (!handle)
        return found;
    while (const dirent *entry = ::readdir(handle)) {
        const QByteArray name(entry->d_name);
        if (name.startsWith('.'))
            continue; // ".", ".." and hidden entries
        if (std::all_of(name.begin(), name.end(), [](char c) { return uchar(c) < 0x80; }))
            continue; // ASCII: the common case, decided without decoding
        const QString decoded = QString::fromUtf8(name);
        if (decoded.toUtf8() == name)
            continue;
        struct stat st;
        const QByteArray full = dirBytes + '/' + name;
        const bool isDir = ::stat(full.constData(), &st) == 0 && S_ISDIR(st.st_mode);
        found.push_back({ dir + QLatin1Char('/') + decoded, isDir });
    }
    ::closedir(handle);
    return found;
}

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
    Walker(const ScanOptions &options, const ScanProgress &progress, const std::atomic_bool *cancel,
        QString canonicalRoot)
        : m_options(options)
        , m_progress(progress)
        , m_cancel(cancel)
        , m_root(std::move(canonicalRoot))
    {
    }

    std::vector<Candidate> files;
    std::vector<InvalidFile> invalid;

    bool cancelled() const { return m_cancel && m_cancel->load(std::memory_order_relaxed); }

    // Marks a folder (canonical path) as scanned; false when it was already (only tracked while
    // following links: without links a folder cannot be reached twice).
    bool visit(const QString &canonical)
    {
        if (!m_options.followSymlinks)
            return true;
        if (canonical.isEmpty() || m_visited.contains(canonical))
            return false;
        m_visited.insert(canonical);
        return true;
    }

    // Reports a followed link to a folder that must not be walked: it loops back to the data
    // folder, to one of its parents or to a parent of the link. Empty when it may be walked.
    QString loopReason(const QFileInfo &link) const
    {
        const QString target = link.canonicalFilePath();
        if (target.isEmpty())
            return brokenLinkReason(link.absoluteFilePath());
        const QString parent = QFileInfo(link.absolutePath()).canonicalFilePath();
        if (isAncestorOrSelf(target, m_root) || isAncestorOrSelf(target, parent))
            return kLoop;
        return {};
    }

    void addClassFolder(const QString &path, int label) { m_dirs.push_back({ path, label }); }

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
                    invalid.push_back({ path, brokenLinkReason(path) });
                else if (const QString loop = loopReason(info); !loop.isEmpty())
                    invalid.push_back({ path, loop });
                else if (!visit(info.canonicalFilePath()))
                    invalid.push_back({ path, kAlreadyScanned });
                else
                    m_dirs.push_back({ path, label });
            }
        }
    }

private:
    void listFolder(const QString &dir, int label)
    {
        const QFileInfo dirInfo(dir);
        if (!canList(dirInfo)) {
            invalid.push_back({ dirInfo.absoluteFilePath(),
                QStringLiteral("unreadable folder (permission denied)") });
            return;
        }
        QDirIterator it(dir, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System);
        while (it.hasNext()) {
            it.next();
            const QFileInfo info = it.fileInfo();
            if (isHiddenEntry(info))
                continue;
            if (nameIsLost(info))
                continue; // reported below, by its raw name
            const QString path = info.absoluteFilePath();
            if (info.isSymLink()) {
                if (!m_options.followSymlinks)
                    invalid.push_back({ path, kNotFollowed });
                else if (!info.exists())
                    invalid.push_back({ path, brokenLinkReason(path) });
                else if (info.isDir())
                    m_links.push_back({ path, label });
                else if (info.isFile())
                    files.push_back({ path, label, info.size() });
                else
                    invalid.push_back({ path, QStringLiteral("not a regular file") });
            } else if (info.isDir()) {
                if (visit(info.canonicalFilePath()))
                    m_dirs.push_back({ path, label });
            } else if (info.isFile()) {
                files.push_back({ path, label, info.size() });
            } else {
                invalid.push_back(
                    { path, QStringLiteral("not a regular file") }); // FIFO, socket, device
            }
        }
        // Qt's listing leaves out names that are not valid UTF-8 (it cannot stat them by their
        // decoded path): a second, raw listing finds them.
        reportUndecodable(dirInfo.absoluteFilePath(), /*filesToo=*/true);
    }

public:
    // Lists DIR's entries whose names are not valid UTF-8 as invalid (folders always, files when
    // FILESTOO): two such names may decode to the same QString, so they are counted by raw name.
    void reportUndecodable(const QString &dir, bool filesToo)
    {
        for (const UndecodableEntry &entry : undecodableEntries(dir)) {
            if (entry.isDir)
                invalid.push_back({ entry.path, kBadFolderName });
            else if (filesToo)
                invalid.push_back({ entry.path, kBadFileName });
        }
    }

private:
    const ScanOptions &m_options;
    const ScanProgress &m_progress;
    const std::atomic_bool *m_cancel;
    const QString m_root; // canonical path of the data folder
    std::vector<std::pair<QString, int>> m_dirs; // folders still to list, with their label
    std::vector<std::pair<QString, int>> m_links; // symlinked folders, walked after real ones
    QSet<QString> m_visited; // canonical paths (following links only)
};

std::optional<DatasetIndex> scan(const QString &rootPath, const ScanOptions &options,
    QString *error, const ScanProgress &progress, const std::atomic_bool *cancel)
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
    std::optional<Corrections> corrections; // read first: a bad line fails before the walk
    if (options.applyCorrections && !(corrections = Corrections::read(index.root, error)))
        return std::nullopt;
    const QString canonicalRoot = rootInfo.canonicalFilePath();
    Walker walker(options, progress, cancel, canonicalRoot);

    // Classes: the root's visible sub-folders (and symlinked ones, when followed), sorted by name.
    QFileInfoList classDirs, classLinks;
    const QFileInfoList entries
        = QDir(index.root)
              .entryInfoList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                  QDir::NoSort);
    for (const QFileInfo &info : entries) {
        if (isHiddenEntry(info) || nameIsLost(info))
            continue;
        if (info.isSymLink() && !info.exists()) {
            // A link that leads nowhere may have been meant as a class folder: say why it is not.
            walker.invalid.push_back({ info.absoluteFilePath(),
                options.followSymlinks ? brokenLinkReason(info.absoluteFilePath())
                                       : kNotFollowed });
            continue;
        }
        if (!info.isDir())
            continue;
        if (!info.isSymLink())
            classDirs.append(info);
        else if (options.followSymlinks)
            classLinks.append(info);
        else
            walker.invalid.push_back({ info.absoluteFilePath(), kNotFollowed });
    }
    // A class folder whose name Qt cannot decode would vanish with all its files: report it.
    // (Files directly in the root are not part of the data set, whatever their names.)
    walker.reportUndecodable(index.root, /*filesToo=*/false);
    auto byName
        = [](const QFileInfo &a, const QFileInfo &b) { return a.fileName() < b.fileName(); };
    std::sort(classDirs.begin(), classDirs.end(), byName);
    std::sort(classLinks.begin(), classLinks.end(), byName);
    walker.visit(canonicalRoot);
    QStringList realClasses; // canonical paths
    for (const QFileInfo &info : classDirs) {
        realClasses.append(info.canonicalFilePath());
        walker.visit(realClasses.last());
    }
    // A linked class folder is walked only when it leads neither back up nor into a real class
    // folder (whose nested folders are not marked visited yet), so no image is counted twice.
    const auto insideRealClass = [&realClasses](const QString &target) {
        return std::any_of(realClasses.begin(), realClasses.end(),
            [&](const QString &c) { return isAncestorOrSelf(c, target); });
    };
    for (const QFileInfo &info : classLinks) {
        const QString target = info.canonicalFilePath();
        if (const QString loop = walker.loopReason(info); !loop.isEmpty())
            walker.invalid.push_back({ info.absoluteFilePath(), loop });
        else if (insideRealClass(target) || !walker.visit(target))
            walker.invalid.push_back({ info.absoluteFilePath(), kAlreadyScanned });
        else
            classDirs.append(info);
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
        if (const std::optional<ImageHeader> header
            = probeImageFile(file.path, &reason, options.limits)) {
            ImageEntry entry;
            entry.path = file.path;
            entry.label = file.label;
            entry.bytes = file.bytes;
            entry.width = header->width;
            entry.height = header->height;
            entry.channels = header->channels;
            entry.bitDepth = header->bitDepth;
            entry.decodedBytes = header->decodedBytes;
            entry.format = header->format;
            index.images.push_back(std::move(entry));
        } else {
            index.invalid.push_back({ file.path, reason });
        }
        ++done;
        if (progress)
            progress(done, total);
    }
    std::sort(index.invalid.begin(), index.invalid.end(),
        [](const InvalidFile &a, const InvalidFile &b) { return a.path < b.path; });
    if (corrections && !corrections->applyTo(&index, error))
        return std::nullopt;
    return index;
}

} // namespace

std::optional<DatasetIndex> scanDataset(const QString &root, const ScanOptions &options,
    QString *error, const ScanProgress &progress, const std::atomic_bool *cancel)
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
    : QObject(parent)
    , m_root(std::move(root))
    , m_options(options)
{
    qRegisterMetaType<leantune::DatasetIndex>();
}

void DatasetScanner::start()
{
    QElapsedTimer sinceEmit;
    std::pair<int, int> last { -1, -1 }, emitted { -1, -1 };
    auto onProgress = [&](int done, int total) {
        last = { done, total };
        if (sinceEmit.isValid() && sinceEmit.elapsed() < 50)
            return; // at most ~20 Hz
        sinceEmit.start();
        emitted = last;
        Q_EMIT progress(done, total);
    };
    QString error;
    std::optional<DatasetIndex> index
        = scanDataset(m_root, m_options, &error, onProgress, &m_cancel);
    if (last != emitted)
        Q_EMIT progress(last.first, last.second); // the final count is never dropped
    if (index)
        Q_EMIT finished(*index);
    else
        Q_EMIT failed(error);
}

} // namespace leantune
