#include "config/runfields.h"

#include "metrics/bytesize.h"
#include "model/modelspec.h"
#include "prune/pruningschedule.h"

#include <QCommandLineParser>
#include <QJsonArray>
#include <QLocale>
#include <QRegularExpression>
#include <QStringBuilder>

#include <limits>

namespace leantune {

namespace {

using Type = RunField::Type;

QString doubleText(double v)
{
    return QString::number(v, 'g', QLocale::FloatingPointShortest);
}

// A field whose value is VALUE(config), a reference into the config.
template <typename Access>
RunField row(const char *key, const char *flag, const char *valueName, QString help, Type type,
    unsigned scopes, Access access)
{
    RunField f;
    f.key = QLatin1String(key);
    f.flag = QLatin1String(flag);
    f.valueName = QLatin1String(valueName);
    f.help = std::move(help);
    f.type = type;
    f.scopes = scopes;
    using T = std::decay_t<decltype(access(std::declval<RunConfig &>()))>;
    if constexpr (std::is_same_v<T, QString>) {
        f.get = [access](const RunConfig &c) { return access(const_cast<RunConfig &>(c)); };
        f.set = [access](RunConfig &c, const QString &text, QString *) {
            access(c) = text;
            return true;
        };
    } else if constexpr (std::is_same_v<T, bool>) {
        f.get = [access](const RunConfig &c) {
            return access(const_cast<RunConfig &>(c)) ? QStringLiteral("true")
                                                      : QStringLiteral("false");
        };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            static const QStringList yes { QStringLiteral("true"), QStringLiteral("1"),
                QStringLiteral("yes"), QStringLiteral("on") };
            static const QStringList no { QStringLiteral("false"), QStringLiteral("0"),
                QStringLiteral("no"), QStringLiteral("off") };
            if (yes.contains(text.toLower()))
                access(c) = true;
            else if (no.contains(text.toLower()))
                access(c) = false;
            else
                return (*error = QStringLiteral("expected true or false"), false);
            return true;
        };
    } else if constexpr (std::is_same_v<T, double>) {
        f.get = [access](
                    const RunConfig &c) { return doubleText(access(const_cast<RunConfig &>(c))); };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            bool ok = false;
            const double v = text.trimmed().toDouble(&ok);
            if (!ok)
                return (*error = QStringLiteral("expected a number"), false);
            access(c) = v;
            return true;
        };
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
        f.get = [access](const RunConfig &c) {
            return QString::number(access(const_cast<RunConfig &>(c)));
        };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            bool ok = false;
            const std::uint64_t v = text.trimmed().toULongLong(&ok);
            if (!ok)
                return (*error
                    = QStringLiteral("expected a whole number from 0 to 18446744073709551615"),
                    false);
            access(c) = v;
            return true;
        };
    } else if constexpr (std::is_same_v<T, std::int64_t>) { // sizes in bytes: 2G, 512M, 1048576
        f.get = [access](const RunConfig &c) {
            return QString::number(access(const_cast<RunConfig &>(c)));
        };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            bool plain = false; // bytes as a whole number, 0 included (no budget)
            const qint64 bytes = text.trimmed().toLongLong(&plain);
            const std::optional<std::int64_t> v
                = plain ? std::optional<std::int64_t>(bytes) : parseByteSize(text.trimmed());
            if (!v)
                return (*error = QStringLiteral("expected a size such as 2G or 512M"), false);
            access(c) = *v;
            return true;
        };
    } else if constexpr (std::is_same_v<T, int>) {
        f.get = [access](const RunConfig &c) {
            return QString::number(access(const_cast<RunConfig &>(c)));
        };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            bool ok = false;
            const int v = text.trimmed().toInt(&ok);
            if (!ok)
                return (*error = QStringLiteral("expected a whole number"), false);
            access(c) = v;
            return true;
        };
    } else { // an enum with EnumNames
        f.choices = enumNames<T>();
        f.get
            = [access](const RunConfig &c) { return enumName(access(const_cast<RunConfig &>(c))); };
        f.set = [access](RunConfig &c, const QString &text, QString *error) {
            const std::optional<T> v = enumFromName<T>(text.trimmed());
            if (!v)
                return (*error = QStringLiteral("unknown value '%1' (choose %2)")
                                     .arg(text, enumNames<T>().join(QStringLiteral(", "))),
                    false);
            access(c) = *v;
            return true;
        };
    }
    return f;
}

template <typename T> auto member(T RunConfig::*m)
{
    return [m](RunConfig &c) -> T & { return c.*m; };
}

constexpr double kNoLimit = std::numeric_limits<double>::infinity();
enum class Ends { Closed, OpenMin, OpenMax, Open }; // which ends of a range exclude their bound

