#include "train/runconfig.h"

#include "metrics/memoryprobe.h"
#include "prune/pruningschedule.h"

#include <QJsonValue>
#include <QRegularExpression>
#include <QStringBuilder>
#include <QThread>

namespace leantune {

QJsonObject RunConfig::toJson() const
{
    QJsonObject o;
    o[QStringLiteral("data")] = dataDir;
    o[QStringLiteral("out")] = outDir;
    o[QStringLiteral("val_dir")] = valDir;
    o[QStringLiteral("test_dir")] = testDir;
    o[QStringLiteral("model")] = model.name;
    o[QStringLiteral("input_size")] = model.inputSize;
    o[QStringLiteral("channels")] = model.channels;
    o[QStringLiteral("classes")] = model.classes;
    o[QStringLiteral("batch_size")] = batchSize;
    o[QStringLiteral("epochs")] = epochs;
    o[QStringLiteral("lr")] = learningRate;
    o[QStringLiteral("optimizer")] = optimizer;
    o[QStringLiteral("lr_schedule")] = lrSchedule;
    o[QStringLiteral("momentum")] = momentum;
    o[QStringLiteral("weight_decay")] = weightDecay;
    o[QStringLiteral("device")] = device;
    o[QStringLiteral("workers")] = workers;
    o[QStringLiteral("threads")] = threads;
    o[QStringLiteral("queue_depth")] = queueDepth;
    o[QStringLiteral("val_split")] = valSplit;
    o[QStringLiteral("seed")] = QString::number(seed);   // JSON numbers lose 64-bit precision
    o[QStringLiteral("prune")] = prune;
    o[QStringLiteral("prune_granularity")] = pruneGranularity;
    o[QStringLiteral("prune_scope")] = pruneScope;
    o[QStringLiteral("augment")] = augment;
    o[QStringLiteral("precision")] = precision;
    o[QStringLiteral("memory_format")] = memoryFormat;
    o[QStringLiteral("cache")] = cache;
    o[QStringLiteral("cache_dir")] = cacheDir;
    o[QStringLiteral("batch_size_auto")] = batchSizeAuto;
    o[QStringLiteral("memory_budget_bytes")] = qint64(memoryBudgetBytes);
    o[QStringLiteral("memory_margin")] = memoryMargin;
    o[QStringLiteral("max_batch_size")] = maxBatchSize;
    o[QStringLiteral("micro_batch")] = microBatch;
    o[QStringLiteral("norm_mean")] = normMean;
    o[QStringLiteral("norm_std")] = normStd;
    return o;
}

std::optional<RunConfig> RunConfig::fromJson(const QJsonObject &o, QString *error)
{
    RunConfig c;
    QStringList wrongType;
    const auto str = [&](const char *key, QString &out) {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.isUndefined())
            return;
        if (!v.isString())
            wrongType << QLatin1String(key);
        else
            out = v.toString();
    };
    const auto number = [&](const char *key, auto &out) {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.isUndefined())
            return;
        if (!v.isDouble())
            wrongType << QLatin1String(key);
        else
            out = static_cast<std::decay_t<decltype(out)>>(v.toDouble());
    };
    str("data", c.dataDir);
    str("out", c.outDir);
    str("val_dir", c.valDir);
    str("test_dir", c.testDir);
    str("model", c.model.name);
    number("input_size", c.model.inputSize);
    number("channels", c.model.channels);
    number("classes", c.model.classes);
    number("batch_size", c.batchSize);
    number("epochs", c.epochs);
    number("lr", c.learningRate);
    str("optimizer", c.optimizer);
    str("lr_schedule", c.lrSchedule);
    number("momentum", c.momentum);
    number("weight_decay", c.weightDecay);
    str("device", c.device);
    number("workers", c.workers);
    number("threads", c.threads);
    number("queue_depth", c.queueDepth);
    number("val_split", c.valSplit);
    str("prune", c.prune);
    str("prune_granularity", c.pruneGranularity);
    str("prune_scope", c.pruneScope);
    str("precision", c.precision);
    number("norm_mean", c.normMean);
    number("memory_budget_bytes", c.memoryBudgetBytes);
    number("memory_margin", c.memoryMargin);
    number("max_batch_size", c.maxBatchSize);
    number("micro_batch", c.microBatch);
    number("norm_std", c.normStd);
    const auto flag = [&](const char *key, bool &out) {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.isUndefined())
            return;
        if (v.isBool())
            out = v.toBool();
        else
            wrongType << QLatin1String(key);
    };
    flag("augment", c.augment);
    str("memory_format", c.memoryFormat);
    // Runs written before memory_format existed: a flag, off by default.
    if (o.value(QLatin1String("memory_format")).isUndefined()) {
        bool channelsLast = false;
        flag("channels_last", channelsLast);
        c.memoryFormat = channelsLast ? QStringLiteral("channels-last") : QStringLiteral("contiguous");
    }
    flag("batch_size_auto", c.batchSizeAuto);
    flag("cache", c.cache);
    str("cache_dir", c.cacheDir);
    const QJsonValue seed = o.value(QLatin1String("seed"));
    if (seed.isString()) {
        bool ok = false;
        c.seed = seed.toString().toULongLong(&ok);
        if (!ok)
            wrongType << QStringLiteral("seed");
    } else if (seed.isDouble()) {
        c.seed = std::uint64_t(seed.toDouble());
    } else if (!seed.isUndefined()) {
        wrongType << QStringLiteral("seed");
    }
    if (!wrongType.isEmpty()) {
        if (error)
            *error = QStringLiteral("run configuration: wrong type for ") % wrongType.join(QStringLiteral(", "));
        return std::nullopt;
    }
    return c;
}

