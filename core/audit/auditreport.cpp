#include "audit/auditreport.h"

#include "metrics/csvtext.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStringBuilder>

#include <algorithm>

namespace leantune {

namespace {

const QString kAuditFile = QStringLiteral("audit.json");
const QString kIssuesFile = QStringLiteral("issues.csv");

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

QString csvRow(const QStringList &fields)
{
    return csvRecord(fields) + QLatin1Char('\n');
}

QString number(double v)
{
    return QString::number(v, 'g', 6);
}

QString yesNo(bool v)
{
    return v ? QStringLiteral("yes") : QStringLiteral("no");
}

std::optional<AuditSplit> splitFromName(const QString &name)
{
    for (AuditSplit s : { AuditSplit::Train, AuditSplit::Val, AuditSplit::Test }) {
        if (auditSplitName(s) == name)
            return s;
    }
    return std::nullopt;
}

// Typed reads of a JSON object's keys: each sets *why to the key it could not read.
struct JsonReader {
    QString *why;

    bool has(const QJsonObject &o, const char *key, QJsonValue::Type type, const QString &where)
    {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.type() == type)
            return true;
        *why = QStringLiteral("%1\"%2\" is missing or not %3")
                   .arg(where, QLatin1String(key),
                       type == QJsonValue::String       ? QStringLiteral("a string")
                           : type == QJsonValue::Double ? QStringLiteral("a number")
                           : type == QJsonValue::Bool   ? QStringLiteral("true or false")
                           : type == QJsonValue::Array  ? QStringLiteral("a list")
                                                        : QStringLiteral("an object"));
        return false;
    }
    std::optional<QString> string(const QJsonObject &o, const char *key, const QString &where)
    {
        if (!has(o, key, QJsonValue::String, where))
            return std::nullopt;
        return o.value(QLatin1String(key)).toString();
    }
    std::optional<double> number(const QJsonObject &o, const char *key, const QString &where)
    {
        if (!has(o, key, QJsonValue::Double, where))
            return std::nullopt;
        return o.value(QLatin1String(key)).toDouble();
    }
    std::optional<QJsonArray> list(const QJsonObject &o, const char *key, const QString &where)
    {
        if (!has(o, key, QJsonValue::Array, where))
            return std::nullopt;
        return o.value(QLatin1String(key)).toArray();
    }
};

QString entryWhere(const char *list, int i)
{
    return QStringLiteral("%1[%2]: ").arg(QLatin1String(list)).arg(i);
}

bool writeFile(const QString &path, const QByteArray &bytes, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        setError(error, QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
        return false;
    }
    return true;
}

QByteArray issuesCsv(const AuditReport &report)
{
    QString text
        = csvRow({ QStringLiteral("finding"), QStringLiteral("group"), QStringLiteral("path"),
            QStringLiteral("split"), QStringLiteral("label"), QStringLiteral("suggested"),
            QStringLiteral("score"), QStringLiteral("leak"), QStringLiteral("conflict") });
    for (const AuditLabelIssue &issue : report.labelIssues)
        text += csvRow({ QStringLiteral("label_issue"), QString(), issue.path,
            auditSplitName(AuditSplit::Train), issue.given, issue.suggested, number(issue.score),
            QString(), QString() });
    int group = 0;
    for (const AuditDuplicateGroup &g : report.duplicates) {
        ++group;
        const QString finding = g.kind == AuditDuplicateGroup::Kind::Exact
            ? QStringLiteral("exact_duplicate")
            : QStringLiteral("near_duplicate");
        for (const AuditImage &image : g.images)
            text += csvRow(
                { finding, QString::number(group), image.path, auditSplitName(image.split),
                    image.label, QString(), QString(), yesNo(g.leak), yesNo(g.conflict) });
    }
    for (const AuditOutlier &o : report.outliers)
        text += csvRow({ QStringLiteral("outlier"), QString(), o.path, QString(), QString(),
            QString(), number(o.score), QString(), QString() });
    for (const AuditClassOverlap &o : report.overlappingClasses)
        text += csvRow({ QStringLiteral("overlapping_classes"), QString(), QString(), QString(),
            o.classA, o.classB, number(o.share), QString(), QString() });
    return text.toUtf8();
}

} // namespace

QString auditSplitName(AuditSplit split)
{
    switch (split) {
    case AuditSplit::Train:
        return QStringLiteral("train");
    case AuditSplit::Val:
        return QStringLiteral("val");
    case AuditSplit::Test:
        return QStringLiteral("test");
    }
    return QString();
}

