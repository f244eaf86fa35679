#pragma once

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QVector>

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

    QJsonObject toJson() const;
    QString toText() const; // a readable table for the terminal
};

struct EvaluateOptions {
    QString device = QStringLiteral("auto");
    int workers = 2;
    int threads = 0; // 0 = all cores
    int batchSize = 256;
};

// Loads RUNDIR's trained model (model.pt, else the newest valid checkpoint) and evaluates it on
// DATADIR, whose class folders must match the run's. RUNDIR may also be a LibTorch archive written
// by `export --format libtorch` (self-describing). std::nullopt + *error on any failure.
std::optional<EvaluationReport> evaluateRun(
    const QString &runDir, const QString &dataDir, const EvaluateOptions &options, QString *error);

} // namespace leantune
