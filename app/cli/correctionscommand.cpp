// apply-corrections: moves the files of a data folder as its leantune-corrections.csv says, with a
// write-ahead journal that --undo reads to put every file back.
//
// The journal, DIR/.leantune-journal, is JSON lines, one segment per apply:
//   {"op":"begin","corrections":TEXT}       the corrections file before the apply
//   {"op":"mkdir","path":P}                 a folder the apply is about to create
//   {"op":"move","from":A,"to":B}           a rename the apply is about to make
//   {"op":"rewrite","text":TEXT}            the corrections file the apply is about to write
//   {"op":"done"}
// Each record is fsynced before the step it announces, so after a kill at any point the journal
// names every step that may have happened. --undo reverses the last segment: a move is taken back
// when its file is at B and not at A (a rename is atomic: it is at one of them), created folders
// are removed when empty, and the corrections file gets back the text of "begin" (the decisions
// recorded since the apply are kept, except those on files the undo moves back). Undo checks
// everything before it moves a file and may be run again after it was interrupted itself.
//
// Test hook: LEANTUNE_TEST_KILL_AFTER_MOVES=N makes apply-corrections kill itself with SIGKILL
// right after its Nth rename (tst_corrections uses it to stop mid-way deterministically).

#include "clicommon.h"

#include "dataset/corrections.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QSet>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace leantune::cli {

