#pragma once
// The run configuration's choices as types, each with the names config.json, the command line and
// the dialog use. Header-only and torch-free: the pruner and the trainer use the same enums.

#include "model/modelspec.h"

#include <QString>
#include <QStringList>

#include <array>
#include <cstddef>
#include <optional>

namespace leantune {

enum class Precision { Fp32, Bf16, Fp16 }; // fp16: CUDA autocast with dynamic loss scaling
enum class Optimizer { Sgd, Adam }; // sgd with momentum
enum class LrSchedule { Cosine, Constant };
enum class MemoryFormat { Auto, Contiguous, ChannelsLast };
enum class PruneGranularity { Weight, Channel }; // single weights | whole output channels (L1)
// Layer: each tensor to the target | Global: one LAMP ranking | Sensitivity: each layer to its own
// target, allocated from a sensitivity scan (prune/sensitivity.h)
enum class PruneScope { Layer, Global, Sensitivity };

// EnumNames<E>::names[int(e)] is the text of e.
template <typename E> struct EnumNames;
template <> struct EnumNames<Precision> {
    static constexpr std::array<const char *, 3> names { "fp32", "bf16", "fp16" };
};
template <> struct EnumNames<Optimizer> {
    static constexpr std::array<const char *, 2> names { "sgd", "adam" };
};
template <> struct EnumNames<LrSchedule> {
    static constexpr std::array<const char *, 2> names { "cosine", "constant" };
};
template <> struct EnumNames<MemoryFormat> {
    static constexpr std::array<const char *, 3> names { "auto", "contiguous", "channels-last" };
};
template <> struct EnumNames<PruneGranularity> {
    static constexpr std::array<const char *, 2> names { "weight", "channel" };
};
template <> struct EnumNames<PruneScope> {
    static constexpr std::array<const char *, 3> names { "layer", "global", "sensitivity" };
};

template <> struct EnumNames<ResNetStem> {
    static constexpr std::array<const char *, 3> names { "auto", "imagenet", "small" };
};

template <typename E> QString enumName(E value)
{
    return QLatin1String(EnumNames<E>::names[std::size_t(value)]);
}

template <typename E> QStringList enumNames()
{
    QStringList list;
    for (const char *name : EnumNames<E>::names)
        list << QLatin1String(name);
    return list;
}

template <typename E> std::optional<E> enumFromName(const QString &text)
{
    for (std::size_t i = 0; i < EnumNames<E>::names.size(); ++i) {
        if (text == QLatin1String(EnumNames<E>::names[i]))
            return E(i);
    }
    return std::nullopt;
}

} // namespace leantune
