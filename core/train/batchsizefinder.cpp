#include "train/batchsizefinder.h"
#include "train/exceptiontext_p.h"

#include "metrics/memoryprobe.h"
#include "train/stepprobe_p.h"

#include <QJsonArray>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

// CPU: the planner's prediction for whole batches with the run's loader queue. Never out of memory.
// Evaluation is predicted at the trial's batch (it needs less per image than training); the Trainer
// then sizes its evaluation batches to the limit.
class PlanTrialRunner : public BatchTrialRunner {
public:
    explicit PlanTrialRunner(const MemoryPlan &plan)
        : m_plan(plan)
    {
    }
    BatchTrial run(int batchSize) override
    {
        BatchTrial t;
        t.batchSize = batchSize;
        t.peakBytes = m_plan.predictPeak(batchSize, 0, -1, batchSize);
        return t;
    }

private:
    const MemoryPlan &m_plan;
};

// CUDA: two real training steps and an evaluation pass at the batch size on synthetic inputs (the
// Trainer sizes its evaluation batches to the limit from the plan).
class DeviceTrialRunner : public BatchTrialRunner {
public:
    explicit DeviceTrialRunner(StepProbe &probe)
        : m_probe(probe)
    {
    }
    BatchTrial run(int batchSize) override
    {
        BatchTrial t;
        t.batchSize = batchSize;
        try {
            t.peakBytes = m_probe.measurePeak([&] {
                m_probe.train(batchSize, 2);
                m_probe.evaluate(batchSize);
            });
        } catch (const c10::Error &e) {
            if (isOutOfMemoryError(e))
                t.outOfMemory = true;
            else
                t.error = firstLine(e.what_without_backtrace());
        } catch (const std::exception &e) {
            t.error = firstLine(e.what());
        }
        return t;
    }
    void release() override
    {
        try {
            m_probe.release();
        } catch (const std::exception &) {
        }
    }

private:
    StepProbe &m_probe;
};

} // namespace

BatchSearchResult BatchSizeFinder::search(
    BatchTrialRunner &runner, std::int64_t capacityBytes, const std::atomic_bool *cancel) const
{
    BatchSearchResult r;
    r.capacityBytes = capacityBytes;
    r.limitBytes
        = std::int64_t(double(capacityBytes) * (1.0 - std::clamp(m_options.margin, 0.0, 0.99)));
    const int lo0 = std::max(m_options.minBatch, 1);
    const int cap = std::max(m_options.maxBatch, lo0);
    const auto trial = [&](int b) {
        BatchTrial t = runner.run(b);
        t.batchSize = b;
        t.fits = t.error.isEmpty() && !t.outOfMemory && t.peakBytes >= 0
            && t.peakBytes <= r.limitBytes;
        runner.release();
        r.trials.push_back(t);
        return t;
    };
    const auto cancelled = [&] { return cancel && cancel->load(); };

    int good = 0, bad = 0; // largest size that fit, smallest that did not (0: none yet)
    std::int64_t goodPeak = -1;
    int b = std::clamp(m_options.startBatch > 0 ? m_options.startBatch : lo0, lo0, cap);
    // Doubling.
    while (!cancelled()) {
        const BatchTrial t = trial(b);
        if (!t.error.isEmpty()) {
            r.error = QStringLiteral("trial at batch %1 failed: %2").arg(b).arg(t.error);
            return r;
        }
        if (!t.fits) {
            bad = b;
            break;
        }
        good = b;
        goodPeak = t.peakBytes;
        if (b >= cap) {
            r.capped = true;
            break;
        }
        b = int(std::min<std::int64_t>(std::int64_t(b) * 2, cap));
    }
    // Bisection between the last size that fit (or below the minimum) and the first that did not.
    if (bad > 0) {
        int lo = good > 0 ? good : lo0 - 1, hi = bad;
        const auto bracketDone = [&] {
            return hi - lo <= std::max(1, int(double(lo) * std::max(0.0, m_options.tolerance)));
        };
        while (!bracketDone() && !cancelled()) {
            const int mid = lo + (hi - lo) / 2;
            const BatchTrial t = trial(mid);
            if (!t.error.isEmpty()) {
                r.error = QStringLiteral("trial at batch %1 failed: %2").arg(mid).arg(t.error);
                return r;
            }
            if (t.fits) {
                lo = mid;
                good = mid;
                goodPeak = t.peakBytes;
            } else {
                hi = mid;
            }
        }
    }
    if (cancelled()) {
        r.error = QStringLiteral("batch-size search cancelled");
        return r;
    }
    r.batchSize = good;
    r.peakBytes = goodPeak;
    if (good == 0) {
        const BatchTrial &last = r.trials.back();
        r.error = last.outOfMemory ? QStringLiteral("even batch %1 runs out of memory").arg(lo0)
                                   : QStringLiteral("even batch %1 needs %2 bytes, over the limit "
                                                    "of %3 bytes (capacity %4 less a %5% margin)")
                                         .arg(lo0)
                                         .arg(last.peakBytes)
                                         .arg(r.limitBytes)
                                         .arg(capacityBytes)
                                         .arg(m_options.margin * 100.0, 0, 'f', 0);
    }
    return r;
}

