#include "clicommon.h"

#include "dataset/datasetscanner.h"

#include <QJsonDocument>
#include <QStringBuilder>

#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

int scanCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Scan an image folder with one sub-folder per class. Reads only file "
                       "headers; lists classes, counts, image sizes and every invalid file with "
                       "the reason. Exits 0 when the scan finished, even with invalid files."));
    parser.addPositionalArgument(QStringLiteral("DIR"), QStringLiteral("The data folder."));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the result as JSON."));
    const QCommandLineOption noFollow(QStringLiteral("no-follow-symlinks"),
        QStringLiteral("Report symbolic links as invalid instead of following them (by default "
                       "linked files and class folders are scanned; loops are reported)."));
    const QCommandLineOption noCorrections(QStringLiteral("no-corrections"),
        QStringLiteral("Ignore the folder's leantune-corrections.csv (by default relabeled images "
                       "count under their new class and excluded ones are left out)."));
    parser.addOption(json);
    parser.addOption(noFollow);
    parser.addOption(noCorrections);
    if (const auto code = parseArguments(parser, QStringLiteral("scan"),
            QStringLiteral("DIR [--json] [--no-follow-symlinks] [--no-corrections]"), args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(
            QStringLiteral("scan takes exactly one folder (see 'leantune-cli scan --help')"),
            Usage);

    const QString dir = parser.positionalArguments().first();
    QString error;
    const bool tty = isatty(fileno(stderr)) && !parser.isSet(json);
    const auto progress = [tty](int done, int total) {
        if (tty)
            printErr(QStringLiteral("\rscanning: %1 of %2 files").arg(done).arg(total));
    };
    ScanOptions options;
    options.followSymlinks = !parser.isSet(noFollow);
    options.applyCorrections = !parser.isSet(noCorrections);
    const std::optional<DatasetIndex> index = scanDataset(dir, options, &error, progress);
    if (tty)
        printErr(QStringLiteral("\r\033[K"));
    if (!index)
        return fail(error);

    if (parser.isSet(json)) {
        printOut(jsonLine(index->toJson()));
        return Ok;
    }
    QString out;
    const QVector<int> counts = index->classCounts();
    out += QStringLiteral("%1: %2 classes, %3 valid images, %4 invalid files\n")
               .arg(index->root)
               .arg(index->classes.size())
               .arg(index->images.size())
               .arg(index->invalid.size());
    if (const QString corrected = index->correctionsSummary(); !corrected.isEmpty())
        out += corrected + QLatin1Char('\n');
    int width = 5;
    for (const QString &c : index->classes)
        width = qMax(width, int(c.size()));
    for (int i = 0; i < index->classes.size(); ++i)
        out += QStringLiteral("  %1 %2\n")
                   .arg(index->classes[i].leftJustified(width))
                   .arg(counts.value(i), 8);
    if (!index->images.empty()) {
        const SizeStats s = index->sizeStats();
        out += QStringLiteral("image width  min/median/max: %1 / %2 / %3 px\n")
                   .arg(s.minWidth)
                   .arg(s.medianWidth)
                   .arg(s.maxWidth);
        out += QStringLiteral("image height min/median/max: %1 / %2 / %3 px\n")
                   .arg(s.minHeight)
                   .arg(s.medianHeight)
                   .arg(s.maxHeight);
    }
    constexpr int kShown = 50;
    for (int i = 0; i < int(index->invalid.size()) && i < kShown; ++i)
        out += QStringLiteral("invalid: %1: %2\n")
                   .arg(index->invalid[size_t(i)].path, index->invalid[size_t(i)].reason);
    if (int(index->invalid.size()) > kShown)
        out += QStringLiteral("... and %1 more invalid files (use --json for the full list)\n")
                   .arg(index->invalid.size() - kShown);
    printOut(out);
    return Ok;
}

} // namespace leantune::cli
