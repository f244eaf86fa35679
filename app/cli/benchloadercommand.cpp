// bench-loader: runs the streaming loader alone (read, decode, crop/flip, normalize, batch) over a
// data folder and reports images/s per epoch. A benchmark tool for bench/run, not part of training.

#include "clicommon.h"

#include "dataset/datasetscanner.h"
#include "dataset/decodedcache.h"
#include "dataset/streamingloader_p.h"
#include "metrics/memoryprobe.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringBuilder>

#include <algorithm>

namespace leantune::cli {

int benchLoaderCommand(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Measure the data loader alone: every image of DIR is read, decoded, "
                       "cropped/flipped (unless --no-augment), normalized and batched, for "
                       "--epochs epochs; batches are dropped. Prints images/s per epoch (the "
                       "folder scan is not timed)."));
    const auto value
        = [&parser](const char *name, const char *help, const char *valueName, const char *def) {
              QCommandLineOption option(QString::fromLatin1(name), QString::fromLatin1(help),
                  QString::fromLatin1(valueName), QString::fromLatin1(def));
              parser.addOption(option);
          };
    value("data", "The data folder (one sub-folder per class).", "DIR", "");
    value("input-size", "Output image side in pixels.", "N", "224");
    value("channels", "1 (gray) or 3 (RGB).", "C", "3");
    value("batch-size", "Images per batch.", "N", "256");
    value("workers", "Decode threads.", "N", "2");
    value("epochs", "Passes over the data.", "N", "1");
    value("queue-depth", "Batches decoded ahead.", "N", "4");
    value("chunk",
        "Images a decode thread claims at a time (0: automatic; >= batch size: whole batches).",
        "N", "0");
    value(
        "cache-dir", "Folder of the decoded cache (default: the user's cache folder).", "DIR", "");
    value("cache-budget-mib",
        "Most pixel bytes the decoded cache may hold, MiB (default: a quarter of RAM).", "N", "0");
    value("seed", "Shuffle and augmentation seed.", "N", "42");
    const QCommandLineOption cache(QStringLiteral("cache"),
        QStringLiteral("Use the decoded cache (filled in the first epoch)."));
    const QCommandLineOption noAugment(
        QStringLiteral("no-augment"), QStringLiteral("No random crop and flip."));
    const QCommandLineOption noRecycle(
        QStringLiteral("no-recycle"), QStringLiteral("Allocate every batch buffer afresh."));
    const QCommandLineOption noRegion(QStringLiteral("no-region-decode"),
        QStringLiteral("Decode JPEGs whole with OpenCV instead of libjpeg-turbo's crop window."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON line."));
    for (const QCommandLineOption &o : { cache, noAugment, noRecycle, noRegion, json })
        parser.addOption(o);
    if (const auto code = parseArguments(
            parser, QStringLiteral("bench-loader"), QStringLiteral("--data DIR [options]"), args))
        return *code;
    if (parser.value(QStringLiteral("data")).isEmpty())
        return fail(QStringLiteral("bench-loader needs --data DIR"), Usage);

    QString error;
    std::optional<int> numbers[9];
    const char *names[9] = { "input-size", "channels", "batch-size", "workers", "epochs",
        "queue-depth", "chunk", "cache-budget-mib", "seed" };
    for (int i = 0; i < 9; ++i) {
        numbers[i] = intOption(parser, QString::fromLatin1(names[i]), &error);
        if (!numbers[i])
            return fail(error, Usage);
    }
    const int inputSize = *numbers[0], channels = *numbers[1], batchSize = *numbers[2],
              workers = *numbers[3];
    const int epochs = *numbers[4], queueDepth = *numbers[5], chunk = *numbers[6],
              budgetMiB = *numbers[7];
    if (inputSize < 1 || (channels != 1 && channels != 3) || batchSize < 1 || workers < 1
        || epochs < 1 || queueDepth < 1 || chunk < 0 || budgetMiB < 0)
        return fail(
            QStringLiteral(
                "bench-loader: sizes, counts and epochs must be positive, --channels 1 or 3"),
            Usage);

    const std::optional<DatasetIndex> index
        = scanDataset(parser.value(QStringLiteral("data")), {}, &error);
    if (!index)
        return fail(error);
    std::vector<Sample> samples = samplesOf(*index);
    if (samples.empty())
        return fail(
            QStringLiteral("no valid images in %1").arg(parser.value(QStringLiteral("data"))));

    LoaderOptions lo;
    lo.decode.inputSize = inputSize;
    lo.decode.channels = channels;
    lo.decode.augment = !parser.isSet(noAugment);
    lo.decode.regionDecode = !parser.isSet(noRegion);
    for (int c = 0; c < 3; ++c) { // ImageNet statistics, as the torchvision baseline uses
        const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
        lo.decode.mean[c] = channels == 1 ? 0.5f : mean[c];
        lo.decode.std[c] = channels == 1 ? 0.5f : std[c];
    }
    lo.batchSize = batchSize;
    lo.workers = workers;
    lo.queueDepth = queueDepth;
    lo.chunkSize = chunk;
    lo.recycleBuffers = !parser.isSet(noRecycle);
    lo.seed = static_cast<std::uint64_t>(*numbers[8]);
    if (parser.isSet(cache)) {
        DecodedCacheKey key { inputSize, channels, lo.decode.augment };
        QString dir = parser.value(QStringLiteral("cache-dir"));
        if (dir.isEmpty())
            dir = DecodedCache::defaultDirectory();
        const std::int64_t budget
            = budgetMiB > 0 ? std::int64_t(budgetMiB) << 20 : DecodedCache::defaultBudgetBytes();
        lo.cache = DecodedCache::open(QDir(dir).filePath(DecodedCache::fileNameFor(samples, key)),
            samples, key, budget, &error);
        if (!lo.cache)
            return fail(error);
    }
    const bool cacheReused = lo.cache && lo.cache->reused();

    StreamingLoader loader(std::move(samples), lo);
    QJsonArray perEpoch;
    std::int64_t images = 0, laterImages = 0;
    double seconds = 0.0, laterSeconds = 0.0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        QElapsedTimer timer;
        timer.start();
        loader.startEpoch(epoch);
        std::int64_t n = 0;
        while (std::optional<Batch> batch = loader.next())
            n += batch->images.size(0);
        const double s = double(timer.nsecsElapsed()) / 1e9;
        images += n;
        seconds += s;
        if (epoch > 0) {
            laterImages += n;
            laterSeconds += s;
        }
        perEpoch.append(s > 0 ? double(n) / s : 0.0);
        if (!parser.isSet(json))
            printOut(QStringLiteral("epoch %1: %2 images in %3 s, %4 images/s\n")
                         .arg(epoch + 1)
                         .arg(n)
                         .arg(s, 0, 'f', 2)
                         .arg(s > 0 ? double(n) / s : 0.0, 0, 'f', 0));
    }

    QJsonObject out;
    out[QStringLiteral("images_per_sec")] = seconds > 0 ? double(images) / seconds : 0.0;
    out[QStringLiteral("images")] = double(images);
    out[QStringLiteral("seconds")] = seconds;
    out[QStringLiteral("epochs_images_per_sec")] = perEpoch;
    out[QStringLiteral("later_epochs_images_per_sec")]
        = laterSeconds > 0 ? double(laterImages) / laterSeconds : 0.0;
    out[QStringLiteral("workers")] = workers;
    out[QStringLiteral("batch_size")] = batchSize;
    out[QStringLiteral("input_size")] = inputSize;
    out[QStringLiteral("channels")] = channels;
    out[QStringLiteral("augment")] = lo.decode.augment;
    out[QStringLiteral("skipped")] = double(loader.skippedTotal());
    out[QStringLiteral("cache")] = bool(lo.cache);
    out[QStringLiteral("cache_reused")] = cacheReused;
    out[QStringLiteral("cached_images")] = lo.cache ? double(lo.cache->cachedCount()) : 0.0;
    out[QStringLiteral("cache_bytes")] = lo.cache ? double(lo.cache->bytesUsed()) : 0.0;
    out[QStringLiteral("peak_rss_bytes")] = double(hostPeakRssBytes());
    if (parser.isSet(json)) {
        printOut(jsonLine(out));
    } else {
        printOut(QStringLiteral("%1 images in %2 s: %3 images/s (%4 workers, batch %5)\n")
                     .arg(images)
                     .arg(seconds, 0, 'f', 2)
                     .arg(out[QStringLiteral("images_per_sec")].toDouble(), 0, 'f', 0)
                     .arg(workers)
                     .arg(batchSize));
        if (lo.cache)
            printOut(QStringLiteral("decoded cache %1: %2 of %3 images, %4 MiB%5\n")
                         .arg(lo.cache->path())
                         .arg(lo.cache->cachedCount())
                         .arg(lo.cache->sampleCount())
                         .arg(double(lo.cache->bytesUsed()) / 1048576.0, 0, 'f', 0)
                         .arg(cacheReused ? QStringLiteral(" (reused)") : QString()));
    }
    return Ok;
}

} // namespace leantune::cli
