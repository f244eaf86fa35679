#pragma once
// Private header (includes torch).

#include <torch/torch.h>

#include <QString>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace leantune {

// Tensors by name, in the file's order (a state_dict's keys: "conv1.weight", "bn1.running_mean").
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads the bytes of storage record KEY ("data/KEY" in the archive); std::nullopt when missing.
using StorageReader = std::function<std::optional<std::string>(const std::string &key)>;

// Unpickles PICKLE, the data.pkl of a zip-format torch.save() of a state_dict (an OrderedDict of
// name → tensor), with a restricted unpickler: it knows only the opcodes such a file uses and the
// globals collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and
// torch.*Storage; any other global (os.system, builtins.eval, ...) is refused before anything is
// called, so nothing a pickle names is ever run. Tensors are copied out of the storages READ
// returns, bounds-checked. std::nullopt + *error (one line) for anything else.
std::optional<NamedTensors> unpickleStateDict(
    const std::string &pickle, const StorageReader &read, QString *error);

} // namespace leantune
