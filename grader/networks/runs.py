"""The grader's runs of a rebuilt network that cost what the student described, as tasks of the
metered child (``grader/networks/metered.py``): plain data in (the capture, the grader's seeds,
data, settings), plain data out (outputs, losses, the controls' logits, the evidence of learning).

The network is rebuilt in the child from the same capture and seed as the one the test rebuilt
in its own process (``capture.network``), so both are the same network: the test reads the graph
(operations, layers, parameters) from its copy, and every computation on data happens here,
metered, under what is left of the part's budget.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from grader.networks import capture as captures
from grader.networks import rebuild, training


def _network(capture: dict, seed: int, input_shape):
    network = rebuild.rebuild(capture, seed)
    rebuild.measure(network, tuple(input_shape))
    return network


def _optimizer(spec: dict, network):
    """``{"grader": family, "settings": {...}}``: the grader's own optimizer (MnistCNN's Adam);
    ``{"described": description}``: the one ``make_cats_dogs_optimizer`` declared."""
    if "grader" in spec:
        return getattr(torch.optim, spec["grader"])(network.parameters(), **spec.get("settings", {}))
    optimizer, _ = training.build_optimizer(spec["described"], network)
    return optimizer


def outputs(capture: dict, seed: int, input_shape, x: np.ndarray) -> dict:
    """``capture.outputs`` of the rebuilt network for ``x``, in both modes."""
    return captures.outputs(_network(capture, seed, input_shape), x)


def trained_with_controls(capture: dict, seed: int, input_shape, optimizer: dict,
                          train_images: np.ndarray, train_labels: np.ndarray,
                          held_out: np.ndarray, epochs: int, batch_size: int,
                          train_seed: int) -> dict:
    """``training.run_with_controls`` on the rebuilt network: the meter, not a check between
    batches, bounds its cost."""
    network = _network(capture, seed, input_shape)
    return training.run_with_controls(
        network, _optimizer(optimizer, network), train_images, train_labels, held_out,
        epochs=epochs, batch_size=batch_size, seed=train_seed, cpu_budget_s=math.inf)


def first_kernels(network) -> np.ndarray | None:
    """The first convolution's weights, float64 (out, in, kh, kw), or None without one."""
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            return module.weight.detach().to("cpu", torch.float64).numpy()
    return None


def study_training(capture: dict, seed: int, input_shape, optimizer: dict, images: np.ndarray,
                   labels: np.ndarray, calibration: np.ndarray | None, evaluate: list, epochs: int,
                   batch_size: int, train_seeds: list) -> dict:
    """An experiments study's run of a rebuilt network (studies 4 and 5), every computation here:

    - ``untrained``: the control, the logits on ``evaluate[-1]`` (N, classes) of the network at
      its own initialization, its batch-norm statistics estimated over ``calibration`` (images
      of the training set) as the trained network's are;
    - ``epochs``: per epoch ``{"loss": mean loss during it, "logits": [(N_i, classes) for each
      array of evaluate]}``, the epoch's minibatch order drawn from ``train_seeds[epoch]``;
      (``calibration=None``: all of ``images``);
    - ``first_kernels``: the first convolution's weights after training (for the figures).

    ``images`` (N, C, H, W) float32, ``labels`` (N,) ints; ``optimizer`` as ``_optimizer``."""
    network = _network(capture, seed, input_shape)
    built = _optimizer(optimizer, network)
    where = next((p.device for p in network.parameters()), training.device())
    training._recalibrate_batch_norm(
        network, torch.as_tensor(images if calibration is None else calibration,
                                 dtype=torch.float32, device=where), 2 * batch_size)
    untrained = training.logits(network, evaluate[-1])
    runs = []
    for epoch in range(epochs):
        (loss,) = training.train(network, images, labels, built, epochs=1, batch_size=batch_size,
                                 seed=int(train_seeds[epoch]), cpu_budget_s=math.inf)
        runs.append({"loss": float(loss), "logits": [training.logits(network, x) for x in evaluate]})
    return {"untrained": untrained, "epochs": runs, "first_kernels": first_kernels(network)}


def lenet_batch_norm(captures: dict, torch_seed: int, images: np.ndarray, labels: np.ndarray,
                     held_out: np.ndarray, held_out_labels: np.ndarray, epochs: int, batch: int,
                     lr: float) -> dict:
    """The batch-norm study's run: LeNet-5 (``reference/lenet.py``, float64) with the student's
    BatchNorm2d replayed (``layer.ReplayedLayer``) at each batch norm named in ``captures``
    (``{where: layer capture}``), trained with Adam (``lr``) on ``images`` (N, 1, 28, 28)
    float64 in their order, in minibatches of ``batch``; evaluated on ``held_out`` (M, 1, 28, 28)
    in whole batches. Returns ``untrained_accuracy`` (the same network before any step),
    ``train_loss`` and ``held_out_accuracy`` per epoch, and ``parameters``: ``{where: {the
    student's parameter name: its value after training}}``."""
    from grader.networks.layer import ReplayedLayer
    from reference.lenet import LeNet5

    torch.manual_seed(int(torch_seed))
    layers = {}

    def norm(channels, where):
        layers[where] = ReplayedLayer(captures[where])
        return layers[where]

    model = LeNet5(norm=norm).double()
    targets = torch.as_tensor(labels, dtype=torch.int64)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def held_out_accuracy() -> float:
        model.eval()
        whole = len(held_out) - len(held_out) % batch
        with torch.no_grad():
            predictions = np.concatenate([
                model(torch.as_tensor(held_out[i:i + batch], dtype=torch.float64)).argmax(1).numpy()
                for i in range(0, whole, batch)])
        return float(np.mean(predictions == np.asarray(held_out_labels)[:whole]))

    result = {"untrained_accuracy": held_out_accuracy(), "train_loss": [], "held_out_accuracy": []}
    for _ in range(epochs):
        model.train()
        total = 0.0
        for start in range(0, len(images), batch):
            optimizer.zero_grad()
            logits = model(torch.as_tensor(images[start:start + batch], dtype=torch.float64))
            loss = torch.nn.functional.cross_entropy(logits, targets[start:start + batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * batch
        result["train_loss"].append(total / len(images))
        result["held_out_accuracy"].append(held_out_accuracy())
    result["parameters"] = {where: {name: layer.parameter(name).detach().numpy().copy()
                                    for name in layer.names} for where, layer in layers.items()}
    return result
