// leantune-cli: the headless front end. Every command runs the same engine as the desktop
// application. This program runs the commands that need no LibTorch itself and hands the others
// to leantune-cli-engine, installed beside it (exec: the same process, its signals and exit
// status), so that those start in a fraction of the time: loading Debian's LibTorch costs most of
// a second of CPU (bench/README).

#include "auditcommon.h"
#include "clicommon.h"

#include <QByteArray>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStringBuilder>

#include <cerrno>
#include <cstring>
#include <vector>

#include <unistd.h>

using namespace leantune::cli;

namespace {

struct Command {
    const char *name;
    const char *summary;
    int (*run)(const QStringList &args); // null: the engine runs it
};

const Command kCommands[] = {
    { "scan", "Check an image folder: classes, counts, sizes, invalid files", scanCommand },
    { "import-idx", "Convert MNIST/Fashion-MNIST IDX files into PNG class folders",
        importIdxCommand },
    { "schedule", "Print a pruning schedule's target sparsity at given steps", scheduleCommand },
    { "train", "Train a classifier with an optional pruning schedule", nullptr },
    { "find-batch-size", "Find the largest batch that fits the device or a memory budget",
        nullptr },
    { "evaluate", "Evaluate a trained run on a data folder", nullptr },
    { "predict", "Print a model's most probable classes for images", nullptr },
    { "export", "Export a trained run as ONNX or LibTorch, with a verified size report", nullptr },
    { "sample", "Import the Fashion-MNIST sample into the data folder and print its path",
        sampleCommand },
    { "sensitivity", "Measure each layer's accuracy when pruned alone", nullptr },
    { "advise", "Find the highest sparsity within an accuracy budget", nullptr },
    { "bench-loader", "Measure the data loader alone (images/s)", nullptr },
    // Here with --duplicates-only and the folder options alone (see runsHere).
    { "audit", "Find duplicates, train/test leaks and label issues in a data set",
        duplicatesAuditCommand },
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

bool runsHere(const Command &command, const QStringList &args)
{
    if (!command.run)
        return false;
    return qstrcmp(command.name, "audit") != 0 || isDuplicatesOnlyAudit(args);
}

// leantune-cli-engine beside this program (the build tree's app/cli, the installed bin).
QString enginePath()
{
    const QFileInfo self(QStringLiteral("/proc/self/exe"));
    return self.canonicalFilePath().isEmpty()
        ? QString()
        : QFileInfo(self.canonicalFilePath()).dir().filePath(QStringLiteral("leantune-cli-engine"));
}

// Replaces this process with the engine running ARGS (the command first). Returns only when that
// fails, with the exit code.
int runInEngine(const char *program, const std::vector<QByteArray> &args)
{
    const QString engine = enginePath();
    const QByteArray path = QFile::encodeName(engine);
    std::vector<char *> argv;
    argv.push_back(const_cast<char *>(program));
    for (const QByteArray &arg : args)
        argv.push_back(const_cast<char *>(arg.constData()));
    argv.push_back(nullptr);
    if (!engine.isEmpty())
        ::execv(path.constData(), argv.data());
    const int why = errno;
    return fail(QStringLiteral("cannot start %1, which runs '%2': %3 (reinstall LeanTune)")
                    .arg(engine.isEmpty() ? QStringLiteral("leantune-cli-engine") : engine,
                        QString::fromLocal8Bit(args.front()),
                        QString::fromLocal8Bit(std::strerror(engine.isEmpty() ? ENOENT : why))));
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<QByteArray> raw(argv + 1, argv + argc);
    if (raw.size() >= 2 && raw[0] == "help")
        raw = { raw[1], QByteArrayLiteral("--help") }; // 'help COMMAND' is 'COMMAND --help'
    QStringList args;
    for (const QByteArray &arg : raw)
        args << QString::fromLocal8Bit(arg);
    // A command for the engine is handed over before anything else starts here.
    const Command *command = nullptr;
    for (const Command &c : kCommands) {
        if (!args.isEmpty() && args.constFirst() == QLatin1String(c.name))
            command = &c;
    }
    if (command && !runsHere(*command, args.mid(1)))
        return runInEngine(argc > 0 ? argv[0] : "leantune-cli", raw);

    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("LeanTune"));
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTune"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LEANTUNE_VERSION));
    if (args.isEmpty()) {
        printUsage();
        return Usage;
    }
    const QString name = args.takeFirst();
    if (name == QLatin1String("--help") || name == QLatin1String("-h")
        || name == QLatin1String("help")) {
        printUsage();
        return Ok;
    }
    if (name == QLatin1String("--version")) {
        printOut(QStringLiteral("leantune-cli ") % QCoreApplication::applicationVersion()
            % QLatin1Char('\n'));
        return Ok;
    }
    if (command)
        return command->run(args);
    return fail(
        QStringLiteral("unknown command '%1' (run 'leantune-cli --help' for the list)").arg(name),
        Usage);
}
