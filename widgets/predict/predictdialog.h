#pragma once

#include "metrics/predictions.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>

class QComboBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;

namespace leantune {

class ClassBars;

// A model the prediction dialog offers: a run folder or an exported file (LibTorch .pt or ONNX),
// and its name in the list.
struct PredictModel {
    QString name;
    QString path;
};

// "Predict with...": images (dropped on the window, or chosen in the data set browser) classified
// by a run's model or an exported model file, each shown with its five most probable classes as
// bars. The images are decoded exactly as training evaluates them, by the engine `leantune-cli
// predict` uses (predictImages, predictOnnx), on a worker thread; the window stays responsive.
// Bad input - an image that does not decode, a run folder without a model, a model whose classes
// are not those of the data set the images come from - shows an inline message, never a crash.
// A prediction still running when another starts, or when the dialog closes, finishes on its own
// and its result is dropped (the worker holds only copies).
class PredictDialog : public QDialog {
    Q_OBJECT
public:
    explicit PredictDialog(QWidget *parent = nullptr);
    ~PredictDialog() override;

    // The models offered in the list (the history's runs with a model); keeps the chosen one.
    void setModels(const QVector<PredictModel> &models);
    // Chooses PATH (a run folder or an exported file), adding it to the list when it is not there.
    void setModel(const QString &path);
    QString model() const; // the chosen model's path; empty when none
    // Images inside DATAROOT belong to that data set: their label is their class folder, and a
    // model whose classes are not CLASSES is refused for them.
    void setDataSet(const QString &dataRoot, const QStringList &classes);
    // Classifies IMAGES with the chosen model in the background; the result replaces the shown one.
    void predict(const QStringList &images);

    bool isBusy() const;
    QString messageText() const; // the inline message; empty when none is shown
    QStringList images() const { return m_images; }
    // Each image's classes, every one, most probable first (empty until a prediction succeeded).
    const QVector<Prediction> &predictions() const { return m_predictions; }
    int currentImage() const { return m_current; }
    void setCurrentImage(int index);
    ClassBars *bars() const { return m_bars; }
    // The class folder of PATH when it lies in a class folder of DATAROOT, else empty.
    static QString labelOf(
        const QString &path, const QString &dataRoot, const QStringList &classes);

    static constexpr int kShownClasses = 5; // bars per image

Q_SIGNALS:
    // A prediction ended: OK with every image's classes, or not (messageText() says why).
    void predictionDone(bool ok);

private:
    struct Outcome {
        QVector<Prediction> rows;
        QVector<QImage> pictures; // null where the image does not decode
        QString error;
        quint64 generation = 0;
    };
    static Outcome run(const QString &model, const QStringList &images, const QString &dataRoot,
        const QStringList &dataClasses, quint64 generation);
    void start();
    void onDone();
    void showMessage(const QString &message);
    void chooseModelFile();
    void showCurrent();

    QComboBox *m_models;
    QPushButton *m_browse;
    QLabel *m_message;
    QProgressBar *m_busy;
    QListWidget *m_list;
    QLabel *m_picture;
    QLabel *m_caption;
    ClassBars *m_bars;

    QString m_dataRoot;
    QStringList m_dataClasses;
    QStringList m_images;
    QVector<QImage> m_pictures;
    QVector<Prediction> m_predictions;
    int m_current = -1;
    quint64 m_generation = 0; // results of an older request are dropped
    QFutureWatcher<Outcome> m_watcher;
};

} // namespace leantune
