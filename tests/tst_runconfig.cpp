// RunConfig: JSON round trip, validation messages, device resolution.

#include "config/runconfig.h"
#include "config/runfields.h"

#include <QCommandLineParser>
#include <QJsonDocument>
#include <QTest>

using namespace leantune;

class TestRunConfig : public QObject {
    Q_OBJECT

    static RunConfig valid()
    {
        RunConfig c;
        c.dataDir = QStringLiteral("/data");
        c.outDir = QStringLiteral("/runs/a");
        return c;
    }

private Q_SLOTS:
    void jsonRoundTrip()
    {
        RunConfig c = valid();
        c.model.name = QStringLiteral("resnet8");
        c.model.inputSize = 32;
        c.model.channels = 3;
        c.batchSize = 96;
        c.seed = 18446744073709551557ull; // needs all 64 bits
        c.prune = QStringLiteral("polynomial:0.5:0.8:0:1000");
        c.augment = false;
        c.optimizer = Optimizer::Adam;
        QString error;
        const QByteArray text = QJsonDocument(c.toJson()).toJson();
        const std::optional<RunConfig> back
            = RunConfig::fromJson(QJsonDocument::fromJson(text).object(), &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->toJson(), c.toJson());
        QCOMPARE(back->seed, c.seed);
    }

    void wrongTypesAreRejected()
    {
        QJsonObject o = valid().toJson();
        o[QStringLiteral("batch_size")] = QStringLiteral("sixty-four");
        QString error;
        QVERIFY(!RunConfig::fromJson(o, &error));
        QVERIFY2(error.contains(QStringLiteral("batch_size")), qPrintable(error));
    }

    void validation_data()
    {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("valid") << QString() << QString() << QString();
        QTest::newRow("batch 0") << QStringLiteral("batch_size") << QStringLiteral("0")
                                 << QStringLiteral("batch size must be at least 1");
        QTest::newRow("epochs 0") << QStringLiteral("epochs") << QStringLiteral("0")
                                  << QStringLiteral("epochs must be at least 1");
        QTest::newRow("model") << QStringLiteral("model") << QStringLiteral("alexnet")
                               << QStringLiteral("unknown model");
        QTest::newRow("channels") << QStringLiteral("channels") << QStringLiteral("2")
                                  << QStringLiteral("channels");
        QTest::newRow("optimizer")
            << QStringLiteral("optimizer") << QStringLiteral("lbfgs")
            << QStringLiteral("optimizer: unknown value 'lbfgs' (choose sgd, adam)");
        QTest::newRow("prune") << QStringLiteral("prune") << QStringLiteral("constant:1.5:0")
                               << QStringLiteral("bad prune spec");
        QTest::newRow("device") << QStringLiteral("device") << QStringLiteral("gpu")
                                << QStringLiteral("unknown device");
        QTest::newRow("val split") << QStringLiteral("val_split") << QStringLiteral("1.0")
                                   << QStringLiteral("validation split");
        QTest::newRow("lr") << QStringLiteral("lr") << QStringLiteral("0")
                            << QStringLiteral("learning rate");
        QTest::newRow("workers") << QStringLiteral("workers") << QStringLiteral("0")
                                 << QStringLiteral("workers");
        QTest::newRow("prune scope")
            << QStringLiteral("prune_scope") << QStringLiteral("everywhere")
            << QStringLiteral("prune_scope: unknown value 'everywhere'");
        QTest::newRow("margin 1.5") << QStringLiteral("memory_margin") << QStringLiteral("1.5")
                                    << QStringLiteral("memory margin must be auto or in [0, 0.9]");
        QTest::newRow("margin word") << QStringLiteral("memory_margin") << QStringLiteral("wide")
                                     << QStringLiteral("memory_margin");
        QTest::newRow("memory format") << QStringLiteral("memory_format") << QStringLiteral("nhwc")
                                       << QStringLiteral("memory_format: unknown value 'nhwc'");
    }

