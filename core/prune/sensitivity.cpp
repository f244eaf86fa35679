#include "prune/sensitivity.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStringBuilder>
#include <QTextStream>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QJsonArray shapeJson(const QVector<std::int64_t> &shape)
{
    QJsonArray a;
    for (std::int64_t d : shape)
        a.append(double(d));
    return a;
}

QVector<std::int64_t> shapeFrom(const QJsonValue &v)
{
    QVector<std::int64_t> shape;
    for (const QJsonValue d : v.toArray())
        shape.push_back(std::int64_t(d.toDouble()));
    return shape;
}

QString shapeText(const QVector<std::int64_t> &shape)
{
    QStringList parts;
    for (std::int64_t d : shape)
        parts << QString::number(d);
    return QLatin1Char('[') % parts.join(QStringLiteral(", ")) % QLatin1Char(']');
}

bool fail(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

// The largest sparsity of LAYER whose drop is at most T (dropAt is non-decreasing, so bisect).
double sparsityWithin(const SensitivityScan &scan, const SensitivityLayer &layer, double t)
{
    if (scan.dropAt(layer, kMaxLayerSparsity) <= t)
        return kMaxLayerSparsity;
    double lo = 0.0, hi = kMaxLayerSparsity;
    for (int i = 0; i < 50; ++i) {
        const double mid = 0.5 * (lo + hi);
        (scan.dropAt(layer, mid) <= t ? lo : hi) = mid;
    }
    return lo;
}

} // namespace

QJsonObject SensitivityScan::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("format")] = QStringLiteral("leantune-sensitivity-1");
    o[QStringLiteral("model")] = model;
    o[QStringLiteral("input_size")] = inputSize;
    o[QStringLiteral("channels")] = channels;
    o[QStringLiteral("classes")] = classes;
    o[QStringLiteral("granularity")] = enumName(granularity);
    o[QStringLiteral("run_dir")] = runDir;
    o[QStringLiteral("images")] = images;
    o[QStringLiteral("base_accuracy")] = baseAccuracy;
    o[QStringLiteral("base_loss")] = baseLoss;
    o[QStringLiteral("seconds")] = seconds;
    o[QStringLiteral("threads")] = threads;
    QJsonArray tensors;
    for (int i = 0; i < tensorNames.size(); ++i)
        tensors.append(QJsonObject { { QStringLiteral("name"), tensorNames[i] },
            { QStringLiteral("shape"), shapeJson(tensorShapes.value(i)) } });
    o[QStringLiteral("tensors")] = tensors;
    QJsonArray ls;
    for (const SensitivityLayer &l : layers) {
        QJsonArray points;
        for (const SensitivityPoint &p : l.points)
            points.append(QJsonObject { { QStringLiteral("sparsity"), p.sparsity },
                { QStringLiteral("accuracy"), p.accuracy }, { QStringLiteral("loss"), p.loss } });
        ls.append(QJsonObject { { QStringLiteral("name"), l.name },
            { QStringLiteral("shape"), shapeJson(l.shape) },
            { QStringLiteral("parameters"), double(l.parameters) },
            { QStringLiteral("points"), points } });
    }
    o[QStringLiteral("layers")] = ls;
    return o;
}

