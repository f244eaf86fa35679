#include "train/stepprobe_p.h"

#include "metrics/cudashim_p.h"
#include "metrics/memoryprobe.h"
#include "train/checkpoint_p.h"

#include <algorithm>

namespace leantune {

bool isOutOfMemoryError(const c10::Error &error)
{
    if (dynamic_cast<const c10::OutOfMemoryError *>(&error))
        return true;
    const std::string what = error.what_without_backtrace();
    return what.find("out of memory") != std::string::npos
        || what.find("can't allocate memory") != std::string::npos;
}

StepProbe::StepProbe(RunConfig config, torch::Device device)
    : m_config(std::move(config))
    , m_device(device)
{
}

std::unique_ptr<StepProbe> StepProbe::create(
    const RunConfig &config, const torch::Device &device, QString *error)
{
    std::unique_ptr<StepProbe> p(new StepProbe(config, device));
    p->m_model = createModel(config.model, error);
    if (!p->m_model)
        return nullptr;
    p->m_model->to(device);
    p->m_channelsLast = config.useChannelsLast(device.is_cuda());
    if (p->m_channelsLast)
        useChannelsLastWeights(*p->m_model);
    if (config.optimizer == Optimizer::Adam)
        p->m_optimizer = std::make_unique<torch::optim::Adam>(
            p->m_model->parameters(), torch::optim::AdamOptions(config.learningRate));
    else
        p->m_optimizer = std::make_unique<torch::optim::SGD>(p->m_model->parameters(),
            torch::optim::SGDOptions(config.learningRate).momentum(config.momentum));
    // The run's pruner holds a mask the size of each prunable weight for the whole run, and its
    // checkpoints carry them: part of the run's memory from the first step on.
    std::optional<PruningSchedule> schedule = PruningSchedule::parse(config.prune, error);
    if (!schedule)
        return nullptr;
    p->m_pruner = std::make_unique<MagnitudePruner>(
        *p->m_model, *schedule, config.pruneGranularity, config.pruneScope);
    return p;
}

void StepProbe::train(int batch, int steps, int microBatch)
{
    const ModelSpec &m = m_config.model;
    const bool autocast = m_device.is_cuda() && m_config.precision != Precision::Fp32;
    const std::int64_t n = std::max(batch, 1);
    const std::int64_t micro = microBatch > 0 ? std::min<std::int64_t>(microBatch, n) : n;
    m_model->train();
    for (int s = 0; s < steps; ++s) {
        // Made on the device: a host copy of a large trial batch would cost seconds and host
        // memory.
        torch::Tensor x = torch::randn(
            { n, m.channels, m.inputSize, m.inputSize }, torch::TensorOptions().device(m_device));
        if (m_channelsLast)
            x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor y = torch::randint(0, std::max(m.classes, 2), { n },
            torch::TensorOptions().dtype(torch::kLong).device(m_device));
        m_optimizer->zero_grad();
        for (std::int64_t off = 0; off < n; off += micro) {
            const std::int64_t len = std::min(micro, n - off);
            if (autocast)
                cudashim::setAutocast(true, enumName(m_config.precision));
            torch::Tensor loss;
            try {
                const torch::Tensor logits = m_model->forward(x.narrow(0, off, len));
                loss = torch::nn::functional::cross_entropy(logits, y.narrow(0, off, len));
            } catch (...) {
                if (autocast)
                    cudashim::setAutocast(false, enumName(m_config.precision));
                throw;
            }
            if (autocast)
                cudashim::setAutocast(false, enumName(m_config.precision));
            (loss * (double(len) / double(n))).backward();
        }
        m_optimizer->step();
    }
}

void StepProbe::evaluate(int batch)
{
    const ModelSpec &m = m_config.model;
    torch::NoGradGuard noGrad;
    m_model->eval();
    try {
        const torch::Tensor x
            = torch::randn({ std::max(batch, 1), m.channels, m.inputSize, m.inputSize },
                torch::TensorOptions().device(m_device));
        const torch::Tensor logits = m_model->forward(x).to(torch::kFloat32);
        (void)logits.argmax(1);
    } catch (...) {
        m_model->train();
        throw;
    }
    m_model->train();
}

void StepProbe::serializeCheckpoint()
{
    (void)checkpointBytes(*m_model, *m_optimizer, m_pruner->masks(), CheckpointState {});
}

void StepProbe::release()
{
    for (torch::Tensor &p : m_model->parameters())
        if (p.grad().defined())
            p.mutable_grad() = torch::Tensor();
    if (m_device.is_cuda())
        emptyDeviceCache();
}

std::int64_t StepProbe::measurePeak(const std::function<void()> &fn)
{
    if (m_device.is_cuda()) {
        emptyDeviceCache();
        resetDevicePeak(m_device.index());
        fn();
        return deviceMemory(m_device.index()).peak;
    }
    resetHostPeak();
    fn();
    return hostPeakRssBytes();
}

} // namespace leantune
