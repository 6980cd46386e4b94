"""Optimizer references: torch.optim in float64, and RMSProp with Nesterov momentum.

``trajectory(name, hyper, params, grad_steps)`` runs one optimizer over a stream of gradient
dicts and returns the parameters after every step, as numpy float64 arrays. Parameters use the
``solution.py`` convention: ``params = {"W1": ...}``, gradients ``{"dW1": ...}``.
"""
from __future__ import annotations

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


class RMSPropNesterov(torch.optim.Optimizer):
    """RMSProp with Nesterov momentum (Goodfellow, Bengio and Courville, Algorithm 8.7) in the
    look-ahead form: the parameters hold ``phi = theta + momentum * v`` and the gradient is taken
    there. Per step: ``r <- alpha r + (1 - alpha) g^2``; ``v' <- momentum v - lr g / (sqrt(r) + eps)``;
    ``phi <- phi + (1 + momentum) v' - momentum v``. ``weight_decay`` adds ``wd * phi`` to ``g``."""

    def __init__(self, params, lr=0.001, alpha=0.9, momentum=0.9, eps=1e-8, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "alpha": alpha, "momentum": momentum, "eps": eps,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p if group["weight_decay"] else p.grad
                state = self.state[p]
                if not state:
                    state["r"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                r, v = state["r"], state["v"]
                r.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                new_v = group["momentum"] * v - group["lr"] * g / (r.sqrt() + group["eps"])
                p.add_((1 + group["momentum"]) * new_v - group["momentum"] * v)
                state["v"] = new_v


def make(name: str, tensors: list, hyper: dict) -> torch.optim.Optimizer:
    """The reference optimizer for the student's class ``name`` with its keyword arguments."""
    if name == "RMSPropNesterov":
        return RMSPropNesterov(tensors, **hyper)
    torch_class, defaults = TORCH_OPTIMIZERS[name]
    keywords = {**defaults, **hyper}
    if "betas" in keywords:
        keywords["betas"] = tuple(keywords["betas"])
    return torch_class(tensors, **keywords)


def trajectory(name: str, hyper: dict, params: dict, grad_steps: list) -> list[dict]:
    """Parameters after each step of optimizer ``name`` over ``grad_steps`` (float64)."""
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
