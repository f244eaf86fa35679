#include "evaluateoptions.h"

#include "config/runfields.h"

namespace leantune::cli {

namespace {

// The run rows evaluate and predict share, at EvaluateOptions' defaults.
RunConfig evaluateDefaults()
{
    RunConfig run;
    const EvaluateOptions defaults;
    run.device = defaults.device;
    run.workers = defaults.workers;
    run.threads = defaults.threads;
    run.batchSize = defaults.batchSize;
    return run;
}

} // namespace

void addEvaluateOptions(QCommandLineParser &parser)
{
    addRunOptions(parser, RunField::Evaluate, evaluateDefaults());
}

std::optional<EvaluateOptions> evaluateOptions(
    const QCommandLineParser &parser, const QString &command, QString *error)
{
    RunConfig run = evaluateDefaults();
    if (!applyRunOptions(parser, RunField::Evaluate, run, false, nullptr, error)
        || !checkRunFields(run, RunField::Evaluate, error))
        return std::nullopt;
    if (run.batchSizeAuto) {
        *error = QStringLiteral("%1 takes a number for --batch-size, not auto").arg(command);
        return std::nullopt;
    }
    EvaluateOptions options;
    options.device = run.device;
    options.workers = run.workers;
    options.threads = run.threads;
    options.batchSize = run.batchSize;
    return options;
}

} // namespace leantune::cli
