#include "metrics/cudashim_p.h"

#ifdef LEANTUNE_WITH_CUDA
#include <ATen/autocast_mode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#include <torch/version.h>

#include <algorithm>
#endif

namespace leantune::cudashim {

#ifdef LEANTUNE_WITH_CUDA

void readDeviceMemory(int index, std::int64_t *allocated, std::int64_t *reserved,
    std::int64_t *peak, std::int64_t *used, std::int64_t *total)
{
    *allocated = *reserved = *peak = *used = *total = -1;
    try {
        // Index 0 of each stat array is StatType::AGGREGATE in 1.13 and in 2.x alike.
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
        *allocated = stats.allocated_bytes[0].current;
        *reserved = stats.reserved_bytes[0].current;
        *peak = stats.allocated_bytes[0].peak;
        const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
        size_t freeBytes = 0, totalBytes = 0;
        if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) {
            *used = std::int64_t(totalBytes - freeBytes);
            *total = std::int64_t(totalBytes);
        }
    } catch (const std::exception &) {
    }
}

void resetPeak(int index)
{
    try {
        c10::cuda::CUDACachingAllocator::resetPeakStats(index);
    } catch (const std::exception &) {
    }
}

void emptyCache()
{
    try {
        c10::cuda::CUDACachingAllocator::emptyCache();
    } catch (const std::exception &) {
    }
}

QString deviceName(int index)
{
    cudaDeviceProp prop {};
    if (cudaGetDeviceProperties(&prop, index) != cudaSuccess)
        return QStringLiteral("unknown GPU");
    return QString::fromUtf8(prop.name);
}

bool setAutocast(bool enabled, const QString &dtype)
{
    const auto type = dtype == QLatin1String("fp16") ? at::kHalf : at::kBFloat16;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, enabled);
    at::autocast::set_autocast_dtype(at::kCUDA, type);
#else
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(type);
#endif
    if (!enabled)
        at::autocast::clear_cache();
    return true;
}

bool limitMemory(int index, std::int64_t bytes)
{
    try {
        const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
        size_t freeBytes = 0, totalBytes = 0;
        if (cudaMemGetInfo(&freeBytes, &totalBytes) != cudaSuccess || totalBytes == 0)
            return false;
        const double fraction
            = bytes <= 0 ? 1.0 : std::min(1.0, double(bytes) / double(totalBytes));
        // 1.13 takes an int device, 2.x a c10::DeviceIndex: the cast suits both.
        c10::cuda::CUDACachingAllocator::setMemoryFraction(
            fraction, static_cast<c10::DeviceIndex>(index));
        return true;
    } catch (const std::exception &) {
        return false;
    }
}

#else

void readDeviceMemory(int, std::int64_t *allocated, std::int64_t *reserved, std::int64_t *peak,
    std::int64_t *used, std::int64_t *total)
{
    *allocated = *reserved = *peak = *used = *total = -1;
}
void resetPeak(int) { }
void emptyCache() { }
QString deviceName(int)
{
    return QStringLiteral("no CUDA support in this build");
}
bool setAutocast(bool, const QString &)
{
    return false;
}
bool limitMemory(int, std::int64_t)
{
    return false;
}

#endif

} // namespace leantune::cudashim
