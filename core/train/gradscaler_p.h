#pragma once
// Private header (includes torch): dynamic loss scaling for fp16 training (LibTorch has no
// GradScaler).

#include <torch/torch.h>

#include <cstdint>

namespace leantune {

// Dynamic loss scaling with PyTorch's GradScaler semantics: the loss is multiplied by `scale`
// before backward; step() unscales the gradients, skips the optimizer step when any is inf or NaN,
// and update() halves the scale after such a step (backoff) or doubles it after `growthInterval`
// clean steps in a row (growth). One host read per step (the inf/NaN check). Used on the trainer's
// thread.
class GradScaler {
public:
    struct Options {
        double initScale = 65536.0;
        double growthFactor = 2.0;
        double backoffFactor = 0.5;
        int growthInterval = 2000;
    };

    GradScaler()
        : GradScaler(Options {})
    {
    }
    explicit GradScaler(Options options)
        : m_options(options)
        , m_scale(options.initScale)
    {
    }

    torch::Tensor scale(const torch::Tensor &loss) const { return loss * m_scale; }
    // Unscales the gradients of OPTIMIZER's parameters in place and steps unless one is not finite.
    // Returns true when the step was taken. Then call update().
    bool step(torch::optim::Optimizer &optimizer);
    void update();

    double currentScale() const { return m_scale; }
    bool lastStepSkipped() const { return m_foundInf; }
    std::int64_t skippedSteps() const { return m_skipped; }

private:
    Options m_options;
    double m_scale;
    int m_growthTracker = 0;
    bool m_foundInf = false;
    std::int64_t m_skipped = 0;
};

} // namespace leantune
