// leantune-make-jpeg-dataset: writes a deterministic JPEG image folder for benchmarks and GPU
// checks. Each class has its own palette and shape family drawn over a smooth gradient with fine
// texture, so the images have real structure (edges, gradients, texture) - neither flat colour nor
// pure noise - and decode at realistic cost. Usage: leantune-make-jpeg-dataset OUTDIR [--classes N]
// [--per-class N]
//        [--width W] [--height H] [--quality Q] [--seed S] [--class-index K]

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

int usage()
{
    std::fprintf(stderr,
        "usage: leantune-make-jpeg-dataset OUTDIR [--classes N] [--per-class N] [--width W] "
        "[--height H] [--quality Q] [--seed S] [--class-index K]\n");
    return 2;
}

cv::Mat makeImage(int cls, int width, int height, std::mt19937 &rng)
{
    std::uniform_real_distribution<double> u(0.0, 1.0);
    // Class palette: two base hues per class.
    const double hue = (cls * 37 % 180);
    cv::Mat hsv(height, width, CV_8UC3);
    const double angle = u(rng) * CV_PI;
    const double gx = std::cos(angle), gy = std::sin(angle);
    for (int y = 0; y < height; ++y) {
        auto *row = hsv.ptr<cv::Vec3b>(y);
        for (int x = 0; x < width; ++x) {
            const double t = (gx * x / width + gy * y / height) * 0.5 + 0.5;
            row[x] = cv::Vec3b(
                uchar(int(hue + 20 * t) % 180), uchar(80 + 100 * t), uchar(90 + 120 * (1 - t)));
        }
    }
    cv::Mat img;
    cv::cvtColor(hsv, img, cv::COLOR_HSV2BGR);
    const int shapes = 6 + int(u(rng) * 10);
    for (int i = 0; i < shapes; ++i) {
        const cv::Point c(int(u(rng) * width), int(u(rng) * height));
        const cv::Scalar colour(u(rng) * 255, u(rng) * 255, u(rng) * 255);
        const int r = 10 + int(u(rng) * std::min(width, height) / 4);
        switch ((cls + i) % 4) {
        case 0:
            cv::circle(img, c, r, colour, -1, cv::LINE_AA);
            break;
        case 1:
            cv::rectangle(img, cv::Rect(c.x - r, c.y - r / 2, 2 * r, r), colour, -1, cv::LINE_AA);
            break;
        case 2:
            cv::ellipse(img, c, cv::Size(r, r / 3), u(rng) * 180, 0, 360, colour, -1, cv::LINE_AA);
            break;
        default:
            cv::line(img, c, cv::Point(int(u(rng) * width), int(u(rng) * height)), colour,
                2 + int(u(rng) * 6), cv::LINE_AA);
        }
    }
    // Fine texture, as in photographs (sensor noise, foliage, fabric).
    cv::Mat noise(height, width, CV_16SC3), wide, out;
    cv::theRNG().state = rng();
    cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(12));
    img.convertTo(wide, CV_16SC3);
    wide += noise;
    wide.convertTo(out, CV_8UC3); // saturates to 0..255
    cv::GaussianBlur(out, out, cv::Size(3, 3), 0.6);
    return out;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    std::string out = argv[1];
    int classes = 10, perClass = 100, width = 500, height = 375, quality = 90;
    unsigned seed = 1;
    int only = -1; // --class-index K: write only class K (for parallel generation)
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const int v = std::atoi(argv[i + 1]);
        if (k == "--classes")
            classes = v;
        else if (k == "--per-class")
            perClass = v;
        else if (k == "--width")
            width = v;
        else if (k == "--height")
            height = v;
        else if (k == "--quality")
            quality = v;
        else if (k == "--seed")
            seed = unsigned(v);
        else if (k == "--class-index")
            only = v;
        else
            return usage();
    }
    if (classes < 2 || perClass < 1 || width < 8 || height < 8 || quality < 1 || quality > 100)
        return usage();
    std::error_code ec;
    for (int c = 0; c < classes; ++c) {
        if (only >= 0 && c != only)
            continue;
        char name[32];
        std::snprintf(name, sizeof name, "class%02d", c);
        const std::filesystem::path dir = std::filesystem::path(out) / name;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            std::fprintf(stderr, "leantune-make-jpeg-dataset: cannot create %s: %s\n", dir.c_str(),
                ec.message().c_str());
            return 1;
        }
        std::mt19937 rng(seed * 1000003u + unsigned(c));
        for (int i = 0; i < perClass; ++i) {
            char file[32];
            std::snprintf(file, sizeof file, "%05d.jpg", i);
            const cv::Mat img = makeImage(c, width, height, rng);
            if (!cv::imwrite((dir / file).string(), img, { cv::IMWRITE_JPEG_QUALITY, quality })) {
                std::fprintf(
                    stderr, "leantune-make-jpeg-dataset: cannot write %s\n", (dir / file).c_str());
                return 1;
            }
        }
    }
    std::printf("wrote %d classes x %d JPEGs (%dx%d, quality %d) to %s\n", classes, perClass, width,
        height, quality, out.c_str());
    return 0;
}
