"""Known wrong versions of the optimizers, to name the likely cause of a wrong trajectory.

Each function returns the parameters after each step of a *buggy* optimizer, built from the
torch reference where possible; none of them is a correct optimizer.
"""
from __future__ import annotations

import numpy as np

from reference import optim


def _run(params: dict, stream: list, update, weight_decay: float = 0.0) -> list[dict]:
    """Apply ``update(param, g, state) -> new param`` step by step, with torch's weight decay
    (``g + weight_decay * param``)."""
    current = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    states = {k: {} for k in current}
    snapshots = []
    for grads in stream:
        for key in current:
            g = np.asarray(grads["d" + key], np.float64) + weight_decay * current[key]
            current[key] = update(current[key], g, states[key])
        snapshots.append({k: v.copy() for k, v in current.items()})
    return snapshots


def variant_trajectories(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{likely cause: trajectory}`` for the known mistakes of optimizer ``name``."""
    lr = hyper.get("lr", 0.0)
    decay = hyper.get("weight_decay", 0.0)
    variants = {}
    if hyper.get("weight_decay"):
        without = {k: v for k, v in hyper.items() if k != "weight_decay"}
        variants["weight_decay was ignored (add weight_decay * param to the gradient)"] = (
            optim.trajectory(name, without, params, stream))
    if name == "Adam":
        beta1, beta2 = hyper.get("betas", (0.9, 0.999))
        eps, lr = hyper.get("eps", 1e-8), hyper.get("lr", 1e-3)

        def no_correction(p, g, s):
            s["m"] = beta1 * s.get("m", 0) + (1 - beta1) * g
            s["v"] = beta2 * s.get("v", 0) + (1 - beta2) * g * g
            return p - lr * s["m"] / (np.sqrt(s["v"]) + eps)

        variants["the bias corrections m / (1 - b1^t) and v / (1 - b2^t) are missing"] = (
            _run(params, stream, no_correction, decay))

        def eps_inside(p, g, s):
            s["t"] = s.get("t", 0) + 1
            s["m"] = beta1 * s.get("m", 0) + (1 - beta1) * g
            s["v"] = beta2 * s.get("v", 0) + (1 - beta2) * g * g
            m_hat, v_hat = s["m"] / (1 - beta1 ** s["t"]), s["v"] / (1 - beta2 ** s["t"])
            return p - lr * m_hat / np.sqrt(v_hat + eps)

        variants["eps is inside the square root; torch adds it after: sqrt(v_hat) + eps"] = (
            _run(params, stream, eps_inside, decay))
    if name in ("Momentum", "Nesterov"):
        momentum = hyper.get("momentum", 0.9)

        def dampened(p, g, s):
            s["v"] = momentum * s.get("v", 0) + (1 - momentum) * g
            return p - lr * (g + momentum * s["v"] if name == "Nesterov" else s["v"])

        variants["the velocity is an average (m v + (1 - m) g), not m v + g as in torch"] = (
            _run(params, stream, dampened, decay))
    if name == "Nesterov":
        variants["the look-ahead is missing: that is plain momentum"] = optim.trajectory(
            "Momentum", {k: v for k, v in hyper.items()}, params, stream)
    if name in ("AdaGrad", "RMSProp"):
        eps = hyper.get("eps", 1e-10 if name == "AdaGrad" else 1e-8)
        alpha = 1.0 if name == "AdaGrad" else hyper.get("alpha", 0.99)
        lr = hyper.get("lr", 0.01)

        def inside(p, g, s):
            keep = s.get("r", 0)
            s["r"] = keep + g * g if name == "AdaGrad" else alpha * keep + (1 - alpha) * g * g
            return p - lr * g / np.sqrt(s["r"] + eps)

        variants["eps is inside the square root; torch adds it after: sqrt(r) + eps"] = (
            _run(params, stream, inside, decay))
    if name == "AdaGrad":
        eps, lr = hyper.get("eps", 1e-10), hyper.get("lr", 0.01)

        def forgetful(p, g, s):
            return p - lr * g / (np.sqrt(g * g) + eps)

        variants["the squared gradients are not accumulated over the steps (s <- s + g^2)"] = (
            _run(params, stream, forgetful, decay))
    if name == "RMSPropNesterov":
        # Its variants come with the rule, which the student handout does not contain.
        variants.update(optim.rmsprop_nesterov_variants(hyper, params, stream))
    if name == "AdaDelta" and hyper.get("lr", 1.0) != 1.0:
        variants["the learning rate was ignored (torch multiplies the step by lr)"] = (
            optim.trajectory(name, {**hyper, "lr": 1.0}, params, stream))
    return variants
