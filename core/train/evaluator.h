#pragma once

#include "metrics/evaluationsummary.h"
#include "metrics/predictions.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

namespace leantune {

// Accuracy figures of a model on a labelled data set.
struct EvaluationReport {
    QStringList classes;
    int images = 0;
    int skipped = 0; // files that failed to decode
    double accuracy = 0.0; // 0..1
    double loss = 0.0; // mean cross-entropy
    QVector<double> perClassAccuracy; // -1 for classes without images
    QVector<QVector<int>> confusion; // [true][predicted]
    int oomRecoveries = 0; // out-of-memory errors recovered from by splitting batches
    int chunk = 0; // images per forward pass after them; 0 = whole batches
    int topK = 0; // min(5, classes): the k of topKAccuracy
    double topKAccuracy = 0.0; // 0..1, label among the topK most probable classes

    // Per class, from the confusion matrix (classFiguresOf, macroF1Of: metrics/evaluationsummary.h,
    // which the Evaluation view uses too).
    using ClassFigures = leantune::ClassFigures;
    QVector<ClassFigures> classFigures() const;
    double macroF1() const; // mean F1 over the classes with images (an undefined F1 counts 0)

    QJsonObject toJson() const;
    QString toText() const; // a readable table for the terminal
};

struct EvaluateOptions {
    QString device = QStringLiteral("auto");
    int workers = 2;
    int threads = 0; // 0 = all cores
    int batchSize = 256;
    QString predictionsFile; // when set, every image's result is written there (predictions.h)
    bool allProbabilities = false; // with the p:CLASS columns
    bool applyCorrections = true; // the data folder's leantune-corrections.csv (ScanOptions)
    // Set from any thread: the pass stops at the next batch and the evaluation fails with
    // "evaluation cancelled", writing no predictions file. Null: not cancellable.
    const std::atomic_bool *cancel = nullptr;
    // Called on the evaluating thread after each batch with the images done (decoded or skipped)
    // and the images to evaluate, first with 0.
    std::function<void(std::int64_t done, std::int64_t total)> progress;
};

// Loads RUNDIR's trained model (model.pt, else the newest valid checkpoint) and evaluates it on
// DATADIR, whose class folders must match the run's. RUNDIR may also be a LibTorch archive written
// by `export --format libtorch` (self-describing). std::nullopt + *error on any failure.
std::optional<EvaluationReport> evaluateRun(
    const QString &runDir, const QString &dataDir, const EvaluateOptions &options, QString *error);

// MODEL's (a run folder or a LibTorch export, as evaluateRun takes) TOPK most probable classes for
// each of IMAGES, decoded as evaluation decodes them; label and loss are left empty. Options:
// device, threads and batchSize (images per forward pass). std::nullopt + *error for a model that
// does not load or an image that does not decode.
std::optional<QVector<Prediction>> predictImages(const QString &model, const QStringList &images,
    int topK, const EvaluateOptions &options, QString *error);

} // namespace leantune