// "WHAT must be between 1 and 256 (got 0)", "... must be in (0, 10] ...", "... must not be ...".
QString rangeMessage(const RunField &f, const QString &what, const RunConfig &c)
{
    QString bounds;
    if (f.max == kNoLimit && !f.minOpen)
        bounds = f.min == 0.0 ? QStringLiteral("not be negative")
                              : QStringLiteral("be at least %1").arg(doubleText(f.min));
    else if (f.type == Type::Int && !f.minOpen && !f.maxOpen && f.min > -kNoLimit)
        bounds = QStringLiteral("be between %1 and %2").arg(doubleText(f.min), doubleText(f.max));
    else
        bounds = QStringLiteral("be in %1%2, %3%4")
                     .arg(f.minOpen ? QStringLiteral("(") : QStringLiteral("["), doubleText(f.min),
                         doubleText(f.max), f.maxOpen ? QStringLiteral(")") : QStringLiteral("]"));
    return QStringLiteral("%1 must %2 (got %3)").arg(what, bounds, f.get(c));
}

// The field's range, MIN to MAX (RunField::min): its check refuses a value outside it with
// rangeMessage(WHAT), unless rule() gives the field a message of its own.
RunField &&ranged(
    RunField &&f, const char *what, double min, double max = kNoLimit, Ends ends = Ends::Closed)
{
    f.min = min;
    f.max = max;
    f.minOpen = ends == Ends::OpenMin || ends == Ends::Open;
    f.maxOpen = ends == Ends::OpenMax || ends == Ends::Open;
    f.check = [key = f.key, what = QLatin1String(what)](const RunConfig &c, QString *error) {
        const RunField &self = *findRunField(key);
        if (self.valueInRange(c))
            return true;
        if (error)
            *error = rangeMessage(self, what, c);
        return false;
    };
    return std::move(f);
}

// CHECK as the field's rule: PRED(config) must hold, else MESSAGE(config). A field with a range
// must also be in it, unless PRED takes a second argument, whether it is, and decides itself.
template <typename Pred, typename Message> RunField &&rule(RunField &&f, Pred pred, Message message)
{
    f.check = [key = f.key, pred, message](const RunConfig &c, QString *error) {
        const bool inRange = findRunField(key)->valueInRange(c);
        bool ok = false;
        if constexpr (std::is_invocable_r_v<bool, Pred, const RunConfig &, bool>)
            ok = pred(c, inRange);
        else
            ok = inRange && pred(c);
        if (ok)
            return true;
        if (error)
            *error = message(c);
        return false;
    };
    return std::move(f);
}

// MESSAGE instead of rangeMessage() for a value out of the field's range.
template <typename Message> RunField &&worded(RunField &&f, Message message)
{
    return rule(
        std::move(f), [](const RunConfig &, bool inRange) { return inRange; }, message);
}

// A list of numbers ("0.485,0.456,0.406"); JSON: a number when one, else an array.
RunField numbersRow(
    const char *key, const char *flag, QString help, std::vector<double> RunConfig::*m)
{
    RunField f;
    f.key = QLatin1String(key);
    f.flag = QLatin1String(flag);
    f.valueName = QStringLiteral("X[,Y,Z]");
    f.help = std::move(help);
    f.type = RunField::Type::Numbers;
    f.scopes = RunField::Train;
    f.get = [m](const RunConfig &c) { return numberList(c.*m); };
    f.set = [m](RunConfig &c, const QString &text, QString *error) {
        std::optional<std::vector<double>> v = parseNumberList(text);
        if (!v)
            return (*error = QStringLiteral("expected numbers separated by commas"), false);
        c.*m = std::move(*v);
        return true;
    };
    return f;
}

bool normListFits(const RunConfig &c, const std::vector<double> &v, bool positive)
{
    if (v.size() != 1 && int(v.size()) != c.model.channels)
        return false;
    for (double x : v)
        if (positive && !(x > 0.0))
            return false;
    return true;
}

constexpr unsigned kTrain = RunField::Train;
constexpr unsigned kBoth = RunField::Train | RunField::FindBatchSize;
constexpr unsigned kResume = RunField::Resumable;
constexpr unsigned kEvaluate = RunField::Evaluate;

