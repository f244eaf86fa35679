#pragma once

#include "config/runconfig.h"

#include <QJsonValue>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>
#include <vector>

class QCommandLineParser;

namespace leantune {

// One row of the run configuration's field table: everything the front ends need to know about a
// RunConfig field, said once. config.json, the options of `train` and `find-batch-size`, "Copy as
// command line" and the run dialog's bindings are all made from (or checked against) these rows.
struct RunField {
    enum class Type { Text, Int, Double, Bool, Choice, Size, Seed, Numbers }; // Numbers: "a,b,c"
    enum Scope : unsigned {
        Train = 1, // an option of `leantune-cli train`
        FindBatchSize = 2, // an option of `leantune-cli find-batch-size`
        Resumable = 4, // may be changed with `train --resume`
        Always = 8, // always written on a copied command line, even at its default
    };

    QString key; // config.json key
    QString flag; // command-line flag without "--"; empty: not an option (derived, like classes)
    QString valueName; // for --help ("N", "DIR"); empty for a switch (Bool: --flag / --no-flag)
    QString help; // one sentence, for --help and the dialog's tool tips
    Type type = Type::Text;
    unsigned scopes = 0;
    QStringList choices; // Choice: the accepted values
    // The value as text (canonical: what the command line and the dialog show).
    std::function<QString(const RunConfig &)> get;
    // Parses TEXT into the field; false + *error (the reason only, without the key) when it is not
    // a value of the field's type.
    std::function<bool(RunConfig &, const QString &text, QString *error)> set;
    // The field's own rule (ranges, syntax); empty when any parsed value is fine.
    std::function<bool(const RunConfig &, QString *error)> check;

    QString defaultText() const { return get(RunConfig()); }
    bool isSwitch() const { return type == Type::Bool; }
    QJsonValue toJson(const RunConfig &config) const;
    bool fromJson(RunConfig &config, const QJsonValue &value, QString *error) const;
};

const std::vector<RunField> &runFields();
const RunField *findRunField(const QString &key);

// The command-line options of the fields in SCOPE (RunField::Train or ::FindBatchSize), with their
// aliases (--channels-last; find-batch-size's --max and --margin).
void addRunOptions(QCommandLineParser &parser, unsigned scope);
// Applies the options set on PARSER to CONFIG. With RESUMED, only Resumable fields change; the
// others are listed in *ignored. False + *error naming the option when a value does not parse.
bool applyRunOptions(const QCommandLineParser &parser, unsigned scope, RunConfig &config,
    bool resumed, QStringList *ignored, QString *error);

// The `train` arguments that reproduce CONFIG: --data and --out, then every field that differs from
// its default (and those marked Always), unquoted. runCommandLine() quotes them for a POSIX shell.
// With RESUMABLE_ONLY: every field `train --resume` may change (Resumable), default or not.
QStringList runCommandLineArguments(const RunConfig &config, bool resumableOnly = false);
QString runCommandLine(
    const RunConfig &config, const QString &program = QStringLiteral("leantune-cli"));
QString shellQuote(const QString &text);

// "0.485,0.456,0.406" for a list of numbers, and back (std::nullopt when an item is no number).
QString numberList(const std::vector<double> &values);
std::optional<std::vector<double>> parseNumberList(const QString &text);

} // namespace leantune
