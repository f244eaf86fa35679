#pragma once
// Private header (includes torch): a user's TorchScript module trained like a zoo model.

#include "model/modelzoo_p.h"

#include <torch/script.h>

#include <QString>

#include <memory>

namespace leantune {

// Model names of the form "torchscript:PATH".
inline constexpr const char *kTorchScriptPrefix = "torchscript:";
bool isTorchScriptModelName(const QString &name);
QString torchScriptPath(const QString &name);
// validateModelSpec() for "torchscript:PATH": the file exists and loads, has parameters, and gives
// [N, K ≥ 2] float logits for the spec's channels and input size (K is checked against the data's
// classes when the run builds the model). The result is cached per file (path, size, mtime) and
// input shape, so a form may call it on every edit.
bool validateTorchScriptSpec(const ModelSpec &spec, QString *error);
// The reason in an exception's message WHAT, one line: for a TorchScript interpreter failure
// ("The following operation failed in the TorchScript interpreter." and its tracebacks) the error
// the script raised, quoted, at most 80 characters; otherwise the message's first line.
QString torchScriptFailureReason(const char *what);

// One submodule of a TorchScript module, mirrored as a torch::nn::Module: its own parameters and
// buffers registered under their TorchScript names on the SAME tensors (no copy), so the optimizer,
// the pruner, checkpoints and Module::to() act on the weights the script module computes with.
// Its kind comes from the parameter shapes (a 4-d "weight": a convolution, 2-d: a linear layer);
// groups, when the script module's type records it (scripted nn.Conv2d does: a constant), marks a
// depthwise convolution. Header-only so that the pruner can recognise it without linking the model
// library.
class ScriptedLayerImpl : public torch::nn::Module {
public:
    enum class Kind { Conv, Linear, Other };
    Kind kind = Kind::Other;
    std::int64_t groups = 1; // 1 when unknown
    bool depthwise() const
    {
        const torch::Tensor *w = named_parameters(false).find("weight");
        return kind == Kind::Conv && groups > 1 && w && w->size(1) == 1;
    }
    torch::Tensor weight() const
    {
        const torch::Tensor *w = named_parameters(false).find("weight");
        return w ? *w : torch::Tensor();
    }
    torch::Tensor bias() const
    {
        const torch::Tensor *b = named_parameters(false).find("bias");
        return b ? *b : torch::Tensor();
    }
};

// A torch.jit.save'd module (scripted or traced) from [N, C, H, W] float input to [N, classes]
// logits, as a ClassifierImpl: forward runs the script module; train()/eval() switch it too; its
// parameters and buffers are mirrored by ScriptedLayerImpl children named like its submodules.
class TorchScriptModelImpl : public ClassifierImpl {
public:
    // Loads PATH and checks it: it has parameters, and a forward of 2 zero images of SPEC's
    // channels and input size gives float [2, SPEC.classes] (classes < 2: any count ≥ 2).
    // nullptr + *error (one line) otherwise.
    static std::shared_ptr<TorchScriptModelImpl> load(
        const QString &path, const ModelSpec &spec, QString *error);

    torch::Tensor forward(torch::Tensor x) override;
    void train(bool on = true) override;
    torch::jit::Module &scriptModule() { return m_module; }

private:
    explicit TorchScriptModelImpl(torch::jit::Module module);
    torch::jit::Module m_module;
};

} // namespace leantune