std::optional<SensitivityScan> SensitivityScan::fromJson(
    const QJsonObject &o, const QString &source, QString *error)
{
    if (o.value(QStringLiteral("format")).toString() != QLatin1String("leantune-sensitivity-1")) {
        fail(error,
            QStringLiteral("%1 is not a sensitivity scan (run 'leantune-cli sensitivity')")
                .arg(source));
        return std::nullopt;
    }
    SensitivityScan s;
    s.model = o.value(QStringLiteral("model")).toString();
    s.inputSize = o.value(QStringLiteral("input_size")).toInt();
    s.channels = o.value(QStringLiteral("channels")).toInt();
    s.classes = o.value(QStringLiteral("classes")).toInt();
    const std::optional<PruneGranularity> g
        = enumFromName<PruneGranularity>(o.value(QStringLiteral("granularity")).toString());
    s.runDir = o.value(QStringLiteral("run_dir")).toString();
    s.images = o.value(QStringLiteral("images")).toInt();
    s.baseAccuracy = o.value(QStringLiteral("base_accuracy")).toDouble();
    s.baseLoss = o.value(QStringLiteral("base_loss")).toDouble();
    s.seconds = o.value(QStringLiteral("seconds")).toDouble();
    s.threads = o.value(QStringLiteral("threads")).toInt();
    for (const QJsonValue t : o.value(QStringLiteral("tensors")).toArray()) {
        s.tensorNames << t.toObject().value(QStringLiteral("name")).toString();
        s.tensorShapes << shapeFrom(t.toObject().value(QStringLiteral("shape")));
    }
    for (const QJsonValue v : o.value(QStringLiteral("layers")).toArray()) {
        const QJsonObject lo = v.toObject();
        SensitivityLayer l;
        l.name = lo.value(QStringLiteral("name")).toString();
        l.shape = shapeFrom(lo.value(QStringLiteral("shape")));
        l.parameters = std::int64_t(lo.value(QStringLiteral("parameters")).toDouble());
        double last = 0.0;
        for (const QJsonValue p : lo.value(QStringLiteral("points")).toArray()) {
            const QJsonObject po = p.toObject();
            SensitivityPoint point { po.value(QStringLiteral("sparsity")).toDouble(-1.0),
                po.value(QStringLiteral("accuracy")).toDouble(-1.0),
                po.value(QStringLiteral("loss")).toDouble() };
            if (!(point.sparsity > last && point.sparsity < 1.0) || point.accuracy < 0.0
                || point.accuracy > 1.0) {
                fail(error,
                    QStringLiteral("%1: layer '%2' has a bad point (sparsities must rise within "
                                   "(0, 1), accuracies be in [0, 1])")
                        .arg(source, l.name));
                return std::nullopt;
            }
            last = point.sparsity;
            l.points.push_back(point);
        }
        if (l.name.isEmpty() || l.parameters <= 0 || l.points.isEmpty()) {
            fail(error,
                QStringLiteral("%1: a layer without a name, parameters or points").arg(source));
            return std::nullopt;
        }
        s.layers.push_back(std::move(l));
    }
    if (s.model.isEmpty() || !g || s.classes < 1 || s.tensorNames.isEmpty() || s.layers.isEmpty()) {
        fail(error,
            QStringLiteral("%1: incomplete sensitivity scan (model, granularity, classes, tensors "
                           "and layers are needed)")
                .arg(source));
        return std::nullopt;
    }
    s.granularity = *g;
    return s;
}

QString SensitivityScan::toCsv() const
{
    QString text;
    QTextStream out(&text);
    out << "layer,parameters,sparsity,accuracy,loss,accuracy_drop\n";
    for (const SensitivityLayer &l : layers) {
        out << l.name << ',' << l.parameters << ",0," << baseAccuracy << ',' << baseLoss << ",0\n";
        for (const SensitivityPoint &p : l.points)
            out << l.name << ',' << l.parameters << ',' << p.sparsity << ',' << p.accuracy << ','
                << p.loss << ',' << (baseAccuracy - p.accuracy) << '\n';
    }
    return text;
}

QString SensitivityScan::toText() const
{
    QString text;
    QTextStream out(&text);
    out << model << ", " << enumName(granularity) << " granularity, " << images
        << " images, dense accuracy " << QString::number(baseAccuracy * 100.0, 'f', 2) << "%\n";
    int width = 5;
    for (const SensitivityLayer &l : layers)
        width = std::max(width, int(l.name.size()));
    out << QStringLiteral("layer").leftJustified(width) << "  parameters";
    if (!layers.isEmpty())
        for (const SensitivityPoint &p : layers.front().points)
            out << QString::number(p.sparsity * 100.0, 'g', 3).rightJustified(6) << '%';
    out << "   (accuracy %)\n";
    for (const SensitivityLayer &l : layers) {
        out << l.name.leftJustified(width) << QString::number(l.parameters).rightJustified(12);
        for (const SensitivityPoint &p : l.points)
            out << QString::number(p.accuracy * 100.0, 'f', 1).rightJustified(7);
        out << '\n';
    }
    return text;
}

