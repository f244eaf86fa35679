#include "clicommon.h"

#include "dataset/sampledata.h"

#include <QStringBuilder>

#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

int sampleCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Import the embedded default data set - Fashion-MNIST from Debian's "
                       "dataset-fashion-mnist package - into "
                       "the user's data folder on first use (60 000 training and 10 000 test "
                       "PNGs), and print the training "
                       "and test folders. Set LEANTUNE_DATA_DIR to choose the data folder."));
    if (const auto code = parseArguments(parser, QStringLiteral("sample"), QString(), args))
        return *code;
    const bool tty = isatty(fileno(stderr));
    QString error;
    const auto sample
        = ensureSampleDataset(&error, [tty](const QString &stage, int done, int total) {
              if (tty && (done % 2000 == 0 || done == total))
                  printErr(QStringLiteral("\rimporting Fashion-MNIST %1: %2 of %3")
                               .arg(stage)
                               .arg(done)
                               .arg(total));
          });
    if (tty)
        printErr(QStringLiteral("\r\033[K"));
    if (!sample)
        return fail(error);
    printOut(QStringLiteral("train %1\ntest %2\n").arg(sample->trainDir, sample->testDir));
    return Ok;
}

} // namespace leantune::cli
