"""The networks and the training step of the learning-rate and batch-size study (study 13).

- ``MiniGoogLeNet``: the small Inception network of the CIFAR-10 / FashionMNIST assignments
  (after Zhang et al., 2017, "Understanding deep learning requires rethinking generalization"),
  built from three modules: a *conv module* (convolution, batch normalization, ReLU), an
  *inception module* (a 1x1 and a 3x3 conv module side by side, concatenated on the channels) and a
  *downsample module* (a 3x3 stride-2 conv module beside a 3x3 stride-2 max-pool, concatenated).
- ``SmallCNN``: two convolutions and a linear layer, for the scales that run on a CPU.
- ``accumulate_gradients``: the assignment's "effective batch": a batch too large for memory is
  cut into micro-batches whose gradients add up to the whole batch's mean gradient.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvModule(nn.Module):
    """Convolution (``kernel`` square, ``stride``), batch normalization, ReLU. "Same" padding
    when ``stride`` is 1; none when downsampling (the spatial size then goes ``s -> (s - k) // 2 + 1``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1):
        super().__init__()
        padding = kernel // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x):   # (B, C_in, H, W) -> (B, C_out, H', W')
        return torch.relu(self.norm(self.conv(x)))


class InceptionModule(nn.Module):
    """A 1x1 and a 3x3 conv module on the same input; outputs ``ones + threes`` channels."""

    def __init__(self, in_channels: int, ones: int, threes: int):
        super().__init__()
        self.one = ConvModule(in_channels, ones, 1)
        self.three = ConvModule(in_channels, threes, 3)
        self.out_channels = ones + threes

    def forward(self, x):   # (B, C_in, H, W) -> (B, ones + threes, H, W)
        return torch.cat([self.one(x), self.three(x)], dim=1)


class DownsampleModule(nn.Module):
    """A 3x3 stride-2 conv module beside a 3x3 stride-2 max-pool: the spatial size roughly halves
    and the channels become ``channels + in_channels``."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv = ConvModule(in_channels, channels, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_channels = channels + in_channels

    def forward(self, x):
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


class MiniGoogLeNet(nn.Module):
    """``(B, in_channels, H, W)`` images -> ``(B, classes)`` logits.

    conv 96 (3x3); inception (32, 32), (32, 48); downsample 80; inception (112, 48), (96, 64),
    (80, 80), (48, 96); downsample 96; inception (176, 160), (176, 160); global average pooling
    (the original's 7x7 pooling is the global one on 32x32 CIFAR images; a 28x28 image is 6x6 there),
    dropout 0.5, a linear layer. About 1.66 million parameters for one input channel.
    """

    def __init__(self, in_channels: int = 1, classes: int = 10):
        super().__init__()
        layers, channels = [ConvModule(in_channels, 96, 3)], 96
        plan = [("i", 32, 32), ("i", 32, 48), ("d", 80), ("i", 112, 48), ("i", 96, 64), ("i", 80, 80),
                ("i", 48, 96), ("d", 96), ("i", 176, 160), ("i", 176, 160)]
        for kind, *widths in plan:
            module = (InceptionModule if kind == "i" else DownsampleModule)(channels, *widths)
            layers.append(module)
            channels = module.out_channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5))
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    """``(B, 1, 28, 28)`` -> ``(B, classes)``: conv 3x3 (8) - ReLU - max-pool 2 - conv 3x3 (16) -
    ReLU - max-pool 2 - linear; about 9,000 parameters, a few seconds per epoch of 4,000 images on
    one CPU core. No batch normalization, so that accumulating micro-batches gives exactly the whole
    batch's gradient (batch statistics would differ per micro-batch)."""

    def __init__(self, in_channels: int = 1, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Flatten())
        self.classifier = nn.Linear(16 * 7 * 7, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


NETWORKS = {"MiniGoogLeNet": MiniGoogLeNet, "SmallCNN": SmallCNN}


def accumulate_gradients(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         micro_batch: int) -> tuple[float, int]:
    """Backpropagate the mean cross-entropy of the whole batch ``images`` (B, ...), ``labels``
    (B,) in micro-batches of at most ``micro_batch``: each adds the gradient of its *summed* loss
    divided by B, so ``.grad`` ends as the full batch's mean gradient (the caller zeroes it
    before and steps after). Returns ``(mean loss, correct predictions)`` of the batch."""
    total = len(labels)
    loss_sum, correct = 0.0, 0
    for start in range(0, total, micro_batch):
        x, y = images[start:start + micro_batch], labels[start:start + micro_batch]
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y, reduction="sum")
        (loss / total).backward()
        loss_sum += float(loss.detach())
        correct += int((logits.detach().argmax(dim=1) == y).sum())
    return loss_sum / total, correct
