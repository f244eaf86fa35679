#pragma once
// Private header (includes torch).

#include <torch/torch.h>

#include <QString>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace leantune {

// Tensors by name, in the file's order (a state_dict's keys: "conv1.weight", "bn1.running_mean").
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads the bytes of storage record KEY ("data/KEY" in the archive); std::nullopt when missing.
// The reader bounds what it inflates (see ZipRecords); the unpickler takes only the bytes the
// tensor needs.
using StorageReader = std::function<std::optional<std::string>(const std::string &key)>;

// The most bytes a data.pkl may have: a state_dict of 100,000 tensors takes ~5 MiB.
inline constexpr std::uint64_t kMaxPickleBytes = 16 * 1024 * 1024;

// Unpickles PICKLE, the data.pkl of a zip-format torch.save() of a state_dict (an OrderedDict of
// name → tensor), with a restricted unpickler: it knows only the opcodes such a file uses and the
// globals collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and
// torch.*Storage; any other global (os.system, builtins.eval, ...) is refused before anything is
// called, so nothing a pickle names is ever run. Tensors are copied out of the storages READ
// returns, bounds-checked. The unpickler is iterative and bounded (size, nesting depth, stack,
// memo, values, strings and the memory they take, see statedictunpickler.cpp), so a crafted pickle
// is refused instead of overflowing the stack or exhausting memory. std::nullopt + *error (one
// line, quoting at most 80 characters of any value from the file) for anything else.
std::optional<NamedTensors> unpickleStateDict(
    const std::string &pickle, const StorageReader &read, QString *error);

// Unpickles PICKLE, the data.pkl of a LibTorch archive written by torch::serialize::OutputArchive
// (a `__torch__` module object whose attributes are tensors, nested module objects and plain
// values: None, bools, integers, floats, strings, tuples and the typed lists and dicts TorchScript
// tags), with the same restricted unpickler, and writes those attributes into OUT (nested objects
// as nested archives). Objects are plain attribute dicts: no method of the file's classes is
// called, nor its code/ read, so the bytes OUT saves hold only what OutputArchive generates. False
// + *error (one line) for anything else, e.g. an object whose state is not a dict of attributes.
bool unpickleModuleArchive(const std::string &pickle, const StorageReader &read,
    torch::serialize::OutputArchive &out, QString *error);

} // namespace leantune
