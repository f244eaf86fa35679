#include "dataset/jpegregiondecoder_p.h"

#ifdef LEANTUNE_WITH_LIBJPEG_TURBO

#include <algorithm>
#include <csetjmp>
#include <cstdio> // jpeglib.h needs FILE
#include <exception>

#include <jpeglib.h>

namespace leantune {

namespace {

// libjpeg reports fatal errors through error_exit, which must not return: we jump back to the
// setjmp in decodeRows(). Warnings (corrupt data libjpeg can work around) are only counted.
struct ErrorManager {
    jpeg_error_mgr base;
    std::jmp_buf jump;
};

[[noreturn]] void onError(j_common_ptr cinfo)
{
    std::longjmp(reinterpret_cast<ErrorManager *>(cinfo->err)->jump, 1);
}

void onMessage(j_common_ptr cinfo, int level)
{
    if (level < 0)
        ++cinfo->err->num_warnings; // silently: the caller falls back to OpenCV
}

// Where to put the decoded rows; filled in by decodeRows() once the cropped width is known.
struct Target {
    cv::Mat *out;
    int channels;
    int factor;
    int x0, y0, x1, y1; // requested region, full-resolution coordinates
    cv::Rect region; // out: the region within *out
};

unsigned char *allocate(Target *target, int rows, int cols)
{
    target->out->create(rows, cols, target->channels == 1 ? CV_8UC1 : CV_8UC3);
    return target->out->data;
}

// Every libjpeg call, between one setjmp and the longjmp of onError: no object with a destructor
// lives in this frame, so the jump skips nothing.
bool decodeRows(jpeg_decompress_struct *cinfo, ErrorManager *err, const unsigned char *data,
    unsigned long size, Target *target)
{
    if (setjmp(err->jump))
        return false;
    jpeg_mem_src(cinfo, data, size);
    if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK)
        return false;
    if (target->channels == 1)
        cinfo->out_color_space = JCS_GRAYSCALE;
    else if (cinfo->jpeg_color_space == JCS_GRAYSCALE || cinfo->jpeg_color_space == JCS_YCbCr
        || cinfo->jpeg_color_space == JCS_RGB)
        cinfo->out_color_space = JCS_EXT_BGR;
    else
        return false; // CMYK/YCCK: OpenCV converts those
    cinfo->scale_num = 1;
    cinfo->scale_denom = static_cast<unsigned int>(target->factor);
    jpeg_start_decompress(cinfo);

    const long fullW = static_cast<long>(cinfo->image_width),
               fullH = static_cast<long>(cinfo->image_height);
    const long outW = static_cast<long>(cinfo->output_width),
               outH = static_cast<long>(cinfo->output_height);
    // The region in scaled coordinates: floor of its start, ceiling of its end.
    long sx0 = target->x0 * outW / fullW, sy0 = target->y0 * outH / fullH;
    long sx1 = (target->x1 * outW + fullW - 1) / fullW,
         sy1 = (target->y1 * outH + fullH - 1) / fullH;
    sx0 = std::clamp(sx0, 0L, outW - 1);
    sy0 = std::clamp(sy0, 0L, outH - 1);
    sx1 = std::clamp(sx1, sx0 + 1, outW);
    sy1 = std::clamp(sy1, sy0 + 1, outH);

    JDIMENSION xoffset = static_cast<JDIMENSION>(sx0);
    JDIMENSION width = static_cast<JDIMENSION>(sx1 - sx0);
    if (width < cinfo->output_width)
        jpeg_crop_scanline(cinfo, &xoffset, &width); // widens to iMCU boundaries
    if (sy0 > 0
        && jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(sy0)) != static_cast<JDIMENSION>(sy0))
        return false;

    const int rows = static_cast<int>(sy1 - sy0);
    unsigned char *pixels = allocate(target, rows, static_cast<int>(cinfo->output_width));
    const std::size_t stride = static_cast<std::size_t>(cinfo->output_width)
        * static_cast<std::size_t>(target->channels);
    JSAMPROW rowPointers[16];
    while (cinfo->output_scanline < static_cast<JDIMENSION>(sy1)) {
        const int done = static_cast<int>(cinfo->output_scanline - sy0);
        const int batch = std::min(16, rows - done);
        for (int i = 0; i < batch; ++i)
            rowPointers[i] = pixels + static_cast<std::size_t>(done + i) * stride;
        if (jpeg_read_scanlines(cinfo, rowPointers, static_cast<JDIMENSION>(batch)) == 0)
            return false;
    }
    jpeg_abort_decompress(cinfo); // the rows below the region are never decoded
    target->region = cv::Rect(
        static_cast<int>(sx0 - static_cast<long>(xoffset)), 0, static_cast<int>(sx1 - sx0), rows);
    return err->base.num_warnings == 0;
}

} // namespace

bool jpegRegionDecoderAvailable()
{
    return true;
}

bool decodeJpegRegion(const char *data, std::size_t size, int channels, int factor,
    const cv::Rect &region, cv::Mat *out, cv::Rect *regionOut)
{
    if (!data || size == 0 || !out || !regionOut || (channels != 1 && channels != 3)
        || (factor != 1 && factor != 2 && factor != 4 && factor != 8) || region.width <= 0
        || region.height <= 0)
        return false;
    jpeg_decompress_struct cinfo;
    ErrorManager err;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = onError;
    err.base.emit_message = onMessage;
    jpeg_create_decompress(&cinfo);
    Target target { out, channels, factor, region.x, region.y, region.x + region.width,
        region.y + region.height, {} };
    bool ok = false;
    try {
        ok = decodeRows(&cinfo, &err, reinterpret_cast<const unsigned char *>(data),
            static_cast<unsigned long>(size), &target);
    } catch (const std::exception &) { // cv::Mat allocation
        ok = false;
    }
    jpeg_destroy_decompress(&cinfo);
    if (ok)
        *regionOut = target.region;
    return ok;
}

} // namespace leantune

#else // !LEANTUNE_WITH_LIBJPEG_TURBO

namespace leantune {

bool jpegRegionDecoderAvailable()
{
    return false;
}

bool decodeJpegRegion(const char *, std::size_t, int, int, const cv::Rect &, cv::Mat *, cv::Rect *)
{
    return false;
}

} // namespace leantune

#endif
