#pragma once

#include "config/runenums.h"
#include "export/sizereport.h"

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

namespace leantune {

enum class ExportFormat { Onnx, LibTorch };
// int8: ONNX only, int8 weights and float activations (smaller, not faster). int8-static: ONNX
// only, int8 weights and uint8 activations with ranges calibrated on images (QDQ that ONNX Runtime
// runs with integer kernels).
enum class ExportQuantization { None, Int8, Int8Static };
// How static int8 takes activation ranges from the calibration images.
enum class CalibrationMethod { MinMax, Percentile };

// How static int8 is written: qdq (float Conv, Add, ... between DequantizeLinear and
// QuantizeLinear, which ONNX Runtime fuses into integer kernels) or qoperator (QLinearConv,
// QLinearAdd, ..., which OpenCV 4.6 DNN loads too).
enum class Int8Format { Qdq, QOperator };

template <> struct EnumNames<Int8Format> {
    static constexpr std::array<const char *, 2> names { "qdq", "qoperator" };
};
template <> struct EnumNames<ExportFormat> {
    static constexpr std::array<const char *, 2> names { "onnx", "libtorch" };
};
template <> struct EnumNames<ExportQuantization> {
    static constexpr std::array<const char *, 3> names { "none", "int8", "int8-static" };
};
template <> struct EnumNames<CalibrationMethod> {
    static constexpr std::array<const char *, 2> names { "minmax", "percentile" };
};

// What to export from a run folder.
struct ExportOptions {
    ExportFormat format = ExportFormat::Onnx;
    ExportQuantization quantize = ExportQuantization::None;
    bool structured = false; // remove channels whose weights are all zero (ONNX only; train with
                             // channel pruning to have some)
    QString outFile; // written atomically; nothing is left behind on failure
    QString dataDir; // images to verify on; empty: the run's test folder, else its
                     // validation folder, else its training folder
    // Verify on a class-balanced sample of this many images when the folder holds more
    // (verificationImages(): seeded, so every export of a run verifies on the same images);
    // 0 = every image. The desktop app and leantune-cli share the default.
    static constexpr int kDefaultVerificationImages = 2000;
    int limit = kDefaultVerificationImages;
    // Images per verification batch; under a memory budget, the largest that fits up to it.
    int batchSize = 256;
    // Host memory budget (bytes) for the export, as train's --memory-budget: the calibration and
    // verification passes' batches and loader queues are each fitted under the budget less
    // RunConfig::memoryMarginFor(false), from the measured peak of the pass's step at two small
    // batches, and the latency's large batch is at most the verification batch. 0 = none.
    std::int64_t memoryBudgetBytes = 0;
    int threads = 0; // torch threads; 0 = leave as is
    // Static int8 only: images whose activation ranges set the scales (one sub-folder per class,
    // the run's classes, images of the training images' size); empty: the run's training folder.
    // calibrationImages are drawn evenly across classes (seeded).
    QString calibrationDir;
    int calibrationImages = 512;
    CalibrationMethod calibrationMethod = CalibrationMethod::MinMax;
    Int8Format int8Format = Int8Format::Qdq; // static int8 only
    // Latency of the written file, timed this many times at batch 1 and at batch 32 (at least 3
    // times; under a memory budget, at most the verification batch instead of 32) on random input,
    // in OpenCV DNN in-process where it loads the file, and in ONNX Runtime when node,
    // onnxruntime-node and bench/ort-latency.js are found (2 intra-op threads). 0: not timed
    // (leantune-cli export times 10 by default).
    int latencyRuns = 0;

    // The format or quantization by the name the command line and the report use ("onnx",
    // "int8"); false + *error listing the names when NAME is none of them.
    bool setFormat(const QString &name, QString *error);
    bool setQuantization(const QString &name, QString *error);
    // Whether these options can export: int8 weights, static int8 and --structured need ONNX, a
    // calibration folder needs static int8, an output file is named, the batch size is at least 1,
    // the limit, threads and memory budget are not negative. False + a one-line message naming
    // the option to change in *error. Touches no file.
    bool validate(QString *error) const;
};

// One measured latency of an exported file: milliseconds per batch of BATCH images.
struct LatencyFigure {
    QString runtime;
    int batch = 1;
    double medianMs = 0.0;
    double p90Ms = 0.0;
};

// What an export wrote and how well the written model agrees with the trained one.
struct ExportReport {
    QString runDir;
    QString outFile;
    QString format; // enumName() of the options' format and quantization
    QString quantize;
    bool structured = false;
    QString model; // zoo name
    int inputSize = 0;
    int channels = 0;
    QStringList classNames;
    qint64 channelsRemoved = 0;
    SizeReport size;
    // Static int8: where the activation ranges came from.
    QString calibrationDir;
    int calibrationImages = 0;
    QString calibrationMethod;
    // Images per calibration batch; under a memory budget, fitted to it from the calibration
    // step's own measured peak (calibrationPredictedPeakBytes at that batch).
    int calibrationBatch = 0;
    std::int64_t calibrationPredictedPeakBytes = 0;
    QString int8Format; // static int8: "qdq" or "qoperator"

