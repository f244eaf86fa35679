#include "train/memoryplanner.h"
#include "train/exceptiontext_p.h"

#include "metrics/memoryprobe.h"
#include "train/stepprobe_p.h"

#include <QJsonArray>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QJsonArray probesJson(const std::vector<MemoryProbe> &probes)
{
    QJsonArray a;
    for (const MemoryProbe &p : probes)
        a.append(QJsonObject { { QStringLiteral("batch_size"), p.batchSize },
            { QStringLiteral("peak_bytes"), qint64(p.peakBytes) } });
    return a;
}

QJsonObject fitJson(const MemoryFit &f)
{
    return { { QStringLiteral("fixed_bytes"), f.fixedBytes },
        { QStringLiteral("per_image_bytes"), f.perImageBytes },
        { QStringLiteral("points"), f.points },
        { QStringLiteral("max_residual_fraction"), f.maxResidualFraction } };
}

} // namespace

std::int64_t MemoryFit::predict(int batch) const
{
    return std::int64_t(std::llround(std::max(0.0, fixedBytes + perImageBytes * double(batch))));
}

std::int64_t MemoryPlan::predictPeak(int batch, int microBatch, int queue, int evalBatch) const
{
    const int micro = microBatch > 0 ? std::min(microBatch, batch) : batch;
    const int q = queue >= 0 ? queue : queueDepth;
    const int e = evalBatch > 0 ? evalBatch : MemoryPlanner::evalBatchFor(batch);
    // The loader holds at most q batches decoded ahead plus the one being trained on.
    const std::int64_t slots = onDevice ? 0 : std::int64_t(q) + 1;
    const std::int64_t trainPeak
        = train.predict(micro) + slots * std::int64_t(batch) * loaderBytesPerImage;
    const std::int64_t evalPeak
        = eval.isValid() ? eval.predict(e) + slots * std::int64_t(e) * loaderBytesPerImage : 0;
    return std::max({ trainPeak, evalPeak, checkpointPeakBytes });
}

QJsonObject MemoryPlan::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("device")] = device;
    o[QStringLiteral("measures")]
        = onDevice ? QStringLiteral("device_allocator_peak") : QStringLiteral("host_rss_peak");
    o[QStringLiteral("train_fit")] = fitJson(train);
    o[QStringLiteral("eval_fit")] = fitJson(eval);
    o[QStringLiteral("train_probes")] = probesJson(trainProbes);
    o[QStringLiteral("eval_probes")] = probesJson(evalProbes);
    o[QStringLiteral("checkpoint_peak_bytes")] = qint64(checkpointPeakBytes);
    o[QStringLiteral("loader_bytes_per_image")] = qint64(loaderBytesPerImage);
    o[QStringLiteral("queue_depth")] = queueDepth;
    o[QStringLiteral("capacity_bytes")] = qint64(capacityBytes);
    o[QStringLiteral("margin")] = margin;
    o[QStringLiteral("limit_bytes")] = qint64(limitBytes());
    return o;
}

MemoryFit MemoryPlanner::fitLinear(const std::vector<MemoryProbe> &probes)
{
    MemoryFit f;
    f.points = int(probes.size());
    if (probes.empty())
        return f;
    double sx = 0, sy = 0;
    for (const MemoryProbe &p : probes) {
        sx += p.batchSize;
        sy += double(p.peakBytes);
    }
    const double n = double(probes.size());
    const double mx = sx / n, my = sy / n;
    double sxx = 0, sxy = 0;
    for (const MemoryProbe &p : probes) {
        sxx += (p.batchSize - mx) * (p.batchSize - mx);
        sxy += (p.batchSize - mx) * (double(p.peakBytes) - my);
    }
    if (sxx <= 0.0) { // one batch size only: no slope to fit
        f.fixedBytes = my;
        f.points = 1;
        return f;
    }
    // Memory never shrinks with a bigger batch: a negative slope is measurement noise.
    f.perImageBytes = std::max(0.0, sxy / sxx);
    f.fixedBytes = my - f.perImageBytes * mx;
    for (const MemoryProbe &p : probes) {
        if (p.peakBytes > 0) {
            const double fitted = f.fixedBytes + f.perImageBytes * p.batchSize;
            f.maxResidualFraction = std::max(f.maxResidualFraction,
                std::abs(double(p.peakBytes) - fitted) / double(p.peakBytes));
        }
    }
    return f;
}

