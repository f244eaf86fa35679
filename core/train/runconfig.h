#pragma once

#include "model/modelspec.h"

#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include <cstdint>
#include <optional>

namespace leantune {

// Everything that defines a training run. Plain value; saved as RUNDIR/config.json.
struct RunConfig {
    QString dataDir;
    QString outDir;
    QString valDir;                 // empty: split valSplit of dataDir off for validation
    QString testDir;                // optional held-out test folder
    ModelSpec model;                // name, inputSize, channels (classes come from the data)
    int batchSize = 64;             // images per optimizer step
    int epochs = 3;
    double learningRate = 0.05;
    QString optimizer = QStringLiteral("sgd");          // sgd (momentum 0.9) | adam
    QString lrSchedule = QStringLiteral("cosine");      // cosine | constant
    double momentum = 0.9;
    double weightDecay = 5e-4;
    QString device = QStringLiteral("auto");            // auto | cpu | cuda | cuda:N
    int workers = 2;                // loader decode threads
    int threads = 0;                // torch intra-op threads; 0 = all cores
    int queueDepth = 4;             // batches decoded ahead
    double valSplit = 0.1;
    std::uint64_t seed = 42;
    QString prune = QStringLiteral("none");             // PruningSchedule spec
    QString pruneGranularity = QStringLiteral("weight"); // weight (unstructured) | channel (whole output channels, L1)
    QString pruneScope = QStringLiteral("layer");  // layer (each tensor to the target) | global (LAMP ranking across layers; weight granularity)
    bool augment = false;           // random crop + flip on training batches (pays on long runs)
    QString precision = QStringLiteral("fp32");         // fp32 | bf16 | fp16 (CUDA autocast; fp16 with loss scaling)
    // auto | contiguous | channels-last (NHWC weights and inputs); see useChannelsLast().
    QString memoryFormat = QStringLiteral("auto");
    bool cache = false;             // decoded cache (issue 6): later epochs read decoded images, no decode
    QString cacheDir;               // its folder; empty = DecodedCache::defaultDirectory()
    // Memory (issue 5). A host budget bounds the loader queue and the planned peak; a batch that does
    // not fit is split into micro-batches with gradient accumulation (the effective batch stays).
    bool batchSizeAuto = false;           // the BatchSizeFinder picks batchSize before the run
    std::int64_t memoryBudgetBytes = 0;   // host memory budget in bytes; 0 = none
    double memoryMargin = 0.10;           // safety margin below a capacity or budget (0..0.9)
    int maxBatchSize = 4096;              // cap for batchSizeAuto
    int microBatch = 0;                   // images per forward/backward; 0 = the whole batch
    double normMean = 0.5;          // input normalization (x − mean) / std, same for every channel
    double normStd = 0.5;

    QJsonObject toJson() const;
    static std::optional<RunConfig> fromJson(const QJsonObject &json, QString *error);
    // Empty when valid, else a one-line reason a user can act on. Does not touch the file system.
    QString validate() const;
    int effectiveThreads() const;   // threads, or the number of cores when 0
    // Whether the run trains in channels-last: as memoryFormat says, and for "auto" where it is
    // known faster. On CUDA with bf16/fp16 (tensor-core convolutions take NHWC). On the CPU for the
    // ResNets, measured on 2 cores, 64 px, alternating: resnet8 339-359 -> 394-423 img/s (and
    // ~100 MiB less peak RSS), resnet18 15-16 -> 18-19. Not for smallcnn, where neither layout won
    // consistently (2,473-3,201 img/s both ways over 6 alternations).
    bool useChannelsLast(bool onCuda) const;
};

// Parses "auto", "cpu", "cuda", "cuda:N". Returns the normalized name ("cpu", "cuda:0") or
// std::nullopt with *error set, also when CUDA is asked for and none is available.
std::optional<QString> resolveDevice(const QString &device, QString *error);

} // namespace leantune

Q_DECLARE_METATYPE(leantune::RunConfig)
