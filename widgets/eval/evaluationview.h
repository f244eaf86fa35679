#pragma once

#include "metrics/evaluationsummary.h"
#include "train/evaluator.h"

#include <QString>
#include <QStringList>
#include <QWidget>

#include <memory>
#include <optional>

class QComboBox;
class QLabel;
class QListView;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QTreeWidget;

namespace leantune {

class ClassFiguresModel;
class ConfusionMatrixPlot;
class EvaluationJob;
class PredictionImageModel;

// Why a model errs: the confusion matrix of a run's predictions file (counts or row-normalized),
// its per-class precision, recall, F1 and support with accuracy, macro F1 and top-5 accuracy, the
// most confused pairs, and the images behind a cell or pair by falling confidence. Two runs give
// the difference of their row-normalized matrices. A run without a predictions file, another data
// folder or an exported model is evaluated in the background (EvaluationJob) with progress and
// Cancel. Errors are shown inline, never in a dialog. GUI thread only.
class EvaluationView : public QWidget {
    Q_OBJECT
public:
    explicit EvaluationView(QWidget *parent = nullptr);
    ~EvaluationView() override;

    // Shows RUNDIR's test predictions (predictions.csv), else its validation predictions
    // (predictions-val.csv); without either, evaluates its model on its test folder in the
    // background into RUNDIR/predictions.csv. TITLE names the run in the header. False (and the
    // reason inline) when nothing can be shown or started.
    bool showRun(const QString &runDir, const QString &title = {});
    // Shows FILE (predictions.h); CLASSES gives the order (empty: see summarizePredictions).
    bool showPredictions(const QString &file, const QStringList &classes, const QString &title);
    // The difference A - B of two runs' row-normalized matrices (both need a predictions file).
    bool compareRuns(const QString &runDirA, const QString &titleA, const QString &runDirB,
        const QString &titleB);
    // Evaluates MODEL (a run folder, a LibTorch or ONNX export) on DATADIR in the background,
    // writing PREDICTIONSFILE, and shows it when done.
    bool evaluate(const QString &model, const QString &dataDir, const QString &predictionsFile);
    void cancelEvaluation();

    void setNormalized(bool normalized); // counts or row-normalized (not in comparisons)
    // Lists the images of true class LABEL predicted as PREDICTED (of the first run).
    void selectCell(int label, int predicted);

    // The predictions file beside a model for DATADIR: RUNDIR/predictions-FOLDER.csv for a run,
    // MODEL.predictions-FOLDER.csv for an export.
    static QString predictionsFileFor(const QString &model, const QString &dataDir);

    const EvaluationSummary *summary() const; // the shown (first) run's, or null
    bool comparing() const { return m_other.has_value(); }
    QString predictionsFile() const { return m_file; }
    QString messageText() const;
    QString figuresText() const; // the accuracy, macro F1 and top-5 line
    QStringList shownImagePaths() const; // the image list, in order
    QStringList confusedPairTexts() const;
    ConfusionMatrixPlot *matrix() const { return m_matrix; }
    ClassFiguresModel *figures() const { return m_figures; }
    QTableView *figuresView() const { return m_table; }
    QListView *imagesView() const { return m_images; }
    QTreeWidget *pairsView() const { return m_pairs; }
    EvaluationJob *job() const { return m_job; }
    QProgressBar *progressBar() const { return m_progress; }

Q_SIGNALS:
    // A background evaluation ended: OK with its file shown, or not (the message is inline).
    void evaluationEnded(bool ok);

private:
    void clearView();
    void showMessage(const QString &text, bool error);
    void refreshMatrix();
    void refreshPairs();
    void updateCellToolTips();
    void onEvaluationFinished(const QString &file, const EvaluationReport &report);
    void onEvaluationFailed(const QString &message);
    void setRunning(bool running);
    void chooseFolder();
    void chooseModel();
    bool saveFigures(const QString &path, QString *error) const;

    struct Shown {
        QString title;
        QString source; // run folder or model file (empty: a bare predictions file)
        std::shared_ptr<const PredictionsFile> file;
        EvaluationSummary summary;
    };
    std::optional<Shown> m_shown;
    std::optional<Shown> m_other; // comparing: the run subtracted
    QString m_file;
    QString m_source; // the model "Evaluate on a folder" evaluates: a run folder or an export
    QString m_pendingTitle;

    QLabel *m_title;
    QLabel *m_message;
    QLabel *m_figuresLine;
    QComboBox *m_modeBox;
    QPushButton *m_folderButton, *m_modelButton, *m_cancelButton;
    QProgressBar *m_progress;
    ConfusionMatrixPlot *m_matrix;
    ClassFiguresModel *m_figures;
    QSortFilterProxyModel *m_figuresProxy;
    QTableView *m_table;
    QTreeWidget *m_pairs;
    QLabel *m_imagesTitle;
    QListView *m_images;
    PredictionImageModel *m_imageModel;
    EvaluationJob *m_job;
};

} // namespace leantune
