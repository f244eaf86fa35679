#pragma once

#include "dataset/datasetindex.h"

#include <QWidget>

#include <memory>

class QAction;
class QComboBox;
class QFormLayout;
class QLabel;
class QListView;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QThread;

namespace leantune {

class ClassHistogram;
class ClassListModel;
class DatasetScanner;
class InvalidFileModel;
class ThumbnailModel;

// The data set browser: scans a folder in the background (progress bar, cancel), shows the valid
// images as a lazily decoded thumbnail grid filtered by class, and a larger preview of the current
// image with its path, pixel size, format and file size. Two companion panels - classOverview()
// (class table and histogram) and dataChecks() (size statistics and the invalid-file list) - are
// separate widgets so the main window can put them in docks; they are children of this widget until
// reparented. Destroying the browser during a scan cancels it and waits for the worker.
class DatasetBrowser : public QWidget {
    Q_OBJECT
public:
    explicit DatasetBrowser(QWidget *parent = nullptr);
    ~DatasetBrowser() override;

    void openFolder(const QString &path);
    // While no folder is open and one is being made (the sample's import): TEXT in the header and
    // DONE of TOTAL images on the bar (TOTAL 0: busy). An empty TEXT ends it; openFolder()
    // replaces it.
    void showPreparing(const QString &text, int done = 0, int total = 0);
    void cancelScan();
    bool isScanning() const { return m_scanThread != nullptr; }
    QString folder() const { return m_folder; }
    std::shared_ptr<const DatasetIndex> datasetIndex() const { return m_index; }

    QWidget *classOverview() const { return m_classPanel; }
    QWidget *dataChecks() const { return m_checksPanel; }

    ThumbnailModel *thumbnailModel() const { return m_thumbnails; }
    ClassListModel *classModel() const { return m_classes; }
    InvalidFileModel *invalidModel() const { return m_invalid; }
    QListView *thumbnailView() const { return m_view; }
    ClassHistogram *histogram() const { return m_histogram; }
    QString previewText() const; // the preview's details as text (tests)

    void setClassFilter(int label);
    // Opens the folder of PATH (PATH itself when it is a folder) in the desktop's file manager.
    // False and a message naming the folder in *ERROR when none opened it (no file manager).
    static bool showInFileManager(const QString &path, QString *error = nullptr);
    QString invalidDetailText() const; // the data checks' whole path and reason of the current file
    // "Predict with...", in the thumbnails' context menu: emits predictRequested() with the
    // selected images (the current one when none is selected).
    QAction *predictAction() const { return m_predictAction; }

Q_SIGNALS:
    void scanStarted(const QString &folder);
    void scanProgress(int done, int total);
    void scanFinished(const leantune::DatasetIndex &index);
    void scanFailed(const QString &message);
    void predictRequested(const QStringList &images);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void onScanFinished(const DatasetIndex &index);
    void onScanFailed(const QString &message);
    void endScan();
    void updatePreview();
    void updateVisibleRows();
    // Widens the grid's cells so that its columns fill the view's width: the leftover pixels are
    // shared between the columns instead of left as a blank strip at the right edge.
    void fitGridToWidth();
    QWidget *buildClassPanel();
    QWidget *buildChecksPanel();
    void showInvalidFile(int row); // in the file manager, or why not under the table

    QString m_folder;
    quint64 m_scanGeneration = 0; // results of an older (cancelled) scan are ignored
    std::shared_ptr<const DatasetIndex> m_index;
    QThread *m_scanThread = nullptr;
    std::unique_ptr<DatasetScanner> m_scanner; // lives on m_scanThread; deleted after it ended

    ThumbnailModel *m_thumbnails;
    ClassListModel *m_classes;
    InvalidFileModel *m_invalid;
    QSortFilterProxyModel *m_classProxy;

    QLabel *m_summary;
    QComboBox *m_filter;
    QWidget *m_scanBar;
    QProgressBar *m_progress;
    QPushButton *m_cancel;
    QListView *m_view;
    QLabel *m_previewImage;
    QLabel *m_previewDetails;
    QWidget *m_classPanel;
    QTableView *m_classTable;
    ClassHistogram *m_histogram;
    QWidget *m_checksPanel;
    QLabel *m_stats;
    QTableView *m_invalidTable;
    QLabel *m_invalidDetail; // the current file's whole path and reason, wrapped
    QPushButton *m_showInvalid;
    QAction *m_predictAction;
};

} // namespace leantune
