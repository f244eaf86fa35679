#include "train/trainstep_p.h"
#include "train/exceptiontext_p.h"

#include "metrics/cudashim_p.h"
#include "metrics/memoryprobe.h"
#include "train/distributed_p.h"
#include "train/stepprobe_p.h"

#include <QtGlobal>

namespace leantune {

namespace {

// CUDA autocast for the forward pass of a mixed-precision step; off again however the scope ends.
// Turning it off clears its cache of low-precision weight copies, which the optimizer step makes
// stale (as Python's `with autocast():` does).
class AutocastScope {
public:
    AutocastScope(bool enabled, Precision precision)
        : m_enabled(enabled)
        , m_precision(enumName(precision))
    {
        if (m_enabled)
            cudashim::setAutocast(true, m_precision);
    }
    ~AutocastScope()
    {
        if (m_enabled)
            cudashim::setAutocast(false, m_precision);
    }
    AutocastScope(const AutocastScope &) = delete;
    AutocastScope &operator=(const AutocastScope &) = delete;

private:
    bool m_enabled;
    QString m_precision;
};

// LEANTUNE_INJECT_OOM_AT_STEP=N[,N...]: steps whose first forward pass throws an out-of-memory
// error.
std::set<std::int64_t> injectedOomSteps()
{
    std::set<std::int64_t> steps;
    const QString spec = qEnvironmentVariable("LEANTUNE_INJECT_OOM_AT_STEP");
    for (const QString &part : spec.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const qint64 step = part.trimmed().toLongLong(&ok);
        if (ok && step > 0)
            steps.insert(step);
    }
    return steps;
}

} // namespace

TrainStep::TrainStep(ClassifierImpl &model, torch::optim::Optimizer &optimizer,
    const torch::Device &device, Precision precision, int microBatch, DistributedRun *dist)
    : m_model(model)
    , m_optimizer(optimizer)
    , m_device(device)
    , m_precision(precision)
    , m_autocast(device.is_cuda() && precision != Precision::Fp32)
    , m_microBatch(microBatch)
    , m_injectOomAt(injectedOomSteps())
    , m_dist(dist)
{
    if (precision == Precision::Fp16)
        m_scaler = std::make_unique<GradScaler>();
    const QString lossFile = qEnvironmentVariable("LEANTUNE_STEP_LOSS_FILE");
    if (!lossFile.isEmpty() && (!m_dist || m_dist->isWriter())) {
        m_stepLossFile = std::make_unique<QFile>(lossFile);
        if (!m_stepLossFile->open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Text))
            m_stepLossFile.reset();
    }
}

std::optional<TrainStep::Sums> TrainStep::run(
    const torch::Tensor &x, const torch::Tensor &y, std::int64_t step, QString *error)
{
    const std::int64_t n = x.size(0);
    for (;;) {
        const std::int64_t micro = m_microBatch > 0 ? std::min<std::int64_t>(m_microBatch, n) : n;
        try {
            Sums sums = forwardBackward(x, y, micro, step);
            if (m_dist) {
                const DistributedRun::StepSums global
                    = m_dist->finishStep(sums.loss, sums.correct, sums.images);
                sums = { global.loss, global.correct, global.images };
            }
            optimizerStep();
            if (!m_device.is_cuda())
                m_heapGuard.afterStep();
            if (m_stepLossFile)
                m_stepLossFile->write(QByteArray::number(step) + ' '
                    + QByteArray::number(sums.loss.item<double>() / double(sums.images), 'g', 12)
                    + '\n');
            return sums;
        } catch (const c10::Error &e) {
            if (!isOutOfMemoryError(e))
                throw;
            for (torch::Tensor &p : m_model.parameters()) {
                if (p.grad().defined())
                    p.mutable_grad() = torch::Tensor();
            }
            emptyDeviceCache();
            const QString what = firstLine(e.what_without_backtrace());
            if (micro <= 1) {
                *error = QStringLiteral(
                    "out of memory at step %1 even with micro-batches of one image (%2); use a "
                    "smaller model or input size")
                             .arg(step)
                             .arg(what);
                return std::nullopt;
            }
            m_microBatch = int((micro + 1) / 2);
            ++m_recoveries;
            if (m_onRecovery)
                m_onRecovery(step, int(micro), m_microBatch, what);
        }
    }
}

// Forward and backward over micro-batches of MICRO images; the gradients add up to the whole
// batch's.
TrainStep::Sums TrainStep::forwardBackward(
    const torch::Tensor &x, const torch::Tensor &y, std::int64_t micro, std::int64_t step)
{
    const std::int64_t n = x.size(0);
    Sums sums;
    sums.images = n;
    m_optimizer.zero_grad();
    if (m_dist)
        m_dist->beginStep(n);
    for (std::int64_t off = 0; off < n; off += micro) {
        const std::int64_t len = std::min(micro, n - off);
        if (m_beforeForward)
            m_beforeForward(step, int(micro));
        if (!m_injectOomAt.empty() && m_injectOomAt.erase(step) > 0)
            TORCH_CHECK_WITH(
                OutOfMemoryError, false, "out of memory (injected by LEANTUNE_INJECT_OOM_AT_STEP)");
        const torch::Tensor xs = len == n ? x : x.narrow(0, off, len);
        const torch::Tensor ys = len == n ? y : y.narrow(0, off, len);
        torch::Tensor logits, loss;
        {
            const AutocastScope autocast(m_autocast, m_precision);
            logits = m_model.forward(xs);
            loss = torch::nn::functional::cross_entropy(logits, ys);
        }
        const torch::Tensor part = len == n ? loss : loss * (double(len) / double(n));
        if (m_dist && off + len >= n)
            m_dist->armLastMicroBatch(); // buckets allreduce as the last backward fills them
        (m_scaler ? m_scaler->scale(part) : part).backward();
        const torch::Tensor l = loss.detach().to(torch::kFloat64) * double(len);
        const torch::Tensor k = logits.detach().argmax(1).eq(ys).sum();
        sums.loss = sums.loss.defined() ? sums.loss + l : l;
        sums.correct = sums.correct.defined() ? sums.correct + k : k;
    }
    return sums;
}

void TrainStep::optimizerStep()
{
    if (m_scaler) {
        m_scaler->step(m_optimizer); // skipped when a gradient is inf/NaN
        m_scaler->update();
    } else {
        m_optimizer.step();
    }
}

} // namespace leantune
