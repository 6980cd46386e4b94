"""Study, depth vs width: the same budget of hidden units spent on one, two or three layers.

Eggholder regression. ``y = f(x1, x2) + N(0, 0.3)`` with the Eggholder function
``f = -(x2 + 47) sin(sqrt|x2 + x1/2 + 47|) - x1 sin(sqrt|x1 - (x2 + 47)|)`` at points drawn
uniformly from [-512, 512]^2, split 80/20 into training and test points. Inputs and targets are
standardized with the training points' mean and standard deviation (the raw inputs span +-512
and the targets several hundred: unscaled, SGD would need a different learning rate per
architecture); every RMSE is reported in the target's original units. The networks are
``2 - w - ... - w - 1`` with ReLU; with two or three hidden layers each hidden layer is
Linear -> BatchNorm -> ReLU (BatchNorm as the regularizer). The width ``w`` runs over powers of
two from 16 with ``depth * w <= 512`` (the 512-unit budget): one layer 16..512, two layers
16..256, three layers 16..128. Every network is trained with the same SGD (Nesterov momentum),
learning rate, batch of 1000, seed and number of epochs.

MNIST. A fixed total of hidden units (100, 200, 1000) split equally over 1..4 ReLU layers (the
remainder to the first layers, so the total is exact), trained a few epochs with the same SGD;
test accuracy per split.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from report.studies.common import mnist_for

NAME = "depth_width"
TITLE = "12. Depth vs width"
QUESTION = ("With a fixed budget of hidden units, is it better to spend it on one wide layer or on "
            "several narrower ones?")
BUDGET = 512
LOW, HIGH = -512.0, 512.0


@dataclass
class Config:
    samples: int = 20_000             # Eggholder points, 80 % for training
    depths: tuple = (1, 2, 3)
    min_width: int = 16
    budget: int = BUDGET              # depth * width <= budget
    noise: float = 0.3
    lr: float = 0.01                 # 0.05 diverged (NaN) for 1 x 512 and 2 x 256
    momentum: float = 0.9
    batch_size: int = 1000
    epochs: int = 2000
    mnist_totals: tuple = (100, 200, 1000)
    mnist_depths: tuple = (1, 2, 3, 4)
    mnist_lr: float = 0.05
    mnist_batch_size: int = 50
    mnist_epochs: int = 20
    mnist_train_size: int | None = None
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(samples=2000, epochs=50, mnist_epochs=4, mnist_train_size=1000)
        if scale == "default":
            return cls(samples=10_000, epochs=200, mnist_epochs=8)
        return cls()


def eggholder(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The Eggholder function at points ``(x1, x2)`` (arrays of one shape)."""
    return (-(x2 + 47) * np.sin(np.sqrt(np.abs(x2 + x1 / 2 + 47)))
            - x1 * np.sin(np.sqrt(np.abs(x1 - (x2 + 47)))))


def eggholder_data(samples: int, noise: float, seed: int):
    """``(x_train (0.8 N, 2), y_train (0.8 N,), x_test, y_test)``, float64, unscaled."""
    generator = np.random.default_rng(seed)
    x = generator.uniform(LOW, HIGH, size=(samples, 2))
    y = eggholder(x[:, 0], x[:, 1]) + generator.normal(0.0, noise, size=samples)
    cut = int(0.8 * samples)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def widths_for(config: Config) -> dict[int, list[int]]:
    """``{depth: [width, ...]}``: powers of two from ``min_width`` with ``depth * width <= budget``."""
    grid = {}
    for depth in config.depths:
        widths, width = [], config.min_width
        while depth * width <= config.budget:
            widths.append(width)
            width *= 2
        grid[depth] = widths
    return grid


def split_units(total: int, depth: int) -> list[int]:
    """``total`` hidden units over ``depth`` layers, as equal as can be (the first layers get the
    remainder): ``split_units(100, 3) == [34, 33, 33]``."""
    return [total // depth + (1 if layer < total % depth else 0) for layer in range(depth)]


def _mlp(inputs: int, hidden: list[int], outputs: int, batch_norm: bool):
    import torch

    layers, previous = [], inputs
    for width in hidden:
        layers.append(torch.nn.Linear(previous, width))
        if batch_norm:
            layers.append(torch.nn.BatchNorm1d(width))
        layers.append(torch.nn.ReLU())
        previous = width
    layers.append(torch.nn.Linear(previous, outputs))
    return torch.nn.Sequential(*layers)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)   # the clock must see the GPU's work finished


