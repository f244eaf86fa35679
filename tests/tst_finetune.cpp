// Fine-tuning controls: --freeze-epochs trains only the classifier first (every other
// weight and BatchNorm statistic bit-identical), then everything, also across a resume;
// --backbone-lr-scale gives the classifier and the backbone their own learning rates; bad values
// are refused by the CLI with exit 2.

#include "clirunner.h"
#include "testdata.h"
#include "trainerharness.h"

#include "metrics/memoryprobe.h"
#include "train/checkpoint_p.h"
#include "train/finetune_p.h"
#include "train/rundir_p.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <map>

using namespace leantune;

namespace {

using testtrainer::TrainerHarness;
using Tensors = std::map<std::string, torch::Tensor>;

Tensors tensorsOf(torch::nn::Module &model)
{
    Tensors t;
    for (const auto &p : model.named_parameters())
        t[p.key()] = p.value().detach().clone();
    for (const auto &b : model.named_buffers())
        t[b.key()] = b.value().clone();
    return t;
}

// The weights of run RUNDIR: its model.pt, or CHECKPOINT when given.
Tensors runTensors(const QString &runDir, const QString &checkpoint = QString())
{
    QString error;
    const std::optional<RunInfo> run = readRunInfo(runDir, &error);
    if (!run)
        return {};
    std::shared_ptr<ClassifierImpl> model = loadRunModel(*run, &error);
    if (!model || (!checkpoint.isEmpty() && !loadCheckpointModel(checkpoint, *model, &error)))
        return {};
    return tensorsOf(*model);
}

bool isClassifier(const std::string &name)
{
    return name.rfind("fc2.", 0) == 0; // smallcnn's last Linear
}

// A model with no Linear layer: nothing to call its classifier.
class ConvOnlyImpl : public ClassifierImpl {
public:
    ConvOnlyImpl()
        : m_conv(register_module("conv", torch::nn::Conv2d(1, 3, 16)))
    {
    }
    torch::Tensor forward(torch::Tensor x) override { return m_conv(x).flatten(1); }

private:
    torch::nn::Conv2d m_conv;
};

} // namespace

class TestFineTune : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data; // 3 classes × 40 images, 16 px
    QString m_pretrained; // a run of one epoch on it: the starting weights

    // Fine-tuning from m_pretrained: constant learning rate (a shorter run then trains like the
    // start of a longer one), SGD with momentum and weight decay (both must leave frozen weights).
    RunConfig fineTuneConfig(const QString &name) const
    {
        RunConfig c = testtrainer::smallRunConfig(m_data, m_dir.filePath(name));
        c.initWeights = m_pretrained;
        c.lrSchedule = LrSchedule::Constant;
        c.learningRate = 0.02;
        return c;
    }
    static bool train(const RunConfig &c, bool resume = false)
    {
        RunJob::Options options;
        options.resume = resume;
        TrainerHarness h(c, options);
        h.start();
        if (!h.waitDone() || !h.failed->isEmpty()) {
            qWarning("run failed: %s", qPrintable(h.error()));
            return false;
        }
        return true;
    }

