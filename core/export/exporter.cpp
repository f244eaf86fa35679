#include "export/exporter.h"

#include "dataset/datasetscanner.h"
#include "dataset/datasplit.h"
#include "dataset/streamingloader_p.h"
#include "export/dnnrunner_p.h"
#include "export/exportgraph_p.h"
#include "export/exportqoperator_p.h"
#include "export/onnxdequantizer_p.h"
#include "export/onnxwriter_p.h"
#include "export/topagreement.h"
#include "config/runfields.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"
#include "train/checkpoint_p.h"
#include "train/memoryplanner.h"
#include "train/rundir_p.h"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/core/version.hpp>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QScopeGuard>
#include <QSaveFile>
#include <QStandardPaths>
#include <QTextStream>

#include <algorithm>
#include <random>

namespace leantune {

namespace {

constexpr double kMinAgreement = 0.995;

// A failure with a message for the user; caught at exportRun's top level.
struct ExportError {
    QString message;
};

[[noreturn]] void failWith(const QString &message)
{
    throw ExportError { message };
}

// Fails early, before any work, when OUT cannot be written.
bool checkWritable(const QString &out, QString *error)
{
    const auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    const QFileInfo fi(out);
    if (fi.isDir())
        return fail(QStringLiteral("output %1 is a folder; give a file name").arg(out));
    const QFileInfo dir(fi.absolutePath());
    if (!dir.isDir())
        return fail(
            QStringLiteral("cannot write %1: folder %2 does not exist").arg(out, dir.filePath()));
    if (!dir.isWritable())
        return fail(
            QStringLiteral("cannot write %1: folder %2 is not writable").arg(out, dir.filePath()));
    if (fi.exists() && !fi.isWritable())
        return fail(QStringLiteral("cannot write %1: the file is read-only").arg(out));
    return true;
}

void writeAtomically(const QString &path, const QByteArray &bytes)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
        failWith(QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
}

QList<QPair<QString, QString>> metadataFor(
    const RunInfo &run, const ExportOptions &o, const ExportGraph &g)
{
    const RunConfig &c = run.config;
    const QString classes = QString::fromUtf8(
        QJsonDocument(QJsonArray::fromStringList(run.classNames)).toJson(QJsonDocument::Compact));
    return {
        { QStringLiteral("class_names"), classes },
        { QStringLiteral("input_size"), QString::number(g.inputSize) },
        { QStringLiteral("input_channels"), QString::number(g.channels) },
        { QStringLiteral("input_layout"),
            QStringLiteral("NCHW float32, pixels scaled to [0, 1] (pixel / 255)") },
        { QStringLiteral("color"),
            g.channels == 1 ? QStringLiteral("grayscale") : QStringLiteral("RGB") },
        { QStringLiteral("normalization"),
            QStringLiteral("in graph: (x - mean) / std, mean %1, std %2 (per channel when several)")
                .arg(numberList(c.normMean), numberList(c.normStd)) },
        { QStringLiteral("output"),
            QStringLiteral("logits [N, %1] in class_names order").arg(run.classNames.size()) },
        { QStringLiteral("model"), c.model.name },
        { QStringLiteral("weights"),
            o.quantize == ExportQuantization::Int8
                ? QStringLiteral("int8 per-channel symmetric (DequantizeLinear)")
                : o.quantize == ExportQuantization::Int8Static
                ? QStringLiteral("static int8 %1: int8 per-channel symmetric weights, uint8 "
                                 "per-tensor activations (%2 calibration), int32 biases")
                      .arg(o.int8Format == Int8Format::QOperator ? QStringLiteral("QOperator")
                                                                 : QStringLiteral("QDQ"),
                          enumName(o.calibrationMethod))
                : QStringLiteral("float32") },
        { QStringLiteral("structured"),
            o.structured ? QStringLiteral("true") : QStringLiteral("false") },
        { QStringLiteral("prune"), c.prune },
    };
}

qint64 sparseBytesOf(const ExportGraph &g)
{
    const std::vector<std::string> weights = g.weightNames();
    qint64 bytes = 0;
    for (const auto &item : g.initializers) {
        const torch::Tensor &t = item.second;
        if (std::find(weights.begin(), weights.end(), item.first) != weights.end())
            bytes += bitmaskEncodedBytes(
                t.numel(), t.count_nonzero().item<std::int64_t>(), int(t.element_size()));
        else
            bytes += qint64(t.nbytes());
    }
    return bytes;
}

// Samples of INDEX, COUNT of them drawn evenly across classes (round robin over per-class seeded
// shuffles, so a class with few images gives all it has and the others fill in).
std::vector<Sample> balancedSample(const DatasetIndex &index, int count)
{
    std::vector<std::vector<Sample>> perClass(std::size_t(index.classes.size()));
    for (const Sample &s : samplesOf(index))
        perClass[std::size_t(s.label)].push_back(s);
    std::mt19937 rng(2024);
    for (auto &c : perClass)
        std::shuffle(c.begin(), c.end(), rng);
    std::vector<Sample> out;
    for (std::size_t round = 0; int(out.size()) < count; ++round) {
        bool any = false;
        for (const auto &c : perClass) {
            if (round < c.size() && int(out.size()) < count) {
                out.push_back(c[round]);
                any = true;
            }
        }
        if (!any)
            break;
    }
    return out;
}

// The verification images of a folder (verificationImages()): every sample of INDEX when it holds
// at most LIMIT or LIMIT is 0, else a class-balanced sample of LIMIT.
std::vector<Sample> verificationSamples(const DatasetIndex &index, int limit)
{
    std::vector<Sample> samples = samplesOf(index);
    if (limit > 0 && samples.size() > std::size_t(limit))
        return balancedSample(index, limit);
    return samples;
}

// The images to verify on. *DATASET names the set (ExportReport::dataSet); *FOLDERIMAGES counts
// the folder's images.
std::vector<Sample> verificationSet(const RunInfo &run, const ExportOptions &o, QString *dataDir,
    QString *dataSet, int *folderImages)
{
    const RunConfig &c = run.config;
    *dataDir = !o.dataDir.isEmpty() ? o.dataDir
        : !c.testDir.isEmpty()      ? c.testDir
        : !c.valDir.isEmpty()       ? c.valDir
                                    : c.dataDir;
    const auto same = [&](const QString &dir) {
        return !dir.isEmpty()
            && QFileInfo(dir).absoluteFilePath() == QFileInfo(*dataDir).absoluteFilePath();
    };
    *dataSet = same(c.testDir) ? QStringLiteral("test")
        : same(c.valDir)       ? QStringLiteral("validation")
        : same(c.dataDir)      ? QStringLiteral("data")
                               : QStringLiteral("folder");
    QString error;
    const std::optional<DatasetIndex> index = scanDataset(*dataDir, {}, &error);
    if (!index)
        failWith(QStringLiteral("cannot read the verification images: %1").arg(error));
    if (index->classes != run.classNames)
        failWith(QStringLiteral("the classes of %1 (%2) do not match the run's (%3)")
                     .arg(*dataDir, index->classes.join(QStringLiteral(", ")),
                         run.classNames.join(QStringLiteral(", "))));
    *folderImages = int(samplesOf(*index).size());
    std::vector<Sample> samples = verificationSamples(*index, o.limit);
    if (samples.empty())
        failWith(QStringLiteral("%1 holds no images to verify the export on").arg(*dataDir));
    return samples;
}

// [0, 1] inputs (no normalization: the ONNX graph normalizes) in batches of BATCH, QUEUE batches
// decoded ahead.
std::unique_ptr<StreamingLoader> verificationLoader(
    const RunConfig &c, std::vector<Sample> samples, int batch, int queue)
{
    LoaderOptions lo;
    lo.decode = decodeOptionsFor(c, false);
    for (int k = 0; k < 3; ++k) {
        lo.decode.mean[k] = 0.f;
        lo.decode.std[k] = 1.f;
    }
    lo.batchSize = batch;
    lo.queueDepth = queue;
    lo.workers = 2;
    lo.shuffle = false;
    return std::make_unique<StreamingLoader>(std::move(samples), lo);
}

struct Tally {
    std::int64_t images = 0, correctBefore = 0, correctAfter = 0, agreeTrained = 0;
    double maxDiff = 0.0;
    std::vector<TopOneCheck> checks; // the written file against the reference, per image
};

// WRITTEN: the runtime's logits, checked against REFERENCE. EXPORTED: the logits the file's
// accuracy is counted on (WRITTEN, unless the runtime ran a twin of the file).
void tally(Tally &t, const torch::Tensor &trained, const torch::Tensor &reference,
    const torch::Tensor &written, const torch::Tensor &exported, const torch::Tensor &labels)
{
    const torch::Tensor pTrained = trained.argmax(1), pExported = exported.argmax(1);
    t.images += labels.size(0);
    t.correctBefore += pTrained.eq(labels).sum().item<std::int64_t>();
    t.correctAfter += pExported.eq(labels).sum().item<std::int64_t>();
    const torch::Tensor ref = reference.to(torch::kFloat).contiguous(),
                        out = written.to(torch::kFloat).contiguous();
    const int classes = int(ref.size(1));
    for (std::int64_t i = 0; i < ref.size(0); ++i)
        t.checks.push_back(checkTopOne(
            ref.data_ptr<float>() + i * classes, out.data_ptr<float>() + i * classes, classes));
    t.agreeTrained += pExported.eq(pTrained).sum().item<std::int64_t>();
    t.maxDiff = std::max(t.maxDiff, (written - reference).abs().max().item<double>());
}

class Progress {
public:
    explicit Progress(const ExportProgress &callback)
        : m_callback(callback)
    {
    }
    void operator()(double fraction, const QString &stage) const
    {
        if (m_callback && !m_callback(fraction, stage))
            failWith(QStringLiteral("export cancelled"));
    }

private:
    const ExportProgress &m_callback;
};

// How a pass over images (calibration, verification) is batched: BATCH images a step, QUEUE
// batches decoded ahead.
struct BatchPlan {
    int batch = 1;
    int queue = 4;
    std::int64_t limitBytes = 0; // under a budget: its limit after the margin
    std::int64_t predictedPeakBytes = 0;
};

// Without a budget: MAXBATCH, the loader's default queue. Under a host budget, as planRunMemory()
// plans a run: the bounded host allocator, the budget less RunConfig::memoryMarginFor(false) as
// the limit, the host peak of STEP (one step of the pass on random input) measured at two small
// batches and fitted as a line (MemoryPlanner::fitLinear), and the largest batch (halving from
// MAXBATCH) and then the deepest queue whose MemoryPlan::predictPeak, loader batches included,
// stays under the limit. Fails, naming PASS ("verify", "calibrate"), when the process already
// holds the limit or the smallest batch does not fit.
BatchPlan planBatches(const RunConfig &config, const ExportOptions &o, int maxBatch,
    const QString &pass, const std::function<void(int batch)> &step)
{
    BatchPlan v;
    v.batch = std::max(1, maxBatch);
    v.queue = LoaderOptions().queueDepth;
    if (o.memoryBudgetBytes <= 0)
        return v;
    RunConfig c = config;
    c.memoryBudgetBytes = o.memoryBudgetBytes;
    const QString budget = formatBytes(o.memoryBudgetBytes);
    v.limitBytes = c.memoryBudgetLimitBytes();
    const auto tooSmall = [&](const QString &what, std::int64_t bytes) {
        failWith(QStringLiteral("the memory budget %1 is too small to %6 this export: %2 "
                                "already takes %3 (limit %4 after the %5 % margin); raise "
                                "--memory-budget")
                     .arg(budget, what, formatBytes(bytes), formatBytes(v.limitBytes))
                     .arg(c.memoryMarginFor(false) * 100.0, 0, 'f', 0)
                     .arg(pass));
    };
    if (hostRssBytes() > v.limitBytes)
        tooSmall(QStringLiteral("the loaded model and export"), hostRssBytes());
    MemoryPlan plan;
    plan.device = QStringLiteral("cpu");
    plan.capacityBytes = o.memoryBudgetBytes;
    plan.margin = c.memoryMarginFor(false);
    plan.queueDepth = v.queue;
    const ModelSpec &m = config.model;
    plan.loaderBytesPerImage = std::int64_t(m.channels) * m.inputSize * m.inputSize * 4 + 8;
    step(1); // warm-up: thread pools and the runtimes' buffers exist in the pass too
    for (int b : { 2, 8 }) {
        releaseFreeHostMemory();
        resetHostPeak();
        step(b);
        const std::int64_t peak = hostPeakRssBytes();
        plan.evalProbes.push_back({ b, peak });
        if (peak > v.limitBytes)
            tooSmall(QStringLiteral("a step of %1 images").arg(b), peak);
    }
    releaseFreeHostMemory();
    plan.eval = MemoryPlanner::fitLinear(plan.evalProbes);
    for (int e = v.batch;; e = (e + 1) / 2) {
        for (int q = v.queue; q >= 1; --q) {
            const std::int64_t peak = plan.predictPeak(e, 0, q, e);
            if (peak <= v.limitBytes) {
                v.batch = e;
                v.queue = q;
                v.predictedPeakBytes = peak;
                return v;
            }
        }
        if (e == 1)
            break;
    }
    tooSmall(QStringLiteral("a step of one image with a loader queue of one"),
        plan.predictPeak(1, 0, 1, 1));
    return v; // not reached: tooSmall() throws
}

// Activation ranges of GRAPH (float) on the calibration images. Refuses a folder whose classes
// are not the run's or whose images are not the size of the run's training images.
std::map<std::string, ValueRange> calibrate(const RunInfo &run, const ExportOptions &o,
    const ExportGraph &graph, const Progress &progress, ExportReport *report)
{
    const RunConfig &c = run.config;
    const QString dir = o.calibrationDir.isEmpty() ? c.dataDir : o.calibrationDir;
    progress(0.06, QStringLiteral("calibrating: reading %1").arg(dir));
    QString error;
    const std::optional<DatasetIndex> index = scanDataset(dir, {}, &error);
    if (!index)
        failWith(QStringLiteral("cannot read the calibration images: %1").arg(error));
    if (index->classes != run.classNames)
        failWith(QStringLiteral("the calibration folder %1 has other classes (%2) than the run "
                                "(%3): calibrate on images of the run's classes")
                     .arg(dir, index->classes.join(QStringLiteral(", ")),
                         run.classNames.join(QStringLiteral(", "))));
    if (index->images.empty())
        failWith(QStringLiteral("the calibration folder %1 holds no images").arg(dir));
    const bool ownData
        = QFileInfo(dir).absoluteFilePath() == QFileInfo(c.dataDir).absoluteFilePath();
    if (!ownData && !c.dataDir.isEmpty() && QFileInfo(c.dataDir).isDir()) {
        const std::optional<DatasetIndex> trained = scanDataset(c.dataDir, {}, &error);
        const SizeStats a = index->sizeStats();
        if (trained && !trained->images.empty()) {
            const SizeStats b = trained->sizeStats();
            if (a.medianWidth != b.medianWidth || a.medianHeight != b.medianHeight)
                failWith(QStringLiteral("the calibration images in %1 are %2x%3 px but the run "
                                        "trained on %4x%5 px images (%6): calibrate on images "
                                        "like the training images")
                             .arg(dir)
                             .arg(a.medianWidth)
                             .arg(a.medianHeight)
                             .arg(b.medianWidth)
                             .arg(b.medianHeight)
                             .arg(c.dataDir));
        }
    }
    std::vector<Sample> samples = balancedSample(*index, o.calibrationImages);
    const RangeMethod method = o.calibrationMethod == CalibrationMethod::Percentile
        ? RangeMethod::Percentile
        : RangeMethod::MinMax;
    // Small batches: observeRanges holds every activation of a batch at once. Under a budget, the
    // batch and queue are fitted to it as the verification's are.
    const int smallBatch = std::max(
        1, std::min(16, int(4'000'000 / std::max(1, c.model.inputSize * c.model.inputSize))));
    const BatchPlan plan = planBatches(c, o, std::min(smallBatch, int(samples.size())),
        QStringLiteral("calibrate"), [&](int batch) {
            std::map<std::string, ValueRange> scratch;
            graph.observeRanges(
                torch::rand({ batch, c.model.channels, c.model.inputSize, c.model.inputSize }),
                method, &scratch);
        });
    if (o.memoryBudgetBytes > 0)
        progress(0.06,
            QStringLiteral("memory plan: calibration batch %1, loader queue %2; predicted host "
                           "peak %3 (limit %4)")
                .arg(plan.batch)
                .arg(plan.queue)
                .arg(formatBytes(plan.predictedPeakBytes), formatBytes(plan.limitBytes)));
    LoaderOptions lo;
    lo.decode = decodeOptionsFor(c, false);
    for (int k = 0; k < 3; ++k) {
        lo.decode.mean[k] = 0.f;
        lo.decode.std[k] = 1.f;
    }
    lo.batchSize = plan.batch;
    lo.queueDepth = plan.queue;
    lo.workers = 2;
    lo.shuffle = false;
    const int total = int(samples.size());
    StreamingLoader loader(std::move(samples), lo);
    std::map<std::string, ValueRange> ranges;
    int done = 0;
    loader.startEpoch(0);
    while (std::optional<Batch> batch = loader.next()) {
        graph.observeRanges(batch->images, method, &ranges);
        done += int(batch->images.size(0));
        progress(0.06 + 0.04 * double(done) / double(total),
            QStringLiteral("calibrating: %1 / %2 images").arg(done).arg(total));
    }
    if (done == 0)
        failWith(QStringLiteral("no calibration image of %1 could be decoded").arg(dir));
    report->calibrationDir = dir;
    report->calibrationImages = done;
    report->calibrationMethod = enumName(o.calibrationMethod);
    report->calibrationBatch = plan.batch;
    report->calibrationPredictedPeakBytes = plan.predictedPeakBytes;
    return ranges;
}

// Median and p90 of RUN() over RUNS calls after one warm-up call, in milliseconds.
LatencyFigure timeRuns(
    const QString &runtime, int batch, int runs, const std::function<void()> &run)
{
    run();
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        QElapsedTimer t;
        t.start();
        run();
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    return { runtime, batch, ms[ms.size() / 2],
        ms[std::min(ms.size() - 1, std::size_t(0.9 * double(ms.size())))] };
}

// The file's latency in OpenCV DNN (in-process, where it loads) and in ONNX Runtime (through
// node and bench/ort-latency.js, where found), at batch 1 and 32.
void measureLatency(const QString &file, const ExportOptions &o, const ExportReport &r,
    bool openCvLoads, QList<LatencyFigure> *figures, QStringList *notes)
{
    const int runs = o.latencyRuns;
    // Under a budget, no larger than the verification batch, whose step ran the file too.
    const int large = o.memoryBudgetBytes > 0 ? std::min(32, r.verificationBatch) : 32;
    QList<int> batches { 1 };
    if (large > 1)
        batches << large;
    QStringList batchList;
    for (int batch : batches)
        batchList << QString::number(batch);
    if (openCvLoads) {
        QString error;
        std::optional<DnnRunner> dnn = DnnRunner::loadFile(file, &error);
        // 2 threads, as ONNX Runtime below (the process may have set OpenCV to 1).
        const int threads = cv::getNumThreads();
        cv::setNumThreads(2);
        const auto restore = qScopeGuard([threads] { cv::setNumThreads(threads); });
        if (dnn) {
            const QString name = QStringLiteral("OpenCV DNN %1 (%2 threads)")
                                     .arg(QLatin1String(CV_VERSION))
                                     .arg(cv::getNumThreads());
            for (int batch : batches) {
                const torch::Tensor x
                    = torch::rand({ batch, r.channels, r.inputSize, r.inputSize });
                figures->append(timeRuns(
                    name, batch, batch == 1 ? runs : std::max(3, runs / 2), [&] { dnn->run(x); }));
            }
        }
    } else {
        notes->append(QStringLiteral("OpenCV DNN %1 does not load %2 files")
                          .arg(QLatin1String(CV_VERSION), r.quantize));
    }
    // ONNX Runtime through node: LEANTUNE_ORT_SCRIPT, else the source tree's bench script.
    QString script = qEnvironmentVariable("LEANTUNE_ORT_SCRIPT");
    if (script.isEmpty()) {
        const QString app = QCoreApplication::applicationDirPath();
        for (const QString &candidate :
            QStringList { app + QStringLiteral("/../../../bench/ort-latency.js"),
                app + QStringLiteral("/../../bench/ort-latency.js"),
                QDir::current().filePath(QStringLiteral("bench/ort-latency.js")) }) {
            if (QFileInfo::exists(candidate)) {
                script = QFileInfo(candidate).canonicalFilePath();
                break;
            }
        }
    }
    const QString node = QStandardPaths::findExecutable(QStringLiteral("node"));
    if (script.isEmpty() || node.isEmpty()) {
        notes->append(node.isEmpty()
                ? QStringLiteral("ONNX Runtime not timed (node is not installed)")
                : QStringLiteral("ONNX Runtime not timed (bench/ort-latency.js not found; set "
                                 "LEANTUNE_ORT_SCRIPT)"));
        return;
    }
    QProcess p;
    p.start(node,
        { script, QStringLiteral("--json"), QStringLiteral("--threads"), QStringLiteral("2"),
            QStringLiteral("--runs"), QString::number(std::max(3, runs)),
            QStringLiteral("--batches"), batchList.join(QLatin1Char(',')), file });
    if (!p.waitForFinished(300000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        p.kill();
        p.waitForFinished(2000);
        notes->append(p.exitCode() == 3
                ? QStringLiteral("ONNX Runtime not timed (onnxruntime-node is not installed: "
                                 "scripts/setup --with-ort)")
                : QStringLiteral("ONNX Runtime did not time the file: %1")
                      .arg(QString::fromUtf8(p.readAllStandardError()).simplified().left(200)));
        return;
    }
    const QJsonObject json = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
    const QJsonObject m = json.value(QLatin1String("models")).toArray().at(0).toObject();
    const QString name = QStringLiteral("%1 (2 threads)")
                             .arg(json.value(QLatin1String("runtime")).toString().trimmed());
    for (int batch : batches) {
        const QJsonObject b = m.value(QStringLiteral("batch%1").arg(batch)).toObject();
        if (!b.isEmpty())
            figures->append({ name, batch, b.value(QLatin1String("median_ms")).toDouble(),
                b.value(QLatin1String("p90_ms")).toDouble() });
    }
}

struct Prepared {
    RunInfo run;
    std::shared_ptr<ClassifierImpl> model;
    std::optional<ExportGraph> graph; // ONNX only
    QByteArray bytes; // what will be written
    ExportReport report;
};

Prepared prepare(const QString &runDir, const ExportOptions &o, const Progress &progress)
{
    Prepared p;
    QString error;
    if (!o.validate(&error))
        failWith(error);
    std::optional<RunInfo> run = readRunInfo(runDir, &error);
    if (!run)
        failWith(error);
    p.run = *run;
    progress(0.02, QStringLiteral("loading the model"));
    p.model = loadRunModel(p.run, &error);
    if (!p.model)
        failWith(error);
    p.model->eval();

    ExportReport &r = p.report;
    r.runDir = runDir;
    r.outFile = o.outFile;
    r.format = enumName(o.format);
    r.quantize = enumName(o.quantize);
    r.structured = o.structured;
    r.model = p.run.config.model.name;
    r.inputSize = p.run.config.model.inputSize;
    r.channels = p.run.config.model.channels;
    r.classNames = p.run.classNames;

    ModelSpec spec = p.run.config.model;
    spec.classes = int(p.run.classNames.size());
    progress(0.05, QStringLiteral("building the graph"));
    std::optional<ExportGraph> graph
        = ExportGraph::build(*p.model, spec, p.run.config.normMean, p.run.config.normStd, &error);
    if (graph) {
        r.size.denseParameters = graph->parameterCount();
    } else if (o.format == ExportFormat::LibTorch) {
        // The archive holds the model's own tensors: no graph needed (a TorchScript model has
        // none LeanTune can write as ONNX).
        for (const auto &t : p.model->parameters())
            r.size.denseParameters += t.numel();
    } else {
        failWith(error);
    }
    r.size.denseFp32Bytes = 4 * r.size.denseParameters;

    torch::NoGradGuard noGrad;
    if (o.format == ExportFormat::Onnx) {
        if (o.structured)
            r.channelsRemoved = graph->shrinkChannels();
        if (o.quantize == ExportQuantization::Int8)
            graph->quantizeWeights();
        std::optional<ExportGraph> qoperator; // written instead of the QDQ graph
        if (o.quantize == ExportQuantization::Int8Static) {
            const auto ranges = calibrate(p.run, o, *graph, progress, &r);
            if (o.int8Format == Int8Format::QOperator)
                qoperator = qoperatorGraph(*graph, ranges);
            graph->quantizeStatic(ranges);
            r.int8Format = enumName(o.int8Format);
        }
        p.bytes
            = OnnxWriter::serialize(qoperator ? *qoperator : *graph, metadataFor(p.run, o, *graph));
        r.size.parameters = graph->parameterCount();
        r.size.nonzeroParameters = graph->nonzeroCount();
        r.size.sparseBytes = sparseBytesOf(*graph);
        p.graph = std::move(graph);
    } else {
        p.bytes = serializeModule(
            *p.model, QJsonDocument(p.run.toJson()).toJson(QJsonDocument::Compact));
        for (const auto &t : p.model->parameters()) {
            r.size.parameters += t.numel();
            r.size.nonzeroParameters += t.count_nonzero().item<std::int64_t>();
        }
        const auto sparse = [&r](const torch::Tensor &t, bool weight) {
            r.size.sparseBytes += weight ? bitmaskEncodedBytes(t.numel(),
                                      t.count_nonzero().item<std::int64_t>(), int(t.element_size()))
                                         : qint64(t.nbytes());
        };
        for (const auto &t : p.model->parameters())
            sparse(t, t.dim() >= 2);
        for (const auto &t : p.model->buffers())
            sparse(t, false);
    }
    r.size.fileBytes = p.bytes.size();
    r.size.zipBytes = deflatedSize(p.bytes);
    return p;
}

} // namespace

bool ExportOptions::setFormat(const QString &name, QString *error)
{
    const std::optional<ExportFormat> f = enumFromName<ExportFormat>(name);
    if (f)
        format = *f;
    else if (error)
        *error = QStringLiteral("unknown format '%1' (choose %2)")
                     .arg(name, enumNames<ExportFormat>().join(QStringLiteral(" or ")));
    return f.has_value();
}

bool ExportOptions::setQuantization(const QString &name, QString *error)
{
    const std::optional<ExportQuantization> q = enumFromName<ExportQuantization>(name);
    if (q)
        quantize = *q;
    else if (error)
        *error = QStringLiteral("unknown quantization '%1' (choose %2)")
                     .arg(name, enumNames<ExportQuantization>().join(QStringLiteral(" or ")));
    return q.has_value();
}

bool ExportOptions::validate(QString *error) const
{
    const auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    if (format == ExportFormat::LibTorch && quantize == ExportQuantization::Int8Static)
        return fail(QStringLiteral("static int8 is written as an ONNX QDQ graph; use --format onnx "
                                   "--quantize int8-static"));
    if (quantize != ExportQuantization::Int8Static && !calibrationDir.isEmpty())
        return fail(QStringLiteral("a calibration folder sets static int8's activation ranges: add "
                                   "--quantize int8-static"));
    if (quantize != ExportQuantization::Int8Static && int8Format != Int8Format::Qdq)
        return fail(QStringLiteral("--int8-format chooses how static int8 is written: add "
                                   "--quantize int8-static"));
    if (calibrationImages < 1)
        return fail(QStringLiteral("the calibration image count must be at least 1"));
    if (format == ExportFormat::LibTorch && quantize != ExportQuantization::None)
        return fail(QStringLiteral(
            "int8 weights are written as ONNX (DequantizeLinear); the LibTorch archive keeps "
            "the zoo model's float32 weights: use --format onnx --quantize int8"));
    if (format == ExportFormat::LibTorch && structured)
        return fail(
            QStringLiteral("--structured rebuilds layers with fewer channels, which the zoo's "
                           "LibTorch modules cannot hold: use --format onnx"));
    if (outFile.isEmpty())
        return fail(QStringLiteral("no output file given"));
    if (batchSize < 1)
        return fail(QStringLiteral("batch size must be at least 1"));
    if (limit < 0)
        return fail(QStringLiteral("the image limit (--limit) must not be negative"));
    if (threads < 0)
        return fail(QStringLiteral("the thread count (--threads) must not be negative"));
    if (memoryBudgetBytes < 0)
        return fail(QStringLiteral("the memory budget (--memory-budget) must not be negative"));
    return true;
}

std::optional<ExportReport> exportRun(const QString &runDir, const ExportOptions &options,
    QString *error, const ExportProgress &callback)
{
    const auto fail = [error](const QString &message) -> std::optional<ExportReport> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QElapsedTimer timer;
    timer.start();
    try {
        const Progress progress(callback);
        QString problem;
        if (!options.validate(&problem) || !checkWritable(options.outFile, &problem))
            return fail(problem);
        if (options.threads > 0)
            torch::set_num_threads(options.threads);
        // Under a host budget, as in a run under one: large blocks go back to the system on free,
        // so the measured peaks repeat (planVerification()).
        const bool wasBounded = hostAllocatorBounded();
        const auto restoreAllocator = qScopeGuard([wasBounded] {
            if (!wasBounded)
                useBoundedHostAllocator(false);
        });
        if (options.memoryBudgetBytes > 0) {
            useBoundedHostAllocator(true);
            RunConfig budget;
            budget.memoryBudgetBytes = options.memoryBudgetBytes;
            if (hostRssBytes() > budget.memoryBudgetLimitBytes())
                return fail(
                    QStringLiteral("the memory budget %1 is too small to export: this "
                                   "process already takes %2 (limit %3 after the margin); "
                                   "raise --memory-budget")
                        .arg(formatBytes(options.memoryBudgetBytes), formatBytes(hostRssBytes()),
                            formatBytes(budget.memoryBudgetLimitBytes())));
        }
        Prepared p = prepare(runDir, options, progress);
        ExportReport &r = p.report;
        const bool onnx = options.format == ExportFormat::Onnx;
        const bool int8 = options.quantize == ExportQuantization::Int8;
        const bool staticInt8 = options.quantize == ExportQuantization::Int8Static;
        // OpenCV DNN loads static int8 written as QOperator nodes, not as QDQ.
        const bool openCvLoads
            = !int8 && (!staticInt8 || options.int8Format == Int8Format::QOperator);

        // The independent runtime on the exact bytes that will be written.
        progress(0.1, QStringLiteral("loading the export in the independent runtime"));
        QString loadError;
        std::optional<DnnRunner> dnn;
        std::shared_ptr<ClassifierImpl> reloaded;
        if (onnx) {
            {
                // OpenCV logs importer errors to stderr itself; the error is reported below.
                const auto level
                    = cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
                dnn = DnnRunner::load(p.bytes, &loadError);
                cv::utils::logging::setLogLevel(level);
            }
            if (!dnn && (int8 || staticInt8)) {
                // OpenCV 4.6 imports DequantizeLinear only inside its own int8 pipelines, not as
                // float weights of a Conv: check the int8 graph through its dequantized twin.
                // The twin is made from the file's bytes alone (parsed back, DequantizeLinear
                // evaluated).
                const QString int8Error = loadError;
                const std::optional<QByteArray> twin
                    = OnnxDequantizer::floatTwin(p.bytes, &loadError);
                if (twin)
                    dnn = DnnRunner::load(*twin, &loadError);
                r.verificationNote
                    = QStringLiteral("OpenCV DNN %1 does not load the %2 file (%3); verified on "
                                     "the float twin parsed back from the file's bytes (int8 "
                                     "weights dequantized%4), against the %5 graph run in LibTorch")
                          .arg(QLatin1String(CV_VERSION),
                              staticInt8 ? QStringLiteral("static int8 QDQ")
                                         : QStringLiteral("weights-only QDQ"),
                              int8Error.simplified().left(160),
                              staticInt8 ? QStringLiteral(", each activation's QDQ pair as a "
                                                          "Clip to its range; the accuracy is "
                                                          "the QDQ graph's in LibTorch")
                                         : QString(),
                              staticInt8 ? QStringLiteral("static int8") : QStringLiteral("int8"));
                r.runtime = QStringLiteral("OpenCV DNN %1 (dequantized twin)")
                                .arg(QLatin1String(CV_VERSION));
            } else {
                r.runtime = QStringLiteral("OpenCV DNN %1").arg(QLatin1String(CV_VERSION));
            }
            if (!dnn)
                return fail(
                    QStringLiteral("the exported ONNX model does not load: %1").arg(loadError));
            r.reference = int8
                ? QStringLiteral("LibTorch run of the int8 graph (dequantized weights)")
                : staticInt8 && !r.verificationNote.isEmpty()
                ? QStringLiteral("LibTorch run of the static int8 graph with the same clamps")
                : staticInt8 ? QStringLiteral(
                      "LibTorch run of the static int8 QDQ graph (quantized activations)")
                             : QStringLiteral("the trained LibTorch model");
        } else {
            RunInfo described;
            reloaded = loadExportedModel(p.bytes, options.outFile, &described, &loadError);
            if (!reloaded)
                return fail(QStringLiteral("the exported LibTorch archive does not load: %1")
                                .arg(loadError));
            reloaded->eval();
            r.runtime = QStringLiteral("LibTorch (fresh zoo model loaded from the archive)");
            r.reference = QStringLiteral("the trained LibTorch model");
        }

        torch::NoGradGuard noGrad;
        std::vector<Sample> samples
            = verificationSet(p.run, options, &r.dataDir, &r.dataSet, &r.folderImages);
        r.images = int(samples.size());
        r.sampled = r.images < r.folderImages;
        torch::Tensor mean = torch::empty({ 1, p.run.config.model.channels, 1, 1 }),
                      stdev = torch::empty_like(mean);
        for (int c = 0; c < p.run.config.model.channels; ++c) {
            mean[0][c] = p.run.config.normMeanOf(c);
            stdev[0][c] = p.run.config.normStdOf(c);
        }
        // Static int8 in OpenCV: the twin clamps where the file rounds, so OpenCV is checked
        // against the clamped graph, and the file's accuracy is the QDQ graph's in LibTorch.
        std::optional<ExportGraph> clamped;
        if (staticInt8 && r.runtime.contains(QLatin1String("twin")))
            clamped = p.graph->clampedTwin();
        // One verification step on a batch of [0, 1] images: the trained model's logits, the
        // reference's, the written file's and those its accuracy is counted on.
        struct Logits {
            torch::Tensor trained, reference, written, exported;
        };
        const auto verify = [&](const torch::Tensor &x01) {
            Logits l;
            l.trained = p.model->forward((x01 - mean) / stdev);
            l.reference = l.trained;
            if (onnx) {
                if (int8 || (staticInt8 && !clamped))
                    l.reference = p.graph->run(x01);
                if (staticInt8 && clamped) {
                    l.reference = clamped->run(x01);
                    l.exported = p.graph->run(x01);
                }
                l.written = dnn->run(x01);
            } else {
                l.written = reloaded->forward((x01 - mean) / stdev);
            }
            if (!l.exported.defined())
                l.exported = l.written;
            return l;
        };
        const BatchPlan plan = planBatches(p.run.config, options,
            std::min(options.batchSize, r.images), QStringLiteral("verify"), [&](int batch) {
                verify(torch::rand({ batch, r.channels, r.inputSize, r.inputSize }));
            });
        r.verificationBatch = plan.batch;
        r.verificationQueue = plan.queue;
        r.memoryBudgetBytes = options.memoryBudgetBytes;
        r.memoryLimitBytes = plan.limitBytes;
        r.predictedPeakBytes = plan.predictedPeakBytes;
        if (options.memoryBudgetBytes > 0)
            progress(0.1,
                QStringLiteral("memory plan: verification batch %1, loader queue %2; predicted "
                               "host peak %3 (limit %4 of the %5 budget)")
                    .arg(plan.batch)
                    .arg(plan.queue)
                    .arg(formatBytes(plan.predictedPeakBytes), formatBytes(plan.limitBytes),
                        formatBytes(options.memoryBudgetBytes)));
        progress(0.1, QStringLiteral("verifying on %1").arg(r.verifiedOnText()));
        std::unique_ptr<StreamingLoader> loader
            = verificationLoader(p.run.config, std::move(samples), plan.batch, plan.queue);
        Tally t;
        const double batches = double(std::max<std::int64_t>(loader->batchesPerEpoch(), 1));
        std::int64_t done = 0;
        loader->startEpoch(0);
        while (std::optional<Batch> batch = loader->next()) {
            const Logits l = verify(batch->images);
            tally(t, l.trained, l.reference, l.written, l.exported, batch->labels);
            progress(0.1 + 0.8 * double(++done) / batches,
                QStringLiteral("verifying: %1 / %2 images").arg(t.images).arg(r.images));
        }
        if (t.images == 0)
            return fail(QStringLiteral("no image of %1 could be decoded to verify the export")
                            .arg(r.dataDir));
        r.images = int(t.images);
        r.accuracyBefore = double(t.correctBefore) / double(t.images);
        r.accuracyAfter = double(t.correctAfter) / double(t.images);
        r.agreement = double(t.agreeTrained) / double(t.images);
        const TopAgreement top = judgeTopAgreement(t.checks, kMinAgreement);
        r.runtimeAgreement = top.agreement;
        r.nearTies = top.nearTies;
        r.nearTieFlips = top.nearTieFlips;
        r.nearTieTolerance = top.tolerance;
        r.maxAbsLogitDiff = t.maxDiff;
        if (!top.ok)
            return fail(2 * top.decided() < top.images
                    ? QStringLiteral("the exported model's logits differ from %1 by more than the "
                                     "top-1 margin on %2 of %3 images (median logit difference "
                                     "%4, max %5): not written")
                          .arg(r.reference)
                          .arg(top.nearTies)
                          .arg(top.images)
                          .arg(top.tolerance / 2.0)
                          .arg(r.maxAbsLogitDiff)
                    : QStringLiteral("the exported model disagrees with %1 on %2 % of %3 images "
                                     "(%4 near-ties skipped; max logit difference %5): not written")
                          .arg(r.reference)
                          .arg((1.0 - top.agreement) * 100.0, 0, 'f', 2)
                          .arg(top.decided())
                          .arg(top.nearTies)
                          .arg(r.maxAbsLogitDiff));

        progress(0.92, QStringLiteral("writing"));
        writeAtomically(options.outFile, p.bytes);
        // Re-load the file as written; a file that does not load is not left behind.
        if (onnx && openCvLoads) {
            std::optional<DnnRunner> fromFile = DnnRunner::loadFile(options.outFile, &loadError);
            if (!fromFile) {
                QFile::remove(options.outFile);
                return fail(QStringLiteral("the written file %1 does not load: %2")
                                .arg(options.outFile, loadError));
            }
        }
        QFile written(options.outFile);
        if (!written.open(QIODevice::ReadOnly) || written.readAll() != p.bytes) {
            written.close();
            QFile::remove(options.outFile);
            return fail(QStringLiteral("the written file %1 does not read back as written")
                            .arg(options.outFile));
        }
        if (onnx && options.latencyRuns > 0) {
            progress(0.95, QStringLiteral("timing the file"));
            QStringList notes;
            measureLatency(options.outFile, options, r, openCvLoads, &r.latency, &notes);
            r.latencyNote = notes.join(QStringLiteral("; "));
        }
        r.seconds = double(timer.elapsed()) / 1000.0;
        progress(1.0, QStringLiteral("done"));
        if (error)
            error->clear();
        return r;
    } catch (const ExportError &e) {
        return fail(e.message);
    } catch (const c10::Error &e) {
        return fail(QStringLiteral("export failed: %1")
                        .arg(QString::fromUtf8(e.what_without_backtrace())
                                 .section(QLatin1Char('\n'), 0, 0)));
    } catch (const cv::Exception &e) {
        return fail(QStringLiteral("export failed in OpenCV: %1")
                        .arg(QString::fromStdString(e.msg).trimmed()));
    } catch (const std::exception &e) {
        return fail(QStringLiteral("export failed: %1")
                        .arg(QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0)));
    }
}

std::optional<SizeReport> previewExportSize(
    const QString &runDir, const ExportOptions &options, QString *error)
{
    try {
        Prepared p = prepare(runDir, options, Progress(ExportProgress()));
        return p.report.size;
    } catch (const ExportError &e) {
        if (error)
            *error = e.message;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("export preview failed: %1")
                         .arg(QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
    }
    return std::nullopt;
}

QJsonObject ExportReport::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("run")] = runDir;
    o[QStringLiteral("out")] = outFile;
    o[QStringLiteral("format")] = format;
    o[QStringLiteral("quantize")] = quantize;
    o[QStringLiteral("structured")] = structured;
    o[QStringLiteral("model")] = model;
    o[QStringLiteral("input_size")] = inputSize;
    o[QStringLiteral("channels")] = channels;
    o[QStringLiteral("class_names")] = QJsonArray::fromStringList(classNames);
    o[QStringLiteral("channels_removed")] = channelsRemoved;
    o[QStringLiteral("size")] = size.toJson();
    if (!int8Format.isEmpty())
        o[QStringLiteral("int8_format")] = int8Format;
    if (!calibrationMethod.isEmpty()) {
        QJsonObject c;
        c[QStringLiteral("data")] = calibrationDir;
        c[QStringLiteral("images")] = calibrationImages;
        c[QStringLiteral("method")] = calibrationMethod;
        c[QStringLiteral("batch_size")] = calibrationBatch;
        if (memoryBudgetBytes > 0)
            c[QStringLiteral("predicted_peak_bytes")] = qint64(calibrationPredictedPeakBytes);
        o[QStringLiteral("calibration")] = c;
    }
    QJsonObject v;
    v[QStringLiteral("runtime")] = runtime;
    v[QStringLiteral("reference")] = reference;
    if (!verificationNote.isEmpty())
        v[QStringLiteral("note")] = verificationNote;
    v[QStringLiteral("data")] = dataDir;
    v[QStringLiteral("data_set")] = dataSet;
    v[QStringLiteral("images")] = images;
    v[QStringLiteral("folder_images")] = folderImages;
    v[QStringLiteral("sample")]
        = sampled ? QStringLiteral("class-balanced") : QStringLiteral("all");
    v[QStringLiteral("batch_size")] = verificationBatch;
    v[QStringLiteral("loader_queue")] = verificationQueue;
    if (memoryBudgetBytes > 0)
        v[QStringLiteral("memory")] = QJsonObject {
            { QStringLiteral("budget_bytes"), qint64(memoryBudgetBytes) },
            { QStringLiteral("limit_bytes"), qint64(memoryLimitBytes) },
            { QStringLiteral("predicted_peak_bytes"), qint64(predictedPeakBytes) },
        };
    v[QStringLiteral("accuracy_before")] = accuracyBefore;
    v[QStringLiteral("accuracy_after")] = accuracyAfter;
    v[QStringLiteral("top1_agreement")] = agreement;
    v[QStringLiteral("runtime_agreement")] = runtimeAgreement;
    v[QStringLiteral("near_ties")] = QJsonObject {
        { QStringLiteral("skipped"), nearTies },
        { QStringLiteral("flipped"), nearTieFlips },
        { QStringLiteral("margin_below"), nearTieTolerance },
    };
    v[QStringLiteral("max_abs_logit_diff")] = maxAbsLogitDiff;
    o[QStringLiteral("verification")] = v;
    QJsonArray latencies;
    for (const LatencyFigure &f : latency) {
        QJsonObject l;
        l[QStringLiteral("runtime")] = f.runtime;
        l[QStringLiteral("batch")] = f.batch;
        l[QStringLiteral("median_ms")] = f.medianMs;
        l[QStringLiteral("p90_ms")] = f.p90Ms;
        latencies.append(l);
    }
    o[QStringLiteral("latency")] = latencies;
    if (!latencyNote.isEmpty())
        o[QStringLiteral("latency_note")] = latencyNote;
    o[QStringLiteral("seconds")] = seconds;
    return o;
}

