"""Practical study 8, adaptive optimizers: the student's own numpy AdaGrad, RMSProp, RMSProp with
Nesterov momentum, AdaDelta and Adam driving the student's ``NN`` (``NN(optimizer=...)``, whose
``update`` delegates to ``optimizer.step``), each with L2 weight decay.

The assignment's network is an MLP of 2 x 1000 relu units, batch 128, trained for 200 epochs on
MNIST (``--scale full``); the smaller scales keep the network and shorten the run. The training
loss per epoch, the wall time of each run and the test accuracy are reported. The run with
dropout (0.2 on the input, 0.5 on the hidden layers) needs an ``NN`` that takes
``dropout=(p_input, p_hidden)``; the template's does not, and the section says so.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "adaptive_optimizers"
TITLE = "14. Adaptive optimizers"
QUESTION = "How do your AdaGrad, RMSProp, RMSProp+Nesterov, AdaDelta and Adam train the same MLP?"

SETTINGS = {"AdaGrad": {"lr": 0.01}, "RMSProp": {"lr": 1e-3},
            "RMSPropNesterov": {"lr": 1e-3, "momentum": 0.9}, "AdaDelta": {"lr": 1.0},
            "Adam": {"lr": 1e-3}}
"""Each optimizer's settings: torch's defaults for the learning rate, except RMSProp's (torch's
1e-2 diverges on this network in the first epoch) and RMSProp+Nesterov's (the assignment's)."""


@dataclass
class Config:
    hidden_dims: tuple = (1000, 1000)
    batch_size: int = 128
    epochs: int = 5
    weight_decay: float = 1e-4
    optimizers: tuple = tuple(SETTINGS)
    dropout: tuple = (0.2, 0.5)
    train_size: int | None = None
    seed: int = 0
    scale: str = "default"

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=1, train_size=1000, hidden_dims=(256, 256), scale=scale)
        if scale == "full":
            return cls(epochs=200, scale=scale)
        return cls()


def _takes_dropout(nn_class) -> bool:
    try:
        return "dropout" in inspect.signature(nn_class.__init__).parameters
    except (TypeError, ValueError):
        return False


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    solution = context.solution
    variants = [("without dropout", None)]
    if _takes_dropout(solution.NN):
        variants.append((f"dropout {config.dropout[0]:g} / {config.dropout[1]:g}", tuple(config.dropout)))
    else:
        context.notes.append("Your NN takes no dropout=(p_input, p_hidden) argument, so the runs "
                             "with dropout were left out.")
    runs = []
    steps = [(label, dropout, name) for label, dropout in variants for name in config.optimizers]
    for label, dropout, name in context.progress(steps, desc="optimizers"):
        optimizer = getattr(solution, name)(**SETTINGS[name], weight_decay=config.weight_decay)
        extra = {"dropout": dropout} if dropout is not None else {}
        network = solution.NN(hidden_dims=tuple(config.hidden_dims), batch_size=config.batch_size,
                              seed=config.seed, activation="relu", init_method="glorot", data=data,
                              optimizer=optimizer, **extra)
        started = time.perf_counter()
        logs = network.train_loop(config.epochs)
        seconds = time.perf_counter() - started
        test_loss, test_accuracy = network.evaluate()
        runs.append({"optimizer": name, "variant": label, "settings": SETTINGS[name],
                     "train_loss": as_floats(logs["train_loss"]),
                     "validation_accuracy": as_floats(logs["validation_accuracy"]),
                     "seconds": seconds, "test_loss": float(test_loss),
                     "test_accuracy": float(test_accuracy)})
    dims = [data[0][0].shape[1], *config.hidden_dims, data[0][1].shape[1]]
    return {"runs": runs, "dims": dims, "parameters": mlp_parameters(dims), "epochs": config.epochs,
            "batch_size": config.batch_size, "weight_decay": config.weight_decay, "seed": config.seed,
            "data": source, "train_size": int(len(data[0][0])), "scale": config.scale}


def plot(logs: dict) -> dict:
    from report import plots

    figures = {}
    for variant in dict.fromkeys(run["variant"] for run in logs["runs"]):
        series = {run["optimizer"]: (list(range(1, len(run["train_loss"]) + 1)), run["train_loss"])
                  for run in logs["runs"] if run["variant"] == variant}
        key = "training_loss" if variant == "without dropout" else "training_loss_dropout"
        figures[key] = plots.line_figure(
            series, title=f"Training loss per epoch by optimizer ({variant}, {logs['scale']} scale)",
            xlabel="epoch", ylabel="training loss (mean cross-entropy, nats)", logy=True)
    return figures


def table(logs: dict) -> tuple:
    rows = [(run["optimizer"], run["variant"], ", ".join(f"{k} {v:g}" for k, v in run["settings"].items()),
             f"{run['train_loss'][-1]:.4f}", f"{100 * run['test_accuracy']:.2f} %", f"{run['seconds']:.1f} s")
            for run in logs["runs"]]
    return ("optimizer", "variant", "settings", "final training loss", "test accuracy", "wall time"), rows


def describe(logs: dict) -> dict:
    return {"architecture": "-".join(map(str, logs["dims"])) + " (relu, Glorot)",
            "parameters": f"{logs['parameters']:,}",
            "optimizers": "yours, with L2 weight decay " + f"{logs['weight_decay']:g}",
            "batch size": logs["batch_size"], "epochs": logs["epochs"], "seed": logs["seed"],
            "scale": logs["scale"], "data": f"{logs['data']} ({logs['train_size']:,} training digits)"}
