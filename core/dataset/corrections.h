#pragma once
// The user's decisions about single images of a data folder, kept in a plain, diffable file in that
// folder: DATADIR/leantune-corrections.csv (torch-free).
//
// File format (the house CSV dialect, metrics/csvtext.h), header first:
//   path,action,label
//   cat/0001.png,relabel,dog      the image is counted under class dog
//   cat/0002.png,exclude,         the image is left out
//   dog/0003.png,keep,            reviewed: the label is right (the audit no longer reports it)
// path is relative to the data folder, '/'-separated, inside a class folder, with no '.', '..' or
// hidden component; one decision per path; label is the new class for relabel and empty otherwise.
// Files are written sorted by path, so two files with the same decisions are the same bytes.
//
// The scan applies the file (ScanOptions::applyCorrections): nothing on disk moves until
// `leantune-cli apply-corrections DIR` moves the files (app/cli/correctionscommand.cpp).

#include <QByteArray>
#include <QMap>
#include <QString>
#include <QStringList>
#include <QVector>

#include <optional>

namespace leantune {

struct DatasetIndex;

enum class CorrectionAction { Relabel, Exclude, Keep };
QString correctionActionName(CorrectionAction action); // "relabel", "exclude", "keep"

struct Correction {
    QString path; // relative to the data folder: "cat/0001.png"
    CorrectionAction action = CorrectionAction::Keep;
    QString label; // Relabel: the new class; empty for Exclude and Keep
    int line = 0; // the line it was read from (for messages); 0 when not read from a file
};

// A set of decisions, at most one per path. A plain copyable value.
class Corrections {
public:
    static QString fileName(); // "leantune-corrections.csv"
    static QString filePath(const QString &dataDir);

    // Reads DATADIR's file; an empty set when there is none. std::nullopt + *error ("FILE line N:
    // why") for a file that does not parse: not UTF-8, a wrong header, a line without three fields,
    // an unknown action, a label where none belongs or none where one does, a path that is
    // absolute, outside a class folder or hidden, or a path named twice. Checks the syntax only:
    // validate() and applyTo() check the decisions against the folder.
    static std::optional<Corrections> read(const QString &dataDir, QString *error);
    // The same for BYTES; FILENAME names the file in messages.
    static std::optional<Corrections> parse(
        const QByteArray &bytes, const QString &fileName, QString *error);

    // Whether every decision fits the folder: its file exists and lies in one of CLASSES' folders,
    // and a relabel names one of CLASSES other than the file's own. False + *error naming FILE and
    // the decision's line (the first one, by line, that does not fit).
    bool validate(const QString &dataDir, const QStringList &classes, QString *error) const;
    // Validates the decisions against INDEX (a scan of its root) as validate() does, then counts
    // relabeled images under their new class and drops excluded images (and excluded invalid
    // files); sets INDEX's relabeled and excluded counts. INDEX is unchanged on error.
    bool applyTo(DatasetIndex *index, QString *error) const;

    // The file's text: the header and one line per decision, sorted by path.
    QByteArray toCsv() const;
    // Writes toCsv() to DATADIR's file atomically (QSaveFile): the old file or the new one, never
    // half of one. False + *error when it cannot be written.
    bool write(const QString &dataDir, QString *error) const;

    bool isEmpty() const { return m_byPath.isEmpty(); }
    int size() const { return int(m_byPath.size()); }
    int count(CorrectionAction action) const;
    QVector<Correction> entries() const; // sorted by path
    std::optional<Correction> find(const QString &path) const;
    // Adds C, or replaces the decision for its path; *replaced gets the decision it replaced
    // (std::nullopt when none). False + *error, and nothing changes, when C is malformed (as
    // read() would refuse it). C.path may also be absolute inside DATADIR when DATADIR is given.
    bool set(Correction c, std::optional<Correction> *replaced, QString *error,
        const QString &dataDir = QString());
    // Removes PATH's decision and returns it (std::nullopt when there was none).
    std::optional<Correction> remove(const QString &path);

    // PATH relative to DATADIR in the file's form ("cat/0001.png"): from an absolute path inside
    // DATADIR, or a relative one; empty when PATH lies outside DATADIR.
    static QString relativePath(const QString &dataDir, const QString &path);

private:
    QMap<QString, Correction> m_byPath;
};

// The review's calls (the GUI records each decision at once and can take it back):
// Reads DATADIR's file, checks C against the folder and CLASSES (as validate() does), sets it and
// writes the file. *previous gets the decision it replaced (std::nullopt: none), for undo. False +
// *error, and the file is unchanged, when the file does not parse or C does not fit.
bool recordCorrection(const QString &dataDir, const QStringList &classes, const Correction &c,
    std::optional<Correction> *previous, QString *error);
// Undo of recordCorrection: puts PREVIOUS back as PATH's decision, or removes PATH's decision when
// PREVIOUS is std::nullopt, and writes the file.
bool restoreCorrection(const QString &dataDir, const QString &path,
    const std::optional<Correction> &previous, QString *error);

} // namespace leantune
