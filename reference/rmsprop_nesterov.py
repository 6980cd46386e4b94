"""RMSProp with Nesterov momentum: the update rule itself, and its close wrong variants.

This module is the answer to a part of the assignment, so it is the instructor's only: the
student handout leaves it out and ships, in its place, this rule's outputs on the public test's
cases (see ``reference/withheld.py``).
"""
from __future__ import annotations

import numpy as np
import torch


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


def velocity_only(hyper: dict, params: dict, stream: list) -> list[dict]:
    """The parameters after each step of the common mistake that moves them by ``v'`` only
    (the plain-momentum step instead of the look-ahead one); numpy float64."""
    alpha, momentum = hyper.get("alpha", 0.9), hyper.get("momentum", 0.9)
    eps, lr, decay = hyper.get("eps", 1e-8), hyper.get("lr", 0.001), hyper.get("weight_decay", 0.0)
    current = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    r = {k: np.zeros_like(v) for k, v in current.items()}
    v = {k: np.zeros_like(value) for k, value in current.items()}
    snapshots = []
    for grads in stream:
        for key in current:
            g = np.asarray(grads["d" + key], np.float64) + decay * current[key]
            r[key] = alpha * r[key] + (1 - alpha) * g * g
            v[key] = momentum * v[key] - lr * g / (np.sqrt(r[key]) + eps)
            current[key] = current[key] + v[key]
        snapshots.append({k: value.copy() for k, value in current.items()})
    return snapshots