def _train(model, x, y, loss_fn, *, lr, momentum, batch_size, epochs, seed, device) -> float:
    """Minibatch SGD with Nesterov momentum over the tensors ``x`` (N, d), ``y``; returns seconds."""
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=True)
    order = torch.Generator().manual_seed(seed)
    count = len(x)
    model.train()
    _sync(device)
    started = time.perf_counter()
    for _ in range(epochs):
        permutation = torch.randperm(count, generator=order).to(device)
        for start in range(0, count, batch_size):
            chosen = permutation[start:start + batch_size]
            if len(chosen) < 2 and any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
                continue   # BatchNorm cannot normalize a batch of one
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[chosen]), y[chosen]).backward()
            optimizer.step()
    _sync(device)
    return time.perf_counter() - started


def _predict(model, x):
    import torch

    model.eval()
    with torch.no_grad():
        return model(x)


def _eggholder_runs(config: Config, context, device) -> dict:
    import torch

    x_train, y_train, x_test, y_test = eggholder_data(config.samples, config.noise, config.seed)
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = float(y_train.mean()), float(y_train.std())

    def tensor(a):
        return torch.tensor(a, dtype=torch.float32, device=device)

    xs = {"train": tensor((x_train - x_mean) / x_std), "test": tensor((x_test - x_mean) / x_std)}
    ys = {"train": y_train, "test": y_test}
    target = tensor((y_train - y_mean) / y_std)[:, None]
    runs = []
    plan = [(depth, width) for depth, widths in widths_for(config).items() for width in widths]
    for depth, width in context.progress(plan, desc="Eggholder networks"):
        torch.manual_seed(config.seed)
        model = _mlp(2, [width] * depth, 1, batch_norm=depth >= 2).to(device)
        seconds = _train(model, xs["train"], target, torch.nn.functional.mse_loss, lr=config.lr,
                         momentum=config.momentum, batch_size=config.batch_size, epochs=config.epochs,
                         seed=config.seed, device=device)
        rmse = {}
        for split in ("train", "test"):
            predicted = _predict(model, xs[split]).cpu().double().numpy()[:, 0] * y_std + y_mean
            rmse[split] = float(np.sqrt(np.mean((predicted - ys[split]) ** 2)))
        runs.append({"depth": depth, "width": width, "hidden_units": depth * width,
                     "parameters": int(sum(p.numel() for p in model.parameters())),
                     "train_rmse": rmse["train"], "test_rmse": rmse["test"], "seconds": seconds})
    constant = float(np.sqrt(np.mean((y_test - y_mean) ** 2)))   # predicting the training mean
    return {"runs": runs, "constant_rmse": constant, "target_std": y_std,
            "train_points": len(x_train), "test_points": len(x_test)}


def _mnist_runs(config: Config, context, device) -> dict:
    import torch

    (train, _valid, test), source = mnist_for(context, config.mnist_train_size)
    x_train = torch.tensor(train[0], dtype=torch.float32, device=device)
    labels = torch.tensor(np.argmax(train[1], axis=1), dtype=torch.int64, device=device)
    x_test = torch.tensor(test[0], dtype=torch.float32, device=device)
    test_labels = np.argmax(test[1], axis=1)
    runs = []
    plan = [(total, depth) for total in config.mnist_totals for depth in config.mnist_depths]
    for total, depth in context.progress(plan, desc="MNIST splits"):
        hidden = split_units(total, depth)
        torch.manual_seed(config.seed)
        model = _mlp(x_train.shape[1], hidden, 10, batch_norm=False).to(device)
        seconds = _train(model, x_train, labels, torch.nn.functional.cross_entropy, lr=config.mnist_lr,
                         momentum=config.momentum, batch_size=config.mnist_batch_size,
                         epochs=config.mnist_epochs, seed=config.seed, device=device)
        predicted = _predict(model, x_test).argmax(dim=1).cpu().numpy()
        runs.append({"total": total, "depth": depth, "hidden": hidden,
                     "parameters": int(sum(p.numel() for p in model.parameters())),
                     "test_accuracy": float(np.mean(predicted == test_labels)), "seconds": seconds})
    return {"runs": runs, "data": source, "train_size": int(len(train[0])), "test_size": int(len(test[0]))}


def run(config: Config, context) -> dict:
    from reference.training import pick_device

    device = pick_device()
    eggholder_logs = _eggholder_runs(config, context, device)
    mnist_logs = _mnist_runs(config, context, device)
    return {"eggholder": eggholder_logs, "mnist": mnist_logs, "widths": widths_for(config),
            "budget": config.budget, "samples": config.samples, "noise": config.noise, "lr": config.lr,
            "momentum": config.momentum, "batch_size": config.batch_size, "epochs": config.epochs,
            "mnist_lr": config.mnist_lr, "mnist_batch_size": config.mnist_batch_size,
            "mnist_epochs": config.mnist_epochs, "seed": config.seed, "device": str(device),
            "scale": context.scale}


