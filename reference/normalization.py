"""Batch norm and dropout references: ``torch.nn.BatchNorm1d`` in float64 with autograd, and
the laws a correct inverted dropout obeys."""
from __future__ import annotations

import numpy as np
import torch


def _forward_backward(layer: torch.nn.Module, step: dict):
    """One step: train/eval mode, forward of ``step["x"]``, backward of ``sum(out * dout)``.
    Returns ``(out, dx)`` as numpy; the layer keeps its parameter gradients."""
    layer.train(bool(step["train"]))
    layer.zero_grad()
    x = torch.tensor(np.asarray(step["x"], dtype=np.float64), requires_grad=True)
    out = layer(x)
    out.backward(torch.tensor(np.asarray(step["dout"], dtype=np.float64)))
    return out.detach().numpy().copy(), x.grad.numpy().copy()


def batchnorm_steps(state: dict, steps: list, eps: float, momentum: float) -> list[dict]:
    """Run ``torch.nn.BatchNorm1d`` from ``state`` (gamma, beta, running_mean, running_var, each
    (1, D)) over ``steps`` = [{"x": (N, D), "train": bool, "dout": (N, D)}, ...].

    Returns per step: ``out``, ``dx``, ``dgamma``, ``dbeta`` (gradients of ``sum(out * dout)``),
    and ``running_mean`` / ``running_var`` after the step, all numpy float64 with (1, D) rows.
    """
    features = np.asarray(state["gamma"]).size
    layer = torch.nn.BatchNorm1d(features, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.ravel(state["gamma"])))
        layer.bias.copy_(torch.tensor(np.ravel(state["beta"])))
        layer.running_mean.copy_(torch.tensor(np.ravel(state["running_mean"])))
        layer.running_var.copy_(torch.tensor(np.ravel(state["running_var"])))
    records = []
    for step in steps:
        out, dx = _forward_backward(layer, step)
        records.append({
            "out": out, "dx": dx,
            "dgamma": layer.weight.grad.numpy().reshape(1, -1).copy(),
            "dbeta": layer.bias.grad.numpy().reshape(1, -1).copy(),
            "running_mean": layer.running_mean.numpy().reshape(1, -1).copy(),
            "running_var": layer.running_var.numpy().reshape(1, -1).copy(),
        })
    return records


def dropout_keep_scale(p: float) -> float:
    """The value a kept entry of ``ones`` takes under inverted dropout with drop probability p."""
    return 1.0 / (1.0 - p)


def batchnorm2d_steps(weight, bias, steps: list, eps: float, momentum: float) -> list[dict]:
    """``torch.nn.BatchNorm2d`` in float64 from ``weight``/``bias`` (C,) and fresh running
    statistics, over ``steps`` = [{"x": (N, C, H, W), "dout": same, "train": bool}, ...].

    Returns per step: ``out``, ``dx``, ``grads`` {"weight", "bias"} (of ``sum(out * dout)``) and
    ``buffers`` {"running_mean", "running_var"} after the step.
    """
    layer = torch.nn.BatchNorm2d(len(weight), eps=eps, momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.asarray(weight, dtype=np.float64)))
        layer.bias.copy_(torch.tensor(np.asarray(bias, dtype=np.float64)))
    records = []
    for step in steps:
        out, dx = _forward_backward(layer, step)
        records.append({"out": out, "dx": dx,
                        "grads": {"weight": layer.weight.grad.numpy().copy(),
                                  "bias": layer.bias.grad.numpy().copy()},
                        "buffers": {"running_mean": layer.running_mean.numpy().copy(),
                                    "running_var": layer.running_var.numpy().copy()}})
    return records
