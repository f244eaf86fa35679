#pragma once
// Private header (includes torch): LibTorch archives read as data.

#include <torch/torch.h>

#include <QByteArray>
#include <QString>

namespace leantune {

// Loads BYTES, a LibTorch archive written by torch::serialize::OutputArchive (a run's model.pt, a
// checkpoint, an export), into ARCHIVE without running anything from it: its data.pkl goes
// through the restricted unpickler (unpickleModuleArchive) and its data/N records through
// ZipRecords' bounds, the values are written into a fresh OutputArchive, and ARCHIVE loads those
// bytes, which hold only classes OutputArchive generated (no methods). The file's own code/ is
// never read, so a crafted __setstate__ or method cannot run. False + *error (one line) when
// the bytes are no such archive or are refused. BYTES moved in are freed once their tensors are
// read, so the peak is about what torch::jit::load of the same bytes took.
bool loadLibTorchArchive(QByteArray bytes, torch::serialize::InputArchive &archive, QString *error);

// Whether the zip archive at PATH is a LibTorch archive (it has constants.pkl, which a torch.save()
// of a state_dict has not). False for anything unreadable.
bool isLibTorchArchiveFile(const QString &path);

} // namespace leantune