bool SensitivityScan::matchesTensors(const QStringList &names,
    const QVector<QVector<std::int64_t>> &shapes, const QString &source, QString *error) const
{
    const auto differ = [&](const QString &what) {
        return fail(error,
            QStringLiteral("the sensitivity scan %1 is of another architecture (%2, %3): %4; "
                           "run 'leantune-cli sensitivity' on a run of this model")
                .arg(source, model,
                    QStringLiteral("%1 px, %2 channels").arg(inputSize).arg(channels), what));
    };
    if (names.size() != tensorNames.size())
        return differ(QStringLiteral("%1 conv/linear weights, this model has %2")
                          .arg(tensorNames.size())
                          .arg(names.size()));
    for (int i = 0; i < names.size(); ++i) {
        if (names[i] != tensorNames[i] || shapes.value(i) != tensorShapes.value(i))
            return differ(QStringLiteral("its '%1' %2 is '%3' %4 here")
                              .arg(tensorNames[i], shapeText(tensorShapes.value(i)), names[i],
                                  shapeText(shapes.value(i))));
    }
    if (error)
        error->clear();
    return true;
}

double SensitivityScan::dropAt(const SensitivityLayer &layer, double sparsity) const
{
    // The curve as (sparsity, drop) knots, made non-decreasing, ending at chance accuracy.
    const double chance = classes > 0 ? 1.0 / classes : 0.0;
    double prevS = 0.0, prevD = 0.0, running = 0.0;
    const auto segment = [&](double s, double d) -> std::optional<double> {
        running = std::max(running, d);
        if (sparsity <= s) {
            const double f = s > prevS ? (sparsity - prevS) / (s - prevS) : 1.0;
            return prevD + f * (running - prevD);
        }
        prevS = s;
        prevD = running;
        return std::nullopt;
    };
    for (const SensitivityPoint &p : layer.points) {
        if (const auto d = segment(p.sparsity, std::max(0.0, baseAccuracy - p.accuracy)))
            return *d;
    }
    if (prevS < kMaxLayerSparsity) {
        if (const auto d = segment(kMaxLayerSparsity, std::max(0.0, baseAccuracy - chance)))
            return *d;
    }
    return running;
}

QString defaultSensitivityFileName(PruneGranularity granularity)
{
    return granularity == PruneGranularity::Channel ? QStringLiteral("sensitivity-channel.json")
                                                    : QStringLiteral("sensitivity.json");
}

std::optional<SensitivityScan> readSensitivityScan(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        fail(error,
            QStringLiteral("cannot read the sensitivity scan %1: %2")
                .arg(path, file.errorString()));
        return std::nullopt;
    }
    QJsonParseError parse;
    const QJsonDocument doc = QJsonDocument::fromJson(file.read(64 << 20), &parse);
    if (!doc.isObject()) {
        fail(error, QStringLiteral("%1 is not JSON: %2").arg(path, parse.errorString()));
        return std::nullopt;
    }
    return SensitivityScan::fromJson(doc.object(), path, error);
}