    void memoryFormatAutoPicksChannelsLastWhereItIsFaster_data()
    {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("precision");
        QTest::addColumn<bool>("cuda");
        QTest::addColumn<bool>("channelsLast");
        QTest::newRow("auto, resnet8, cpu") << "auto"
                                            << "resnet8"
                                            << "fp32" << false << true;
        QTest::newRow("auto, resnet18, cpu") << "auto"
                                             << "resnet18"
                                             << "fp32" << false << true;
        QTest::newRow("auto, smallcnn, cpu") << "auto"
                                             << "smallcnn"
                                             << "fp32" << false << false;
        QTest::newRow("auto, resnet18, cuda fp32") << "auto"
                                                   << "resnet18"
                                                   << "fp32" << true << false;
        QTest::newRow("auto, resnet18, cuda bf16") << "auto"
                                                   << "resnet18"
                                                   << "bf16" << true << true;
        QTest::newRow("auto, smallcnn, cuda fp16") << "auto"
                                                   << "smallcnn"
                                                   << "fp16" << true << true;
        QTest::newRow("contiguous, resnet8, cpu") << "contiguous"
                                                  << "resnet8"
                                                  << "fp32" << false << false;
        QTest::newRow("contiguous, cuda bf16") << "contiguous"
                                               << "resnet18"
                                               << "bf16" << true << false;
        QTest::newRow("channels-last, smallcnn, cpu") << "channels-last"
                                                      << "smallcnn"
                                                      << "fp32" << false << true;
    }
    void memoryFormatAutoPicksChannelsLastWhereItIsFaster()
    {
        QFETCH(QString, format);
        QFETCH(QString, model);
        QFETCH(QString, precision);
        QFETCH(bool, cuda);
        QFETCH(bool, channelsLast);
        RunConfig c = valid();
        c.memoryFormat = *enumFromName<MemoryFormat>(format);
        c.model.name = model;
        c.precision = *enumFromName<Precision>(precision);
        QCOMPARE(c.useChannelsLast(cuda), channelsLast);
    }

    void runsWrittenBeforeTheMemoryFormatKeepTheirLayout()
    {
        QJsonObject o = valid().toJson();
        o.remove(QStringLiteral("memory_format"));
        QString error;
        QCOMPARE(RunConfig::fromJson(o, &error)->memoryFormat, MemoryFormat::Contiguous);
        o[QStringLiteral("channels_last")] = true;
        QCOMPARE(RunConfig::fromJson(o, &error)->memoryFormat, MemoryFormat::ChannelsLast);
        QCOMPARE(RunConfig().memoryFormat, MemoryFormat::Auto); // new runs
    }

    // The default scope is across layers (smaller int8 exports, better accuracy); runs
    // written before the scope existed keep pruning each layer to the target.
    void pruneScopeDefaultsToGlobalButOldRunsKeepTheirs()
    {
        QCOMPARE(RunConfig().pruneScope, PruneScope::Global);
        QJsonObject o = valid().toJson();
        o.remove(QStringLiteral("prune_scope"));
        QString error;
        const std::optional<RunConfig> old = RunConfig::fromJson(o, &error);
        QVERIFY2(old, qPrintable(error));
        QCOMPARE(old->pruneScope, PruneScope::Layer);
        // Channel granularity is always per layer: the scope does not stand in its way.
        RunConfig channel = valid();
        channel.pruneGranularity = PruneGranularity::Channel;
        QVERIFY2(channel.validate(&error), qPrintable(error));
    }

    // The margin defaults to auto: 4 % under a host budget on the CPU, whose peak repeats (bounded
    // allocator), 10 % against a GPU's memory; a number set by hand, or read from an older run's
    // config.json, holds for both.
    void memoryMarginAutoIsNarrowerUnderAHostBudget()
    {
        const RunConfig c = valid();
        QCOMPARE(
            c.toJson().value(QStringLiteral("memory_margin")).toString(), QStringLiteral("auto"));
        QCOMPARE(c.memoryMarginFor(false), 0.04);
        QCOMPARE(c.memoryMarginFor(true), 0.10);
        RunConfig budget = valid();
        budget.memoryBudgetBytes = 1000ll << 20;
        QVERIFY(qAbs(budget.memoryBudgetLimitBytes() - (960ll << 20)) <= 1);
        QJsonObject o = budget.toJson();
        o[QStringLiteral("memory_margin")] = 0.2;
        QString error;
        const std::optional<RunConfig> set = RunConfig::fromJson(o, &error);
        QVERIFY2(set && set->validate(&error), qPrintable(error));
        QCOMPARE(set->memoryMarginFor(false), 0.2);
        QCOMPARE(set->memoryMarginFor(true), 0.2);
        QCOMPARE(set->memoryBudgetLimitBytes(), 800ll << 20);
        QCOMPARE(set->toJson().value(QStringLiteral("memory_margin")).toDouble(), 0.2);
        o[QStringLiteral("memory_margin")] = QStringLiteral("auto");
        const std::optional<RunConfig> back = RunConfig::fromJson(o, &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->memoryMargin, RunConfig::kAutoMemoryMargin);
        QCOMPARE(back->toJson(), budget.toJson());
    }

