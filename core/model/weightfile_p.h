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
// data_offsets), the raw little-endian tensors. The header is at most 16 MiB, 3 levels deep and
// names at most 65,536 tensors; each tensor's shape is non-negative integers and its data_offsets
// are integers that span exactly dtype size × shape inside the file, no two overlapping. So the
// tensors read never take more memory than the file's size.
std::optional<NamedTensors> readSafetensorsFile(const QString &path, QString *error);
// The same checks on a whole safetensors file in memory (the fuzz target's entry); *error has no
// file name.
std::optional<NamedTensors> parseSafetensors(const QByteArray &bytes, QString *error);
// Whether PATH starts like a safetensors file (its header length and a '{'), else it is taken for
// a zip archive.
bool isSafetensorsFile(const QString &path);

// VALUE, read from a file, as a message quotes it: at most 80 characters (elided with "…"), control
// characters shown as '?', so a crafted name cannot flood or split a one-line message.
QString textFromFile(const QString &value);

} // namespace leantune
