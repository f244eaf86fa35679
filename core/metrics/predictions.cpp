#include "metrics/predictions.h"

#include "metrics/csvtext.h"

#include <QFile>
#include <QSaveFile>

namespace leantune {

namespace {

QString number(double v)
{
    return std::isnan(v) ? QString() : QString::number(v, 'g', 6);
}

bool toNumber(const QString &s, bool allowEmpty, double *v)
{
    if (s.isEmpty()) {
        *v = std::nan("");
        return allowEmpty;
    }
    bool ok = false;
    *v = s.toDouble(&ok);
    return ok;
}

} // namespace

int predictionsTopK(int classes)
{
    return qMax(0, qMin(5, classes));
}

bool writePredictions(const QString &path, const QVector<Prediction> &rows, int topK,
    const QStringList &classes, QString *error)
{
    QStringList header { QStringLiteral("path"), QStringLiteral("label"),
        QStringLiteral("predicted"), QStringLiteral("confidence"), QStringLiteral("loss") };
    for (int k = 1; k <= topK; ++k)
        header << QStringLiteral("top%1").arg(k) << QStringLiteral("top%1_p").arg(k);
    for (const QString &c : classes)
        header << csvField(QStringLiteral("p:") + c);
    // Written row by row: the file's text is never held whole.
    QSaveFile file(path);
    const auto put = [&file](const QString &line) {
        const QByteArray bytes = line.toUtf8();
        return file.write(bytes) == bytes.size();
    };
    const auto writeFailed = [&] {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    };
    if (!file.open(QIODevice::WriteOnly) || !put(header.join(QLatin1Char(',')) + QLatin1Char('\n')))
        return writeFailed();
    for (int r = 0; r < rows.size(); ++r) {
        const Prediction &p = rows[r];
        if (p.top.size() < topK
            || (!classes.isEmpty() && p.probabilities.size() != classes.size())) {
            if (error)
                *error = QStringLiteral("cannot write %1: image %2 (%3) has %4 top classes and %5 "
                                        "probabilities, %6 and %7 needed")
                             .arg(path)
                             .arg(r + 1)
                             .arg(p.path)
                             .arg(p.top.size())
                             .arg(p.probabilities.size())
                             .arg(topK)
                             .arg(classes.size());
            return false;
        }
        QStringList f { csvField(p.path), csvField(p.label), csvField(p.predicted),
            number(p.confidence), number(p.loss) };
        for (int k = 0; k < topK; ++k)
            f << csvField(p.top[k].first) << number(p.top[k].second);
        if (!classes.isEmpty())
            for (double v : p.probabilities)
                f << number(v);
        if (!put(f.join(QLatin1Char(',')) + QLatin1Char('\n')))
            return writeFailed();
    }
    return file.commit() || writeFailed();
}

std::optional<PredictionsFile> readPredictions(const QString &path, QString *error)
{
    auto fail = [&](int line, const QString &why) -> std::optional<PredictionsFile> {
        if (error)
            *error = QStringLiteral("%1 line %2: %3").arg(path).arg(line).arg(why);
        return std::nullopt;
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    QVector<CsvRecord> records;
    int badLine = 0;
    QString why;
    if (!parseCsv(QString::fromUtf8(file.readAll()), &records, &badLine, &why))
        return fail(badLine, why);
    if (records.isEmpty())
        return fail(1, QStringLiteral("the file is empty, a header was expected"));

    // The header: five fixed columns, topN/topN_p pairs from 1, then p:CLASS columns.
    const QStringList &h = records.front().fields;
    const QStringList fixed { QStringLiteral("path"), QStringLiteral("label"),
        QStringLiteral("predicted"), QStringLiteral("confidence"), QStringLiteral("loss") };
    if (h.mid(0, 5) != fixed)
        return fail(
            1, QStringLiteral("the header must begin with %1").arg(fixed.join(QLatin1Char(','))));
    PredictionsFile out;
    int col = 5;
    while (col < h.size() && !h[col].startsWith(QLatin1String("p:"))) {
        const int k = out.topK + 1;
        if (col + 1 >= h.size() || h[col] != QStringLiteral("top%1").arg(k)
            || h[col + 1] != QStringLiteral("top%1_p").arg(k))
            return fail(1,
                QStringLiteral("column %1 is '%2', top%3 and top%3_p or a p:CLASS column expected")
                    .arg(col + 1)
                    .arg(h[col].left(80))
                    .arg(k));
        ++out.topK;
        col += 2;
    }
    for (; col < h.size(); ++col) {
        if (!h[col].startsWith(QLatin1String("p:")))
            return fail(1,
                QStringLiteral("column %1 is '%2' after the p:CLASS columns")
                    .arg(col + 1)
                    .arg(h[col].left(80)));
        out.probabilityClasses << h[col].mid(2);
    }

    for (int r = 1; r < records.size(); ++r) {
        const QStringList &f = records[r].fields;
        const int line = records[r].line;
        if (f.size() == 1 && f.front().isEmpty())
            continue; // a blank line
        if (f.size() != h.size())
            return fail(
                line, QStringLiteral("%1 fields, the header has %2").arg(f.size()).arg(h.size()));
        Prediction p;
        p.path = f[0];
        p.label = f[1];
        p.predicted = f[2];
        if (!toNumber(f[3], false, &p.confidence))
            return fail(line, QStringLiteral("confidence '%1' is not a number").arg(f[3].left(80)));
        if (!toNumber(f[4], p.label.isEmpty(), &p.loss))
            return fail(line, QStringLiteral("loss '%1' is not a number").arg(f[4].left(80)));
        for (int k = 0; k < out.topK; ++k) {
            double v = 0.0;
            const QString &s = f[5 + 2 * k + 1];
            if (!toNumber(s, false, &v))
                return fail(line,
                    QStringLiteral("top%1_p '%2' is not a number").arg(k + 1).arg(s.left(80)));
            p.top.push_back({ f[5 + 2 * k], v });
        }
        for (int c = 0; c < out.probabilityClasses.size(); ++c) {
            double v = 0.0;
            const QString &s = f[5 + 2 * out.topK + c];
            if (!toNumber(s, false, &v))
                return fail(line,
                    QStringLiteral("p:%1 '%2' is not a number")
                        .arg(out.probabilityClasses[c], s.left(80)));
            p.probabilities.push_back(v);
        }
        out.rows.push_back(std::move(p));
    }
    return out;
}

} // namespace leantune
