#include "clicommon.h"

#include "prune/pruningschedule.h"

#include <QStringBuilder>

namespace leantune::cli {

namespace {

// "1,2,3" and ranges "FIRST:LAST[:STRIDE]", mixed: "0:1000:100,1050".
std::optional<QList<qint64>> parseSteps(const QString &text, QString *error)
{
    QList<qint64> steps;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QStringList f = part.split(QLatin1Char(':'));
        bool ok[3] = { true, true, true };
        if (f.size() == 1) {
            steps << f[0].trimmed().toLongLong(&ok[0]);
        } else if (f.size() <= 3) {
            const qint64 first = f[0].toLongLong(&ok[0]);
            const qint64 last = f[1].toLongLong(&ok[1]);
            const qint64 stride = f.size() == 3 ? f[2].toLongLong(&ok[2]) : 1;
            if (ok[0] && ok[1] && ok[2] && stride > 0 && last >= first
                && (last - first) / stride < 1'000'000)
                for (qint64 s = first; s <= last; s += stride)
                    steps << s;
            else
                ok[0] = false;
        } else {
            ok[0] = false;
        }
        if (!ok[0] || !ok[1] || !ok[2]) {
            *error = QStringLiteral(
                "bad step list '%1': use numbers and ranges like 1,2,3 or 0:1000:100")
                         .arg(part);
            return std::nullopt;
        }
    }
    if (steps.isEmpty()) {
        *error = QStringLiteral("no steps given (--steps 1,2,3)");
        return std::nullopt;
    }
    return steps;
}

} // namespace

int scheduleCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Print 'step sparsity' for a pruning schedule (TensorFlow Model "
                       "Optimization semantics), to check it before a run.\n"
                       "SPEC: none | polynomial:INIT:FINAL:BEGIN:END[:POWER[:FREQ]] | "
                       "constant:S:BEGIN[:END[:FREQ]]"));
    parser.addPositionalArgument(QStringLiteral("SPEC"), QStringLiteral("The schedule."));
    const QCommandLineOption steps(QStringLiteral("steps"),
        QStringLiteral("Optimizer steps: a list and/or ranges, e.g. 1,2,3 or 0:1000:100."),
        QStringLiteral("LIST"));
    const QCommandLineOption updates(QStringLiteral("show-updates"),
        QStringLiteral("Add a third column, 'update', at steps where masks are recomputed."));
    parser.addOption(steps);
    parser.addOption(updates);
    if (const auto code = parseArguments(parser, QStringLiteral("schedule"),
            QStringLiteral("SPEC --steps LIST [--show-updates]"), args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(
            QStringLiteral("schedule takes exactly one SPEC (see 'leantune-cli schedule --help')"),
            Usage);
    QString error;
    const std::optional<PruningSchedule> schedule
        = PruningSchedule::parse(parser.positionalArguments().first(), &error);
    if (!schedule)
        return fail(QStringLiteral("bad prune spec '%1': %2")
                        .arg(parser.positionalArguments().first(), error),
            Usage);
    if (!parser.isSet(steps))
        return fail(QStringLiteral("--steps is required (e.g. --steps 0:1000:100)"), Usage);
    const auto list = parseSteps(parser.value(steps), &error);
    if (!list)
        return fail(error, Usage);
    QString out;
    for (qint64 s : *list)
        out += QStringLiteral("%1 %2%3\n")
                   .arg(s)
                   .arg(schedule->sparsityAt(s), 0, 'f', 6)
                   .arg(parser.isSet(updates) && schedule->shouldUpdate(s)
                           ? QStringLiteral(" update")
                           : QString());
    printOut(out);
    return Ok;
}

} // namespace leantune::cli
