#pragma once

#include "config/runconfig.h"
#include "train/weightinfo.h"

#include <QFutureWatcher>
#include <QGroupBox>
#include <QList>

#include <optional>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QToolButton;
class QWidget;

namespace leantune {

class RunFieldBinder;

// The run dialog's "Starting weights" group: "Start from: random weights | file..." (the
// `init` field: a torchvision state_dict, a .safetensors file, a LeanTune export or run folder),
// what the file was recognized as (format, architecture, tensors, classes, normalization), the
// input normalization (norm_mean, norm_std) and, when the field table has them, the fine-tuning
// controls (freeze_epochs, backbone_lr_scale; enabled only when starting from a file).
//
// The file is read by inspectWeights() on a worker thread (it reads the whole file, all of
// torchvision's resnet18 for one, and builds the zoo models it tries); inspected() says when it is
// done. check() says what is wrong with starting a configuration from it (unreadable, no LeanTune
// model fits, another model, channel count or resnet18 stem), for the dialog's error line. When the
// weights bring a normalization and the run's is at its default, the normalization fields take the
// weights' (as `train --init` would) and the note says so; a run with its own normalization keeps
// it and is offered the weights'.
class StartFromField : public QGroupBox {
    Q_OBJECT
public:
    explicit StartFromField(QWidget *parent = nullptr);
    ~StartFromField() override;

    // Binds this to the `init` field of BINDER and makes and binds the editors of norm_mean and
    // norm_std and, where the field table has them, freeze_epochs and backbone_lr_scale.
    void bindFields(RunFieldBinder *binder);

    QString path() const; // the `init` value: empty for random weights
    void setPath(const QString &path); // a non-empty path chooses "file"
    bool fromFile() const;

    bool isInspecting() const { return m_watcher.isRunning(); }
    // What path() was recognized as, once inspected (std::nullopt: random weights, still reading,
    // or unreadable).
    std::optional<WeightInfo> info() const;

    // What is wrong with starting CONFIG from the chosen weights (CLASSES: the data set's class
    // count, 0 when unknown); empty when nothing is (and for random weights). Updates the summary.
    QString check(const RunConfig &config, int classes);
    QString summaryText() const;
    QString normalizationNote() const;

    // The run's model, channels and input size made to fit the weights (the "Match" button).
    // Choosing the model it replaced again gives back that model's input size and channels, each
    // unless the user changed it since.
    void matchRunToWeights();
    void useWeightsNormalization(); // the "Use the weights' normalization" button

    // A one-line description of INFO for the summary ("torchvision state_dict · resnet18 · ...");
    // CLASSES > 0 and different from the weights' says that the classifier is replaced.
    static QString describe(const WeightInfo &info, int classes);

Q_SIGNALS:
    void changed(); // the choice or the path changed (the `init` value)
    void inspected(); // an inspection of path() ended: check() has news

private:
    struct Result {
        QString path;
        std::optional<WeightInfo> info;
        QString error;
    };
    void choiceActivated(int index);
    void browse(bool folder);
    void pathEdited();
    void inspect();
    void inspectionDone();
    void adoptNormalization();
    void restoreNormalization();
    void updateEnabled();
    void modelChanged();
    QString fieldData(const char *key) const; // a combo box field's value
    QString fieldText(const char *key) const;
    void setFieldText(const char *key, const QString &text);

    RunFieldBinder *m_binder = nullptr;
    QComboBox *m_choice;
    QLineEdit *m_path;
    QToolButton *m_browse;
    QLabel *m_summary, *m_normNote;
    QPushButton *m_match, *m_useNorm;
    QList<QWidget *> m_tuning; // the fine-tuning controls and their labels, when the table has them
    QFutureWatcher<Result> m_watcher;
    bool m_restart = false; // path() changed while an inspection ran
    std::optional<Result> m_result; // the last inspection's, for m_result->path
    // The normalization fields' texts before they took the weights' (to give back when the
    // weights go); empty when they did not.
    std::optional<std::pair<QString, QString>> m_normBefore;
    std::pair<QString, QString> m_normAdopted;
    int m_channels = 0; // of the last check()ed configuration
    // What "Match the run" replaced (model, input size, channels) and the size and channels it
    // set, until the model changes again or the dialog shows another configuration.
    struct Matched {
        QString model;
        int inputSize = 0;
        QString channels;
        int setSize = 0;
        QString setChannels;
    };
    std::optional<Matched> m_matched;
    bool m_matching = false;
};

} // namespace leantune
