#pragma once
// Private header (includes torch): the fine-tuning controls, --freeze-epochs and
// --backbone-lr-scale.

#include "model/modelzoo_p.h"
#include "config/runconfig.h"

#include <QString>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace leantune {

// The run's split of a model into its classifier and the rest (the backbone), its optimizer's
// parameter groups and its frozen epochs. The classifier is the model's last Linear module in
// registration order (resnet18/resnet8 "fc", mobilenet_v2 "classifier.1", smallcnn "fc2"); of a
// TorchScript model, its last linear submodule (a 2-d weight) or, failing that, its last leaf
// submodule with parameters. With neither option set (0 frozen epochs, scale 1) nothing is split:
// one parameter group, as before.
class FineTune {
public:
    // std::nullopt + *error when an option needs a classifier and MODEL has none that can be told
    // apart (a TorchScript module that keeps its parameters on its root module).
    static std::optional<FineTune> create(
        const RunConfig &config, ClassifierImpl &model, QString *error);

    // SGD or Adam as CONFIG says: one group at the learning rate, or, when the backbone's scale is
    // not 1, two: the classifier's first (at the learning rate), then the backbone's (at lr × F).
    std::unique_ptr<torch::optim::Optimizer> makeOptimizer(
        const RunConfig &config, ClassifierImpl &model) const;
    // The schedule's learning rate LR: the first group at LR, a second one at LR × the scale.
    void setLearningRate(torch::optim::Optimizer &optimizer, double lr) const;
    // Called at the start of epoch EPOCH (from 0), after model.train(): while EPOCH < the frozen
    // epochs, the backbone's parameters need no gradient (so the optimizer skips them: no step, no
    // weight decay, no momentum) and its BatchNorm layers run in eval mode (statistics kept);
    // afterwards everything trains. Returns whether the backbone is frozen this epoch.
    bool beginEpoch(ClassifierImpl &model, std::int64_t epoch);

    const std::string &classifier() const { return m_classifier; } // empty when not split
    // What the log should say about the split; empty when there is none.
    QString describe() const;

private:
    int m_freezeEpochs = 0;
    double m_backboneScale = 1.0;
    std::string m_classifier;
    std::vector<torch::Tensor> m_head, m_backbone;
    std::vector<std::string> m_backboneNorms; // modules with running statistics, by name
};

} // namespace leantune