QString RunConfig::validate() const
{
    if (dataDir.isEmpty())
        return QStringLiteral("no data folder given (--data DIR)");
    if (outDir.isEmpty())
        return QStringLiteral("no run folder given (--out RUNDIR)");
    ModelSpec spec = model;
    spec.classes = qMax(spec.classes, 2);   // classes come from the data; checked after the scan
    if (QString e = validateModelSpec(spec); !e.isEmpty())
        return e;
    if (batchSize < 1)
        return QStringLiteral("batch size must be at least 1 (got %1)").arg(batchSize);
    if (maxBatchSize < 1)
        return QStringLiteral("maximum batch size must be at least 1 (got %1)").arg(maxBatchSize);
    if (microBatch < 0)
        return QStringLiteral("micro-batch must be at least 1, or 0 for the whole batch (got %1)").arg(microBatch);
    if (memoryBudgetBytes < 0)
        return QStringLiteral("memory budget must not be negative");
    if (!(memoryMargin >= 0.0) || memoryMargin > 0.9)
        return QStringLiteral("memory margin must be in [0, 0.9] (got %1)").arg(memoryMargin);
    if (epochs < 1)
        return QStringLiteral("epochs must be at least 1 (got %1)").arg(epochs);
    if (!(learningRate > 0.0) || learningRate > 10.0)
        return QStringLiteral("learning rate must be in (0, 10] (got %1)").arg(learningRate);
    if (optimizer != QLatin1String("sgd") && optimizer != QLatin1String("adam"))
        return QStringLiteral("unknown optimizer '%1' (choose sgd or adam)").arg(optimizer);
    if (lrSchedule != QLatin1String("cosine") && lrSchedule != QLatin1String("constant"))
        return QStringLiteral("unknown learning-rate schedule '%1' (choose cosine or constant)").arg(lrSchedule);
    if (momentum < 0.0 || momentum >= 1.0)
        return QStringLiteral("momentum must be in [0, 1)");
    if (weightDecay < 0.0)
        return QStringLiteral("weight decay must not be negative");
    if (workers < 1 || workers > 256)
        return QStringLiteral("workers must be between 1 and 256 (got %1)").arg(workers);
    if (threads < 0 || threads > 1024)
        return QStringLiteral("threads must be between 0 (all cores) and 1024 (got %1)").arg(threads);
    if (queueDepth < 1 || queueDepth > 1024)
        return QStringLiteral("queue depth must be between 1 and 1024 (got %1)").arg(queueDepth);
    if (valDir.isEmpty() && (valSplit <= 0.0 || valSplit >= 1.0))
        return QStringLiteral("validation split must be in (0, 1) (got %1), or give --val DIR").arg(valSplit);
    if (precision != QLatin1String("fp32") && precision != QLatin1String("bf16") && precision != QLatin1String("fp16"))
        return QStringLiteral("unknown precision '%1' (choose fp32, bf16 or fp16)").arg(precision);
    if (memoryFormat != QLatin1String("auto") && memoryFormat != QLatin1String("contiguous")
        && memoryFormat != QLatin1String("channels-last"))
        return QStringLiteral("unknown memory format '%1' (choose auto, contiguous or channels-last)")
            .arg(memoryFormat);
    if (precision != QLatin1String("fp32") && device == QLatin1String("cpu"))
        return QStringLiteral("--precision %1 needs a CUDA device (use --device cuda or auto)").arg(precision);
    if (!(normStd > 0.0))
        return QStringLiteral("normalization std must be positive");
    QString error;
    if (!PruningSchedule::parse(prune, &error))
        return QStringLiteral("bad prune spec '%1': %2").arg(prune, error);
    if (pruneGranularity != QLatin1String("weight") && pruneGranularity != QLatin1String("channel"))
        return QStringLiteral("unknown prune granularity '%1' (choose weight or channel)").arg(pruneGranularity);
    if (pruneScope != QLatin1String("layer") && pruneScope != QLatin1String("global"))
        return QStringLiteral("unknown prune scope '%1' (choose layer or global)").arg(pruneScope);
    if (pruneScope == QLatin1String("global") && pruneGranularity != QLatin1String("weight"))
        return QStringLiteral("--prune-scope global ranks single weights: it needs --prune-granularity weight");
    static const QRegularExpression deviceRe(QStringLiteral("^(auto|cpu|cuda(:\\d+)?)$"));
    if (!deviceRe.match(device).hasMatch())
        return QStringLiteral("unknown device '%1' (choose auto, cpu, cuda or cuda:N)").arg(device);
    return {};
}

