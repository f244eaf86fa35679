#pragma once
// The house CSV dialect (RFC 4180), shared by every CSV file LeanTune reads or writes
// (predictions.csv, leantune-corrections.csv): UTF-8, fields separated by ',', records ending in
// '\n' ("\r\n" is read too), a field holding a comma, a quote or a line break quoted with its
// quotes doubled.

#include <QString>
#include <QStringList>
#include <QVector>

namespace leantune {

// FIELD as it goes into a record: unchanged, or quoted when it holds ',', '"', '\n' or '\r'.
QString csvField(const QString &field);
// FIELDS quoted and joined by ',' (no line end).
QString csvRecord(const QStringList &fields);

// One record of a parsed file and the line (from 1) where it begins.
struct CsvRecord {
    QStringList fields;
    int line = 0;
};

// Splits TEXT into records. A blank line is a record of one empty field. False + *why (the reason
// only) and *badLine on an unterminated quote or a character after a closing quote.
bool parseCsv(const QString &text, QVector<CsvRecord> *records, int *badLine, QString *why);

} // namespace leantune