std::vector<RunField> makeFields()
{
    std::vector<RunField> f;
    f.push_back(rule(
        row("data", "data", "DIR",
            QStringLiteral("Training data folder (one sub-folder per class)."), Type::Text,
            kBoth | RunField::Always, member(&RunConfig::dataDir)),
        [](const RunConfig &c) { return !c.dataDir.isEmpty(); },
        [](const RunConfig &) { return QStringLiteral("no data folder given (--data DIR)"); }));
    f.push_back(rule(
        row("out", "out", "RUNDIR",
            QStringLiteral("Run folder for config, metrics, checkpoints and results."), Type::Text,
            kTrain | kResume | RunField::Always, member(&RunConfig::outDir)),
        [](const RunConfig &c) { return !c.outDir.isEmpty(); },
        [](const RunConfig &) { return QStringLiteral("no run folder given (--out RUNDIR)"); }));
    f.push_back(
        row("val_dir", "val", "DIR", QStringLiteral("Validation folder instead of a split."),
            Type::Text, kTrain, member(&RunConfig::valDir)));
    f.push_back(
        row("test_dir", "test", "DIR", QStringLiteral("Test folder, evaluated once at the end."),
            Type::Text, kTrain, member(&RunConfig::testDir)));
    f.push_back(row("follow_symlinks", "follow-symlinks", "",
        QStringLiteral("Follow symlinked image files and class folders (loop-safe); "
                       "--no-follow-symlinks reports them as invalid instead."),
        Type::Bool, kBoth, member(&RunConfig::followSymlinks)));
    f.push_back(row("corrections", "corrections", "",
        QStringLiteral("Apply each data folder's leantune-corrections.csv (relabeled images count "
                       "under their new class, excluded ones are left out); --no-corrections "
                       "ignores it."),
        Type::Bool, kTrain, member(&RunConfig::applyCorrections)));
    // Checked with the input size and channels by validateModelSpec() (RunConfig::validate()).
    f.push_back(row("model", "model", "NAME",
        modelNames().join(QStringLiteral(" | ")) + QLatin1Char('.'), Type::Text,
        kBoth | RunField::Always, [](RunConfig &c) -> QString & { return c.model.name; }));
    f.push_back(row("input_size", "input-size", "N", QStringLiteral("Square input size in pixels."),
        Type::Int, kBoth, [](RunConfig &c) -> int & { return c.model.inputSize; }));
    f.push_back(row("channels", "channels", "C", QStringLiteral("1 (grayscale) or 3 (RGB)."),
        Type::Int, kBoth, [](RunConfig &c) -> int & { return c.model.channels; }));
    f.push_back(row("resnet_stem", "resnet-stem", "S",
        QStringLiteral(
            "resnet18's stem: auto (ImageNet's 7×7 stride-2 conv + max-pool from 96 px "
            "on, else 3×3 stride 1; starting weights choose theirs) | imagenet | small."),
        Type::Choice, kBoth, [](RunConfig &c) -> ResNetStem & { return c.model.stem; }));
    // Derived from the data folder when the run starts; recorded so the model can be rebuilt.
    f.push_back(row("classes", "", "", QStringLiteral("Classes of the model (from the data)."),
        Type::Int, 0, [](RunConfig &c) -> int & { return c.model.classes; }));
    {
        RunField batch = ranged(
            row("batch_size", "batch-size", "N|auto",
                QStringLiteral("Images per batch (train: per optimizer step; auto: the "
                               "largest that fits, as find-batch-size)."),
                Type::Int, kTrain | kEvaluate | RunField::Always, member(&RunConfig::batchSize)),
            "batch size", 1);
        const auto parseInt = batch.set;
        batch.set = [parseInt](RunConfig &c, const QString &text, QString *error) {
            if (text.trimmed() == QLatin1String("auto")) {
                c.batchSizeAuto = true;
                return true;
            }
            return parseInt(c, text, error);
        };
        f.push_back(std::move(batch));
    }
    f.push_back(row("batch_size_auto", "batch-size-auto", "",
        QStringLiteral(
            "Pick the largest batch that fits before the run (same as --batch-size auto)."),
        Type::Bool, kTrain, member(&RunConfig::batchSizeAuto)));
    f.push_back(worded(
        ranged(row("micro_batch", "micro-batch", "N",
                   QStringLiteral(
                       "Images per forward/backward, batches accumulated; 0: the whole batch."),
                   Type::Int, kTrain | kResume, member(&RunConfig::microBatch)),
            "micro-batch", 0),
        [](const RunConfig &c) {
            return QStringLiteral(
                "micro-batch must be at least 1, or 0 for the whole batch (got %1)")
                .arg(c.microBatch);
        }));
    f.push_back(ranged(
        row("memory_budget_bytes", "memory-budget", "SIZE",
            QStringLiteral("Host memory budget, e.g. 2G or 512M (512M = 512 MiB); 0: none. A "
                           "batch that does not fit is split into micro-batches (README: Memory)."),
            Type::Size, kBoth | kResume, member(&RunConfig::memoryBudgetBytes)),
        "memory budget", 0));
    {
        // auto is a word (margin.get), which the range does not reach.
        RunField margin = worded(
            ranged(row("memory_margin", "memory-margin", "F|auto",
                       QStringLiteral(
                           "Safety margin below the budget or device capacity, 0..0.9; auto: 0.04 "
                           "under a host budget on the CPU (its peak repeats within 1 %), 0.1 "
                           "against a GPU's memory."),
                       Type::Double, kBoth, member(&RunConfig::memoryMargin)),
                "memory margin", 0.0, 0.9),
            [](const RunConfig &c) {
                return QStringLiteral("memory margin must be auto or in [0, 0.9] (got %1)")
                    .arg(c.memoryMargin);
            });
        const auto parseDouble = margin.set;
        margin.set = [parseDouble](RunConfig &c, const QString &text, QString *error) {
            if (text.trimmed() == QLatin1String("auto")) {
                c.memoryMargin = RunConfig::kAutoMemoryMargin;
                return true;
            }
            return parseDouble(c, text, error);
        };
        const auto getDouble = margin.get;
        margin.get = [getDouble](const RunConfig &c) {
            return c.memoryMargin == RunConfig::kAutoMemoryMargin ? QStringLiteral("auto")
                                                                  : getDouble(c);
        };
        f.push_back(std::move(margin));
    }
    f.push_back(ranged(row("max_batch_size", "max-batch-size", "N",
                           QStringLiteral("Largest batch size auto considers."), Type::Int, kBoth,
                           member(&RunConfig::maxBatchSize)),
        "maximum batch size", 1));
    f.push_back(rule(
        ranged(row("epochs", "epochs", "N",
                   QStringLiteral("Epochs to train (0 with --init: the starting model as it is)."),
                   Type::Int, kTrain | kResume, member(&RunConfig::epochs)),
            "epochs", 0),
        [](const RunConfig &c) {
            return c.epochs >= 1 || (c.epochs == 0 && !c.initWeights.isEmpty());
        },
        [](const RunConfig &c) {
            return QStringLiteral("epochs must be at least 1, or 0 with --init (got %1)")
                .arg(c.epochs);
        }));
    f.push_back(
        ranged(row("lr", "lr", "X",
                   QStringLiteral("Learning rate (%1 by default with adam).")
                       .arg(doubleText(defaultLearningRate(Optimizer::Adam))),
                   Type::Double, kTrain | RunField::Always, member(&RunConfig::learningRate)),
            "learning rate", 0.0, 10.0, Ends::OpenMin));
    f.push_back(row("optimizer", "optimizer", "NAME",
        QStringLiteral("sgd (with momentum) | adam; its state is part of the memory peak."),
        Type::Choice, kBoth, member(&RunConfig::optimizer)));
    f.push_back(row("lr_schedule", "lr-schedule", "NAME", QStringLiteral("cosine | constant."),
        Type::Choice, kTrain, member(&RunConfig::lrSchedule)));
    f.push_back(ranged(row("momentum", "momentum", "X", QStringLiteral("SGD momentum, 0..1."),
                           Type::Double, kTrain, member(&RunConfig::momentum)),
        "momentum", 0.0, 1.0, Ends::OpenMax));
    f.push_back(ranged(row("weight_decay", "weight-decay", "X", QStringLiteral("L2 weight decay."),
                           Type::Double, kTrain, member(&RunConfig::weightDecay)),
        "weight decay", 0.0));
    f.push_back(rule(
        row("device", "device", "DEV",
            QStringLiteral("auto | cpu | cuda | cuda:N | cuda:all (one process per GPU)."),
            Type::Text, kBoth | kEvaluate | kResume | RunField::Always, member(&RunConfig::device)),
        [](const RunConfig &c) {
            static const QRegularExpression re(QStringLiteral("^(auto|cpu|cuda(:\\d+|:all)?)$"));
            return re.match(c.device).hasMatch();
        },
        [](const RunConfig &c) {
            return QStringLiteral(
                "unknown device '%1' (choose auto, cpu, cuda, cuda:N or cuda:all)")
                .arg(c.device);
        }));
    f.push_back(ranged(row("workers", "workers", "N", QStringLiteral("Loader decode threads."),
                           Type::Int, kTrain | kEvaluate | kResume, member(&RunConfig::workers)),
        "workers", 1, 256));
    f.push_back(ranged(
        row("threads", "threads", "N", QStringLiteral("Torch intra-op threads; 0: all cores."),
            Type::Int, kBoth | kEvaluate | kResume, member(&RunConfig::threads)),
        "threads", 0, 1024));
    f.push_back(ranged(row("queue_depth", "queue-depth", "N",
                           QStringLiteral("Batches decoded ahead; bounds the loader's memory."),
                           Type::Int, kBoth, member(&RunConfig::queueDepth)),
        "queue depth", 1, 1024));
    f.push_back(rule(
        ranged(
            row("val_split", "val-split", "F",
                QStringLiteral("Fraction of each class held out for validation (without --val)."),
                Type::Double, kTrain, member(&RunConfig::valSplit)),
            "validation split", 0.0, 1.0, Ends::Open),
        [](const RunConfig &c, bool inRange) { return inRange || !c.valDir.isEmpty(); },
        [](const RunConfig &c) {
            return QStringLiteral("validation split must be in (0, 1) (got %1), or give --val DIR")
                .arg(c.valSplit);
        }));
    f.push_back(row("seed", "seed", "N",
        QStringLiteral("Random seed for initialization, shuffling and splits."), Type::Seed,
        kBoth | RunField::Always, member(&RunConfig::seed)));
    f.push_back(rule(
        row("prune", "prune", "SPEC",
            QStringLiteral("none | polynomial:INIT:FINAL:BEGIN:END[:POWER[:FREQ]] | "
                           "constant:S:BEGIN[:END[:FREQ]]."),
            Type::Text, kTrain, member(&RunConfig::prune)),
        [](const RunConfig &c) { return PruningSchedule::parse(c.prune, nullptr).has_value(); },
        [](const RunConfig &c) {
            QString error;
            PruningSchedule::parse(c.prune, &error);
            return QStringLiteral("bad prune spec '%1': %2").arg(c.prune, error);
        }));
    f.push_back(row("prune_granularity", "prune-granularity", "G",
        QStringLiteral("weight | channel (whole output channels by L1 norm, removed at export)."),
        Type::Choice, kTrain, member(&RunConfig::pruneGranularity)));
    {
        RunField scope = row("prune_scope", "prune-scope", "S",
            QStringLiteral(
                "global (one ranking across layers by layer-adaptive magnitude, LAMP: smaller "
                "int8 exports, better accuracy) | layer (each tensor to the target, as TF-MOT) | "
                "sensitivity[:FILE] (each layer its own target from a sensitivity scan, the "
                "--init run's sensitivity.json by default; README: How far can it be pruned?). "
                "Channel granularity is never global."),
            Type::Choice, kTrain, member(&RunConfig::pruneScope));
        // sensitivity:FILE names the scan; the choice alone leaves the file to the default.
        const auto setChoice = scope.set;
        scope.set = [setChoice](RunConfig &c, const QString &text, QString *error) {
            const QString prefix = QStringLiteral("sensitivity:");
            if (!text.trimmed().startsWith(prefix)) {
                c.pruneSensitivityFile.clear();
                return setChoice(c, text, error);
            }
            c.pruneScope = PruneScope::Sensitivity;
            c.pruneSensitivityFile = text.trimmed().mid(prefix.size());
            return true;
        };
        scope.get = [](const RunConfig &c) {
            return c.pruneScope == PruneScope::Sensitivity && !c.pruneSensitivityFile.isEmpty()
                ? QStringLiteral("sensitivity:") + c.pruneSensitivityFile
                : enumName(c.pruneScope);
        };
        f.push_back(std::move(scope));
    }
    f.push_back(row("augment", "augment", "",
        QStringLiteral("Train with random crop and horizontal flip (helps long runs)."), Type::Bool,
        kTrain, member(&RunConfig::augment)));
    f.push_back(row("precision", "precision", "P",
        QStringLiteral("fp32 | bf16 | fp16 (CUDA autocast; fp16 with dynamic loss scaling)."),
        Type::Choice, kBoth, member(&RunConfig::precision)));
    f.push_back(row("memory_format", "memory-format", "F",
        QStringLiteral(
            "auto | contiguous | channels-last (NHWC); auto: channels-last for the ResNets on "
            "the CPU and for bf16/fp16 on CUDA, where it was measured faster."),
        Type::Choice, kBoth, member(&RunConfig::memoryFormat)));
    f.push_back(row("cache", "cache", "",
        QStringLiteral(
            "Keep decoded images in a memory-mapped cache file: later epochs skip decoding."),
        Type::Bool, kTrain, member(&RunConfig::cache)));
    f.push_back(row("cache_dir", "cache-dir", "DIR",
        QStringLiteral("Folder of the decoded cache (empty: the user's "
                       "cache folder)."),
        Type::Text, kTrain, member(&RunConfig::cacheDir)));
    f.push_back(rule(
        numbersRow("norm_mean", "norm-mean",
            QStringLiteral("Input normalization mean, (x - mean) / std: one value, or "
                           "one per channel (R,G,B); --init weights bring theirs."),
            &RunConfig::normMean),
        [](const RunConfig &c) { return normListFits(c, c.normMean, false); },
        [](const RunConfig &c) {
            return QStringLiteral("norm-mean needs 1 or %1 values").arg(c.model.channels);
        }));
    f.push_back(rule(
        numbersRow("norm_std", "norm-std",
            QStringLiteral("Input normalization standard deviation (one value or one "
                           "per channel)."),
            &RunConfig::normStd),
        [](const RunConfig &c) { return normListFits(c, c.normStd, true); },
        [](const RunConfig &c) {
            return QStringLiteral("norm-std needs 1 or %1 positive values").arg(c.model.channels);
        }));
    // Starting weights and fine-tuning.
    f.push_back(row("init", "init", "PATH",
        QStringLiteral("Start from these weights: a torchvision state_dict (.pth), a .safetensors "
                       "file, a LeanTune run folder or export (.pt). Another class count replaces "
                       "the classifier."),
        Type::Text, kTrain, member(&RunConfig::initWeights)));
    f.push_back(rule(
        ranged(row("freeze_epochs", "freeze-epochs", "N",
                   QStringLiteral("Fine-tuning: the first N epochs train only the classifier; "
                                  "the other layers and their BatchNorm statistics stay as they "
                                  "are (README: Fine-tuning). 0..epochs."),
                   Type::Int, kTrain, member(&RunConfig::freezeEpochs)),
            "freeze-epochs", 0),
        [](const RunConfig &c) { return c.freezeEpochs <= c.epochs; },
        [](const RunConfig &c) {
            return QStringLiteral("freeze-epochs must be between 0 and the epochs (%1), got %2")
                .arg(c.epochs)
                .arg(c.freezeEpochs);
        }));
    f.push_back(ranged(
        row("backbone_lr_scale", "backbone-lr-scale", "F",
            QStringLiteral("Fine-tuning: every layer but the classifier trains at the learning "
                           "rate × F (the schedule scales both); 0 keeps those weights, while "
                           "their BatchNorm statistics still follow the new data (train mode; "
                           "--freeze-epochs keeps them too). 0..1 is usual, up to 10."),
            Type::Double, kTrain, member(&RunConfig::backboneLrScale)),
        "backbone-lr-scale", 0.0, 10.0));
    // Data parallel.
    f.push_back(ranged(
        row("nproc", "nproc", "N",
            QStringLiteral("Train with N local worker processes (data parallel over c10d: Gloo on "
                           "the CPU, NCCL on CUDA); with --device cuda:all, one per visible GPU "
                           "(0: as many). Ignored when launched by torchrun (RANK, WORLD_SIZE)."),
            Type::Int, kTrain | kResume, member(&RunConfig::nproc)),
        "nproc", 0, 256));
    f.push_back(ranged(
        row("dist_timeout", "dist-timeout", "SECONDS",
            QStringLiteral("Data parallel: how long a rank waits for the others (rendezvous, "
                           "collectives) before the run fails naming the lost rank."),
            Type::Int, kTrain | kResume, member(&RunConfig::distTimeoutSec)),
        "dist-timeout (seconds)", 1, 86400));
    f.push_back(rule(
        row("dist_backend", "dist-backend", "B",
            QStringLiteral("Data parallel: auto (nccl on CUDA when Torch has it, else gloo) | gloo "
                           "| nccl."),
            Type::Text, kTrain | kResume, member(&RunConfig::distBackend)),
        [](const RunConfig &c) {
            return c.distBackend == QLatin1String("auto") || c.distBackend == QLatin1String("gloo")
                || c.distBackend == QLatin1String("nccl");
        },
        [](const RunConfig &c) {
            return QStringLiteral("unknown dist-backend '%1' (choose auto, gloo or nccl)")
                .arg(c.distBackend);
        }));
    // audit trains its fold models as train does; its folders are its own options, and the folds
    // are its validation split.
    const QStringList auditOwn { QStringLiteral("data"), QStringLiteral("out"),
        QStringLiteral("val"), QStringLiteral("test"), QStringLiteral("val-split") };
    for (RunField &field : f) {
        if ((field.scopes & RunField::Train) && !auditOwn.contains(field.flag))
            field.scopes |= RunField::Audit;
    }
    return f;
}

