"""Inputs the tests send to the submission: configurations, weights and small data sets.

Everything is drawn from the generator a test passes in (seeded per test by the ``rng``
fixture), so every run sends the same inputs.
"""
from __future__ import annotations

import numpy as np

from reference import mlp


def config(hidden_dims=(10, 8), activation="relu", **overrides) -> dict:
    """Constructor keywords of an NN (``data`` is sent separately as state)."""
    values = {"hidden_dims": list(hidden_dims), "epsilon": 1e-6, "lr": 0.05, "batch_size": 16,
              "seed": None, "activation": activation, "init_method": "glorot"}
    values.update(overrides)
    return values


def weights(rng: np.random.Generator, dims: list[int], bias_scale: float = 0.1) -> dict:
    """Glorot-scaled weights with non-zero biases for the layer sizes ``dims = [d_0, ..., d_L]``,
    so that a forgotten bias or a swapped layer shows."""
    result = {}
    for layer in range(1, len(dims)):
        bound = mlp.glorot_bound(dims[layer - 1], dims[layer])
        result[f"W{layer}"] = rng.uniform(-bound, bound, size=(dims[layer - 1], dims[layer])) * 2.0
        result[f"b{layer}"] = rng.normal(0.0, bias_scale, size=(1, dims[layer]))
    return result


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


def batch(rng: np.random.Generator, n: int, n_features: int, n_classes: int):
    """Random inputs ``(n, n_features)`` and one-hot labels ``(n, n_classes)``."""
    x = rng.normal(0.0, 1.0, size=(n, n_features))
    return x, one_hot(rng.integers(0, n_classes, size=n), n_classes)


def blobs(rng: np.random.Generator, n: int, n_features: int, n_classes: int, centers=None,
          spread: float = 1.0):
    """A learnable problem: Gaussian clusters around one center per class.

    Returns ``(x (n, n_features), y_onehot (n, n_classes), centers)``; pass ``centers`` back in
    to draw more data (e.g. held-out data) from the same problem.
    """
    if centers is None:
        centers = rng.normal(0.0, 1.5, size=(n_classes, n_features))
    labels = rng.integers(0, n_classes, size=n)
    x = centers[labels] + rng.normal(0.0, spread, size=(n, n_features))
    return x, one_hot(labels, n_classes), centers


def probabilities(rng: np.random.Generator, n: int, n_classes: int) -> np.ndarray:
    """Rows of class probabilities ``(n, n_classes)`` (a softmax of random logits)."""
    return mlp.softmax(rng.normal(0.0, 2.0, size=(n, n_classes)))
