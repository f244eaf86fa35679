#pragma once

#include <QString>

#include <cstdint>

namespace leantune {

// Host memory of this process, read from /proc/self (bytes; 0 when unavailable).
std::int64_t hostRssBytes();
std::int64_t hostPeakRssBytes();   // VmHWM: the high-water mark since process start
std::int64_t hostTotalMemoryBytes();
std::int64_t hostAvailableMemoryBytes();

// Device memory figures; every field is -1 when not available (CPU-only build, or no such device).
struct DeviceMemory {
    std::int64_t allocated = -1;   // c10 caching allocator: bytes in live tensors
    std::int64_t reserved = -1;    // bytes held by the allocator
    std::int64_t peak = -1;        // peak allocated since the last reset
    std::int64_t used = -1;        // device-wide used (all processes), from cudaMemGetInfo
    std::int64_t total = -1;
};

// Reads the CUDA device's memory figures (LEANTUNE_WITH_CUDA builds only; -1s otherwise).
DeviceMemory deviceMemory(int cudaIndex);
void resetDevicePeak(int cudaIndex);
void emptyDeviceCache();

// "CUDA 0: NVIDIA H200, 140 GB" or "CPU, 2 threads".
QString deviceDescription(const QString &device, int threads);
int cudaDeviceCount();

} // namespace leantune
