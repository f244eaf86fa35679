#include "auditcommon.h"

#include "clicommon.h"
#include "progressline.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QStringBuilder>

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace leantune::cli {

namespace {

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
        std::vector<ProgressField> fields;
        fields.push_back({ progressBar(fraction, columns >= 100 ? 24 : 12), 3 });
        fields.push_back(
            { QStringLiteral("%1 %2/%3").arg(stage).arg(done).arg(total), 0, QStringLiteral(" ") });
        if (seconds > 0.2)
            fields.push_back({ QStringLiteral("%1 img/s").arg(done / seconds, 0, 'f', 0), 2 });
        fields.push_back(
            { progressEta(fraction > 0.01 ? seconds * (1.0 - fraction) / fraction : -1.0), 4 });
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

AuditFolderOptions::AuditFolderOptions()
    : data(QStringLiteral("data"),
        QStringLiteral("The training folder (one sub-folder per class)."), QStringLiteral("DIR"))
    , val(QStringLiteral("val"),
          QStringLiteral("A validation folder: its copies of training images are leaks."),
          QStringLiteral("DIR"))
    , test(QStringLiteral("test"),
          QStringLiteral("A test folder: its copies of training images are leaks."),
          QStringLiteral("DIR"))
    , out(QStringLiteral("out"),
          QStringLiteral("The audit folder to write audit.json and issues.csv into."),
          QStringLiteral("AUDITDIR"))
    , duplicatesOnly(QStringLiteral("duplicates-only"),
          QStringLiteral("Find duplicates, leaks and conflicts alone, without training (seconds)."))
    , json(QStringLiteral("json"),
          QStringLiteral("Print the audit document (audit.json) on stdout; no progress."))
{
}

void AuditFolderOptions::addTo(QCommandLineParser &parser) const
{
    for (const QCommandLineOption &o : { data, val, test, out, duplicatesOnly, json })
        parser.addOption(o);
}

std::optional<AuditOptions> AuditFolderOptions::read(
    const QCommandLineParser &parser, QString *error) const
{
    if (!parser.positionalArguments().isEmpty()) {
        *error = QStringLiteral(
            "audit takes no positional arguments (see 'leantune-cli audit --help')");
        return std::nullopt;
    }
    if (parser.value(data).isEmpty() || parser.value(out).isEmpty()) {
        *error = QStringLiteral("audit needs --data DIR and --out AUDITDIR");
        return std::nullopt;
    }
    AuditOptions options;
    options.data = parser.value(data);
    options.val = parser.value(val);
    options.test = parser.value(test);
    options.duplicatesOnly = parser.isSet(duplicatesOnly);
    return options;
}

std::atomic_bool *auditCancelFlag()
{
    return &g_cancel;
}

int runAuditCommand(const AuditOptions &options, const QString &outDir, bool json,
    const AuditModelPass &modelPass, const std::function<void()> &beforeProgress)
{
    AuditProgressLine line(json);
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QElapsedTimer clock;
    clock.start();
    QString error;
    const std::optional<AuditOutcome> outcome = runAudit(
        options, modelPass, &error,
        [&line, &beforeProgress](const QString &stage, int done, int total) {
            if (beforeProgress)
                beforeProgress();
            line.update(stage, done, total);
        },
        &g_cancel);
    if (beforeProgress)
        beforeProgress();
    line.finish();
    if (!outcome && g_cancel.load())
        return fail(QStringLiteral("audit stopped; run it again to go on from its finished folds"),
            128 + (g_signal.load() > 0 ? g_signal.load() : SIGINT));
    if (!outcome)
        return fail(error);
    if (!writeAudit(outDir, outcome->report, &error))
        return fail(error);
    for (const QString &warning : outcome->warnings)
        printErr(QStringLiteral("leantune-cli: warning: ") % warning % QLatin1Char('\n'));
    if (json)
        printOut(QString::fromUtf8(
            QJsonDocument(outcome->report.toJson()).toJson(QJsonDocument::Compact) + '\n'));
    else
        printOut(summary(outcome->report, outDir, double(clock.elapsed()) / 1000.0));
    return Ok;
}

bool isDuplicatesOnlyAudit(const QStringList &args)
{
    const AuditFolderOptions folders;
    QStringList known;
    for (const QCommandLineOption &o :
        { folders.data, folders.val, folders.test, folders.out, folders.json })
        known << o.names();
    bool duplicatesOnly = false;
    for (const QString &arg : args) {
        if (!arg.startsWith(QLatin1Char('-')))
            continue; // a value
        const QString name
            = arg.mid(arg.startsWith(QLatin1String("--")) ? 2 : 1).section(QLatin1Char('='), 0, 0);
        if (name == folders.duplicatesOnly.names().constFirst())
            duplicatesOnly = true;
        else if (!known.contains(name))
            return false; // --help, a run option, "--", or a value that looks like an option
    }
    return duplicatesOnly;
}

int duplicatesAuditCommand(const QStringList &args)
{
    QCommandLineParser parser;
    const AuditFolderOptions folders;
    folders.addTo(parser);
    if (const auto code = parseArguments(parser, QStringLiteral("audit"), kAuditSynopsis, args))
        return *code;
    QString error;
    const std::optional<AuditOptions> options = folders.read(parser, &error);
    if (!options)
        return fail(error, Usage);
    return runAuditCommand(*options, parser.value(folders.out), parser.isSet(folders.json), {});
}

} // namespace leantune::cli