// Options that are another name for a field's value.
struct Alias {
    const char *flag;
    const char *help;
    const char *valueName; // nullptr: a switch that sets FIELD to VALUE
    unsigned scopes;
    const char *field;
    const char *value;
};
const Alias kAliases[] = {
    { "channels-last", "Same as --memory-format channels-last.", nullptr,
        RunField::Train | RunField::FindBatchSize | RunField::Audit, "memory_format",
        "channels-last" },
    { "max", "Same as --max-batch-size.", "N", RunField::FindBatchSize, "max_batch_size", nullptr },
    { "margin", "Same as --memory-margin.", "F|auto", RunField::FindBatchSize, "memory_margin",
        nullptr },
};

} // namespace

const std::vector<RunField> &runFields()
{
    static const std::vector<RunField> fields = makeFields();
    return fields;
}

const RunField *findRunField(const QString &key)
{
    for (const RunField &f : runFields()) {
        if (f.key == key)
            return &f;
    }
    return nullptr;
}

bool RunField::hasRange() const
{
    return min > -kNoLimit || max < kNoLimit;
}

bool RunField::inRange(double value) const
{
    return (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);
}

bool RunField::valueInRange(const RunConfig &config) const
{
    if (!hasRange())
        return true;
    bool number = false;
    const double value = get(config).toDouble(&number);
    return !number || inRange(value);
}