QString ExportReport::verifiedOnText() const
{
    return sampled ? QStringLiteral("a class-balanced sample of %1 of the %2 images")
                         .arg(images)
                         .arg(folderImages)
                   : QStringLiteral("all %1 images").arg(images);
}

std::optional<QStringList> verificationImages(const QString &dataDir, int limit, QString *error)
{
    const std::optional<DatasetIndex> index = scanDataset(dataDir, {}, error);
    if (!index)
        return std::nullopt;
    QStringList paths;
    for (const Sample &s : verificationSamples(*index, limit))
        paths << s.path;
    return paths;
}

QString ExportReport::dataSetName() const
{
    return dataSet == QLatin1String("test")      ? QStringLiteral("test set")
        : dataSet == QLatin1String("validation") ? QStringLiteral("validation set")
        : dataSet == QLatin1String("data")       ? QStringLiteral("training folder")
                                                 : QStringLiteral("chosen folder");
}

QString ExportReport::toText() const
{
    QString s;
    QTextStream out(&s);
    const auto bytes = [](qint64 b) { return QStringLiteral("%1 bytes").arg(b).leftJustified(16); };
    const auto x
        = [this](qint64 b) { return QStringLiteral("%1x smaller").arg(size.ratio(b), 0, 'f', 2); };
    out << "wrote " << outFile << " (" << format
        << (quantize == QLatin1String("int8")                 ? ", int8 weights"
                   : quantize == QLatin1String("int8-static") ? ", static int8"
                                                              : "")
        << (structured ? ", structured" : "") << ")\n\n";
    out << "parameters        " << size.parameters << " (" << size.nonzeroParameters
        << " non-zero, sparsity " << QString::number(size.sparsity() * 100.0, 'f', 1)
        << "%); dense " << size.denseParameters;
    if (channelsRemoved)
        out << "; " << channelsRemoved << " channels removed";
    out << "\ndense fp32        " << bytes(size.denseFp32Bytes) << "\n";
    if (!calibrationMethod.isEmpty())
        out << "calibration       " << calibrationImages << " images of " << calibrationDir << " ("
            << calibrationMethod << " ranges, " << int8Format << "; batches of " << calibrationBatch
            << ")\n";
    out << "file              " << bytes(size.fileBytes) << x(size.fileBytes) << "\n";
    out << "zip (deflate)     " << bytes(size.zipBytes) << x(size.zipBytes) << "\n";
    out << "sparse (bitmask)  " << bytes(size.sparseBytes) << x(size.sparseBytes) << "\n\n";
    out << "accuracy on the " << dataSetName() << " (" << verifiedOnText() << " of " << dataDir
        << "): trained model " << QString::number(accuracyBefore * 100.0, 'f', 2)
        << "%, exported file " << QString::number(accuracyAfter * 100.0, 'f', 2) << "%\n";
    out << "top-1 agreement with the trained model: " << QString::number(agreement * 100.0, 'f', 2)
        << "%\n";
    out << "verified in " << runtime << " against " << reference << ": max |logit difference| "
        << QString::number(maxAbsLogitDiff, 'g', 3) << "; " << nearTies
        << " near-ties skipped (top-1 margin below " << QString::number(nearTieTolerance, 'g', 3)
        << ", " << nearTieFlips << " flipped)\n";
    out << "verification batches of " << verificationBatch << " images";
    if (memoryBudgetBytes > 0)
        out << " (memory budget " << formatBytes(memoryBudgetBytes) << ": predicted host peak "
            << formatBytes(predictedPeakBytes) << " of the " << formatBytes(memoryLimitBytes)
            << " limit)";
    out << "\n";
    if (!verificationNote.isEmpty())
        out << "  note: " << verificationNote << "\n";
    if (!latency.isEmpty() || !latencyNote.isEmpty())
        out << "\nlatency (random input; median / p90 ms per batch)\n";
    for (const LatencyFigure &f : latency)
        out << "  " << f.runtime << ", batch " << f.batch << ": "
            << QString::number(f.medianMs, 'f', 2) << " / " << QString::number(f.p90Ms, 'f', 2)
            << "\n";
    if (!latencyNote.isEmpty())
        out << "  " << latencyNote << "\n";
    return s;
}

} // namespace leantune
