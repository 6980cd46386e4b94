"""The worker's side of the CNN parts: build the student's networks, run them and report plain data.

Copied beside ``worker_main.py`` into the worker's private directory (under the name in
``grader/isolation/__init__.py``) and run next to the student's code, so, like ``worker_main``,
it decides nothing: it has no labels for the held-out images, no expected values and no scores.
Every result goes back as numbers, strings and numpy arrays; the grader checks them in the
trusted process.

Networks are built with torch's BatchNorm2d standing in for the student's (see
``StandInBatchNorm2d``). Requests (``op == "cnn"``) carry a ``task``:

- ``describe``: build ``cls()``, report its parameters, its module tree and its outputs for
  given inputs in training and in evaluation mode; optionally the optimizer that
  ``make_cats_dogs_optimizer`` returns for it.
- ``train``: a short training run with cross-entropy on the given images and labels, then the
  logits of held-out images (whose labels the grader keeps).
- ``class_of``: build ``cls(**kwargs)`` and report its class and base classes.
- ``kaggle``: call ``write_kaggle_submission`` on a fixed probe model and a loader of given
  images and ids; send back the bytes of the file it wrote.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

MAX_FILE_BYTES = 4 * 1024 * 1024
"""The most of the student's CSV file that is sent back (a correct one for the probe is ~1 KB)."""


def device() -> torch.device:
    """A GPU when the worker can see one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _class_record(obj) -> dict:
    cls = type(obj)
    return {"module": cls.__module__, "qualname": cls.__qualname__,
            "mro": [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]}


def _module_tree(model: torch.nn.Module) -> list[dict]:
    return [{"path": name, **_class_record(module)} for name, module in model.named_modules()]


class StandInBatchNorm2d(torch.nn.BatchNorm2d):
    """torch's BatchNorm2d, standing in for the student's while a network is built here: the
    student's own is graded in its part (batchnorm2d), so a bug in it must not cost points in
    the network parts too. An instance in the module tree shows that the network used the
    module-level name ``BatchNorm2d``, i.e. the student's class."""

    def _check_input_dim(self, input):
        # A student's layer may normalize (N, C) as well as (N, C, H, W); so does this one.
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")


@contextmanager
def _batchnorm_stand_in(submission):
    own = getattr(submission, "BatchNorm2d", None)
    if own is None:
        yield
        return
    submission.BatchNorm2d = StandInBatchNorm2d
    try:
        yield
    finally:
        submission.BatchNorm2d = own


def _build(submission, name: str, seed: int):
    cls = getattr(submission, name, None)
    if cls is None:
        raise AttributeError(f"solution.py defines no {name}")
    torch.manual_seed(seed)
    with _batchnorm_stand_in(submission):
        model = cls()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name}() is a {type(model).__name__}, not a torch.nn.Module")
    return model


def _numpy(tensor) -> np.ndarray:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"forward returned {type(tensor).__name__}, not a tensor")
    return tensor.detach().to("cpu", torch.float64).numpy().copy()