QJsonObject BatchSizeReport::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("batch_size")] = search.batchSize;
    o[QStringLiteral("predicted_peak_bytes")] = qint64(predictedPeakBytes);
    o[QStringLiteral("capacity_bytes")] = qint64(search.capacityBytes);
    o[QStringLiteral("limit_bytes")] = qint64(search.limitBytes);
    o[QStringLiteral("measured_peak_bytes")]
        = measured ? QJsonValue(qint64(search.peakBytes)) : QJsonValue();
    o[QStringLiteral("device")] = plan.device;
    o[QStringLiteral("capped")] = search.capped;
    if (search.capped)
        o[QStringLiteral("cap_reason")] = capReason;
    QJsonArray trials;
    for (const BatchTrial &t : search.trials) {
        QJsonObject j { { QStringLiteral("batch_size"), t.batchSize },
            { QStringLiteral("fits"), t.fits },
            { QStringLiteral("out_of_memory"), t.outOfMemory } };
        if (t.peakBytes >= 0)
            j[QStringLiteral("peak_bytes")] = qint64(t.peakBytes);
        trials.append(j);
    }
    o[QStringLiteral("trials")] = trials;
    o[QStringLiteral("plan")] = plan.toJson();
    return o;
}

QString BatchSizeReport::capText() const
{
    return search.capped && !capReason.isEmpty() ? QStringLiteral(" (capped: %1)").arg(capReason)
                                                 : QString();
}

std::optional<BatchSizeReport> BatchSizeFinder::find(const RunConfig &config,
    std::int64_t maxSamples, QString *error, const std::atomic_bool *cancel)
{
    BatchSizeReport report;
    std::optional<MemoryPlan> plan = MemoryPlanner::probe(config, error);
    if (!plan)
        return std::nullopt;
    report.plan = *plan;
    BatchSearchOptions o;
    o.margin = plan->margin;
    o.maxBatch = std::max(1, config.maxBatchSize);
    QString capReason = QStringLiteral("the maximum batch size, %1").arg(o.maxBatch);
    if (maxSamples > 0) {
        // Memory is not the only limit: a batch over a tenth of the data leaves under ten optimizer
        // steps an epoch (and a pruning schedule almost no steps to act on).
        const std::int64_t tenth
            = std::max<std::int64_t>(std::min<std::int64_t>(maxSamples, 32), maxSamples / 10);
        if (tenth < o.maxBatch) {
            o.maxBatch = int(tenth);
            capReason = QStringLiteral("a tenth of the %1 training images, so that an epoch has "
                                       "at least ten steps")
                            .arg(maxSamples);
        }
    }
    // Start where the plan says the limit is reached (a power of two), so a real search needs few
    // trials.
    if (plan->train.perImageBytes > 0.0) {
        const double room = (double(plan->limitBytes()) - plan->train.fixedBytes)
            / (plan->train.perImageBytes
                + (plan->onDevice ? 0.0
                                  : double(plan->loaderBytesPerImage) * (plan->queueDepth + 1)));
        int start = 1;
        while (double(start) * 2.0 <= room && start * 2 <= o.maxBatch)
            start *= 2;
        o.startBatch = start;
    }
    try {
        const BatchSizeFinder finder(o); // exact on predictions
        if (plan->onDevice) {
            const torch::Device device(plan->device.toStdString());
            torch::manual_seed(config.seed);
            std::unique_ptr<StepProbe> probe = StepProbe::create(config, device, error);
            if (!probe)
                return std::nullopt;
            DeviceTrialRunner runner(*probe);
            // Real trials cost seconds each: settle within 2% of the largest size that fits.
            BatchSearchOptions deviceOptions = o;
            deviceOptions.tolerance = 0.02;
            report.search
                = BatchSizeFinder(deviceOptions).search(runner, plan->capacityBytes, cancel);
            report.measured = true;
            probe.reset();
            emptyDeviceCache();
        } else {
            PlanTrialRunner runner(report.plan);
            report.search = finder.search(runner, plan->capacityBytes, cancel);
        }
    } catch (const c10::Error &e) {
        *error = QStringLiteral("batch-size search: %1").arg(firstLine(e.what_without_backtrace()));
        return std::nullopt;
    } catch (const std::exception &e) {
        *error = QStringLiteral("batch-size search: %1").arg(firstLine(e.what()));
        return std::nullopt;
    }
    if (!report.search.ok()) {
        *error = report.search.error;
        return std::nullopt;
    }
    report.predictedPeakBytes
        = report.plan.predictPeak(report.search.batchSize, 0, -1, report.search.batchSize);
    if (report.search.capped)
        report.capReason = capReason;
    return report;
}

} // namespace leantune