namespace {

const QString kJournal = QStringLiteral(".leantune-journal");
const QString kExcluded = QStringLiteral(".excluded");

struct Move {
    QString from, to; // relative to the data folder
};

// One apply, as the journal recorded it.
struct Segment {
    int firstLine = 0; // where its "begin" is (from 1)
    std::optional<QString> before; // the corrections file before it; nullopt: there was none
    std::optional<QString> written; // the corrections file it wrote (or was about to)
    QStringList createdFolders;
    QVector<Move> moves;
    bool done = false;
};

struct JournalFile {
    QVector<Segment> segments;
    QByteArray keptBytes; // the journal up to the last segment (what undo leaves)
};

QString journalPath(const QString &dir)
{
    return QDir(dir).filePath(kJournal);
}

bool exists(const QString &path)
{
    struct stat st;
    return ::lstat(QFile::encodeName(path).constData(), &st) == 0;
}

// Reads DIR's journal. A last line without its line end was being written when the process died
// (its step never happened) and is ignored; any other line that does not parse fails.
std::optional<JournalFile> readJournal(const QString &dir, QString *error)
{
    const QString path = journalPath(dir);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    const QByteArray bytes = file.readAll();
    JournalFile out;
    qsizetype pos = 0;
    int line = 0;
    while (pos < bytes.size()) {
        const qsizetype end = bytes.indexOf('\n', pos);
        if (end < 0)
            break; // torn: its step was never taken
        ++line;
        const QByteArray text = bytes.mid(pos, end - pos);
        const QJsonObject o = QJsonDocument::fromJson(text).object();
        const QString op = o.value(QLatin1String("op")).toString();
        const auto bad = [&] {
            *error = QStringLiteral("%1 line %2: not a journal record").arg(path).arg(line);
            return std::nullopt;
        };
        if (op == QLatin1String("begin")) {
            out.keptBytes = bytes.left(pos);
            Segment s;
            s.firstLine = line;
            const QJsonValue v = o.value(QLatin1String("corrections"));
            if (v.isString())
                s.before = v.toString();
            out.segments.push_back(s);
        } else if (out.segments.isEmpty() || out.segments.back().done) {
            return bad();
        } else if (op == QLatin1String("mkdir")) {
            out.segments.back().createdFolders << o.value(QLatin1String("path")).toString();
        } else if (op == QLatin1String("move")) {
            const Move m { o.value(QLatin1String("from")).toString(),
                o.value(QLatin1String("to")).toString() };
            if (m.from.isEmpty() || m.to.isEmpty())
                return bad();
            out.segments.back().moves.push_back(m);
        } else if (op == QLatin1String("rewrite")) {
            out.segments.back().written = o.value(QLatin1String("text")).toString();
        } else if (op == QLatin1String("done")) {
            out.segments.back().done = true;
        } else {
            return bad();
        }
        pos = end + 1;
    }
    return out;
}

// Appends records to the journal, each synced to disk before append() returns.
class JournalWriter {
public:
    ~JournalWriter()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    bool open(const QString &dir, QString *error)
    {
        m_path = journalPath(dir);
        const bool created = !exists(m_path);
        m_fd = ::open(
            QFile::encodeName(m_path).constData(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (m_fd < 0) {
            *error = QStringLiteral("cannot write %1: %2")
                         .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
        if (created) // the journal's own name survives a crash too
            syncFolder(dir);
        return true;
    }
    bool append(const QJsonObject &record, QString *error)
    {
        const QByteArray line = QJsonDocument(record).toJson(QJsonDocument::Compact) + '\n';
        if (::write(m_fd, line.constData(), size_t(line.size())) != line.size()
            || ::fsync(m_fd) != 0) {
            *error = QStringLiteral("cannot write %1: %2")
                         .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
        return true;
    }
    static void syncFolder(const QString &dir)
    {
        const int fd
            = ::open(QFile::encodeName(dir).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            ::fsync(fd);
            ::close(fd);
        }
    }

private:
    QString m_path;
    int m_fd = -1;
};

bool renamePath(const QString &from, const QString &to, QString *why)
{
    if (::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) == 0)
        return true;
    *why = QString::fromLocal8Bit(std::strerror(errno));
    return false;
}

// Reads the corrections file's bytes as text (nullopt when there is none).
std::optional<QString> correctionsText(const QString &dir)
{
    QFile file(Corrections::filePath(dir));
    if (!file.open(QIODevice::ReadOnly))
        return std::nullopt;
    return QString::fromUtf8(file.readAll());
}

bool writeText(const QString &path, const QString &text, QString *error)
{
    QSaveFile file(path);
    const QByteArray bytes = text.toUtf8();
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

struct UndoResult {
    int restored = 0; // files moved back
    QStringList dropped; // decisions recorded since the apply on files that moved back
};

// Reverses SEGMENT (the journal's last) in DIR. Checks every move first: nothing moves when one
// cannot be taken back. Then leaves the journal without the segment (KEPT: the bytes before it).
bool undoSegment(const QString &dir, const Segment &segment, const QByteArray &kept,
    UndoResult *result, QString *error)
{
    const QDir root(dir);
    QVector<Move> back;
    for (int i = int(segment.moves.size()) - 1; i >= 0; --i) {
        const Move &m = segment.moves[i];
        const bool atFrom = exists(root.filePath(m.from));
        const bool atTo = exists(root.filePath(m.to));
        if (atFrom && atTo) {
            *error
                = QStringLiteral("both %1 and %2 exist; move one of them away and run --undo again")
                      .arg(m.from, m.to);
            return false;
        }
        if (!atFrom && !atTo) {
            *error
                = QStringLiteral("%1, moved to %2 by apply-corrections, is at neither place; put "
                                 "it at %2 and run --undo again")
                      .arg(m.from, m.to);
            return false;
        }
        if (atTo)
            back.push_back(m);
    }
    // The corrections file: the text before the apply; decisions recorded since are kept unless
    // they name a file that moves back. Parsed first, so a broken file stops the undo here.
    const QString correctionsPath = Corrections::filePath(dir);
    const std::optional<QString> now = correctionsText(dir);
    std::optional<Corrections> merged;
    const bool untouched = !now || now == segment.before || now == segment.written;
    if (!untouched && segment.before) {
        std::optional<Corrections> current
            = Corrections::parse(now->toUtf8(), correctionsPath, error);
        if (!current)
            return false;
        merged = Corrections::parse(segment.before->toUtf8(), correctionsPath, error);
        if (!merged)
            return false;
        QSet<QString> movedBack;
        for (const Move &m : segment.moves)
            movedBack << m.to;
        const QByteArray beforeDecisions = merged->toCsv();
        for (const Correction &c : current->entries()) {
            if (movedBack.contains(c.path))
                result->dropped << c.path;
            else if (!merged->set(c, nullptr, error))
                return false;
        }
        if (merged->toCsv() == beforeDecisions)
            merged.reset(); // the same decisions: the text before, byte for byte
    }

    for (const Move &m : back) {
        QString why;
        if (!renamePath(root.filePath(m.to), root.filePath(m.from), &why)) {
            *error = QStringLiteral("cannot move %1 back to %2: %3 (%4 files are back; fix it and "
                                    "run --undo again)")
                         .arg(m.to, m.from, why)
                         .arg(result->restored);
            return false;
        }
        ++result->restored;
    }
    for (int i = int(segment.createdFolders.size()) - 1; i >= 0; --i)
        root.rmdir(segment.createdFolders[i]); // only when empty: a file put there stays
    JournalWriter::syncFolder(dir);

    if (merged) {
        if (!merged->write(dir, error))
            return false;
    } else if (segment.before) {
        if ((!now || *now != *segment.before)
            && !writeText(correctionsPath, *segment.before, error))
            return false;
    } else if (now && !QFile::remove(correctionsPath)) {
        *error = QStringLiteral("cannot remove %1").arg(correctionsPath);
        return false;
    }

    const QString journal = journalPath(dir);
    if (kept.isEmpty()) {
        if (!QFile::remove(journal)) {
            *error = QStringLiteral("cannot remove %1").arg(journal);
            return false;
        }
        return true;
    }
    return writeText(journal, QString::fromUtf8(kept), error);
}

// The class folders of DIR as the scan sees them: visible sub-folders (linked ones too).
QStringList classFolders(const QString &dir)
{
    return QDir(dir).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
}

int applyCorrections(const QString &dir, bool json)
{
    QString error;
    const QDir root(dir);
    if (!QFileInfo(dir).isDir())
        return fail(QStringLiteral("no such folder: %1").arg(dir));
    if (exists(journalPath(dir))) {
        const std::optional<JournalFile> journal = readJournal(dir, &error);
        if (!journal)
            return fail(error);
        if (!journal->segments.isEmpty() && !journal->segments.back().done)
            return fail(QStringLiteral("an earlier apply-corrections of %1 stopped part-way; run "
                                       "'leantune-cli apply-corrections %1 --undo' first")
                            .arg(dir));
    }
    const std::optional<QString> before = correctionsText(dir);
    std::optional<Corrections> corrections = Corrections::read(dir, &error);
    if (!corrections)
        return fail(error);
    if (!corrections->validate(dir, classFolders(dir), &error))
        return fail(error);

    // The plan, checked whole before anything moves.
    QVector<Move> moves;
    QStringList folders; // to create, parents first
    QSet<QString> targets;
    int relabeled = 0, excluded = 0;
    for (const Correction &c : corrections->entries()) {
        Move m { c.path, {} };
        if (c.action == CorrectionAction::Relabel) {
            m.to = c.label + QLatin1Char('/') + c.path.section(QLatin1Char('/'), -1);
            ++relabeled;
        } else if (c.action == CorrectionAction::Exclude) {
            m.to = kExcluded + QLatin1Char('/') + c.path;
            ++excluded;
        } else {
            continue;
        }
        if (exists(root.filePath(m.to)) || targets.contains(m.to))
            return fail(
                QStringLiteral("%1 line %2: cannot move %3 to %4: %4 %5; rename one of "
                               "them (nothing was moved)")
                    .arg(Corrections::filePath(dir))
                    .arg(c.line)
                    .arg(m.from, m.to,
                        targets.contains(m.to) ? QStringLiteral("is the target of another line")
                                               : QStringLiteral("exists")));
        targets << m.to;
        // The folders to create, and the file system: a rename cannot cross one.
        QString parent = QFileInfo(m.to).path();
        QStringList missing;
        while (parent != QLatin1String(".") && !exists(root.filePath(parent))) {
            missing.prepend(parent);
            parent = QFileInfo(parent).path();
        }
        for (const QString &f : missing)
            if (!folders.contains(f))
                folders << f;
        struct stat src, dst;
        const QString existing = parent == QLatin1String(".") ? dir : root.filePath(parent);
        if (::stat(QFile::encodeName(QFileInfo(root.filePath(m.from)).absolutePath()).constData(),
                &src)
                == 0
            && ::stat(QFile::encodeName(existing).constData(), &dst) == 0
            && src.st_dev != dst.st_dev)
            return fail(QStringLiteral("%1 line %2: %3 is on another file system than %4; move it "
                                       "into the data folder first (nothing was moved)")
                            .arg(Corrections::filePath(dir))
                            .arg(c.line)
                            .arg(m.from, m.to));
        moves.push_back(m);
    }
    if (moves.isEmpty()) {
        if (json)
            printOut(jsonLine({ { QStringLiteral("moved"), 0 } }));
        else
            printOut(QStringLiteral("nothing to apply: %1 has no relabel or exclude decision\n")
                         .arg(Corrections::filePath(dir)));
        return Ok;
    }

    const int killAfter = qEnvironmentVariableIntValue("LEANTUNE_TEST_KILL_AFTER_MOVES");
    JournalWriter journal;
    if (!journal.open(dir, &error)
        || !journal.append(
            { { QStringLiteral("op"), QStringLiteral("begin") },
                { QStringLiteral("corrections"), before ? QJsonValue(*before) : QJsonValue() } },
            &error))
        return fail(error);
    // A step that fails part-way takes back what this apply did, then reports.
    const auto rollBack = [&](const QString &why) {
        QString undoError;
        const std::optional<JournalFile> written = readJournal(dir, &undoError);
        UndoResult undone;
        if (!written || written->segments.isEmpty()
            || !undoSegment(dir, written->segments.back(), written->keptBytes, &undone, &undoError))
            return fail(QStringLiteral("%1; putting the files back failed too: %2 (run "
                                       "'leantune-cli apply-corrections %3 --undo')")
                            .arg(why, undoError, dir));
        return fail(QStringLiteral("%1 (nothing was changed)").arg(why));
    };
    for (const QString &f : folders) {
        if (!journal.append({ { QStringLiteral("op"), QStringLiteral("mkdir") },
                                { QStringLiteral("path"), f } },
                &error))
            return rollBack(error);
        if (!root.mkdir(f))
            return rollBack(QStringLiteral("cannot create the folder %1").arg(root.filePath(f)));
    }
    int moved = 0;
    for (const Move &m : moves) {
        if (!journal.append(
                { { QStringLiteral("op"), QStringLiteral("move") },
                    { QStringLiteral("from"), m.from }, { QStringLiteral("to"), m.to } },
                &error))
            return rollBack(error);
        QString why;
        if (!renamePath(root.filePath(m.from), root.filePath(m.to), &why))
            return rollBack(QStringLiteral("cannot move %1 to %2: %3").arg(m.from, m.to, why));
        if (++moved == killAfter)
            std::raise(SIGKILL); // the test hook (see the top of this file)
    }
    JournalWriter::syncFolder(dir);

    // The moved decisions are what the folder now says; the keep decisions stay.
    Corrections remaining = *corrections;
    for (const Move &m : moves)
        remaining.remove(m.from);
    const QString written = QString::fromUtf8(remaining.toCsv());
    if (!journal.append({ { QStringLiteral("op"), QStringLiteral("rewrite") },
                            { QStringLiteral("text"), written } },
            &error)
        || !remaining.write(dir, &error))
        return rollBack(error);
    if (!journal.append({ { QStringLiteral("op"), QStringLiteral("done") } }, &error))
        return rollBack(error);

    if (json) {
        printOut(jsonLine({ { QStringLiteral("moved"), moved },
            { QStringLiteral("relabeled"), relabeled }, { QStringLiteral("excluded"), excluded },
            { QStringLiteral("journal"), journalPath(dir) } }));
    } else {
        printOut(QStringLiteral("moved %1 relabeled files into their class folders and %2 excluded "
                                "files into %3; %4 keeps %5 keep decisions. "
                                "'leantune-cli apply-corrections %6 --undo' puts them back.\n")
                     .arg(relabeled)
                     .arg(excluded)
                     .arg(root.filePath(kExcluded), Corrections::fileName())
                     .arg(remaining.size())
                     .arg(dir));
    }
    return Ok;
}

int undoCorrections(const QString &dir, bool json)
{
    QString error;
    if (!exists(journalPath(dir)))
        return fail(QStringLiteral("nothing to undo: %1 has no %2 (apply-corrections writes it)")
                        .arg(dir, kJournal));
    const std::optional<JournalFile> journal = readJournal(dir, &error);
    if (!journal)
        return fail(error);
    if (journal->segments.isEmpty()) {
        QFile::remove(journalPath(dir)); // only a torn first record: nothing happened
        return fail(QStringLiteral("nothing to undo in %1").arg(journalPath(dir)));
    }
    UndoResult result;
    if (!undoSegment(dir, journal->segments.back(), journal->keptBytes, &result, &error))
        return fail(error);
    if (json) {
        printOut(jsonLine({ { QStringLiteral("restored"), result.restored },
            { QStringLiteral("dropped_decisions"), QJsonValue::fromVariant(result.dropped) } }));
    } else {
        QString text = QStringLiteral("put %1 files back where they were and restored %2\n")
                           .arg(result.restored)
                           .arg(Corrections::fileName());
        if (!result.dropped.isEmpty())
            text += QStringLiteral("dropped the decisions recorded since on files that moved back: "
                                   "%1\n")
                        .arg(result.dropped.join(QStringLiteral(", ")));
        printOut(text);
    }
    return Ok;
}

} // namespace

int correctionsCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Move the files of a data folder as its leantune-corrections.csv says: relabeled files "
        "into their new class folder, excluded files into DIR/.excluded/CLASS/. Nothing moves when "
        "a decision does not fit the folder or a file would overwrite another. Every move is "
        "journaled (DIR/.leantune-journal) first, so --undo puts every file back, also after the "
        "program was killed part-way. The applied decisions leave the corrections file (the "
        "folders now say them); --undo restores it."));
    parser.addPositionalArgument(QStringLiteral("DIR"), QStringLiteral("The data folder."));
    const QCommandLineOption undo(QStringLiteral("undo"),
        QStringLiteral("Take back the last apply-corrections (or the part of it that happened)."));
    const QCommandLineOption json(
        QStringLiteral("json"), QStringLiteral("Print the result as JSON."));
    parser.addOption(undo);
    parser.addOption(json);
    if (const auto code = parseArguments(parser, QStringLiteral("apply-corrections"),
            QStringLiteral("DIR [--undo] [--json]"), args))
        return *code;
    if (parser.positionalArguments().size() != 1)
        return fail(QStringLiteral("apply-corrections takes exactly one folder (see 'leantune-cli "
                                   "apply-corrections --help')"),
            Usage);
    const QString dir = QDir::cleanPath(parser.positionalArguments().first());
    return parser.isSet(undo) ? undoCorrections(dir, parser.isSet(json))
                              : applyCorrections(dir, parser.isSet(json));
}

} // namespace leantune::cli
