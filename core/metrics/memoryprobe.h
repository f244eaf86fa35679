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

// Host memory under a budget (CPU runs and searches given --memory-budget). With the 32 MiB
// threshold above, blocks under it come from the heap, and the heap's peak is not the same from
// run to run even for the same steps on one thread: resnet18 64 px batch 29, one epoch, the same
// seed, --threads 1: 1,146-1,219 MiB (the planner's probes at 32 in three searches: 1,113-1,250
// MiB); python3-torch 1.13 shows it too (torchvision resnet18, 2 steps, 1 thread: 634-752 MiB, and
// 606 MiB in every run with MALLOC_MMAP_THRESHOLD_=65536). Bounded: blocks of 4 MiB and more are
// mapped and go back on free, so a step's peak is close to its live tensors and repeats (resnet18
// 64 px batch 29, seeds 1-4: 955-962 MiB; at 1 MiB 911 every time, at 64 KiB 907-908), which a
// budget needs. The cost is a page fault per 4 KiB of every such block, each step (one epoch,
// median img/s at a 32 / 4 / 1 MiB threshold: resnet18 64 px batch 32 7.7 / 6.8 / 7.3, resnet8 28
// px batch 64 1,275 / 1,570 / 777, smallcnn 28 px batch 64 1,604 / 1,099 / 832; one run each, 2
// cores): 4 MiB keeps resnet8 at speed and resnet18's spread under 1 %. Process-wide, effective for
// allocations made after the call; false restores the default, unless the environment has
// LEANTUNE_BOUNDED_HOST_MEMORY=1 (every CPU run bounded, as bench/batch-finder-budget.sh measures
// the largest batch that fits).
void useBoundedHostAllocator(bool bounded);
bool hostAllocatorBounded();

// Keeps a CPU training loop's host peak at what one step needs. With the heap's free top kept
// (usePredictableHostAllocator()), the pages a step used stay resident after it and are reused by
// the next step as long as its allocations land where the last step's did. The loader's decode
// threads allocate from the same heap during the steps, so the layout drifts: a step that no longer
// fits the old holes grows the heap, and the old holes stay resident. resnet18 64 px batch 40 on
// the CPU: peak 1,312 MiB at step 1, 1,383 MiB from step 5 on (1,403 -> 1,508 MB over the first 15
// steps of a 6k-image epoch), while the planner's probes, which have no loader, measured one step's
// 1,335 MiB. afterStep() reads the RSS after each step: when it has grown past the RSS after the
// first step since the last trim (by more than 1/64, at least 4 MiB), the free heap goes back to
// the system (releaseFreeHostMemory()), so the next step starts from its live memory again. The
// first step is always followed by a trim: it allocates the gradients and the optimizer's state
// among its own freed activations, and the second step's layout then differs (resnet18 64 px batch
// 19: step 1 826 MiB, step 2 990 MiB without that trim, the probes 897 MiB). A run whose layout
// repeats trims no more; each trim costs one step's page faults.
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
