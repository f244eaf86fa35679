#!/usr/bin/env python3
"""Writes crafted weight files for tst_weightchecks: LeanTune's smallcnn (3 channels, 10 classes) as
others would publish it, honest and broken, as zip torch.save() state_dicts and safetensors files.

Usage: make_bad_weights.py OUTDIR
Honest: good.pth, good.safetensors, good-f64.safetensors (float64 values that fit float32).
Broken (each names the tensor it breaks):
  f64-1e300.pth/.safetensors   float64 conv1.weight holding 1e300: finite, but inf as float32
  nan.pth/.safetensors         NaN in fc2.weight
  int64.pth/.safetensors       conv2.weight as int64
  negative-var.pth/.safetensors  bn2.running_var with a negative entry
  overlap.safetensors          bn1.bias's data_offsets overlap bn1.weight's
  fractional-shape.safetensors bn3.weight's shape [16.7] (used to be rounded down to 16)
  negative-shape.safetensors   bn3.weight's shape [-4, -4]
  outside.safetensors          fc2.bias's data_offsets end past the file
  wrong-size.safetensors       bn3.bias's data_offsets span one float too many
"""
import collections
import json
import os
import struct
import sys

import torch

out = sys.argv[1]
torch.manual_seed(4)


class SmallCnn(torch.nn.Module):
    """The parameter names and shapes of LeanTune's smallcnn (core/model/modelzoo.cpp)."""

    def __init__(self, channels=3, classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, 32, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(32)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(64)
        self.conv3 = torch.nn.Conv2d(64, 16, 1, 1, 0, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(16)
        self.fc1 = torch.nn.Linear(16 * 7 * 7, 96)
        self.fc2 = torch.nn.Linear(96, classes)


model = SmallCnn()
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(7)
good = model.state_dict()

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64"}


def entries(sd):
    """[name, dtype, shape, bytes] of a state_dict, in its order."""
    return [[k, DTYPES[t.dtype], list(t.shape), t.contiguous().numpy().tobytes()] for k, t in sd.items()]


def write_safetensors(name, rows, fix=None):
    """ROWS laid out one after another; FIX(header) may then break the header."""
    header, data = {}, b""
    for tname, dtype, shape, payload in rows:
        header[tname] = {"dtype": dtype, "shape": shape,
                         "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    header["__metadata__"] = {"format": "pt"}
    if fix:
        fix(header)
    h = json.dumps(header).encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def changed(**tensors):
    sd = collections.OrderedDict((k, v.clone()) for k, v in good.items())
    sd.update(tensors)
    return sd


def both(stem, sd):
    torch.save(sd, os.path.join(out, stem + ".pth"))
    write_safetensors(stem + ".safetensors", entries(sd))


torch.save(good, os.path.join(out, "good.pth"))
write_safetensors("good.safetensors", entries(good))
f64 = collections.OrderedDict((k, v.double() if v.is_floating_point() else v) for k, v in good.items())
write_safetensors("good-f64.safetensors", entries(f64))

huge = f64["conv1.weight"].clone()
huge[0, 0, 0, 0] = 1e300
both("f64-1e300", collections.OrderedDict(f64, **{"conv1.weight": huge}))
nan = good["fc2.weight"].clone()
nan[3, 5] = float("nan")
both("nan", changed(**{"fc2.weight": nan}))
both("int64", changed(**{"conv2.weight": (good["conv2.weight"] * 100).round().long()}))
var = good["bn2.running_var"].clone()
var[10] = -0.5
both("negative-var", changed(**{"bn2.running_var": var}))

rows = entries(good)


def overlap(h):
    h["bn1.bias"]["data_offsets"] = h["bn1.weight"]["data_offsets"]


def set_shape(shape):
    def fix(h):
        h["bn3.weight"]["shape"] = shape
    return fix


def outside(h):
    begin, end = h["fc2.bias"]["data_offsets"]
    h["fc2.bias"]["data_offsets"] = [begin + 4096, end + 4096]


def wrong_size(h):
    begin, end = h["bn3.bias"]["data_offsets"]
    h["bn3.bias"]["data_offsets"] = [begin, end + 4]


write_safetensors("overlap.safetensors", rows, overlap)
write_safetensors("fractional-shape.safetensors", rows, set_shape([16.7]))
write_safetensors("negative-shape.safetensors", rows, set_shape([-4, -4]))
write_safetensors("outside.safetensors", rows, outside)
write_safetensors("wrong-size.safetensors", rows, wrong_size)
