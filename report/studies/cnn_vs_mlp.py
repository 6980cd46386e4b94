"""Study 4, CNN vs MLP: the student's ``MnistCNN`` against their ``NN`` at a similar size.

Both are trained on the same digits with plain SGD at the same learning rate and batch size, so
the architecture is what differs. After each epoch both are evaluated on the whole training and
validation sets (evaluation mode, no gradients): the curves compare like with like.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "cnn_vs_mlp"
TITLE = "4. CNN vs MLP"
QUESTION = ("Does a convolutional network learn MNIST better than a fully connected one of about the "
            "same size?")
SMOKE_CAVEAT = ('one epoch on 1,000 digits: the CNN may still trail the MLP, which it overtakes over '
                "the default scale's 5 epochs on every digit.")
"""What a smoke run of this study cannot show: the report says so beside its figures."""


@dataclass
class Config:
    mlp_hidden_dims: tuple = (512, 256)
    lr: float = 0.1
    batch_size: int = 64
    epochs: int = 10
    train_size: int | None = None
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=1, train_size=1000)
        if scale == "default":
            return cls(epochs=5)
        return cls()


def _cnn_run(solution, data, config, context) -> tuple[dict, int, str]:
    import torch

    from reference.training import evaluate, pick_device, train_epoch

    torch.manual_seed(config.seed)
    device = pick_device()
    model = solution.MnistCNN().to(device)
    parameters = int(sum(p.numel() for p in model.parameters() if p.requires_grad))

    def loader(split, shuffle):
        x, y = split
        images = torch.tensor(x.reshape(-1, 1, 28, 28), dtype=torch.float32)
        labels = torch.tensor(np.argmax(y, axis=1), dtype=torch.int64)
        generator = torch.Generator().manual_seed(config.seed)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                           batch_size=config.batch_size, shuffle=shuffle,
                                           generator=generator)

    train, valid = loader(data[0], True), loader(data[1], False)
    train_eval = loader(data[0], False)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    history = {key: [] for key in ("train_loss", "validation_loss", "train_error", "validation_error")}
    for _epoch in context.progress(range(config.epochs), desc="MnistCNN epochs"):
        train_epoch(model, train, optimizer, device, progress=False)
        for split, batches in (("train", train_eval), ("validation", valid)):
            measured = evaluate(model, batches, device)
            history[f"{split}_loss"].append(measured["loss"])
            history[f"{split}_error"].append(1.0 - measured["accuracy"])
    return history, parameters, str(device)


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    started = time.perf_counter()
    network = context.solution.NN(hidden_dims=tuple(config.mlp_hidden_dims), lr=config.lr,
                                  batch_size=config.batch_size, seed=config.seed,
                                  activation="relu", init_method="glorot", data=data)
    logs = network.train_loop(config.epochs)
    mlp = {"train_loss": as_floats(logs["train_loss"]), "validation_loss": as_floats(logs["validation_loss"]),
           "train_error": [1 - a for a in as_floats(logs["train_accuracy"])],
           "validation_error": [1 - a for a in as_floats(logs["validation_accuracy"])],
           "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    cnn, cnn_parameters, device = _cnn_run(context.solution, data, config, context)
    cnn["seconds"] = time.perf_counter() - started
    dims = [784, *config.mlp_hidden_dims, 10]
    return {"mlp": mlp, "cnn": cnn, "mlp_parameters": mlp_parameters(dims), "cnn_parameters": cnn_parameters,
            "mlp_dims": dims, "lr": config.lr, "batch_size": config.batch_size, "epochs": config.epochs,
            "seed": config.seed, "data": source, "device": device, "train_size": int(len(data[0][0]))}


def plot(logs: dict) -> dict:
    from report import plots

    epochs = list(range(1, logs["epochs"] + 1))
    panels = []
    for quantity, unit in (("loss", "mean cross-entropy, nats"), ("error", "fraction misclassified")):
        series = {f"{model.upper()} {split}": (epochs, logs[model][f"{split}_{quantity}"])
                  for model in ("mlp", "cnn") for split in ("train", "validation")}
        panels.append({"series": series, "xlabel": "epoch", "ylabel": f"{quantity} ({unit})",
                       "title": quantity})
    return {"curves": plots.panels_figure(panels, title="MnistCNN vs NN: training and validation")}


def table(logs: dict) -> tuple:
    rows = []
    for model, name in (("mlp", "NN " + "-".join(map(str, logs["mlp_dims"]))), ("cnn", "MnistCNN")):
        run = logs[model]
        rows.append((name, f"{logs[model + '_parameters']:,}", f"{run['train_loss'][-1]:.4f}",
                     f"{run['validation_loss'][-1]:.4f}", f"{100 * run['validation_error'][-1]:.2f} %",
                     f"{run['seconds']:.1f} s"))
    return ("model", "parameters", "final training loss", "final validation loss", "validation error",
            "training time"), rows


def describe(logs: dict) -> dict:
    mlp = "-".join(map(str, logs["mlp_dims"]))
    return {"architectures": f"NN {mlp} (relu, Glorot) and the student's MnistCNN",
            "parameters": f"NN {logs['mlp_parameters']:,}; MnistCNN {logs['cnn_parameters']:,}",
            "optimizer": f"SGD, learning rate {logs['lr']:g} (both)", "batch size": logs["batch_size"],
            "epochs": logs["epochs"], "seed": logs["seed"], "device (CNN)": logs["device"],
            "data": f"{logs['data']} ({logs['train_size']:,} training digits)"}
