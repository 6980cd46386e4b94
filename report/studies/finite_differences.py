"""Study 3, finite differences: how close central differences come to backpropagation.

For one training digit, the student's ``NN.finite_difference`` estimates the gradient of the
loss with respect to the first ``p`` weights of the second layer with ``epsilon = 1 / N``, for
``N`` in ``{k * 10^i : i in 0..5, k in {1, 5}}``; the student's ``NN.backward`` gives the
gradient it is compared with. A large epsilon has a truncation error of order epsilon^2; a tiny
one loses digits to rounding (of order machine epsilon / epsilon), so the error is smallest
between the two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from report.studies.common import mlp_parameters, mnist_for

NAME = "finite_differences"
TITLE = "3. Finite differences"
QUESTION = "For which N is the central difference with epsilon = 1/N closest to the backpropagated gradient?"


@dataclass
class Config:
    hidden_dims: tuple = (500, 400)
    p: int = 10
    layer: int = 2
    exponents: tuple = (0, 1, 2, 3, 4, 5)
    multipliers: tuple = (1, 5)
    train_epochs: int = 1            # the gradient of a network trained this long (0: at init)
    train_size: int | None = None
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(train_epochs=0, train_size=500)
        return cls()


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    network = context.solution.NN(hidden_dims=tuple(config.hidden_dims), seed=config.seed,
                                  activation="relu", init_method="glorot", data=data)
    if config.train_epochs:
        network.train_loop(config.train_epochs)
    else:
        network.initialize_weights([data[0][0].shape[1], data[0][1].shape[1]])
    x, y = data[0][0][:1], data[0][1][:1]
    grads = network.backward(network.forward(x), y)
    exact = np.asarray(grads[f"dW{config.layer}"], dtype=float).ravel()[:config.p]
    ns = sorted(k * 10 ** i for i in config.exponents for k in config.multipliers)
    errors = []
    for n in context.progress(ns, desc="N"):
        estimate = np.asarray(network.finite_difference(x, y, 1.0 / n, layer=config.layer, p=config.p),
                              dtype=float).ravel()
        errors.append(float(np.max(np.abs(estimate - exact))))
    best = int(np.argmin(errors))
    context.notes.append(f"Smallest error at N = {ns[best]:,} (epsilon = {1 / ns[best]:.1e}): "
                         f"{errors[best]:.2e}.")
    dims = [x.shape[1], *config.hidden_dims, y.shape[1]]
    return {"N": ns, "errors": errors, "best_N": ns[best], "dims": dims, "p": config.p,
            "layer": config.layer, "train_epochs": config.train_epochs, "seed": config.seed,
            "parameters": mlp_parameters(dims), "data": source,
            "gradient_scale": float(np.max(np.abs(exact)))}


def plot(logs: dict) -> dict:
    from report import plots

    best = logs["N"].index(logs["best_N"])
    return {"error_vs_N": plots.line_figure(
        {"max_i |finite difference - backprop|": (logs["N"], logs["errors"])},
        title=f"Central differences on the first {logs['p']} weights of W{logs['layer']}",
        xlabel="N (epsilon = 1/N)", ylabel="maximum absolute error (nats per unit weight)",
        logx=True, logy=True,
        marks={f"smallest error, N = {logs['best_N']:,}": (logs["best_N"], logs["errors"][best])})}


def table(logs: dict) -> tuple:
    rows = [(f"{n:,}", f"{1 / n:.1e}", f"{error:.3e}" + ("  (smallest)" if n == logs["best_N"] else ""))
            for n, error in zip(logs["N"], logs["errors"], strict=False)]
    return ("N", "epsilon", "max_i |grad_N - dL/dtheta_i|"), rows


def describe(logs: dict) -> dict:
    trained = (f"after {logs['train_epochs']} epoch(s) of training" if logs["train_epochs"]
               else "at initialization")
    return {"architecture": "-".join(map(str, logs["dims"])) + " (relu, Glorot)",
            "parameters": f"{logs['parameters']:,}",
            "weights checked": f"first {logs['p']} of W{logs['layer']}",
            "network": trained, "sample": "the first training digit", "seed": logs["seed"],
            "data": logs["data"], "largest |dL/dtheta_i|": f"{logs['gradient_scale']:.3e}"}
