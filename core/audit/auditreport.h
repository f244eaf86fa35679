#pragma once
// The result of a data audit and the files that keep it (torch-free).
//
// AUDITDIR/audit.json, UTF-8 JSON, paths absolute:
//   {"images": N, "folds": K,
//    "label_issues": [{"path", "given", "suggested", "score"}],       most likely wrong first
//    "duplicates": [{"kind": "exact"|"near", "leak": bool, "conflict": bool,
//                    "images": [{"path", "split": "train"|"val"|"test", "label"}]}],
//    "outliers": [{"path", "score"}],
//    "overlapping_classes": [{"classes": [A, B], "share"}],
//    "source": {"train", "val", "test", "files", "fingerprint"}}
// "source" names the data folders audited ("" for a split not given) and a fingerprint of their
// file lists on disk (before corrections, so the decisions of a review do not make the audit look
// stale), so an audit is never read back against another data set. K is 0 when no model was
// cross-trained (duplicates only).
//
// AUDITDIR/issues.csv, for spreadsheets, one row per finding (a duplicate group: one row per image,
// sharing its group number), RFC 4180 quoting:
//   finding,group,path,split,label,suggested,score,leak,conflict
// finding is label_issue, exact_duplicate, near_duplicate, outlier or overlapping_classes (label
// and suggested then hold the two classes, score the share); empty where a column does not apply.

#include "dataset/datasetindex.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

namespace leantune {

enum class AuditSplit { Train, Val, Test };
QString auditSplitName(AuditSplit split); // "train", "val", "test"

// An image the model's out-of-sample prediction says is in the wrong class.
struct AuditLabelIssue {
    QString path;
    QString given; // class folder
    QString suggested; // most likely class
    double score = 0.0; // label quality in [0, 1]: lower is more likely wrong
};

struct AuditImage {
    QString path;
    AuditSplit split = AuditSplit::Train;
    QString label;
};

// Images that are the same picture: exact (same decoded pixels) or near (perceptual hash or
// embedding close). A leak spans splits; a conflict carries different labels.
struct AuditDuplicateGroup {
    enum class Kind { Exact, Near };
    Kind kind = Kind::Exact;
    bool leak = false;
    bool conflict = false;
    std::vector<AuditImage> images;
};

struct AuditOutlier {
    QString path;
    double score = 0.0; // higher is further from every class
};

// A class pair the model often swaps, with the share of the pair's images involved.
struct AuditClassOverlap {
    QString classA;
    QString classB;
    double share = 0.0;
};

// The data an audit was made for: folders (absolute, empty when not given) and a fingerprint of
// their file lists (relative paths and sizes), so a changed or different data set is told apart.
struct AuditSource {
    QString train;
    QString val;
    QString test;
    int files = 0;
    QString fingerprint; // hex SHA-256

    // The source of the scanned splits (VAL and TEST may be null).
    static AuditSource of(
        const DatasetIndex &train, const DatasetIndex *val, const DatasetIndex *test);
};

struct AuditReport {
    int images = 0;
    int folds = 0;
    std::vector<AuditLabelIssue> labelIssues; // most likely wrong first
    std::vector<AuditDuplicateGroup> duplicates;
    std::vector<AuditOutlier> outliers; // furthest first
    std::vector<AuditClassOverlap> overlappingClasses; // largest share first
    AuditSource source;

    QJsonObject toJson() const; // the audit.json document
    // std::nullopt + *error naming the first key that is missing or of the wrong type.
    static std::optional<AuditReport> fromJson(const QJsonObject &json, QString *error);
};

// Writes AUDITDIR/issues.csv, then AUDITDIR/audit.json, each atomically (QSaveFile), creating the
// folder. False + *error when a file cannot be written.
bool writeAudit(const QString &auditDir, const AuditReport &report, QString *error);

// Reads AUDITDIR/audit.json. std::nullopt + *error when it is missing or malformed.
std::optional<AuditReport> readAudit(const QString &auditDir, QString *error);

// Reads it as above and refuses an audit of another data set: other folders, or the same folders
// whose files changed since (the error says which and what to run).
std::optional<AuditReport> readAuditFor(
    const QString &auditDir, const AuditSource &current, QString *error);

} // namespace leantune
