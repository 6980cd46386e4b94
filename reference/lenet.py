"""LeNet-5 for 28 x 28 digits, with batch norm and dropout where a variant asks for them.

The practical homework compares batch norm and dropout on LeNet-5 (report study 11 and the
grader's experiment test): the network is the same, only its normalization layers and dropout
change. ``norm`` makes the batch-norm layers: the student's ``BatchNorm2d`` in the report, the
grader's replay of the student's captured layer in the grader. Every batch norm is a 2-d one: the
fully connected layers' features (N, C) are normalized as (N, C, 1, 1), which computes what a
1-d batch norm computes.

Layers (LeCun et al., 1998, with relu and max pooling): input (N, 1, 28, 28) padded to 32 x 32;
conv 6@5x5 -> 28 x 28, pool -> 14 x 14; conv 16@5x5 -> 10 x 10, pool -> 5 x 5; fully connected
400 -> 120 -> 84 -> 10 (logits).
"""
from __future__ import annotations

import torch
from torch import nn

BN_SHAPES = {"input": (1, 28, 28), "conv1": (6, 28, 28), "conv2": (16, 10, 10), "fc1": (120, 1, 1),
             "fc2": (84, 1, 1)}
"""The shape of one example where each batch norm sits, (C, H, W)."""


class _Flat2d(nn.Module):
    """A 2-d batch norm on (N, C) features, through (N, C, 1, 1)."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        return self.norm(x[:, :, None, None])[:, :, 0, 0]


class LeNet5(nn.Module):
    """``norm(channels, where) -> module`` or None (no batch norm); ``input_norm``: a batch norm on
    the input too; ``dropout = (p_input, p_hidden)`` or None. Input (N, 1, 28, 28) -> logits (N, 10)."""

    def __init__(self, norm=None, input_norm: bool = False, dropout: tuple | None = None):
        super().__init__()
        p_input, p_hidden = dropout or (0.0, 0.0)
        self.norm_layers = {}   # {where: layer}; a plain dict: the layers are registered below

        def bn(where: str, flat: bool = False):
            if norm is None:
                return nn.Identity()
            layer = norm(BN_SHAPES[where][0], where)
            self.norm_layers[where] = layer
            return _Flat2d(layer) if flat else layer

        def drop(p: float):
            return nn.Dropout(p) if p > 0 else nn.Identity()

        self.input_block = nn.Sequential(bn("input") if input_norm else nn.Identity(), drop(p_input))
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), bn("conv1"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), bn("conv2"), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), bn("fc1", flat=True), nn.ReLU(), drop(p_hidden),
            nn.Linear(120, 84), bn("fc2", flat=True), nn.ReLU(), drop(p_hidden), nn.Linear(84, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.input_block(x)))


VARIANTS = {
    "BN (standardized input)": {"standardize": True, "norm": True, "input_norm": False, "dropout": None},
    "BN on the input too": {"standardize": False, "norm": True, "input_norm": True, "dropout": None},
    "dropout (0.2 / 0.5)": {"standardize": True, "norm": False, "input_norm": False, "dropout": (0.2, 0.5)},
    "BN and dropout": {"standardize": True, "norm": True, "input_norm": False, "dropout": (0.2, 0.5)},
}
"""The homework's four variants: which input, which batch norms, which dropout (input, hidden)."""


def batch_norm_parameters(model: LeNet5) -> dict:
    """``{where: {"gamma": [...], "beta": [...]}}`` of the model's batch norms (their affine
    parameters ``weight`` and ``bias``, or ``gamma`` and ``beta``)."""
    found = {}
    for where, layer in model.norm_layers.items():
        gamma = getattr(layer, "weight", None)
        beta = getattr(layer, "bias", None)
        if not isinstance(gamma, torch.Tensor):
            gamma, beta = getattr(layer, "gamma", None), getattr(layer, "beta", None)
        if isinstance(gamma, torch.Tensor) and isinstance(beta, torch.Tensor):
            found[where] = {"gamma": gamma.detach().cpu().double().flatten().tolist(),
                            "beta": beta.detach().cpu().double().flatten().tolist()}
    return found
