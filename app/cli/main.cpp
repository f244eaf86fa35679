// leantune-cli: the headless front end. Every command runs the same engine as the desktop
// application.

#include "clicommon.h"

#include "metrics/memoryprobe.h"

#include <QCoreApplication>
#include <QStringBuilder>

#include <functional>

using namespace leantune::cli;

namespace {

struct Command {
    const char *name;
    const char *summary;
    std::function<int(const QStringList &)> run;
};

const Command kCommands[] = {
    { "scan", "Check an image folder: classes, counts, sizes, invalid files", scanCommand },
    { "import-idx", "Convert MNIST/Fashion-MNIST IDX files into PNG class folders",
        importIdxCommand },
    { "schedule", "Print a pruning schedule's target sparsity at given steps", scheduleCommand },
    { "train", "Train a classifier with an optional pruning schedule", trainCommand },
    { "find-batch-size", "Find the largest batch that fits the device or a memory budget",
        findBatchSizeCommand },
    { "evaluate", "Evaluate a trained run on a data folder", evaluateCommand },
    { "predict", "Print a model's most probable classes for images", predictCommand },
    { "export", "Export a trained run as ONNX or LibTorch, with a verified size report",
        exportCommand },
    { "sample", "Import the Fashion-MNIST sample into the data folder and print its path",
        sampleCommand },
    { "sensitivity", "Measure each layer's accuracy when pruned alone", sensitivityCommand },
    { "advise", "Find the highest sparsity within an accuracy budget", adviseCommand },
    { "bench-loader", "Measure the data loader alone (images/s)", benchLoaderCommand },
    { "audit", "Find duplicates, train/test leaks and label issues in a data set", auditCommand },
    { "apply-corrections", "Move files as leantune-corrections.csv says (journaled, --undo)",
        correctionsCommand },
};

void printUsage()
{
    QString text = QStringLiteral(
        "Usage: leantune-cli COMMAND [options]\n\n"
        "Train image classifiers that fit in memory, with pruning.\n\nCommands:\n");
    for (const Command &c : kCommands)
        text += QStringLiteral("  %1  %2\n")
                    .arg(QString::fromLatin1(c.name).leftJustified(17), QLatin1String(c.summary));
    text += QStringLiteral("\nRun 'leantune-cli COMMAND --help' (or 'leantune-cli help COMMAND') "
                           "for a command's options.\n");
    printOut(text);
}

} // namespace

int main(int argc, char **argv)
{
    leantune::usePredictableHostAllocator(); // before any thread allocates (see memoryprobe.h)
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("LeanTune"));
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTune"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LEANTUNE_VERSION));

    QStringList args = QCoreApplication::arguments().mid(1);
    if (args.isEmpty()) {
        printUsage();
        return Usage;
    }
    QString name = args.takeFirst();
    if (name == QLatin1String("help") && !args.isEmpty()) {
        name = args.takeFirst(); // 'help COMMAND' is 'COMMAND --help'
        args = QStringList { QStringLiteral("--help") };
    } else if (name == QLatin1String("--help") || name == QLatin1String("-h")
        || name == QLatin1String("help")) {
        printUsage();
        return Ok;
    }
    if (name == QLatin1String("--version")) {
        printOut(QStringLiteral("leantune-cli ") % QCoreApplication::applicationVersion()
            % QLatin1Char('\n'));
        return Ok;
    }
    for (const Command &c : kCommands) {
        if (name == QLatin1String(c.name))
            return c.run(args);
    }
    return fail(
        QStringLiteral("unknown command '%1' (run 'leantune-cli --help' for the list)").arg(name),
        Usage);
}
