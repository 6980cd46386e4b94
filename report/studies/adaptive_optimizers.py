"""Practical study 8, adaptive optimizers: the student's own numpy AdaGrad, RMSProp, RMSProp with
Nesterov momentum, AdaDelta and Adam driving the student's ``NN`` (``NN(optimizer=...)``, whose
``update`` delegates to ``optimizer.step``), each with L2 weight decay.

The assignment's network is an MLP of 2 x 1000 relu units, batch 128, trained for 200 epochs on
MNIST (``--scale full``); the smaller scales keep the network and shorten the run. The training
loss per epoch, the wall time of each run and the test accuracy are reported, for each
optimizer without and with dropout (0.2 on the input, 0.5 on the hidden layers), side by side in
one table and one figure.

The dropout half uses the student's own ``Dropout`` without changing the graded ``NN`` API:
``with_dropout`` makes a subclass of the student's ``NN`` whose ``forward`` drops the input, and
whose ``activation`` drops each hidden layer's output in training (the forward pass stores what
it returns, so the next layer and ``backward`` see the dropped activations) and, asked for the
derivative, multiplies it by the same layer's mask through ``Dropout.backward``, the chain rule
through the mask. Evaluation (``compute_loss_and_accuracy``, ``evaluate``) runs without dropout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "adaptive_optimizers"
TITLE = "14. Adaptive optimizers"
QUESTION = "How do your AdaGrad, RMSProp, RMSProp+Nesterov, AdaDelta and Adam train the same MLP?"
SMOKE_CAVEAT = ("one epoch on 1,000 digits, with 256-unit layers: the optimizers' ranking and the "
                "effect of dropout show over the default scale's epochs, not here.")
"""What a smoke run of this study cannot show: the report says so beside its figures."""

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


def with_dropout(nn_class, dropout_class, p_input: float, p_hidden: float, seed=None):
    """A subclass of the student's ``nn_class`` trained with the student's ``dropout_class``
    (``Dropout(p, seed)``, ``forward(x, train) -> (out, mask)``, ``backward(dout, mask)``): on the
    input with ``p_input`` and on every hidden layer's activation with ``p_hidden``. Only the
    calls the ``NN`` API already makes are wrapped (see the module's docstring), so any ``NN``
    whose ``forward`` and ``backward`` call ``self.activation`` trains with it."""

    class NNWithDropout(nn_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._input_dropout = dropout_class(p_input, seed=seed)
            self._hidden_dropout = dropout_class(p_hidden, seed=None if seed is None else seed + 1)
            self._training = True
            self._masks: list = []     # (the pre-activation given, its mask), in forward order

        def forward(self, x):
            self._masks = []
            if self._training:
                x, _ = self._input_dropout.forward(x, train=True)
            return super().forward(x)

        def activation(self, x, grad=False):
            out = super().activation(x, grad=grad)
            if not self._training:
                return out
            if not grad:
                out, mask = self._hidden_dropout.forward(out, train=True)
                self._masks.append((x, mask))
                return out
            # backward asks for the layers' derivatives last to first: the same array, or else
            # the last mask not used yet
            for index, (given, mask) in enumerate(self._masks):
                if given is x:
                    del self._masks[index]
                    return self._hidden_dropout.backward(out, mask)
            if self._masks:
                return self._hidden_dropout.backward(out, self._masks.pop()[1])
            return out

        def compute_loss_and_accuracy(self, *args, **kwargs):
            return self._evaluating(super().compute_loss_and_accuracy, *args, **kwargs)

        def evaluate(self, *args, **kwargs):
            return self._evaluating(super().evaluate, *args, **kwargs)

        def _evaluating(self, method, *args, **kwargs):
            training, self._training = self._training, False
            try:
                return method(*args, **kwargs)
            finally:
                self._training = training

    NNWithDropout.__name__ = NNWithDropout.__qualname__ = f"{nn_class.__name__}WithDropout"
    return NNWithDropout


def _dropout_missing(solution) -> str:
    """Why the student's ``Dropout`` cannot run the dropout half ("" when it can): absent, or
    not written yet (the template's raises NotImplementedError), so that the runs without
    dropout still make the section."""
    import numpy as np

    dropout_class = getattr(solution, "Dropout", None)
    if not callable(dropout_class):
        return "your solution.py has no Dropout class"
    try:
        layer = dropout_class(0.5, seed=0)
        out, mask = layer.forward(np.ones((2, 3)), train=True)
        layer.backward(np.ones((2, 3)), mask)
    except NotImplementedError:
        return "your Dropout is not written yet (Dropout.forward or backward)"
    except Exception as error:   # noqa: BLE001 - the student's code: say what it raised
        return f"your Dropout raised {type(error).__name__}: {error}"
    return ""


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    solution = context.solution
    variants = [("without dropout", None)]
    dropout_missing = _dropout_missing(solution)
    if not dropout_missing:
        variants.append((f"dropout {config.dropout[0]:g} / {config.dropout[1]:g}", tuple(config.dropout)))
    else:
        context.notes.append(f"The runs with dropout were left out: {dropout_missing}.")
    runs = []
    steps = [(label, dropout, name) for label, dropout in variants for name in config.optimizers]
    for label, dropout, name in context.progress(steps, desc="optimizers"):
        optimizer = getattr(solution, name)(**SETTINGS[name], weight_decay=config.weight_decay)
        nn_class = solution.NN if dropout is None else with_dropout(
            solution.NN, solution.Dropout, *dropout, seed=config.seed)
        network = nn_class(hidden_dims=tuple(config.hidden_dims), batch_size=config.batch_size,
                           seed=config.seed, activation="relu", init_method="glorot", data=data,
                           optimizer=optimizer)
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
    """One figure: a panel per variant (without dropout, with dropout), side by side."""
    from report import plots

    panels = []
    for variant in dict.fromkeys(run["variant"] for run in logs["runs"]):
        series = {run["optimizer"]: (list(range(1, len(run["train_loss"]) + 1)), run["train_loss"])
                  for run in logs["runs"] if run["variant"] == variant}
        panels.append({"series": series, "title": variant, "xlabel": "epoch",
                       "ylabel": "training loss (mean cross-entropy, nats)"})
    title = f"Training loss per epoch by optimizer ({logs['scale']} scale)"
    return {"training_loss": plots.panels_figure(panels, title=title, logy=True)}


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