def _describe(submission, request: dict) -> dict:
    model = _build(submission, request["cls"], request.get("seed", 0))
    value = {"class": _class_record(model), "modules": _module_tree(model), "outputs": {}}
    if request.get("forward", True):
        x = torch.tensor(request["x"], dtype=torch.float32)
        for mode in ("train", "eval"):
            model.train(mode == "train")
            with torch.no_grad():
                value["outputs"][mode] = _numpy(model(x))
        # counted after the forward passes, which give lazy layers (LazyLinear) their shapes
        value["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        value["parameter_shapes"] = {n: list(p.shape) for n, p in model.named_parameters()}
    if request.get("optimizer"):
        try:
            value["optimizer"] = _describe_optimizer(submission, model)
        except Exception as error:  # noqa: BLE001 - reported as data: the network's facts stand
            value["optimizer"] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
    return {"ok": True, "value": value}


def _describe_optimizer(submission, model: torch.nn.Module) -> dict:
    make = getattr(submission, "make_cats_dogs_optimizer", None)
    if make is None:
        raise AttributeError("solution.py defines no make_cats_dogs_optimizer")
    optimizer = make(model)
    record = {"class": _class_record(optimizer),
              "is_torch_optimizer": isinstance(optimizer, torch.optim.Optimizer)}
    if record["is_torch_optimizer"]:
        owned = {id(p) for p in model.parameters()}
        given = {id(p) for group in optimizer.param_groups for p in group["params"]}
        record["covered"] = len(owned & given)
        record["total"] = len(owned)
        record["hyperparameters"] = [
            {k: v for k, v in group.items() if isinstance(v, (int, float, bool, str))}
            for group in optimizer.param_groups]
    return record


def _recalibrate_batch_norm(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> int:
    """Re-estimate the running statistics of torch batch-norm layers over the training images
    with the final weights (a short run's running averages still lag the weights). Returns
    how many layers were re-estimated."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
              and m.track_running_stats]
    if not layers:
        return 0
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the pass
        layer.train()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size])
    return len(layers)


def _train(submission, request: dict) -> dict:
    where = device()
    seed = int(request.get("seed", 0))
    model = _build(submission, request["cls"], seed).to(where)
    if request["optimizer"] == "student":
        optimizer = submission.make_cats_dogs_optimizer(model)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=float(request["lr"]))
    images = torch.tensor(request["x"], dtype=torch.float32, device=where)
    labels = torch.tensor(request["y"], dtype=torch.int64, device=where)
    batch_size = int(request["batch_size"])
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(int(request["epochs"])):
        model.train()
        order = torch.randperm(len(images), generator=generator).to(where)
        total = 0.0
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(images))
    recalibrated = _recalibrate_batch_norm(model, images, 2 * batch_size)
    model.eval()
    held_out = torch.tensor(request["held_out"], dtype=torch.float32, device=where)
    with torch.no_grad():
        logits = [_numpy(model(held_out[i:i + 256])) for i in range(0, len(held_out), 256)]
    return {"ok": True, "value": {"logits": np.concatenate(logits), "losses": losses,
                                  "recalibrated_layers": recalibrated, "device": str(where)}}


class KaggleProbe(torch.nn.Module):
    """The fixed model ``write_kaggle_submission`` is checked with: logits ``x.flatten() @ W.T
    + b``, plus ``train_shift`` in training mode, so that a file written without ``model.eval()``
    is told apart (as batch norm's or dropout's training behaviour would make it)."""

    def __init__(self, weight, bias, train_shift):
        super().__init__()
        self.linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(weight))
            self.linear.bias.copy_(torch.tensor(bias))
        self.register_buffer("train_shift", torch.tensor(train_shift, dtype=torch.float32))

    def forward(self, x):
        logits = self.linear(x.flatten(1))
        return logits + self.train_shift if self.training else logits


def _kaggle(submission, request: dict) -> dict:
    write = getattr(submission, "write_kaggle_submission", None)
    if write is None:
        raise AttributeError("solution.py defines no write_kaggle_submission")
    model = KaggleProbe(request["weight"], request["bias"], request["train_shift"]).to(device())
    model.train()  # as a model is after training: the function must switch it to evaluation
    data = torch.utils.data.TensorDataset(torch.tensor(request["x"], dtype=torch.float32),
                                          torch.tensor(request["ids"], dtype=torch.int64))
    loader = torch.utils.data.DataLoader(data, batch_size=int(request["batch_size"]))
    path = Path(os.getcwd()) / "kaggle_submission.csv"
    if path.exists():
        path.unlink()
    write(model, loader, str(path))
    if not path.is_file():
        return {"ok": True, "value": {"written": False}}
    with open(path, "rb") as file:
        content = file.read(MAX_FILE_BYTES + 1)
    return {"ok": True, "value": {"written": True, "truncated": len(content) > MAX_FILE_BYTES,
                                  "bytes": np.frombuffer(content[:MAX_FILE_BYTES], dtype=np.uint8)}}


def _class_of(submission, request: dict) -> dict:
    cls = getattr(submission, request["cls"], None)
    if cls is None:
        raise AttributeError(f"solution.py defines no {request['cls']}")
    return {"ok": True, "value": {"path": "", **_class_record(cls(**request.get("kwargs", {})))}}


TASKS = {"class_of": _class_of, "describe": _describe, "train": _train, "kaggle": _kaggle}
"""The CNN tasks of a ``cnn`` request, by its ``task`` field (see the grader's PROTOCOL.md)."""


def handle(submission, request: dict) -> dict:
    task = TASKS.get(request.get("task")) if isinstance(request.get("task"), str) else None
    if task is None:
        return {"ok": False, "error": {"type": "ValueError",
                                       "message": f"unknown cnn task {request.get('task')!r}",
                                       "traceback": ""}}
    return task(submission, request)
