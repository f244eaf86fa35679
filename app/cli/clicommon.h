#pragma once
// What every command of leantune-cli shares (torch-free: the front runs some commands itself).

#include <QCommandLineParser>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>

namespace leantune::cli {

// Exit codes: 0 success, 1 the command failed (data, I/O, training), 2 usage error.
enum ExitCode { Ok = 0, Failure = 1, Usage = 2 };

// Prints "leantune-cli: error: MESSAGE" to stderr and returns CODE.
int fail(const QString &message, int code = Failure);
void printOut(const QString &text); // stdout, as UTF-8, no newline added
void printErr(const QString &text); // stderr, as UTF-8, no newline added
// One compact JSON object and a newline (the --json and --progress json output format).
QString jsonLine(const QJsonObject &object);

// Parses ARGS (the command's own arguments, without "leantune-cli" and the command name). Returns
// an exit code when the command should stop now (--help printed: 0; a parse error printed: 2).
std::optional<int> parseArguments(QCommandLineParser &parser, const QString &command,
    const QString &synopsis, const QStringList &args);

// Strict number parsing of an option's value; an error message when it is not a number.
std::optional<int> intOption(const QCommandLineParser &parser, const QString &name, QString *error);
std::optional<double> doubleOption(
    const QCommandLineParser &parser, const QString &name, QString *error);

// The commands. The front (main.cpp) runs those that need no LibTorch; the engine (enginemain.cpp)
// runs them all.
int scanCommand(const QStringList &args);
int importIdxCommand(const QStringList &args);
int scheduleCommand(const QStringList &args);
int trainCommand(const QStringList &args);
int evaluateCommand(const QStringList &args);
int predictCommand(const QStringList &args);
int exportCommand(const QStringList &args);
int sampleCommand(const QStringList &args);
int findBatchSizeCommand(const QStringList &args);
int benchLoaderCommand(const QStringList &args);
int auditCommand(const QStringList &args);
int correctionsCommand(const QStringList &args);
int sensitivityCommand(const QStringList &args);
int adviseCommand(const QStringList &args);

} // namespace leantune::cli
