#include "train/runmemoryplan.h"

#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "train/batchsizefinder.h"
#include "train/memoryplanner.h"

#include <torch/torch.h>

#include <QStringBuilder>
#include <QStringList>

#include <algorithm>

namespace leantune {

// Runs the memory planner when the run asks for it (batch size auto, or a host memory budget) and
// chooses the batch size, micro-batch, loader queue depth and evaluation batch from its prediction.
std::optional<RunMemoryPlan> planRunMemory(const RunConfig &c, std::int64_t trainImages,
    std::int64_t evalImages, const QString &deviceName, const std::atomic_bool *cancel,
    const std::function<void(const QString &)> &log, QString *error)
{
    RunMemoryPlan r;
    // Evaluation batches: max(batch, 256), but never more than the largest evaluation set holds.
    const auto evalBatchFor = [&](int batch) {
        return int(std::max<std::int64_t>(
            1, std::min<std::int64_t>(MemoryPlanner::evalBatchFor(batch), evalImages)));
    };
    r.batchSize = c.batchSize;
    r.queueDepth = c.queueDepth;
    r.microBatch = c.microBatch;
    // A CPU run under a host budget maps its larger blocks (see useBoundedHostAllocator()), so that
    // its peak is the one its plan measured; every other run keeps the faster heap policy.
    const bool boundedHost
        = c.memoryBudgetBytes > 0 && !deviceName.startsWith(QLatin1String("cuda"));
    useBoundedHostAllocator(boundedHost);
    if (boundedHost)
        log(QStringLiteral("host memory budget %1: blocks of 4 MiB and more are mapped and "
                           "returned on free, so the peak repeats from run to run (slower steps "
                           "on small models)")
                .arg(formatBytes(c.memoryBudgetBytes)));
    const bool autoBatch = c.batchSizeAuto;
    if (!autoBatch && c.memoryBudgetBytes <= 0) {
        r.evalBatch = evalBatchFor(r.batchSize);
        return r;
    }
    std::optional<MemoryPlan> plan;
    if (autoBatch) {
        log(QStringLiteral("batch size auto: probing memory and searching on %1 (margin %2%)")
                .arg(deviceName)
                .arg(c.memoryMarginFor(deviceName.startsWith(QLatin1String("cuda"))) * 100.0, 0,
                    'f', 0));
        const std::optional<BatchSizeReport> report
            = BatchSizeFinder::find(c, trainImages, error, cancel);
        if (!report)
            return std::nullopt;
        r.batchSize = report->search.batchSize;
        plan = report->plan;
        log(QStringLiteral("batch size %1%6: predicted peak %2%3 of %4 (%5 trials)")
                .arg(r.batchSize)
                .arg(formatBytes(report->predictedPeakBytes),
                    report->measured ? QString(
                        QStringLiteral(", measured ") % formatBytes(report->search.peakBytes))
                                     : QString(),
                    formatBytes(report->search.capacityBytes))
                .arg(report->search.trials.size())
                .arg(report->capText()));
    } else {
        MemoryPlanner::ProbeOptions options;
        options.runBatch = c.batchSize;
        plan = MemoryPlanner::probe(c, options, error);
        if (!plan)
            return std::nullopt;
        QStringList probes;
        for (const MemoryProbe &p : plan->trainProbes)
            probes << QStringLiteral("%1: %2").arg(p.batchSize).arg(formatBytes(p.peakBytes));
        log(QStringLiteral("memory probes (%1 peak at each batch size): %2")
                .arg(plan->onDevice ? QStringLiteral("device") : QStringLiteral("host"),
                    probes.join(QStringLiteral(", "))));
    }
    r.evalBatch = evalBatchFor(r.batchSize);
    const bool budget = c.memoryBudgetBytes > 0;
    // The limit the run must meet: the host budget on a CPU run; after a search, the capacity less
    // the margin (the search sized training steps; evaluation batches must fit as well).
    std::int64_t limit = 0;
    if (!plan->onDevice && budget)
        limit = c.memoryBudgetLimitBytes();
    else if (autoBatch)
        limit = plan->limitBytes();
    if (limit > 0) {
        const int queue = plan->onDevice ? 1 : c.queueDepth;
        // A batch given by hand on the CPU is not split for probe noise at the edge
        // (fitGivenBatch).
        const MemoryFitting f = !autoBatch && !plan->onDevice
            ? MemoryPlanner::fitGivenBatch(*plan, r.batchSize, queue, limit, r.evalBatch)
            : MemoryPlanner::fitToLimit(*plan, r.batchSize, queue, limit, r.evalBatch);
        if (f.limitBytes > limit)
            log(QStringLiteral("memory plan: batch %1 trains whole: its predicted peak %2 is over "
                               "the limit %3 by less than the probes' spread (%4%)")
                    .arg(r.batchSize)
                    .arg(formatBytes(f.predictedPeakBytes), formatBytes(limit))
                    .arg(MemoryPlanner::kProbeSpread * 100.0, 0, 'f', 0));
        limit = f.limitBytes;
        if (!f.fits) {
            *error = QStringLiteral(
                "the %1 %2 is too small for this model: even micro-batches of one image with a "
                "loader queue of one need about %3 (limit %4 after the %5% margin)")
                         .arg(budget ? QStringLiteral("memory budget")
                                     : QStringLiteral("memory of %1").arg(deviceName),
                             formatBytes(budget ? c.memoryBudgetBytes : plan->capacityBytes),
                             formatBytes(f.predictedPeakBytes), formatBytes(limit))
                         .arg(plan->margin * 100.0, 0, 'f', 0);
            return std::nullopt;
        }
        r.microBatch = r.microBatch > 0 ? std::min(r.microBatch, f.microBatch) : f.microBatch;
        if (r.microBatch >= r.batchSize)
            r.microBatch = 0;
        if (!plan->onDevice)
            r.queueDepth = f.queueDepth;
        r.evalBatch = f.evalBatch;
    }
    if (plan->onDevice && budget) {
        // The host side of a device run is the process plus the loader's batches (queue + 1).
        const ModelSpec &m = c.model;
        const std::int64_t imageBytes
            = std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8;
        const std::int64_t hostLimit = c.memoryBudgetLimitBytes();
        const std::int64_t rss = hostRssBytes();
        while (r.queueDepth > 1
            && rss + (r.queueDepth + 1) * std::int64_t(r.batchSize) * imageBytes > hostLimit)
            --r.queueDepth;
    }
    r.predictedPeak = plan->predictPeak(r.batchSize, r.microBatch, r.queueDepth, r.evalBatch);
    if (budget) {
        // What the budget leaves after the run's predicted peak bounds the decoded cache.
        const std::int64_t hostLimit = c.memoryBudgetLimitBytes();
        const ModelSpec &m = c.model;
        const std::int64_t hostPeak = plan->onDevice ? hostRssBytes()
                + (r.queueDepth + 1) * std::int64_t(r.batchSize)
                    * (std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8)
                                                     : r.predictedPeak;
        r.cacheBudget = std::max<std::int64_t>(0, hostLimit - hostPeak);
    }
    const int micro = r.microBatch > 0 ? r.microBatch : r.batchSize;
    const QString what = plan->onDevice ? QStringLiteral("device") : QStringLiteral("host");
    if (micro < r.batchSize)
        log(QStringLiteral("memory plan: batch %1 does not fit whole within %2; training it as %3 "
                           "micro-batches of %4 (gradient accumulation, same effective batch), "
                           "loader queue %5, evaluation batch %6; predicted %7 peak %8")
                .arg(r.batchSize)
                .arg(formatBytes(limit))
                .arg((r.batchSize + micro - 1) / micro)
                .arg(micro)
                .arg(r.queueDepth)
                .arg(r.evalBatch)
                .arg(what, formatBytes(r.predictedPeak)));
    else
        log(QStringLiteral(
            "memory plan: batch %1, loader queue %2, evaluation batch %3; predicted %4 "
            "peak %5%6")
                .arg(r.batchSize)
                .arg(r.queueDepth)
                .arg(r.evalBatch)
                .arg(what, formatBytes(r.predictedPeak),
                    limit > 0 ? QString(QStringLiteral(" (limit %1)").arg(formatBytes(limit)))
                              : QString()));
    torch::manual_seed(c.seed); // the probes drew random numbers: start the model as without them
    return r;
}

} // namespace leantune
