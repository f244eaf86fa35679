#pragma once
// Private header (includes torch).

#include "dataset/imagedecoder_p.h"
#include "model/modelzoo_p.h"
#include "train/rundir.h"

#include <memory>

namespace leantune {

// The decode settings a run trains (augment = true) or evaluates (false) with.
DecodeOptions decodeOptionsFor(const RunConfig &config, bool augment);

// Builds the run's model and loads its weights: model.pt, else the newest valid checkpoint.
std::shared_ptr<ClassifierImpl> loadRunModel(const RunInfo &run, QString *error);

// Loads a LibTorch archive written by `export --format libtorch` (BYTES, read from SOURCE): the
// model and, into *RUN, the run description stored in it.
std::shared_ptr<ClassifierImpl> loadExportedModel(
    QByteArray bytes, const QString &source, RunInfo *run, QString *error);

} // namespace leantune
