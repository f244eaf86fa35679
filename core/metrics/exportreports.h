#pragma once

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

namespace leantune {

// Where a run keeps the reports of its exports (ExportReport::toJson(), the JSON `leantune-cli
// export --json` prints), one file each, so that the exports chart finds them all. Torch-free.

// RUNDIR/exports
QString exportReportsDir(const QString &runDir);
// Every *.json in exportReportsDir(RUNDIR) that holds an export report (an object with "out" and
// "size"), sorted by file name. Unreadable files and other JSON are skipped with a line each in
// *PROBLEMS.
QList<QJsonObject> readExportReports(const QString &runDir, QStringList *problems = nullptr);
// Writes REPORT to exportReportsDir(RUNDIR)/<exported file's name>.json (atomically; an export of
// the same file name replaces it). False + a one-line message in *ERROR when it cannot.
bool saveExportReport(const QString &runDir, const QJsonObject &report, QString *error);

} // namespace leantune