    void validation()
    {
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, message);
        QJsonObject o = valid().toJson();
        if (!field.isEmpty()) {
            bool isNumber = false;
            const double v = value.toDouble(&isNumber);
            o[field] = isNumber ? QJsonValue(v) : QJsonValue(value);
        }
        // A value outside a field's choices fails to load; any other bad value fails validation.
        QString problem;
        const std::optional<RunConfig> c = RunConfig::fromJson(o, &problem);
        const bool valid = c && c->validate(&problem);
        if (message.isEmpty())
            QVERIFY2(valid, qPrintable(problem));
        else
            QVERIFY2(!valid && problem.contains(message), qPrintable(problem));
    }

    // A row's range: closed and open ends, a word (memory_margin's auto) beyond its reach.
    void rangesHaveTheirEnds()
    {
        const RunField *lr = findRunField(QStringLiteral("lr"));
        QVERIFY(lr->hasRange());
        QVERIFY(!lr->inRange(0.0)); // (0, 10]
        QVERIFY(lr->inRange(1e-9));
        QVERIFY(lr->inRange(10.0));
        QVERIFY(!lr->inRange(10.5));
        const RunField *workers = findRunField(QStringLiteral("workers"));
        QVERIFY(!workers->inRange(0) && workers->inRange(1) && workers->inRange(256));
        QVERIFY(!workers->inRange(257));
        QVERIFY(!findRunField(QStringLiteral("data"))->hasRange());
        RunConfig c = valid();
        c.memoryMargin = RunConfig::kAutoMemoryMargin;
        QVERIFY(findRunField(QStringLiteral("memory_margin"))->valueInRange(c));
        c.memoryMargin = 0.95;
        QVERIFY(!findRunField(QStringLiteral("memory_margin"))->valueInRange(c));
        QString error;
        c = valid();
        c.workers = 257;
        QVERIFY(!c.validate(&error));
        QCOMPARE(error, QStringLiteral("workers must be between 1 and 256 (got 257)"));
        c = valid();
        c.momentum = 1.0;
        QVERIFY(!c.validate(&error));
        QCOMPARE(error, QStringLiteral("momentum must be in [0, 1) (got 1)"));
        // A validation folder makes the split irrelevant: its range does not apply.
        c = valid();
        c.valSplit = 0.0;
        QVERIFY(!c.validate(&error));
        c.valDir = QStringLiteral("/val");
        QVERIFY2(c.validate(&error), qPrintable(error));
    }

    // One default learning rate per optimizer: the config's, and train's for --optimizer adam.
    void learningRateDefaultsFollowTheOptimizer()
    {
        QCOMPARE(RunConfig().learningRate, defaultLearningRate(Optimizer::Sgd));
        QCOMPARE(defaultLearningRate(Optimizer::Sgd), 0.05);
        QCOMPARE(defaultLearningRate(Optimizer::Adam), 0.001);
        QCommandLineParser parser;
        addRunOptions(parser, RunField::Train);
        QVERIFY(parser.parse({ QStringLiteral("leantune-cli"), QStringLiteral("--optimizer"),
            QStringLiteral("adam") }));
        RunConfig c;
        QString error;
        QVERIFY2(
            applyRunOptions(parser, RunField::Train, c, false, nullptr, &error), qPrintable(error));
        QCOMPARE(c.learningRate, defaultLearningRate(Optimizer::Adam));
    }

    // `audit` trains its fold models with train's options less its own folders and --val-split;
    // a config it starts from (--from RUNDIR) keeps its learning rate unless --optimizer changes.
    void auditOptionsAreTrainsLessTheFolders()
    {
        QCommandLineParser parser;
        addRunOptions(parser, RunField::Audit);
        const QString help = parser.helpText();
        for (const char *flag : { "--model", "--epochs", "--lr", "--optimizer", "--channels-last" })
            QVERIFY2(help.contains(QLatin1String(flag)), flag);
        for (const char *flag : { "--data ", "--out ", "--val ", "--test ", "--val-split" })
            QVERIFY2(!help.contains(QLatin1String(flag)), flag);
        RunConfig adam;
        adam.optimizer = Optimizer::Adam;
        adam.learningRate = 0.0005;
        QVERIFY(parser.parse(
            { QStringLiteral("leantune-cli"), QStringLiteral("--epochs"), QStringLiteral("2") }));
        RunConfig c = adam;
        QString error;
        QVERIFY2(
            applyRunOptions(parser, RunField::Audit, c, false, nullptr, &error), qPrintable(error));
        QCOMPARE(c.epochs, 2);
        QCOMPARE(c.learningRate, 0.0005);
        QVERIFY(parser.parse({ QStringLiteral("leantune-cli"), QStringLiteral("--optimizer"),
            QStringLiteral("sgd") }));
        c = adam;
        QVERIFY2(
            applyRunOptions(parser, RunField::Audit, c, false, nullptr, &error), qPrintable(error));
        QCOMPARE(c.learningRate, defaultLearningRate(Optimizer::Sgd));
    }

    // `evaluate` takes train's rows for the device, the loader and the batch: same parsers, same
    // ranges, its own defaults in --help.
    void evaluateOptionsAreTrainsRows()
    {
        QCommandLineParser parser;
        RunConfig defaults;
        defaults.batchSize = 256;
        addRunOptions(parser, RunField::Evaluate, defaults);
        const QString help = parser.helpText();
        for (const char *flag : { "--device", "--workers", "--threads", "--batch-size" })
            QVERIFY2(help.contains(QLatin1String(flag)), flag);
        for (const char *flag : { "--epochs", "--lr", "--data", "--nproc" })
            QVERIFY2(!help.contains(QLatin1String(flag)), flag);
        QVERIFY(parser.helpText().contains(QStringLiteral("(default: 256)")));
        QVERIFY(parser.parse({ QStringLiteral("leantune-cli"), QStringLiteral("--threads"),
            QStringLiteral("3"), QStringLiteral("--workers"), QStringLiteral("0") }));
        RunConfig c = defaults;
        QString error;
        QVERIFY2(applyRunOptions(parser, RunField::Evaluate, c, false, nullptr, &error),
            qPrintable(error));
        QCOMPARE(c.threads, 3);
        QVERIFY(!checkRunFields(c, RunField::Evaluate, &error));
        QCOMPARE(error, QStringLiteral("workers must be between 1 and 256 (got 0)"));
        c.workers = 1;
        QVERIFY2(checkRunFields(c, RunField::Evaluate, &error), qPrintable(error));
    }

    void deviceResolution()
    {
        QString error;
        QCOMPARE(resolveDevice(QStringLiteral("cpu"), &error).value_or(QString()),
            QStringLiteral("cpu"));
        QVERIFY(!resolveDevice(QStringLiteral("quantum"), &error));
        QVERIFY(error.contains(QStringLiteral("unknown device")));
        const std::optional<QString> autoDevice = resolveDevice(QStringLiteral("auto"), &error);
        QVERIFY(autoDevice);
        QVERIFY(
            *autoDevice == QLatin1String("cpu") || autoDevice->startsWith(QLatin1String("cuda:")));
        if (*autoDevice == QLatin1String("cpu")) { // no CUDA here: asking for it is a clear error
            QVERIFY(!resolveDevice(QStringLiteral("cuda:0"), &error));
            QVERIFY2(error.contains(QStringLiteral("no CUDA device")), qPrintable(error));
        }
    }
};

QTEST_GUILESS_MAIN(TestRunConfig)
#include "tst_runconfig.moc"
