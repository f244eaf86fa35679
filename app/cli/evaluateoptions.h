#pragma once
// evaluate's and predict's run options (the engine's: they need the evaluator's types).

#include "train/evaluator.h"

#include <QCommandLineParser>
#include <QString>

#include <optional>

namespace leantune::cli {

// evaluate's and predict's --device, --workers, --threads and --batch-size: train's field-table
// rows, at EvaluateOptions' defaults;
void addEvaluateOptions(QCommandLineParser &parser);
// and their values, std::nullopt + *error (a usage error) when one is out of its range or
// --batch-size is auto. COMMAND names the command in the message.
std::optional<EvaluateOptions> evaluateOptions(
    const QCommandLineParser &parser, const QString &command, QString *error);

} // namespace leantune::cli
