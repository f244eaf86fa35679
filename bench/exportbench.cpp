// leantune-export-bench: exports a dense run and a channel-pruned run to ONNX (the second with
// --structured), then times CPU batch-1 inference of both files side by side in OpenCV DNN.
//
//   leantune-export-bench DENSE_RUNDIR STRUCTURED_RUNDIR [--iterations N] [--threads N] [--limit N]
//
// Both models run in alternating rounds of N/10 images, so machine load hits them alike; the figure
// is the median per-image latency over all rounds. OpenCV runs with --threads threads (default 1).

#include "export/exporter.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTextStream>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace leantune;

namespace {

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QStringList args = app.arguments().mid(1);
    int iterations = 2000, threads = 1, limit = 2000;
    QStringList runs;
    for (int i = 0; i < args.size(); ++i) {
        if (args[i] == QLatin1String("--iterations") && i + 1 < args.size())
            iterations = args[++i].toInt();
        else if (args[i] == QLatin1String("--threads") && i + 1 < args.size())
            threads = args[++i].toInt();
        else if (args[i] == QLatin1String("--limit") && i + 1 < args.size())
            limit = args[++i].toInt();
        else
            runs << args[i];
    }
    if (runs.size() != 2 || iterations < 10 || threads < 1) {
        std::fprintf(stderr,
            "usage: leantune-export-bench DENSE_RUNDIR STRUCTURED_RUNDIR [--iterations N>=10] "
            "[--threads N] [--limit N]\n");
        return 2;
    }
    QTemporaryDir tmp;
    QTextStream out(stdout);
    struct Model {
        QString name;
        ExportReport report;
        cv::dnn::Net net;
        std::vector<double> ms;
    };
    std::vector<Model> models;
    for (int k = 0; k < 2; ++k) {
        ExportOptions o;
        o.structured = k == 1;
        o.limit = limit;
        o.outFile = tmp.filePath(
            k == 0 ? QStringLiteral("dense.onnx") : QStringLiteral("structured.onnx"));
        QString error;
        const std::optional<ExportReport> report = exportRun(runs[k], o, &error);
        if (!report) {
            std::fprintf(
                stderr, "leantune-export-bench: %s: %s\n", qPrintable(runs[k]), qPrintable(error));
            return 1;
        }
        Model m { k == 0 ? QStringLiteral("dense") : QStringLiteral("structured"), *report,
            cv::dnn::readNetFromONNX(o.outFile.toStdString()), {} };
        m.net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        m.net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        models.push_back(std::move(m));
    }
    cv::setNumThreads(threads);
    const ExportReport &r0 = models[0].report;
    const int sizes[] = { 1, r0.channels, r0.inputSize, r0.inputSize };
    cv::Mat input(4, sizes, CV_32F);
    cv::RNG rng(1);
    rng.fill(input, cv::RNG::UNIFORM, 0.0, 1.0);
    for (Model &m : models) { // warm-up
        for (int i = 0; i < 50; ++i) {
            m.net.setInput(input);
            m.net.forward();
        }
    }
    const int round = std::max(1, iterations / 10);
    for (int done = 0; done < iterations; done += round) {
        for (Model &m : models) {
            QElapsedTimer t;
            for (int i = 0; i < round; ++i) {
                t.start();
                m.net.setInput(input);
                m.net.forward();
                m.ms.push_back(double(t.nsecsElapsed()) / 1e6);
            }
        }
    }
    out << "OpenCV DNN " << CV_VERSION << ", CPU, batch 1, " << threads << " thread(s), "
        << iterations << " images per model\n";
    for (const Model &m : models) {
        out << QStringLiteral("%1  parameters %2 (%3% of dense %4)  file %5 bytes  accuracy %6%  "
                              "median %7 ms/image\n")
                   .arg(m.name.leftJustified(10))
                   .arg(m.report.size.parameters)
                   .arg(100.0 * double(m.report.size.parameters)
                           / double(models[0].report.size.parameters),
                       0, 'f', 1)
                   .arg(models[0].report.size.parameters)
                   .arg(m.report.size.fileBytes)
                   .arg(m.report.accuracyAfter * 100.0, 0, 'f', 2)
                   .arg(median(m.ms), 0, 'f', 4);
    }
    out << QStringLiteral("speed-up structured vs dense: %1x\n")
               .arg(median(models[0].ms) / median(models[1].ms), 0, 'f', 2);
    return 0;
}
