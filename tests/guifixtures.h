#pragma once
// Shared by the widget suites: settings and run history kept in a temporary folder, and small image
// folders with a run trained on them by leantune-cli.

#include "clirunner.h"
#include "guitestdata.h"

#include <QCoreApplication>
#include <QDir>
#include <QString>
#include <QTemporaryDir>

#include <optional>

namespace leantune::guitestdata {

// Points the settings (XDG_CONFIG_HOME, the application's names) and the data folder
// (LEANTUNE_DATA_DIR: the run history) into DIR, so that a suite never reads or writes the user's.
// Call it before the first window or QSettings.
inline void isolateSettings(
    const QTemporaryDir &dir, const QString &application = QStringLiteral("LeanTuneTest"))
{
    qputenv("XDG_CONFIG_HOME", dir.filePath(QStringLiteral("config")).toUtf8());
    qputenv("LEANTUNE_DATA_DIR", dir.filePath(QStringLiteral("userdata")).toUtf8());
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTuneTest"));
    QCoreApplication::setApplicationName(application);
}

// Image folders and a run trained on them, for the views that show a run's model and predictions.
struct TinyRun {
    QString train; // 3 classes class0..class2
    QString test; // the same classes, the run's test set
    QString two; // 2 classes: another data set
    QString run; // one epoch of the default model on 16 px images, tested on TEST
};

// Writes "train", "test" and "two" under ROOT with TRAIN, TEST and TWO images a class, and trains
// "run" on them by leantune-cli (CPU, one thread, outside the run history): a run folder with its
// model, config.json and predictions.csv. std::nullopt + *error (train's stderr) when it fails.
inline std::optional<TinyRun> makeTinyRun(
    const QString &root, int train, int test, int two, QString *error)
{
    const QDir dir(root);
    const TinyRun made { dir.filePath(QStringLiteral("train")),
        dir.filePath(QStringLiteral("test")), dir.filePath(QStringLiteral("two")),
        dir.filePath(QStringLiteral("run")) };
    writeImageFolder(made.train, 3, train, 16, 1);
    writeImageFolder(made.test, 3, test, 16, 2);
    writeImageFolder(made.two, 2, two, 16, 3);
    const testcli::Result r = testcli::runCli(
        { QStringLiteral("train"), QStringLiteral("--data"), made.train, QStringLiteral("--test"),
            made.test, QStringLiteral("--out"), made.run, QStringLiteral("--input-size"),
            QStringLiteral("16"), QStringLiteral("--epochs"), QStringLiteral("1"),
            QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--device"),
            QStringLiteral("cpu"), QStringLiteral("--threads"), QStringLiteral("1"),
            QStringLiteral("--no-history"), QStringLiteral("--progress"), QStringLiteral("none") });
    if (r.exitCode != 0) {
        *error = r.err;
        return std::nullopt;
    }
    return made;
}

} // namespace leantune::guitestdata
