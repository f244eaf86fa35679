#pragma once
// Private header (includes torch): checkpoint files of a run.

#include <torch/torch.h>

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <vector>

namespace leantune {

// Where a run stands; everything besides tensors that resuming needs.
struct CheckpointState {
    std::int64_t step = 0; // optimizer steps taken
    int epoch = 0; // epoch to continue in (0-based)
    std::int64_t batchInEpoch = 0; // first batch of `epoch` not yet trained
    double targetSparsity = 0.0;
    std::int64_t images = 0; // training images seen
};

// Writes BYTES to PATH atomically (QSaveFile: temp file + rename), prefixed with a header carrying
// the payload size and SHA-256, so a torn or corrupted file is never taken for a valid one.
bool writeCheckedFile(const QString &path, const QByteArray &payload, QString *error);
// Reads a file written by writeCheckedFile; std::nullopt + *error when missing, truncated or
// corrupt.
std::optional<QByteArray> readCheckedFile(const QString &path, QString *error);

// Serializes a module's parameters and buffers (torch archive bytes) and loads them back into a
// module of the same architecture. A non-empty DESCRIPTION (UTF-8, e.g. the run's config.json) is
// stored beside them under kDescriptionKey, which makes the archive self-describing; module loading
// ignores it. Every archive is read as data (loadLibTorchArchive): nothing in a file runs.
inline constexpr const char *kDescriptionKey = "leantune_description";
QByteArray serializeModule(const torch::nn::Module &module, const QByteArray &description = {});
bool loadModule(torch::nn::Module &module, QByteArray bytes, QString *error);
bool loadModule(torch::nn::Module &module, torch::serialize::InputArchive &archive, QString *error);
// Reads archive BYTES into ARCHIVE; false + *error (one line) when they are no archive or are
// refused (see loadLibTorchArchive). Bytes moved in are freed as soon as their tensors are read.
bool readArchive(QByteArray bytes, torch::serialize::InputArchive &archive, QString *error);
// The description stored by serializeModule; empty when there is none (or BYTES is no archive).
QByteArray archiveDescription(const QByteArray &bytes);
QByteArray archiveDescription(torch::serialize::InputArchive &archive);

// A checkpoint's archive bytes (what saveCheckpoint writes after its header); throws what torch
// throws. The memory planner measures its peak: the checkpoint write is part of a run's peak.
QByteArray checkpointBytes(const torch::nn::Module &model, const torch::optim::Optimizer &optimizer,
    const std::vector<torch::Tensor> &masks, const CheckpointState &state);
bool saveCheckpoint(const QString &path, const torch::nn::Module &model,
    const torch::optim::Optimizer &optimizer, const std::vector<torch::Tensor> &masks,
    const CheckpointState &state, QString *error);
bool loadCheckpoint(const QString &path, torch::nn::Module &model,
    torch::optim::Optimizer &optimizer, std::vector<torch::Tensor> *masks, CheckpointState *state,
    QString *error);

// Checkpoint files in DIR, newest (highest step) first.
QStringList listCheckpoints(const QString &dir);
QString checkpointFileName(std::int64_t step);
// Deletes all but the newest KEEP checkpoints in DIR.
void pruneOldCheckpoints(const QString &dir, int keep);

} // namespace leantune

namespace leantune {
// Loads only the model weights of a checkpoint (for evaluation and export).
bool loadCheckpointModel(const QString &path, torch::nn::Module &model, QString *error);
} // namespace leantune
