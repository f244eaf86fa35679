#pragma once

#include <QString>

#include <cstdint>

namespace leantune {

// Host memory of this process, read from /proc/self (bytes; 0 when unavailable).
std::int64_t hostRssBytes();
std::int64_t hostPeakRssBytes(); // VmHWM: the high-water mark since process start
std::int64_t hostTotalMemoryBytes();
std::int64_t hostAvailableMemoryBytes();
// Hands freed heap memory back to the system (glibc malloc_trim), then resets the high-water mark
// (VmHWM) to the current RSS by writing 5 to /proc/self/clear_refs (Linux ≥ 4.0), so that
// hostPeakRssBytes() afterwards measures the peak of what runs next. False when the reset is not
// possible (then VmHWM keeps its old value).
bool resetHostPeak();
// Gives the free memory of the heap back to the system (malloc_trim): the Trainer calls it after
// each epoch and at the end of a run, since free() returns nothing below 1 GiB of free heap top
// (see usePredictableHostAllocator()).
void releaseFreeHostMemory();
// Fixes glibc's malloc thresholds (instead of its dynamic ones, which drift with what was freed) so
// that host memory behaves alike in the MemoryPlanner's probes and in the runs they predict: blocks
// of 32 MiB and more are mapped and returned on free, smaller ones are reused from the heap and
// given back by releaseFreeHostMemory(); all threads share one arena. Process-wide and idempotent:
// a policy of the program, not of a library, so each program (and each test that measures host
// memory) calls it first thing in main(), before any thread has allocated. Without it the planner's
// host-memory predictions are less steady.
void usePredictableHostAllocator();

// Host memory under a budget (CPU runs and searches given --memory-budget): blocks of 4 MiB and
// more are mapped and go back on free, so a step's peak is close to its live tensors and repeats
// from run to run, which a budget needs (the default 32 MiB threshold lets the heap's peak vary by
// ~6 %); the cost is page faults on those blocks each step. Process-wide, for allocations after the
// call; false restores the default unless LEANTUNE_BOUNDED_HOST_MEMORY=1. Figures: bench/README.md,
// "Host allocator under a budget".
void useBoundedHostAllocator(bool bounded);
bool hostAllocatorBounded();

// Keeps a CPU training loop's host peak at what one step needs: the loader's threads share the
// heap, so its layout drifts and old holes stay resident. afterStep() reads the RSS after each step
// and trims the free heap (releaseFreeHostMemory()) after the first step, and whenever the RSS has
// grown past the first step's since the last trim by more than 1/64 (at least 4 MiB). Figures:
// bench/README.md, "Host heap guard".
class HostHeapGuard {
public:
    bool afterStep(); // true when it trimmed the heap
    int trims() const { return m_trims; }

private:
    std::int64_t m_reference = 0; // the lowest RSS after a step since the last trim; 0: none yet
    int m_trims = 0;
    std::int64_t m_steps = 0;
};

// Device memory figures; every field is -1 when not available (CPU-only build, or no such device).
struct DeviceMemory {
    std::int64_t allocated = -1; // c10 caching allocator: bytes in live tensors
    std::int64_t reserved = -1; // bytes held by the allocator
    std::int64_t peak = -1; // peak allocated since the last reset
    std::int64_t used = -1; // device-wide used (all processes), from cudaMemGetInfo
    std::int64_t total = -1;
    std::int64_t limit = -1; // this process's allocator cap set by limitDeviceMemory(), -1: none
};

// Reads the CUDA device's memory figures (LEANTUNE_WITH_CUDA builds only; -1s otherwise).
DeviceMemory deviceMemory(int cudaIndex);
void resetDevicePeak(int cudaIndex);
void emptyDeviceCache();
// Caps this process's CUDA caching allocator at BYTES (c10 setMemoryFraction); allocations beyond
// it raise a real out-of-memory error. bytes <= 0 removes the cap. False without CUDA.
bool limitDeviceMemory(int cudaIndex, std::int64_t bytes);

// "CUDA 0: NVIDIA H200, 140 GB" or "CPU, 2 threads".
QString deviceDescription(const QString &device, int threads);
int cudaDeviceCount();

} // namespace leantune
