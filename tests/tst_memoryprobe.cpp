// Memory probes and the throughput meter.

#include "sanitizerskip.h"
#include "metrics/memoryprobe.h"
#include "metrics/throughputmeter.h"

#include <QTest>

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace leantune;

class TestMemoryProbe : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void hostRssFollowsTouchedMemory()
    {
        const std::int64_t before = hostRssBytes();
        QVERIFY(before > 0);
        constexpr std::size_t kBytes = 256u << 20;
        std::vector<char> block(kBytes);
        std::memset(block.data(), 1, block.size()); // touch every page
        const std::int64_t after = hostRssBytes();
        QVERIFY2(after - before > std::int64_t(kBytes) * 9 / 10,
            qPrintable(QStringLiteral("%1 -> %2").arg(before).arg(after)));
        QVERIFY(hostPeakRssBytes() >= after);
        QVERIFY(block[kBytes - 1] == 1);
    }

    void resetHostPeakMeasuresWhatRunsNext()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        {
            std::vector<char> big(std::size_t(192) << 20);
            std::memset(big.data(), 1, big.size());
            QVERIFY(big[1] == 1);
        }
        usePredictableHostAllocator(); // blocks over 32 MiB are mapped: freeing the 192 MiB one
                                       // returned it
        const std::int64_t highBefore = hostPeakRssBytes();
        QVERIFY(resetHostPeak());
        const std::int64_t afterReset = hostPeakRssBytes();
        QVERIFY2(afterReset < highBefore - (std::int64_t(128) << 20),
            qPrintable(QStringLiteral("%1 -> %2").arg(highBefore).arg(afterReset)));
        std::vector<char> small(std::size_t(64) << 20);
        std::memset(small.data(), 1, small.size());
        const std::int64_t peak = hostPeakRssBytes();
        QVERIFY(peak - afterReset > (std::int64_t(60) << 20));
        QVERIFY(peak < highBefore);
        QVERIFY(small[5] == 1);
    }

    // Under a budget, blocks of 4 MiB and more are mapped and go back when freed; by default they
    // come from the heap, which keeps them resident (its top is given back only by a trim).
    void boundedAllocatorReturnsMidSizeBlocksOnFree()
    {
        LEANTUNE_SKIP_RSS_TEST_UNDER_ASAN();
        usePredictableHostAllocator();
        constexpr std::size_t kBlock = std::size_t(8) << 20;
        constexpr int kBlocks = 24; // 192 MiB
        const auto returnedByFree = [&]() -> std::int64_t {
            std::vector<char *> blocks;
            for (int i = 0; i < kBlocks; ++i) {
                char *p = static_cast<char *>(std::malloc(kBlock));
                if (!p)
                    return std::int64_t(-1);
                std::memset(p, 1, kBlock);
                asm volatile("" : : "r"(p) : "memory"); // the pages are used: keep the stores
                blocks.push_back(p);
            }
            const std::int64_t held = hostRssBytes();
            for (char *p : blocks)
                std::free(p);
            return held - hostRssBytes();
        };
        useBoundedHostAllocator(false);
        QVERIFY(!hostAllocatorBounded());
        releaseFreeHostMemory();
        const std::int64_t fromHeap = returnedByFree();
        releaseFreeHostMemory();
        useBoundedHostAllocator(true);
        QVERIFY(hostAllocatorBounded());
        const std::int64_t mapped = returnedByFree();
        useBoundedHostAllocator(false);
        QVERIFY(fromHeap >= 0 && mapped >= 0); // -1: malloc failed
        QVERIFY2(mapped > (std::int64_t(176) << 20),
            qPrintable(QStringLiteral("bounded: %1 bytes returned by free").arg(mapped)));
        QVERIFY2(fromHeap < (std::int64_t(64) << 20),
            qPrintable(QStringLiteral("default: %1 bytes returned by free").arg(fromHeap)));
    }

    void hostTotalsAreSensible()
    {
        QVERIFY(hostTotalMemoryBytes() > (std::int64_t(256) << 20));
        QVERIFY(hostAvailableMemoryBytes() > 0);
        QVERIFY(hostAvailableMemoryBytes() <= hostTotalMemoryBytes());
    }

    void cpuDeviceDescription()
    {
        QCOMPARE(deviceDescription(QStringLiteral("cpu"), 2), QStringLiteral("CPU, 2 threads"));
        QCOMPARE(deviceDescription(QStringLiteral("cpu"), 1), QStringLiteral("CPU, 1 thread"));
    }

    void deviceMemoryIsUnavailableWithoutCuda()
    {
        if (cudaDeviceCount() > 0)
            QSKIP("a CUDA device is present");
        const DeviceMemory m = deviceMemory(0);
        QCOMPARE(m.allocated, std::int64_t(-1));
        QCOMPARE(m.total, std::int64_t(-1));
    }

    void throughputIsImagesOverBusyTime()
    {
        ThroughputMeter meter;
        meter.addBatch(100, 10.0, 40.0); // 100 images in 50 ms
        meter.addBatch(100, 30.0, 20.0);
        const ThroughputMeter::Interval i = meter.take(/*lossSum=*/50.0, /*correct=*/150);
        QCOMPARE(i.images, std::int64_t(200));
        QCOMPARE(i.imagesPerSec, 2000.0);
        QCOMPARE(i.dataWaitMs, 20.0);
        QCOMPARE(i.computeMs, 30.0);
        QCOMPARE(i.loss, 0.25);
        QCOMPARE(i.accuracy, 0.75);
        QVERIFY(!meter.hasData());
    }

    void medianOverIntervals()
    {
        ThroughputMeter meter;
        for (double ms : { 100.0, 10.0, 50.0, 20.0 }) { // 1000, 10000, 2000, 5000 images/s
            meter.addBatch(100, 0.0, ms);
            meter.take();
        }
        QCOMPARE(meter.medianImagesPerSec(), 3500.0);
        meter.addBatch(100, 0.0, 1.0); // 100000 images/s
        meter.take();
        QCOMPARE(meter.medianImagesPerSec(), 5000.0);
    }
};

QTEST_GUILESS_MAIN(TestMemoryProbe)
#include "tst_memoryprobe.moc"
