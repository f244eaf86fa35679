#include "metrics/memoryprobe.h"
#include "metrics/cudashim_p.h"

#include <QFile>
#include <QStringBuilder>

#include <torch/cuda.h>

#include <malloc.h>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <unistd.h>

namespace leantune {

namespace {

constexpr int kDefaultMmapThreshold = 32 << 20; // see usePredictableHostAllocator()
constexpr int kBoundedMmapThreshold = 4 << 20; // see useBoundedHostAllocator()
std::atomic_bool g_bounded { false };

// Reads "Key:   1234 kB" from a /proc status-style file; returns bytes or 0.
std::int64_t readProcKb(const char *file, const QByteArray &key)
{
    QFile f(QString::fromLatin1(file));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray all = f.readAll();
    for (const QByteArray &line : all.split('\n')) {
        if (!line.startsWith(key))
            continue;
        const QByteArray rest = line.mid(key.size()).trimmed(); // "1234 kB"
        bool ok = false;
        const qint64 kb = rest.split(' ').value(0).toLongLong(&ok);
        return ok ? kb * 1024 : 0;
    }
    return 0;
}

} // namespace

std::int64_t hostRssBytes()
{
    QFile f(QStringLiteral("/proc/self/statm"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    const QList<QByteArray> parts = f.readAll().split(' ');
    if (parts.size() < 2)
        return 0;
    return parts[1].toLongLong() * std::int64_t(sysconf(_SC_PAGESIZE));
}

std::int64_t hostPeakRssBytes()
{
    return readProcKb("/proc/self/status", "VmHWM:");
}
std::int64_t hostTotalMemoryBytes()
{
    return readProcKb("/proc/meminfo", "MemTotal:");
}
std::int64_t hostAvailableMemoryBytes()
{
    return readProcKb("/proc/meminfo", "MemAvailable:");
}

void usePredictableHostAllocator()
{
#ifdef __GLIBC__
    static std::once_flag once;
    std::call_once(once, [] {
        // Fixed values (a fixed threshold also turns glibc's dynamic one off), so that host memory
        // behaves the same in the planner's probe steps as in the run they predict. Blocks of 32
        // MiB and more are mapped and go back to the system when freed; smaller ones (most
        // activations) are reused from the heap. The earlier 256 KiB threshold returned every
        // activation too, but its page faults halved CPU training speed (1,132 vs 2,138 img/s,
        // smallcnn batch 64, 2 cores) for ~50 MiB less peak RSS.
        mallopt(M_MMAP_THRESHOLD, kDefaultMmapThreshold);
        // The heap's free top is not returned by free() (threshold 1 GiB) but by
        // releaseFreeHostMemory() between phases. With glibc's trimming at 8 MiB every step gave
        // its activations back at the end and faulted them in again (zeroed) at the next: 26 brk
        // calls a step, 20 % of resnet8's CPU time in the kernel. Without: resnet8 64 px 322-335 ->
        // 422-424 img/s, smallcnn 28 px 1,792-2,234 -> 2,694-2,973 img/s. The cost: peak RSS a
        // little higher and less steady (smallcnn batch 128, 1 epoch of 6k images: 316-356 MiB over
        // 4 runs, 306-327 with trimming at 8 MiB), even with the Trainer trimming before each
        // validation pass.
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        // One arena for every thread. With glibc's default (an arena per thread, up to 8 per core)
        // a probe on a worker thread (the run dialog's Find button, the Trainer) lands in an arena
        // whose state depends on which thread used it before: in 1 of 5 runs of the same finder
        // call on a fresh thread, the probe's slope came out a quarter lower and the answer 226
        // instead of 156. In one arena 28 of 28 stayed within 139-166 (on an idle machine; under
        // ctest -j2 one outlier, 212, was still seen). Loader and trainer threads
        // share the lock at no measurable cost (smallcnn 2,206-2,353 vs 2,406-2,422 img/s, resnet8
        // 299-334 vs 287-333, 2 decode workers). Effective for threads that have not allocated yet,
        // so programs call it first thing in main().
        mallopt(M_ARENA_MAX, 1);
    });
    useBoundedHostAllocator(false); // LEANTUNE_BOUNDED_HOST_MEMORY=1: bounded from the start
#endif
}

void useBoundedHostAllocator(bool bounded)
{
    static const bool always = qEnvironmentVariableIntValue("LEANTUNE_BOUNDED_HOST_MEMORY") == 1;
    bounded = bounded || always;
    if (g_bounded.exchange(bounded) == bounded)
        return;
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, bounded ? kBoundedMmapThreshold : kDefaultMmapThreshold);
#endif
}

bool hostAllocatorBounded()
{
    return g_bounded.load();
}

void releaseFreeHostMemory()
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

bool HostHeapGuard::afterStep()
{
    const std::int64_t rss = hostRssBytes();
    if (rss <= 0)
        return false;
    if (m_steps++ == 0) { // the first step: see the header
        releaseFreeHostMemory();
        ++m_trims;
        return true;
    }
    if (m_reference <= 0 || rss < m_reference) {
        m_reference = rss;
        return false;
    }
    const std::int64_t slack = std::max<std::int64_t>(4 << 20, m_reference / 64);
    if (rss <= m_reference + slack)
        return false;
    releaseFreeHostMemory();
    m_reference = 0; // the next step faults its pages in again: its RSS is the new reference
    ++m_trims;
    return true;
}

bool resetHostPeak()
{
    releaseFreeHostMemory();
    QFile f(QStringLiteral("/proc/self/clear_refs"));
    if (!f.open(QIODevice::WriteOnly))
        return false;
    return f.write("5") == 1;
}

namespace {
constexpr int kMaxDevices = 64;
std::atomic<std::int64_t> g_deviceLimits[kMaxDevices]; // limitDeviceMemory() caps; 0: none
} // namespace

DeviceMemory deviceMemory(int cudaIndex)
{
    DeviceMemory m;
    cudashim::readDeviceMemory(cudaIndex, &m.allocated, &m.reserved, &m.peak, &m.used, &m.total);
    if (cudaIndex >= 0 && cudaIndex < kMaxDevices && g_deviceLimits[cudaIndex].load() > 0)
        m.limit = g_deviceLimits[cudaIndex].load();
    return m;
}

void resetDevicePeak(int cudaIndex)
{
    cudashim::resetPeak(cudaIndex);
}
void emptyDeviceCache()
{
    cudashim::emptyCache();
}
bool limitDeviceMemory(int cudaIndex, std::int64_t bytes)
{
    if (!cudashim::limitMemory(cudaIndex, bytes))
        return false;
    if (cudaIndex >= 0 && cudaIndex < kMaxDevices)
        g_deviceLimits[cudaIndex].store(std::max<std::int64_t>(bytes, 0));
    return true;
}

int cudaDeviceCount()
{
    try {
        return torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0;
    } catch (const std::exception &) {
        return 0;
    }
}

QString deviceDescription(const QString &device, int threads)
{
    if (device.startsWith(QLatin1String("cuda"))) {
        const int index
            = device.contains(QLatin1Char(':')) ? device.section(QLatin1Char(':'), 1).toInt() : 0;
        const QString name = cudashim::deviceName(index);
        const DeviceMemory m = deviceMemory(index);
        const QString total = m.total > 0
            ? QString::number(double(m.total) / 1e9, 'f', 0) % QStringLiteral(" GB")
            : QStringLiteral("memory unknown");
        return QStringLiteral("CUDA %1: %2, %3").arg(index).arg(name, total);
    }
    return QStringLiteral("CPU, %1 thread%2")
        .arg(threads)
        .arg(threads == 1 ? QString() : QStringLiteral("s"));
}

} // namespace leantune
