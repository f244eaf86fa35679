#pragma once
// Private header (OpenCV): libjpeg-turbo decoding of one region of a JPEG, optionally DCT-scaled.
// Used by the image decoder; compiled to a stub that always returns false when LeanTune is built
// without libjpeg-turbo (LEANTUNE_WITH_LIBJPEG_TURBO), so callers always keep the OpenCV fallback.

#include <opencv2/core.hpp>

#include <cstddef>

namespace leantune {

// True when this build has the libjpeg-turbo region decoder.
bool jpegRegionDecoderAvailable();

// Decodes REGION (full-resolution pixel coordinates, clipped to the image) of the JPEG in DATA,
// scaled by 1/FACTOR (1, 2, 4 or 8) in the DCT domain, as 8-bit gray (CHANNELS 1) or BGR (CHANNELS
// 3). Only the iMCU columns that cover the region are transformed (jpeg_crop_scanline), rows above
// it are skipped without colour conversion (jpeg_skip_scanlines), and decoding stops after its last
// row. On success *OUT holds the decoded rows and *REGIONOUT where the requested region lies in
// *OUT (scaled coordinates, at least 1 × 1). Returns false on any libjpeg error or warning (corrupt
// or truncated data, CMYK, ...): the caller then decodes with OpenCV, which judges the file as
// before. Thread-safe; never throws.
bool decodeJpegRegion(const char *data, std::size_t size, int channels, int factor,
    const cv::Rect &region, cv::Mat *out, cv::Rect *regionOut);

} // namespace leantune
