#pragma once
// Private header (includes torch).

#include "config/runenums.h"
#include "prune/pruningschedule.h"

#include <torch/torch.h>

#include <QString>

#include <map>
#include <string>
#include <vector>

namespace leantune {

struct LayerSparsity {
    QString name; // parameter name, e.g. "conv1.weight"
    std::int64_t elements = 0;
    std::int64_t zeros = 0; // masked-out elements
    double sparsity() const { return elements ? double(zeros) / double(elements) : 0.0; }
};

// PruneGranularity (run/runenums.h): Weight, one mask element per weight (unstructured); Channel,
// whole output channels (conv filters, linear rows) ranked by L1 norm, so an exporter can remove
// them physically. PruneScope: Layer, every prunable tensor is pruned to the target on its own.
// Global (weight granularity only): one ranking across the layers by layer-adaptive magnitude
// scores (LAMP, Lee et al., ICLR 2021): w² over the sum of w² of the weights of its layer at least
// as large. The score is unchanged when a layer's weights are scaled (a conv followed by BatchNorm
// has no meaningful scale), the largest weight of each layer scores 1 and is never pruned, and
// redundant layers give up more than small, crowded ones. Sensitivity: per layer, as Layer, each
// tensor to its own final sparsity (setLayerTargets(), from a sensitivity scan), for weights and
// channels alike; without targets it is Layer.

// Unstructured magnitude pruning of conv and linear weights. Biases, BatchNorm parameters,
// depthwise kernels (groups == in_channels > 1) and the classifier (the last linear layer, unless
// it is the only prunable layer) are never pruned; the classifier still counts in
// measuredSparsity(). Per tensor, keeps the k = max(round(n·(1−s)), 1) largest magnitudes; elements
// tied with the k-th largest are kept too.
//
// Channel granularity: per layer, keeps the k = max(round(C·(1−s)), 1) output channels with the
// largest L1 norm (ties kept) and zeroes the rest, together with the bias of a linear layer and the
// γ and β of the BatchNorm that directly follows a conv, so a pruned channel outputs exactly 0 and
// can be cut out of the graph without changing any output. Layers whose channels cannot be removed
// are left dense: the classifier (last linear layer) and, with the model zoo's torchvision names,
// convs whose output joins a residual sum (the stem "conv1" of a ResNet, "layerX.Y.conv2",
// "*.downsample.0"; MobileNetV2's projections "features.N.conv.M"). A depthwise conv that directly
// follows a channel-pruned conv (same channel count, next in registration order) loses the same
// channels, kernel and BatchNorm γ, β, so the chain expansion → depthwise → projection outputs
// exactly 0 there. Masks keep the weight's shape either way (checkpoints are unchanged).
// A TorchScript model (model/torchscriptmodel_p.h) is read by parameter shape: each submodule's
// 4-d "weight" is a conv (depthwise ones skipped where the script module records groups), each
// 2-d "weight" a linear layer, the last of them the classifier.
// Not thread-safe; lives on the trainer's thread.
class MagnitudePruner {
public:
    MagnitudePruner(torch::nn::Module &model, PruningSchedule schedule,
        PruneGranularity granularity = PruneGranularity::Weight,
        PruneScope scope = PruneScope::Layer);

    // Call after every optimizer step with the step just taken (from 1): recomputes masks when the
    // schedule says so, then applies the masks (multiplies weights in place, no grad).
    // Returns true when masks were recomputed at this step.
    bool step(std::int64_t step);
    // Applies the current masks without updating them.
    void applyMasks();
    // Recomputes the masks of every prunable tensor for sparsity s (exposed for tests).
    void updateMasks(double sparsity);
    // Per-layer final sparsities (weight name → sparsity) for a schedule whose final sparsity is
    // OVERALL: at each update a layer gets the schedule's sparsity × its target / OVERALL, so the
    // schedule's shape applies to every layer, scaled to its own target. False + *error, changing
    // nothing, when a prunable tensor has no target or a name is not one of this model's.
    bool setLayerTargets(
        const std::map<QString, double> &targets, double overall, QString *error = nullptr);
    // The factor each tensor's sparsity is the schedule's times (prunableNames() order; empty: 1
    // for all). The sensitivity scan prunes one layer alone with a 1 among 0s.
    void setLayerScales(std::vector<double> scales) { m_layerScales = std::move(scales); }
    // Whether tensor I (prunableNames() order) is pruned at this granularity (not the dense
    // classifier; for channels, not a layer whose channels cannot be removed).
    bool isPrunable(std::size_t i) const;
    std::vector<std::vector<std::int64_t>> shapes() const; // each tensor's, prunableNames() order

    const PruningSchedule &schedule() const { return m_schedule; }
    PruneGranularity granularity() const { return m_granularity; }
    PruneScope scope() const { return m_scope; }
    double targetSparsity() const { return m_target; } // target of the last mask update
    // Measured sparsity over all conv and linear weights (the dense classifier included): 1 −
    // mean(mask).
    double measuredSparsity() const;
    std::vector<LayerSparsity> layerSparsity() const;
    std::vector<std::string> prunableNames() const;

    // Masks for checkpoints: float 0/1 copies, one per prunable tensor, in prunableNames() order.
    std::vector<torch::Tensor> masks() const;
    // Restores masks (bool or float; non-zero = keep) and the target they were made for. Returns
    // false and sets *error, changing nothing, when the count or a shape does not match. Does not
    // touch the weights: call applyMasks() to enforce them.
    bool setMasks(const std::vector<torch::Tensor> &masks, double target, QString *error = nullptr);

private:
    struct Entry {
        std::string name;
        torch::Tensor weight; // shares storage with the model's parameter
        torch::Tensor mask; // same shape, float 0/1 on the weight's device
        bool channelPrunable = false; // Channel granularity: prune whole output channels
        bool keepDense = false; // the classifier: its mask stays all ones
        torch::Tensor bias; // zeroed with its channel (undefined when none)
        torch::Tensor bnWeight; // the following BatchNorm's γ and β (undefined when none)
        torch::Tensor bnBias;
        // A depthwise conv fed by this conv (MobileNetV2's expansion → depthwise), its bias and
        // its BatchNorm's γ and β: zeroed with the channel, so the whole chain can be cut.
        torch::Tensor dwWeight, dwBias, dwBnWeight, dwBnBias;
    };
    void attachDepthwise(torch::nn::Conv2dImpl &conv);
    void addModule(const std::string &name, torch::nn::Module &module, bool residualModel);
    void attachBatchNorm(torch::nn::BatchNorm2dImpl &bn);
    void updateMasksGlobally(double sparsity);

    std::vector<Entry> m_entries;
    PruningSchedule m_schedule;
    PruneGranularity m_granularity = PruneGranularity::Weight;
    PruneScope m_scope = PruneScope::Layer;
    double m_target = 0.0;
    std::vector<double> m_layerScales; // see setLayerScales()
};

} // namespace leantune