QJsonValue RunField::toJson(const RunConfig &config) const
{
    const QString text = get(config);
    switch (type) {
    case Type::Int:
    case Type::Size:
        return QJsonValue(text.toLongLong());
    case Type::Double: { // a number, or a word its parser takes (memory_margin's auto)
        bool ok = false;
        const double v = text.toDouble(&ok);
        return ok ? QJsonValue(v) : QJsonValue(text);
    }
    case Type::Numbers: {
        const std::vector<double> v = parseNumberList(text).value_or(std::vector<double>());
        if (v.size() == 1)
            return QJsonValue(v.front()); // as older versions wrote it
        QJsonArray a;
        for (double x : v)
            a.append(x);
        return a;
    }
    case Type::Bool:
        return QJsonValue(text == QLatin1String("true"));
    case Type::Text:
    case Type::Choice:
    case Type::Seed:
        return QJsonValue(text); // a seed as text: JSON numbers lose 64-bit precision
    }
    return {};
}

bool RunField::fromJson(RunConfig &config, const QJsonValue &value, QString *error) const
{
    QString text;
    bool typeOk = true;
    switch (type) {
    case Type::Int:
    case Type::Size:
        typeOk = value.isDouble() && value.toDouble() == double(qint64(value.toDouble()));
        text = QString::number(qint64(value.toDouble()));
        break;
    case Type::Double:
        typeOk = value.isDouble() || value.isString();
        text = value.isString() ? value.toString() : doubleText(value.toDouble());
        break;
    case Type::Numbers: // a number (older versions), an array of numbers, or text
        if (value.isDouble()) {
            text = doubleText(value.toDouble());
        } else if (value.isArray()) {
            QStringList items;
            for (const QJsonValue x : value.toArray()) {
                typeOk = typeOk && x.isDouble();
                items << doubleText(x.toDouble());
            }
            text = items.join(QLatin1Char(','));
        } else {
            typeOk = value.isString();
            text = value.toString();
        }
        break;
    case Type::Bool:
        typeOk = value.isBool();
        text = value.toBool() ? QStringLiteral("true") : QStringLiteral("false");
        break;
    case Type::Seed: // text, or a number as written by early versions
        typeOk = value.isString() || (value.isDouble() && value.toDouble() >= 0);
        text = value.isString() ? value.toString()
                                : QString::number(std::uint64_t(value.toDouble()));
        break;
    case Type::Text:
    case Type::Choice:
        typeOk = value.isString();
        text = value.toString();
        break;
    }
    if (!typeOk) {
        if (error)
            *error = QStringLiteral("wrong type for %1").arg(key);
        return false;
    }
    QString reason;
    if (!set(config, text, &reason)) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(key, reason);
        return false;
    }
    return true;
}

