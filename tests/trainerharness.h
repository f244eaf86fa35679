#pragma once
// Shared by the suites that run a real Trainer: it runs on its own QThread, as in the CLI and the GUI,
// with spies on its signals, and is torn down cleanly (cancelled, thread joined) whatever the test does.

#include "metrics/metricssample.h"
#include "train/trainer.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QStringList>
#include <QTest>
#include <QThread>

#include <memory>
#include <vector>

namespace leantune::testtrainer {

struct TrainerHarness {
    QThread thread;
    Trainer *trainer;
    std::unique_ptr<QSignalSpy> finished, failed, samples, epochs, logs;

    TrainerHarness(const RunConfig &config, Trainer::Options options)
        : trainer(new Trainer(config, std::move(options)))
    {
        trainer->moveToThread(&thread);
        QObject::connect(&thread, &QThread::started, trainer, &Trainer::run);
        QObject::connect(&thread, &QThread::finished, trainer, &QObject::deleteLater);
        finished = std::make_unique<QSignalSpy>(trainer, &Trainer::finished);
        failed = std::make_unique<QSignalSpy>(trainer, &Trainer::failed);
        samples = std::make_unique<QSignalSpy>(trainer, &Trainer::sampleReady);
        epochs = std::make_unique<QSignalSpy>(trainer, &Trainer::epochFinished);
        logs = std::make_unique<QSignalSpy>(trainer, &Trainer::logMessage);
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
