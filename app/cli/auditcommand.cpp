// audit: what is wrong in a data set (duplicates, train/test leaks, label conflicts; label issues
// from cross-training), written to AUDITDIR/audit.json and issues.csv.

#include "auditcommon.h"
#include "clicommon.h"
#include "progressline.h"

#include "audit/labelaudit.h"
#include "config/runfields.h"
#include "train/rundir.h"

#include <QElapsedTimer>
#include <QStringBuilder>

#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

namespace {

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
        std::vector<ProgressField> fields;
        fields.push_back({ head % QStringLiteral(" ") % p.stage, 0 });
        if (p.epochs > 0)
            fields.push_back({ QStringLiteral("epoch %1/%2").arg(p.epoch + 1).arg(p.epochs), 1 });
        fields.push_back(
            { progressBar(fraction, columns >= 100 ? 24 : 12), 3, QStringLiteral(" ") });
        if (p.imagesPerSec > 0)
            fields.push_back({ QStringLiteral("%1 img/s").arg(p.imagesPerSec, 0, 'f', 0), 2 });
        if (p.valAccuracy >= 0)
            fields.push_back(
                { QStringLiteral("held-out acc %1").arg(p.valAccuracy, 0, 'f', 3), 1 });
        fields.push_back({ progressEta(p.secondsLeft), 4 });
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
    const AuditFolderOptions folders;
    folders.addTo(parser);
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
    if (const auto code = parseArguments(parser, QStringLiteral("audit"), kAuditSynopsis, args))
        return *code;
    QString error;
    std::optional<AuditOptions> folderOptions = folders.read(parser, &error);
    if (!folderOptions)
        return fail(error, Usage);
    const AuditOptions &options = *folderOptions;

    // The model-based pass: K fold models trained as the run options (or --from) say.
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
        run.dataDir = options.data;
        run.valDir.clear();
        run.testDir.clear();
        run.outDir = parser.value(folders.out);
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
        labels.crossFold.auditDir = parser.value(folders.out);
        labels.crossFold.resume = !parser.isSet(restart);
    }

    CrossFoldProgressLine foldLine(parser.isSet(folders.json));
    const AuditModelPass modelPass = options.duplicatesOnly
        ? AuditModelPass()
        : labelAuditPass(
            labels, [&foldLine](const CrossFoldProgress &p) { foldLine.update(p); },
            auditCancelFlag());
    return runAuditCommand(options, parser.value(folders.out), parser.isSet(folders.json),
        modelPass, [&foldLine] { foldLine.finish(); });
}

} // namespace leantune::cli