def _by_depth(runs: list[dict], x_key: str, y_key: str) -> dict:
    series = {}
    for run in runs:
        label = f"{run['depth']} hidden layer" + ("s" if run["depth"] > 1 else "")
        xs, ys = series.setdefault(label, ([], []))
        xs.append(run[x_key])
        ys.append(run[y_key])
    return series


def plot(logs: dict) -> dict:
    from report import plots

    runs = logs["eggholder"]["runs"]
    constant = (logs["eggholder"]["constant_rmse"], "constant predictor (training mean)")
    mnist = {}
    for run in logs["mnist"]["runs"]:
        layers = f"{run['depth']} layer" + ("s" if run["depth"] > 1 else "")
        mnist.setdefault(f"{run['total']} units", {})[layers] = 100 * run["test_accuracy"]
    return {
        "rmse_by_units": plots.line_figure(
            _by_depth(runs, "hidden_units", "test_rmse"), hline=constant,
            title="Eggholder: test RMSE against hidden units, by depth",
            xlabel="hidden units in all (depth x width)", ylabel="test RMSE (units of f)"),
        "rmse_by_parameters": plots.line_figure(
            _by_depth(runs, "parameters", "test_rmse"), logx=True, hline=constant,
            title="Eggholder: test RMSE against parameters, by depth",
            xlabel="trainable parameters", ylabel="test RMSE (units of f)"),
        "time_by_parameters": plots.line_figure(
            _by_depth(runs, "parameters", "seconds"), logx=True,
            title="Eggholder: training wall time against parameters, by depth",
            xlabel="trainable parameters", ylabel="training wall time (s)"),
        "mnist_accuracy": plots.grouped_bar_figure(
            mnist, title="MNIST: test accuracy when the hidden units are split over layers",
            xlabel="hidden units in all (split equally over the layers)", ylabel="test accuracy (%)",
            ylim=(0, 100)),
    }


def table(logs: dict) -> tuple:
    rows = [(f"Eggholder, {run['depth']} x {run['width']}", f"{run['parameters']:,}",
             f"{run['train_rmse']:.1f}", f"{run['test_rmse']:.1f}", "", f"{run['seconds']:.1f} s")
            for run in logs["eggholder"]["runs"]]
    rows += [(f"MNIST, {'-'.join(map(str, run['hidden']))}", f"{run['parameters']:,}", "", "",
              f"{100 * run['test_accuracy']:.1f} %", f"{run['seconds']:.1f} s")
             for run in logs["mnist"]["runs"]]
    return ("network (hidden layers)", "parameters", "training RMSE", "test RMSE", "test accuracy",
            "training time"), rows


def describe(logs: dict) -> dict:
    egg, mnist = logs["eggholder"], logs["mnist"]
    widths = "; ".join(f"{depth} layer(s): {', '.join(map(str, widths))}"
                       for depth, widths in logs["widths"].items())
    return {"scale": logs["scale"],
            "Eggholder data": (f"{logs['samples']:,} points uniform on [-512, 512]^2, noise N(0, "
                               f"{logs['noise']:g}); {egg['train_points']:,} training / "
                               f"{egg['test_points']:,} test; inputs and targets standardized with "
                               f"the training statistics, RMSE in f's units (target std "
                               f"{egg['target_std']:.1f}, constant predictor RMSE "
                               f"{egg['constant_rmse']:.1f})"),
            "Eggholder networks": (f"2-w-...-w-1, ReLU, BatchNorm in every hidden layer when 2 or 3 "
                                   f"layers; widths (depth x width <= {logs['budget']}): {widths}"),
            "parameters": (f"Eggholder {min(r['parameters'] for r in egg['runs']):,} to "
                           f"{max(r['parameters'] for r in egg['runs']):,}; MNIST "
                           f"{min(r['parameters'] for r in mnist['runs']):,} to "
                           f"{max(r['parameters'] for r in mnist['runs']):,}"),
            "optimizer": (f"SGD, Nesterov momentum {logs['momentum']:g}; learning rate {logs['lr']:g} "
                          f"(Eggholder), {logs['mnist_lr']:g} (MNIST); constant"),
            "batch size": f"{logs['batch_size']} (Eggholder), {logs['mnist_batch_size']} (MNIST)",
            "epochs": f"{logs['epochs']} (Eggholder), {logs['mnist_epochs']} (MNIST)",
            "seed": logs["seed"], "device": logs["device"],
            "MNIST data": (f"{mnist['data']} ({mnist['train_size']:,} training, {mnist['test_size']:,} "
                           f"test digits); hidden units split equally over the layers (remainder to "
                           f"the first ones)")}
