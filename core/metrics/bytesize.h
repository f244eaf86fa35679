#pragma once

#include <QString>

#include <cstdint>
#include <optional>

namespace leantune {

// Parses a memory size as users type it: "2G", "512M", "1.5GiB", "64k", "1048576" (plain bytes).
// Suffixes K, M, G, T (optionally followed by B or iB, any case) are binary: 1G = 2^30 bytes.
// std::nullopt for anything else, for zero and for negative sizes.
std::optional<std::int64_t> parseByteSize(const QString &text);

// "1.50 GiB", "512 MiB", "900 B": for logs and tables.
QString formatBytes(std::int64_t bytes);

} // namespace leantune
