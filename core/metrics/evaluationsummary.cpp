#include "metrics/evaluationsummary.h"

#include "metrics/csvtext.h"

#include <QHash>
#include <QSet>
#include <QStringBuilder>

#include <algorithm>
#include <cmath>

namespace leantune {

QVector<ClassFigures> classFiguresOf(const QVector<QVector<int>> &confusion)
{
    QVector<ClassFigures> figures(int(confusion.size()));
    for (int c = 0; c < confusion.size(); ++c) {
        int support = 0, predicted = 0;
        for (int j = 0; j < confusion.size(); ++j) {
            support += confusion[c].value(j);
            predicted += confusion[j].value(c);
        }
        const int hits = confusion[c].value(c);
        ClassFigures &f = figures[c];
        f.support = support;
        f.precision = predicted ? double(hits) / predicted : -1.0;
        f.recall = support ? double(hits) / support : -1.0;
        if (f.precision >= 0 && f.recall >= 0)
            f.f1 = f.precision + f.recall > 0
                ? 2.0 * f.precision * f.recall / (f.precision + f.recall)
                : 0.0;
    }
    return figures;
}

double macroF1Of(const QVector<ClassFigures> &figures)
{
    double sum = 0.0;
    int classesWithImages = 0;
    for (const ClassFigures &f : figures) {
        if (f.support == 0)
            continue;
        ++classesWithImages;
        sum += std::max(0.0, f.f1);
    }
    return classesWithImages ? sum / classesWithImages : 0.0;
}

QVector<QVector<double>> EvaluationSummary::rowNormalized() const
{
    QVector<QVector<double>> rates;
    for (const QVector<int> &row : confusion) {
        int support = 0;
        for (int v : row)
            support += v;
        QVector<double> r(int(row.size()), 0.0);
        for (int j = 0; j < row.size() && support > 0; ++j)
            r[j] = double(row[j]) / support;
        rates.push_back(r);
    }
    return rates;
}

QVector<ConfusedPair> EvaluationSummary::confusedPairs(int max) const
{
    QVector<ConfusedPair> pairs;
    const QVector<QVector<double>> rates = rowNormalized();
    for (int t = 0; t < confusion.size(); ++t)
        for (int p = 0; p < confusion[t].size(); ++p)
            if (t != p && confusion[t][p] > 0)
                pairs.push_back({ t, p, confusion[t][p], rates[t][p] });
    std::sort(pairs.begin(), pairs.end(), [](const ConfusedPair &a, const ConfusedPair &b) {
        if (a.count != b.count)
            return a.count > b.count;
        if (a.rate != b.rate)
            return a.rate > b.rate;
        return std::make_pair(a.label, a.predicted) < std::make_pair(b.label, b.predicted);
    });
    if (max >= 0 && pairs.size() > max)
        pairs.resize(max);
    return pairs;
}

std::optional<EvaluationSummary> summarizePredictions(
    const PredictionsFile &file, const QStringList &classes, QString *error)
{
    EvaluationSummary s;
    s.classes = classes;
    if (s.classes.isEmpty())
        s.classes = file.probabilityClasses;
    if (s.classes.isEmpty()) {
        QSet<QString> seen;
        for (const Prediction &p : file.rows)
            if (!p.label.isEmpty())
                seen << p.label << p.predicted;
        s.classes = QStringList(seen.begin(), seen.end());
        s.classes.sort();
    }
    QHash<QString, int> index;
    for (int c = 0; c < s.classes.size(); ++c)
        index.insert(s.classes[c], c);
    const int n = int(s.classes.size());
    s.confusion = QVector<QVector<int>>(n, QVector<int>(n, 0));
    s.topK = file.topK;
    double lossSum = 0.0;
    for (const Prediction &p : file.rows) {
        if (p.label.isEmpty())
            continue;
        const int t = index.value(p.label, -1);
        const int q = index.value(p.predicted, -1);
        if (t < 0 || q < 0) {
            if (error)
                *error = QStringLiteral("%1 names the class \"%2\", which is not one of %3")
                             .arg(p.path, t < 0 ? p.label : p.predicted,
                                 s.classes.join(QStringLiteral(", ")));
            return std::nullopt;
        }
        s.confusion[t][q] += 1;
        ++s.images;
        s.correct += t == q;
        for (int j = 0; j < std::min(int(p.top.size()), s.topK); ++j)
            if (p.top[j].first == p.label) {
                ++s.inTopK;
                break;
            }
        if (!std::isnan(p.loss))
            lossSum += p.loss;
    }
    s.accuracy = s.images ? double(s.correct) / double(s.images) : 0.0;
    s.topKAccuracy = s.images ? double(s.inTopK) / double(s.images) : 0.0;
    s.loss = s.images ? lossSum / double(s.images) : 0.0;
    s.figures = classFiguresOf(s.confusion);
    s.macroF1 = macroF1Of(s.figures);
    return s;
}

std::optional<QVector<QVector<double>>> normalizedDifference(
    const EvaluationSummary &a, const EvaluationSummary &b, QString *error)
{
    if (a.classes != b.classes) {
        if (error)
            *error = QStringLiteral("the runs have different classes (%1; %2)")
                         .arg(a.classes.join(QStringLiteral(", ")),
                             b.classes.join(QStringLiteral(", ")));
        return std::nullopt;
    }
    QVector<QVector<double>> d = a.rowNormalized();
    const QVector<QVector<double>> rb = b.rowNormalized();
    for (int t = 0; t < d.size(); ++t)
        for (int p = 0; p < d[t].size(); ++p)
            d[t][p] -= rb[t][p];
    return d;
}

QString matrixCsv(const QStringList &classes, const QVector<QVector<double>> &matrix)
{
    QString out = QStringLiteral("true\\predicted");
    for (const QString &c : classes)
        out += QLatin1Char(',') % csvField(c);
    out += QLatin1Char('\n');
    for (int t = 0; t < matrix.size(); ++t) {
        out += csvField(classes.value(t));
        for (double v : matrix[t])
            out += QLatin1Char(',') % QString::number(v, 'g', 6);
        out += QLatin1Char('\n');
    }
    return out;
}

} // namespace leantune
