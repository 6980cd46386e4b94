"""Practical study 5, batch norm vs dropout on LeNet-5: four variants of the same network
(``reference/lenet.py``) trained alike, with the student's own ``BatchNorm2d`` as every batch
norm and torch's dropout (the homework allows a framework; the student's numpy ``Dropout`` is
graded in its own part).

The variants: a standardized input with batch norm in the hidden layers; batch norm on the raw
input too; dropout (0.2 on the input, 0.5 on the hidden fully connected layers) without batch
norm; batch norm and dropout together. Reported: the train and test accuracy and loss of each,
and the learned batch-norm gamma and beta per layer (a table, and a figure per layer).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from report.studies.common import mnist_for

NAME = "lenet_regularization"
TITLE = "11. Batch norm vs dropout on LeNet-5"
QUESTION = ("What do batch norm, dropout and both do to LeNet-5's accuracy, and what gamma and beta "
            "does BN learn?")
SMOKE_CAVEAT = ('one epoch on 1,000 digits: batch norm and dropout have not yet changed how LeNet-5 '
                'learns; compare them at the default scale.')
"""What a smoke run of this study cannot show: the report says so beside its figures."""


@dataclass
class Config:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    train_size: int | None = None
    seed: int = 0
    scale: str = "default"

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=1, train_size=1000, scale=scale)
        if scale == "full":
            return cls(epochs=20, scale=scale)
        return cls()


def _loaders(data, config, standardize: bool, mean: float, std: float):
    import torch

    def loader(split, shuffle):
        x, y = split
        images = x.reshape(-1, 1, 28, 28).astype(np.float32)
        if standardize:
            images = (images - mean) / std
        generator = torch.Generator().manual_seed(config.seed)
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.tensor(images), torch.tensor(np.argmax(y, axis=1))),
            batch_size=config.batch_size, shuffle=shuffle, generator=generator)

    return loader(data[0], True), loader(data[0], False), loader(data[2], False)


def run(config: Config, context) -> dict:
    import torch

    from reference.lenet import VARIANTS, LeNet5, batch_norm_parameters
    from reference.training import evaluate, pick_device, train_epoch

    data, source = mnist_for(context, config.train_size)
    mean, std = float(data[0][0].mean()), float(data[0][0].std())
    device = pick_device()
    student_norm = context.solution.BatchNorm2d
    runs = {}
    for variant, spec in context.progress(list(VARIANTS.items()), desc="variants"):
        torch.manual_seed(config.seed)
        model = LeNet5(norm=(lambda channels, where: student_norm(channels)) if spec["norm"] else None,
                       input_norm=spec["input_norm"], dropout=spec["dropout"]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        train, train_eval, test = _loaders(data, config, spec["standardize"], mean, std)
        history = []
        started = time.perf_counter()
        for _ in range(config.epochs):
            train_epoch(model, train, optimizer, device, progress=False)
            history.append({"train": evaluate(model, train_eval, device),
                            "test": evaluate(model, test, device)})
        runs[variant] = {"history": history, "seconds": time.perf_counter() - started,
                         "batch_norm": batch_norm_parameters(model), **spec,
                         "parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad))}
    return {"runs": runs, "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
            "seed": config.seed, "data": source, "train_size": int(len(data[0][0])),
            "test_size": int(len(data[2][0])), "scale": config.scale, "input_mean": mean, "input_std": std}


def plot(logs: dict) -> dict:
    from report import plots

    runs = logs["runs"]
    epochs = list(range(1, logs["epochs"] + 1))
    figures = {"accuracy": plots.panels_figure(
        [{"series": {v: (epochs, [h[split]["accuracy"] for h in run["history"]]) for v, run in runs.items()},
          "xlabel": "epoch", "ylabel": "accuracy (fraction correct)", "title": f"{split} accuracy"}
         for split in ("train", "test")],
        title=f"LeNet-5: batch norm vs dropout ({logs['scale']} scale)")}
    # One panel per layer, each variant with batch norm as a line of its channels' values sorted
    # (a quantile curve): the same variant keeps the same line style in every panel, and a layer
    # a variant has no batch norm at (the input) keeps an empty entry for it.
    variants = [v for v, run in runs.items() if run["batch_norm"]]
    layers = list(dict.fromkeys(where for v in variants for where in runs[v]["batch_norm"]))
    for name in ("gamma", "beta"):
        panels = []
        for where in layers:
            series = {}
            for variant in variants:
                values = sorted(runs[variant]["batch_norm"].get(where, {}).get(name, []))
                series[variant] = (list(range(1, len(values) + 1)), values)
            panels.append({"series": series, "xlabel": "channel (sorted by value)", "ylabel": name,
                           "title": where})
        if panels:
            figures[f"batch_norm_{name}"] = plots.panels_figure(
                panels, title=f"Learned batch-norm {name} per layer, by variant ({logs['scale']} scale)")
    return figures


def table(logs: dict) -> tuple:
    rows = []
    for variant, run in logs["runs"].items():
        last = run["history"][-1]
        rows.append((variant, f"{100 * last['train']['accuracy']:.2f} %", f"{last['train']['loss']:.4f}",
                     f"{100 * last['test']['accuracy']:.2f} %", f"{last['test']['loss']:.4f}",
                     f"{run['seconds']:.1f} s"))
    for variant, run in logs["runs"].items():
        for where, values in run["batch_norm"].items():
            gamma, beta = np.asarray(values["gamma"]), np.asarray(values["beta"])
            rows.append((f"{variant}: BN at {where}", f"gamma mean {gamma.mean():.3f}",
                         f"gamma std {gamma.std():.3f}", f"beta mean {beta.mean():.3f}",
                         f"beta std {beta.std():.3f}", f"{gamma.size} channels"))
    return ("variant", "train accuracy", "train loss", "test accuracy", "test loss", "wall time"), rows


def describe(logs: dict) -> dict:
    return {"architecture": "LeNet-5 (relu, max pooling): conv 6@5x5, conv 16@5x5, fc 120, 84, 10",
            "parameters": ", ".join(f"{variant} {run['parameters']:,}"
                                    for variant, run in logs["runs"].items()),
            "batch norm": "your BatchNorm2d (the fully connected features as (N, C, 1, 1))",
            "dropout": "torch.nn.Dropout, 0.2 on the input and 0.5 after fc 120 and fc 84",
            "optimizer": f"Adam, learning rate {logs['lr']:g}", "batch size": logs["batch_size"],
            "epochs": logs["epochs"], "seed": logs["seed"], "scale": logs["scale"],
            "data": f"{logs['data']} ({logs['train_size']:,} training, {logs['test_size']:,} test digits)",
            "standardized input": f"(x - {logs['input_mean']:.4f}) / {logs['input_std']:.4f}"}
