#include "dataset/corrections.h"

#include "dataset/datasetindex.h"
#include "metrics/csvtext.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QSaveFile>

#include <algorithm>

namespace leantune {

namespace {

const QStringList kHeader { QStringLiteral("path"), QStringLiteral("action"),
    QStringLiteral("label") };

std::optional<CorrectionAction> actionFromName(const QString &name)
{
    if (name == QLatin1String("relabel"))
        return CorrectionAction::Relabel;
    if (name == QLatin1String("exclude"))
        return CorrectionAction::Exclude;
    if (name == QLatin1String("keep"))
        return CorrectionAction::Keep;
    return std::nullopt;
}

// Why C is not a well-formed decision (its path's form, its label), or empty when it is.
QString malformed(const Correction &c)
{
    const QString &p = c.path;
    if (p.isEmpty())
        return QStringLiteral("the path is empty");
    if (p.startsWith(QLatin1Char('/')) || QDir::isAbsolutePath(p))
        return QStringLiteral("'%1' is absolute; paths are relative to the data folder").arg(p);
    if (p.contains(QLatin1Char('\\')))
        return QStringLiteral("'%1' holds a '\\'; separate folders with '/'").arg(p);
    const QStringList parts = p.split(QLatin1Char('/'));
    for (const QString &part : parts) {
        if (part.isEmpty() || part == QLatin1String(".") || part == QLatin1String(".."))
            return QStringLiteral("'%1' is not a plain relative path (empty, '.' or '..' parts)")
                .arg(p);
        if (part.startsWith(QLatin1Char('.')))
            return QStringLiteral("'%1' is hidden ('%2'); the scan never reads hidden files")
                .arg(p, part);
    }
    if (parts.size() < 2)
        return QStringLiteral("'%1' is not inside a class folder (CLASS/FILE expected)").arg(p);
    if (c.action == CorrectionAction::Relabel) {
        if (c.label.isEmpty())
            return QStringLiteral("relabel needs the new class in the label column");
        if (c.label.contains(QLatin1Char('/')) || c.label.startsWith(QLatin1Char('.')))
            return QStringLiteral("'%1' is not a class folder name").arg(c.label);
    } else if (!c.label.isEmpty()) {
        return QStringLiteral("%1 takes no label (found '%2'); only relabel names a class")
            .arg(correctionActionName(c.action), c.label);
    }
    return {};
}

// Why C does not fit the folder, or empty when it does. EXISTS: whether C.path names a file on
// disk; SCANNED: whether the scan listed it (as an image or an invalid file).
QString misfit(const Correction &c, const QStringList &classes, bool exists, bool scanned)
{
    const QString own = c.path.section(QLatin1Char('/'), 0, 0);
    if (!exists)
        return QStringLiteral(
            "%1 does not exist (moved or deleted?); fix the path or remove the line")
            .arg(c.path);
    if (!scanned || !classes.contains(own))
        return QStringLiteral("%1 is not a file in a class folder of the data set").arg(c.path);
    if (c.action == CorrectionAction::Relabel) {
        if (!classes.contains(c.label))
            return QStringLiteral("class '%1' does not exist (the classes are %2)")
                .arg(c.label, classes.join(QStringLiteral(", ")));
        if (c.label == own)
            return QStringLiteral("%1 is already in class '%2'").arg(c.path, own);
    }
    return {};
}

bool lineError(const QString &file, int line, const QString &why, QString *error)
{
    if (error)
        *error = line > 0 ? QStringLiteral("%1 line %2: %3").arg(file).arg(line).arg(why)
                          : QStringLiteral("%1: %2").arg(file, why);
    return false;
}

// The decisions in the order of their lines (messages name the first bad line).
QVector<Correction> byLine(const QMap<QString, Correction> &map)
{
    QVector<Correction> list(map.begin(), map.end());
    std::stable_sort(list.begin(), list.end(),
        [](const Correction &a, const Correction &b) { return a.line < b.line; });
    return list;
}

bool existsOnDisk(const QString &path)
{
    const QFileInfo info(path);
    return info.exists() || info.isSymLink();
}

} // namespace

QString correctionActionName(CorrectionAction action)
{
    switch (action) {
    case CorrectionAction::Relabel:
        return QStringLiteral("relabel");
    case CorrectionAction::Exclude:
        return QStringLiteral("exclude");
    case CorrectionAction::Keep:
        break;
    }
    return QStringLiteral("keep");
}

QString Corrections::fileName()
{
    return QStringLiteral("leantune-corrections.csv");
}

QString Corrections::filePath(const QString &dataDir)
{
    return QDir(dataDir).filePath(fileName());
}

std::optional<Corrections> Corrections::read(const QString &dataDir, QString *error)
{
    const QString path = filePath(dataDir);
    QFile file(path);
    if (!file.exists() && !QFileInfo(path).isSymLink())
        return Corrections();
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    return parse(file.readAll(), path, error);
}

std::optional<Corrections> Corrections::parse(
    const QByteArray &bytes, const QString &fileName, QString *error)
{
    QByteArray data = bytes;
    if (data.startsWith("\xEF\xBB\xBF")) // a byte-order mark, as spreadsheets write
        data.remove(0, 3);
    const QString text = QString::fromUtf8(data);
    if (text.toUtf8() != data) {
        // The first line that does not decode.
        const QList<QByteArray> lines = data.split('\n');
        for (int i = 0; i < lines.size(); ++i)
            if (QString::fromUtf8(lines[i]).toUtf8() != lines[i]) {
                lineError(fileName, i + 1, QStringLiteral("not UTF-8 text"), error);
                return std::nullopt;
            }
    }
    QVector<CsvRecord> records;
    int badLine = 0;
    QString why;
    if (!parseCsv(text, &records, &badLine, &why)) {
        lineError(fileName, badLine, why, error);
        return std::nullopt;
    }
    Corrections out;
    if (records.isEmpty())
        return out; // an empty file holds no decision
    if (records.front().fields != kHeader) {
        lineError(fileName, records.front().line,
            QStringLiteral("the header must be %1").arg(kHeader.join(QLatin1Char(','))), error);
        return std::nullopt;
    }
    for (int r = 1; r < records.size(); ++r) {
        const CsvRecord &record = records[r];
        if (record.fields.size() == 1 && record.fields.front().isEmpty())
            continue; // a blank line
        if (record.fields.size() != 3) {
            lineError(fileName, record.line,
                QStringLiteral("%1 fields, 3 expected (path,action,label)")
                    .arg(record.fields.size()),
                error);
            return std::nullopt;
        }
        const std::optional<CorrectionAction> action = actionFromName(record.fields[1]);
        if (!action) {
            lineError(fileName, record.line,
                QStringLiteral("unknown action '%1' (relabel, exclude or keep)")
                    .arg(record.fields[1].left(80)),
                error);
            return std::nullopt;
        }
        const Correction c { record.fields[0], *action, record.fields[2], record.line };
        if (const QString bad = malformed(c); !bad.isEmpty()) {
            lineError(fileName, record.line, bad, error);
            return std::nullopt;
        }
        if (const auto it = out.m_byPath.constFind(c.path); it != out.m_byPath.constEnd()) {
            lineError(fileName, record.line,
                QStringLiteral("%1 already has a decision on line %2").arg(c.path).arg(it->line),
                error);
            return std::nullopt;
        }
        out.m_byPath.insert(c.path, c);
    }
    return out;
}

bool Corrections::validate(const QString &dataDir, const QStringList &classes, QString *error) const
{
    const QDir dir(dataDir);
    for (const Correction &c : byLine(m_byPath)) {
        const QString full = dir.filePath(c.path);
        const bool exists = existsOnDisk(full);
        const bool isFile = QFileInfo(full).isFile() || QFileInfo(full).isSymLink();
        if (const QString why = misfit(c, classes, exists, isFile); !why.isEmpty())
            return lineError(filePath(dataDir), c.line, why, error);
    }
    return true;
}

bool Corrections::applyTo(DatasetIndex *index, QString *error) const
{
    if (m_byPath.isEmpty())
        return true;
    const int rootLength = int(index->root.size()) + 1;
    QHash<QString, int> images; // relative path -> position in index->images
    images.reserve(int(index->images.size()));
    for (int i = 0; i < int(index->images.size()); ++i)
        images.insert(index->images[size_t(i)].path.mid(rootLength), i);
    QHash<QString, int> invalid;
    for (int i = 0; i < int(index->invalid.size()); ++i)
        invalid.insert(index->invalid[size_t(i)].path.mid(rootLength), i);

    const QDir dir(index->root);
    for (const Correction &c : byLine(m_byPath)) {
        const bool scanned = images.contains(c.path) || invalid.contains(c.path);
        const bool exists = scanned || existsOnDisk(dir.filePath(c.path));
        QString why = misfit(c, index->classes, exists, scanned);
        if (why.isEmpty())
            continue;
        if (!exists && QFileInfo::exists(dir.filePath(QStringLiteral(".leantune-journal"))))
            why += QStringLiteral(" (if apply-corrections stopped part-way: leantune-cli "
                                  "apply-corrections %1 --undo)")
                       .arg(index->root);
        return lineError(filePath(index->root), c.line, why, error);
    }

    int relabeled = 0, excluded = 0;
    std::vector<char> dropImage(index->images.size(), 0), dropInvalid(index->invalid.size(), 0);
    std::vector<int> newLabel(index->images.size(), -1);
    for (const Correction &c : m_byPath) {
        const auto image = images.constFind(c.path);
        if (c.action == CorrectionAction::Exclude) {
            if (image != images.constEnd())
                dropImage[size_t(*image)] = 1;
            else
                dropInvalid[size_t(invalid.value(c.path))] = 1;
            ++excluded;
        } else if (c.action == CorrectionAction::Relabel && image != images.constEnd()) {
            newLabel[size_t(*image)] = int(index->classes.indexOf(c.label));
            ++relabeled; // an invalid file relabeled stays invalid, and is not counted
        }
    }
    std::vector<ImageEntry> kept;
    kept.reserve(index->images.size());
    for (size_t i = 0; i < index->images.size(); ++i) {
        if (dropImage[i])
            continue;
        kept.push_back(std::move(index->images[i]));
        if (newLabel[i] >= 0)
            kept.back().label = newLabel[i];
    }
    // The scan's order: by class, then path.
    std::sort(kept.begin(), kept.end(), [](const ImageEntry &a, const ImageEntry &b) {
        return a.label != b.label ? a.label < b.label : a.path < b.path;
    });
    index->images = std::move(kept);
    std::vector<InvalidFile> stillInvalid;
    for (size_t i = 0; i < index->invalid.size(); ++i)
        if (!dropInvalid[i])
            stillInvalid.push_back(std::move(index->invalid[i]));
    index->invalid = std::move(stillInvalid);
    index->relabeled = relabeled;
    index->excluded = excluded;
    return true;
}

QByteArray Corrections::toCsv() const
{
    QString text = kHeader.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (const Correction &c : m_byPath)
        text += csvRecord({ c.path, correctionActionName(c.action), c.label }) + QLatin1Char('\n');
    return text.toUtf8();
}

bool Corrections::write(const QString &dataDir, QString *error) const
{
    const QString path = filePath(dataDir);
    QSaveFile file(path);
    const QByteArray bytes = toCsv();
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

int Corrections::count(CorrectionAction action) const
{
    return int(std::count_if(m_byPath.begin(), m_byPath.end(),
        [action](const Correction &c) { return c.action == action; }));
}

QVector<Correction> Corrections::entries() const
{
    return QVector<Correction>(m_byPath.begin(), m_byPath.end());
}

std::optional<Correction> Corrections::find(const QString &path) const
{
    const auto it = m_byPath.constFind(path);
    if (it == m_byPath.constEnd())
        return std::nullopt;
    return *it;
}

bool Corrections::set(
    Correction c, std::optional<Correction> *replaced, QString *error, const QString &dataDir)
{
    if (!dataDir.isEmpty()) {
        const QString relative = relativePath(dataDir, c.path);
        if (relative.isEmpty())
            return lineError(filePath(dataDir), 0,
                QStringLiteral("%1 is not inside the data folder").arg(c.path), error);
        c.path = relative;
    }
    if (const QString bad = malformed(c); !bad.isEmpty())
        return lineError(dataDir.isEmpty() ? fileName() : filePath(dataDir), 0, bad, error);
    if (replaced)
        *replaced = find(c.path);
    c.line = 0;
    m_byPath.insert(c.path, c);
    return true;
}

std::optional<Correction> Corrections::remove(const QString &path)
{
    std::optional<Correction> old = find(path);
    m_byPath.remove(path);
    return old;
}

QString Corrections::relativePath(const QString &dataDir, const QString &path)
{
    if (!QDir::isAbsolutePath(path))
        return QDir::cleanPath(path);
    const QString root = QDir::cleanPath(QDir(dataDir).absolutePath()) + QLatin1Char('/');
    const QString clean = QDir::cleanPath(path);
    if (!clean.startsWith(root))
        return {};
    return clean.mid(root.size());
}

bool recordCorrection(const QString &dataDir, const QStringList &classes, const Correction &c,
    std::optional<Correction> *previous, QString *error)
{
    std::optional<Corrections> all = Corrections::read(dataDir, error);
    if (!all)
        return false;
    Corrections one;
    if (!one.set(c, nullptr, error, dataDir) || !one.validate(dataDir, classes, error))
        return false;
    return all->set(one.entries().front(), previous, error) && all->write(dataDir, error);
}

bool restoreCorrection(const QString &dataDir, const QString &path,
    const std::optional<Correction> &previous, QString *error)
{
    std::optional<Corrections> all = Corrections::read(dataDir, error);
    if (!all)
        return false;
    if (previous) {
        if (!all->set(*previous, nullptr, error, dataDir))
            return false;
    } else {
        all->remove(Corrections::relativePath(dataDir, path));
    }
    return all->write(dataDir, error);
}

} // namespace leantune
