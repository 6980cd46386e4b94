"""The grader's own training and evaluation of a rebuilt network, in the trusted process.

The network is a ``rebuild.Network`` (bounded in compute and memory by ``rebuild.measure``), so
one batch has a bounded cost and the CPU budget is checked between batches: a network that
trains too slowly stops with ``TrainingTooSlow`` instead of holding the grader.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import time

import numpy as np
import torch

from grader.networks import allowlist


class TrainingTooSlow(RuntimeError):
    """The run used more CPU time than its budget."""


class NotTrainable(RuntimeError):
    """The network's output carries no gradient to any parameter."""


class OptimizerRefused(ValueError):
    """An optimizer description the grader cannot rebuild; the message says why."""


def device() -> torch.device:
    """A GPU when the grader can see one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_optimizer(description, network) -> tuple[torch.optim.Optimizer, list[str]]:
    """The optimizer a ``describe_optimizer`` description declares, built by the grader from
    torch.optim over ``network``'s parameters; also the names of the network's parameters the
    description leaves out. Raises OptimizerRefused when the description names no torch.optim
    family of ``allowlist.OPTIMIZER_FAMILIES`` or settings that family does not take."""
    if not isinstance(description, dict) or description.get("error"):
        problem = description.get("error") if isinstance(description, dict) else "no description"
        raise OptimizerRefused(str(problem))
    family = description.get("family")
    if family not in allowlist.OPTIMIZER_FAMILIES:
        raise OptimizerRefused(
            f"its class {description.get('class')} is not one of torch.optim's optimizers "
            f"({', '.join(f for f in allowlist.OPTIMIZER_FAMILIES if f not in allowlist.ADAM_FAMILY)}"
            "), so the grader cannot rebuild it")
    cls = getattr(torch.optim, family)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
    groups, covered = [], set()
    for index, group in enumerate(description.get("groups") or []):
        names = group.get("params") if isinstance(group, dict) else None
        settings = group.get("hyperparameters") if isinstance(group, dict) else None
        if not isinstance(names, list) or not isinstance(settings, dict):
            raise OptimizerRefused(f"parameter group {index} is malformed")
        params = [network.parameter_names[n] for n in names if n in network.parameter_names]
        covered.update(n for n in names if n in network.parameter_names)
        options = {}
        for key, value in settings.items():
            if key in allowlist.OPTIMIZER_SETTINGS_IGNORED or key not in accepted:
                continue
            if isinstance(value, dict) and set(value) == {"tuple"}:
                value = tuple(value["tuple"])
            if not _plain_setting(value):
                raise OptimizerRefused(f"the setting {key}={value!r} is not a plain number")
            options[key] = value
        lr = options.get("lr")
        if lr is not None and not (isinstance(lr, (int, float)) and 0 <= lr <= 10):
            raise OptimizerRefused(f"the learning rate {lr!r} is not a number in [0, 10]")
        if params:
            groups.append({"params": params, **options})
    if not groups:
        raise OptimizerRefused("it updates none of the network's parameters")
    try:
        optimizer = cls(groups)
    except (TypeError, ValueError) as error:
        raise OptimizerRefused(f"torch.optim.{family} refuses its settings: {error}") from None
    missing = [name for name, p in network.parameter_names.items()
               if p.requires_grad and name not in covered]
    return optimizer, missing


def _plain_setting(value) -> bool:
    if isinstance(value, tuple):
        return len(value) <= 4 and all(_plain_setting(v) for v in value)
    if isinstance(value, bool) or value is None:
        return True
    return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= 1e6


def _recalibrate_batch_norm(network, images: torch.Tensor, batch_size: int) -> int:
    """Re-estimate the running statistics of batch-norm layers over the training images with the
    final weights (a short run's running averages still lag the weights)."""
    layers = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
              and m.track_running_stats]
    if not layers:
        return 0
    network.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the pass
        layer.train()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            network(images[start:start + batch_size])
    return len(layers)


