"""Shared pieces of the torchvision baselines (bench/run): the same augmentation as LeanTune's loader,
built from torchvision's standard parts, and an ImageFolder DataLoader as a user would write it."""
import random

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.datasets import ImageFolder


class SquareCrop:
    """LeanTune's augmentation: a random square of 0.8-1.0 of the shorter side at a random position,
    resized to SIZE (torchvision's resized_crop, PIL bilinear with antialiasing). The same work as
    RandomResizedCrop(SIZE, scale=(0.48, 0.75), ratio=(1, 1)) on a 500x375 image."""

    def __init__(self, size, min_scale=0.8):
        self.size, self.min_scale = size, min_scale

    def __call__(self, img):
        w, h = img.size
        shorter = min(w, h)
        side = max(1, min(shorter, round(random.uniform(self.min_scale, 1.0) * shorter)))
        x = random.randint(0, w - side)
        y = random.randint(0, h - side)
        return F.resized_crop(img, y, x, side, side, [self.size, self.size])


def transform(size, channels, augment, mean, std):
    steps = []
    if channels == 1:
        steps.append(T.Grayscale(1))
    if augment:
        steps += [SquareCrop(size), T.RandomHorizontalFlip()]
    else:
        steps.append(T.Resize((size, size)))
    steps += [T.ToTensor(), T.Normalize(mean[:channels], std[:channels])]
    return T.Compose(steps)


def loader(data, size, channels, batch_size, workers, augment=True, mean=(0.485, 0.456, 0.406),
           std=(0.229, 0.224, 0.225), shuffle=True):
    dataset = ImageFolder(data, transform=transform(size, channels, augment, mean, std))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                       persistent_workers=workers > 0, drop_last=False)
