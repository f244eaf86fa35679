#pragma once

#include "model/modelspec.h"
#include "config/runenums.h"

#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace leantune {

// The learning rate a run starts with for OPTIMIZER (the run dialog suggests it when the optimizer
// changes, `train --optimizer adam` takes it without --lr).
constexpr double defaultLearningRate(Optimizer optimizer)
{
    return optimizer == Optimizer::Adam ? 0.001 : 0.05;
}

// Everything that defines a training run. A plain value, saved as RUNDIR/config.json. Each field is
// described once in the field table (config/runfields.h): its JSON key, command-line flag, help
// text, default, range and validator. JSON, the options of `train`, `find-batch-size` and
// `evaluate`, "Copy as command line" and the run dialog all come from that table, so a field added
// here and there is everywhere.
struct RunConfig {
    QString dataDir;
    QString outDir;
    QString valDir; // empty: split valSplit of dataDir off for validation
    QString testDir; // optional held-out test folder
    bool followSymlinks = true; // symlinked files and class folders are followed (loop-safe)
    // The data folders' leantune-corrections.csv is applied (dataset/corrections.h); false:
    // ignored.
    bool applyCorrections = true;
    ModelSpec model; // name, inputSize, channels (classes come from the data)
    int batchSize = 64; // images per optimizer step
    int epochs = 3;
    double learningRate = defaultLearningRate(Optimizer::Sgd);
    Optimizer optimizer = Optimizer::Sgd;
    LrSchedule lrSchedule = LrSchedule::Cosine;
    double momentum = 0.9;
    double weightDecay = 5e-4;
    QString device = QStringLiteral("auto"); // auto | cpu | cuda | cuda:N
    int workers = 2; // loader decode threads
    int threads = 0; // torch intra-op threads; 0 = all cores
    int queueDepth = 4; // batches decoded ahead
    double valSplit = 0.1;
    std::uint64_t seed = 42;
    QString prune = QStringLiteral("none"); // PruningSchedule spec
    PruneGranularity pruneGranularity = PruneGranularity::Weight;
    // Global by default: across layers (LAMP) gave smaller int8 exports with better accuracy on
    // both smallcnn and resnet8 (bench/export-sizes); channel granularity is always per layer.
    PruneScope pruneScope = PruneScope::Global;
    // Sensitivity scope: the scan (sensitivity.json) the per-layer targets come from; empty: the
    // --init run folder's. --prune-scope sensitivity:FILE sets both.
    QString pruneSensitivityFile;
    bool augment = false; // random crop + flip on training batches (pays on long runs)
    Precision precision = Precision::Fp32; // CUDA autocast for bf16/fp16 (fp16 with loss scaling)
    MemoryFormat memoryFormat = MemoryFormat::Auto; // see useChannelsLast()
    bool cache = false; // decoded cache: later epochs read decoded images, no decode
    QString cacheDir; // its folder; empty = DecodedCache::defaultDirectory()
    // Memory. A host budget bounds the loader queue and the planned peak; a batch that does not fit
    // is split into micro-batches with gradient accumulation (the effective batch stays).
    bool batchSizeAuto = false; // the BatchSizeFinder picks batchSize before the run
    std::int64_t memoryBudgetBytes = 0; // host memory budget in bytes; 0 = none
    // Safety margin below a capacity or budget (0..0.9), or kAutoMemoryMargin: see
    // memoryMarginFor().
    static constexpr double kAutoMemoryMargin = -1.0;
    double memoryMargin = kAutoMemoryMargin;
    int maxBatchSize = 4096; // cap for batchSizeAuto
    int microBatch = 0; // images per forward/backward; 0 = the whole batch
    // Input normalization (x − mean) / std: one value for every channel, or one per channel (RGB).
    // Starting weights bring their own (ImageNet's for torchvision's). Older runs have one value.
    std::vector<double> normMean { 0.5 };
    std::vector<double> normStd { 0.5 };
    double normMeanOf(int channel) const { return normMean[normMean.size() == 1 ? 0 : channel]; }
    double normStdOf(int channel) const { return normStd[normStd.size() == 1 ? 0 : channel]; }
    // Starting weights
    QString initWeights; // --init PATH: empty = random weights (see train/weightinfo.h)
    // Fine-tuning controls; the classifier is the model's last Linear
    // (train/finetune_p.h). The first freezeEpochs epochs train the classifier only (the other
    // layers' BatchNorm in eval mode); every other layer trains at lr × backboneLrScale (0: its
    // weights stay).
    int freezeEpochs = 0;
    double backboneLrScale = 1.0;
    // Data parallel. The rank and world size come from the launch environment
    // (run/distenv.h), never from here.
    int nproc = 1; // local worker processes `train` spawns (1: this process trains alone)
    int distTimeoutSec = 60; // c10d timeout: a lost rank fails the others within it
    QString distBackend = QStringLiteral("auto"); // auto (nccl on CUDA, else gloo) | gloo | nccl
    // The local ranks this configuration asks for: nproc, one per core for nproc 0, or one per
    // visible GPU for cuda:all (with nproc 0 or 1).
    int localWorldSize() const;
    // The intra-op threads of each of WORLDSIZE ranks on this machine: threads when set, else an
    // equal share of the cores (torchrun's OMP_NUM_THREADS).
    int threadsPerRank(int worldSize) const;
    // Whether the global batch splits evenly over WORLDSIZE ranks (a fixed size, a multiple of it).
    bool checkWorldSize(int worldSize, QString *error) const;

    QJsonObject toJson() const;
    // Reads config.json (also as written by older versions). Unknown keys are ignored; a value of
    // the wrong type or out of its choices fails with the key named in *error.
    static std::optional<RunConfig> fromJson(const QJsonObject &json, QString *error);
    // Whether the run can start; else false and a one-line reason a user can act on in *error.
    // Does not touch the file system.
    bool validate(QString *error = nullptr) const;
    int effectiveThreads() const; // threads, or the number of cores when 0
    // The margin below the limit of the device that runs the model (host budget or GPU memory): as
    // set, or for auto 0.04 on the host, where a budgeted run's peak repeats, and 0.1 on a GPU,
    // whose caching allocator fragments over a long run. Figures: bench/README.md, "Host margin".
    double memoryMarginFor(bool onDevice) const;
    // What a host memory budget leaves the run's predicted peak: the budget less the host margin
    // (memoryMarginFor(false)); 0 without a budget.
    std::int64_t memoryBudgetLimitBytes() const;
    // Whether the run trains in channels-last: as memoryFormat says, and for Auto where it measured
    // faster: on CUDA with bf16/fp16 (tensor-core convolutions take NHWC), and on the CPU for the
    // ResNets, not smallcnn. Figures: bench/README.md, "Channels-last on the CPU".
    bool useChannelsLast(bool onCuda) const;
};

// Parses "auto", "cpu", "cuda", "cuda:N". Returns the normalized name ("cpu", "cuda:0") or
// std::nullopt with *error set, also when CUDA is asked for and none is available.
std::optional<QString> resolveDevice(const QString &device, QString *error);

} // namespace leantune

Q_DECLARE_METATYPE(leantune::RunConfig)
