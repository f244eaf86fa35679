#include "metrics/csvtext.h"

#include <QStringBuilder>

namespace leantune {

QString csvField(const QString &field)
{
    if (!field.contains(QLatin1Char(',')) && !field.contains(QLatin1Char('"'))
        && !field.contains(QLatin1Char('\n')) && !field.contains(QLatin1Char('\r')))
        return field;
    QString s = field;
    s.replace(QLatin1Char('"'), QLatin1String("\"\""));
    return QLatin1Char('"') % s % QLatin1Char('"');
}

QString csvRecord(const QStringList &fields)
{
    QStringList quoted;
    quoted.reserve(fields.size());
    for (const QString &f : fields)
        quoted << csvField(f);
    return quoted.join(QLatin1Char(','));
}

bool parseCsv(const QString &text, QVector<CsvRecord> *records, int *badLine, QString *why)
{
    QStringList fields;
    QString field;
    int line = 1, recordLine = 1;
    bool inQuotes = false, wasQuoted = false;
    const int n = int(text.size());
    for (int i = 0; i < n; ++i) {
        const QChar c = text[i];
        if (inQuotes) {
            if (c == QLatin1Char('"')) {
                if (i + 1 < n && text[i + 1] == QLatin1Char('"')) {
                    field += c;
                    ++i;
                } else {
                    inQuotes = false;
                }
            } else {
                if (c == QLatin1Char('\n'))
                    ++line;
                field += c;
            }
            continue;
        }
        if (c == QLatin1Char(',')) {
            fields << field;
            field.clear();
            wasQuoted = false;
        } else if (c == QLatin1Char('\n') || c == QLatin1Char('\r')) {
            if (c == QLatin1Char('\r') && i + 1 < n && text[i + 1] == QLatin1Char('\n'))
                ++i;
            fields << field;
            field.clear();
            wasQuoted = false;
            records->push_back({ fields, recordLine });
            fields.clear();
            recordLine = ++line;
        } else if (c == QLatin1Char('"') && field.isEmpty() && !wasQuoted) {
            inQuotes = wasQuoted = true;
        } else if (wasQuoted) {
            *badLine = line;
            *why = QStringLiteral("a character after a closing quote");
            return false;
        } else {
            field += c;
        }
    }
    if (inQuotes) {
        *badLine = recordLine;
        *why = QStringLiteral("a quote that is never closed");
        return false;
    }
    if (!field.isEmpty() || !fields.isEmpty() || wasQuoted) {
        fields << field;
        records->push_back({ fields, recordLine });
    }
    return true;
}

} // namespace leantune
