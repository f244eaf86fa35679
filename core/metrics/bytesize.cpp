#include "metrics/bytesize.h"

#include <QRegularExpression>

#include <cmath>

namespace leantune {

std::optional<std::int64_t> parseByteSize(const QString &text)
{
    static const QRegularExpression re(
        QStringLiteral("^\\s*(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(?:i?b)?\\s*$"),
        QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch m = re.match(text);
    if (!m.hasMatch())
        return std::nullopt;
    bool ok = false;
    const double value = m.captured(1).toDouble(&ok);
    if (!ok)
        return std::nullopt;
    const QString unit = m.captured(2).toLower();
    int shift = 0;
    if (unit == QLatin1String("k"))
        shift = 10;
    else if (unit == QLatin1String("m"))
        shift = 20;
    else if (unit == QLatin1String("g"))
        shift = 30;
    else if (unit == QLatin1String("t"))
        shift = 40;
    const double bytes = std::round(value * std::ldexp(1.0, shift));
    if (!(bytes >= 1.0) || bytes > 9.0e18)
        return std::nullopt;
    return std::int64_t(bytes);
}

QString formatBytes(std::int64_t bytes)
{
    if (bytes < 0)
        return QStringLiteral("n/a");
    const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = double(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    if (u == 0)
        return QStringLiteral("%1 B").arg(bytes);
    return QStringLiteral("%1 %2")
        .arg(v, 0, 'f', v < 10.0 ? 2 : (v < 100.0 ? 1 : 0))
        .arg(QLatin1String(units[u]));
}

} // namespace leantune
