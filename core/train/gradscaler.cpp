#include "train/gradscaler_p.h"

namespace leantune {

bool GradScaler::step(torch::optim::Optimizer &optimizer)
{
    torch::NoGradGuard noGrad;
    const double inv = 1.0 / m_scale;
    torch::Tensor nonFinite; // count of non-finite gradient values, on the gradients' device
    for (auto &group : optimizer.param_groups()) {
        for (torch::Tensor &p : group.params()) {
            if (!p.grad().defined())
                continue;
            torch::Tensor g = p.mutable_grad();
            const torch::Tensor bad = g.isfinite().logical_not().sum();
            nonFinite = nonFinite.defined() ? nonFinite + bad : bad;
            g.mul_(inv);
        }
    }
    m_foundInf = nonFinite.defined() && nonFinite.item<std::int64_t>() > 0;
    if (m_foundInf) {
        ++m_skipped;
        return false;
    }
    optimizer.step();
    return true;
}

void GradScaler::update()
{
    if (m_foundInf) {
        m_scale *= m_options.backoffFactor;
        m_growthTracker = 0;
    } else if (++m_growthTracker >= m_options.growthInterval) {
        m_scale *= m_options.growthFactor;
        m_growthTracker = 0;
    }
}

} // namespace leantune
