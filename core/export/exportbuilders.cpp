// The graphs of the zoo's models (ExportGraph::build): their modules walked by name, BatchNorm
// folded into the convs.

#include "export/exportgraph_p.h"

#include <torch/version.h>

#include <stdexcept>

// Conv options hold c10::variant in LibTorch 1.13 and std::variant from 2.0 on.
template <typename T, typename V> auto variantGetIf(V *v)
{
#if TORCH_VERSION_MAJOR >= 2
    return std::get_if<T>(v);
#else
    return c10::get_if<T>(v);
#endif
}

namespace leantune {

namespace {

namespace nn = torch::nn;

torch::Tensor cpuFloat(const torch::Tensor &t)
{
    return t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
}

// Walks a zoo model's modules by their torchvision-style names and emits the graph nodes.
class Builder {
public:
    Builder(torch::nn::Module &model, ExportGraph &graph)
        : m_graph(graph)
    {
        for (const auto &item : model.named_modules(std::string(), /*include_self=*/false))
            m_modules[item.key()] = item.value();
    }

    bool has(const std::string &name) const { return m_modules.count(name) > 0; }

    template <typename T> T *module(const std::string &name) const
    {
        const auto it = m_modules.find(name);
        if (it == m_modules.end())
            throw std::runtime_error("the model has no module '" + name + "'");
        T *m = it->second->as<T>();
        if (!m)
            throw std::runtime_error("module '" + name + "' is not of the expected type");
        return m;
    }

    std::string fresh(const std::string &base) { return base + "_" + std::to_string(m_counter++); }

    // Conv (+ the BatchNorm BN folded into it when BN is not empty).
    std::string conv(
        const std::string &convName, const std::string &bnName, const std::string &input)
    {
        auto *c = module<nn::Conv2dImpl>(convName);
        const auto &o = c->options;
        const auto *padding = variantGetIf<torch::ExpandingArray<2>>(&o.padding());
        if (!padding || !variantGetIf<torch::enumtype::kZeros>(&o.padding_mode()))
            throw std::runtime_error(
                "conv '" + convName + "' uses a padding the exporter does not support");
        torch::Tensor w = cpuFloat(c->weight);
        torch::Tensor b = c->bias.defined() ? cpuFloat(c->bias) : torch::zeros({ w.size(0) });
        if (!bnName.empty()) {
            auto *bn = module<nn::BatchNorm2dImpl>(bnName);
            const torch::Tensor gamma
                = bn->weight.defined() ? cpuFloat(bn->weight) : torch::ones({ w.size(0) });
            const torch::Tensor beta
                = bn->bias.defined() ? cpuFloat(bn->bias) : torch::zeros({ w.size(0) });
            const torch::Tensor factor
                = gamma / torch::sqrt(cpuFloat(bn->running_var) + bn->options.eps());
            w = (w * factor.reshape({ -1, 1, 1, 1 })).contiguous();
            b = (beta + (b - cpuFloat(bn->running_mean)) * factor).contiguous();
        }
        m_graph.addInitializer(convName + ".weight", w);
        m_graph.addInitializer(convName + ".bias", b);
        GraphNode n;
        n.op = "Conv";
        n.inputs = { input, convName + ".weight", convName + ".bias" };
        n.outputs = { convName };
        n.attributes = { intsAttr("kernel_shape", { w.size(2), w.size(3) }),
            intsAttr("strides", { (*o.stride())[0], (*o.stride())[1] }),
            intsAttr("pads", { (**padding)[0], (**padding)[1], (**padding)[0], (**padding)[1] }),
            intsAttr("dilations", { (*o.dilation())[0], (*o.dilation())[1] }),
            intAttr("group", o.groups()) };
        m_graph.nodes.push_back(n);
        return convName;
    }

    std::string gemm(const std::string &name, const std::string &input)
    {
        auto *l = module<nn::LinearImpl>(name);
        const torch::Tensor w = cpuFloat(l->weight);
        m_graph.addInitializer(name + ".weight", w);
        m_graph.addInitializer(
            name + ".bias", l->bias.defined() ? cpuFloat(l->bias) : torch::zeros({ w.size(0) }));
        GraphNode n;
        n.op = "Gemm";
        n.inputs = { input, name + ".weight", name + ".bias" };
        n.outputs = { name };
        n.attributes = { intAttr("transB", 1) };
        m_graph.nodes.push_back(n);
        return name;
    }

    std::string unary(
        const std::string &op, const std::string &input, std::vector<GraphAttribute> attrs = {})
    {
        GraphNode n;
        n.op = op;
        n.inputs = { input };
        n.outputs = { fresh(op == "Relu" ? input + "_relu" : input + "_" + op) };
        n.attributes = std::move(attrs);
        m_graph.nodes.push_back(n);
        return n.outputs.front();
    }

