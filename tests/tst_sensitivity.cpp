// The sensitivity scan, the per-layer targets it gives --prune-scope sensitivity, and the advisor's
// refusals. One tiny smallcnn run (4 classes, 28 px) is trained once for the suite.

#include "clirunner.h"
#include "testdata.h"

#include "prune/sensitivity.h"
#include "train/checkpoint_p.h"
#include "train/layertargets_p.h"
#include "train/rundir_p.h"
#include "train/sensitivityscanner.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using testcli::runCli;

namespace {

// A scan of three layers with hand-made curves: "robust" loses nothing up to 0.9, "middle" a
// little, "fragile" much; the baseline is 0.9 over 10 classes.
SensitivityScan handMadeScan()
{
    SensitivityScan s;
    s.model = QStringLiteral("smallcnn");
    s.classes = 10;
    s.baseAccuracy = 0.9;
    const auto layer = [](const char *name, std::int64_t n, QVector<double> accuracies) {
        SensitivityLayer l;
        l.name = QLatin1String(name);
        l.parameters = n;
        l.shape = { n };
        const QVector<double> sparsities { 0.3, 0.6, 0.9, 0.95 };
        for (int i = 0; i < sparsities.size(); ++i)
            l.points.push_back({ sparsities[i], accuracies[i], 0.0 });
        return l;
    };
    s.layers = { layer("robust", 60000, { 0.9, 0.9, 0.9, 0.85 }),
        layer("middle", 20000, { 0.9, 0.88, 0.8, 0.6 }),
        layer("fragile", 1000, { 0.85, 0.6, 0.3, 0.1 }) };
    for (const SensitivityLayer &l : s.layers) {
        s.tensorNames << l.name;
        s.tensorShapes << l.shape;
    }
    return s;
}

double weightedMean(const SensitivityScan &scan, const LayerTargets &t)
{
    double sum = 0.0, total = 0.0;
    for (const SensitivityLayer &l : scan.layers) {
        sum += t.sparsity.at(l.name) * double(l.parameters);
        total += double(l.parameters);
    }
    return sum / total;
}

// Each layer's share of zero weights in RUNDIR's model.pt (by weight name).
std::map<QString, double> zeroShares(const QString &runDir)
{
    QString error;
    const std::optional<RunInfo> run = readRunInfo(runDir, &error);
    std::map<QString, double> shares;
    if (!run)
        return shares;
    const std::shared_ptr<ClassifierImpl> model = loadRunModel(*run, &error);
    for (const auto &p : model->named_parameters())
        if (p.value().dim() >= 2)
            shares[QString::fromStdString(p.key())] = 1.0
                - double(p.value().count_nonzero().item<std::int64_t>())
                    / double(p.value().numel());
    return shares;
}

} // namespace

