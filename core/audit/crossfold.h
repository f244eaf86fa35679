#pragma once
// Out-of-sample predictions for every image by K-fold cross-training (torch-free).

#include "config/runconfig.h"
#include "dataset/datasplit.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <optional>
#include <vector>

namespace leantune {

struct CrossFoldOptions {
    // The run each fold trains: model, input size, epochs, device, batch size, augmentation,
    // seed... dataDir is the data folder; outDir, valDir and testDir are set per fold.
    RunConfig run;
    int folds = 3; // K ≥ 2
    // When > 0, each fold model trains at least this many optimizer steps (batches): on a small
    // data set, whose few batches an epoch leave the model underfit, run.epochs rises, to at most
    // maxEpochScale times itself. A data set with enough batches trains run.epochs unchanged.
    int minimumSteps = 0;
    int maxEpochScale = 2;
    QString auditDir; // holds folds/N/: the fold's run folder, its data links and its results
    // The images and their classes (labels index CLASSES). Empty: scanned from run.dataDir (with
    // its corrections file, as a run scans it).
    std::vector<Sample> samples;
    QStringList classes;
    // Whether finished folds whose images and run configuration match are reused (a stopped
    // audit resumes); a fold whose training stopped resumes from its newest checkpoint.
    bool resume = true;
    QString workerProgram; // data parallel (--nproc): the leantune-cli that runs the other ranks
};

struct CrossFoldProgress {
    int fold = 0; // 0-based
    int folds = 0;
    QString stage; // "training", "predicting", "reused"
    int epoch = 0; // 0-based epoch of the fold's run
    int epochs = 0;
    double epochProgress = 0.0; // 0..1
    double imagesPerSec = 0.0;
    double secondsLeft = -1.0; // of the whole cross-training; -1 while unknown
    double valAccuracy = -1.0; // the fold model's accuracy on its held-out images, when known
};

// What cross-training gives, in the order of the images (those that failed to decode left out).
struct CrossFoldResult {
    QStringList classes;
    std::vector<QString> paths; // absolute
    std::vector<int> labels;
    std::vector<int> folds; // the fold each image was held out in
    std::vector<double> probabilities; // N × classes, row-major, out of sample
    int embeddingSize = 0; // D: the model's penultimate layer (its classifier's input)
    // N × D, row-major: each from the model of the image's fold (compare only within a fold)
    std::vector<float> embeddings;
    int reusedFolds = 0; // folds taken from an earlier, stopped audit
    double trainSeconds = 0.0; // spent training and predicting in this call
};

// Stratified, seeded folds: in each class, the images in a seeded shuffle go to folds 0, 1, ...,
// K−1 in turn. One fold number per sample.
std::vector<int> stratifiedFolds(const std::vector<Sample> &samples, int folds, std::uint64_t seed);

// The epochs a fold model trains on TRAINIMAGES images: options.run.epochs, raised toward
// options.minimumSteps optimizer steps and capped at maxEpochScale times; with an automatic batch
// size (unknown here) the run's epochs.
int foldEpochs(const CrossFoldOptions &options, std::size_t trainImages);

// Trains options.folds models with the run engine (RunJob), each on the other folds, and predicts
// its held-out fold: class probabilities and penultimate-layer embeddings. Each fold's results are
// written atomically to AUDITDIR/folds/N/ when it ends (predictions.csv with every class's
// probability, embeddings.bin), so a stopped call resumes from its finished folds. Blocks, spinning
// the calling thread's event loop (the jobs report there); PROGRESS is called on it at most ~20
// times a second. CANCEL (any thread) stops the fold going on after its current batch: the call
// then fails with "cancelled". std::nullopt + *error on failure.
std::optional<CrossFoldResult> runCrossFold(const CrossFoldOptions &options,
    const std::function<void(const CrossFoldProgress &)> &progress = {},
    const std::atomic_bool *cancel = nullptr, QString *error = nullptr);

// AUDITDIR/folds/N/embeddings.bin: "LTEMBED1", int32 rows, int32 D (little endian), then rows × D
// float32; rows in the order of the fold's predictions.csv. readEmbeddings() with no EMBEDDINGS
// checks the file's header and size and reads only its shape.
bool writeEmbeddings(
    const QString &path, const std::vector<float> &embeddings, int rows, int dim, QString *error);
bool readEmbeddings(
    const QString &path, std::vector<float> *embeddings, int *rows, int *dim, QString *error);

} // namespace leantune
