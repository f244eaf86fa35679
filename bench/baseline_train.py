#!/usr/bin/python3
"""torchvision baseline of `leantune-cli train` on the CPU: ImageFolder + DataLoader (PIL), the same
augmentation and the same network (smallcnn or resnet8, as in core/model/modelzoo.cpp), SGD momentum
0.9. images/s is computed as LeanTune's summary does: the median over >= 50 ms intervals of the
training loop (validation not included). Prints one JSON line."""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn

from baseline_common import loader


class SmallCnn(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)
        self.conv3, self.bn3 = nn.Conv2d(64, 16, 1, 1, 0, bias=False), nn.BatchNorm2d(16)
        self.fc1, self.drop, self.fc2 = nn.Linear(16 * 7 * 7, 96), nn.Dropout(0.25), nn.Linear(96, classes)

    def forward(self, x):
        x = Fn.max_pool2d(Fn.relu(self.bn1(self.conv1(x))), 2)
        x = Fn.max_pool2d(Fn.relu(self.bn2(self.conv2(x))), 2)
        x = Fn.relu(self.bn3(self.conv3(x)))
        x = Fn.adaptive_avg_pool2d(x, 7).flatten(1)
        return self.fc2(self.drop(Fn.relu(self.fc1(x))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(Fn.relu(self.bn1(self.conv1(x)))))
        return Fn.relu(out + (x if self.down is None else self.down(x)))


class ResNet8(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        self.layers = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(Fn.relu(self.bn1(self.conv1(x))))
        return self.fc(Fn.adaptive_avg_pool2d(x, 1).flatten(1))


p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--model", default="smallcnn")
p.add_argument("--input-size", type=int, default=28)
p.add_argument("--channels", type=int, default=1)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--workers", type=int, default=2)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--epochs", type=int, default=1)
a = p.parse_args()

torch.manual_seed(42)
torch.set_num_threads(a.threads)
dl = loader(a.data, a.input_size, a.channels, a.batch_size, a.workers, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
classes = len(dl.dataset.classes)
model = (SmallCnn if a.model == "smallcnn" else ResNet8)(a.channels, classes)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
model.train()
rates, images, wait_s, compute_s = [], 0, 0.0, 0.0
window_start, window_images = time.perf_counter(), 0
for epoch in range(a.epochs):
    t = time.perf_counter()
    for x, y in dl:
        t1 = time.perf_counter()
        wait_s += t1 - t
        opt.zero_grad()
        loss = Fn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t = time.perf_counter()
        compute_s += t - t1
        images += x.shape[0]
        window_images += x.shape[0]
        if t - window_start >= 0.05:
            rates.append(window_images / (t - window_start))
            window_start, window_images = t, 0
print(json.dumps({"images_per_sec": statistics.median(rates) if rates else 0.0, "images": images,
                  "data_wait_fraction": wait_s / max(1e-9, wait_s + compute_s), "workers": a.workers,
                  "threads": a.threads, "model": a.model, "torch": torch.__version__}))