class TestSensitivity : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data, m_run;

    QString path(const char *name) const { return m_dir.filePath(QLatin1String(name)); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_data = path("data");
        testdata::writeImageFolder(m_data, 4, 40, 28);
        m_run = path("dense");
        const auto r = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), m_run, QStringLiteral("--model"), QStringLiteral("smallcnn"),
            QStringLiteral("--epochs"), QStringLiteral("3"), QStringLiteral("--batch-size"),
            QStringLiteral("16"), QStringLiteral("--val-split"), QStringLiteral("0.25"),
            QStringLiteral("--no-history"), QStringLiteral("--progress"), QStringLiteral("none") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }

    // fc1's weights are made 90 % zeros (its largest 10 % kept): pruning it up to 90 % changes
    // nothing, so it ranks least sensitive and the allocation gives it the most.
    void scanRanksAPrunedLayerLeastSensitive()
    {
        QString error;
        const QString run = path("known");
        QVERIFY(QDir().mkpath(run));
        QVERIFY(QFile::copy(
            m_run + QStringLiteral("/config.json"), run + QStringLiteral("/config.json")));
        std::optional<RunInfo> info = readRunInfo(run, &error);
        QVERIFY2(info, qPrintable(error));
        info->runDir = m_run;
        std::shared_ptr<ClassifierImpl> model = loadRunModel(*info, &error);
        QVERIFY2(model, qPrintable(error));
        {
            torch::NoGradGuard noGrad;
            for (auto &p : model->named_parameters()) {
                if (p.key() != "fc1.weight")
                    continue;
                const torch::Tensor m = p.value().abs().reshape({ -1 });
                const std::int64_t keep = (m.numel() + 5) / 10;
                const torch::Tensor threshold
                    = std::get<0>(torch::kthvalue(m, m.numel() - keep + 1));
                p.value().mul_(p.value().abs().ge(threshold).to(p.value().dtype()));
            }
        }
        QVERIFY2(
            writeCheckedFile(run + QStringLiteral("/model.pt"), serializeModule(*model), &error),
            qPrintable(error));

        SensitivityOptions options;
        options.sparsities = { 0.5, 0.9, 0.99 };
        options.images = 40;
        options.threads = 2;
        int calls = 0, last = 0;
        const std::optional<SensitivityScan> scan = scanSensitivity(
            run, m_data, options, [&](int done, int) { ++calls, last = done; }, nullptr, &error);
        QVERIFY2(scan, qPrintable(error));
        QCOMPARE(scan->images, 40);
        // conv1, conv2, conv3 and fc1; the classifier fc2 stays dense and is not scanned.
        QCOMPARE(int(scan->layers.size()), 4);
        QCOMPARE(int(scan->tensorNames.size()), 5);
        QCOMPARE(calls, 12);
        QCOMPARE(last, 12);
        const SensitivityLayer *fc1 = nullptr;
        double fragileDrop = 0.0;
        for (const SensitivityLayer &l : scan->layers) {
            if (l.name == QLatin1String("fc1.weight"))
                fc1 = &l;
            else
                fragileDrop = std::max(fragileDrop, scan->dropAt(l, 0.99));
        }
        QVERIFY(fc1);
        QCOMPARE(fc1->points[0].accuracy, scan->baseAccuracy);
        QCOMPARE(fc1->points[1].accuracy, scan->baseAccuracy);
        QVERIFY2(fragileDrop > 0.0, "pruning a layer of the trained model to 99 % costs nothing");
        for (const SensitivityLayer &l : scan->layers)
            QVERIFY2(
                scan->dropAt(*fc1, 0.99) <= scan->dropAt(l, 0.99) || &l == fc1, qPrintable(l.name));
        const std::optional<LayerTargets> t = allocateLayerTargets(*scan, 0.8, &error);
        QVERIFY2(t, qPrintable(error));
        for (const auto &[name, s] : t->sparsity)
            QVERIFY2(t->sparsity.at(QStringLiteral("fc1.weight")) >= s, qPrintable(name));

        // The files: JSON that reads back, and a CSV row per point (and per layer's dense point).
        QVERIFY2(writeSensitivityScan(*scan, run + QStringLiteral("/sensitivity.json"), &error),
            qPrintable(error));
        const std::optional<SensitivityScan> back
            = readSensitivityScan(run + QStringLiteral("/sensitivity.json"), &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->toJson(), scan->toJson());
        QFile csv(run + QStringLiteral("/sensitivity.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QCOMPARE(int(csv.readAll().count('\n')), 1 + 4 * 4);
    }

    void targetsAverageToTheOverallTarget_data()
    {
        QTest::addColumn<double>("target");
        for (double t : { 0.1, 0.5, 0.8, 0.9, 0.95, 0.98 })
            QTest::addRow("%g", t) << t;
    }
    void targetsAverageToTheOverallTarget()
    {
        QFETCH(double, target);
        const SensitivityScan scan = handMadeScan();
        QString error;
        const std::optional<LayerTargets> t = allocateLayerTargets(scan, target, &error);
        QVERIFY2(t, qPrintable(error));
        QVERIFY2(std::abs(weightedMean(scan, *t) - target) < 0.005,
            qPrintable(QString::number(weightedMean(scan, *t))));
        QVERIFY(std::abs(t->overall - target) < 0.005);
        const double robust = t->sparsity.at(QStringLiteral("robust"));
        const double middle = t->sparsity.at(QStringLiteral("middle"));
        const double fragile = t->sparsity.at(QStringLiteral("fragile"));
        QVERIFY(robust >= middle && middle >= fragile);
        QVERIFY(robust < kMaxLayerSparsity + 1e-12);
        if (target >= 0.5) // the scan's curves differ by then: the order is strict
            QVERIFY(robust > fragile);
    }

    void allocationRefusesWhatCannotBeMet()
    {
        QString error;
        QVERIFY(!allocateLayerTargets(handMadeScan(), 0.999, &error));
        QVERIFY(error.contains(QLatin1String("outside")));
        QVERIFY(!allocateLayerTargets(SensitivityScan(), 0.5, &error));
    }

    // A run pruned with --prune-scope sensitivity records its per-layer targets, reaches them, and
    // a resumed run keeps them even when the scan is gone.
    void resumedRunKeepsItsLayerTargets()
    {
        QString error;
        SensitivityOptions options;
        options.sparsities = { 0.5, 0.9 };
        options.images = 40;
        const std::optional<SensitivityScan> scan
            = scanSensitivity(m_run, m_data, options, {}, nullptr, &error);
        QVERIFY2(scan, qPrintable(error));
        const QString scanFile = path("scan-for-resume.json");
        QVERIFY(writeSensitivityScan(*scan, scanFile, &error));
        const QString run = path("pruned");
        const QStringList common { QStringLiteral("--data"), m_data, QStringLiteral("--out"), run,
            QStringLiteral("--no-history"), QStringLiteral("--progress"), QStringLiteral("none") };
        auto r = runCli(
            QStringList { QStringLiteral("train"), QStringLiteral("--model"),
                QStringLiteral("smallcnn"), QStringLiteral("--init"), m_run,
                QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--batch-size"),
                QStringLiteral("16"), QStringLiteral("--val-split"), QStringLiteral("0.25"),
                QStringLiteral("--prune"), QStringLiteral("constant:0.8:0:-1:1"),
                QStringLiteral("--prune-scope"), QStringLiteral("sensitivity:") + scanFile }
            + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject recorded = testdata::readJson(layerTargetsFile(run));
        const std::optional<LayerTargets> targets = LayerTargets::fromJson(recorded, &error);
        QVERIFY2(targets, qPrintable(error));
        QVERIFY(std::abs(weightedMean(*scan, *targets) - 0.8) < 0.005);
        QCOMPARE(testdata::readJson(run + QStringLiteral("/config.json"))
                     .value(QStringLiteral("prune_scope"))
                     .toString(),
            QString(QStringLiteral("sensitivity:") + scanFile));
        const auto checkShares = [&] {
            const std::map<QString, double> shares = zeroShares(run);
            for (const auto &[name, s] : targets->sparsity)
                QVERIFY2(std::abs(shares.at(name) - s) < 0.02,
                    qPrintable(QStringLiteral("%1: %2 zeros, target %3")
                                   .arg(name)
                                   .arg(shares.at(name))
                                   .arg(s)));
        };
        checkShares();

        QVERIFY(QFile::remove(scanFile)); // a run that re-allocated would fail now
        r = runCli(QStringList { QStringLiteral("train"), QStringLiteral("--resume"),
                       QStringLiteral("--epochs"), QStringLiteral("2") }
            + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(testdata::readJson(layerTargetsFile(run)), recorded);
        QCOMPARE(testdata::readJson(run + QStringLiteral("/summary.json"))
                     .value(QStringLiteral("epochs"))
                     .toInt(),
            2);
        checkShares();
    }

    // Channel granularity: a channel scan (the run folder's sensitivity-channel.json, the default
    // for a channel run) gives each layer its share of whole output channels; a weight scan is
    // refused for a channel run.
    void channelRunTakesTheChannelScan()
    {
        QString error;
        SensitivityOptions options;
        options.sparsities = { 0.5, 0.9 };
        options.images = 40;
        options.granularity = PruneGranularity::Channel;
        const std::optional<SensitivityScan> scan
            = scanSensitivity(m_run, m_data, options, {}, nullptr, &error);
        QVERIFY2(scan, qPrintable(error));
        QCOMPARE(scan->granularity, PruneGranularity::Channel);
        const QString file
            = QDir(m_run).filePath(defaultSensitivityFileName(PruneGranularity::Channel));
        QVERIFY(writeSensitivityScan(*scan, file, &error));
        const QString run = path("channels");
        QStringList args { QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), run, QStringLiteral("--model"), QStringLiteral("smallcnn"),
            QStringLiteral("--init"), m_run, QStringLiteral("--epochs"), QStringLiteral("1"),
            QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--val-split"),
            QStringLiteral("0.25"), QStringLiteral("--prune"),
            QStringLiteral("constant:0.6:0:-1:1"), QStringLiteral("--prune-granularity"),
            QStringLiteral("channel"), QStringLiteral("--prune-scope"),
            QStringLiteral("sensitivity"), QStringLiteral("--no-history"),
            QStringLiteral("--progress"), QStringLiteral("none") };
        auto r = runCli(args);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const std::optional<LayerTargets> targets
            = LayerTargets::fromJson(testdata::readJson(layerTargetsFile(run)), &error);
        QVERIFY2(targets, qPrintable(error));
        QVERIFY(std::abs(weightedMean(*scan, *targets) - 0.6) < 0.005);
        const std::map<QString, double> shares = zeroShares(run);
        for (const auto &[name, s] : targets->sparsity) // whole channels: within one channel
            QVERIFY2(std::abs(shares.at(name) - s) < 0.04,
                qPrintable(QStringLiteral("%1: %2 zeros, target %3")
                               .arg(name)
                               .arg(shares.at(name))
                               .arg(s)));

        args[args.indexOf(QStringLiteral("sensitivity"))]
            = QStringLiteral("sensitivity:") + path("known") + QStringLiteral("/sensitivity.json");
        args[args.indexOf(run)] = path("channels-refused");
        r = runCli(args);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("prunes weights but this run prunes channels")),
            qPrintable(r.err));
    }

    void scanOfAnotherArchitectureIsRefused()
    {
        QString error;
        std::optional<SensitivityScan> scan
            = readSensitivityScan(path("known") + QStringLiteral("/sensitivity.json"), &error);
        QVERIFY2(scan, qPrintable(error));
        scan->tensorShapes[1][0] = 48; // conv2 with 48 filters: another model
        const QString bad = path("other-architecture.json");
        QVERIFY(writeSensitivityScan(*scan, bad, &error));
        QVERIFY(!scanFitsRun(*scan, m_run, bad, &error));
        QVERIFY2(error.contains(QLatin1String("another architecture")), qPrintable(error));
        const auto r = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), path("refused"), QStringLiteral("--model"),
            QStringLiteral("smallcnn"), QStringLiteral("--init"), m_run, QStringLiteral("--epochs"),
            QStringLiteral("1"), QStringLiteral("--prune"), QStringLiteral("constant:0.5:0"),
            QStringLiteral("--prune-scope"), QStringLiteral("sensitivity:") + bad,
            QStringLiteral("--no-history"), QStringLiteral("--progress"), QStringLiteral("none") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("another architecture")), qPrintable(r.err));
        const auto a = runCli({ QStringLiteral("advise"), m_run, QStringLiteral("--data"), m_data,
            QStringLiteral("--scan"), bad });
        QCOMPARE(a.exitCode, 1);
        QVERIFY2(a.err.contains(QLatin1String("another architecture")), qPrintable(a.err));
    }

    // --apply starts the run it prints: the proposal's folder holds a finished run whose
    // config.json has the proposed sparsity and the sensitivity scope with the run's scan. (A
    // budget of 100 points fits the first trial, at the highest sparsity.)
    void adviseApplyStartsTheProposedRun()
    {
        const QString out = path("applied");
        const auto r = runCli({ QStringLiteral("advise"), m_run, QStringLiteral("--data"), m_data,
            QStringLiteral("--max-accuracy-drop"), QStringLiteral("100"),
            QStringLiteral("--trials"), QStringLiteral("1"), QStringLiteral("--work"),
            path("apply-trials"), QStringLiteral("--out"), out, QStringLiteral("--apply") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(
            r.out.contains(QLatin1String("Highest sparsity within 100 points")), qPrintable(r.out));
        QVERIFY2(r.out.contains(QStringLiteral("--out ") + out), qPrintable(r.out));
        QFile configFile(out + QStringLiteral("/config.json"));
        QVERIFY(configFile.open(QIODevice::ReadOnly));
        const QJsonObject config = QJsonDocument::fromJson(configFile.readAll()).object();
        QVERIFY2(config.value(QStringLiteral("prune"))
                     .toString()
                     .startsWith(QLatin1String("polynomial:0:0.970:")),
            qPrintable(config.value(QStringLiteral("prune")).toString()));
        QCOMPARE(config.value(QStringLiteral("prune_scope")).toString(),
            QStringLiteral("sensitivity:") + m_run + QStringLiteral("/sensitivity.json"));
        QFile summaryFile(out + QStringLiteral("/summary.json"));
        QVERIFY(summaryFile.open(QIODevice::ReadOnly));
        const QJsonObject summary = QJsonDocument::fromJson(summaryFile.readAll()).object();
        QCOMPARE(summary.value(QStringLiteral("status")).toString(), QStringLiteral("finished"));
        QVERIFY2(summary.value(QStringLiteral("final_sparsity")).toDouble() > 0.9,
            qPrintable(
                QString::number(summary.value(QStringLiteral("final_sparsity")).toDouble())));
    }

    // Every trial prunes with the sensitivity scope, the first at --max-sparsity, and the proposal
    // is the highest sparsity whose trial fitted (none: exit 1 and no sparsity). With no budget,
    // the 99 % trial misses on this tiny run.
    void adviseProposesTheHighestTrialThatFits()
    {
        const auto r = runCli({ QStringLiteral("advise"), m_run, QStringLiteral("--data"), m_data,
            QStringLiteral("--max-accuracy-drop"), QStringLiteral("0"),
            QStringLiteral("--max-sparsity"), QStringLiteral("0.99"), QStringLiteral("--trials"),
            QStringLiteral("2"), QStringLiteral("--work"), path("scope-trials"),
            QStringLiteral("--json") });
        const QJsonObject report = QJsonDocument::fromJson(r.out.toUtf8()).object();
        const QJsonArray trials = report.value(QStringLiteral("trials")).toArray();
        QVERIFY2(trials.size() >= 1 && trials.size() <= 3, qPrintable(r.out + r.err));
        double highestFit = -1.0;
        for (qsizetype i = 0; i < trials.size(); ++i) {
            const QJsonObject t = trials.at(i).toObject();
            QCOMPARE(t.value(QStringLiteral("scope")).toString(), QStringLiteral("sensitivity"));
            const double s = t.value(QStringLiteral("sparsity")).toDouble();
            QVERIFY(QFileInfo::exists(
                path("scope-trials") + QStringLiteral("/trial-%1/summary.json").arg(s, 0, 'f', 3)));
            if (t.value(QStringLiteral("fits")).toBool())
                highestFit = std::max(highestFit, s);
        }
        QCOMPARE(trials.at(0).toObject().value(QStringLiteral("sparsity")).toDouble(), 0.99);
        QVERIFY(!trials.at(0).toObject().value(QStringLiteral("fits")).toBool());
        if (highestFit >= 0.0) {
            QCOMPARE(r.exitCode, 0);
            QCOMPARE(
                report.value(QStringLiteral("scope")).toString(), QStringLiteral("sensitivity"));
            QCOMPARE(report.value(QStringLiteral("sparsity")).toDouble(), highestFit);
        } else {
            QCOMPARE(r.exitCode, 1);
            QVERIFY(report.value(QStringLiteral("sparsity")).isNull());
        }
    }

    void adviseRefusesBadBudgetsAndFoldersWithoutAModel_data()
    {
        QTest::addColumn<QString>("budget");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::addRow("below 0") << QStringLiteral("-0.5") << 2
                                 << QStringLiteral("between 0 and 100");
        QTest::addRow("above 100")
            << QStringLiteral("100.5") << 2 << QStringLiteral("between 0 and 100");
        QTest::addRow("no number")
            << QStringLiteral("one") << 2 << QStringLiteral("max-accuracy-drop");
        QTest::addRow("no model") << QStringLiteral("1") << 1 << QStringLiteral("no trained model");
    }
    void adviseRefusesBadBudgetsAndFoldersWithoutAModel()
    {
        QFETCH(QString, budget);
        QFETCH(int, code);
        QFETCH(QString, message);
        const QString empty = path("no-model");
        QDir().mkpath(empty);
        QFile::copy(m_run + QStringLiteral("/config.json"), empty + QStringLiteral("/config.json"));
        const QString run = code == 1 ? empty : m_run;
        const auto r = runCli({ QStringLiteral("advise"), run, QStringLiteral("--data"), m_data,
            QStringLiteral("--max-accuracy-drop"), budget });
        QCOMPARE(r.exitCode, code);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        if (code == 1) {
            const auto s
                = runCli({ QStringLiteral("sensitivity"), run, QStringLiteral("--data"), m_data });
            QCOMPARE(s.exitCode, 1);
            QVERIFY2(s.err.contains(message), qPrintable(s.err));
        }
    }
};

QTEST_GUILESS_MAIN(TestSensitivity)
#include "tst_sensitivity.moc"
