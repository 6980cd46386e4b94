"""Study: vanishing and exploding activations through 5 fully connected layers.

MNIST digits (pixels in [0, 1]) go through 5 layers of width 256, ``h_l = f(h_{l-1} W_l + b_l)``
with ``b_l = 0``, untrained, in float64 (the activations by torch). Each activation ``f`` is paired with
initializers of ``W_l`` (fan_in x fan_out): standard normal ``N(0, 1)``, Xavier/Glorot
``U(-d, d)`` with ``d = sqrt(6 / (fan_in + fan_out))`` (the assignment's "glorot"), and He
``N(0, 2 / fan_in)``. With N(0, 1) weights a pre-activation sums ~fan_in terms of unit
variance, so tanh and sigmoid saturate (their gradient vanishes); Xavier keeps the variance
about constant for tanh; for ReLU, which zeroes half of its inputs, Xavier halves the second
moment at every layer while He's factor 2 keeps it.

The second half answers the practical homework's question on a sigmoid with a slope k,
``1 / (1 + exp(-k x))``: the student's ``NN`` (sigmoid, Glorot) is trained at one fixed
learning rate with k small, 1 and large. ``sloped`` makes a subclass whose ``sigmoid`` is the
student's own at ``k x`` (and its derivative ``k sigmoid'(k x)``), so the graded API is unchanged;
an ``NN`` whose ``activation`` does not go through ``self.sigmoid`` cannot take a slope, and the
section says so. A small k makes the unit nearly linear around 0 with a gradient of k / 4 at
most (slow learning); a large k saturates the units, whose gradient then vanishes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from report.studies.common import mlp_parameters, mnist_for

NAME = "activations_depth"
TITLE = "9. Activations through depth"
QUESTION = ("How do tanh, sigmoid and ReLU activations spread, saturate or die through 5 layers, "
            "by initialization?")
PAIRS = (("tanh", "normal"), ("tanh", "xavier"), ("sigmoid", "normal"), ("sigmoid", "xavier"),
         ("relu", "xavier"), ("relu", "he"))
INIT_NAMES = {"normal": "N(0, 1)", "xavier": "Xavier/Glorot", "he": "He"}


def _by_torch(name: str):
    """The activation ``torch.<name>`` on a float64 numpy array. The study computes them with
    torch, not numpy: numpy activations are Part 1's answer, and the report ships with the
    student handout."""
    def apply(a: np.ndarray) -> np.ndarray:
        import torch

        return getattr(torch, name)(torch.from_numpy(np.asarray(a, dtype=np.float64))).numpy()

    apply.__name__ = name
    return apply


ACTIVATIONS = {name: _by_torch(name) for name in ("tanh", "sigmoid", "relu")}
SATURATION = {"tanh": "|h| > 0.99", "sigmoid": "h < 0.01 or h > 0.99", "relu": "h = 0 (dead)"}


@dataclass
class Config:
    depth: int = 5
    width: int = 256
    examples: int = 1000             # digits pushed through the network
    histogram_values: int = 4000     # activations per layer kept in the logs for the histograms
    pairs: tuple = PAIRS
    seed: int = 0
    slopes: tuple = (0.25, 1.0, 4.0)        # k of the sigmoid 1 / (1 + exp(-k x)), trained
    slope_hidden: tuple = (128,)
    slope_lr: float = 0.1                   # the one learning rate every k is trained at
    slope_epochs: int = 5
    slope_train_size: int | None = 2000

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(examples=200, histogram_values=2000, slope_epochs=2, slope_train_size=500)
        return cls()


def weights(init: str, fan_in: int, fan_out: int, rng) -> np.ndarray:
    """``(fan_in, fan_out)`` weights of ``init`` ("normal", "xavier" or "he")."""
    if init == "normal":
        return rng.standard_normal((fan_in, fan_out))
    if init == "xavier":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    raise ValueError(f"unknown initializer {init!r}")


def saturated(activation: str, h: np.ndarray) -> np.ndarray:
    """Where ``h`` is saturated (tanh, sigmoid) or dead (relu): a boolean array like ``h``."""
    if activation == "tanh":
        return np.abs(h) > 0.99
    if activation == "sigmoid":
        return (h < 0.01) | (h > 0.99)
    return h == 0.0


def forward(x: np.ndarray, activation: str, init: str, depth: int, width: int, rng) -> list[np.ndarray]:
    """The activations ``[h_1, ..., h_depth]`` (each (N, width)) of ``x`` (N, D)."""
    layers, h = [], x
    for _ in range(depth):
        h = ACTIVATIONS[activation](h @ weights(init, h.shape[1], width, rng))
        layers.append(h)
    return layers


def sloped(nn_class, k: float):
    """A subclass of the student's ``nn_class`` whose sigmoid has slope ``k`` (the student's
    own ``sigmoid`` at ``k x``; its derivative ``k sigmoid'(k x)``)."""

    class NNSloped(nn_class):
        def sigmoid(self, x, grad=False):
            if grad:
                return k * super().sigmoid(k * x, grad=True)
            return super().sigmoid(k * x)

    NNSloped.__name__ = NNSloped.__qualname__ = f"{nn_class.__name__}SigmoidSlope"
    return NNSloped