private Q_SLOTS:
    void initTestCase()
    {
        usePredictableHostAllocator();
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("data"));
        testdata::writeImageFolder(m_data, 3, 40, 16, 1);
        m_pretrained = m_dir.filePath(QStringLiteral("pretrained"));
        RunConfig c = testtrainer::smallRunConfig(m_data, m_pretrained);
        c.epochs = 1;
        QVERIFY(train(c));
    }

    // A frozen epoch moves only the classifier: every other parameter and every BatchNorm
    // statistic stays bit-identical (no step, no weight decay, no momentum); after the boundary
    // the backbone trains too.
    void frozenEpochMovesOnlyTheClassifier()
    {
        RunConfig c = fineTuneConfig(QStringLiteral("freeze"));
        c.freezeEpochs = 1;
        QVERIFY(train(c));
        const Tensors start = runTensors(m_pretrained);
        QVERIFY(!start.empty());
        const QStringList checkpoints = listCheckpoints(c.outDir + QStringLiteral("/checkpoints"));
        QCOMPARE(checkpoints.size(), 2); // after each epoch, newest first
        const Tensors frozen = runTensors(c.outDir, checkpoints.last());
        QCOMPARE(frozen.size(), start.size());
        int compared = 0;
        for (const auto &[name, t] : start) {
            if (isClassifier(name)) {
                QVERIFY2(!torch::equal(t, frozen.at(name)), name.c_str());
            } else {
                QVERIFY2(torch::equal(t, frozen.at(name)), name.c_str());
                ++compared;
            }
        }
        QVERIFY(compared > 10);
        QVERIFY(start.count("bn1.running_mean") && start.count("fc1.weight"));
        const Tensors end = runTensors(c.outDir);
        for (const char *name : { "conv1.weight", "bn1.running_mean", "bn2.weight", "fc1.weight" })
            QVERIFY2(!torch::equal(frozen.at(name), end.at(name)), name);
    }

    // Data parallel (`--nproc 2`, gradient buckets over Gloo): the frozen parameters get no
    // gradient on either rank, and the frozen epoch still leaves them (and the statistics) as they
    // were.
    void dataParallelRunFreezesToo()
    {
        const QString out = m_dir.filePath(QStringLiteral("nproc"));
        const testcli::Result r = testcli::runCli(
            QStringLiteral(
                "train --model smallcnn --input-size 16 --channels 1 --batch-size 16 --epochs 2 "
                "--freeze-epochs 1 --lr-schedule constant --lr 0.02 --val-split 0.25 --seed 7 "
                "--threads 1 --workers 1 --nproc 2 --no-history --progress none")
                .split(QLatin1Char(' '))
            + QStringList { QStringLiteral("--data"), m_data, QStringLiteral("--out"), out,
                QStringLiteral("--init"), m_pretrained });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err.right(600)));
        const Tensors start = runTensors(m_pretrained);
        const QStringList checkpoints = listCheckpoints(out + QStringLiteral("/checkpoints"));
        QCOMPARE(checkpoints.size(), 2);
        const Tensors frozen = runTensors(out, checkpoints.last()), end = runTensors(out);
        QVERIFY(!frozen.empty() && !end.empty());
        for (const auto &[name, t] : start)
            QVERIFY2(isClassifier(name) != torch::equal(t, frozen.at(name)), name.c_str());
        QVERIFY(!torch::equal(frozen.at("conv1.weight"), end.at("conv1.weight")));
    }

    // Stopped after the frozen epoch and resumed, the run ends with the same weights as one that
    // ran through.
    void resumeAcrossTheBoundaryIsAnUnbrokenRun()
    {
        RunConfig through = fineTuneConfig(QStringLiteral("through"));
        through.freezeEpochs = 1;
        QVERIFY(train(through));
        RunConfig split = fineTuneConfig(QStringLiteral("split"));
        split.freezeEpochs = 1;
        split.epochs = 1;
        QVERIFY(train(split));
        split.epochs = 2;
        QVERIFY(train(split, /*resume=*/true));
        const Tensors a = runTensors(through.outDir), b = runTensors(split.outDir);
        QVERIFY(!a.empty());
        QCOMPARE(a.size(), b.size());
        for (const auto &[name, t] : a)
            QVERIFY2(torch::equal(t, b.at(name)), name.c_str());
    }

    // backbone_lr_scale 0.1: the classifier's group at the learning rate, the rest at a tenth,
    // both following the schedule; an SGD step (no momentum, no decay) moves them accordingly.
    void backboneLrScaleGivesEachGroupItsRate()
    {
        RunConfig c = testtrainer::smallRunConfig(m_data, QString());
        c.learningRate = 0.1;
        c.momentum = 0.0;
        c.weightDecay = 0.0;
        c.backboneLrScale = 0.1;
        QString error;
        std::shared_ptr<ClassifierImpl> model
            = createModel({ QStringLiteral("smallcnn"), 16, 1, 3 }, &error);
        QVERIFY2(model, qPrintable(error));
        std::optional<FineTune> f = FineTune::create(c, *model, &error);
        QVERIFY2(f, qPrintable(error));
        QCOMPARE(QString::fromStdString(f->classifier()), QStringLiteral("fc2"));
        std::unique_ptr<torch::optim::Optimizer> optimizer = f->makeOptimizer(c, *model);
        QCOMPARE(int(optimizer->param_groups().size()), 2);
        QCOMPARE(int(optimizer->param_groups()[0].params().size()), 2); // fc2 weight and bias
        QCOMPARE(optimizer->param_groups()[0].options().get_lr(), 0.1);
        QCOMPARE(optimizer->param_groups()[1].options().get_lr(), 0.1 * 0.1);
        f->setLearningRate(*optimizer, 0.05); // the schedule scales both
        QCOMPARE(optimizer->param_groups()[0].options().get_lr(), 0.05);
        QCOMPARE(optimizer->param_groups()[1].options().get_lr(), 0.05 * 0.1);
        const Tensors before = tensorsOf(*model);
        for (torch::Tensor &p : model->parameters())
            p.mutable_grad() = torch::ones_like(p);
        optimizer->step();
        const auto params = model->named_parameters();
        const auto moved = [&](const char *name) {
            return (before.at(name) - params[name].detach()).mean().item<double>();
        };
        QVERIFY(std::abs(moved("fc2.weight") - 0.05) < 1e-6);
        QVERIFY(std::abs(moved("conv1.weight") - 0.005) < 1e-6);
        QVERIFY(std::abs(moved("fc1.weight") - 0.005) < 1e-6);
        // Scale 1 (the default) keeps one group, as runs did before.
        c.backboneLrScale = 1.0;
        f = FineTune::create(c, *model, &error);
        QVERIFY(f);
        QCOMPARE(int(f->makeOptimizer(c, *model)->param_groups().size()), 1);
    }

    // Scale 0: the backbone's weights stay (momentum and decay included), its BatchNorm statistics
    // follow the new data (train mode), the classifier trains.
    void backboneLrScaleZeroKeepsWeightsButNotStatistics()
    {
        RunConfig c = fineTuneConfig(QStringLiteral("scale0"));
        c.epochs = 1;
        c.backboneLrScale = 0.0;
        QVERIFY(train(c));
        const Tensors start = runTensors(m_pretrained), end = runTensors(c.outDir);
        QVERIFY(!end.empty());
        for (const char *name : { "conv1.weight", "bn1.weight", "bn3.bias", "fc1.weight" })
            QVERIFY2(torch::equal(start.at(name), end.at(name)), name);
        QVERIFY(!torch::equal(start.at("bn1.running_mean"), end.at("bn1.running_mean")));
        QVERIFY(!torch::equal(start.at("fc2.weight"), end.at("fc2.weight")));
    }

    // A user's TorchScript module: its last linear layer is the classifier; a frozen step leaves
    // every other parameter and the script module's BatchNorm statistics as they were (its
    // BatchNorm submodules in eval mode), while the classifier moves. A module that keeps its
    // parameters on its root has no classifier to tell apart: refused.
    void torchScriptModelFreezes()
    {
        const char *writer = R"(
import sys, torch, torch.nn as nn
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))
class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(1, 3))
    def forward(self, x):
        return x.mean((1, 2, 3)).unsqueeze(1) * self.w
