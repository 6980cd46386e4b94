"""Study 1, initialization: the training loss per epoch with zero, normal and Glorot weights.

The assignment's network, 784-500-400-10 with relu, trained by the student's ``NN.train_loop``
(plain SGD, learning rate 7e-4, batch 64) for 10 epochs from each initializer. Zero weights give
every unit of a layer the same gradient, so the network cannot learn and its loss stays at
ln 10 ~ 2.3026 (uniform predictions over 10 classes).

Orthogonal initialization (asked by the "understanding neural networks" assignment) is compared
with the default, Glorot, without changing the graded ``NN`` API: ``orthogonal`` makes a subclass
of the student's ``NN`` whose ``initialize_weights`` calls the student's own (Glorot; biases as
the student sets them) and then replaces each weight matrix by a random (semi-)orthogonal one of
the same shape, drawn by ``torch.nn.init.orthogonal_`` (gain 1) from the study's seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "initialization"
TITLE = "1. Initialization"
QUESTION = ("How do zero, normal, Glorot and orthogonal initial weights change the average "
            "training loss per epoch?")
SMOKE_CAVEAT = ('2 epochs on 1,000 digits are too few for the initializers to separate as they do '
                'over 10 epochs on every digit (Glorot may still trail normal here); the comparison '
                "the question asks for is the default scale's.")
"""What a smoke run of this study cannot show: the report says so beside its figures."""


@dataclass
class Config:
    hidden_dims: tuple = (500, 400)
    lr: float = 7e-4
    batch_size: int = 64
    epochs: int = 10
    methods: tuple = ("zero", "normal", "glorot", "orthogonal")
    train_size: int | None = None    # None: every training digit present
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=2, train_size=1000)
        return cls()


ORTHOGONAL = "orthogonal"
"""Not one of the student's ``init_method`` values: the study's own subclass (``orthogonal``)."""


def orthogonal(nn_class, seed: int = 0):
    """A subclass of the student's ``nn_class`` whose weight matrices start (semi-)orthogonal
    (see the module's docstring); it is built with ``init_method="glorot"``."""
    import numpy as np

    class NNOrthogonal(nn_class):
        def initialize_weights(self, dims):
            result = super().initialize_weights(dims)
            import torch

            generator = torch.Generator().manual_seed(seed)
            for name in sorted(self.weights):
                if name.startswith("W"):
                    matrix = torch.empty(self.weights[name].shape, dtype=torch.float64)
                    torch.nn.init.orthogonal_(matrix, gain=1.0, generator=generator)
                    self.weights[name] = np.asarray(matrix.numpy(), dtype=self.weights[name].dtype)
            return result

    NNOrthogonal.__name__ = NNOrthogonal.__qualname__ = f"{nn_class.__name__}Orthogonal"
    return NNOrthogonal


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    runs = {}
    for method in context.progress(config.methods, desc="initializers"):
        nn_class, init_method = context.solution.NN, method
        if method == ORTHOGONAL:
            nn_class, init_method = orthogonal(context.solution.NN, config.seed), "glorot"
        network = nn_class(hidden_dims=tuple(config.hidden_dims), lr=config.lr,
                           batch_size=config.batch_size, seed=config.seed,
                           activation="relu", init_method=init_method, data=data)
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
