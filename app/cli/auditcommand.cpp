// audit: what is wrong in a data set (duplicates, train/test leaks, label conflicts; label issues
// from cross-training), written to AUDITDIR/audit.json and issues.csv.

#include "clicommon.h"
#include "progressline.h"

#include "audit/auditrunner.h"
#include "audit/labelaudit.h"
#include "config/runfields.h"
#include "train/rundir.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QStringBuilder>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <limits>
#include <unistd.h>

namespace leantune::cli {

namespace {

QString duration(double seconds)
{
    const qint64 s = qint64(seconds + 0.5);
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

// The audit's progress on stderr: a live bar on a terminal (10 Hz), a line per stage otherwise.
class AuditProgressLine {
public:
    explicit AuditProgressLine(bool quiet)
        : m_quiet(quiet)
        , m_tty(isatty(fileno(stderr)) != 0)
    {
    }

    void update(const QString &stage, int done, int total)
    {
        if (m_quiet)
            return;
        if (stage != m_stage) {
            finish();
            m_stage = stage;
            m_stageClock.start();
        }
        m_done = done;
        m_total = total;
        if (!m_tty || (m_draw.isValid() && m_draw.elapsed() < 100 && done < total))
            return;
        m_draw.start();
        const double fraction = total > 0 ? qBound(0.0, double(done) / total, 1.0) : 0.0;
        const double seconds = double(m_stageClock.elapsed()) / 1000.0;
        const int columns = terminalColumns() - 1;
        const int width = columns >= 100 ? 24 : 12;
        const int filled = int(fraction * width);
        std::vector<ProgressField> fields;
        fields.push_back({ QLatin1Char('[') % QString(filled, QLatin1Char('='))
                % QString(width - filled, QLatin1Char(' ')) % QLatin1Char(']'),
            3 });
        fields.push_back(
            { QStringLiteral("%1 %2/%3").arg(stage).arg(done).arg(total), 0, QStringLiteral(" ") });
        if (seconds > 0.2)
            fields.push_back({ QStringLiteral("%1 img/s").arg(done / seconds, 0, 'f', 0), 2 });
        fields.push_back({ QStringLiteral("ETA ")
                % (fraction > 0.01 ? duration(seconds * (1.0 - fraction) / fraction)
                                   : QStringLiteral("--:--")),
            4 });
        printErr(QStringLiteral("\r\033[K") % fitProgressLine(fields, columns));
        m_open = true;
    }

    // Ends the stage: clears the bar, or, without a terminal, prints what the stage did.
    void finish()
    {
        if (m_open)
            printErr(QStringLiteral("\r\033[K"));
        else if (!m_tty && !m_quiet && !m_stage.isEmpty())
            printErr(QStringLiteral("%1: %2 of %3 in %4 s\n")
                         .arg(m_stage)
                         .arg(m_done)
                         .arg(m_total)
                         .arg(double(m_stageClock.elapsed()) / 1000.0, 0, 'f', 2));
        m_open = false;
        m_stage.clear();
    }

private:
    bool m_quiet = false;
    bool m_tty = false;
    bool m_open = false;
    QString m_stage;
    int m_done = 0;
    int m_total = 0;
    QElapsedTimer m_stageClock;
    QElapsedTimer m_draw;
};

// The cross-training's progress on stderr: a live line on a terminal (fold, epoch, images/s,
// ETA), a line per fold and stage otherwise.
class CrossFoldProgressLine {
public:
    explicit CrossFoldProgressLine(bool quiet)
        : m_quiet(quiet)
        , m_tty(isatty(fileno(stderr)) != 0)
    {
    }

    void update(const CrossFoldProgress &p)
    {
        if (m_quiet)
            return;
        const QString head = QStringLiteral("fold %1/%2").arg(p.fold + 1).arg(p.folds);
        if (p.fold != m_fold || p.stage != m_stage) {
            m_fold = p.fold;
            m_stage = p.stage;
            if (!m_tty) {
                printErr(head % QStringLiteral(": ") % p.stage % QLatin1Char('\n'));
                return;
            }
        }
        if (!m_tty || (m_draw.isValid() && m_draw.elapsed() < 100))
            return;
        m_draw.start();
        const double fraction
            = p.epochs > 0 ? qBound(0.0, (p.epoch + p.epochProgress) / double(p.epochs), 1.0) : 0.0;
        const int columns = terminalColumns() - 1;
        const int width = columns >= 100 ? 24 : 12;
        const int filled = int(fraction * width);
        std::vector<ProgressField> fields;
        fields.push_back({ head % QStringLiteral(" ") % p.stage, 0 });
        if (p.epochs > 0)
            fields.push_back({ QStringLiteral("epoch %1/%2").arg(p.epoch + 1).arg(p.epochs), 1 });
        fields.push_back({ QLatin1Char('[') % QString(filled, QLatin1Char('='))
                % QString(width - filled, QLatin1Char(' ')) % QLatin1Char(']'),
            3, QStringLiteral(" ") });
        if (p.imagesPerSec > 0)
            fields.push_back({ QStringLiteral("%1 img/s").arg(p.imagesPerSec, 0, 'f', 0), 2 });
        if (p.valAccuracy >= 0)
            fields.push_back(
                { QStringLiteral("held-out acc %1").arg(p.valAccuracy, 0, 'f', 3), 1 });
        fields.push_back({ QStringLiteral("ETA ")
                % (p.secondsLeft >= 0 ? duration(p.secondsLeft) : QStringLiteral("--:--")),
            4 });
        printErr(QStringLiteral("\r\033[K") % fitProgressLine(fields, columns));
        m_open = true;
    }

    void finish()
    {
        if (m_open)
            printErr(QStringLiteral("\r\033[K"));
        m_open = false;
    }

private:
    bool m_quiet = false;
    bool m_tty = false;
    bool m_open = false;
    int m_fold = -1;
    QString m_stage;
    QElapsedTimer m_draw;
};

std::atomic_bool g_cancel { false }; // SIGINT/SIGTERM: stop the fold going on
std::atomic_int g_signal { 0 };

void onSignal(int number)
{
    if (g_cancel.exchange(true))
        std::_Exit(128 + number); // a second signal: leave now
    g_signal.store(number);
}

QString summary(const AuditReport &report, const QString &outDir, double seconds)
{
    int leaks = 0, conflicts = 0, exact = 0, images = 0;
    for (const AuditDuplicateGroup &g : report.duplicates) {
        leaks += g.leak ? 1 : 0;
        conflicts += g.conflict ? 1 : 0;
        exact += g.kind == AuditDuplicateGroup::Kind::Exact ? 1 : 0;
        images += int(g.images.size());
    }
    QString text
        = QStringLiteral("audited %1 images in %2 s\n").arg(report.images).arg(seconds, 0, 'f', 1);
    text += QStringLiteral("duplicates: %1 groups (%2 exact, %3 near) of %4 images; %5 leaks "
                           "across splits, %6 with different labels\n")
                .arg(report.duplicates.size())
                .arg(exact)
                .arg(int(report.duplicates.size()) - exact)
                .arg(images)
                .arg(leaks)
                .arg(conflicts);
    if (report.folds > 0)
        text += QStringLiteral("label issues: %1, outliers: %2, overlapping class pairs: %3\n")
                    .arg(report.labelIssues.size())
                    .arg(report.outliers.size())
                    .arg(report.overlappingClasses.size());
    text += QStringLiteral("wrote %1 and %2\n")
                .arg(QDir(outDir).filePath(QStringLiteral("audit.json")),
                    QDir(outDir).filePath(QStringLiteral("issues.csv")));
    return text;
}

} // namespace

int auditCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Find what is wrong in a data set: the same picture twice (exact copies by their decoded "
        "pixels, near copies by a DCT descriptor confirmed on the pixels), train/val/test leaks "
        "(a copy in two splits) and label conflicts (copies with different labels). Writes "
        "AUDITDIR/audit.json and AUDITDIR/issues.csv (one row per finding, for spreadsheets).\n\n"
        "Without --duplicates-only it also cross-trains K models on the training folder (each on "
        "the other folds, with the run options below) and, from their out-of-sample predictions, "
        "finds images in the wrong class folder (confident learning), outliers, overlapping "
        "classes and near copies by embedding. Without --epochs, a fold model on a small folder "
        "trains up to twice the default epochs, to at least 800 batches. Ctrl-C stops after the "
        "current batch; running the same audit again goes on from its finished folds."));
    const QCommandLineOption data(QStringLiteral("data"),
        QStringLiteral("The training folder (one sub-folder per class)."), QStringLiteral("DIR"));
    const QCommandLineOption val(QStringLiteral("val"),
        QStringLiteral("A validation folder: its copies of training images are leaks."),
        QStringLiteral("DIR"));
    const QCommandLineOption test(QStringLiteral("test"),
        QStringLiteral("A test folder: its copies of training images are leaks."),
        QStringLiteral("DIR"));
    const QCommandLineOption out(QStringLiteral("out"),
        QStringLiteral("The audit folder to write audit.json and issues.csv into."),
        QStringLiteral("AUDITDIR"));
    const QCommandLineOption duplicatesOnly(QStringLiteral("duplicates-only"),
        QStringLiteral("Find duplicates, leaks and conflicts alone, without training (seconds)."));
    const QCommandLineOption json(QStringLiteral("json"),
        QStringLiteral("Print the audit document (audit.json) on stdout; no progress."));
    for (const QCommandLineOption &o : { data, val, test, out, duplicatesOnly, json })
        parser.addOption(o);
    const LabelIssueOptions labelDefaults;
    const QCommandLineOption folds(QStringLiteral("folds"),
        QStringLiteral("Models cross-trained for label issues and outliers: each learns from the "
                       "other folds and predicts its own (default: 3)."),
        QStringLiteral("K"));
    const QCommandLineOption from(QStringLiteral("from"),
        QStringLiteral("Train the fold models as the run in RUNDIR was trained (its config.json); "
                       "run options given here change it."),
        QStringLiteral("RUNDIR"));
    const QCommandLineOption labelFilter(QStringLiteral("label-filter"),
        QStringLiteral("Which images are label issues: prune_by_noise_rate, confident_joint, "
                       "prune_by_class or both (default: %1).")
            .arg(labelIssueFilterName(labelDefaults.filter)),
        QStringLiteral("METHOD"));
    const QCommandLineOption labelRanking(QStringLiteral("label-ranking"),
        QStringLiteral("How label issues are ordered: self_confidence, normalized_margin or "
                       "relative_self_confidence (against the class's mean; default: %1).")
            .arg(labelIssueRankingName(labelDefaults.ranking)),
        QStringLiteral("METHOD"));
    const QCommandLineOption labelNeighbours(QStringLiteral("label-neighbours"),
        QStringLiteral("Blend the fold models' probabilities with the labels of each image's K "
                       "nearest neighbours in their embedding space before finding label issues "
                       "(0: the probabilities alone; default: %1).")
            .arg(LabelAuditOptions().labelVoteNeighbours),
        QStringLiteral("K"));
    const QCommandLineOption restart(QStringLiteral("restart"),
        QStringLiteral("Train every fold again instead of reusing the finished folds of an "
                       "earlier audit in AUDITDIR."));
    for (const QCommandLineOption &o :
        { folds, from, labelFilter, labelRanking, labelNeighbours, restart })
        parser.addOption(o);
    addRunOptions(parser, RunField::Audit, auditRunDefaults());
    if (const auto code = parseArguments(parser, QStringLiteral("audit"),
            QStringLiteral("--data DIR [--val DIR] [--test DIR] --out AUDITDIR "
                           "[--duplicates-only | --folds K --from RUNDIR [run options]] [--json]"),
            args))
        return *code;
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("audit takes no positional arguments (see 'leantune-cli audit "
                                   "--help')"),
            Usage);
    if (parser.value(data).isEmpty() || parser.value(out).isEmpty())
        return fail(QStringLiteral("audit needs --data DIR and --out AUDITDIR"), Usage);

    AuditOptions options;
    options.data = parser.value(data);
    options.val = parser.value(val);
    options.test = parser.value(test);
    options.duplicatesOnly = parser.isSet(duplicatesOnly);

    // The model-based pass: K fold models trained as the run options (or --from) say.
    QString error;
    LabelAuditOptions labels;
    if (!options.duplicatesOnly) {
        RunConfig &run = labels.crossFold.run;
        if (parser.isSet(from)) {
            const std::optional<RunInfo> info = readRunInfo(parser.value(from), &error);
            if (!info)
                return fail(QStringLiteral("--from: ") % error, Usage);
            run = info->config;
        }
        if (!applyRunOptions(parser, RunField::Audit, run, false, nullptr, &error))
            return fail(error, Usage);
        if (parser.isSet(QStringLiteral("epochs")) || parser.isSet(from))
            labels.crossFold.minimumSteps = 0; // the epochs asked for, as they are
        run.dataDir = parser.value(data);
        run.valDir.clear();
        run.testDir.clear();
        run.outDir = parser.value(out);
        if (!run.validate(&error))
            return fail(error, Usage);
        if (parser.isSet(folds)) {
            const std::optional<int> k = intOption(parser, QStringLiteral("folds"), &error);
            if (!k)
                return fail(error, Usage);
            if (*k < 2 || *k > 20)
                return fail(QStringLiteral("--folds must be 2..20 (got %1)").arg(*k), Usage);
            labels.crossFold.folds = *k;
        }
        if (parser.isSet(labelFilter)) {
            const auto f = labelIssueFilterFromName(parser.value(labelFilter));
            if (!f)
                return fail(
                    QStringLiteral("unknown --label-filter '%1'").arg(parser.value(labelFilter)),
                    Usage);
            labels.labelIssues.filter = *f;
        }
        if (parser.isSet(labelRanking)) {
            const auto r = labelIssueRankingFromName(parser.value(labelRanking));
            if (!r)
                return fail(
                    QStringLiteral("unknown --label-ranking '%1'").arg(parser.value(labelRanking)),
                    Usage);
            labels.labelIssues.ranking = *r;
        }
        if (parser.isSet(labelNeighbours)) {
            const std::optional<int> k
                = intOption(parser, QStringLiteral("label-neighbours"), &error);
            if (!k || *k < 0)
                return fail(
                    k ? QStringLiteral("--label-neighbours must be 0 or more") : error, Usage);
            labels.labelVoteNeighbours = *k;
        }
        labels.crossFold.auditDir = parser.value(out);
        labels.crossFold.resume = !parser.isSet(restart);
    }

    AuditProgressLine line(parser.isSet(json));
    CrossFoldProgressLine foldLine(parser.isSet(json));
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QElapsedTimer clock;
    clock.start();
    const AuditModelPass modelPass = options.duplicatesOnly
        ? AuditModelPass()
        : labelAuditPass(
            labels, [&foldLine](const CrossFoldProgress &p) { foldLine.update(p); }, &g_cancel);
    const std::optional<AuditOutcome> outcome = runAudit(
        options, modelPass, &error,
        [&line, &foldLine](const QString &stage, int done, int total) {
            foldLine.finish();
            line.update(stage, done, total);
        },
        &g_cancel);
    foldLine.finish();
    line.finish();
    if (!outcome && g_cancel.load())
        return fail(QStringLiteral("audit stopped; run it again to go on from its finished folds"),
            128 + (g_signal.load() > 0 ? g_signal.load() : SIGINT));
    if (!outcome)
        return fail(error);
    if (!writeAudit(parser.value(out), outcome->report, &error))
        return fail(error);
    for (const QString &warning : outcome->warnings)
        printErr(QStringLiteral("leantune-cli: warning: ") % warning % QLatin1Char('\n'));
    if (parser.isSet(json))
        printOut(QString::fromUtf8(
            QJsonDocument(outcome->report.toJson()).toJson(QJsonDocument::Compact) + '\n'));
    else
        printOut(summary(outcome->report, parser.value(out), double(clock.elapsed()) / 1000.0));
    return Ok;
}

} // namespace leantune::cli
