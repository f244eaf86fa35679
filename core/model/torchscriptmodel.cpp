#include "model/torchscriptmodel_p.h"
#include "model/weightloader_p.h"

#include <QDateTime>
#include <QFileInfo>
#include <QHash>

#include <mutex>

namespace leantune {

namespace {

// groups of a convolution as the script module's type records it; 1 when it does not.
std::int64_t groupsOf(const torch::jit::Module &m)
{
    const c10::ClassTypePtr type = m.type();
    if (type->hasConstant("groups")) {
        const c10::IValue v = type->getConstant("groups");
        if (v.isInt())
            return v.toInt();
    }
    if (m.hasattr("groups")) {
        const c10::IValue v = m.attr("groups");
        if (v.isInt())
            return v.toInt();
    }
    return 1;
}

// Registers M's own parameters and buffers on HOLDER, and a ScriptedLayerImpl per child.
void mirror(torch::nn::Module &holder, const torch::jit::Module &m)
{
    for (const auto &p : m.named_parameters(/*recurse=*/false))
        holder.register_parameter(p.name, p.value, /*requires_grad=*/true);
    for (const auto &b : m.named_buffers(/*recurse=*/false))
        holder.register_buffer(b.name, b.value);
    for (const auto &child : m.named_children()) {
        auto layer = std::make_shared<ScriptedLayerImpl>();
        mirror(*layer, child.value);
        if (const torch::Tensor w = layer->weight(); w.defined()) {
            layer->kind = w.dim() == 4 ? ScriptedLayerImpl::Kind::Conv
                : w.dim() == 2         ? ScriptedLayerImpl::Kind::Linear
                                       : ScriptedLayerImpl::Kind::Other;
            if (layer->kind == ScriptedLayerImpl::Kind::Conv)
                layer->groups = groupsOf(child.value);
        }
        holder.register_module(child.name, layer);
    }
}

} // namespace

QString torchScriptFailureReason(const char *what)
{
    const QString text = QString::fromUtf8(what);
    const QString first = text.section(QLatin1Char('\n'), 0, 0).trimmed();
    if (!first.startsWith(QLatin1String("The following operation failed in the TorchScript")))
        return first;
    // The tracebacks quote code (indented) and mark the failing call "<--- HERE"; the first line
    // at the margin after the last mark is the error itself ("RuntimeError: ...").
    const QStringList lines = text.split(QLatin1Char('\n'));
    int from = 0;
    for (int i = 0; i < lines.size(); ++i) {
        if (lines.at(i).contains(QLatin1String("<--- HERE")))
            from = i + 1;
    }
    QString reason;
    for (int i = from; i < lines.size() && reason.isEmpty(); ++i) {
        const QString &line = lines.at(i);
        if (!line.trimmed().isEmpty() && !line.at(0).isSpace()
            && !line.startsWith(QLatin1String("Traceback of TorchScript")))
            reason = line.trimmed();
    }
    if (reason.isEmpty())
        return first;
    if (reason.startsWith(QLatin1String("builtins.")))
        reason.remove(0, 9); // "builtins.ValueError: ..." as Python names it
    constexpr int kMaxQuoted = 80;
    if (reason.size() > kMaxQuoted)
        reason = reason.left(kMaxQuoted - 1) + QChar(0x2026);
    return QLatin1Char('"') + reason + QLatin1Char('"');
}

bool isTorchScriptModelName(const QString &name)
{
    return name.startsWith(QLatin1String(kTorchScriptPrefix));
}

QString torchScriptPath(const QString &name)
{
    return name.mid(int(qstrlen(kTorchScriptPrefix)));
}

namespace {

QString torchScriptSpecProblem(const ModelSpec &spec)
{
    const QString path = torchScriptPath(spec.name);
    if (path.isEmpty())
        return QStringLiteral("torchscript: needs a file (--model torchscript:PATH)");
    if (spec.channels != 1 && spec.channels != 3)
        return QStringLiteral("channels must be 1 or 3, got %1").arg(spec.channels);
    if (spec.inputSize < 1 || spec.inputSize > 1024)
        return QStringLiteral("input size %1 is out of range (1 to 1024 pixels)")
            .arg(spec.inputSize);
    const QFileInfo fi(path);
    if (!fi.isFile())
        return QStringLiteral("TorchScript model %1: no such file").arg(path);
    static std::mutex mutex;
    static QHash<QString, QString> cache; // guarded by mutex
    const QString key = QStringLiteral("%1|%2|%3|%4|%5")
                            .arg(fi.absoluteFilePath())
                            .arg(fi.size())
                            .arg(fi.lastModified().toMSecsSinceEpoch())
                            .arg(spec.channels)
                            .arg(spec.inputSize);
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (const auto it = cache.constFind(key); it != cache.constEnd())
            return *it;
    }
    ModelSpec anyClasses = spec;
    anyClasses.classes = 0;
    QString error;
    TorchScriptModelImpl::load(path, anyClasses, &error);
    std::lock_guard<std::mutex> lock(mutex);
    cache.insert(key, error);
    return error;
}

} // namespace

