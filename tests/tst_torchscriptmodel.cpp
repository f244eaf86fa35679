// --model torchscript:PATH: a user's TorchScript module (scripted or traced in PyTorch, written by
// python3-torch here) trained with LeanTune's loop: its weights seen by the optimizer, the pruner
// and checkpoints, resumed, evaluated and exported; bad modules refused with one clear error.

#include "clirunner.h"
#include "model/modelzoo_p.h"
#include "model/torchscriptmodel_p.h"
#include "prune/magnitudepruner_p.h"
#include "testdata.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace leantune;
using namespace leantune::testcli;
using leantune::testdata::writeImageFolder;

namespace {

// Writes scripted.pt, traced.pt (a small CNN: 1 → 8 → 16 channels, 16 → 32 → 3 linear layers),
// noparams.pt (no parameters), rank3.pt (output [N, 3, 1]) and raises.pt (raises in forward on
// batches of more than 2 images) into DIR.
const char *kWriter = R"(
import sys, torch, torch.nn as nn
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))
    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))
class NoParams(nn.Module):
    def forward(self, x):
        return x.mean((2, 3)).repeat(1, 3)
class RaisesWhenTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = Net()
    def forward(self, x):
        if x.size(0) > 2:  # the load check's probe is 2 images; training batches are larger
            raise ValueError("this model refuses batches of more than 2 images")
        return self.net(x)
class Rank3(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = Net()
    def forward(self, x):
        return self.net(x).unsqueeze(2)
d = sys.argv[1]
torch.jit.save(torch.jit.script(Net()), d + '/scripted.pt')
torch.jit.save(torch.jit.trace(Net().eval(), torch.zeros(2, 1, 16, 16)), d + '/traced.pt')
torch.jit.save(torch.jit.script(NoParams()), d + '/noparams.pt')
torch.jit.save(torch.jit.script(Rank3()), d + '/rank3.pt')
torch.jit.save(torch.jit.script(RaisesWhenTraining()), d + '/raises.pt')
)";

QJsonObject summaryOf(const QString &runDir)
{
    QFile f(runDir + QStringLiteral("/summary.json"));
    return f.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(f.readAll()).object()
                                       : QJsonObject();
}

} // namespace

class TestTorchScriptModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QProcess python;
        const QString exe = QFileInfo::exists(QStringLiteral("/usr/bin/python3"))
            ? QStringLiteral("/usr/bin/python3")
            : QStringLiteral("python3");
        // From a file: torch.jit.script reads the classes' source.
        const QString script = path(QStringLiteral("write_models.py"));
        QFile f(script);
        QVERIFY(f.open(QIODevice::WriteOnly) && f.write(kWriter) > 0);
        f.close();
        python.start(exe, { script, m_dir.path() });
        if (!python.waitForFinished(120000) || python.exitStatus() != QProcess::NormalExit
            || python.exitCode() != 0)
            QSKIP(
                qPrintable(QStringLiteral("python3-torch is missing or failed (scripts/setup "
                                          "installs it); cannot write TorchScript models: %1")
                               .arg(QString::fromUtf8(python.readAllStandardError()).right(300))));
        m_data = m_dir.filePath(QStringLiteral("data"));
        writeImageFolder(m_data, 3, 24, 16);
        m_twoClasses = m_dir.filePath(QStringLiteral("data2"));
        writeImageFolder(m_twoClasses, 2, 6, 16);
        torch::set_num_threads(2);
    }

    // The mirrored parameters are the script module's own tensors; the pruner finds the convs and
    // linear layers by shape and keeps the classifier dense.
    void weightsAreSharedAndPrunable()
    {
        ModelSpec spec;
        spec.name = QStringLiteral("torchscript:") + path(QStringLiteral("scripted.pt"));
        spec.channels = 1;
        spec.inputSize = 16;
        spec.classes = 3;
        QString error;
        auto model = createModel(spec, &error);
        QVERIFY2(model, qPrintable(error));
        const auto params = model->named_parameters();
        QVERIFY(params.contains("features.0.weight"));
        QVERIFY(params.contains("head.2.weight"));
        QVERIFY(model->named_buffers().contains("features.1.running_mean"));
        QCOMPARE(model->forward(torch::zeros({ 4, 1, 16, 16 })).sizes().vec(),
            (std::vector<std::int64_t> { 4, 3 }));
        MagnitudePruner pruner(
            *model, *PruningSchedule::parse(QStringLiteral("constant:0.5:0"), nullptr));
        QCOMPARE(pruner.prunableNames(),
            (std::vector<std::string> {
                "features.0.weight", "features.4.weight", "head.0.weight", "head.2.weight" }));
        pruner.updateMasks(0.5);
        pruner.applyMasks();
        // Zeroed through the mirror, seen by the script module's own parameter.
        auto *script = dynamic_cast<TorchScriptModelImpl *>(model.get());
        QVERIFY(script);
        torch::Tensor scripted;
        for (const auto &p : script->scriptModule().named_parameters())
            if (p.name == "features.4.weight")
                scripted = p.value;
        QVERIFY(scripted.defined());
        QCOMPARE(scripted.eq(0).sum().item<std::int64_t>(), std::int64_t(576));
        // 72 + 1152 + 512 pruned to half, the 96 classifier weights dense.
        QVERIFY(std::abs(pruner.measuredSparsity() - 868.0 / 1832.0) < 1e-3);
    }

    void trainPruneResumeEvaluateExport()
    {
        const QString run = m_dir.filePath(QStringLiteral("run"));
        const QStringList common { QStringLiteral("--device"), QStringLiteral("cpu"),
            QStringLiteral("--threads"), QStringLiteral("1") };
        Result r = runCli(
            QStringList { QStringLiteral("train"), QStringLiteral("--data"), m_data,
                QStringLiteral("--out"), run, QStringLiteral("--model"),
                QStringLiteral("torchscript:") + path(QStringLiteral("scripted.pt")),
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
                QStringLiteral("1"), QStringLiteral("--epochs"), QStringLiteral("1"),
                QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--prune"),
                QStringLiteral("constant:0.6:1:-1:1") }
            + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(summaryOf(run).value(QStringLiteral("epochs")).toInt(), 1);
        // A finished run continued for a second epoch from its checkpoint.
        r = runCli(QStringList { QStringLiteral("train"), QStringLiteral("--out"), run,
                       QStringLiteral("--resume"), QStringLiteral("--epochs"), QStringLiteral("2") }
            + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("resuming from")), qPrintable(r.err));
        const QJsonObject summary = summaryOf(run);
        QCOMPARE(summary.value(QStringLiteral("epochs")).toInt(), 2);
        // 0.6 of the prunable weights, the 96 dense classifier weights counted: 0.5 measured.
        const double sparsity = summary.value(QStringLiteral("final_sparsity")).toDouble();
        QVERIFY2(sparsity > 0.5 && sparsity < 0.6, qPrintable(QString::number(sparsity)));

        r = runCli(QStringList { QStringLiteral("evaluate"), run, QStringLiteral("--data"), m_data,
                       QStringLiteral("--json") }
            + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(QJsonDocument::fromJson(r.out.toUtf8()).object().value(QStringLiteral("images")),
            QJsonValue(72));

        const QString archive = m_dir.filePath(QStringLiteral("model.ltpt"));
        r = runCli({ QStringLiteral("export"), run, QStringLiteral("--format"),
            QStringLiteral("libtorch"), QStringLiteral("--out"), archive });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(QFileInfo(archive).size() > 0);
        r = runCli(
            { QStringLiteral("export"), run, QStringLiteral("--format"), QStringLiteral("onnx"),
                QStringLiteral("--out"), m_dir.filePath(QStringLiteral("m.onnx")) });
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains(QStringLiteral("ONNX export of a TorchScript model is not "
                                               "supported")),
            qPrintable(r.err));
        QVERIFY(!QFile::exists(m_dir.filePath(QStringLiteral("m.onnx"))));
    }

    void tracedModelTrains()
    {
        const QString run = m_dir.filePath(QStringLiteral("traced-run"));
        const Result r = runCli({ QStringLiteral("train"), QStringLiteral("--data"), m_data,
            QStringLiteral("--out"), run, QStringLiteral("--model"),
            QStringLiteral("torchscript:") + path(QStringLiteral("traced.pt")),
            QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
            QStringLiteral("1"), QStringLiteral("--epochs"), QStringLiteral("1"),
            QStringLiteral("--batch-size"), QStringLiteral("16"), QStringLiteral("--device"),
            QStringLiteral("cpu"), QStringLiteral("--prune"),
            QStringLiteral("constant:0.5:1:-1:1") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(summaryOf(run).value(QStringLiteral("final_sparsity")).toDouble() > 0.4);
    }

    void badModulesAreRefused_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<bool>("twoClasses");
        QTest::addColumn<QString>("message");
        QTest::newRow("no parameters")
            << QStringLiteral("noparams.pt") << false << QStringLiteral("has no parameters");
        QTest::newRow("output [N, 3, 1]")
            << QStringLiteral("rank3.pt") << false << QStringLiteral("[N, classes]");
        QTest::newRow("missing file")
            << QStringLiteral("nothere.pt") << false << QStringLiteral("no such file");
        QTest::newRow("3 outputs, 2 classes")
            << QStringLiteral("scripted.pt") << true << QStringLiteral("2 classes in the data");
    }

    void badModulesAreRefused()
    {
        QFETCH(QString, file);
        QFETCH(bool, twoClasses);
        QFETCH(QString, message);
        const QString run = m_dir.filePath(QStringLiteral("bad-") + file);
        const Result r = runCli({ QStringLiteral("train"), QStringLiteral("--data"),
            twoClasses ? m_twoClasses : m_data, QStringLiteral("--out"), run,
            QStringLiteral("--model"), QStringLiteral("torchscript:") + path(file),
            QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
            QStringLiteral("1"), QStringLiteral("--device"), QStringLiteral("cpu") });
        QVERIFY2(r.exitCode == 1 || r.exitCode == 2, qPrintable(r.err));
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        // Nothing a later run could take for a trained or resumable one.
        QVERIFY(!QFile::exists(run + QStringLiteral("/config.json")));
        QVERIFY(!QFile::exists(run + QStringLiteral("/model.pt")));
        QVERIFY(QDir(run + QStringLiteral("/checkpoints")).isEmpty());
    }

    // An error the script raises while training is shown, not only "The following operation
    // failed in the TorchScript interpreter.".
    void aScriptErrorDuringTrainingSaysWhy()
    {
        const Result r = runCli(
            { QStringLiteral("train"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
                m_dir.filePath(QStringLiteral("raises-run")), QStringLiteral("--model"),
                QStringLiteral("torchscript:") + path(QStringLiteral("raises.pt")),
                QStringLiteral("--input-size"), QStringLiteral("16"), QStringLiteral("--channels"),
                QStringLiteral("1"), QStringLiteral("--epochs"), QStringLiteral("1"),
                QStringLiteral("--batch-size"), QStringLiteral("8"), QStringLiteral("--device"),
                QStringLiteral("cpu") });
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QLatin1String("refuses batches of more than 2 images")),
            qPrintable(r.err));
        QVERIFY2(
            !r.err.contains(QLatin1String("The following operation failed")), qPrintable(r.err));
    }

private:
    QString path(const QString &file) const { return m_dir.filePath(file); }

    QTemporaryDir m_dir;
    QString m_data, m_twoClasses;
};

QTEST_GUILESS_MAIN(TestTorchScriptModel)
#include "tst_torchscriptmodel.moc"
