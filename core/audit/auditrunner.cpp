#include "audit/auditrunner.h"

#include "dataset/corrections.h"
#include "dataset/datasetscanner.h"

#include <QDir>
#include <QStringBuilder>

namespace leantune {

namespace {

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

// Scans FOLDER without its corrections file: the audit's source fingerprint is of the files on
// disk, so the decisions a review writes into the file never make the audit look stale.
std::optional<DatasetIndex> scanSplit(const QString &folder, const char *what, QString *error,
    const AuditProgress &progress, const std::atomic_bool *cancel)
{
    QString why;
    ScanOptions scan;
    scan.applyCorrections = false;
    std::optional<DatasetIndex> index = scanDataset(
        QDir(folder).absolutePath(), scan, &why,
        [&](int done, int total) {
            if (progress)
                progress(QStringLiteral("scanning ") % QLatin1String(what), done, total);
        },
        cancel);
    if (!index) {
        setError(error,
            why == QLatin1String("cancelled") ? why
                                              : QStringLiteral("cannot scan the %1 folder %2: %3")
                                                    .arg(QLatin1String(what), folder, why));
        return std::nullopt;
    }
    if (index->images.empty()) {
        setError(error,
            QStringLiteral("the %1 folder %2 has no valid image (one sub-folder per class)")
                .arg(QLatin1String(what), folder));
        return std::nullopt;
    }
    return index;
}

} // namespace

std::optional<AuditOutcome> runAudit(const AuditOptions &options, const AuditModelPass &modelPass,
    QString *error, const AuditProgress &progress, const std::atomic_bool *cancel)
{
    if (!options.duplicatesOnly && !modelPass) {
        setError(error, QStringLiteral("no model pass to find label issues with"));
        return std::nullopt;
    }
    std::optional<DatasetIndex> train
        = scanSplit(options.data, "training", error, progress, cancel);
    if (!train)
        return std::nullopt;
    std::optional<DatasetIndex> val, test;
    if (!options.val.isEmpty() && !(val = scanSplit(options.val, "--val", error, progress, cancel)))
        return std::nullopt;
    if (!options.test.isEmpty()
        && !(test = scanSplit(options.test, "--test", error, progress, cancel)))
        return std::nullopt;

    AuditOutcome outcome;
    AuditReport &report = outcome.report;
    const DatasetIndex *valIndex = val ? &*val : nullptr;
    const DatasetIndex *testIndex = test ? &*test : nullptr;
    report.source = AuditSource::of(*train, valIndex, testIndex);
    // The findings are of the data as the scan counts it: each folder's corrections applied.
    for (std::optional<DatasetIndex> *split : { &train, &val, &test }) {
        if (!*split)
            continue;
        const std::optional<Corrections> corrections = Corrections::read((*split)->root, error);
        if (!corrections || !corrections->applyTo(&**split, error))
            return std::nullopt;
        report.images += int((*split)->images.size());
    }

    AuditModelFindings findings;
    if (!options.duplicatesOnly) {
        std::optional<AuditModelFindings> found
            = modelPass(AuditInputs { options, *train, valIndex, testIndex }, error);
        if (!found)
            return std::nullopt;
        findings = std::move(*found);
    }
    report.folds = findings.folds;
    report.labelIssues = std::move(findings.labelIssues);
    report.outliers = std::move(findings.outliers);
    report.overlappingClasses = std::move(findings.overlappingClasses);

    std::vector<AuditSplitIndex> splits { { &*train, AuditSplit::Train } };
    if (valIndex)
        splits.push_back({ valIndex, AuditSplit::Val });
    if (testIndex)
        splits.push_back({ testIndex, AuditSplit::Test });
    // After the model pass the audit's memory is near its bound and its time is not: the
    // candidates' images are decoded again rather than kept (bench/README).
    DuplicateOptions duplicateOptions = options.duplicates;
    if (!options.duplicatesOnly)
        duplicateOptions.keptPixelBytes = 0;
    std::optional<DuplicateResult> duplicates
        = findDuplicates(splits, duplicateOptions, error, progress, cancel, findings.similarPairs);
    if (!duplicates)
        return std::nullopt;
    report.duplicates = std::move(duplicates->groups);
    if (!duplicates->undecodable.isEmpty())
        outcome.warnings << QStringLiteral("%1 images did not decode and were left out of the "
                                           "duplicates (first: %2)")
                                .arg(duplicates->undecodable.size())
                                .arg(duplicates->undecodable.first());
    return outcome;
}

} // namespace leantune
