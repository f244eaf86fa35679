#pragma once
// Private: the platform-independent random helpers behind seeded splits, shuffles and augmentation,
// so a seed gives the same data order on every standard library.

#include <cstdint>
#include <random>

namespace leantune {

// splitmix64 finalizer: spreads (seed, epoch, label, position, ...) into well-mixed 64-bit seeds.
inline std::uint64_t mix64(std::uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Unbiased uniform integer in [0, n), n > 0. Not std::uniform_int_distribution, whose algorithm
// differs between standard libraries.
inline std::uint64_t uniformBelow(std::mt19937_64 &rng, std::uint64_t n)
{
    const std::uint64_t threshold = (0 - n) % n; // 2^64 mod n
    for (;;) {
        const std::uint64_t r = rng();
        if (r >= threshold)
            return r % n;
    }
}

} // namespace leantune
