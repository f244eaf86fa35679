#pragma once
// A classifier's figures on labelled images, from its confusion matrix or its predictions file
// (torch-free). `leantune-cli evaluate` and the Evaluation view both compute them here, so they
// give the same numbers.

#include "metrics/predictions.h"

#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>

namespace leantune {

// One class's figures from a confusion matrix: precision, recall and F1 (-1 where undefined: no
// prediction of the class, no image of it), and support (images of the class).
struct ClassFigures {
    double precision = -1.0, recall = -1.0, f1 = -1.0;
    int support = 0;
};

// CONFUSION is [true][predicted], square.
QVector<ClassFigures> classFiguresOf(const QVector<QVector<int>> &confusion);
// Mean F1 over the classes with images (an undefined F1 counts 0); 0 without any.
double macroF1Of(const QVector<ClassFigures> &figures);

// An off-diagonal cell of the matrix: COUNT images of class LABEL predicted as PREDICTED, RATE of
// the images of LABEL (0..1).
struct ConfusedPair {
    int label = 0;
    int predicted = 0;
    int count = 0;
    double rate = 0.0;
};

struct EvaluationSummary {
    QStringList classes; // the matrix's order
    QVector<QVector<int>> confusion; // [true][predicted]
    int images = 0; // labelled rows
    int correct = 0;
    int inTopK = 0; // rows whose label is among their top columns
    int topK = 0; // the file's top columns: min(5, classes)
    double accuracy = 0.0; // 0..1
    double topKAccuracy = 0.0; // 0..1
    double loss = 0.0; // mean of the rows' losses (6 significant digits each in the file)
    QVector<ClassFigures> figures;
    double macroF1 = 0.0;

    // Each row divided by its support (a row without images stays 0).
    QVector<QVector<double>> rowNormalized() const;
    // The off-diagonal cells with images, most images first (then by rate, then class order); at
    // most MAX of them (all for MAX < 0).
    QVector<ConfusedPair> confusedPairs(int max = -1) const;
};

// The summary of FILE's labelled rows (rows without a label are left out). CLASSES gives the
// matrix's order (a run's class names); empty: the file's p:CLASS columns, else the labels and
// predictions in sorted order. std::nullopt + *error when a row names a class outside CLASSES.
std::optional<EvaluationSummary> summarizePredictions(
    const PredictionsFile &file, const QStringList &classes, QString *error);

// A - B of the two summaries' row-normalized matrices (rates, 0..1 each). std::nullopt + *error
// when their classes differ.
std::optional<QVector<QVector<double>>> normalizedDifference(
    const EvaluationSummary &a, const EvaluationSummary &b, QString *error);

// MATRIX as CSV: a header "true\predicted,CLASS...", then one row per true class; numbers with up
// to 6 significant digits.
QString matrixCsv(const QStringList &classes, const QVector<QVector<double>> &matrix);

} // namespace leantune
