"""Figures of the experiments part, drawn from what the grader measured (never from the worker).

Each function takes the ``data`` dict an experiment test recorded and returns ``{name: PNG data
URI}``; the test stores them in its ``extra_data.experiment.figures`` of results.json, so a TA
sees them without running anything. The drawing itself is shared with the report
(``grader/outputs/artifacts.py``, whose style ``report/plots.py`` uses too; the grader never
imports ``report``). A figure that cannot be drawn is left out with a note: it never costs the
student a point.
"""
from __future__ import annotations

import math

import numpy as np

from grader.outputs import artifacts


def _epochs(values) -> list[int]:
    return list(range(1, len(values) + 1))


def initialization(data: dict) -> dict:
    series = {method: (_epochs(run["train_loss"]), run["train_loss"])
              for method, run in data["runs"].items()}
    figure = artifacts.line_figure(
        series, title=f"Training loss after each epoch, by initializer ({data['how']})",
        xlabel="epoch", ylabel="training loss (mean cross-entropy, nats)", logy=True,
        hline=(math.log(10), "ln 10 (uniform over 10 classes)"))
    return {"training_loss": artifacts.data_uri(figure)}


def finite_differences(data: dict) -> dict:
    ns, errors = data["N"], data["errors"]
    shown = [(n, e) for n, e in zip(ns, errors, strict=False) if e > 0 and np.isfinite(e)]
    if not shown:
        return {}
    best = data["best_N"]
    smallest = errors[ns.index(best)]
    marks = {f"smallest error, N = {best:,}": (best, smallest)} if smallest > 0 else {}
    figure = artifacts.line_figure(
        {"max_i |finite difference - autograd|": ([n for n, _ in shown], [e for _, e in shown])},
        title=f"Central differences on the first {data['p']} weights of W{data['layer']}",
        xlabel="N (epsilon = 1/N)", ylabel="maximum absolute error", logx=True, logy=True,
        marks=marks)
    return {"error_vs_N": artifacts.data_uri(figure)}


def cnn_vs_mlp(data: dict) -> dict:
    loss, error = {}, {}
    for name, run in data["runs"].items():
        if run.get("train_loss"):
            loss[f"{name}, training"] = (_epochs(run["train_loss"]), run["train_loss"])
        if run.get("validation_loss"):
            loss[f"{name}, validation"] = (_epochs(run["validation_loss"]), run["validation_loss"])
        if run.get("train_error"):
            error[f"{name}, training"] = (_epochs(run["train_error"]), run["train_error"])
        if run.get("validation_error"):
            error[f"{name}, validation"] = (_epochs(run["validation_error"]), run["validation_error"])
    figure = artifacts.panels_figure(
        [{"series": loss, "xlabel": "epoch", "ylabel": "loss (mean cross-entropy, nats)",
          "title": "Loss"},
         {"series": error, "xlabel": "epoch", "ylabel": "error (fraction misclassified)",
          "title": "Error"}],
        title="MnistCNN against your MLP, per epoch")
    return {"curves": artifacts.data_uri(figure)}


def cats_dogs(data: dict, kernels: np.ndarray | None = None) -> dict:
    run = data["run"]
    figure = artifacts.panels_figure(
        [{"series": {"training (mean over the epoch)": (_epochs(run["train_loss"]), run["train_loss"])},
          "xlabel": "epoch", "ylabel": "loss (mean cross-entropy, nats)", "title": "Training loss"},
         {"series": {"held-out": (_epochs(run["held_out_accuracy"]), run["held_out_accuracy"])},
          "xlabel": "epoch", "ylabel": "accuracy (fraction)", "title": "Held-out accuracy"}],
        title=f"CatsDogsCNN with {data['optimizer']}")
    figures = {"curves": artifacts.data_uri(figure)}
    if kernels is not None and len(kernels):
        images, captions = [], []
        for index, kernel in enumerate(kernels[:16]):
            k = np.asarray(kernel, dtype=np.float64)
            span = float(k.max() - k.min()) or 1.0
            k = (k - k.min()) / span
            images.append(np.transpose(k, (1, 2, 0)) if k.shape[0] == 3 else k[0])
            captions.append(f"kernel {index}")
        figures["first_layer_kernels"] = artifacts.data_uri(artifacts.image_grid(
            images, captions, title="First convolution's kernels after training", columns=8))
    return figures


def optimizers(data: dict) -> dict:
    names = [name for name, run in data["runs"].items() if run.get("final_loss") is not None]
    if not names:
        return {}
    series = {name: ([0, data["epochs"]], [data["runs"][name]["initial_loss"],
                                           data["runs"][name]["final_loss"]]) for name in names}
    figure = artifacts.line_figure(series, title=f"Training loss with your optimizers ({data['how']})",
                               xlabel="epoch", ylabel="training loss (mean cross-entropy, nats)",
                               logy=True)
    return {"training_loss": artifacts.data_uri(figure)}


def batch_norm(data: dict) -> dict:
    groups = {where: {"gamma - 1": [g - 1 for g in values["gamma"]], "beta": values["beta"]}
              for where, values in data["batch_norm"].items()}
    figure = artifacts.histograms(groups, title="Learned gamma - 1 and beta per channel, by layer",
                              xlabel="value")
    return {"gamma_beta": artifacts.data_uri(figure)}
