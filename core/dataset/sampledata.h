#pragma once

#include <QString>

#include <functional>
#include <optional>

namespace leantune {

// The embedded default data set: Fashion-MNIST from Debian's dataset-fashion-mnist package,
// imported on first use into the user's data folder as PNG class folders.
struct SampleDataset {
    QString trainDir; // 60 000 images, 10 classes
    QString testDir; // 10 000 images
};

// Where Debian installs the IDX files.
QString fashionMnistIdxDir();
// The user's data folder (QStandardPaths::AppDataLocation, or $LEANTUNE_DATA_DIR when set).
QString userDataDir();

// Imports the sample when it is not there yet (a stamp file marks a complete import, so an
// interrupted one is redone). std::nullopt + *error when the IDX files are missing or the import
// fails.
std::optional<SampleDataset> ensureSampleDataset(QString *error,
    const std::function<void(const QString &stage, int done, int total)> &progress = {});

} // namespace leantune
