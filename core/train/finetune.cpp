#include "train/finetune_p.h"

#include "model/torchscriptmodel_p.h"

#include <QStringBuilder>

#include <set>

namespace leantune {

namespace {

bool isLinear(torch::nn::Module &m)
{
    if (m.as<torch::nn::LinearImpl>())
        return true;
    const auto *scripted = m.as<ScriptedLayerImpl>();
    return scripted && scripted->kind == ScriptedLayerImpl::Kind::Linear;
}

bool within(const std::string &name, const std::string &module)
{
    return name == module || name.rfind(module + '.', 0) == 0;
}

} // namespace

std::optional<FineTune> FineTune::create(
    const RunConfig &config, ClassifierImpl &model, QString *error)
{
    FineTune f;
    f.m_freezeEpochs = config.freezeEpochs;
    f.m_backboneScale = config.backboneLrScale;
    if (f.m_freezeEpochs <= 0 && f.m_backboneScale == 1.0)
        return f;
    const bool scripted = dynamic_cast<TorchScriptModelImpl *>(&model) != nullptr;
    std::shared_ptr<torch::nn::Module> head;
    std::string leaf; // TorchScript without a linear layer: the last leaf with parameters
    std::shared_ptr<torch::nn::Module> leafModule;
    for (const auto &m : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
        if (isLinear(*m.value())) {
            f.m_classifier = m.key();
            head = m.value();
        }
        if (scripted && m.value()->children().empty() && !m.value()->parameters(false).empty()) {
            leaf = m.key();
            leafModule = m.value();
        }
    }
    if (!head && scripted && leafModule) {
        f.m_classifier = leaf;
        head = leafModule;
    }
    if (!head) {
        *error
            = QStringLiteral(
                "--freeze-epochs and --backbone-lr-scale need a classifier layer, and this model "
                "has none that can be told apart (no Linear layer%1)")
                  .arg(scripted ? QStringLiteral(" and no submodule with parameters") : QString());
        return std::nullopt;
    }
    f.m_head = head->parameters();
    std::set<const void *> inHead;
    for (const torch::Tensor &p : f.m_head)
        inHead.insert(p.unsafeGetTensorImpl());
    for (const torch::Tensor &p : model.parameters())
        if (!inHead.count(p.unsafeGetTensorImpl()))
            f.m_backbone.push_back(p);
    for (const auto &m : model.named_modules(/*name_prefix=*/"", /*include_self=*/false))
        if (m.value()->named_buffers(/*recurse=*/false).find("running_mean")
            && !within(m.key(), f.m_classifier))
            f.m_backboneNorms.push_back(m.key());
    return f;
}

std::unique_ptr<torch::optim::Optimizer> FineTune::makeOptimizer(
    const RunConfig &c, ClassifierImpl &model) const
{
    const bool split = m_backboneScale != 1.0 && !m_classifier.empty();
    const auto groups = [&](const auto &options) {
        using Options = std::decay_t<decltype(options)>;
        std::vector<torch::optim::OptimizerParamGroup> g;
        if (!split) {
            g.emplace_back(model.parameters(), std::make_unique<Options>(options));
            return g;
        }
        Options backbone = options;
        backbone.lr(c.learningRate * m_backboneScale);
        g.emplace_back(m_head, std::make_unique<Options>(options));
        g.emplace_back(m_backbone, std::make_unique<Options>(backbone));
        return g;
    };
    if (c.optimizer == Optimizer::Adam) {
        const auto options = torch::optim::AdamOptions(c.learningRate).weight_decay(c.weightDecay);
        return std::make_unique<torch::optim::Adam>(groups(options), options);
    }
    const auto options
        = torch::optim::SGDOptions(c.learningRate).momentum(c.momentum).weight_decay(c.weightDecay);
    return std::make_unique<torch::optim::SGD>(groups(options), options);
}

void FineTune::setLearningRate(torch::optim::Optimizer &optimizer, double lr) const
{
    auto &groups = optimizer.param_groups();
    for (std::size_t i = 0; i < groups.size(); ++i)
        groups[i].options().set_lr(i == 0 ? lr : lr * m_backboneScale);
}

bool FineTune::beginEpoch(ClassifierImpl &model, std::int64_t epoch)
{
    if (m_freezeEpochs <= 0)
        return false;
    const bool frozen = epoch < m_freezeEpochs;
    for (torch::Tensor &p : m_backbone) {
        p.requires_grad_(!frozen);
        if (frozen && p.grad().defined())
            p.mutable_grad() = torch::Tensor(); // zero_grad() would leave a zero the step decays
    }
    if (!frozen)
        return false;
    const std::set<std::string> norms(m_backboneNorms.begin(), m_backboneNorms.end());
    for (const auto &m : model.named_modules(/*name_prefix=*/"", /*include_self=*/false))
        if (norms.count(m.key()))
            m.value()->eval();
    if (auto *scripted = dynamic_cast<TorchScriptModelImpl *>(&model)) {
        for (const auto &m : scripted->scriptModule().named_modules())
            if (norms.count(m.name)) {
                torch::jit::Module sub = m.value;
                sub.train(false);
            }
    }
    return true;
}

QString FineTune::describe() const
{
    if (m_classifier.empty())
        return QString();
    const QString name = QString::fromStdString(m_classifier);
    QStringList parts;
    if (m_freezeEpochs > 0)
        parts << QStringLiteral(
            "the first %1 epoch(s) train only the classifier %2 (%3 other parameter tensors and "
            "%4 BatchNorm layers frozen)")
                     .arg(m_freezeEpochs)
                     .arg(name)
                     .arg(m_backbone.size())
                     .arg(m_backboneNorms.size());
    if (m_backboneScale != 1.0)
        parts << QStringLiteral("the classifier %1 trains at the learning rate, the rest at × %2")
                     .arg(name)
                     .arg(m_backboneScale);
    return QStringLiteral("fine-tuning: ") % parts.join(QStringLiteral("; "));
}

} // namespace leantune
