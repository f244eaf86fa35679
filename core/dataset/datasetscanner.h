#pragma once

#include "dataset/datasetindex.h"
#include "dataset/imageprobe.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <functional>
#include <optional>

namespace leantune {

struct ScanOptions {
    ProbeLimits limits;
    // Symlinked files and folders are followed by default (subsets, DVC and git-annex are made of
    // links). Links that loop back to a parent folder, or to a folder already scanned, are reported
    // as invalid with the reason, never walked twice. False: every link is reported, none followed.
    bool followSymlinks = true;
    // The folder's leantune-corrections.csv is applied (dataset/corrections.h): relabeled images
    // count under their new class, excluded ones are left out, and a file that does not parse or
    // fit the folder fails the scan naming its line. False: the file is ignored.
    bool applyCorrections = true;
};

// Progress callback: files examined so far, files found in total (total may grow while walking).
using ScanProgress = std::function<void(int done, int total)>;

// Walks ROOT (one sub-folder per class; files directly inside a class folder, and in its nested
// folders, belong to that class), reads only headers and returns the index. Hidden files and
// folders are skipped. Every entry on disk ends up either as an image or as an invalid file with
// its reason, including names that are not valid UTF-8 (Qt cannot open them by path: reported, not
// dropped). Returns std::nullopt with *error set when ROOT is missing or unreadable, or when the
// scan was cancelled (*error = "cancelled"). Thread-safe: touches no shared state.
std::optional<DatasetIndex> scanDataset(const QString &root, const ScanOptions &options,
    QString *error, const ScanProgress &progress = {}, const std::atomic_bool *cancel = nullptr);

// Worker QObject for the GUI: move it to a QThread and call start(). Emits progress at most ~20 Hz.
// Thread affinity: lives on the worker thread; cancel() may be called from any thread.
class DatasetScanner : public QObject {
    Q_OBJECT
public:
    explicit DatasetScanner(QString root, ScanOptions options = {}, QObject *parent = nullptr);
    void cancel() { m_cancel.store(true); }

public Q_SLOTS:
    void start();

Q_SIGNALS:
    void progress(int done, int total);
    void finished(const leantune::DatasetIndex &index);
    void failed(const QString &message);

private:
    QString m_root;
    ScanOptions m_options;
    std::atomic_bool m_cancel { false };
};

} // namespace leantune
