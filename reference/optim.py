"""Optimizer references: torch.optim in float64, and RMSProp with Nesterov momentum.

``trajectory(name, hyper, params, grad_steps)`` runs one optimizer over a stream of gradient
dicts and returns the parameters after every step, as numpy float64 arrays. Parameters use the
``solution.py`` convention: ``params = {"W1": ...}``, gradients ``{"dW1": ...}``.

torch has no RMSProp with Nesterov momentum, so that reference is a hand-written rule, which is
the answer to the part: it lives in ``reference/rmsprop_nesterov.py``, a withheld rule
(``reference/withheld.py``): the student handout has its outputs on the public test's cases only.
"""
from __future__ import annotations

import numpy as np
import torch

from reference import withheld

# The student's class name -> the torch.optim class and the keyword arguments it needs.
TORCH_OPTIMIZERS = {
    "SGD": (torch.optim.SGD, {}),
    "Momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "Nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "AdaGrad": (torch.optim.Adagrad, {}),
    "RMSProp": (torch.optim.RMSprop, {}),
    "AdaDelta": (torch.optim.Adadelta, {}),
    "Adam": (torch.optim.Adam, {}),
}
OPTIMIZERS = (*TORCH_OPTIMIZERS, "RMSPropNesterov")


def make(name: str, tensors: list, hyper: dict) -> torch.optim.Optimizer:
    """The reference optimizer for the student's class ``name`` with its keyword arguments."""
    if name == "RMSPropNesterov":
        rule = withheld.rule("rmsprop_nesterov")
        if rule is None:
            raise LookupError("the RMSPropNesterov rule is not part of the student handout")
        return rule.RMSPropNesterov(tensors, **hyper)
    torch_class, defaults = TORCH_OPTIMIZERS[name]
    keywords = {**defaults, **hyper}
    if "betas" in keywords:
        keywords["betas"] = tuple(keywords["betas"])
    return torch_class(tensors, **keywords)


def trajectory(name: str, hyper: dict, params: dict, grad_steps: list) -> list[dict]:
    """Parameters after each step of optimizer ``name`` over ``grad_steps`` (float64)."""
    if name == "RMSPropNesterov":
        return _rmsprop_nesterov("exact", hyper, params, grad_steps)
    return _torch_trajectory(name, hyper, params, grad_steps)


def rmsprop_nesterov_variants(hyper: dict, params: dict, grad_steps: list) -> dict:
    """``{variant: trajectory}`` of RMSPropNesterov's known mistakes on these inputs:
    "velocity_only" (the parameters moved by v' only, not by the look-ahead form's (1 + momentum)
    v' - momentum v). The grader names their causes (``grader/causes.py``)."""
    return {"velocity_only": _rmsprop_nesterov("velocity_only", hyper, params, grad_steps)}


def _torch_trajectory(name: str, hyper: dict, params: dict, grad_steps: list) -> list[dict]:
    tensors = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    for tensor in tensors.values():
        tensor.requires_grad_(True)
    optimizer = make(name, list(tensors.values()), hyper)
    snapshots = []
    for grads in grad_steps:
        for key, tensor in tensors.items():
            tensor.grad = torch.tensor(np.asarray(grads["d" + key], dtype=np.float64))
        optimizer.step()
        snapshots.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    return snapshots


def _rmsprop_nesterov(kind: str, hyper: dict, params: dict, grad_steps: list) -> list[dict]:
    """The ``kind`` ("exact" or "velocity_only") trajectory, from the withheld rule or from its
    recorded outputs. Only the gradients of the parameters are inputs (other keys of a gradient
    dict are ignored)."""
    names = sorted(params)
    inputs = [hyper, params, [{k: g["d" + k] for k in names} for g in grad_steps]]
    if kind == "exact":
        return withheld.compute("rmsprop_nesterov", kind, inputs, lambda rule: _torch_trajectory(
            "RMSPropNesterov", hyper, params, grad_steps))
    return withheld.compute("rmsprop_nesterov", kind, inputs,
                            lambda rule: rule.velocity_only(hyper, params, grad_steps))
