"""Optimizer references: torch.optim in float64, and RMSProp with Nesterov momentum.

``trajectory(name, hyper, params, grad_steps)`` runs one optimizer over a stream of gradient
dicts and returns the parameters after every step, as numpy float64 arrays. Parameters use the
``solution.py`` convention: ``params = {"W1": ...}``, gradients ``{"dW1": ...}``.

torch has no RMSProp with Nesterov momentum, so that reference is a hand-written rule, which is
the answer to the part: it lives in ``reference/rmsprop_nesterov.py``, which the student handout
leaves out. There, the rule's outputs on the public test's cases come from
``rmsprop_nesterov_public.json``, written at release time while ``recording()``; other inputs
raise ``LookupError``.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import torch

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

RULE_MODULE = Path(__file__).with_name("rmsprop_nesterov.py")
"""The RMSPropNesterov rule (instructor only; absent from the student handout)."""
PUBLIC_OUTPUTS = Path(__file__).with_name("rmsprop_nesterov_public.json")
"""The rule's outputs on the public test's cases (the handout's stand-in for the rule)."""

VELOCITY_ONLY_CAUSE = ("the parameters moved by v' only; the look-ahead form moves them by "
                       "(1 + momentum) v' - momentum v")

_recorded: dict | None = None   # while recording(): {case key: trajectory}
_public_table: dict | None = None


def _rule():
    """The module with the RMSPropNesterov rule, or None where it is absent (the handout)."""
    return importlib.import_module("reference.rmsprop_nesterov") if RULE_MODULE.is_file() else None


def make(name: str, tensors: list, hyper: dict) -> torch.optim.Optimizer:
    """The reference optimizer for the student's class ``name`` with its keyword arguments."""
    if name == "RMSPropNesterov":
        rule = _rule()
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
    """``{likely cause: trajectory}`` of RMSPropNesterov's known mistakes on these inputs."""
    return {VELOCITY_ONLY_CAUSE: _rmsprop_nesterov("velocity_only", hyper, params, grad_steps)}


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
    """The ``kind`` ("exact" or "velocity_only") trajectory: from the rule where it exists
    (recorded while ``recording()``), else from the public outputs."""
    key = case_key(kind, hyper, params, grad_steps)
    rule = _rule()
    if rule is None:
        return _public_outputs(key)
    if kind == "exact":
        result = _torch_trajectory("RMSPropNesterov", hyper, params, grad_steps)
    else:
        result = rule.velocity_only(hyper, params, grad_steps)
    if _recorded is not None:
        _recorded[key] = [{k: v.tolist() for k, v in step.items()} for step in result]
    return result


def case_key(kind: str, hyper: dict, params: dict, grad_steps: list) -> str:
    """A SHA-256 naming one computation: its kind, hyper-parameters, parameters and the
    gradients of the parameters at every step (other keys of a gradient dict are ignored)."""
    digest = hashlib.sha256(json.dumps([kind, hyper], sort_keys=True).encode())
    names = sorted(params)
    for step in [params, *({k: g["d" + k] for k in names} for g in grad_steps)]:
        for k in names:
            array = np.ascontiguousarray(step[k], dtype=np.float64)
            digest.update(f"{k}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def recording():
    """Collect ``{case key: trajectory}`` of every RMSPropNesterov computation in the block."""
    global _recorded
    _recorded = {}
    try:
        yield _recorded
    finally:
        _recorded = None


def _public_outputs(key: str) -> list[dict]:
    global _public_table
    if _public_table is None:
        if not PUBLIC_OUTPUTS.is_file():
            raise LookupError(f"neither the RMSPropNesterov rule nor its public outputs "
                              f"({PUBLIC_OUTPUTS.name}) are here")
        _public_table = json.loads(PUBLIC_OUTPUTS.read_text())["cases"]
    if key not in _public_table:
        raise LookupError("the student handout has RMSPropNesterov's reference outputs for the "
                          "public test's cases only, and these inputs are not one of them")
    return [{k: np.asarray(v, dtype=np.float64) for k, v in step.items()} for step in _public_table[key]]
