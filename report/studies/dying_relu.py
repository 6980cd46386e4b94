"""Study: dying ReLU (Lu, Shin, Su and Karniadakis, "Dying ReLU and Initialization: Theory and
Numerical Examples", 2019/2020).

A deep and narrow ReLU network, here 1 input, 10 hidden layers of width 2 and 1 linear output
(11 weight matrices), He-normal weights and zero biases, is trained to fit f(x) = |x| on 3,000
points uniform in [-sqrt 7, sqrt 7] (MSE, Adam, minibatch 64). The paper shows that such a
network is, with high probability, dead at initialization (every unit of some layer is zero for
every input, so the output is a constant and no gradient reaches the layers below) and that most
runs therefore end as a constant function. Leaky ReLU (slope 0.01) keeps a gradient everywhere.

All runs of an activation are trained at once: their parameters carry a leading run dimension
(``(R, fan_in, fan_out)`` weights) and every layer is one batched matrix product, each run with its
own initial weights and its own minibatch order. Adam is elementwise and the loss is the sum of
the runs' own mean losses, so the batched training is the runs' separate trainings side by side;
``train_one`` (``nn.Sequential``, one network at a time) is the plain version the tests compare it
with.

A run *collapses* when its trained network is a constant function on the interval: the standard
deviation of its output over the evaluation grid is below ``COLLAPSE_RATIO`` times the target's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from report.studies.common import mlp_parameters

NAME = "dying_relu"
TITLE = "10. Dying ReLU"
QUESTION = ("How often does a 10-layer ReLU network of width 2 collapse to a constant function, "
            "and does leaky ReLU avoid it?")

COLLAPSE_RATIO = 1e-3
"""A run has collapsed when std(output over the grid) < COLLAPSE_RATIO * std(target over the grid)."""
HALF_WIDTH = math.sqrt(7.0)
"""The inputs lie in [-sqrt 7, sqrt 7], as in the paper."""
GRID_POINTS = 401
"""The evaluation grid: evenly spaced over the interval, ends included."""
EXAMPLE_STRIDE = 10
"""The example learned functions are kept at every 10th grid point (41 points, x = 0 among them)."""


@dataclass
class Config:
    runs: int = 1000
    depth: int = 10                  # hidden layers
    width: int = 2
    slopes: tuple = (("relu", 0.0), ("leaky relu", 0.01))   # (label, negative slope)
    train_points: int = 3000
    batch_size: int = 64
    lr: float = 1e-2                 # Adam
    epochs: int = 20
    dtype: str = "float64"
    examples: int = 2                # learned functions kept per activation and verdict
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(runs=100, epochs=5)
        return cls()


def target(x):
    """f(x) = |x| (one of the paper's 1-D targets; a width-2 ReLU network can represent it)."""
    return abs(x)


def _torch_dtype(name: str):
    import torch
    return {"float32": torch.float32, "float64": torch.float64}[name]


def dims_of(config: Config) -> list[int]:
    """Layer sizes ``[1, width x depth, 1]``."""
    return [1, *([config.width] * config.depth), 1]


def problem(config: Config):
    """The shared data: ``(x (P,), y (P,))`` training points and ``(grid (G,), target (G,))``, as
    torch tensors of the config's dtype."""
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    dtype = _torch_dtype(config.dtype)
    x = (2 * torch.rand(config.train_points, generator=generator, dtype=dtype) - 1) * HALF_WIDTH
    grid = torch.linspace(-HALF_WIDTH, HALF_WIDTH, GRID_POINTS, dtype=dtype)
    return x, target(x), grid, target(grid)


def initial_parameters(config: Config, runs: int, seed: int):
    """He-normal weights (std sqrt(2 / fan_in)) and zero biases for ``runs`` networks:
    ``[(W (R, fan_in, fan_out), b (R, 1, fan_out)), ...]``, one pair per layer."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    dtype = _torch_dtype(config.dtype)
    dims = dims_of(config)
    return [(torch.randn(runs, fan_in, fan_out, generator=generator, dtype=dtype) * math.sqrt(2 / fan_in),
             torch.zeros(runs, 1, fan_out, dtype=dtype))
            for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True)]


def minibatch_orders(config: Config, runs: int, seed: int):
    """``(epochs, R, P)`` int64: each run's own shuffle of the training points for each epoch."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    keys = torch.rand(config.epochs, runs, config.train_points, generator=generator)
    return torch.argsort(keys, dim=2)


def batched_forward(parameters, inputs, slope: float):
    """``inputs`` (R, B, 1) through the R networks: (R, B, 1)."""
    import torch

    hidden = inputs
    for weight, bias in parameters[:-1]:
        hidden = torch.nn.functional.leaky_relu(torch.baddbmm(bias, hidden, weight), slope)
    weight, bias = parameters[-1]
    return torch.baddbmm(bias, hidden, weight)


def train_batched(config: Config, parameters, orders, slope: float, x, y, progress=None):
    """Train the R networks of ``parameters`` (changed in place) at once, with Adam on the sum of
    their mean squared errors; ``orders`` (epochs, R, P) is each run's minibatch order."""
    import torch

    leaves = [tensor.requires_grad_() for pair in parameters for tensor in pair]
    optimizer = torch.optim.Adam(leaves, lr=config.lr)
    epochs = range(config.epochs) if progress is None else progress(range(config.epochs), desc="epochs")
    for epoch in epochs:
        for start in range(0, config.train_points, config.batch_size):
            chosen = orders[epoch, :, start:start + config.batch_size]    # (R, B)
            predictions = batched_forward(parameters, x[chosen].unsqueeze(2), slope)
            # Sum over runs of each run's mean: every run gets exactly its own MSE gradient.
            loss = (predictions.squeeze(2) - y[chosen]).pow(2).mean(dim=1).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    for leaf in leaves:
        leaf.requires_grad_(False)
    return parameters


def outputs_on(parameters, grid, slope: float):
    """Each network's output on ``grid`` (G,): (R, G)."""
    import torch

    with torch.no_grad():
        runs = parameters[0][0].shape[0]
        return batched_forward(parameters, grid.expand(runs, -1).unsqueeze(2), slope).squeeze(2)


def collapsed(outputs, target_values):
    """(R,) bool: the runs whose output (R, G) is constant on the grid (see ``COLLAPSE_RATIO``)."""
    return outputs.std(dim=1) < COLLAPSE_RATIO * target_values.std()


def train_one(config: Config, parameters, run: int, orders, slope: float, x, y, grid):
    """The plain version: run ``run`` alone as an ``nn.Sequential``, from its slice of
    ``parameters`` and with its minibatch order; returns its output on ``grid`` (G,)."""
    import torch
    from torch import nn

    layers = []
    for index, (weight, bias) in enumerate(parameters):
        linear = nn.Linear(weight.shape[1], weight.shape[2], dtype=weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(weight[run].T)     # nn.Linear holds (fan_out, fan_in)
            linear.bias.copy_(bias[run, 0])
        layers.append(linear)
        if index < len(parameters) - 1:
            layers.append(nn.LeakyReLU(slope))
    network = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    for epoch in range(config.epochs):
        for start in range(0, config.train_points, config.batch_size):
            chosen = orders[epoch, run, start:start + config.batch_size]
            loss = nn.functional.mse_loss(network(x[chosen].unsqueeze(1)).squeeze(1), y[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return network(grid.unsqueeze(1)).squeeze(1)


def run_activation(config: Config, slope: float, seed: int, progress=None) -> dict:
    """Train ``config.runs`` networks with negative slope ``slope``: verdicts and outputs as tensors."""
    x, y, grid, wanted = problem(config)
    parameters = initial_parameters(config, config.runs, seed)
    dead_at_start = collapsed(outputs_on(parameters, grid, slope), wanted)
    orders = minibatch_orders(config, config.runs, seed + 1)
    train_batched(config, parameters, orders, slope, x, y, progress)
    outputs = outputs_on(parameters, grid, slope)
    return {"collapsed": collapsed(outputs, wanted), "dead_at_start": dead_at_start, "outputs": outputs,
            "mse": (outputs - wanted).pow(2).mean(dim=1), "grid": grid, "target": wanted}


def run(config: Config, context) -> dict:
    context.notes.append(f"Data: {config.train_points:,} generated points x uniform in [-sqrt 7, sqrt 7], "
                         "y = |x| (no MNIST); the student's solution.py is not used.")
    activations = {}
    for label, slope in config.slopes:
        # The same seed for every activation: the same initial weights and minibatch orders.
        result = run_activation(config, slope, seed=config.seed, progress=context.progress)
        flags = result["collapsed"].tolist()
        examples = {}
        for verdict, wanted in (("collapsed", True), ("not collapsed", False)):
            runs = [run for run, flag in enumerate(flags) if flag == wanted][:config.examples]
            examples[verdict] = {str(run): result["outputs"][run, ::EXAMPLE_STRIDE].tolist() for run in runs}
        activations[label] = {"slope": slope, "collapsed": int(sum(flags)),
                              "dead_at_start": int(result["dead_at_start"].sum()),
                              "collapse_fraction": sum(flags) / config.runs,
                              "median_mse": float(result["mse"].median()), "examples": examples}
    return {"activations": activations, "grid": result["grid"][::EXAMPLE_STRIDE].tolist(),
            "target": result["target"][::EXAMPLE_STRIDE].tolist(), "grid_points": GRID_POINTS,
            "runs": config.runs, "dims": dims_of(config), "parameters": mlp_parameters(dims_of(config)),
            "lr": config.lr, "epochs": config.epochs, "batch_size": config.batch_size,
            "train_points": config.train_points, "dtype": config.dtype, "seed": config.seed,
            "scale": context.scale, "collapse_ratio": COLLAPSE_RATIO}


def plot(logs: dict) -> dict:
    from report import plots

    activations = logs["activations"]
    figures = {"collapse_fraction": plots.bar_figure(
        {label: 100 * entry["collapse_fraction"] for label, entry in activations.items()},
        title="Runs that collapse to a constant function", ylabel=f"runs collapsed (% of {logs['runs']:,})",
        errors={label: 100 * _binomial_error(entry["collapse_fraction"], logs["runs"])
                for label, entry in activations.items()})}
    panels = []
    for label, entry in activations.items():
        series = {"target |x|": (logs["grid"], logs["target"])}
        for verdict, runs in entry["examples"].items():
            for run, outputs in runs.items():
                series[f"run {run} ({verdict})"] = (logs["grid"], outputs)
        panels.append({"series": series, "xlabel": "x", "ylabel": "network output", "title": label})
    figures["learned_functions"] = plots.panels_figure(panels, title="Learned functions, collapsed and not")
    return figures


def _binomial_error(fraction: float, runs: int) -> float:
    """The standard error of a fraction of ``runs`` independent runs."""
    return math.sqrt(max(fraction * (1 - fraction), 0.0) / runs)


def table(logs: dict) -> tuple:
    rows = [(label, f"{entry['slope']:g}", f"{entry['dead_at_start']:,} / {logs['runs']:,}",
             f"{entry['collapsed']:,} / {logs['runs']:,}", f"{100 * entry['collapse_fraction']:.1f} %",
             f"{entry['median_mse']:.3g}") for label, entry in logs["activations"].items()]
    return ("activation", "negative slope", "collapsed at initialization", "collapsed after training",
            "collapse fraction", "median MSE on the grid"), rows


def describe(logs: dict) -> dict:
    depth = len(logs["dims"]) - 2
    return {"architecture": "-".join(map(str, logs["dims"])) + f": 1 input, {depth} hidden layers of width "
            f"{logs['dims'][1]} (the paper's \"{depth} layers\"), 1 linear output",
            "parameters": f"{logs['parameters']:,} per network",
            "initialization": "He normal (std sqrt(2 / fan_in)), zero biases",
            "target": "f(x) = |x| on [-sqrt 7, sqrt 7]",
            "data": f"{logs['train_points']:,} points uniform in [-sqrt 7, sqrt 7] (one set for all runs)",
            "optimizer": f"Adam, learning rate {logs['lr']:g}, MSE loss",
            "batch size": logs["batch_size"], "epochs": logs["epochs"],
            "runs": f"{logs['runs']:,} per activation, each with its own initial weights and minibatch order "
                    "(the same ones for both activations)",
            "collapse": f"std of the output over {logs['grid_points']} grid points < "
                        f"{logs['collapse_ratio']:g} x std of the target",
            "arithmetic": f"{logs['dtype']}, all runs trained at once (batched matrix products)",
            "seed": logs["seed"], "scale": logs["scale"]}


def fractions(config: Config, seed: int) -> dict[str, float]:
    """``{label: collapse fraction}`` for one seed (the tests' and the benchmark's entry point)."""
    return {label: float(run_activation(config, slope, seed)["collapsed"].double().mean())
            for label, slope in config.slopes}