torch.jit.save(torch.jit.script(Net()), sys.argv[1] + '/net.pt')
torch.jit.save(torch.jit.script(Flat()), sys.argv[1] + '/flat.pt')
)";
        const QString script = m_dir.filePath(QStringLiteral("write_scripted.py"));
        QFile f(script);
        QVERIFY(f.open(QIODevice::WriteOnly) && f.write(writer) > 0);
        f.close();
        QProcess python;
        python.start(QStringLiteral("/usr/bin/python3"), { script, m_dir.path() });
        if (!python.waitForFinished(120000) || python.exitCode() != 0)
            QSKIP("python3-torch is needed (scripts/setup installs it)");
        RunConfig c = testtrainer::smallRunConfig(m_data, QString());
        c.freezeEpochs = 1;
        QString error;
        const auto load = [&](const char *file) {
            return createModel(
                { QStringLiteral("torchscript:") + m_dir.filePath(QLatin1String(file)), 16, 1, 3 },
                &error);
        };
        std::shared_ptr<ClassifierImpl> model = load("net.pt");
        QVERIFY2(model, qPrintable(error));
        std::optional<FineTune> fine = FineTune::create(c, *model, &error);
        QVERIFY2(fine, qPrintable(error));
        QCOMPARE(QString::fromStdString(fine->classifier()), QStringLiteral("head.2"));
        std::unique_ptr<torch::optim::Optimizer> optimizer = fine->makeOptimizer(c, *model);
        const Tensors before = tensorsOf(*model);
        QVERIFY(before.count("features.1.running_mean"));
        model->train();
        QVERIFY(fine->beginEpoch(*model, 0));
        for (int step = 0; step < 3; ++step) {
            optimizer->zero_grad();
            torch::nn::functional::cross_entropy(
                model->forward(torch::randn({ 8, 1, 16, 16 })), torch::randint(0, 3, { 8 }))
                .backward();
            optimizer->step();
        }
        const Tensors after = tensorsOf(*model);
        for (const auto &[name, t] : before)
            QVERIFY2(
                (name.rfind("head.2.", 0) == 0) != torch::equal(t, after.at(name)), name.c_str());
        model = load("flat.pt");
        QVERIFY2(model, qPrintable(error));
        QVERIFY(!FineTune::create(c, *model, &error));
        QVERIFY2(error.contains(QLatin1String("classifier")), qPrintable(error));
    }

    void modelWithoutClassifierIsRefused()
    {
        RunConfig c;
        c.freezeEpochs = 1;
        ConvOnlyImpl model;
        QString error;
        QVERIFY(!FineTune::create(c, model, &error));
        QVERIFY2(error.contains(QLatin1String("classifier")), qPrintable(error));
        c.freezeEpochs = 0; // nothing asked: nothing to split
        QVERIFY(FineTune::create(c, model, &error));
    }

    void badValuesExitTwo_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        const auto args
            = [](const char *line) { return QString::fromLatin1(line).split(QLatin1Char(' ')); };
        QTest::newRow("negative freeze")
            << args("--freeze-epochs -1") << "freeze-epochs must be between 0 and the epochs";
        QTest::newRow("freeze beyond the epochs")
            << args("--freeze-epochs 4 --epochs 3")
            << "freeze-epochs must be between 0 and the epochs (3), got 4";
        QTest::newRow("negative scale") << args("--backbone-lr-scale -0.5")
                                        << "backbone-lr-scale must be in [0, 10] (got -0.5)";
        QTest::newRow("scale not a number")
            << args("--backbone-lr-scale fast") << "backbone-lr-scale";
    }

    void badValuesExitTwo()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const QString out = m_dir.filePath(QStringLiteral("bad"));
        const testcli::Result r = testcli::runCli(
            QStringList { QStringLiteral("train"), QStringLiteral("--data"), m_data,
                QStringLiteral("--out"), out, QStringLiteral("--no-history") }
            + args);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains(expected), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(out + QStringLiteral("/config.json")));
    }
};

QTEST_GUILESS_MAIN(TestFineTune)
#include "tst_finetune.moc"