def train_slopes(config: Config, context) -> dict | None:
    """The student's ``NN`` trained with each slope of ``config.slopes`` at one learning rate:
    ``{str(k): {"train_loss": [...], "validation_accuracy": [...]}}``; None, with a note, when
    the ``NN`` cannot take a slope (see the module's docstring)."""
    data, _ = mnist_for(context, config.slope_train_size)
    context.notes[-1] = (f"Sigmoid-slope runs: {len(data[0][0]):,} training and {len(data[1][0]):,} "
                         f"validation digits of the same data; a {'-'.join(map(str, config.slope_hidden))} "
                         "hidden-unit sigmoid MLP, Glorot, batch 64.")
    solution = context.solution
    kwargs = dict(hidden_dims=tuple(config.slope_hidden), lr=config.slope_lr, batch_size=64,
                  seed=config.seed, activation="sigmoid", init_method="glorot", data=data)
    probe = np.linspace(-2.0, 2.0, 9).reshape(1, -1)
    try:
        plain = solution.NN(**kwargs).activation(probe)
        steep = sloped(solution.NN, 3.0)(**kwargs).activation(probe)
    except NotImplementedError as error:
        context.notes.append(f"The sigmoid-slope runs need your NN: {error}")
        return None
    if np.allclose(plain, steep):
        context.notes.append("Your NN.activation does not call self.sigmoid, so the sigmoid-slope "
                             "runs could not give it a slope and were left out.")
        return None
    runs = {}
    for k in context.progress(config.slopes, desc="sigmoid slopes"):
        logs = sloped(solution.NN, k)(**kwargs).train_loop(config.slope_epochs)
        runs[f"{k:g}"] = {"train_loss": [float(v) for v in logs["train_loss"]],
                          "validation_accuracy": [float(v) for v in logs["validation_accuracy"]]}
        context.notes.append(f"Sigmoid slope k = {k:g} (learning rate {config.slope_lr:g}): "
                             f"training loss {runs[f'{k:g}']['train_loss'][-1]:.4f}, validation "
                             f"accuracy {100 * runs[f'{k:g}']['validation_accuracy'][-1]:.1f} % "
                             f"after {config.slope_epochs} epochs.")
    return {"runs": runs, "lr": config.slope_lr, "hidden": list(config.slope_hidden),
            "epochs": config.slope_epochs, "train_size": int(len(data[0][0]))}


def run(config: Config, context) -> dict:
    (train, _, _), source = mnist_for(context, config.examples)
    x = np.asarray(train[0], dtype=float)
    runs = {}
    for activation, init in context.progress(config.pairs, total=len(config.pairs), desc="networks"):
        # One seed per pair: every pair sees weights drawn the same way, whatever ran before it.
        rng = np.random.default_rng([config.seed, config.pairs.index((activation, init))])
        layers = forward(x, activation, init, config.depth, config.width, rng)
        pick = np.random.default_rng(config.seed).choice(x.shape[0] * config.width,
                                                           size=min(config.histogram_values,
                                                                    x.shape[0] * config.width),
                                                           replace=False)
        runs[f"{activation}/{init}"] = {
            "activation": activation, "init": init,
            "mean": [float(h.mean()) for h in layers], "std": [float(h.std()) for h in layers],
            "saturated": [float(saturated(activation, h).mean()) for h in layers],
            "values": [np.round(h.ravel()[pick], 5).tolist() for h in layers]}
    context.notes.append(f"Inputs: {x.shape[0]:,} digits, pixels in [0, 1]; biases 0; no training.")
    slopes = train_slopes(config, context) if config.slopes else None
    return {"runs": runs, "depth": config.depth, "width": config.width, "input_dim": int(x.shape[1]),
            "examples": int(x.shape[0]), "data": source, "seed": config.seed, "scale": context.scale,
            "slopes": slopes}


def plot(logs: dict) -> dict:
    from report import plots

    figures = {}
    for activation in dict.fromkeys(run["activation"] for run in logs["runs"].values()):
        runs = [run for run in logs["runs"].values() if run["activation"] == activation]
        groups = {f"layer {layer + 1}": {INIT_NAMES[run["init"]]: run["values"][layer] for run in runs}
                  for layer in range(logs["depth"])}
        figures[f"{activation}_histograms"] = plots.histograms(
            groups, title=f"{activation} activations per layer, by initialization "
                          f"({logs['depth']} layers of {logs['width']})",
            xlabel=f"{activation}(a)")
    slopes = logs.get("slopes")
    if slopes:
        series = {f"k = {k}": (list(range(1, len(run["train_loss"]) + 1)), run["train_loss"])
                  for k, run in slopes["runs"].items()}
        figures["sigmoid_slope"] = plots.line_figure(
            series, title=f"Sigmoid 1 / (1 + exp(-k x)): training loss by slope k (learning rate "
                          f"{slopes['lr']:g})", xlabel="epoch",
            ylabel="training loss (mean cross-entropy, nats)")
    return figures


def table(logs: dict) -> tuple:
    rows = []
    for run in logs["runs"].values():
        for layer in range(logs["depth"]):
            rows.append((run["activation"], INIT_NAMES[run["init"]], layer + 1, f"{run['mean'][layer]:.4f}",
                         f"{run['std'][layer]:.4f}",
                         f"{100 * run['saturated'][layer]:.1f} %  ({SATURATION[run['activation']]})"))
    return ("activation", "initialization", "layer", "mean", "std", "saturated or dead units"), rows


def describe(logs: dict) -> dict:
    dims = [logs["input_dim"], *[logs["width"]] * logs["depth"]]
    return {"architecture": "-".join(map(str, dims)) + ", biases 0, untrained",
            "parameters": f"{mlp_parameters(dims):,}",
            "initializers": "N(0, 1); Xavier/Glorot U(-d, d), d = sqrt(6 / (fan_in + fan_out)); "
                            "He N(0, 2 / fan_in)",
            "data": f"{logs['data']} ({logs['examples']:,} digits)", "seed": logs["seed"],
            "scale": logs["scale"]}
