#pragma once

#include "config/runconfig.h"

#include <QJsonValue>
#include <QString>
#include <QStringList>

#include <functional>
#include <limits>
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
        Evaluate = 16, // an option of `leantune-cli evaluate`
        Audit = 32, // an option of `leantune-cli audit`: train's, less its folders and --val-split
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
    // The field's rule: its range (below) and its own conditions (syntax, other fields); empty
    // when any parsed value is fine.
    std::function<bool(const RunConfig &, QString *error)> check;
    // Numbers (Int, Double, Size): the range of values the check accepts; an open end excludes its
    // bound. A value its parser takes as a word (memory_margin's auto) is outside the range's
    // reach. The run dialog's spin boxes end at it (see RunFieldBinder).
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool minOpen = false;
    bool maxOpen = false;

    QString defaultText() const { return get(RunConfig()); }
    bool isSwitch() const { return type == Type::Bool; }
    bool hasRange() const;
    bool inRange(double value) const;
    // Whether CONFIG's value is in the range: true for a word, and for a field without a range.
    bool valueInRange(const RunConfig &config) const;
    QJsonValue toJson(const RunConfig &config) const;
    bool fromJson(RunConfig &config, const QJsonValue &value, QString *error) const;
};

const std::vector<RunField> &runFields();
const RunField *findRunField(const QString &key);

// The command-line options of the fields in SCOPE (RunField::Train, ::FindBatchSize, ::Evaluate or
// ::Audit), with their aliases (--channels-last; find-batch-size's --max and --margin). --help
// shows DEFAULTS' values as the defaults.
void addRunOptions(
    QCommandLineParser &parser, unsigned scope, const RunConfig &defaults = RunConfig());
// Applies the options set on PARSER to CONFIG. With RESUMED, only Resumable fields change; the
// others are listed in *ignored. False + *error naming the option when a value does not parse.
// --optimizer without --lr sets that optimizer's learning rate (defaultLearningRate()).
bool applyRunOptions(const QCommandLineParser &parser, unsigned scope, RunConfig &config,
    bool resumed, QStringList *ignored, QString *error);
// The checks of the fields in SCOPE (their ranges and rules, as RunConfig::validate() runs them
// all): false + the first field's message in *error.
bool checkRunFields(const RunConfig &config, unsigned scope, QString *error);

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
