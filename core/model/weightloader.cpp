#include "model/weightloader_p.h"

#include <QStringBuilder>

#include <map>

namespace leantune {

QString shapeText(const torch::Tensor &t)
{
    QStringList dims;
    for (std::int64_t d : t.sizes())
        dims << QString::number(d);
    return QLatin1Char('[') + dims.join(QStringLiteral(", ")) + QLatin1Char(']');
}

namespace {

bool endsWith(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size()
        && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

NamedTensors namedTensorsOf(torch::nn::Module &model)
{
    NamedTensors out;
    for (const auto &p : model.named_parameters())
        out.emplace_back(p.key(), p.value());
    for (const auto &b : model.named_buffers())
        out.emplace_back(b.key(), b.value());
    return out;
}

std::string classifierName(torch::nn::Module &model)
{
    std::string name;
    for (const auto &m : model.named_modules(/*name_prefix=*/"", /*include_self=*/false))
        if (m.value()->as<torch::nn::LinearImpl>())
            name = m.key();
    return name;
}

bool loadNamedTensors(
    torch::nn::Module &model, const NamedTensors &tensors, QString *note, QString *error)
{
    const NamedTensors targets = namedTensorsOf(model);
    std::map<std::string, torch::Tensor> source(tensors.begin(), tensors.end());
    const std::string classifier = classifierName(model);
    QStringList problems;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies; // (target, source)
    bool replaced = false;
    std::int64_t fileClasses = 0, modelClasses = 0;
    for (const auto &[name, target] : targets) {
        const auto it = source.find(name);
        if (it == source.end()) {
            if (!endsWith(name, "num_batches_tracked"))
                problems << QStringLiteral("missing %1 %2")
                                .arg(QString::fromStdString(name), shapeText(target));
            continue;
        }
        const torch::Tensor src = it->second;
        source.erase(it);
        if (src.sizes() != target.sizes()) {
            const bool isClassifier = !classifier.empty()
                && (name == classifier + ".weight" || name == classifier + ".bias");
            const bool sameFeatures = src.dim() == target.dim()
                && (src.dim() == 1 || (src.dim() == 2 && src.size(1) == target.size(1)));
            if (isClassifier && sameFeatures) {
                replaced = true;
                fileClasses = src.size(0);
                modelClasses = target.size(0);
            } else {
                problems << QStringLiteral("%1: file %2, model %3")
                                .arg(QString::fromStdString(name), shapeText(src),
                                    shapeText(target));
            }
            continue;
        }
        if (src.is_floating_point() && !torch::isfinite(src).all().item<bool>()) {
            problems << QStringLiteral("%1 has NaN or infinite values")
                            .arg(QString::fromStdString(name));
            continue;
        }
        copies.emplace_back(target, src);
    }
    for (const auto &[name, t] : tensors)
        if (source.count(name))
            problems << QStringLiteral("unexpected %1 %2")
                            .arg(QString::fromStdString(name), shapeText(t));
    if (!problems.isEmpty()) {
        if (error) {
            const int shown = std::min<int>(5, int(problems.size()));
            *error = QStringLiteral("the weights do not fit this model (%1 mismatch%2): %3%4")
                         .arg(problems.size())
                         .arg(problems.size() == 1 ? QString() : QStringLiteral("es"),
                             problems.mid(0, shown).join(QStringLiteral("; ")),
                             problems.size() > shown
                                 ? QStringLiteral("; and %1 more").arg(problems.size() - shown)
                                 : QString());
        }
        return false;
    }
    torch::NoGradGuard noGrad;
    for (auto &[target, src] : copies)
        const_cast<torch::Tensor &>(target).copy_(src.to(target.dtype()));
    if (note)
        *note = replaced
            ? QStringLiteral("classifier %1 replaced: the weights have %2 classes, this "
                             "run %3 (it starts from random weights)")
                  .arg(QString::fromStdString(classifier))
                  .arg(fileClasses)
                  .arg(modelClasses)
            : QString();
    return true;
}

} // namespace leantune
