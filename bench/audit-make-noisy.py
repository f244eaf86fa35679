#!/usr/bin/python3
"""Label-noise benchmark data: PER_CLASS Fashion-MNIST training images of each class (a seeded draw
from Debian's dataset-fashion-mnist IDX files) as OUT/data/<class>/<n>.png, with a fraction NOISE of
them moved to a random wrong class folder. OUT/moved.txt lists the moved files' absolute paths.

    bench/audit-make-noisy.py --out /tmp/noisy --noise 0.05 --seed 1 [--per-class 500]
"""
import argparse
import gzip
import os
import random

import numpy as np
from PIL import Image

IDX = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle_boot"]  # leantune-cli import-idx's names


def read_idx():
    with gzip.open(os.path.join(IDX, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(IDX, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--noise", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-class", type=int, default=500)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    images, labels = read_idx()
    chosen = []
    for c in range(len(CLASSES)):
        idx = [int(i) for i in np.flatnonzero(labels == c)]
        chosen += [(i, c) for i in rng.sample(idx, a.per_class)]
    moved = set(rng.sample(range(len(chosen)), round(a.noise * len(chosen))))
    out = os.path.abspath(a.out)
    data = os.path.join(out, "data")
    for name in CLASSES:
        os.makedirs(os.path.join(data, name), exist_ok=True)
    moved_paths = []
    for k, (i, c) in enumerate(chosen):
        folder = c
        if k in moved:
            folder = rng.choice([w for w in range(len(CLASSES)) if w != c])
        path = os.path.join(data, CLASSES[folder], "%05d.png" % i)
        Image.fromarray(images[i]).save(path)
        if k in moved:
            moved_paths.append(path)
    with open(os.path.join(out, "moved.txt"), "w") as f:
        f.write("".join(p + "\n" for p in sorted(moved_paths)))
    print("%d images, %d moved -> %s" % (len(chosen), len(moved_paths), data))


if __name__ == "__main__":
    main()
