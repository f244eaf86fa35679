#pragma once
// For widget test suites: keep a picture of what a test drove, to look at it.

#include <QDir>
#include <QString>
#include <QWidget>

namespace leantune::guitestdata {

// With LEANTUNE_SCREENSHOT_DIR set, saves WIDGET there as NAME.png; false when that fails. Without
// it, does nothing.
inline bool saveScreenshot(QWidget *widget, const char *name)
{
    const QString dir = qEnvironmentVariable("LEANTUNE_SCREENSHOT_DIR");
    if (dir.isEmpty())
        return true;
    QDir().mkpath(dir);
    return widget->grab().save(QDir(dir).filePath(QLatin1String(name) + QStringLiteral(".png")));
}

} // namespace leantune::guitestdata