class ParameterWatch:
    """What a training run did to each trainable parameter of a network, entry by entry: whether
    it ever received a nonzero gradient, and whether it ended away from its initial value.

    Made before training (it copies the initial values), ``record()`` after every backward pass
    (``train`` calls it), ``report()`` after training. This is the evidence that the network's
    prediction can depend on what training changed: a branch multiplied by 0, detached, run
    under ``torch.no_grad()`` or left out of the optimizer gets no gradient or does not move."""

    def __init__(self, network):
        named = dict(getattr(network, "parameter_names", {}) or {})
        known = {id(p) for p in named.values()}
        named.update({name: p for name, p in network.named_parameters() if id(p) not in known})
        self.parameters = {name: p for name, p in named.items() if p.requires_grad}
        self.initial = {name: p.detach().clone() for name, p in self.parameters.items()}
        self.touched = {name: torch.zeros_like(p, dtype=torch.bool)
                        for name, p in self.parameters.items()}

    def record(self) -> None:
        with torch.no_grad():
            for name, p in self.parameters.items():
                if p.grad is not None:
                    self.touched[name] |= p.grad != 0

    def report(self) -> dict:
        """``{"total", "trained", "tensors": {name: (entries, trained entries, received a
        gradient)}}``: trained entries received a nonzero gradient at least once and moved."""
        tensors = {}
        with torch.no_grad():
            for name, p in self.parameters.items():
                touched = self.touched[name]
                moved = p.detach() != self.initial[name].to(p.device)
                tensors[name] = (p.numel(), int((touched & moved).sum()), int(touched.sum()))
        return {"total": sum(t[0] for t in tensors.values()),
                "trained": sum(t[1] for t in tensors.values()), "tensors": tensors}

    def largest(self) -> list[str]:
        """The names of the largest trainable tensors that together hold more than half of the
        trainable entries (largest first)."""
        total = sum(p.numel() for p in self.parameters.values())
        chosen, count = [], 0
        for name, p in sorted(self.parameters.items(), key=lambda item: -item[1].numel()):
            if count * 2 > total:
                break
            chosen.append(name)
            count += p.numel()
        return chosen

    @contextlib.contextmanager
    def zeroed(self, names: list[str]):
        """The network with the parameters ``names`` set to zero, restored afterwards."""
        saved = {name: self.parameters[name].detach().clone() for name in names}
        try:
            with torch.no_grad():
                for name in names:
                    self.parameters[name].zero_()
            yield
        finally:
            with torch.no_grad():
                for name, value in saved.items():
                    self.parameters[name].copy_(value)


def train(network, images: np.ndarray, labels: np.ndarray, optimizer, *, epochs: int,
          batch_size: int, seed: int, cpu_budget_s: float,
          watch: ParameterWatch | None = None) -> list[float]:
    """Train ``network`` with cross-entropy: ``images`` (N, C, H, W) float32, ``labels`` (N,)
    ints, minibatches in an order drawn from ``seed``. Returns the mean loss of each epoch;
    raises TrainingTooSlow past ``cpu_budget_s`` of this process's CPU time. ``watch`` records
    the gradients of every step."""
    where = next((p.device for p in network.parameters()), device())
    x = torch.as_tensor(images, dtype=torch.float32, device=where)
    y = torch.as_tensor(labels, dtype=torch.int64, device=where)
    generator = torch.Generator().manual_seed(seed)
    started = time.process_time()
    losses = []
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(x), generator=generator).to(where)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(network(x[batch]), y[batch])
            if not loss.requires_grad:
                raise NotTrainable("the network's output does not depend, through autograd, on "
                                   "any trainable parameter (forward runs without autograd, or "
                                   "detaches its result), so no training step can change it")
            loss.backward()
            if watch is not None:
                watch.record()
            optimizer.step()
            total += loss.item() * len(batch)
            if time.process_time() - started > cpu_budget_s:
                raise TrainingTooSlow(f"training used more than {cpu_budget_s:g} CPU seconds")
        losses.append(total / len(x))
    _recalibrate_batch_norm(network, x, 2 * batch_size)
    return losses


def logits(network, images: np.ndarray, train_mode: bool = False, batch: int = 256) -> np.ndarray:
    """``network``'s outputs for ``images`` (N, C, H, W), float64 (N, ...), without gradients."""
    where = next((p.device for p in network.parameters()), device())
    network.train(train_mode)
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.as_tensor(images[start:start + batch], dtype=torch.float32, device=where)
            out = network(x)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"forward returned {type(out).__name__}, not a tensor")
            outputs.append(out.detach().to("cpu", torch.float64).numpy())
    return np.concatenate(outputs)


def run_with_controls(network, optimizer, train_images: np.ndarray, train_labels: np.ndarray,
                      held_out: np.ndarray, *, epochs: int, batch_size: int, seed: int,
                      cpu_budget_s: float) -> dict:
    """Train ``network`` (``train``) and collect what the learning verdict needs, all computed
    here: ``logits`` on ``held_out`` after training, ``losses``, and the controls the grader
    runs itself on the same held-out images:

    - ``initial``: the logits of the same network at the grader's initialization, before any
      step (one forward pass): what the network classifies without training;
    - ``without_most``: the logits of the trained network with its largest trainable tensors,
      together more than half of its trainable entries, set to zero (one forward pass; named in
      ``zeroed``): what it classifies without most of what training changed;

    and ``parameters``: ``ParameterWatch.report()``, which entries received a gradient and
    moved. The controls cost two forward passes over the held-out images."""
    watch = ParameterWatch(network)
    initial = logits(network, held_out)
    losses = train(network, train_images, train_labels, optimizer, epochs=epochs,
                   batch_size=batch_size, seed=seed, cpu_budget_s=cpu_budget_s, watch=watch)
    trained = logits(network, held_out)
    zeroed = watch.largest()
    with watch.zeroed(zeroed):
        without_most = logits(network, held_out)
    return {"logits": trained, "losses": losses,
            "controls": {"initial": initial, "without_most": without_most},
            "zeroed": zeroed, "parameters": watch.report()}