AuditSource AuditSource::of(
    const DatasetIndex &train, const DatasetIndex *val, const DatasetIndex *test)
{
    AuditSource source;
    QCryptographicHash hash(QCryptographicHash::Sha256);
    const auto add = [&](const DatasetIndex *index, AuditSplit split, QString *folder) {
        if (!index)
            return;
        *folder = QDir(index->root).absolutePath();
        const QDir root(*folder);
        QStringList lines;
        lines.reserve(int(index->images.size()));
        for (const ImageEntry &image : index->images)
            lines << root.relativeFilePath(image.path) % QLatin1Char('\t')
                    % QString::number(image.bytes);
        lines.sort();
        hash.addData(QByteArray(auditSplitName(split).toUtf8() + '\n'));
        for (const QString &line : lines)
            hash.addData(QByteArray(line.toUtf8() + '\n'));
        source.files += int(index->images.size());
    };
    add(&train, AuditSplit::Train, &source.train);
    add(val, AuditSplit::Val, &source.val);
    add(test, AuditSplit::Test, &source.test);
    source.fingerprint = QString::fromLatin1(hash.result().toHex());
    return source;
}

QJsonObject AuditReport::toJson() const
{
    QJsonArray issues;
    for (const AuditLabelIssue &i : labelIssues)
        issues.append(QJsonObject { { QStringLiteral("path"), i.path },
            { QStringLiteral("given"), i.given }, { QStringLiteral("suggested"), i.suggested },
            { QStringLiteral("score"), i.score } });
    QJsonArray groups;
    for (const AuditDuplicateGroup &g : duplicates) {
        QJsonArray images;
        for (const AuditImage &image : g.images)
            images.append(QJsonObject { { QStringLiteral("path"), image.path },
                { QStringLiteral("split"), auditSplitName(image.split) },
                { QStringLiteral("label"), image.label } });
        groups.append(
            QJsonObject { { QStringLiteral("kind"),
                              g.kind == AuditDuplicateGroup::Kind::Exact ? QStringLiteral("exact")
                                                                         : QStringLiteral("near") },
                { QStringLiteral("leak"), g.leak }, { QStringLiteral("conflict"), g.conflict },
                { QStringLiteral("images"), images } });
    }
    QJsonArray far;
    for (const AuditOutlier &o : outliers)
        far.append(QJsonObject {
            { QStringLiteral("path"), o.path }, { QStringLiteral("score"), o.score } });
    QJsonArray overlaps;
    for (const AuditClassOverlap &o : overlappingClasses)
        overlaps.append(
            QJsonObject { { QStringLiteral("classes"), QJsonArray { o.classA, o.classB } },
                { QStringLiteral("share"), o.share } });
    return QJsonObject {
        { QStringLiteral("images"), images },
        { QStringLiteral("folds"), folds },
        { QStringLiteral("label_issues"), issues },
        { QStringLiteral("duplicates"), groups },
        { QStringLiteral("outliers"), far },
        { QStringLiteral("overlapping_classes"), overlaps },
        { QStringLiteral("source"),
            QJsonObject { { QStringLiteral("train"), source.train },
                { QStringLiteral("val"), source.val }, { QStringLiteral("test"), source.test },
                { QStringLiteral("files"), source.files },
                { QStringLiteral("fingerprint"), source.fingerprint } } },
    };
}

