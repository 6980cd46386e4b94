"""Central differences of the mean cross-entropy, and the estimates of their common wrong forms.

This module is the answer to the ``finite_difference`` part, so it is the instructor's only: the
student handout leaves it out and ships its outputs on the public tests' cases in its place (see
``reference/withheld.py``). Use it through ``reference.mlp.central_differences`` and
``reference.mlp.finite_difference_variants``, which fall back to those outputs.

The loss is the torch reference's (``mlp.forward``, ``mlp.mean_cross_entropy``, float64); only
the perturbation scheme is written here. The wrong forms are keyed by short names; what each
one says to a student is the grader's (``grader/causes.py``), so a cause can be reworded without
recording these outputs again.
"""
from __future__ import annotations

import numpy as np

from reference import mlp

def _loss(weights: dict, x, labels, name: str, loss_epsilon: float) -> float:
    output = mlp.forward(weights, x, name)[f"Z{mlp.n_layers(weights)}"]
    return mlp.mean_cross_entropy(output, labels, loss_epsilon)


def _shifted(weights: dict, layer: int, index: tuple, step: float) -> dict:
    copy = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}
    copy[f"W{layer}"][index] += step
    return copy


def _estimates(weights, x, labels, name, epsilon, layer, p, loss_epsilon, *, central=True,
               order="C") -> np.ndarray:
    """``(p,)`` difference quotients for the first ``p`` entries of ``W{layer}`` in ``order``."""
    shape = np.shape(weights[f"W{layer}"])
    base = None if central else _loss(weights, x, labels, name, loss_epsilon)
    estimates = np.zeros(p)
    for i in range(p):
        index = np.unravel_index(i, shape, order=order)
        plus = _loss(_shifted(weights, layer, index, epsilon), x, labels, name, loss_epsilon)
        if central:
            minus = _loss(_shifted(weights, layer, index, -epsilon), x, labels, name, loss_epsilon)
            estimates[i] = (plus - minus) / (2.0 * epsilon)
        else:
            estimates[i] = (plus - base) / epsilon
    return estimates


def central(weights: dict, x, labels, name: str, epsilon: float, layer: int, p: int,
            loss_epsilon: float) -> np.ndarray:
    """``(p,)`` central differences ``(loss(theta_i + eps) - loss(theta_i - eps)) / (2 eps)`` for
    the first ``p`` entries of ``W{layer}`` (row-major); the loss clips with ``loss_epsilon``."""
    return _estimates(weights, x, labels, name, epsilon, layer, p, loss_epsilon)


def variants(weights: dict, x, labels, name: str, epsilon: float, layer: int, p: int,
             loss_epsilon: float) -> dict:
    """``{variant: (p,) estimates}`` of common wrong implementations on these inputs:
    "one_sided" ((loss(theta + eps) - loss(theta)) / eps), "column_major" (the first p entries in
    column-major order), "half_step" (divided by eps, not 2 eps), and "previous_layer" /
    "next_layer" (the central differences of W{layer - 1} / W{layer + 1}, where it has p
    entries)."""
    exact = central(weights, x, labels, name, epsilon, layer, p, loss_epsilon)
    result = {
        "one_sided": _estimates(weights, x, labels, name, epsilon, layer, p, loss_epsilon,
                                central=False),
        "column_major": _estimates(weights, x, labels, name, epsilon, layer, p, loss_epsilon,
                                   order="F"),
        "half_step": 2 * exact,
    }
    for kind, other in (("previous_layer", layer - 1), ("next_layer", layer + 1)):
        if 1 <= other <= mlp.n_layers(weights) and np.size(weights[f"W{other}"]) >= p:
            result[kind] = central(weights, x, labels, name, epsilon, other, p, loss_epsilon)
    return result
