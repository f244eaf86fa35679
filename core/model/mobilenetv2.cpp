#include "model/mobilenetv2_p.h"

#include <vector>

namespace leantune {

namespace {

namespace nn = torch::nn;

// Conv (no bias) + BatchNorm + ReLU6 as torchvision's Conv2dNormActivation: children "0" (conv),
// "1" (BN), "2" (ReLU6); padding (kernel − 1) / 2. A module of its own rather than a nested
// Sequential, whose templated forward an enclosing Sequential cannot hold.
class ConvBnRelu6Impl : public nn::Module {
public:
    ConvBnRelu6Impl(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
        std::int64_t groups)
        : m_conv(register_module("0",
            nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                           .stride(stride)
                           .padding((kernel - 1) / 2)
                           .groups(groups)
                           .bias(false))))
        , m_bn(register_module("1", nn::BatchNorm2d(out)))
        , m_relu6(register_module("2", nn::ReLU6()))
    {
    }

    torch::Tensor forward(torch::Tensor x) { return m_relu6(m_bn(m_conv(x))); }

private:
    nn::Conv2d m_conv;
    nn::BatchNorm2d m_bn;
    nn::ReLU6 m_relu6;
};
TORCH_MODULE(ConvBnRelu6);

// torchvision's InvertedResidual: its layers in one Sequential named "conv".
class InvertedResidualImpl : public nn::Module {
public:
    InvertedResidualImpl(std::int64_t in, std::int64_t out, std::int64_t stride, int expandRatio)
        : m_residual(stride == 1 && in == out)
    {
        const std::int64_t hidden = in * expandRatio;
        nn::Sequential layers;
        if (expandRatio != 1)
            layers->push_back(ConvBnRelu6(in, hidden, 1, 1, 1)); // expansion (pointwise)
        layers->push_back(ConvBnRelu6(hidden, hidden, 3, stride, hidden)); // depthwise
        layers->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out, 1).bias(false))); // projection
        layers->push_back(nn::BatchNorm2d(out));
        m_conv = register_module("conv", layers);
    }

    torch::Tensor forward(torch::Tensor x)
    {
        torch::Tensor y = m_conv->forward(x);
        return m_residual ? x + y : y;
    }

private:
    bool m_residual;
    nn::Sequential m_conv { nullptr };
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2Impl : public ClassifierImpl {
public:
    MobileNetV2Impl(int channels, int classes)
    {
        struct Stage {
            int expandRatio;
            std::int64_t channels;
            int blocks;
            std::int64_t stride;
        };
        // torchvision's inverted_residual_setting (t, c, n, s) at width 1.0.
        const std::vector<Stage> stages = { { 1, 16, 1, 1 }, { 6, 24, 2, 2 }, { 6, 32, 3, 2 },
            { 6, 64, 4, 2 }, { 6, 96, 3, 1 }, { 6, 160, 3, 2 }, { 6, 320, 1, 1 } };
        constexpr std::int64_t stemWidth = 32, lastWidth = 1280;
        nn::Sequential features;
        features->push_back(ConvBnRelu6(channels, stemWidth, 3, 2, 1));
        std::int64_t in = stemWidth;
        for (const Stage &s : stages) {
            for (int i = 0; i < s.blocks; ++i) {
                features->push_back(
                    InvertedResidual(in, s.channels, i == 0 ? s.stride : 1, s.expandRatio));
                in = s.channels;
            }
        }
        features->push_back(ConvBnRelu6(in, lastWidth, 1, 1, 1));
        m_features = register_module("features", features);
        m_classifier = register_module(
            "classifier", nn::Sequential(nn::Dropout(0.2), nn::Linear(lastWidth, classes)));
        initWeights();
    }

    torch::Tensor forward(torch::Tensor x) override { return classify(features(std::move(x))); }

    torch::Tensor features(torch::Tensor x) override
    {
        x = m_features->forward(x);
        return torch::adaptive_avg_pool2d(x, { 1, 1 }).flatten(1);
    }

    torch::Tensor classify(torch::Tensor features) override
    {
        return m_classifier->forward(features);
    }

private:
    void initWeights()
    {
        torch::NoGradGuard noGrad;
        for (const auto &module : modules(/*include_self=*/false)) {
            if (auto *c = module->as<nn::Conv2dImpl>()) {
                nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut);
            } else if (auto *bn = module->as<nn::BatchNorm2dImpl>()) {
                nn::init::ones_(bn->weight);
                nn::init::zeros_(bn->bias);
            } else if (auto *l = module->as<nn::LinearImpl>()) {
                nn::init::normal_(l->weight, 0.0, 0.01);
                nn::init::zeros_(l->bias);
            }
        }
    }

    nn::Sequential m_features { nullptr };
    nn::Sequential m_classifier { nullptr };
};

} // namespace

std::shared_ptr<ClassifierImpl> makeMobileNetV2(int channels, int classes)
{
    return std::make_shared<MobileNetV2Impl>(channels, classes);
}

} // namespace leantune
