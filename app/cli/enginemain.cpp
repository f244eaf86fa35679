// leantune-cli-engine: runs every command of leantune-cli (see main.cpp), which hands it the
// commands that need LibTorch, their arguments unchanged.

#include "clicommon.h"

#include "metrics/memoryprobe.h"

#include <QCoreApplication>

using namespace leantune::cli;

namespace {

struct Command {
    const char *name;
    int (*run)(const QStringList &args);
};

const Command kCommands[] = {
    { "scan", scanCommand },
    { "import-idx", importIdxCommand },
    { "schedule", scheduleCommand },
    { "train", trainCommand },
    { "find-batch-size", findBatchSizeCommand },
    { "evaluate", evaluateCommand },
    { "predict", predictCommand },
    { "export", exportCommand },
    { "sample", sampleCommand },
    { "sensitivity", sensitivityCommand },
    { "advise", adviseCommand },
    { "bench-loader", benchLoaderCommand },
    { "audit", auditCommand },
    { "apply-corrections", correctionsCommand },
};

} // namespace

int main(int argc, char **argv)
{
    leantune::usePredictableHostAllocator(); // before any thread allocates (see memoryprobe.h)
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("LeanTune"));
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTune"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LEANTUNE_VERSION));

    QStringList args = QCoreApplication::arguments().mid(1);
    const QString name = args.isEmpty() ? QString() : args.takeFirst();
    for (const Command &c : kCommands) {
        if (name == QLatin1String(c.name))
            return c.run(args);
    }
    return fail(QStringLiteral("leantune-cli-engine runs the commands of leantune-cli: run "
                               "'leantune-cli --help' for the list"),
        Usage);
}