std::optional<AuditReport> AuditReport::fromJson(const QJsonObject &json, QString *error)
{
    QString why;
    JsonReader r { &why };
    AuditReport report;
    const auto fail = [&]() -> std::optional<AuditReport> {
        setError(error, why);
        return std::nullopt;
    };
    const auto images = r.number(json, "images", QString());
    const auto folds = r.number(json, "folds", QString());
    if (!images || !folds)
        return fail();
    report.images = int(*images);
    report.folds = int(*folds);

    const auto issues = r.list(json, "label_issues", QString());
    if (!issues)
        return fail();
    for (int i = 0; i < issues->size(); ++i) {
        const QJsonObject o = issues->at(i).toObject();
        const QString where = entryWhere("label_issues", i);
        AuditLabelIssue issue;
        const auto path = r.string(o, "path", where), given = r.string(o, "given", where),
                   suggested = r.string(o, "suggested", where);
        const auto score = r.number(o, "score", where);
        if (!path || !given || !suggested || !score)
            return fail();
        report.labelIssues.push_back({ *path, *given, *suggested, *score });
    }

    const auto groups = r.list(json, "duplicates", QString());
    if (!groups)
        return fail();
    for (int i = 0; i < groups->size(); ++i) {
        const QJsonObject o = groups->at(i).toObject();
        const QString where = entryWhere("duplicates", i);
        AuditDuplicateGroup g;
        const auto kind = r.string(o, "kind", where);
        if (!kind || !r.has(o, "leak", QJsonValue::Bool, where)
            || !r.has(o, "conflict", QJsonValue::Bool, where))
            return fail();
        if (*kind != QLatin1String("exact") && *kind != QLatin1String("near")) {
            why = where
                % QStringLiteral("\"kind\" is \"%1\", not \"exact\" or \"near\"").arg(*kind);
            return fail();
        }
        g.kind = *kind == QLatin1String("exact") ? AuditDuplicateGroup::Kind::Exact
                                                 : AuditDuplicateGroup::Kind::Near;
        g.leak = o.value(QLatin1String("leak")).toBool();
        g.conflict = o.value(QLatin1String("conflict")).toBool();
        const auto members = r.list(o, "images", where);
        if (!members)
            return fail();
        for (int j = 0; j < members->size(); ++j) {
            const QJsonObject m = members->at(j).toObject();
            const QString at = where % QStringLiteral("images[%1]: ").arg(j);
            const auto path = r.string(m, "path", at), split = r.string(m, "split", at),
                       label = r.string(m, "label", at);
            if (!path || !split || !label)
                return fail();
            const std::optional<AuditSplit> s = splitFromName(*split);
            if (!s) {
                why = at
                    % QStringLiteral("\"split\" is \"%1\", not train, val or test").arg(*split);
                return fail();
            }
            g.images.push_back({ *path, *s, *label });
        }
        report.duplicates.push_back(std::move(g));
    }

    const auto far = r.list(json, "outliers", QString());
    if (!far)
        return fail();
    for (int i = 0; i < far->size(); ++i) {
        const QJsonObject o = far->at(i).toObject();
        const QString where = entryWhere("outliers", i);
        const auto path = r.string(o, "path", where);
        const auto score = r.number(o, "score", where);
        if (!path || !score)
            return fail();
        report.outliers.push_back({ *path, *score });
    }

    const auto overlaps = r.list(json, "overlapping_classes", QString());
    if (!overlaps)
        return fail();
    for (int i = 0; i < overlaps->size(); ++i) {
        const QJsonObject o = overlaps->at(i).toObject();
        const QString where = entryWhere("overlapping_classes", i);
        const auto classes = r.list(o, "classes", where);
        const auto share = classes ? r.number(o, "share", where) : std::nullopt;
        if (!classes || !share)
            return fail();
        if (classes->size() != 2 || !classes->at(0).isString() || !classes->at(1).isString()) {
            why = where % QStringLiteral("\"classes\" is not two class names");
            return fail();
        }
        report.overlappingClasses.push_back(
            { classes->at(0).toString(), classes->at(1).toString(), *share });
    }

    if (!r.has(json, "source", QJsonValue::Object, QString()))
        return fail();
    const QJsonObject s = json.value(QLatin1String("source")).toObject();
    const QString where = QStringLiteral("source: ");
    const auto train = r.string(s, "train", where), val = r.string(s, "val", where),
               test = r.string(s, "test", where), fingerprint = r.string(s, "fingerprint", where);
    const auto files = r.number(s, "files", where);
    if (!train || !val || !test || !fingerprint || !files)
        return fail();
    report.source = { *train, *val, *test, int(*files), *fingerprint };
    return report;
}

bool writeAudit(const QString &auditDir, const AuditReport &report, QString *error)
{
    if (!QDir().mkpath(auditDir)) {
        setError(error, QStringLiteral("cannot create the audit folder %1").arg(auditDir));
        return false;
    }
    const QDir dir(auditDir);
    return writeFile(dir.filePath(kIssuesFile), issuesCsv(report), error)
        && writeFile(dir.filePath(kAuditFile),
            QJsonDocument(report.toJson()).toJson(QJsonDocument::Indented), error);
}

std::optional<AuditReport> readAudit(const QString &auditDir, QString *error)
{
    const QString path = QDir(auditDir).filePath(kAuditFile);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        setError(error,
            QStringLiteral("cannot read %1: %2 (is %3 an audit folder?)")
                .arg(path, file.errorString(), auditDir));
        return std::nullopt;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (!doc.isObject()) {
        setError(error,
            QStringLiteral("%1 is not an audit: %2")
                .arg(path,
                    parseError.error != QJsonParseError::NoError
                        ? parseError.errorString()
                        : QStringLiteral("not an object")));
        return std::nullopt;
    }
    QString why;
    std::optional<AuditReport> report = AuditReport::fromJson(doc.object(), &why);
    if (!report)
        setError(error, QStringLiteral("%1 is not an audit: %2").arg(path, why));
    return report;
}

std::optional<AuditReport> readAuditFor(
    const QString &auditDir, const AuditSource &current, QString *error)
{
    std::optional<AuditReport> report = readAudit(auditDir, error);
    if (!report)
        return std::nullopt;
    const AuditSource &then = report->source;
    const auto folders = [](const AuditSource &s) {
        QStringList parts { s.train };
        if (!s.val.isEmpty())
            parts << QStringLiteral("--val ") % s.val;
        if (!s.test.isEmpty())
            parts << QStringLiteral("--test ") % s.test;
        return parts.join(QLatin1Char(' '));
    };
    if (then.train != current.train || then.val != current.val || then.test != current.test) {
        setError(error,
            QStringLiteral("%1 is the audit of another data set (%2), not of %3; audit this one "
                           "into another folder")
                .arg(auditDir, folders(then), folders(current)));
        return std::nullopt;
    }
    if (then.fingerprint != current.fingerprint) {
        setError(error,
            QStringLiteral("the files of %1 changed since %2 was made (%3 images then, %4 now); "
                           "run the audit again")
                .arg(folders(current), auditDir)
                .arg(then.files)
                .arg(current.files));
        return std::nullopt;
    }
    return report;
}

} // namespace leantune
