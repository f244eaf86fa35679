#pragma once
// Private header (includes torch).

#include "model/statedictunpickler_p.h"

#include <QString>

#include <optional>

namespace leantune {

// Readers of weight files as others publish them. Each returns the file's tensors by name, in the
// file's order, or std::nullopt + *error (one line naming the file) for a file it cannot read:
// missing, truncated, malformed, or (state_dict) a pickle that names anything but a state_dict's
// own types. Nothing is checked against a model here (see weightloader_p.h).

// A zip-format torch.save() of a state_dict (torchvision's published .pth files): data.pkl through
// the restricted unpickler, the storages from data/N.
std::optional<NamedTensors> readStateDictFile(const QString &path, QString *error);
// A .safetensors file: an 8-byte little-endian header length, a JSON header (name → dtype, shape,
// data_offsets), the raw little-endian tensors.
std::optional<NamedTensors> readSafetensorsFile(const QString &path, QString *error);
// Whether PATH starts like a safetensors file (its header length and a '{'), else it is taken for
// a zip archive.
bool isSafetensorsFile(const QString &path);

} // namespace leantune
