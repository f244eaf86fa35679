#!/usr/bin/env python3
"""Writes torchvision state_dicts and reference logits for tst_initweights.

Usage: torchvision_weights.py OUTDIR ARCH [ARCH ...]
For each ARCH (resnet18, mobilenet_v2): ARCH.pth = torch.save(model.state_dict()) of a seeded model
with 10 classes whose BatchNorm statistics are not at their defaults, and ARCH.logits = its eval-mode
logits (float32, raw) for input.bin (float32 [2, 3, 96, 96], already normalized), ARCH.logits64 for
input64.bin ([2, 3, 64, 64]) and, for the ONNX check, ARCH.logits01 for input01.bin ([0, 1] pixels
normalized with ImageNet's mean/std).
Also writes the bad inputs: other.pth (squeezenet1_0), nan.pth, evil.pth (names os.system).
"""
import os
import sys

import torch
import torchvision

out, archs = sys.argv[1], sys.argv[2:]
torch.manual_seed(12)
x = torch.rand(2, 3, 96, 96) * 2 - 1
x.numpy().astype("float32").tofile(os.path.join(out, "input.bin"))
x01 = torch.rand(2, 3, 96, 96)
x01.numpy().astype("float32").tofile(os.path.join(out, "input01.bin"))
x64 = torch.rand(2, 3, 64, 64) * 2 - 1  # below 96 px: the ImageNet stem all the same
x64.numpy().astype("float32").tofile(os.path.join(out, "input64.bin"))
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

for arch in archs:
    model = getattr(torchvision.models, arch)(num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(7)
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, arch + ".pth"))
    with torch.no_grad():
        model(x).numpy().astype("float32").tofile(os.path.join(out, arch + ".logits"))
        model((x01 - mean) / std).numpy().astype("float32").tofile(
            os.path.join(out, arch + ".logits01"))
        model(x64).numpy().astype("float32").tofile(os.path.join(out, arch + ".logits64"))

torch.save(torchvision.models.squeezenet1_0(num_classes=10).state_dict(),
           os.path.join(out, "other.pth"))
sd = torchvision.models.resnet18(num_classes=10).state_dict()
sd["conv1.weight"][0, 0, 0, 0] = float("nan")
torch.save(sd, os.path.join(out, "nan.pth"))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(out, "pwned"),))


torch.save({"conv1.weight": Evil()}, os.path.join(out, "evil.pth"))
