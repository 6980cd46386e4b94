"""Inputs the tests send to the submission: configurations, weights and small data sets.

Everything is drawn from the generator a test passes in (seeded per test by the ``rng``
fixture), so every run sends the same inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reference import mlp

CONFIGURED_BATCH_SIZE = 16
"""``self.batch_size`` of every NN the tests build (unless a test sets another). It differs from
the size of every batch a graded call receives, so that code dividing by ``self.batch_size``
instead of by the batch at hand is wrong, and named, in every test."""


@dataclass(frozen=True)
class Sizes:
    """The sizes of one graded case of a part that handles weights.

    ``batch`` is N, the number of examples the graded call receives (for ``train_loop``: the
    training set); ``batch_size`` is ``self.batch_size``; ``others`` names further sizes a bug
    could mistake for one of these (a last partial minibatch, a validation split).

    A bug that confuses two dimensions (N with a width, ``self.batch_size`` with N, W with W.T)
    is invisible when they happen to be equal, so the only equal sizes allowed are consecutive
    layer dimensions: a square layer ``d_{l-1} = d_l``, chosen on purpose (a transpose applied
    only when a layer is square shows there and nowhere else). ``accidental_equalities`` lists
    the others; ``tests/test_sizes.py`` requires it to be empty for every case, and requires each
    such part to have a case with a square layer and one with a non-square layer.
    """

    part: str
    n_features: int
    hidden: tuple
    n_classes: int
    batch: int
    batch_size: int = CONFIGURED_BATCH_SIZE
    others: tuple = field(default=())   # ((name, size), ...)

    @property
    def dims(self) -> list[int]:
        """``[d_0, ..., d_L]``."""
        return mlp.layer_dims(self.n_features, self.hidden, self.n_classes)

    def square_layers(self) -> list[int]:
        dims = self.dims
        return [layer for layer in range(1, len(dims)) if dims[layer - 1] == dims[layer]]

    def non_square_layers(self) -> list[int]:
        dims = self.dims
        return [layer for layer in range(1, len(dims)) if dims[layer - 1] != dims[layer]]

    def accidental_equalities(self) -> list[str]:
        """Pairs of sizes that are equal without forming a square layer, e.g. ``["batch N =
        width d_2 = 7"]``."""
        dims = self.dims
        named = [("batch N", self.batch, None), ("self.batch_size", self.batch_size, None)]
        named += [(f"d_{i} ({'features' if i == 0 else 'classes' if i == len(dims) - 1 else 'width'})",
                   d, i) for i, d in enumerate(dims)]
        named += [(name, size, None) for name, size in self.others]
        problems = []
        for first in range(len(named)):
            for second in range(first + 1, len(named)):
                (name_a, a, i), (name_b, b, j) = named[first], named[second]
                if a != b:
                    continue
                if i is not None and j is not None and all(d == a for d in dims[i:j + 1]):
                    continue   # a run of square layers
                problems.append(f"{name_a} = {name_b} = {a}")
        return problems

    def config(self, **overrides) -> dict:
        """``config`` with these hidden layers and ``self.batch_size``."""
        return config(self.hidden, **{"batch_size": self.batch_size, **overrides})

    def layer_sizes(self) -> dict:
        """``hidden``, ``n_features``, ``n_classes`` and ``batch`` as keywords."""
        return {"hidden": self.hidden, "n_features": self.n_features,
                "n_classes": self.n_classes, "batch": self.batch}

    def loop_sizes(self) -> dict:
        """The size keywords of ``nn_parts.run_train_loop`` (``batch`` is the training set)."""
        return {"hidden": self.hidden, "n_train": self.batch, "batch_size": self.batch_size,
                "n_features": self.n_features, "n_classes": self.n_classes}


def config(hidden_dims=(10, 8), activation="relu", **overrides) -> dict:
    """Constructor keywords of an NN (``data`` is sent separately as state)."""
    values = {"hidden_dims": list(hidden_dims), "epsilon": 1e-6, "lr": 0.05,
              "batch_size": CONFIGURED_BATCH_SIZE, "seed": None, "activation": activation,
              "init_method": "glorot"}
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


# -- the graded cases of the parts that handle weights ---------------------------------------------
# Each part has a case with a square layer and one without (see ``Sizes``); no two other sizes of
# a case are equal, and none equals CONFIGURED_BATCH_SIZE.

FORWARD = Sizes("forward", n_features=15, hidden=(12, 12, 9), n_classes=5, batch=6)
"""15 -> 12 -> 12 -> 9 -> 5: W2 is square, the other layers are not."""

BACKWARD = Sizes("backward", n_features=6, hidden=(10, 10, 8), n_classes=4, batch=7)
"""6 -> 10 -> 10 -> 8 -> 4, batch 7: W2 is square, the other layers are not."""
BACKWARD_NO_HIDDEN = Sizes("backward", n_features=6, hidden=(), n_classes=4, batch=7)
BACKWARD_THREE_HIDDEN = Sizes("backward", n_features=8, hidden=(9, 11, 5), n_classes=3, batch=7)
BACKWARD_ONE_EXAMPLE = Sizes("backward", n_features=6, hidden=(10, 8), n_classes=4, batch=1)
"""A batch of one: the per-example and the mean conventions coincide; nothing else does."""

UPDATE = Sizes("update", n_features=6, hidden=(7, 7, 5), n_classes=3, batch=9)
"""6 -> 7 -> 7 -> 5 -> 3: W2 is square."""

FINITE_DIFFERENCE = Sizes("finite_difference", n_features=4, hidden=(6, 6), n_classes=3, batch=7)
"""4 -> 6 -> 6 -> 3: the estimated W2 is square."""
FINITE_DIFFERENCE_FIRST_LAYER = Sizes("finite_difference", n_features=4, hidden=(5,), n_classes=3,
                                      batch=7)

VALIDATION_EXAMPLES = 32
"""Examples of the validation split ``run_train_loop`` draws when the test gives no data."""
TRAIN_LOOP = Sizes("train_loop", n_features=12, hidden=(10, 10), n_classes=4, batch=96,
                   others=(("validation examples", VALIDATION_EXAMPLES),))
"""96 training examples in 6 minibatches of 16; 12 -> 10 -> 10 -> 4 (W2 square)."""
TRAIN_LOOP_PARTIAL = Sizes("train_loop", n_features=12, hidden=(8,), n_classes=4, batch=101,
                           others=(("last minibatch", 101 % CONFIGURED_BATCH_SIZE),
                                   ("validation examples", VALIDATION_EXAMPLES)))
"""6 full minibatches of 16 and a last one of 5 examples."""
TRAIN_LOOP_LEARNS = Sizes("train_loop", n_features=10, hidden=(32,), n_classes=4, batch=240,
                          batch_size=24, others=(("validation examples", 60),
                                                 ("held-out examples", 400)))
