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
