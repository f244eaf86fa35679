#include "guibench.h"

#include "../tests/guitestdata.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QGuiApplication>
#include <QJsonDocument>
#include <QThread>

#include <algorithm>
#include <cstdio>

namespace leantune::guibench {

CommonOptions::CommonOptions(QCommandLineParser &parser, const QString &perClassDefault)
    : perClass(QStringLiteral("per-class"), QStringLiteral("Images per class (10 classes, 28 px)."),
        QStringLiteral("N"), perClassDefault)
    , limit(QStringLiteral("limit-ms"), QStringLiteral("Largest acceptable p99 delay."),
          QStringLiteral("MS"), QStringLiteral("50"))
    , json(QStringLiteral("json"), QStringLiteral("Also write the result to FILE."),
          QStringLiteral("FILE"))
{
    parser.addOptions({ perClass, limit, json });
}

void isolateSettings(const QTemporaryDir &dir)
{
    QCoreApplication::setOrganizationName(QStringLiteral("LeanTuneBench"));
    QCoreApplication::setApplicationName(QStringLiteral("LeanTuneBench"));
    qputenv("XDG_CONFIG_HOME", dir.filePath(QStringLiteral("config")).toUtf8());
    qputenv("LEANTUNE_DATA_DIR", dir.filePath(QStringLiteral("userdata")).toUtf8());
}

void writeDataSet(const QString &data, int perClass)
{
    std::fprintf(stderr, "writing the data set...\n");
    guitestdata::writeImageFolder(data, 10, perClass, 28);
}

RunConfig benchRun(const QString &data, const QString &out)
{
    RunConfig config;
    config.dataDir = data;
    config.outDir = out;
    config.model.inputSize = 28;
    config.batchSize = 64;
    config.device = QStringLiteral("cpu");
    config.threads = 0; // every core
    config.workers = 2;
    return config;
}

TickProbe::TickProbe()
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(10);
    QObject::connect(&m_timer, &QTimer::timeout, [this] {
        const qint64 now = m_clock.nsecsElapsed();
        m_delaysMs.push_back(std::max(0.0, double(now - m_last) / 1e6 - 10.0));
        m_last = now;
    });
}

void TickProbe::start()
{
    m_clock.start();
    m_last = 0;
    m_timer.start();
}

int report(QJsonObject result, const std::vector<double> &delaysMs, double limitMs,
    const QString &jsonFile)
{
    if (delaysMs.empty()) {
        std::fprintf(stderr, "no measurement\n");
        return 2;
    }
    std::vector<double> sorted = delaysMs;
    std::sort(sorted.begin(), sorted.end());
    const auto pct = [&](double p) {
        return sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size() - 1) + 0.5))];
    };
    result.insert(QStringLiteral("platform"), QGuiApplication::platformName());
    result.insert(QStringLiteral("cores"), QThread::idealThreadCount());
    result.insert(QStringLiteral("ticks"), qint64(delaysMs.size()));
    result.insert(QStringLiteral("delay_ms_p50"), pct(0.50));
    result.insert(QStringLiteral("delay_ms_p95"), pct(0.95));
    result.insert(QStringLiteral("delay_ms_p99"), pct(0.99));
    result.insert(QStringLiteral("delay_ms_max"), sorted.back());
    result.insert(QStringLiteral("limit_ms"), limitMs);
    const QByteArray text = QJsonDocument(result).toJson(QJsonDocument::Indented);
    std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
    if (!jsonFile.isEmpty()) {
        QFile f(jsonFile);
        if (f.open(QIODevice::WriteOnly))
            f.write(text);
    }
    return pct(0.99) <= limitMs ? 0 : 1;
}

} // namespace leantune::guibench
