#!/usr/bin/python3
"""torchvision baseline of `leantune-cli bench-loader`: ImageFolder + DataLoader (PIL decode), the same
crop/flip/normalize, batches dropped. Prints one JSON line like bench-loader --json."""
import argparse
import json
import time

import torch

from baseline_common import loader

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--input-size", type=int, default=224)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--batch-size", type=int, default=256)
p.add_argument("--workers", type=int, default=2)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--no-augment", action="store_true")
a = p.parse_args()

torch.manual_seed(42)
dl = loader(a.data, a.input_size, a.channels, a.batch_size, a.workers, augment=not a.no_augment)
per_epoch, images, seconds = [], 0, 0.0
for epoch in range(a.epochs):
    start = time.perf_counter()
    n = 0
    for x, y in dl:
        n += x.shape[0]
    s = time.perf_counter() - start
    per_epoch.append(n / s)
    images += n
    seconds += s
print(json.dumps({"images_per_sec": images / seconds, "images": images, "seconds": seconds,
                  "epochs_images_per_sec": per_epoch, "workers": a.workers, "batch_size": a.batch_size,
                  "input_size": a.input_size, "channels": a.channels, "torch": torch.__version__}))
