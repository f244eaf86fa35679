#pragma once
// Per-image results of an evaluation pass, and the CSV file that keeps them (torch-free).
//
// File format (RUNDIR/predictions.csv for a run's test pass, RUNDIR/predictions-val.csv for its
// last validation pass, or what `leantune-cli evaluate --predictions FILE` writes), UTF-8, one row
// per image in the order evaluated, lines ending in '\n':
//   path,label,predicted,confidence,loss,top1,top1_p,...,topK,topK_p[,p:CLASS...]
// K = min(5, classes). path is absolute; label, predicted and topN are class names (label is empty
// when the image has none, as for `predict`); confidence is the probability of predicted; loss is
// the image's cross-entropy (empty without a label); probabilities and losses are printed with 6
// significant digits. Optional trailing columns p:CLASSNAME hold every class's probability, in
// class order. Fields holding a comma, a quote or a line break are quoted as RFC 4180 says (quotes
// doubled).

#include <QPair>
#include <QString>
#include <QStringList>
#include <QVector>

#include <cmath>
#include <optional>

namespace leantune {

struct Prediction {
    QString path;
    QString label; // empty: no label known
    QString predicted;
    double confidence = 0.0; // probability of predicted
    double loss = std::nan(""); // cross-entropy of label; NaN without a label
    QVector<QPair<QString, double>> top; // classes by falling probability
    QVector<double> probabilities; // every class, in class order; empty unless asked for
};

struct PredictionsFile {
    int topK = 0; // topN columns in the file
    QStringList probabilityClasses; // the p:CLASS columns, in order (empty: none)
    QVector<Prediction> rows;
};

// The number of top columns a file for CLASSES classes has: min(5, classes).
int predictionsTopK(int classes);

// Writes ROWS to PATH atomically (QSaveFile) with TOPK top columns (each row needs at least as many
// entries in `top`) and, when CLASSES is not empty, the p:CLASS columns (each row's `probabilities`
// then has one per class). False + *error when the file cannot be written or a row is too short.
bool writePredictions(const QString &path, const QVector<Prediction> &rows, int topK,
    const QStringList &classes, QString *error);

// Reads a file written by writePredictions. std::nullopt + *error ("FILE line N: why") for a
// malformed header or row: wrong column count, bad number, unterminated quote.
std::optional<PredictionsFile> readPredictions(const QString &path, QString *error);

} // namespace leantune