    // Verification: the written file re-loaded in an independent runtime (OpenCV DNN for ONNX,
    // a fresh LibTorch model for the archive) and run on the same images as the LibTorch model.
    QString runtime; // what ran the written file
    QString verificationNote; // anything the figures need to be read with
    QString dataDir;
    // Which images dataDir holds, for the report's words: "test", "validation", "data" (the run's
    // training folder: its training and validation images) or "folder" (chosen with dataDir).
    QString dataSet;
    int images = 0;
    int folderImages = 0; // images in dataDir; more than `images` when a sample was verified on
    bool sampled = false; // images is a class-balanced sample of folderImages
    int verificationBatch = 0; // images per verification batch
    int verificationQueue = 0; // the verification loader's queue depth
    // Under ExportOptions::memoryBudgetBytes: the budget, its limit after the margin, and the
    // verification pass's predicted host peak at the chosen batch (0 without a budget).
    std::int64_t memoryBudgetBytes = 0;
    std::int64_t memoryLimitBytes = 0;
    std::int64_t predictedPeakBytes = 0;
    double accuracyBefore = 0.0; // the trained LibTorch model (fp32) on those images
    double accuracyAfter = 0.0; // the written file in `runtime` on the same images
    // The report's one agreement figure: the share of images on which the written file's top-1
    // class is the trained fp32 model's. What int8 weights cost shows here.
    double agreement = 0.0;
    // The runtime check: the written file in `runtime` against `reference`, the same computation
    // in LibTorch (for int8, the int8 graph), which it must reproduce (top-1 on at least 99.5 %
    // of the images that are not near-ties, and the largest logit difference). Not an accuracy
    // figure. A near-tie is an image whose reference top-1/top-2 margin is below
    // nearTieTolerance, twice the median per-image logit difference (judgeTopAgreement()).
    QString reference;
    double runtimeAgreement = 0.0; // over the images - nearTies decided images
    double maxAbsLogitDiff = 0.0;
    int nearTies = 0; // images skipped as near-ties
    int nearTieFlips = 0; // of those, the ones whose top-1 the file ranked otherwise
    double nearTieTolerance = 0.0;
    double seconds = 0.0;
    // ExportOptions::latencyRuns; latencyNote names the runtimes that did not time the file.
    QList<LatencyFigure> latency;
    QString latencyNote;

    // "all 600 images" or "a class-balanced sample of 2000 of the 10000 images".
    QString verifiedOnText() const;
    // The set's name in words: "test set", "validation set", "training folder", "chosen folder".
    QString dataSetName() const;

    QJsonObject toJson() const;
    QString toText() const; // readable summary for the terminal
};

// Progress: FRACTION in [0, 1] and a short stage name. Return false to cancel the export.
using ExportProgress = std::function<bool(double fraction, const QString &stage)>;

// Exports RUNDIR's trained model (model.pt, else the newest checkpoint). Synchronous: run it on a
// worker thread in the GUI; the callback is called on that thread. Fails (std::nullopt + *error,
// no file left at outFile) on a bad option, a run without a model, an unwritable output, a file
// the independent runtime cannot load, or a runtime that does not reproduce its LibTorch reference
// (runtimeAgreement below 99.5 % of the images that are not near-ties, or more than half the
// images near-ties). Never throws.
std::optional<ExportReport> exportRun(const QString &runDir, const ExportOptions &options,
    QString *error, const ExportProgress &progress = {});

// The images an export verifies on, in the order verified: every image of DATADIR (a folder of
// class sub-folders) when it holds at most LIMIT or LIMIT is 0, else LIMIT of them drawn evenly
// across classes (round robin over per-class seeded shuffles: the same images on every call).
// std::nullopt + *error when DATADIR cannot be read.
std::optional<QStringList> verificationImages(const QString &dataDir, int limit, QString *error);

// The sizes an export would have, computed in memory without writing or verifying (for a preview).
std::optional<SizeReport> previewExportSize(
    const QString &runDir, const ExportOptions &options, QString *error);

} // namespace leantune
