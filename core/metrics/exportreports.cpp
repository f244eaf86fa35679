#include "metrics/exportreports.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QObject>
#include <QSaveFile>

namespace leantune {

QString exportReportsDir(const QString &runDir)
{
    return QDir(runDir).filePath(QStringLiteral("exports"));
}

QList<QJsonObject> readExportReports(const QString &runDir, QStringList *problems)
{
    QList<QJsonObject> reports;
    const QDir dir(exportReportsDir(runDir));
    for (const QString &name :
        dir.entryList({ QStringLiteral("*.json") }, QDir::Files | QDir::Readable, QDir::Name)) {
        QFile file(dir.filePath(name));
        QJsonParseError parse;
        const QJsonDocument doc = file.open(QIODevice::ReadOnly)
            ? QJsonDocument::fromJson(file.readAll(), &parse)
            : QJsonDocument();
        const QJsonObject o = doc.object();
        if (o.contains(QLatin1String("out")) && o.value(QLatin1String("size")).isObject())
            reports.append(o);
        else if (problems)
            problems->append(QObject::tr("%1 is not an export report").arg(name));
    }
    return reports;
}

bool saveExportReport(const QString &runDir, const QJsonObject &report, QString *error)
{
    const QString dir = exportReportsDir(runDir);
    const QString name = QFileInfo(report.value(QLatin1String("out")).toString()).fileName();
    QSaveFile file(QDir(dir).filePath(name + QStringLiteral(".json")));
    const bool ok = !name.isEmpty() && QDir().mkpath(dir) && file.open(QIODevice::WriteOnly)
        && file.write(QJsonDocument(report).toJson()) >= 0 && file.commit();
    if (!ok && error)
        *error = name.isEmpty() ? QObject::tr("the report names no exported file")
                                : QObject::tr("cannot write the export report to %1: %2")
                                      .arg(QDir::toNativeSeparators(dir), file.errorString());
    return ok;
}

} // namespace leantune
