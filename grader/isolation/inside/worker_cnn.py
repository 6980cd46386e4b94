"""The worker's side of the CNN parts: capture the student's networks and report plain data.

Copied beside ``worker_main.py`` into the worker's private directory (under the name in
``grader/isolation/__init__.py``) and run next to the student's code, so, like ``worker_main``,
it decides nothing: it has no labels for the held-out images, no expected values and no scores.
Every result goes back as numbers, strings and numpy arrays; the grader checks them in the
trusted process.

Requests (``op == "cnn"``) carry a ``task``:

- ``capture``: build ``cls()`` and describe it as a graph of operations (``worker_graph``), and
  optionally the optimizer ``make_cats_dogs_optimizer`` returns for it. The grader rebuilds,
  initializes, trains and judges the network itself; nothing here is a verdict.
- ``capture_layer``: build ``cls(**config)`` (the student's BatchNorm2d) and describe it as
  operator graphs, one per mode, that the grader replays on its own tensors.
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


class OwnBatchNorm2dMarker(torch.nn.BatchNorm2d):
    """Stands in for the student's BatchNorm2d while a network is built for capture: the
    student's own is graded in its part (batchnorm2d), so a bug in its constructor must not cost
    the network parts too. The capture reports it (like the student's class) as the student's
    batch norm, which the grader rebuilds as torch's."""

    def _check_input_dim(self, input):
        # A student's layer may normalize (N, C) as well as (N, C, H, W); so does this one.
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")


@contextmanager
def _batchnorm_marker(submission):
    own = getattr(submission, "BatchNorm2d", None)
    if own is None:
        yield
        return
    submission.BatchNorm2d = OwnBatchNorm2dMarker
    try:
        yield
    finally:
        submission.BatchNorm2d = own


def _capture(submission, request: dict) -> dict:
    """The network ``cls()`` as a graph description (``worker_graph.capture_network``)."""
    import _nngrade_graph  # the copy of inside/worker_graph.py beside this file

    cls = getattr(submission, request["cls"], None)
    if cls is None:
        raise AttributeError(f"solution.py defines no {request['cls']}")
    torch.manual_seed(int(request.get("seed", 0)))
    own = getattr(submission, "BatchNorm2d", None)
    # torch's own class under the student's name (``BatchNorm2d = nn.BatchNorm2d``) is not the
    # student's: every library batch norm would pass for one
    students = isinstance(own, type) and not own.__module__.startswith("torch")
    own = (OwnBatchNorm2dMarker, *((own,) if students else ()))
    with _batchnorm_marker(submission):
        model = cls()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{request['cls']}() is a {type(model).__name__}, not a torch.nn.Module")
    example = torch.zeros(tuple(int(n) for n in request["input_shape"]))
    value = _nngrade_graph.capture_network(model, own, example, getattr(submission, "__file__", ""))
    if request.get("optimizer"):
        make = getattr(submission, "make_cats_dogs_optimizer", None)
        try:
            if make is None:
                raise AttributeError("solution.py defines no make_cats_dogs_optimizer")
            value["optimizer"] = _nngrade_graph.describe_optimizer(make(model), model)
        except Exception as error:  # noqa: BLE001 - reported as data: the network stands
            value["optimizer"] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
    return {"ok": True, "value": value}


def _capture_layer(submission, request: dict) -> dict:
    """The layer ``cls(**config)`` as operator graphs, one per ``{mode: input shape}`` of
    ``shapes`` (``worker_graph.capture_layer_steps``)."""
    import _nngrade_graph  # the copy of inside/worker_graph.py beside this file

    cls = getattr(submission, request["cls"], None)
    if cls is None:
        raise AttributeError(f"solution.py defines no {request['cls']}")
    module = cls(**request.get("config", {}))
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{request['cls']} is not a torch.nn.Module")
    return {"ok": True, "value": _nngrade_graph.capture_layer_steps(module, request["shapes"])}


TASKS = {"capture": _capture, "capture_layer": _capture_layer, "kaggle": _kaggle}
"""The CNN tasks of a ``cnn`` request, by its ``task`` field (see the grader's PROTOCOL.md)."""


def handle(submission, request: dict) -> dict:
    task = TASKS.get(request.get("task")) if isinstance(request.get("task"), str) else None
    if task is None:
        return {"ok": False, "error": {"type": "ValueError",
                                       "message": f"unknown cnn task {request.get('task')!r}",
                                       "traceback": ""}}
    return task(submission, request)
