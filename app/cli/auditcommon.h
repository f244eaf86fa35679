#pragma once
// The parts of `audit` that need no LibTorch: its folder options, the run that writes AUDITDIR,
// and `audit --duplicates-only`, which the front runs itself.

#include "audit/auditrunner.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <optional>

namespace leantune::cli {

inline const QString kAuditSynopsis
    = QStringLiteral("--data DIR [--val DIR] [--test DIR] --out AUDITDIR "
                     "[--duplicates-only | --folds K --from RUNDIR [run options]] [--json]");

// --data, --val, --test, --out, --duplicates-only and --json.
struct AuditFolderOptions {
    QCommandLineOption data, val, test, out, duplicatesOnly, json;
    AuditFolderOptions();
    void addTo(QCommandLineParser &parser) const;
    // The audit's folders and mode; std::nullopt + *error (a usage error) with a positional
    // argument or without --data and --out.
    std::optional<AuditOptions> read(const QCommandLineParser &parser, QString *error) const;
};

// Set by SIGINT or SIGTERM while runAuditCommand runs (the audit stops; a second signal leaves
// at once).
std::atomic_bool *auditCancelFlag();

// Runs the audit of OPTIONS with MODELPASS (empty for duplicates only) and its progress on stderr
// (none with JSON; BEFOREPROGRESS is called before each update and at the end, so that the model
// pass's own line can end first), writes OUTDIR and prints the document (JSON) or a summary.
// Returns the exit code.
int runAuditCommand(const AuditOptions &options, const QString &outDir, bool json,
    const AuditModelPass &modelPass, const std::function<void()> &beforeProgress = {});

// Whether audit's ARGS ask for duplicates only and hold no option but the folder options: such an
// audit needs no LibTorch.
bool isDuplicatesOnlyAudit(const QStringList &args);

// `audit` with such ARGS (the front's).
int duplicatesAuditCommand(const QStringList &args);

} // namespace leantune::cli
