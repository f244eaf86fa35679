#pragma once
// Private: the one place that touches c10's CUDA allocator API, whose statistics types moved
// between LibTorch 1.13 and 2.x. Compiled with CUDA code only when LEANTUNE_WITH_CUDA is defined;
// otherwise every function reports "not available".

#include <QString>

#include <cstdint>

namespace leantune::cudashim {

// Each out-pointer receives bytes, or -1 when unavailable.
void readDeviceMemory(int index, std::int64_t *allocated, std::int64_t *reserved,
    std::int64_t *peak, std::int64_t *used, std::int64_t *total);
void resetPeak(int index);
void emptyCache();
QString deviceName(int index);
// Turns on/off CUDA autocast with the given dtype name ("bf16" or "fp16"); false when unsupported.
bool setAutocast(bool enabled, const QString &dtype);
// Caps the caching allocator of device INDEX at BYTES (setMemoryFraction of the device's total);
// bytes <= 0 lifts the cap. False when unsupported.
bool limitMemory(int index, std::int64_t bytes);

} // namespace leantune::cudashim
