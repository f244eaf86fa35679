#!/usr/bin/python3
"""The plain PyTorch label-issue baseline the data audit is measured against: 3 stratified folds of
a small CNN (8 epochs, Adam, batch 64, no augmentation) give out-of-sample probabilities; the examples
off the diagonal of the confident joint (p_j >= t_j, t_j the mean self-confidence of class j, the
argmax of such j) are flagged, ranked by self-confidence. Prints one JSON line with precision@N,
recall, the number flagged and the time (N = the files in MOVED).

    bench/audit-baseline.py --data /tmp/noisy/data --moved /tmp/noisy/moved.txt [--seed 1]
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image


class SmallCnn(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                                        nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def load(data):
    classes = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    paths, labels, images = [], [], []
    for c, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(data, name))):
            p = os.path.join(data, name, f)
            paths.append(os.path.abspath(p))
            labels.append(c)
            images.append(np.asarray(Image.open(p).convert("L").resize((28, 28)), np.float32))
    x = (torch.from_numpy(np.stack(images)).unsqueeze(1) / 255.0 - 0.5) / 0.5
    return classes, paths, torch.tensor(labels), x


def folds_of(labels, k, seed):
    rng = random.Random(seed)
    fold = np.zeros(len(labels), int)
    for c in sorted(set(labels.tolist())):
        idx = [i for i in range(len(labels)) if labels[i] == c]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            fold[i] = n % k
    return fold


def train_predict(x, y, train, test, classes, epochs, seed):
    torch.manual_seed(seed)
    model = SmallCnn(classes)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt, yt = x[train], y[train]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt))
        for b in range(0, len(xt), 64):
            i = order[b:b + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i]), yt[i]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x[test]), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--moved", required=True)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    start = time.time()
    classes, paths, y, x = load(a.data)
    fold = folds_of(y, a.folds, a.seed)
    p = torch.zeros(len(y), len(classes))
    for f in range(a.folds):
        test = torch.from_numpy(np.flatnonzero(fold == f))
        train = torch.from_numpy(np.flatnonzero(fold != f))
        p[test] = train_predict(x, y, train, test, len(classes), a.epochs, a.seed + f)
    p = p.numpy()
    labels = y.numpy()
    self_conf = p[np.arange(len(labels)), labels]
    t = np.array([self_conf[labels == j].mean() for j in range(len(classes))])
    above = p >= t
    masked = np.where(above, p, -1.0)
    confident = np.where(above.any(1), masked.argmax(1), -1)
    flagged = np.flatnonzero((confident >= 0) & (confident != labels))
    ranked = flagged[np.argsort(self_conf[flagged], kind="stable")]
    moved = set(open(a.moved).read().split())
    n = len(moved)
    hits = [paths[i] in moved for i in ranked]
    print(json.dumps({"method": "baseline", "images": len(labels), "moved": n,
                      "precision_at_n": sum(hits[:n]) / n if n else 0.0,
                      "recall": sum(hits) / n if n else 0.0, "reported": len(ranked),
                      "accuracy": float((p.argmax(1) == labels).mean()),
                      "seconds": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