void addRunOptions(QCommandLineParser &parser, unsigned scope, const RunConfig &defaults)
{
    for (const RunField &f : runFields()) {
        if (f.flag.isEmpty() || !(f.scopes & scope))
            continue;
        const QString defaultText = f.get(defaults);
        if (f.isSwitch()) {
            parser.addOption({ f.flag,
                f.help
                    % (defaultText == QLatin1String("true") ? QStringLiteral(" (default: on)")
                                                            : QString()) });
            parser.addOption({ QStringLiteral("no-") % f.flag,
                QStringLiteral("Turn off --%1%2.")
                    .arg(f.flag,
                        defaultText == QLatin1String("false") ? QStringLiteral(" (the default)")
                                                              : QString()) });
        } else {
            const QString help = defaultText.isEmpty()
                ? f.help
                : f.help % QStringLiteral(" (default: ") % defaultText % QLatin1Char(')');
            parser.addOption({ f.flag, help, f.valueName });
        }
    }
    for (const Alias &a : kAliases) {
        if (!(a.scopes & scope))
            continue;
        if (a.valueName)
            parser.addOption(
                { QLatin1String(a.flag), QLatin1String(a.help), QLatin1String(a.valueName) });
        else
            parser.addOption({ QLatin1String(a.flag), QLatin1String(a.help) });
    }
}

