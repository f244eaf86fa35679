#!/usr/bin/env python3
"""Decodes a class-folder image set the way LeanTune's evaluation does, for bench/ort-accuracy.js.

    python3 bench/int8-accuracy-images.py DIR SIZE CHANNELS OUT

Writes OUT.u8 (N x CHANNELS x SIZE x SIZE bytes, NCHW, the resized pixels before normalization: an
exported ONNX model takes pixel / 255 and normalizes inside) and OUT.json (class names in folder
order, one label per image, the shape). Classes are the sorted sub-folders, images each folder's
sorted file names, as the loader lists them.

The resize repeats OpenCV's cv::resize exactly (core/dataset/imagedecoder.cpp: INTER_LINEAR when
enlarging, 11-bit fixed-point coefficients; INTER_AREA when shrinking is refused here, Fashion-MNIST's
28 px images are only enlarged), so the file's input equals what the export report's OpenCV DNN
verification fed it. A grayscale image gives CHANNELS equal planes, as OpenCV's colour decode does.
"""
import json
import math
import os
import sys

import numpy as np
from PIL import Image

COEF_BITS = 11
COEF_SCALE = 1 << COEF_BITS


def linear_table(src, dst):
    """OpenCV's per-output (index, fixed-point weights) for INTER_LINEAR along one axis."""
    scale = 1.0 / (float(dst) / float(src))
    index = np.zeros(dst, dtype=np.int64)
    weights = np.zeros((dst, 2), dtype=np.int64)
    for d in range(dst):
        f = np.float32((d + 0.5) * scale - 0.5)
        s = int(math.floor(f))
        f = np.float32(f - np.float32(s))
        if s < 0:
            f, s = np.float32(0), 0
        if s >= src - 1:
            f, s = np.float32(0), src - 1
        c0 = np.float32(np.float32(1.0) - f)
        weights[d] = [int(np.rint(c0 * np.float32(COEF_SCALE))), int(np.rint(f * np.float32(COEF_SCALE)))]
        index[d] = s
    return index, weights


def resize_linear_u8(image, size):
    """cv::resize(image, size x size, INTER_LINEAR) of an 8-bit single-channel image, bit for bit."""
    h, w = image.shape
    if (h, w) == (size, size):
        return image
    if h > size or w > size:
        raise SystemExit('int8-accuracy-images: %dx%d is larger than %d px (INTER_AREA is not '
                         'implemented here)' % (w, h, size))
    xi, xw = linear_table(w, size)
    yi, yw = linear_table(h, size)
    src = image.astype(np.int64)
    right = np.minimum(xi + 1, w - 1)
    rows = src[:, xi] * xw[:, 0] + src[:, right] * xw[:, 1]          # h x size, scaled by 2^11
    below = np.minimum(yi + 1, h - 1)
    r0 = rows[yi] >> 4
    r1 = rows[below] >> 4
    b0 = yw[:, 0:1]
    b1 = yw[:, 1:2]
    out = (((b0 * r0) >> 16) + ((b1 * r1) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    folder, size, channels, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    files, labels = [], []
    for label, name in enumerate(classes):
        d = os.path.join(folder, name)
        for f in sorted(os.listdir(d)):
            if f.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')):
                files.append(os.path.join(d, f))
                labels.append(label)
    data = np.zeros((len(files), channels, size, size), dtype=np.uint8)
    for n, path in enumerate(files):
        with Image.open(path) as im:
            if im.mode != 'L':
                raise SystemExit('int8-accuracy-images: %s is not 8-bit grayscale (%s); only '
                                 'grayscale sets are decoded here' % (path, im.mode))
            pixels = np.asarray(im, dtype=np.uint8)
        data[n, :] = resize_linear_u8(pixels, size)
    data.tofile(out + '.u8')
    with open(out + '.json', 'w') as f:
        json.dump({'classes': classes, 'labels': labels, 'shape': list(data.shape),
                   'folder': folder}, f)
    print('%s: %d images, %s' % (out, len(files), 'x'.join(map(str, data.shape))))


if __name__ == '__main__':
    main()