bool writeSensitivityScan(const SensitivityScan &scan, const QString &jsonPath, QString *error)
{
    const auto write = [error](const QString &path, const QByteArray &bytes) {
        QSaveFile file(path);
        if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
            return fail(error, QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
        return true;
    };
    QString csv = jsonPath;
    if (csv.endsWith(QLatin1String(".json")))
        csv.chop(5);
    csv += QStringLiteral(".csv");
    return write(jsonPath, QJsonDocument(scan.toJson()).toJson(QJsonDocument::Indented))
        && write(csv, scan.toCsv().toUtf8());
}

QJsonObject LayerTargets::toJson() const
{
    QJsonObject layers;
    for (const auto &[name, s] : sparsity)
        layers[name] = s;
    return QJsonObject { { QStringLiteral("overall"), overall },
        { QStringLiteral("threshold"), threshold },
        { QStringLiteral("predicted_drop"), predictedDrop }, { QStringLiteral("layers"), layers } };
}

std::optional<LayerTargets> LayerTargets::fromJson(const QJsonObject &o, QString *error)
{
    LayerTargets t;
    t.overall = o.value(QStringLiteral("overall")).toDouble(-1.0);
    t.threshold = o.value(QStringLiteral("threshold")).toDouble();
    t.predictedDrop = o.value(QStringLiteral("predicted_drop")).toDouble();
    const QJsonObject layers = o.value(QStringLiteral("layers")).toObject();
    for (auto it = layers.begin(); it != layers.end(); ++it) {
        const double s = it.value().toDouble(-1.0);
        if (!(s >= 0.0 && s < 1.0)) {
            fail(error,
                QStringLiteral("layer target of '%1' is not a sparsity in [0, 1)").arg(it.key()));
            return std::nullopt;
        }
        t.sparsity[it.key()] = s;
    }
    if (t.sparsity.empty() || !(t.overall >= 0.0 && t.overall < 1.0)) {
        fail(error, QStringLiteral("layer targets without layers or an overall sparsity"));
        return std::nullopt;
    }
    return t;
}

std::optional<LayerTargets> allocateLayerTargets(
    const SensitivityScan &scan, double target, QString *error)
{
    if (scan.layers.isEmpty()) {
        fail(error, QStringLiteral("the sensitivity scan has no prunable layers"));
        return std::nullopt;
    }
    if (!(target >= 0.0 && target < kMaxLayerSparsity)) {
        fail(error,
            QStringLiteral("overall sparsity %1 is outside [0, %2) for per-layer targets")
                .arg(target)
                .arg(kMaxLayerSparsity));
        return std::nullopt;
    }
    double total = 0.0;
    for (const SensitivityLayer &l : scan.layers)
        total += double(l.parameters);
    const auto at = [&](double t, std::vector<double> &s) {
        double sum = 0.0;
        s.clear();
        for (const SensitivityLayer &l : scan.layers) {
            s.push_back(sparsityWithin(scan, l, t));
            sum += s.back() * double(l.parameters);
        }
        return sum / total;
    };
    std::vector<double> lo, hi;
    double tLo = 0.0, tHi = 1.0;
    double meanLo = at(tLo, lo), meanHi = at(tHi, hi);
    std::vector<double> chosen;
    if (meanLo >= target) {
        // Layers free of any drop already exceed the target: scale them down together.
        tHi = 0.0;
        chosen = lo;
        for (double &s : chosen)
            s = meanLo > 0.0 ? s * target / meanLo : 0.0;
    } else {
        std::vector<double> mid;
        for (int i = 0; i < 60 && tHi - tLo > 1e-9; ++i) {
            const double t = 0.5 * (tLo + tHi);
            const double mean = at(t, mid);
            if (mean >= target) {
                tHi = t;
                hi = mid;
                meanHi = mean;
            } else {
                tLo = t;
                lo = mid;
                meanLo = mean;
            }
        }
        // Blend the last two allocations so that the weighted mean is the target exactly.
        const double f = meanHi > meanLo ? (target - meanLo) / (meanHi - meanLo) : 1.0;
        chosen.resize(lo.size());
        for (std::size_t i = 0; i < lo.size(); ++i)
            chosen[i] = lo[i] + f * (hi[i] - lo[i]);
    }
    LayerTargets out;
    out.threshold = tHi;
    double sum = 0.0;
    for (int i = 0; i < scan.layers.size(); ++i) {
        const SensitivityLayer &l = scan.layers[i];
        const double s = std::clamp(chosen[std::size_t(i)], 0.0, kMaxLayerSparsity);
        out.sparsity[l.name] = s;
        sum += s * double(l.parameters);
        out.predictedDrop += scan.dropAt(l, s);
    }
    out.overall = sum / total;
    if (error)
        error->clear();
    return out;
}

} // namespace leantune
