#pragma once
// The Data issues view: what an audit found in the open data folder, reviewed one item at a time.

#include "audit/auditreport.h"
#include "dataset/corrections.h"

#include <QHash>
#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>

#include <memory>
#include <optional>

class QAction;
class QLabel;
class QListView;
class QProgressBar;
class QPushButton;
class QStackedWidget;
class QTabWidget;

namespace leantune {

class AuditJob;
class IssueListModel;
class ThumbnailLoader;

// Four lists from AUDITDIR/audit.json - wrong labels, duplicates and leaks, outliers, overlapping
// classes - each with thumbnails, and a review pane for the current item. Every decision (relabel,
// exclude, keep; in a duplicate group, keep one and exclude the others) is written at once into
// the folder's leantune-corrections.csv (recordCorrection) and can be taken back with Ctrl+Z;
// items with a decision leave the queue. "Find issues..." runs the audit in the background
// (AuditJob: the engine of `leantune-cli audit`) into auditDirFor(folder); a stopped audit goes on
// from its finished folds. The audit folder last used for each data folder is kept in QSettings, so
// the view reopens the last audit of the folder. Errors show inline above the lists.
class DataIssuesView : public QWidget {
    Q_OBJECT
public:
    enum List { WrongLabels, Duplicates, Outliers, OverlappingClasses };
    Q_ENUM(List)

    explicit DataIssuesView(QWidget *parent = nullptr);
    ~DataIssuesView() override;

    // The data folder under review (its audit, when one is known, is opened). Empty: none.
    void setDataFolder(const QString &folder);
    QString dataFolder() const { return m_folder; }
    // Where the desktop audits FOLDER: the folder recorded for it in QSettings, else
    // defaultAuditDir(FOLDER).
    static QString auditDirFor(const QString &folder);
    // USERDATA/audits/NAME-HASH: one per data folder, next to the run history.
    static QString defaultAuditDir(const QString &folder);

    // Opens AUDITDIR's audit of the data folder and remembers it for the folder. False + *error
    // (also shown inline) when it is missing or malformed, made for another data set, or the folder
    // has fewer than two classes.
    bool openAudit(const QString &auditDir, QString *error = nullptr);
    QString auditDir() const { return m_auditDir; }
    const AuditReport &report() const { return m_report; }

    // Runs the audit of the data folder in the background (duplicates only, or cross-training K
    // fold models for EPOCHS epochs each), then opens it. TEST (optional) is audited for leaks.
    bool findIssues(bool duplicatesOnly, int folds = 3, int epochs = 0, const QString &test = {},
        QString *error = nullptr);
    void cancelAudit();
    bool isAuditing() const { return m_job != nullptr; }

    // The review, on the current list's current item (slots of the buttons and keys).
    void setCurrentList(List list);
    List currentList() const;
    int remaining(List list) const; // items left in the queue
    QString currentPath() const; // the current label issue's or outlier's image; empty when none
    bool relabelToSuggestion();
    bool relabelTo(const QString &label);
    bool excludeCurrent();
    bool keepCurrent(); // not an issue: a label issue, an outlier, or every image of a group
    bool keepOnly(int image); // duplicates: keep IMAGE of the group, exclude the others
    void next();
    bool undo();
    int undoCount() const { return int(m_undo.size()); }
    QString errorText() const; // the inline error; empty when none is shown
    QString detailText() const; // the review pane's text (tests)

Q_SIGNALS:
    // A decision was written to (or taken back from) DATADIR's corrections file.
    void correctionsChanged(const QString &dataDir);
    void auditFinished(bool ok);
    void auditProgress(const QString &text, double fraction);

protected:
    void showEvent(QShowEvent *event) override; // the current list takes the keys

private:
    struct Decision {
        QString dataDir;
        QString path; // relative
        std::optional<Correction> previous;
        bool fileWasThere = true; // the folder had a corrections file before this decision
    };
    struct Step {
        QVector<Decision> decisions;
        List list;
        int item; // the report's index of the item decided
    };

    void buildUi();
    QWidget *buildLabelPane();
    QWidget *buildDuplicatePane();
    QWidget *buildOutlierPane();
    QWidget *buildOverlapPane();
    void showError(const QString &message);
    void clearError();
    void reloadCorrections();
    bool reviewed(const QString &dataDir, const QString &path) const;
    QString folderOf(AuditSplit split) const;
    void rebuild(List list, int preferItem = -1, int preferRow = -1);
    void rebuildAll();
    int currentItem(List list) const;
    void selectItem(List list, int item);
    void updateDetail();
    void updateTabTitles();
    void updateButtons();
    void readTopProbabilities();
    bool apply(QVector<QPair<QString, Correction>> decisions, List list, int item);
    void onAuditFinished(const QString &auditDir, const QStringList &warnings);
    QImage largeImage(const QString &path, int side) const;

    QString m_folder;
    QStringList m_classes; // of the data folder
    QString m_auditDir;
    AuditReport m_report;
    bool m_loaded = false;
    QHash<QString, QVector<QPair<QString, double>>> m_top; // label issue path -> top 3
    QHash<QString, Corrections> m_corrections; // data folder -> its file
    QVector<Step> m_undo;
    std::unique_ptr<AuditJob> m_job;

    ThumbnailLoader *m_thumbs = nullptr;
    IssueListModel *m_models[4] = {};
    QListView *m_views[4] = {};
    QTabWidget *m_tabs = nullptr;
    QLabel *m_summary = nullptr;
    QLabel *m_error = nullptr;
    QPushButton *m_find = nullptr;
    QPushButton *m_open = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_progressText = nullptr;
    // Review panes
    QLabel *m_labelImage = nullptr;
    QLabel *m_labelText = nullptr;
    QPushButton *m_relabelSuggested = nullptr;
    QWidget *m_labelButtons = nullptr;
    QWidget *m_dupRow = nullptr;
    QLabel *m_dupText = nullptr;
    QWidget *m_dupButtons = nullptr;
    QLabel *m_outlierImage = nullptr;
    QLabel *m_outlierText = nullptr;
    QWidget *m_outlierButtons = nullptr;
    QLabel *m_overlapText = nullptr;
    QListView *m_overlapIssues = nullptr;
    IssueListModel *m_overlapModel = nullptr;
    QAction *m_undoAction = nullptr;
};

} // namespace leantune
