"""Study 1, initialization: the training loss per epoch with zero, normal and Glorot weights.

The assignment's network, 784-500-400-10 with relu, trained by the student's ``NN.train_loop``
(plain SGD, learning rate 7e-4, batch 64) for 10 epochs from each initializer. Zero weights give
every unit of a layer the same gradient, so the network cannot learn and its loss stays at
ln 10 ~ 2.3026 (uniform predictions over 10 classes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "initialization"
TITLE = "1. Initialization"
QUESTION = "How do zero, normal and Glorot initial weights change the average training loss per epoch?"


@dataclass
class Config:
    hidden_dims: tuple = (500, 400)
    lr: float = 7e-4
    batch_size: int = 64
    epochs: int = 10
    methods: tuple = ("zero", "normal", "glorot")
    train_size: int | None = None    # None: every training digit present
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=2, train_size=1000)
        return cls()


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    runs = {}
    for method in context.progress(config.methods, desc="initializers"):
        network = context.solution.NN(hidden_dims=tuple(config.hidden_dims), lr=config.lr,
                                      batch_size=config.batch_size, seed=config.seed,
                                      activation="relu", init_method=method, data=data)
        logs = network.train_loop(config.epochs)
        runs[method] = {"train_loss": as_floats(logs["train_loss"]),
                        "validation_loss": as_floats(logs["validation_loss"]),
                        "validation_accuracy": as_floats(logs["validation_accuracy"])}
    dims = [data[0][0].shape[1], *config.hidden_dims, data[0][1].shape[1]]
    return {"runs": runs, "dims": dims, "parameters": mlp_parameters(dims), "lr": config.lr,
            "batch_size": config.batch_size, "epochs": config.epochs, "seed": config.seed,
            "data": source, "train_size": int(len(data[0][0]))}


def plot(logs: dict) -> dict:
    from report import plots

    series = {method: (list(range(1, len(run["train_loss"]) + 1)), run["train_loss"])
              for method, run in logs["runs"].items()}
    return {"training_loss": plots.line_figure(
        series, title="Average training loss per epoch, by initializer", xlabel="epoch",
        ylabel="training loss (mean cross-entropy, nats)", logy=True,
        hline=(math.log(10), "ln 10 (uniform over 10 classes)"))}


def table(logs: dict) -> tuple:
    rows = [(method, f"{run['train_loss'][0]:.4f}", f"{run['train_loss'][-1]:.4f}",
             f"{100 * run['validation_accuracy'][-1]:.1f} %") for method, run in logs["runs"].items()]
    return ("initializer", "loss after epoch 1", "loss after the last epoch", "validation accuracy"), rows


def describe(logs: dict) -> dict:
    return {"architecture": "-".join(map(str, logs["dims"])) + " (relu)",
            "parameters": f"{logs['parameters']:,}", "optimizer": f"SGD, learning rate {logs['lr']:g}",
            "batch size": logs["batch_size"], "epochs": logs["epochs"], "seed": logs["seed"],
            "data": f"{logs['data']} ({logs['train_size']:,} training digits)"}