MemoryFitting MemoryPlanner::fitToLimit(
    const MemoryPlan &plan, int batch, int queue, std::int64_t limitBytes, int evalBatch)
{
    MemoryFitting best;
    best.batchSize = std::max(batch, 1);
    best.limitBytes = limitBytes;
    const int maxQueue = std::max(queue, 1);
    const int fullEval = evalBatch > 0 ? evalBatch : evalBatchFor(best.batchSize);
    for (int q = maxQueue; q >= 1; --q) {
        // The largest micro-batch (B, ⌈B/2⌉, ⌈B/4⌉, ... 1) whose training part fits.
        int micro = 0;
        for (int k = 1;; k *= 2) {
            const int m = (best.batchSize + k - 1) / k;
            MemoryPlan trainOnly = plan;
            trainOnly.eval = MemoryFit {};
            if (trainOnly.predictPeak(best.batchSize, m, q) <= limitBytes) {
                micro = m;
                break;
            }
            if (m == 1)
                break;
        }
        if (micro == 0)
            continue;
        int eval = 0;
        for (int e = fullEval;; e = (e + 1) / 2) {
            if (plan.predictPeak(best.batchSize, micro, q, e) <= limitBytes) {
                eval = e;
                break;
            }
            if (e == 1)
                break;
        }
        if (eval == 0)
            continue;
        if (!best.fits || micro > best.microBatch) {
            best.fits = true;
            best.microBatch = micro;
            best.queueDepth = q;
            best.evalBatch = eval;
        }
        if (micro == best.batchSize && eval == fullEval)
            break; // the deepest queue with whole batches: nothing better below
    }
    if (!best.fits) {
        best.microBatch = 1;
        best.queueDepth = 1;
        best.evalBatch = 1;
    }
    best.accumulationSteps = (best.batchSize + best.microBatch - 1) / best.microBatch;
    best.predictedPeakBytes
        = plan.predictPeak(best.batchSize, best.microBatch, best.queueDepth, best.evalBatch);
    return best;
}

MemoryFitting MemoryPlanner::fitGivenBatch(
    const MemoryPlan &plan, int batch, int queue, std::int64_t limitBytes, int evalBatch)
{
    const MemoryFitting f = fitToLimit(plan, batch, queue, limitBytes, evalBatch);
    if (f.fits && f.microBatch >= f.batchSize)
        return f;
    const MemoryFitting whole = fitToLimit(
        plan, batch, queue, std::int64_t(double(limitBytes) * (1.0 + kProbeSpread)), evalBatch);
    return whole.fits && whole.microBatch >= whole.batchSize ? whole : f;
}

