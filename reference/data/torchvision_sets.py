"""FashionMNIST and CIFAR-10 through torchvision, with a clear message when the files are
missing (no download unless ``download=True``)."""
from __future__ import annotations

from pathlib import Path

from reference.data.errors import DataError

_EXPECTED = {
    "FashionMNIST": "FashionMNIST/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz)",
    "CIFAR10": "cifar-10-batches-py/ (the python version of CIFAR-10, data_batch_1..5 and "
               "test_batch)",
}


def load_torchvision(name: str, root, train: bool = True, download: bool = False, transform=None):
    """``torchvision.datasets.<name>(root, train, download, transform)``, or a DataError that
    says where the files must be."""
    if name not in _EXPECTED:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(_EXPECTED)}")
    import torchvision

    dataset_class = getattr(torchvision.datasets, name)
    try:
        return dataset_class(str(Path(root)), train=train, download=download, transform=transform)
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        raise DataError(f"{name} not found under {Path(root).resolve()}: put {_EXPECTED[name]} "
                        "there, or pass download=True on a machine with internet "
                        f"({error})") from None
