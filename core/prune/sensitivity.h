#pragma once

#include "config/runenums.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <cstdint>
#include <map>
#include <optional>

namespace leantune {

// One measurement of a sensitivity scan: the model with one layer pruned to SPARSITY.
struct SensitivityPoint {
    double sparsity = 0.0;
    double accuracy = 0.0; // 0..1
    double loss = 0.0; // mean cross-entropy
};

// A prunable layer of a scan: its weight tensor's name and shape, and its curve (ascending
// sparsity, without the dense point: that is the scan's baseline).
struct SensitivityLayer {
    QString name; // "conv2.weight"
    QVector<std::int64_t> shape;
    std::int64_t parameters = 0; // elements of the weight
    QVector<SensitivityPoint> points;
};

// The result of `leantune-cli sensitivity` (sensitivity.json): each prunable layer pruned alone at
// each sparsity and measured on a fixed, class-balanced subset of the validation images. Records
// the model's architecture (its name, input, classes and every conv/linear weight's name and
// shape) so that a scan of another model is refused. A plain value.
struct SensitivityScan {
    QString model; // zoo name or torchscript:PATH
    int inputSize = 0;
    int channels = 0;
    int classes = 0;
    PruneGranularity granularity = PruneGranularity::Weight;
    QString runDir; // the scanned run
    int images = 0; // images measured per point
    double baseAccuracy = 0.0; // the dense model on the same images
    double baseLoss = 0.0;
    double seconds = 0.0; // wall time of the scan
    int threads = 0; // model copies that ran in parallel
    // Every conv and linear weight of the model (the pruner's tensors, prunable or not), in
    // registration order, as "name" → shape: the architecture a scan belongs to.
    QStringList tensorNames;
    QVector<QVector<std::int64_t>> tensorShapes;
    QVector<SensitivityLayer> layers; // the layers the scan pruned

    QJsonObject toJson() const;
    static std::optional<SensitivityScan> fromJson(
        const QJsonObject &o, const QString &source, QString *error);
    // One row per layer and sparsity: layer,parameters,sparsity,accuracy,loss,accuracy_drop.
    QString toCsv() const;
    // A readable table: one line per layer, accuracy at each sparsity.
    QString toText() const;

    // Whether the scan is of a model with these conv/linear tensors (names and shapes, in order);
    // else false and a message naming the first difference and SOURCE in *error.
    bool matchesTensors(const QStringList &names, const QVector<QVector<std::int64_t>> &shapes,
        const QString &source, QString *error) const;
    // The accuracy drop (baseline − accuracy, in points of 0..1, never below 0 and never falling
    // as sparsity grows) of LAYER pruned to SPARSITY, linearly interpolated between the measured
    // points; beyond the last point it rises linearly to chance accuracy at kMaxLayerSparsity.
    double dropAt(const SensitivityLayer &layer, double sparsity) const;
};

// The file name a run folder keeps its scan under: sensitivity.json for weights,
// sensitivity-channel.json for channels.
QString defaultSensitivityFileName(PruneGranularity granularity);

// Reads and writes sensitivity.json (and the .csv beside it for write).
std::optional<SensitivityScan> readSensitivityScan(const QString &path, QString *error);
bool writeSensitivityScan(const SensitivityScan &scan, const QString &jsonPath, QString *error);

// The highest sparsity one layer is given by allocateLayerTargets().
constexpr double kMaxLayerSparsity = 0.995;

// Per-layer final sparsities from a scan.
struct LayerTargets {
    std::map<QString, double> sparsity; // weight name → final sparsity
    double overall = 0.0; // the parameter-weighted mean over the scan's layers
    double threshold = 0.0; // the common accuracy drop (0..1) the allocation found
    double predictedDrop = 0.0; // the sum of the layers' drops at their targets (one-shot)
    QJsonObject toJson() const;
    static std::optional<LayerTargets> fromJson(const QJsonObject &o, QString *error);
};

// Allocation rule: every layer is pruned as far as it can go while its own one-shot accuracy drop
// stays within one common threshold t, and t is bisected until the parameter-weighted mean of the
// layers' sparsities is TARGET (NNI's SensitivityPruner and Distiller threshold the same curves;
// they stop at a fixed t, we solve for the t that meets the target). Between the last two t the
// layers are blended linearly, so the mean is TARGET exactly. Robust layers thus take the most, and
// no layer is pushed past the point where it alone costs more than the others.
// std::nullopt + *error for a target outside [0, kMaxLayerSparsity) or a scan without layers.
std::optional<LayerTargets> allocateLayerTargets(
    const SensitivityScan &scan, double target, QString *error);

} // namespace leantune
