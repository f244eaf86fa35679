#pragma once
// Shared by the suites that run a real training run: through a RunJob, as the CLI and the GUI do
// (the job owns the run's thread and stops and joins it when destroyed, whatever the test does).

#include "metrics/metricssample.h"
#include "job/runjob.h"

#include <QElapsedTimer>
#include <QList>
#include <QStringList>
#include <QTest>
#include <QSignalSpy>
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

// Runs a config through a RunJob, as the CLI and the GUI do, and records its signals (they arrive
// on the test's thread, queued from the run's). The run is not recorded in the user's run history.
struct TrainerHarness {
    RunJob job;
    QSignalSpy finishedSpy { &job, &RunJob::finished }, failedSpy { &job, &RunJob::failed },
        samplesSpy { &job, &RunJob::sampleReady }, epochsSpy { &job, &RunJob::epochFinished },
        logsSpy { &job, &RunJob::logMessage };
    QSignalSpy *finished = &finishedSpy, *failed = &failedSpy, *samples = &samplesSpy,
               *epochs = &epochsSpy, *logs = &logsSpy;

    TrainerHarness(const RunConfig &config, RunJob::Options options)
        : job(config, withoutHistory(std::move(options)))
    {
    }
    static RunJob::Options withoutHistory(RunJob::Options options)
    {
        if (options.historyPath.isEmpty() && !options.store)
            options.recordHistory = false;
        return options;
    }
    TrainerHarness(const TrainerHarness &) = delete;
    TrainerHarness &operator=(const TrainerHarness &) = delete;

    void start()
    {
        QString error;
        if (!job.start(&error))
            failedSpy.append(
                { error }); // an invalid configuration fails like a run that cannot start
    }
    // Processes queued signals until the run ends (finished or failed) or MS pass; true when it
    // ended.
    bool waitDone(int ms = 240000)
    {
        QElapsedTimer t;
        t.start();
        while (finished->isEmpty() && failed->isEmpty() && t.elapsed() < ms)
            QTest::qWait(20); // returns as soon as the run ends
        return !finished->isEmpty() || !failed->isEmpty();
    }
    bool run(int ms = 240000)
    {
        start();
        return waitDone(ms);
    }
    RunSummary summary() const { return finished->first().first().value<RunSummary>(); }
    QString error() const
    {
        return failed->isEmpty() ? QString() : failed->first().first().toString();
    }
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