bool applyRunOptions(const QCommandLineParser &parser, unsigned scope, RunConfig &config,
    bool resumed, QStringList *ignored, QString *error)
{
    const auto apply = [&](const RunField &f, const QString &flag, const QString &text) {
        if (resumed && !(f.scopes & RunField::Resumable)) {
            if (ignored)
                *ignored << flag;
            return true;
        }
        QString reason;
        if (f.set(config, text, &reason))
            return true;
        if (error)
            *error = QStringLiteral("invalid value for --%1: '%2' (%3)").arg(flag, text, reason);
        return false;
    };
    for (const RunField &f : runFields()) {
        if (f.flag.isEmpty() || !(f.scopes & scope))
            continue;
        if (f.isSwitch()) {
            if (parser.isSet(f.flag) && !apply(f, f.flag, QStringLiteral("true")))
                return false;
            if (parser.isSet(QStringLiteral("no-") % f.flag)
                && !apply(f, QStringLiteral("no-") % f.flag, QStringLiteral("false")))
                return false;
        } else if (parser.isSet(f.flag) && !apply(f, f.flag, parser.value(f.flag))) {
            return false;
        }
    }
    for (const Alias &a : kAliases) {
        const QString flag = QLatin1String(a.flag);
        if (!(a.scopes & scope) || !parser.isSet(flag))
            continue;
        const RunField *f = findRunField(QLatin1String(a.field));
        if (!apply(*f, flag, a.value ? QLatin1String(a.value) : parser.value(flag)))
            return false;
    }
    // The chosen optimizer's usual learning rate, unless one was given (or the run keeps its own);
    // a config read from a run (audit --from) keeps its rate when the optimizer stays.
    if (!resumed && (findRunField(QStringLiteral("lr"))->scopes & scope)
        && parser.isSet(QStringLiteral("optimizer")) && !parser.isSet(QStringLiteral("lr")))
        config.learningRate = defaultLearningRate(config.optimizer);
    return true;
}

