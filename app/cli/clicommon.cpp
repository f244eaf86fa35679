#include "clicommon.h"

#include <QJsonDocument>
#include <QStringBuilder>

#include <cstdio>

namespace leantune::cli {

void printOut(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    std::fwrite(utf8.constData(), 1, size_t(utf8.size()), stdout);
    std::fflush(stdout);
}

void printErr(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    std::fwrite(utf8.constData(), 1, size_t(utf8.size()), stderr);
    std::fflush(stderr);
}

QString jsonLine(const QJsonObject &object)
{
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact))
        % QLatin1Char('\n');
}

int fail(const QString &message, int code)
{
    printErr(QStringLiteral("leantune-cli: error: ") % message % QLatin1Char('\n'));
    return code;
}

std::optional<int> parseArguments(QCommandLineParser &parser, const QString &command,
    const QString &synopsis, const QStringList &args)
{
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help(
        { QStringLiteral("h"), QStringLiteral("help") }, QStringLiteral("Show this help."));
    parser.addOption(help);
    // QCommandLineParser expects the program name first.
    QStringList full { QStringLiteral("leantune-cli ") % command };
    full << args;
    if (!parser.parse(full)) {
        fail(parser.errorText() % QStringLiteral(" (see 'leantune-cli ") % command
                % QStringLiteral(" --help')"),
            Usage);
        return Usage;
    }
    if (parser.isSet(help)) {
        QString text = parser.helpText();
        // Qt prints "Usage: leantune-cli command [options]"; show the real synopsis instead.
        const int end = text.indexOf(QLatin1Char('\n'));
        text = QStringLiteral("Usage: leantune-cli ") % command % QLatin1Char(' ') % synopsis
            % text.mid(end);
        printOut(text);
        return Ok;
    }
    return std::nullopt;
}

std::optional<int> intOption(const QCommandLineParser &parser, const QString &name, QString *error)
{
    bool ok = false;
    const QString value = parser.value(name);
    const int v = value.toInt(&ok);
    if (!ok) {
        *error = QStringLiteral("invalid value for --%1: '%2' (expected a whole number)")
                     .arg(name, value);
        return std::nullopt;
    }
    return v;
}

std::optional<double> doubleOption(
    const QCommandLineParser &parser, const QString &name, QString *error)
{
    bool ok = false;
    const QString value = parser.value(name);
    const double v = value.toDouble(&ok);
    if (!ok) {
        *error
            = QStringLiteral("invalid value for --%1: '%2' (expected a number)").arg(name, value);
        return std::nullopt;
    }
    return v;
}

} // namespace leantune::cli
