#include "clicommon.h"

#include "train/sensitivityscanner.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QStringBuilder>

#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

int sensitivityCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Measure how much each layer of a trained run can be pruned: for every prunable layer and "
        "every sparsity, prune that layer alone (by magnitude, or whole output channels by L1 "
        "norm), measure accuracy and loss on a fixed, class-balanced subset of the validation "
        "images, restore it. Writes sensitivity.json and sensitivity.csv into the run folder "
        "(or --out), which 'train --prune-scope sensitivity' and 'advise' read. See README: How "
        "far can it be pruned?"));
    parser.addPositionalArgument(
        QStringLiteral("RUNDIR"), QStringLiteral("A run folder written by 'train'."));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("The run's training folder (its validation split is used) or a validation "
                       "folder with the same classes."),
        QStringLiteral("DIR"));
    const QCommandLineOption sparsities(QStringLiteral("sparsities"),
        QStringLiteral("Sparsities to measure, rising, in (0, 1) (default: "
                       "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95)."),
        QStringLiteral("LIST"));
    const QCommandLineOption granularity(QStringLiteral("granularity"),
        QStringLiteral("weight | channel (whole output channels by L1 norm; default weight)."),
        QStringLiteral("G"));
    const QCommandLineOption images(QStringLiteral("images"),
        QStringLiteral("Images to measure on, an equal share per class (default 2000)."),
        QStringLiteral("N"));
    const QCommandLineOption threads(QStringLiteral("threads"),
        QStringLiteral("Threads (default: all cores)."), QStringLiteral("N"));
    const QCommandLineOption parallel(QStringLiteral("parallel"),
        QStringLiteral("copies (one model copy per thread, the default) | intra-op (one model, "
                       "threaded forward passes)."),
        QStringLiteral("MODE"));
    const QCommandLineOption out(QStringLiteral("out"),
        QStringLiteral("Where to write the scan (default RUNDIR/sensitivity.json, "
                       "sensitivity-channel.json for channels; the .csv goes beside it)."),
        QStringLiteral("FILE"));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the scan as JSON instead of a table."));
    for (const auto &o : { data, sparsities, granularity, images, threads, parallel, out, json })
        parser.addOption(o);
    if (const auto code = parseArguments(parser, QStringLiteral("sensitivity"),
            QStringLiteral("RUNDIR --data DIR [--sparsities LIST] [--granularity weight|channel] "
                           "[--images N] [--json] [--out FILE]"),
            args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(QStringLiteral("sensitivity takes exactly one RUNDIR (see 'leantune-cli "
                                   "sensitivity --help')"),
            Usage);
    if (!parser.isSet(data))
        return fail(QStringLiteral("--data DIR is required"), Usage);

    SensitivityOptions options;
    QString error;
    if (parser.isSet(sparsities)) {
        options.sparsities.clear();
        double last = 0.0;
        for (const QString &item : parser.value(sparsities).split(QLatin1Char(','))) {
            bool ok = false;
            const double s = item.trimmed().toDouble(&ok);
            if (!ok || !(s > last && s < 1.0))
                return fail(QStringLiteral("--sparsities must be rising numbers in (0, 1), got "
                                           "'%1'")
                                .arg(parser.value(sparsities)),
                    Usage);
            options.sparsities.push_back(s);
            last = s;
        }
    }
    if (parser.isSet(granularity)) {
        const std::optional<PruneGranularity> g
            = enumFromName<PruneGranularity>(parser.value(granularity));
        if (!g)
            return fail(QStringLiteral("unknown --granularity '%1' (choose weight or channel)")
                            .arg(parser.value(granularity)),
                Usage);
        options.granularity = *g;
    }
    if (parser.isSet(images)) {
        const std::optional<int> n = intOption(parser, QStringLiteral("images"), &error);
        if (!n || *n < 1)
            return fail(
                error.isEmpty() ? QStringLiteral("--images must be at least 1") : error, Usage);
        options.images = *n;
    }
    if (parser.isSet(threads)) {
        const std::optional<int> n = intOption(parser, QStringLiteral("threads"), &error);
        if (!n || *n < 0)
            return fail(
                error.isEmpty() ? QStringLiteral("--threads must not be negative") : error, Usage);
        options.threads = *n;
    }
    if (parser.isSet(parallel)) {
        const QString mode = parser.value(parallel);
        if (mode != QLatin1String("copies") && mode != QLatin1String("intra-op"))
            return fail(
                QStringLiteral("unknown --parallel '%1' (choose copies or intra-op)").arg(mode),
                Usage);
        options.modelCopies = mode == QLatin1String("copies");
    }
    const QString runDir = parser.positionalArguments().first();
    const QString target = parser.isSet(out)
        ? parser.value(out)
        : QDir(runDir).filePath(defaultSensitivityFileName(options.granularity));

    // Progress on stderr: one line, rewritten in place on a terminal, at most every 10 %
    // otherwise.
    const bool tty = isatty(fileno(stderr));
    int lastTenth = -1;
    QElapsedTimer clock;
    clock.start();
    const auto progress = [&](int done, int total) {
        const int tenth = done * 10 / total;
        if (!tty && tenth == lastTenth && done != total)
            return;
        lastTenth = tenth;
        const double seconds = double(clock.elapsed()) / 1000.0;
        const double left = done > 0 ? seconds * (total - done) / done : 0.0;
        printErr(QStringLiteral("%1sensitivity: %2/%3 points (%4 s, about %5 s left)%6")
                     .arg(tty ? QStringLiteral("\r") : QString())
                     .arg(done)
                     .arg(total)
                     .arg(seconds, 0, 'f', 0)
                     .arg(left, 0, 'f', 0)
                     .arg(tty && done != total ? QString() : QStringLiteral("\n")));
    };
    const std::optional<SensitivityScan> scan
        = scanSensitivity(runDir, parser.value(data), options, progress, nullptr, &error);
    if (!scan)
        return fail(error);
    if (!writeSensitivityScan(*scan, target, &error))
        return fail(error);
    if (parser.isSet(json)) {
        printOut(jsonLine(scan->toJson()));
    } else {
        printOut(scan->toText());
        printOut(QStringLiteral("%1 points in %2 s on %3 threads; written to %4\n")
                     .arg(scan->layers.size() * options.sparsities.size())
                     .arg(scan->seconds, 0, 'f', 1)
                     .arg(scan->threads)
                     .arg(QDir::toNativeSeparators(target)));
    }
    return Ok;
}

} // namespace leantune::cli
