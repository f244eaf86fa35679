#include "model/weightloader_p.h"

#include "model/weightfile_p.h"

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

// T as messages name it ("float32", "int64").
QString dtypeName(torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat:
        return QStringLiteral("float32");
    case torch::kDouble:
        return QStringLiteral("float64");
    case torch::kHalf:
        return QStringLiteral("float16");
    case torch::kBFloat16:
        return QStringLiteral("bfloat16");
    case torch::kLong:
        return QStringLiteral("int64");
    case torch::kInt:
        return QStringLiteral("int32");
    case torch::kShort:
        return QStringLiteral("int16");
    case torch::kChar:
        return QStringLiteral("int8");
    case torch::kByte:
        return QStringLiteral("uint8");
    case torch::kBool:
        return QStringLiteral("bool");
    default:
        return QString::fromLatin1(c10::toString(t));
    }
}

// Whether every value of the floating-point tensor T is a whole number an int64 holds exactly.
bool wholeValues(const torch::Tensor &t)
{
    const torch::Tensor d = t.to(torch::kDouble);
    return t.numel() == 0
        || (torch::isfinite(d).all().item<bool>() && torch::equal(d, d.round())
            && d.abs().max().item<double>() <= 9007199254740992.0);
}

// SRC in TARGET's dtype, or an undefined tensor + *PROBLEM. A floating-point parameter takes only
// floating-point values; an integer buffer (num_batches_tracked) integers, or floats that are whole
// (a script that made every tensor half); the converted values must be finite (1e300 in float64
// is, not in float32) and a running variance non-negative.
torch::Tensor converted(const std::string &name, const torch::Tensor &src,
    const torch::Tensor &target, QString *problem)
{
    const QString quoted = textFromFile(QString::fromStdString(name));
    const bool isInteger
        = (!src.is_floating_point() && !src.is_complex() && src.scalar_type() != torch::kBool)
        || (src.is_floating_point() && wholeValues(src));
    if (target.is_floating_point() ? !src.is_floating_point() : !isInteger) {
        *problem = QStringLiteral("%1 is %2%3 in the file, the model needs %4 (%5)")
                       .arg(quoted, dtypeName(src.scalar_type()),
                           src.is_floating_point() ? QStringLiteral(" with fractions") : QString(),
                           target.is_floating_point() ? QStringLiteral("floating-point values")
                                                      : QStringLiteral("integers"),
                           dtypeName(target.scalar_type()));
        return {};
    }
    torch::Tensor value = src.to(target.scalar_type());
    if (!value.is_floating_point())
        return value;
    if (!torch::isfinite(value).all().item<bool>()) {
        *problem = src.scalar_type() == value.scalar_type()
            ? QStringLiteral("%1 has NaN or infinite values").arg(quoted)
            : QStringLiteral("%1 has NaN or infinite values as %2 (%3 in the file)")
                  .arg(quoted, dtypeName(value.scalar_type()), dtypeName(src.scalar_type()));
        return {};
    }
    if ((name == "running_var" || endsWith(name, ".running_var")) && value.numel() > 0
        && value.min().item<double>() < 0) {
        *problem = QStringLiteral("%1 has negative values (a BatchNorm variance is never negative)")
                       .arg(quoted);
        return {};
    }
    return value;
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
                                .arg(textFromFile(QString::fromStdString(name)), shapeText(src),
                                    shapeText(target));
            }
            continue;
        }
        QString problem;
        const torch::Tensor value = converted(name, src, target, &problem);
        if (!value.defined()) {
            problems << problem;
            continue;
        }
        copies.emplace_back(target, value);
    }
    for (const auto &[name, t] : tensors)
        if (source.count(name))
            problems << QStringLiteral("unexpected %1 %2")
                            .arg(textFromFile(QString::fromStdString(name)), shapeText(t));
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
    for (auto &[target, value] : copies)
        const_cast<torch::Tensor &>(target).copy_(value);
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