bool validateTorchScriptSpec(const ModelSpec &spec, QString *error)
{
    const QString reason = torchScriptSpecProblem(spec);
    if (error && !reason.isEmpty())
        *error = reason;
    return reason.isEmpty();
}

TorchScriptModelImpl::TorchScriptModelImpl(torch::jit::Module module)
    : m_module(module) // a handle: copying it shares the module
{
    mirror(*this, m_module);
}

std::shared_ptr<TorchScriptModelImpl> TorchScriptModelImpl::load(
    const QString &path, const ModelSpec &spec, QString *error)
{
    const auto fail = [&](const QString &why) -> std::shared_ptr<TorchScriptModelImpl> {
        if (error)
            *error = QStringLiteral("TorchScript model %1: %2").arg(path, why);
        return nullptr;
    };
    if (!QFileInfo(path).isFile())
        return fail(QStringLiteral("no such file"));
    torch::jit::Module module;
    try {
        module = torch::jit::load(path.toStdString(), torch::kCPU);
    } catch (const std::exception &e) {
        return fail(QStringLiteral("cannot be loaded with torch::jit::load (save it with "
                                   "torch.jit.save(torch.jit.script(model), PATH)): %1")
                        .arg(torchScriptFailureReason(e.what())));
    }
    std::shared_ptr<TorchScriptModelImpl> model(new TorchScriptModelImpl(module));
    if (model->parameters().empty())
        return fail(QStringLiteral("it has no parameters, so there is nothing to train"));
    const torch::Tensor probe = torch::zeros({ 2, spec.channels, spec.inputSize, spec.inputSize });
    torch::Tensor out;
    try {
        torch::NoGradGuard noGrad;
        model->train(false);
        const c10::IValue result = model->m_module.forward({ probe });
        model->train(true);
        if (!result.isTensor())
            return fail(QStringLiteral("forward returns %1, not a tensor of logits [N, classes]")
                            .arg(QString::fromStdString(result.tagKind())));
        out = result.toTensor();
    } catch (const std::exception &e) {
        return fail(QStringLiteral("forward fails on a %1 input: %2")
                        .arg(shapeText(probe), torchScriptFailureReason(e.what())));
    }
    const bool anyClasses = spec.classes < 2;
    if (out.dim() != 2 || out.size(0) != 2 || out.size(1) < 2
        || (!anyClasses && out.size(1) != spec.classes) || !out.is_floating_point())
        return fail(
            QStringLiteral("forward of a %1 input gives %2; LeanTune needs float logits "
                           "[N, classes] = [2, %3] (%4)")
                .arg(shapeText(probe), shapeText(out),
                    anyClasses ? QStringLiteral("classes") : QString::number(spec.classes),
                    anyClasses ? QStringLiteral("at least 2 classes")
                               : QStringLiteral("%1 classes in the data").arg(spec.classes)));
    if (error)
        error->clear();
    return model;
}

torch::Tensor TorchScriptModelImpl::forward(torch::Tensor x)
{
    return m_module.forward({ std::move(x) }).toTensor();
}

void TorchScriptModelImpl::train(bool on)
{
    torch::nn::Module::train(on);
    m_module.train(on);
}

} // namespace leantune