    std::string binary(
        const std::string &op, const std::string &a, const std::string &b, const std::string &out)
    {
        GraphNode n;
        n.op = op;
        n.inputs = { a, b };
        n.outputs = { out };
        m_graph.nodes.push_back(n);
        return out;
    }

    std::string relu(const std::string &x) { return unary("Relu", x); }

    // ReLU6 as Clip(x, 0, 6) with constant min and max inputs (1-element tensors); the writer
    // turns it into Relu and Sub for OpenCV 4.6 (onnxwriter.cpp).
    std::string relu6(const std::string &x)
    {
        m_graph.addInitializer("relu6_min", torch::zeros({ 1 }));
        m_graph.addInitializer("relu6_max", torch::full({ 1 }, 6.0f));
        GraphNode n;
        n.op = "Clip";
        n.inputs = { x, "relu6_min", "relu6_max" };
        n.outputs = { fresh(x + "_relu6") };
        m_graph.nodes.push_back(n);
        return n.outputs.front();
    }

    std::string pool(
        const std::string &op, const std::string &x, std::int64_t k, std::int64_t s, std::int64_t p)
    {
        return unary(op, x,
            { intsAttr("kernel_shape", { k, k }), intsAttr("strides", { s, s }),
                intsAttr("pads", { p, p, p, p }) });
    }

private:
    ExportGraph &m_graph;
    std::map<std::string, std::shared_ptr<nn::Module>> m_modules;
    int m_counter = 0;
};

void buildSmallCnn(Builder &b, ExportGraph &g, const std::string &input)
{
    std::string x = b.pool("MaxPool", b.relu(b.conv("conv1", "bn1", input)), 2, 2, 0);
    x = b.pool("MaxPool", b.relu(b.conv("conv2", "bn2", x)), 2, 2, 0);
    x = b.relu(b.conv("conv3", "bn3", x));
    // adaptive_avg_pool2d(7): exact as a fixed pooling only when the map side is a multiple of 7.
    const int side = (g.inputSize / 2) / 2;
    if (side % 7 != 0)
        throw std::invalid_argument("smallcnn at " + std::to_string(g.inputSize) + " px ends in a "
            + std::to_string(side) + "x" + std::to_string(side)
            + " map, and adaptive average pooling of it to 7x7 has no exact ONNX "
              "equivalent (input sizes whose map side is a multiple of 7 export: 28, 56 px)");
    if (side > 7)
        x = b.pool("AveragePool", x, side / 7, side / 7, 0);
    x = b.unary("Flatten", x, { intAttr("axis", 1) });
    x = b.relu(b.gemm("fc1", x));
    b.gemm("fc2", x);
    g.outputName = "fc2";
}

void buildResNet(Builder &b, ExportGraph &g, const std::string &input)
{
    const bool imageNetStem = b.module<nn::Conv2dImpl>("conv1")->options.kernel_size()->at(0) == 7;
    std::string x = b.relu(b.conv("conv1", "bn1", input));
    if (imageNetStem)
        x = b.pool("MaxPool", x, 3, 2, 1);
    for (int stage = 1; b.has("layer" + std::to_string(stage)); ++stage) {
        for (int block = 0;; ++block) {
            const std::string p
                = "layer" + std::to_string(stage) + "." + std::to_string(block) + ".";
            if (!b.has(p + "conv1"))
                break;
            std::string out = b.relu(b.conv(p + "conv1", p + "bn1", x));
            out = b.conv(p + "conv2", p + "bn2", out);
            const std::string shortcut
                = b.has(p + "downsample") ? b.conv(p + "downsample.0", p + "downsample.1", x) : x;
            x = b.relu(b.binary("Add", out, shortcut, b.fresh(p + "add")));
        }
    }
    x = b.unary("GlobalAveragePool", x);
    x = b.unary("Flatten", x, { intAttr("axis", 1) });
    b.gemm("fc", x);
    g.outputName = "fc";
}

// torchvision's MobileNetV2 (model/mobilenetv2_p.h): stem features.0, inverted residual blocks
// features.N.conv.*, the last 1×1 conv features.18, global average pool, classifier.1.
void buildMobileNetV2(Builder &b, ExportGraph &g, const std::string &input)
{
    std::string x = b.relu6(b.conv("features.0.0", "features.0.1", input));
    int i = 1;
    for (; b.has("features." + std::to_string(i) + ".conv"); ++i) {
        const std::string p = "features." + std::to_string(i) + ".conv.";
        // With an expansion: conv.0 (1×1), conv.1 (depthwise), conv.2 + conv.3 (projection + BN);
        // without (expansion ratio 1): conv.0 (depthwise), conv.1 + conv.2.
        const bool expands = b.has(p + "3");
        std::string h = x;
        if (expands)
            h = b.relu6(b.conv(p + "0.0", p + "0.1", h));
        const std::string dw = p + (expands ? "1" : "0");
        const auto &dwOptions = b.module<nn::Conv2dImpl>(dw + ".0")->options;
        h = b.relu6(b.conv(dw + ".0", dw + ".1", h));
        const std::string projection = p + (expands ? "2" : "1");
        const std::string projectionBn = p + (expands ? "3" : "2");
        const std::int64_t in = expands ? b.module<nn::Conv2dImpl>(p + "0.0")->options.in_channels()
                                        : dwOptions.in_channels();
        const std::int64_t out = b.module<nn::Conv2dImpl>(projection)->options.out_channels();
        h = b.conv(projection, projectionBn, h);
        // torchvision's use_res_connect: stride 1 and as many channels out as in.
        const bool residual = (*dwOptions.stride())[0] == 1 && in == out;
        x = residual ? b.binary("Add", x, h, b.fresh(p + "add")) : h;
    }
    const std::string last = "features." + std::to_string(i);
    x = b.relu6(b.conv(last + ".0", last + ".1", x));
    x = b.unary("GlobalAveragePool", x);
    x = b.unary("Flatten", x, { intAttr("axis", 1) });
    b.gemm("classifier.1", x);
    g.outputName = "classifier.1";
}

} // namespace

std::optional<ExportGraph> ExportGraph::build(torch::nn::Module &model, const ModelSpec &spec,
    const std::vector<double> &normMean, const std::vector<double> &normStd, QString *error)
{
    try {
        torch::NoGradGuard noGrad;
        ExportGraph g;
        g.channels = spec.channels;
        g.inputSize = spec.inputSize;
        const auto perChannel = [&](const std::vector<double> &v) {
            std::vector<float> out;
            for (int c = 0; c < spec.channels; ++c)
                out.push_back(float(v.at(v.size() == 1 ? 0 : std::size_t(c))));
            return torch::tensor(out);
        };
        const torch::Tensor mean = perChannel(normMean), stdev = perChannel(normStd);
        if (!(stdev.min().item<float>() > 0.f))
            throw std::invalid_argument("the run's normalization std is not positive");
        // (x/255 − mean) / std on pixels = (x01 − mean) / std on the [0, 1] input.
        Builder b(model, g);
        std::string normalized;
        if (torch::equal(mean, mean[0].expand_as(mean))
            && torch::equal(stdev, stdev[0].expand_as(stdev))) {
            // One mean and std for every channel, as 1-element constants: OpenCV 4.6 mis-imports
            // a per-channel [1, C, 1, 1] Sub constant for C > 1.
            g.addInitializer("norm_mean", mean.narrow(0, 0, 1));
            g.addInitializer("norm_std", stdev.narrow(0, 0, 1));
            const std::string centred = b.binary("Sub", g.inputName, "norm_mean", "input_centred");
            normalized = b.binary("Div", centred, "norm_std", "input_normalized");
        } else { // per channel (ImageNet's): a 1×1 depthwise Conv, x / std − mean / std, exact
            const std::int64_t c = spec.channels;
            g.addInitializer("norm.weight", (1.0 / stdev).reshape({ c, 1, 1, 1 }));
            g.addInitializer("norm.bias", -mean / stdev);
            GraphNode n;
            n.op = "Conv";
            n.inputs = { g.inputName, "norm.weight", "norm.bias" };
            n.outputs = { normalized = "input_normalized" };
            n.attributes = { intsAttr("kernel_shape", { 1, 1 }), intsAttr("strides", { 1, 1 }),
                intsAttr("pads", { 0, 0, 0, 0 }), intsAttr("dilations", { 1, 1 }),
                intAttr("group", c) };
            g.nodes.push_back(n);
        }
        if (spec.name == QLatin1String("smallcnn"))
            buildSmallCnn(b, g, normalized);
        else if (spec.name == QLatin1String("resnet8") || spec.name == QLatin1String("resnet18"))
            buildResNet(b, g, normalized);
        else if (spec.name == QLatin1String("mobilenet_v2"))
            buildMobileNetV2(b, g, normalized);
        else if (spec.name.startsWith(QLatin1String("torchscript:")))
            throw std::invalid_argument(
                "ONNX export of a TorchScript model is not supported: LeanTune writes ONNX from "
                "the zoo models' known layer structure, which a user's TorchScript graph does not "
                "have; use --format libtorch (or torch.onnx.export in PyTorch on the trained "
                "weights)");
        else
            throw std::invalid_argument(
                "the exporter does not know model '" + spec.name.toStdString() + "'");
        g.classes = int(g.initializers.at(g.outputName + ".weight").size(0));
        for (GraphNode &n : g.nodes) {
            if (n.outputs.front() == g.outputName)
                n.outputs.front() = "logits";
        }
        g.outputName = "logits";
        if (error)
            error->clear();
        return g;
    } catch (const std::exception &e) {
        if (error)
            *error
                = QStringLiteral("cannot export model '%1': %2")
                      .arg(spec.name, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return std::nullopt;
    }
}

} // namespace leantune
