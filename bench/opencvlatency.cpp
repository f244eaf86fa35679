// leantune-opencv-latency: times ONNX files in OpenCV DNN on the CPU, as bench/ort-latency.js does
// in ONNX Runtime: median and p90 of batch 1 and batch 32 on random [0, 1] input, 2 threads by
// default, the files interleaved run by run so machine load hits them alike. A file OpenCV does not
// load is listed with the importer's error. --profile adds each file's time by layer type at batch
// 32 (cv::dnn::Net::getPerfProfile after the timed runs).
//
//   leantune-opencv-latency [--threads N] [--runs N] [--size S] [--channels C] [--profile]
//                           FILE.onnx...

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <map>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Model {
    std::string file;
    cv::dnn::Net net;
    std::string error;
    std::vector<double> ms[2];
};

double at(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, std::size_t(p * double(v.size())))];
}

} // namespace

int main(int argc, char **argv)
{
    int threads = 2, runs = 10, size = 224, channels = 1;
    bool profile = false;
    std::vector<Model> models;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (a == "--runs" && i + 1 < argc)
            runs = std::atoi(argv[++i]);
        else if (a == "--size" && i + 1 < argc)
            size = std::atoi(argv[++i]);
        else if (a == "--channels" && i + 1 < argc)
            channels = std::atoi(argv[++i]);
        else if (a == "--profile")
            profile = true;
        else
            models.push_back({ a, {}, {}, {} });
    }
    if (models.empty() || runs < 3 || threads < 1) {
        std::fprintf(stderr,
            "usage: leantune-opencv-latency [--threads N] [--runs N>=3] [--size S] [--channels C] "
            "FILE.onnx...\n");
        return 2;
    }
    cv::setNumThreads(threads);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    for (Model &m : models) {
        try {
            m.net = cv::dnn::readNetFromONNX(m.file);
        } catch (const cv::Exception &e) {
            m.error = e.what();
            const auto line = m.error.find("Node [");
            m.error = m.error.substr(line == std::string::npos ? 0 : line, 240);
            std::replace(m.error.begin(), m.error.end(), '\n', ' ');
        }
    }
    const int batches[2] = { 1, 32 };
    cv::RNG rng(1);
    for (int b = 0; b < 2; ++b) {
        const int shape[4] = { batches[b], channels, size, size };
        cv::Mat x(4, shape, CV_32F);
        rng.fill(x, cv::RNG::UNIFORM, 0.0, 1.0);
        const int n = b == 0 ? runs : std::max(3, runs / 2);
        for (int r = -1; r < n; ++r) { // run -1 warms up
            for (Model &m : models) {
                if (!m.error.empty())
                    continue;
                const auto t0 = std::chrono::steady_clock::now();
                m.net.setInput(x);
                cv::Mat y = m.net.forward();
                const double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0)
                                      .count();
                if (r >= 0)
                    m.ms[b].push_back(ms);
            }
        }
    }
    double load[3] = { 0, 0, 0 };
    if (FILE *f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        std::fclose(f);
    }
    std::printf("OpenCV DNN %s, CPU, %d threads, %d runs at batch 1, %d at batch 32 "
                "(interleaved), load average %.2f\n",
        CV_VERSION, threads, runs, std::max(3, runs / 2), load[0]);
    const double base1 = models.front().error.empty() ? at(models.front().ms[0], 0.5) : 0.0;
    const double base32 = models.front().error.empty() ? at(models.front().ms[1], 0.5) : 0.0;
    for (const Model &m : models) {
        if (!m.error.empty()) {
            std::printf("%-40s does not load: %s\n", m.file.c_str(), m.error.c_str());
            continue;
        }
        const double b1 = at(m.ms[0], 0.5), b32 = at(m.ms[1], 0.5);
        std::printf("%-40s b1 median %.2f p90 %.2f ms (%.2fx)  b32 median %.2f p90 %.2f ms "
                    "(%.2fx)\n",
            m.file.c_str(), b1, at(m.ms[0], 0.9), base1 > 0 ? base1 / b1 : 0.0, b32,
            at(m.ms[1], 0.9), base32 > 0 ? base32 / b32 : 0.0);
    }
    for (Model &m : models) {
        if (!profile || !m.error.empty())
            continue;
        // The last forward was at batch 32: its time per layer, summed by layer type.
        std::vector<double> timings;
        const double total
            = double(m.net.getPerfProfile(timings)) * 1000.0 / cv::getTickFrequency();
        std::map<std::string, double> byType;
        const std::vector<std::string> names = m.net.getLayerNames();
        for (std::size_t i = 0; i < timings.size() && i < names.size(); ++i) {
            const cv::Ptr<cv::dnn::Layer> layer = m.net.getLayer(names[i]);
            byType[layer ? layer->type : std::string("?")]
                += timings[i] * 1000.0 / cv::getTickFrequency();
        }
        std::printf("%s: %.1f ms at batch 32 by layer type:", m.file.c_str(), total);
        for (const auto &item : byType)
            std::printf(" %s %.1f", item.first.c_str(), item.second);
        std::printf("\n");
    }
    return 0;
}
