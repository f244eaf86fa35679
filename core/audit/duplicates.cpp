#include "audit/duplicates.h"

#include "dataset/imagedecoder_p.h"

#include <hnswlib/hnswlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <QCryptographicHash>
#include <QHash>
#include <QThread>

#include <algorithm>
#include <condition_variable>
#include <array>
#include <cmath>
#include <cstring>
#include <chrono>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

namespace leantune {

namespace {

constexpr int kThumb = 32; // side of the gray thumbnail near duplicates are confirmed on
constexpr int kThumbPixels = kThumb * kThumb;
constexpr double kThumbBlur = 0.6; // Gaussian sigma, thumbnail pixels
// The perceptual descriptor: pHash's 8 × 8 lowest DCT frequencies of the 32 × 32 thumbnail, kept as
// real values rather than bits against their median (Fashion-MNIST's bits cluster: bench/README),
// without the mean (DC), at unit length (a brightness gain leaves it unchanged), and of the
// thumbnail moved so that its centre of mass is its centre (a shift of a few pixels leaves it
// almost unchanged). 64 floats, the DC slot zero, so hnswlib takes its 16-float SIMD path.
constexpr int kDctSide = 8;
constexpr int kDescriptor = kDctSide * kDctSide;

// The index's distance: squared Euclidean over the kDescriptor floats, with AVX2 and FMA where the
// CPU has them (the build targets plain x86-64, where hnswlib takes its SSE kernel): the distance
// is most of the index build (bench/README).
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) float squaredDistanceAvx2(
    const void *pa, const void *pb, const void *)
{
    const auto *a = static_cast<const float *>(pa);
    const auto *b = static_cast<const float *>(pb);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (int k = 0; k < kDescriptor; k += 16) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    const __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_hadd_ps(h, h);
    h = _mm_hadd_ps(h, h);
    return _mm_cvtss_f32(h);
}
#endif

class DescriptorSpace : public hnswlib::SpaceInterface<float> {
public:
    DescriptorSpace()
        : base_(kDescriptor)
        , distance_(base_.get_dist_func())
    {
        static_assert(kDescriptor % 16 == 0, "the AVX2 kernel takes 16 floats a step");
#if defined(__x86_64__) && defined(__GNUC__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            distance_ = squaredDistanceAvx2;
#endif
    }
    std::size_t get_data_size() override
    {
        return base_.get_data_size();
    }
    hnswlib::DISTFUNC<float> get_dist_func() override
    {
        return distance_;
    }
    void *get_dist_func_param() override
    {
        return base_.get_dist_func_param();
    }
    float distance(const void *a, const void *b)
    {
        return distance_(a, b, get_dist_func_param());
    }

private:
    hnswlib::L2Space base_;
    hnswlib::DISTFUNC<float> distance_;
};

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

struct Item {
    QString path;
    AuditSplit split = AuditSplit::Train;
    QString label;
    const ImageEntry *entry = nullptr;
};

// What a candidate pair is confirmed with, computed from a second decoding of the image (not kept
// for every image: the audit's memory stays near the descriptor and the index node an image).
struct Detail {
    bool ok = false;
    bool hasThumb = false;
    std::array<std::uint8_t, kThumbPixels> thumb {}; // gray, blurred (see blurThumb)
    // An image of at most kThumb × kThumb pixels, also kept at its own size (gray): a one-pixel
    // shift of a small image is compared exactly there, without resampling.
    std::vector<std::uint8_t> native;
    int nativeWidth = 0;
    int nativeHeight = 0;
    // Centres of mass (see centreOfMass) of the native image and of the thumbnail: their
    // difference between two images is the offset a shifted copy is compared at.
    double nativeX = 0.0, nativeY = 0.0;
    double thumbX = 0.0, thumbY = 0.0;
    // The native image's row and column sums: their best lag between two images is the other
    // offset tried (the centre of mass misjudges a shift that cuts content off at the border).
    std::vector<std::int32_t> rowSums, columnSums;
};

// IMAGE's centre of mass (8-bit gray), the mass of a pixel being its distance from the background
// level, the median of the border pixels (so a dark object on white is centred as well as a light
// one on black). False for a flat image.
bool centreOfMass(const cv::Mat &image, double *cx, double *cy, double *background)
{
    // The median, not the mean: an object that touches the border (a sandal's sole) would pull the
    // mean, and a one-pixel shift that brings in a row of background would move it. Counted in a
    // histogram; the sums in integers (exact, as the doubles they replace).
    std::array<int, 256> histogram {};
    int count = 0;
    for (int x = 0; x < image.cols; ++x) {
        ++histogram[image.ptr<uchar>(0)[x]];
        ++histogram[image.ptr<uchar>(image.rows - 1)[x]];
        count += 2;
    }
    for (int y = 1; y + 1 < image.rows; ++y) {
        ++histogram[image.ptr<uchar>(y)[0]];
        ++histogram[image.ptr<uchar>(y)[image.cols - 1]];
        count += 2;
    }
    int median = 0;
    for (int seen = 0; median < 255; ++median) {
        seen += histogram[std::size_t(median)];
        if (seen > count / 2)
            break;
    }
    const int level = count > 0 ? median : 0;
    std::int64_t mass = 0, mx = 0, my = 0;
    for (int y = 0; y < image.rows; ++y) {
        const uchar *p = image.ptr<uchar>(y);
        std::int64_t row = 0, rowX = 0;
        for (int x = 0; x < image.cols; ++x) {
            const int w = std::abs(int(p[x]) - level);
            row += w;
            rowX += w * x;
        }
        mass += row;
        mx += rowX;
        my += row * y;
    }
    *background = level;
    *cx = mass > 0 ? double(mx) / double(mass) : (image.cols - 1) / 2.0;
    *cy = mass > 0 ? double(my) / double(mass) : (image.rows - 1) / 2.0;
    return mass > 0;
}

// Small fixed-size filters written out rather than OpenCV's warpAffine, dct and GaussianBlur, whose
// call overhead on a 32 × 32 image outweighs the arithmetic (the whole audit: 6 % less CPU).

// The orthonormal DCT-II basis (as cv::dct), its kDctSide lowest frequencies over kThumb samples.
struct DctBasis {
    float at[kDctSide][kThumb];
    DctBasis()
    {
        const double pi = 3.14159265358979323846;
        for (int u = 0; u < kDctSide; ++u) {
            const double scale = std::sqrt((u == 0 ? 1.0 : 2.0) / kThumb);
            for (int n = 0; n < kThumb; ++n)
                at[u][n] = float(scale * std::cos(pi * (2 * n + 1) * u / (2.0 * kThumb)));
        }
    }
};

// Moves the kThumb × kThumb image IN by (DX, DY) pixels into OUT, bilinear, BACKGROUND outside (as
// cv::warpAffine with a translation and a constant border).
void translate(const float *in, float *out, double dx, double dy, float background)
{
    float rows[kThumbPixels];
    const auto taps = [](double shift, int *first, float *weight) {
        const double start = -shift; // source coordinate of output 0
        const double base = std::floor(start);
        *first = int(base);
        *weight = float(start - base); // of the second tap
    };
    int x0 = 0, y0 = 0;
    float wx = 0.0f, wy = 0.0f;
    taps(dx, &x0, &wx);
    taps(dy, &y0, &wy);
    const auto sample
        = [&](const float *line, int i) { return i >= 0 && i < kThumb ? line[i] : background; };
    for (int y = 0; y < kThumb; ++y) {
        const float *line = in + y * kThumb;
        for (int x = 0; x < kThumb; ++x)
            rows[y * kThumb + x]
                = (1.0f - wx) * sample(line, x + x0) + wx * sample(line, x + x0 + 1);
    }
    for (int y = 0; y < kThumb; ++y) {
        const int a = y + y0, b = y + y0 + 1;
        for (int x = 0; x < kThumb; ++x) {
            const float va = a >= 0 && a < kThumb ? rows[a * kThumb + x] : background;
            const float vb = b >= 0 && b < kThumb ? rows[b * kThumb + x] : background;
            out[y * kThumb + x] = (1.0f - wy) * va + wy * vb;
        }
    }
}

// Blurs the kThumb × kThumb 8-bit IMAGE in place with a Gaussian of sigma kThumbBlur (5 taps,
// borders reflected as cv::GaussianBlur's default).
void blurThumb(std::uint8_t *image)
{
    static const std::array<float, 5> kernel = [] {
        std::array<float, 5> k {};
        float sum = 0.0f;
        for (int i = 0; i < 5; ++i) {
            k[std::size_t(i)]
                = float(std::exp(-(i - 2) * (i - 2) / (2.0 * kThumbBlur * kThumbBlur)));
            sum += k[std::size_t(i)];
        }
        for (float &v : k)
            v /= sum;
        return k;
    }();
    const auto reflect = [](int i) { return i < 0 ? -i : (i >= kThumb ? 2 * kThumb - 2 - i : i); };
    float rows[kThumbPixels];
    for (int y = 0; y < kThumb; ++y) {
        for (int x = 0; x < kThumb; ++x) {
            float v = 0.0f;
            for (int k = 0; k < 5; ++k)
                v += kernel[std::size_t(k)] * image[y * kThumb + reflect(x + k - 2)];
            rows[y * kThumb + x] = v;
        }
    }
    for (int y = 0; y < kThumb; ++y) {
        for (int x = 0; x < kThumb; ++x) {
            float v = 0.0f;
            for (int k = 0; k < 5; ++k)
                v += kernel[std::size_t(k)] * rows[reflect(y + k - 2) * kThumb + x];
            image[y * kThumb + x] = std::uint8_t(std::clamp(int(v + 0.5f), 0, 255));
        }
    }
}

// Writes THUMB's descriptor (see kDctSide) into OUT (kDescriptor floats) and THUMB's centre of
// mass into CX, CY. THUMB: kThumb × kThumb, 8-bit, continuous.
void describe(const cv::Mat &thumb, float *out, double *cx, double *cy)
{
    static const DctBasis basis;
    double background = 0.0;
    const bool massive = centreOfMass(thumb, cx, cy, &background);
    float pixels[kThumbPixels];
    for (int i = 0; i < kThumbPixels; ++i)
        pixels[i] = thumb.data[i];
    float centred[kThumbPixels];
    if (massive)
        translate(
            pixels, centred, (kThumb - 1) / 2.0 - *cx, (kThumb - 1) / 2.0 - *cy, float(background));
    else
        std::memcpy(centred, pixels, sizeof pixels);
    // The 8 × 8 lowest coefficients of the 2-D DCT: basis · image · basisᵀ.
    float half[kDctSide][kThumb];
    for (int u = 0; u < kDctSide; ++u) {
        for (int x = 0; x < kThumb; ++x)
            half[u][x] = 0.0f;
        for (int y = 0; y < kThumb; ++y) {
            const float w = basis.at[u][y];
            for (int x = 0; x < kThumb; ++x)
                half[u][x] += w * centred[y * kThumb + x];
        }
    }
    double norm = 0.0;
    for (int u = 0; u < kDctSide; ++u) {
        for (int v = 0; v < kDctSide; ++v) {
            float c = 0.0f;
            for (int x = 0; x < kThumb; ++x)
                c += half[u][x] * basis.at[v][x];
            c = (u == 0 && v == 0) ? 0.0f : c;
            out[u * kDctSide + v] = c;
            norm += double(c) * c;
        }
    }
    // A flat image has no direction: its descriptor stays zero, near other flat images.
    const float scale = norm > 1e-12 ? float(1.0 / std::sqrt(norm)) : 0.0f;
    for (int k = 0; k < kDescriptor; ++k)
        out[k] *= scale;
}

// True when every pixel of a 3-channel image has equal channels: it is hashed as gray, so a gray
// image saved as RGB is still the same image.
bool channelsEqual(const StoredImage &image)
{
    const std::uint8_t *p = image.pixels.data();
    const std::size_t n = image.pixels.size();
    for (std::size_t i = 0; i + 2 < n; i += 3) {
        if (p[i] != p[i + 1] || p[i] != p[i + 2])
            return false;
    }
    return true;
}

// ITEM decoded at its own size (8 bits, gray or BGR, alpha dropped) with the data loader's decoder,
// checks and limits, and its gray form.
struct Decoded {
    StoredImage image;
    cv::Mat mat, gray;
    bool asGray = false; // a colour image whose channels are equal counts as gray
};

bool decodeItem(const Item &item, const DuplicateOptions &options, Decoded *out, QString *error)
{
    // The decoder's stored form with augmentation keeps an image whose shorter side is at most
    // inputSize / 0.8 at its own size, undecimated: with inputSize = the shorter side, that is
    // every image, decoded whole under the loader's checks and limits.
    // A one-channel file is decoded as gray: the same pixels as its colour form's equal channels.
    DecodeOptions decode;
    decode.channels = item.entry->channels == 1 ? 1 : 3;
    decode.augment = true;
    decode.inputSize = std::max(1, std::min(item.entry->width, item.entry->height));
    decode.maxDecodedBytes = options.maxDecodedBytes;
    if (!decodeFileToStored(item.path, decode, &out->image, error))
        return false;
    StoredImage &image = out->image;
    out->mat = cv::Mat(
        image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3, image.pixels.data());
    out->gray = out->mat;
    out->asGray = image.channels == 1;
    if (image.channels == 3 && channelsEqual(image)) {
        cv::extractChannel(out->mat, out->gray, 0);
        out->asGray = true;
    } else if (image.channels == 3) {
        cv::cvtColor(out->mat, out->gray, cv::COLOR_BGR2GRAY);
    }
    return true;
}

// The kThumb × kThumb gray thumbnail of GRAY, into THUMB.
void makeThumb(const cv::Mat &gray, std::uint8_t *thumb)
{
    cv::Mat small(kThumb, kThumb, CV_8UC1, thumb);
    const bool shrinking = gray.cols > kThumb || gray.rows > kThumb;
    cv::resize(
        gray, small, cv::Size(kThumb, kThumb), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
}

// Decodes ITEM and writes the MD5 of its decoded pixels into DIGEST and, when DESCRIPTOR is not
// null, its descriptor (kDescriptor floats). When KEPT is not null, the gray pixels of an image of
// the scan's size (its header's) are copied there, row after row, and *KEPTHERE set. False +
// *error when it does not decode.
bool hashItem(const Item &item, const DuplicateOptions &options,
    std::array<std::uint64_t, 2> *digest, float *descriptor, std::uint8_t *kept, bool *keptHere,
    QString *error)
{
    Decoded d;
    if (!decodeItem(item, options, &d, error))
        return false;
    try {
        QCryptographicHash md5(QCryptographicHash::Md5);
        const std::int32_t shape[3] = { d.image.width, d.image.height, d.asGray ? 1 : 3 };
        md5.addData(QByteArrayView(reinterpret_cast<const char *>(shape), sizeof shape));
        const cv::Mat &hashed = d.asGray ? d.gray : d.mat;
        for (int y = 0; y < hashed.rows; ++y)
            md5.addData(QByteArrayView(reinterpret_cast<const char *>(hashed.ptr<uchar>(y)),
                qsizetype(hashed.cols) * hashed.channels()));
        const QByteArray result = md5.result();
        std::memcpy(digest->data(), result.constData(), 16);
        if (kept && d.gray.cols == item.entry->width && d.gray.rows == item.entry->height) {
            for (int y = 0; y < d.gray.rows; ++y)
                std::memcpy(kept + std::size_t(y) * std::size_t(d.gray.cols), d.gray.ptr<uchar>(y),
                    std::size_t(d.gray.cols));
            *keptHere = true;
        }
        if (descriptor) {
            std::uint8_t thumb[kThumbPixels];
            makeThumb(d.gray, thumb);
            double cx = 0.0, cy = 0.0;
            describe(cv::Mat(kThumb, kThumb, CV_8UC1, thumb), descriptor, &cx, &cy);
        }
        return true;
    } catch (const std::exception &e) {
        setError(
            error, QStringLiteral("cannot hash image: %1").arg(QString::fromLocal8Bit(e.what())));
        return false;
    }
}

// What the candidate pairs of an image with the 8-bit gray pixels GRAY are confirmed with: the
// thumbnail only when THUMB or the image is not at most kThumb × kThumb.
Detail detailOf(const cv::Mat &gray, bool thumb)
{
    Detail f;
    try {
        const bool small = gray.cols <= kThumb && gray.rows <= kThumb;
        double background = 0.0;
        if (thumb || !small) {
            makeThumb(gray, f.thumb.data());
            centreOfMass(cv::Mat(kThumb, kThumb, CV_8UC1, f.thumb.data()), &f.thumbX, &f.thumbY,
                &background);
            // Blurred a little, the thumbnail forgives JPEG noise and resampling (bench/README).
            blurThumb(f.thumb.data());
            f.hasThumb = true;
        }
        if (small) {
            f.nativeWidth = gray.cols;
            f.nativeHeight = gray.rows;
            f.native.resize(std::size_t(gray.cols) * std::size_t(gray.rows));
            centreOfMass(gray, &f.nativeX, &f.nativeY, &background);
            f.rowSums.assign(std::size_t(gray.rows), 0);
            f.columnSums.assign(std::size_t(gray.cols), 0);
            for (int y = 0; y < gray.rows; ++y) {
                const uchar *p = gray.ptr<uchar>(y);
                std::int32_t row = 0;
                for (int x = 0; x < gray.cols; ++x) {
                    row += p[x];
                    f.columnSums[std::size_t(x)] += p[x];
                }
                f.rowSums[std::size_t(y)] = row;
                std::memcpy(f.native.data() + std::size_t(y) * std::size_t(gray.cols), p,
                    std::size_t(gray.cols));
            }
        }
        f.ok = true;
    } catch (const std::exception &) {
    }
    return f;
}

// The same of ITEM decoded again. Not ok when it no longer decodes (its pairs are then not
// confirmed).
Detail detailOf(const Item &item, const DuplicateOptions &options, bool thumb)
{
    Decoded d;
    QString error;
    if (!decodeItem(item, options, &d, &error))
        return Detail();
    return detailOf(d.gray, thumb);
}

// How two WIDTH × HEIGHT gray images (at most 32 × 32) compare with B moved by (DX, DY) pixels, on
// their overlap: their Pearson correlation, and the share of pixels that differ by more than
// kOutlierLevel after the least-squares gain and offset (an edge or a print that is not in the
// other image; a JPEG copy's error stays below it). Two flat images correlate 1 when their levels
// are within 2 of 255, else 0.
constexpr int kOutlierLevel = 32;

struct Match {
    double correlation = -1.0;
    double outliers = 1.0; // share of the overlap
};

Match compareAt(const std::uint8_t *a, const std::uint8_t *b, int width, int height, int dx, int dy,
    bool countOutliers)
{
    // 32-bit sums (1,024 × 255² fits), so the compiler vectorizes the inner loop.
    std::int32_t sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, n = 0;
    const int y0 = std::max(0, -dy), y1 = height - std::max(0, dy);
    const int x0 = std::max(0, -dx), x1 = width - std::max(0, dx);
    for (int y = y0; y < y1; ++y) {
        const std::uint8_t *pa = a + std::ptrdiff_t(y) * width;
        const std::uint8_t *pb = b + std::ptrdiff_t(y + dy) * width + dx;
        for (int x = x0; x < x1; ++x) {
            const std::int32_t u = pa[x], v = pb[x];
            sa += u;
            sb += v;
            saa += u * u;
            sbb += v * v;
            sab += u * v;
        }
        n += x1 - x0;
    }
    Match m;
    if (n == 0)
        return m;
    const double va = double(saa) - double(sa) * double(sa) / double(n);
    const double vb = double(sbb) - double(sb) * double(sb) / double(n);
    const double flat = double(n); // variance below 1 grey level squared per pixel
    if (va < flat || vb < flat) {
        const bool same
            = va < flat && vb < flat && std::abs(double(sa) - double(sb)) <= 2.0 * double(n);
        m.correlation = same ? 1.0 : 0.0;
        m.outliers = same ? 0.0 : 1.0;
        return m;
    }
    const double cov = double(sab) - double(sa) * double(sb) / double(n);
    m.correlation = cov / std::sqrt(va * vb);
    if (countOutliers) {
        const double gain = cov / va;
        const double offset = (double(sb) - gain * double(sa)) / double(n);
        int outliers = 0;
        for (int y = y0; y < y1; ++y) {
            const std::uint8_t *pa = a + std::ptrdiff_t(y) * width;
            const std::uint8_t *pb = b + std::ptrdiff_t(y + dy) * width + dx;
            for (int x = x0; x < x1; ++x)
                outliers += std::abs(double(pb[x]) - gain * pa[x] - offset) > kOutlierLevel;
        }
        m.outliers = double(outliers) / double(n);
    }
    return m;
}

// The offsets (of up to one pixel) at which a copy moved by D pixels (the difference of the two
// images' centres of mass) is tried: the nearest whole offset, and the next one too unless D is
// within 0.1 of a whole pixel (content cut off at the border moves the centre less).
std::vector<int> offsetsToTry(double d)
{
    const double clamped = std::clamp(d, -1.0, 1.0);
    const int nearest = int(std::lround(clamped));
    if (std::abs(clamped - nearest) < 0.1)
        return { nearest };
    return { int(std::floor(clamped)), int(std::ceil(clamped)) };
}

// The lag (-1, 0 or 1) at which profile B best matches profile A (Pearson on the overlap).
int bestLag(const std::vector<std::int32_t> &a, const std::vector<std::int32_t> &b)
{
    int best = 0;
    double bestCorrelation = -2.0;
    const int n = int(std::min(a.size(), b.size()));
    for (int lag = -1; lag <= 1; ++lag) {
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        int count = 0;
        for (int i = std::max(0, -lag); i < n - std::max(0, lag); ++i) {
            const double u = a[std::size_t(i)], v = b[std::size_t(i + lag)];
            sa += u;
            sb += v;
            saa += u * u;
            sbb += v * v;
            sab += u * v;
            ++count;
        }
        if (count < 2)
            continue;
        const double va = saa - sa * sa / count, vb = sbb - sb * sb / count;
        const double c = va > 0 && vb > 0 ? (sab - sa * sb / count) / std::sqrt(va * vb) : 0.0;
        if (c > bestCorrelation) {
            bestCorrelation = c;
            best = lag;
        }
    }
    return best;
}

// The best match of A and B over the offsets their centres of mass suggest (SHIFTX, SHIFTY) and
// LAGX, LAGY, the outliers counted at the best offset when it correlates at least MINCORRELATION.
Match bestMatch(const std::uint8_t *a, const std::uint8_t *b, int width, int height, double shiftX,
    double shiftY, int lagX, int lagY, double minCorrelation, bool countOutliers)
{
    Match best;
    int bestX = 0, bestY = 0;
    std::vector<int> ys = offsetsToTry(shiftY), xs = offsetsToTry(shiftX);
    if (std::find(ys.begin(), ys.end(), lagY) == ys.end())
        ys.push_back(lagY);
    if (std::find(xs.begin(), xs.end(), lagX) == xs.end())
        xs.push_back(lagX);
    for (int dy : ys) {
        for (int dx : xs) {
            const Match m = compareAt(a, b, width, height, dx, dy, false);
            if (m.correlation > best.correlation) {
                best = m;
                bestX = dx;
                bestY = dy;
            }
        }
    }
    if (countOutliers && best.correlation >= minCorrelation)
        best = compareAt(a, b, width, height, bestX, bestY, true);
    return best;
}

// Whether candidates I and J are near duplicates: two small images of one size are compared
// themselves (sharper than thumbnails, which blur look-alike silhouettes together), on their
// correlation and their outlier pixels (which tell look-alike plain silhouettes apart:
// bench/README); any other pair on the correlation of their blurred thumbnails.
bool confirmed(const Detail &fi, const Detail &fj, const DuplicateOptions &options)
{
    if (!fi.ok || !fj.ok)
        return false;
    if (!fi.native.empty() && fi.nativeWidth == fj.nativeWidth
        && fi.nativeHeight == fj.nativeHeight) {
        const Match m = bestMatch(fi.native.data(), fj.native.data(), fi.nativeWidth,
            fi.nativeHeight, fj.nativeX - fi.nativeX, fj.nativeY - fi.nativeY,
            bestLag(fi.columnSums, fj.columnSums), bestLag(fi.rowSums, fj.rowSums),
            options.minNativeCorrelation, true);
        return m.correlation >= options.minNativeCorrelation
            && m.outliers <= options.maxOutlierShare;
    }
    if (!fi.hasThumb || !fj.hasThumb)
        return false;
    const int lagX = int(std::lround(std::clamp(fj.thumbX - fi.thumbX, -1.0, 1.0)));
    const int lagY = int(std::lround(std::clamp(fj.thumbY - fi.thumbY, -1.0, 1.0)));
    return bestMatch(fi.thumb.data(), fj.thumb.data(), kThumb, kThumb, fj.thumbX - fi.thumbX,
               fj.thumbY - fi.thumbY, lagX, lagY, options.minCorrelation, false)
               .correlation
        >= options.minCorrelation;
}

struct UnionFind {
    std::vector<int> parent;
    explicit UnionFind(int n)
        : parent(std::size_t(n))
    {
        std::iota(parent.begin(), parent.end(), 0);
    }
    int find(int x)
    {
        while (parent[std::size_t(x)] != x) {
            parent[std::size_t(x)] = parent[std::size_t(parent[std::size_t(x)])];
            x = parent[std::size_t(x)];
        }
        return x;
    }
    void unite(int a, int b)
    {
        a = find(a);
        b = find(b);
        if (a != b)
            parent[std::size_t(std::max(a, b))] = std::min(a, b);
    }
};

// Runs BODY(i) for i in [0, n) on THREADS threads, stopping early when CANCEL is set, and calls
// TICK(done) on the calling thread about every 50 ms. False + *error when BODY threw.
template <typename Body, typename Tick>
bool parallelFor(
    int n, int threads, const std::atomic_bool *cancel, Body body, Tick tick, QString *error)
{
    std::atomic_int next { 0 };
    std::atomic_int done { 0 };
    int running = threads; // guarded by mutex
    std::condition_variable finished;
    std::mutex mutex;
    QString failure; // guarded by mutex
    constexpr int kChunk = 64;
    const auto work = [&] {
        try {
            for (;;) {
                const int start = next.fetch_add(kChunk);
                if (start >= n || (cancel && cancel->load()))
                    break;
                const int end = std::min(n, start + kChunk);
                for (int i = start; i < end; ++i)
                    body(i);
                done.fetch_add(end - start);
            }
        } catch (const std::exception &e) {
            const std::lock_guard<std::mutex> lock(mutex);
            failure = QString::fromLocal8Bit(e.what());
            next.store(n);
        }
        const std::lock_guard<std::mutex> lock(mutex);
        if (--running == 0)
            finished.notify_one();
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back(work);
    // Woken when the last worker ends, not at the next tick: a stage's end waits for no timer.
    for (;;) {
        tick(done.load());
        std::unique_lock<std::mutex> lock(mutex);
        if (finished.wait_for(lock, std::chrono::milliseconds(50), [&] { return running == 0; }))
            break;
    }
    for (std::thread &t : pool)
        t.join();
    tick(done.load());
    if (!failure.isEmpty()) {
        setError(error, QStringLiteral("cannot compare images: %1").arg(failure));
        return false;
    }
    return true;
}

} // namespace

std::optional<DuplicateResult> findDuplicates(const std::vector<AuditSplitIndex> &splits,
    const DuplicateOptions &options, QString *error, const DuplicateProgress &progress,
    const std::atomic_bool *cancel, const std::vector<std::pair<QString, QString>> &linked)
{
    try {
        std::vector<Item> items;
        for (const AuditSplitIndex &s : splits) {
            if (!s.index)
                continue;
            for (const ImageEntry &e : s.index->images)
                items.push_back({ e.path, s.split, s.index->classes.value(e.label), &e });
        }
        const int n = int(items.size());
        const int threads
            = options.threads > 0 ? options.threads : std::max(2, QThread::idealThreadCount());
        const auto report = [&](const char *stage, int done) {
            if (progress)
                progress(QLatin1String(stage), done, n);
        };

        // Per image only its pixel digest and, until the index holds it, its descriptor; and the
        // gray pixels of small images (by the scan's sizes) while options.keptPixelBytes lasts.
        std::vector<std::array<std::uint64_t, 2>> digests(static_cast<std::size_t>(n));
        std::vector<char> ok(static_cast<std::size_t>(n), 0);
        std::vector<QString> errors(static_cast<std::size_t>(n));
        std::vector<float> descriptors(options.near ? std::size_t(n) * kDescriptor : 0);
        std::vector<std::int64_t> keptAt; // offset in kept, -1 when not kept
        std::vector<std::uint8_t> kept;
        if (options.near && options.keptPixelBytes > 0) {
            keptAt.assign(std::size_t(n), -1);
            std::int64_t bytes = 0;
            for (int i = 0; i < n; ++i) {
                const ImageEntry &e = *items[std::size_t(i)].entry;
                const std::int64_t size = std::int64_t(e.width) * e.height;
                if (e.width <= kThumb && e.height <= kThumb && size > 0
                    && bytes + size <= options.keptPixelBytes) {
                    keptAt[std::size_t(i)] = bytes;
                    bytes += size;
                }
            }
            kept.resize(std::size_t(bytes));
        }
        const bool hashed = parallelFor(
            n, threads, cancel,
            [&](int i) {
                const std::size_t k = std::size_t(i);
                const bool keep = !keptAt.empty() && keptAt[k] >= 0;
                bool keptHere = false;
                ok[k] = hashItem(items[k], options, &digests[k],
                    options.near ? descriptors.data() + k * kDescriptor : nullptr,
                    keep ? kept.data() + keptAt[k] : nullptr, &keptHere, &errors[k]);
                if (keep && !keptHere)
                    keptAt[k] = -1; // another size than its header's, or no image: decoded again
            },
            [&](int done) { report("hashing", done); }, error);
        if (!hashed)
            return std::nullopt;
        if (cancel && cancel->load()) {
            setError(error, QStringLiteral("cancelled"));
            return std::nullopt;
        }

        DuplicateResult result;
        std::vector<int> decoded;
        for (int i = 0; i < n; ++i) {
            if (ok[std::size_t(i)])
                decoded.push_back(i);
            else
                result.undecodable
                    << items[std::size_t(i)].path + QStringLiteral(": ") + errors[std::size_t(i)];
        }
        errors.clear();
        errors.shrink_to_fit();
        if (decoded.empty() && n > 0) {
            setError(error,
                QStringLiteral("none of the %1 images decodes (first: %2)")
                    .arg(n)
                    .arg(result.undecodable.value(0)));
            return std::nullopt;
        }
        result.images = int(decoded.size());

        // Exact: equal digests. One representative per digest goes on to the near search.
        UnionFind sets(n);
        std::vector<int> byDigest = decoded;
        std::sort(byDigest.begin(), byDigest.end(),
            [&](int a, int b) { return digests[std::size_t(a)] < digests[std::size_t(b)]; });
        std::vector<int> representatives;
        for (std::size_t k = 0; k < byDigest.size(); ++k) {
            if (k > 0 && digests[std::size_t(byDigest[k])] == digests[std::size_t(byDigest[k - 1])])
                sets.unite(byDigest[k], byDigest[k - 1]);
            else
                representatives.push_back(byDigest[k]);
        }

        if (options.near && representatives.size() > 1) {
            // Candidates: each representative's nearest neighbour by descriptor and any very near
            // one (HNSW, built on all threads), each pair once; then each pair confirmed on pixels.
            const int reps = int(representatives.size());
            DescriptorSpace space;
            // M = 8 links, 32 candidates while building: 26 % less CPU than 16 and 64 for about
            // one injected pair in 280 more lost (bench/README).
            hnswlib::HierarchicalNSW<float> index(&space, std::size_t(reps), 8, 32, 20261207);
            if (!parallelFor(
                    reps, threads, cancel,
                    [&](int k) {
                        index.addPoint(descriptors.data()
                                + std::size_t(representatives[std::size_t(k)]) * kDescriptor,
                            hnswlib::labeltype(k));
                    },
                    [&](int done) { report("indexing", done); }, error))
                return std::nullopt;
            descriptors.clear(); // the index holds its own copy
            descriptors.shrink_to_fit();
            // Each image's links on the index's bottom layer: its nearest neighbours found while
            // building, kept by hnswlib's heuristic, which always keeps the nearest (a copy), so
            // no second search is needed. Beyond maxLinkDistance only the nearest link, and
            // beyond maxNearestDistance only one that stands out: an eighth of the pairs to
            // decode again, the same groups (bench/README).
            const float maxAny = float(options.maxLinkDistance);
            const float maxNearest = float(options.maxNearestDistance);
            const float maxStandout = float(options.maxDescriptorDistance);
            const float standoutRatio = float(options.standoutRatio);
            std::vector<std::pair<int, int>> candidates; // (image, image), the first the smaller
            for (std::size_t t = 0; t < index.cur_element_count; ++t) {
                const auto *a = reinterpret_cast<const float *>(
                    index.getDataByInternalId(hnswlib::tableint(t)));
                const int i
                    = representatives[std::size_t(index.getExternalLabel(hnswlib::tableint(t)))];
                hnswlib::linklistsizeint *list = index.get_linklist0(hnswlib::tableint(t));
                const int count = int(index.getListCount(list));
                const auto *links = reinterpret_cast<const hnswlib::tableint *>(list + 1);
                float nearest = std::numeric_limits<float>::max();
                int nearestImage = -1;
                float second = std::numeric_limits<float>::max();
                for (int l = 0; l < count; ++l) {
                    const auto *b
                        = reinterpret_cast<const float *>(index.getDataByInternalId(links[l]));
                    const float d = space.distance(a, b);
                    const int j = representatives[std::size_t(index.getExternalLabel(links[l]))];
                    if (d <= maxAny)
                        candidates.emplace_back(std::min(i, j), std::max(i, j));
                    if (d < nearest) {
                        second = nearest;
                        nearest = d;
                        nearestImage = j;
                    } else if (d < second) {
                        second = d;
                    }
                }
                const bool nearestCounts = nearest <= maxNearest
                    || (nearest <= maxStandout && nearest <= standoutRatio * second);
                if (nearestImage >= 0 && nearest > maxAny && nearestCounts)
                    candidates.emplace_back(std::min(i, nearestImage), std::max(i, nearestImage));
            }
            std::sort(candidates.begin(), candidates.end());
            candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

            // Confirmed on pixels, in batches of pairs whose images (decoded again, through the
            // same decoder) number at most batchLimit: memory bounded whatever the pair count.
            const int batchLimit = std::max(2, options.confirmBatchImages);
            std::vector<int> slot(static_cast<std::size_t>(n), -1);
            std::vector<int> batchImages;
            std::vector<Detail> details;
            std::vector<char> near(candidates.size(), 0);
            std::size_t first = 0;
            while (first < candidates.size()) {
                std::size_t last = first;
                while (last < candidates.size()) {
                    const auto [i, j] = candidates[last];
                    const int fresh = (slot[std::size_t(i)] < 0) + (slot[std::size_t(j)] < 0);
                    if (int(batchImages.size()) + fresh > batchLimit)
                        break;
                    for (int image : { i, j }) {
                        if (slot[std::size_t(image)] < 0) {
                            slot[std::size_t(image)] = int(batchImages.size());
                            batchImages.push_back(image);
                        }
                    }
                    ++last;
                }
                // A thumbnail is made only for an image with a partner of another size (by the
                // scan's header): pairs of one small size are compared on their own pixels.
                std::vector<char> thumbNeeded(batchImages.size(), 0);
                for (std::size_t c = first; c < last; ++c) {
                    const ImageEntry &a = *items[std::size_t(candidates[c].first)].entry;
                    const ImageEntry &b = *items[std::size_t(candidates[c].second)].entry;
                    if (a.width != b.width || a.height != b.height) {
                        thumbNeeded[std::size_t(slot[std::size_t(candidates[c].first)])] = 1;
                        thumbNeeded[std::size_t(slot[std::size_t(candidates[c].second)])] = 1;
                    }
                }
                details.assign(batchImages.size(), Detail());
                if (!parallelFor(
                        int(batchImages.size()), threads, cancel,
                        [&](int b) {
                            const std::size_t image = std::size_t(batchImages[std::size_t(b)]);
                            const bool thumb = thumbNeeded[std::size_t(b)] != 0;
                            if (!keptAt.empty() && keptAt[image] >= 0) {
                                const ImageEntry &e = *items[image].entry;
                                details[std::size_t(b)]
                                    = detailOf(cv::Mat(e.height, e.width, CV_8UC1,
                                                   kept.data() + keptAt[image]),
                                        thumb);
                            } else {
                                details[std::size_t(b)] = detailOf(items[image], options, thumb);
                            }
                        },
                        [](int) {}, error))
                    return std::nullopt;
                if (!parallelFor(
                        int(last - first), threads, cancel,
                        [&](int c) {
                            const auto [i, j] = candidates[first + std::size_t(c)];
                            near[first + std::size_t(c)]
                                = confirmed(details[std::size_t(slot[std::size_t(i)])],
                                    details[std::size_t(slot[std::size_t(j)])], options);
                        },
                        [&](int done) {
                            if (progress)
                                progress(QStringLiteral("comparing"), int(first) + done,
                                    int(candidates.size()));
                        },
                        error))
                    return std::nullopt;
                if (cancel && cancel->load()) {
                    setError(error, QStringLiteral("cancelled"));
                    return std::nullopt;
                }
                for (int image : batchImages)
                    slot[std::size_t(image)] = -1;
                batchImages.clear();
                first = last;
            }
            details.clear();
            details.shrink_to_fit();
            for (std::size_t c = 0; c < candidates.size(); ++c) {
                if (near[c])
                    sets.unite(candidates[c].first, candidates[c].second);
            }
        }

        if (!linked.empty()) {
            QHash<QString, int> byPath;
            for (int i : decoded)
                byPath.insert(items[std::size_t(i)].path, i);
            for (const auto &[a, b] : linked) {
                const auto ia = byPath.constFind(a), ib = byPath.constFind(b);
                if (ia != byPath.cend() && ib != byPath.cend())
                    sets.unite(*ia, *ib);
            }
        }

        std::map<int, std::vector<int>> members;
        for (int i : decoded)
            members[sets.find(i)].push_back(i);
        for (auto &[root, group] : members) {
            if (group.size() < 2)
                continue;
            AuditDuplicateGroup g;
            bool exact = true;
            for (int i : group) {
                const Item &item = items[std::size_t(i)];
                g.images.push_back({ item.path, item.split, item.label });
                exact = exact && digests[std::size_t(i)] == digests[std::size_t(group[0])];
            }
            g.kind = exact ? AuditDuplicateGroup::Kind::Exact : AuditDuplicateGroup::Kind::Near;
            std::sort(
                g.images.begin(), g.images.end(), [](const AuditImage &a, const AuditImage &b) {
                    return a.split != b.split ? a.split < b.split : a.path < b.path;
                });
            for (const AuditImage &image : g.images) {
                g.leak = g.leak || image.split != g.images.front().split;
                g.conflict = g.conflict || image.label != g.images.front().label;
            }
            result.groups.push_back(std::move(g));
        }
        std::stable_sort(result.groups.begin(), result.groups.end(),
            [](const AuditDuplicateGroup &a, const AuditDuplicateGroup &b) {
                const auto rank = [](const AuditDuplicateGroup &g) {
                    return std::make_tuple(!g.leak, !g.conflict, g.kind, g.images.front().path);
                };
                return rank(a) < rank(b);
            });
        return result;
    } catch (const std::exception &e) {
        setError(error,
            QStringLiteral("cannot compare images: %1").arg(QString::fromLocal8Bit(e.what())));
        return std::nullopt;
    }
}

} // namespace leantune
