#pragma once
// Shared by the suites that run a real Trainer: it runs on its own QThread, as in the CLI and the GUI,
// its signals are recorded on the test's thread, and it is torn down cleanly (cancelled, thread
// joined) whatever the test does.

#include "metrics/metricssample.h"
#include "train/trainer.h"

#include <QElapsedTimer>
#include <QList>
#include <QStringList>
#include <QTest>
#include <QThread>
#include <QVariant>

#include <memory>
#include <type_traits>
#include <vector>

namespace leantune::testtrainer {

// The small CPU run the trainer suites share: smallcnn at 16 px, batches of 16, 2 epochs, seed 7,
// a quarter of the images for validation, one torch thread.
inline RunConfig smallRunConfig(const QString &data, const QString &out)
{
    RunConfig c;
    c.dataDir = data;
    c.outDir = out;
    c.model.name = QStringLiteral("smallcnn");
    c.model.inputSize = 16;
    c.model.channels = 1;
    c.batchSize = 16;
    c.epochs = 2;
    c.learningRate = 0.05;
    c.device = QStringLiteral("cpu");
    c.workers = 2;
    c.threads = 1;
    c.seed = 7;
    c.valSplit = 0.25;
    return c;
}

// The arguments of each emission of one signal, as QSignalSpy keeps them.
using Recorded = QList<QList<QVariant>>;

struct TrainerHarness {
    QThread thread;
    Trainer *trainer;
    // Filled by queued connections on the test's thread. (QSignalSpy connects directly, so it would
    // append on the trainer's thread while the test reads: ThreadSanitizer reported that race.)
    std::unique_ptr<Recorded> finished = std::make_unique<Recorded>(), failed = std::make_unique<Recorded>(),
                              samples = std::make_unique<Recorded>(), epochs = std::make_unique<Recorded>(),
                              logs = std::make_unique<Recorded>();
    QObject receiver;   // lives on the test's thread: the context of the recording connections

    TrainerHarness(const RunConfig &config, Trainer::Options options)
        : trainer(new Trainer(config, std::move(options)))
    {
        trainer->moveToThread(&thread);
        QObject::connect(&thread, &QThread::started, trainer, &Trainer::run);
        QObject::connect(&thread, &QThread::finished, trainer, &QObject::deleteLater);
        record(&Trainer::finished, finished.get());
        record(&Trainer::failed, failed.get());
        record(&Trainer::sampleReady, samples.get());
        record(&Trainer::epochFinished, epochs.get());
        record(&Trainer::logMessage, logs.get());
    }
    template<typename Arg>
    void record(void (Trainer::*signal)(Arg), Recorded *into)
    {
        using Value = std::decay_t<Arg>;
        QObject::connect(
            trainer, signal, &receiver, [into](const Value &v) { into->append({QVariant::fromValue(v)}); },
            Qt::QueuedConnection);
    }
    ~TrainerHarness()
    {
        trainer->requestCancel();
        thread.quit();
        thread.wait();
    }
    TrainerHarness(const TrainerHarness &) = delete;
    TrainerHarness &operator=(const TrainerHarness &) = delete;

    void start() { thread.start(); }
    // Processes queued signals until the run ends (finished or failed) or MS pass; true when it ended.
    bool waitDone(int ms = 240000)
    {
        QElapsedTimer t;
        t.start();
        while (finished->isEmpty() && failed->isEmpty() && t.elapsed() < ms)
            QTest::qWait(20);   // returns as soon as the run ends
        return !finished->isEmpty() || !failed->isEmpty();
    }
    bool run(int ms = 240000)
    {
        start();
        return waitDone(ms);
    }
    RunSummary summary() const { return finished->first().first().value<RunSummary>(); }
    QString error() const { return failed->isEmpty() ? QString() : failed->first().first().toString(); }
    std::vector<MetricsSample> all() const
    {
        std::vector<MetricsSample> v;
        for (const QList<QVariant> &args : *samples)
            v.push_back(args.first().value<MetricsSample>());
        return v;
    }
    QString log() const
    {
        QStringList lines;
        for (const QList<QVariant> &args : *logs)
            lines << args.first().toString();
        return lines.join(QLatin1Char('\n'));
    }
};

} // namespace leantune::testtrainer