bool checkRunFields(const RunConfig &config, unsigned scope, QString *error)
{
    for (const RunField &f : runFields()) {
        if ((f.scopes & scope) && f.check && !f.check(config, error))
            return false;
    }
    return true;
}

QString shellQuote(const QString &s)
{
    static const QString safe = QStringLiteral(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%");
    bool plain = !s.isEmpty();
    for (QChar c : s)
        plain = plain && safe.contains(c);
    if (plain)
        return s;
    QString out = s;
    out.replace(QLatin1Char('\''), QStringLiteral("'\\''"));
    return QLatin1Char('\'') % out % QLatin1Char('\'');
}

QStringList runCommandLineArguments(const RunConfig &config, bool resumableOnly)
{
    const RunConfig defaults;
    QStringList args;
    for (const RunField &f : runFields()) {
        if (f.flag.isEmpty() || !(f.scopes & RunField::Train))
            continue;
        if (resumableOnly && !(f.scopes & RunField::Resumable))
            continue;
        const QString value = f.get(config);
        if (!resumableOnly && !(f.scopes & RunField::Always) && value == f.get(defaults))
            continue;
        if (f.isSwitch())
            args << (value == QLatin1String("true") ? QStringLiteral("--") % f.flag
                                                    : QStringLiteral("--no-") % f.flag);
        else
            args << QStringLiteral("--") % f.flag << value;
    }
    return args;
}

QString runCommandLine(const RunConfig &config, const QString &program)
{
    QStringList words { shellQuote(program), QStringLiteral("train") };
    for (const QString &arg : runCommandLineArguments(config))
        words << shellQuote(arg);
    return words.join(QLatin1Char(' '));
}

QString numberList(const std::vector<double> &values)
{
    QStringList items;
    for (double v : values)
        items << doubleText(v);
    return items.join(QLatin1Char(','));
}

std::optional<std::vector<double>> parseNumberList(const QString &text)
{
    std::vector<double> out;
    for (const QString &item : text.split(QLatin1Char(','))) {
        bool ok = false;
        out.push_back(item.trimmed().toDouble(&ok));
        if (!ok)
            return std::nullopt;
    }
    return out;
}

} // namespace leantune
