#include "clicommon.h"

#include "dataset/idximporter.h"

#include <QStringBuilder>

#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

int importIdxCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Convert an MNIST/Fashion-MNIST IDX image file and its label file (raw or "
                       ".gz) into OUTDIR/<class>/<n>.png. "
                       "Class names default to Fashion-MNIST's."));
    parser.addPositionalArgument(
        QStringLiteral("IMAGES"), QStringLiteral("IDX image file (magic 2051)."));
    parser.addPositionalArgument(
        QStringLiteral("LABELS"), QStringLiteral("IDX label file (magic 2049)."));
    parser.addPositionalArgument(
        QStringLiteral("OUTDIR"), QStringLiteral("Folder to write the class folders into."));
    const QCommandLineOption limit(QStringLiteral("limit"),
        QStringLiteral("Import only the first N images."), QStringLiteral("N"));
    const QCommandLineOption classes(QStringLiteral("classes"),
        QStringLiteral("Comma-separated class names in label order (e.g. 0,1,...,9 for MNIST)."),
        QStringLiteral("NAMES"));
    parser.addOption(limit);
    parser.addOption(classes);
    if (const auto code = parseArguments(parser, QStringLiteral("import-idx"),
            QStringLiteral("IMAGES LABELS OUTDIR [--limit N] [--classes NAMES]"), args))
        return *code;
    const QStringList pos = parser.positionalArguments();
    if (pos.size() != 3)
        return fail(
            QStringLiteral(
                "import-idx takes IMAGES LABELS OUTDIR (see 'leantune-cli import-idx --help')"),
            Usage);

    IdxImportOptions options;
    QString error;
    if (parser.isSet(limit)) {
        const std::optional<int> n = intOption(parser, QStringLiteral("limit"), &error);
        if (!n)
            return fail(error, Usage);
        if (*n < 1)
            return fail(QStringLiteral("--limit must be at least 1"), Usage);
        options.limit = *n;
    }
    if (parser.isSet(classes))
        options.classNames = parser.value(classes).split(QLatin1Char(','));
    const bool tty = isatty(fileno(stderr));
    const auto progress = [tty](int done, int total) {
        if (tty && (done % 1000 == 0 || done == total))
            printErr(QStringLiteral("\rimporting: %1 of %2").arg(done).arg(total));
    };
    const std::optional<IdxImportResult> result
        = importIdx(pos[0], pos[1], pos[2], options, &error, progress);
    if (tty)
        printErr(QStringLiteral("\r\033[K"));
    if (!result)
        return fail(error);
    printOut(QStringLiteral("imported %1 images into %2 classes in %3\n")
                 .arg(result->images)
                 .arg(result->classes.size())
                 .arg(pos[2]));
    return Ok;
}

} // namespace leantune::cli