std::optional<MemoryPlan> MemoryPlanner::probe(
    const RunConfig &config, const ProbeOptions &options, QString *error)
{
    const std::optional<QString> deviceName = resolveDevice(config.device, error);
    if (!deviceName)
        return std::nullopt;
    MemoryPlan plan;
    plan.device = *deviceName;
    plan.queueDepth = config.queueDepth;
    try {
        const torch::Device device(deviceName->toStdString());
        plan.onDevice = device.is_cuda();
        plan.margin = config.memoryMarginFor(plan.onDevice);
        // A host budget needs a peak that repeats: the probes measure under the same allocator
        // policy as the run they plan (planRunMemory() sets it for the run).
        if (!plan.onDevice)
            useBoundedHostAllocator(config.memoryBudgetBytes > 0);
        const ModelSpec &m = config.model;
        plan.loaderBytesPerImage
            = plan.onDevice ? 0 : std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8;
        torch::set_num_threads(
            config.effectiveThreads()); // as the run will: thread pools are part of the peak
        torch::manual_seed(config.seed);
        std::unique_ptr<StepProbe> probe = StepProbe::create(config, device, error);
        if (!probe)
            return std::nullopt;
        std::vector<int> sizes = options.batchSizes;
        if (sizes.empty())
            sizes = plan.onDevice ? std::vector<int> { 16, 32, 64, 128 }
                                  : std::vector<int> { 8, 16, 32, 64 };
        if (!sizes.empty() && options.runBatch > *std::max_element(sizes.begin(), sizes.end()))
            sizes.push_back(options.runBatch);
        std::sort(sizes.begin(), sizes.end());
        sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
        sizes.erase(
            std::remove_if(sizes.begin(), sizes.end(), [](int b) { return b < 1; }), sizes.end());
        if (sizes.empty()) {
            *error = QStringLiteral("memory planner: no probe batch sizes");
            return std::nullopt;
        }
        const int steps = options.steps > 0 ? options.steps : plan.onDevice ? 2 : 4;
        // Warm-up: optimizer state, thread pools and kernel caches exist in the run too, before its
        // peak.
        probe->train(sizes.front(), 1);
        probe->evaluate(sizes.front());
        // Under a host budget the probes stay under it too, since they are part of the run's (or
        // the search's) peak: a size whose peak the probes so far put over the limit is replaced
        // by the largest size they put under it, which also measures where the answer will be.
        const std::int64_t probeLimit = plan.onDevice ? 0 : config.memoryBudgetLimitBytes();
        for (int b : sizes) {
            bool replaced = false;
            if (probeLimit > 0 && plan.trainProbes.size() >= 2) {
                const MemoryFit fit = fitLinear(plan.trainProbes);
                if (fit.predict(b) > probeLimit) {
                    const int last = plan.trainProbes.back().batchSize;
                    b = fit.perImageBytes > 0.0
                        ? int((double(probeLimit) - fit.fixedBytes) / fit.perImageBytes)
                        : last;
                    if (b <= last)
                        break;
                    replaced = true;
                }
            }
            try {
                const std::int64_t t = probe->measurePeak([&] { probe->train(b, steps); });
                plan.trainProbes.push_back({ b, t });
                const std::int64_t e = probe->measurePeak([&] { probe->evaluate(b); });
                plan.evalProbes.push_back({ b, e });
            } catch (const c10::Error &e) {
                if (!isOutOfMemoryError(e))
                    throw;
                probe->release();
                break; // bigger probes would not fit either
            }
            probe->release();
            if (replaced)
                break; // the last size under the limit
        }
        if (!plan.onDevice && plan.trainProbes.size() >= 2) {
            // As in a run after an epoch: gradients, momentum and masks live, the heap trimmed.
            probe->train(sizes.front(), 1);
            plan.checkpointPeakBytes = probe->measurePeak([&] { probe->serializeCheckpoint(); });
        }
        probe.reset();
        if (plan.onDevice)
            emptyDeviceCache();
        if (plan.trainProbes.size() < 2) {
            *error
                = QStringLiteral("memory planner: out of memory already at batch %1 during probing")
                      .arg(sizes.size() > plan.trainProbes.size() ? sizes[plan.trainProbes.size()]
                                                                  : sizes.back());
            return std::nullopt;
        }
        plan.train = fitLinear(plan.trainProbes);
        plan.eval = fitLinear(plan.evalProbes);
        if (plan.onDevice) {
            const DeviceMemory d = deviceMemory(std::max<int>(device.index(), 0));
            // Free to this process: the device total less what other processes and the CUDA context
            // use.
            plan.capacityBytes = d.total > 0 ? d.total
                    - std::max<std::int64_t>(0, d.used - std::max<std::int64_t>(d.reserved, 0))
                                             : 0;
            if (d.limit > 0) // a cap on this process's allocator (limitDeviceMemory)
                plan.capacityBytes = std::min(plan.capacityBytes, d.limit);
        } else if (config.memoryBudgetBytes > 0) {
            plan.capacityBytes = config.memoryBudgetBytes;
        } else {
            plan.capacityBytes = hostAvailableMemoryBytes() + hostRssBytes();
        }
        return plan;
    } catch (const c10::Error &e) {
        *error = QStringLiteral("memory planner: %1").arg(firstLine(e.what_without_backtrace()));
    } catch (const std::exception &e) {
        *error = QStringLiteral("memory planner: %1").arg(firstLine(e.what()));
    }
    return std::nullopt;
}

} // namespace leantune