bool RunConfig::useChannelsLast(bool onCuda) const
{
    if (memoryFormat == QLatin1String("channels-last"))
        return true;
    if (memoryFormat != QLatin1String("auto"))
        return false;
    if (onCuda)
        return precision != QLatin1String("fp32");
    return model.name.startsWith(QLatin1String("resnet"));
}

int RunConfig::effectiveThreads() const
{
    return threads > 0 ? threads : qMax(1, QThread::idealThreadCount());
}

std::optional<QString> resolveDevice(const QString &device, QString *error)
{
    const int count = cudaDeviceCount();
    if (device == QLatin1String("auto"))
        return count > 0 ? QStringLiteral("cuda:0") : QStringLiteral("cpu");
    if (device == QLatin1String("cpu"))
        return device;
    if (device.startsWith(QLatin1String("cuda"))) {
        bool ok = true;
        const int index = device.contains(QLatin1Char(':')) ? device.section(QLatin1Char(':'), 1).toInt(&ok) : 0;
        if (!ok || index < 0) {
            if (error)
                *error = QStringLiteral("unknown device '%1' (choose auto, cpu, cuda or cuda:N)").arg(device);
            return std::nullopt;
        }
        if (count == 0) {
            if (error)
                *error = QStringLiteral("device '%1' asked for, but no CUDA device is available "
                                        "(this build %2 CUDA); use --device cpu")
                             .arg(device, QLatin1String(
#ifdef LEANTUNE_WITH_CUDA
                                              "has"
#else
                                              "has no"
#endif
                                              ));
            return std::nullopt;
        }
        if (index >= count) {
            if (error)
                *error = QStringLiteral("device '%1' asked for, but only %2 CUDA device(s) found").arg(device).arg(count);
            return std::nullopt;
        }
        return QStringLiteral("cuda:%1").arg(index);
    }
    if (error)
        *error = QStringLiteral("unknown device '%1' (choose auto, cpu, cuda or cuda:N)").arg(device);
    return std::nullopt;
}

} // namespace leantune
