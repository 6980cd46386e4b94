"""Kaggle dogs vs. cats: find the images, load them resized, split off a validation set.

Two layouts are recognised under ``root``:

- Kaggle: ``root/train/cat.0.jpg, root/train/dog.0.jpg, ...`` and, for the competition's
  unlabelled test set, ``root/test1/1.jpg, root/test1/2.jpg, ...``;
- class folders: ``root/Cat/*.jpg`` and ``root/Dog/*.jpg`` (any case, "cats"/"dogs" too), as in
  Microsoft's PetImages.

Labels: 0 = cat, 1 = dog. Images come out as ``(3, size, size)`` float tensors in [0, 1].
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from reference.data.errors import DataError
from reference.data.splits import stratified_split

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
CLASS_NAMES = ("cat", "dog")
_KAGGLE_NAME = re.compile(r"^(cat|dog)\.\d+\.(jpe?g|png|bmp)$", re.IGNORECASE)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folder(root: Path, name: str) -> Path | None:
    for child in root.iterdir() if root.is_dir() else ():
        if child.is_dir() and child.name.lower() in (name, name + "s"):
            return child
    return None


def find_labelled_images(root) -> tuple[list[Path], np.ndarray, str]:
    """``(paths, labels (N,), layout)`` of the labelled images under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"no folder at {root}: expected the Kaggle layout (train/cat.0.jpg, "
                        "train/dog.0.jpg, ...) or class folders (Cat/, Dog/)")
    train = root / "train"
    if train.is_dir() and any(_KAGGLE_NAME.match(p.name) for p in train.iterdir()):
        paths = [p for p in _images_in(train) if _KAGGLE_NAME.match(p.name)]
        labels = np.array([CLASS_NAMES.index(p.name.split(".")[0].lower()) for p in paths])
        layout = "kaggle"
    else:
        folders = [_class_folder(root, name) for name in CLASS_NAMES]
        if not all(folders):
            found = sorted(p.name for p in root.iterdir())[:10]
            raise DataError(f"{root} is in neither known layout: expected train/cat.<n>.jpg and "
                            f"train/dog.<n>.jpg (Kaggle) or the folders Cat/ and Dog/; found "
                            f"{found or 'an empty folder'}")
        paths, labels = [], []
        for label, folder in enumerate(folders):
            images = _images_in(folder)
            paths += images
            labels += [label] * len(images)
        labels = np.array(labels)
        layout = "folders"
    counts = np.bincount(labels, minlength=2) if len(labels) else np.zeros(2, int)
    if counts.min() == 0:
        raise DataError(f"{root} ({layout} layout) has {counts[0]} cat and {counts[1]} dog "
                        "images; both classes are needed")
    return paths, labels, layout


def find_test_images(root) -> tuple[list[Path], list[int]]:
    """``(paths, ids)`` of the Kaggle test images ``root/test1/<id>.jpg``, sorted by id."""
    folder = Path(root) / "test1"
    if not folder.is_dir():
        raise DataError(f"no Kaggle test folder at {folder} (expected test1/1.jpg, test1/2.jpg, ...)")
    entries = [(int(p.stem), p) for p in _images_in(folder) if p.stem.isdigit()]
    if not entries:
        raise DataError(f"{folder} holds no images named <id>.jpg")
    entries.sort()
    return [p for _, p in entries], [i for i, _ in entries]


def transforms(size: int, augment: bool):
    """Resize to ``size x size``; with ``augment``, random resized crops and horizontal flips."""
    from torchvision import transforms as t

    if augment:
        return t.Compose([t.RandomResizedCrop(size, scale=(0.8, 1.0), antialias=True),
                          t.RandomHorizontalFlip(), t.ToTensor()])
    return t.Compose([t.Resize((size, size), antialias=True), t.ToTensor()])


class ImageDataset:
    """A torch-style data set over image files: ``dataset[i] -> (image (3, S, S), target)``,
    where target is the label (labelled images) or the Kaggle id (test images)."""

    def __init__(self, paths, targets, transform, preload: bool = False):
        self.paths, self.targets, self.transform = list(paths), list(targets), transform
        self._cache = None
        if preload:
            from tqdm import tqdm

            self._cache = [self._open(p) for p in tqdm(self.paths, desc="loading images",
                                                       unit="image", leave=False)]

    @staticmethod
    def _open(path: Path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(f"cannot read the image {path}: {error}") from None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = self._cache[index] if self._cache is not None else self._open(self.paths[index])
        return self.transform(image), self.targets[index]


def cats_dogs_loaders(root, size: int = 64, val_fraction: float = 0.2, seed: int = 0,
                      batch_size: int = 64, augment: bool = True, preload: bool = False,
                      num_workers: int = 0):
    """``(train_loader, valid_loader)`` over the labelled images: a stratified validation split
    fixed by ``seed``; augmentation on the training part only."""
    import torch

    paths, labels, _ = find_labelled_images(root)
    train_idx, valid_idx = stratified_split(labels, (1 - val_fraction, val_fraction), seed)
    train = ImageDataset([paths[i] for i in train_idx], labels[train_idx].tolist(),
                         transforms(size, augment), preload)
    valid = ImageDataset([paths[i] for i in valid_idx], labels[valid_idx].tolist(),
                         transforms(size, False), preload)
    generator = torch.Generator().manual_seed(seed)
    return (torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True,
                                        generator=generator, num_workers=num_workers),
            torch.utils.data.DataLoader(valid, batch_size=batch_size, num_workers=num_workers))


def kaggle_test_loader(root, size: int = 64, batch_size: int = 64):
    """A loader of ``(images (B, 3, size, size), ids (B,))`` over ``root/test1``, in id order."""
    import torch

    paths, ids = find_test_images(root)
    return torch.utils.data.DataLoader(ImageDataset(paths, ids, transforms(size, False)),
                                       batch_size=batch_size)


def write_synthetic_images(root, n_per_class: int = 20, layout: str = "kaggle", size: int = 48,
                           n_test: int = 0, seed: int = 0) -> Path:
    """A small, learnable stand-in for the Kaggle data (for tests; no download): cats are
    reddish and dogs bluish textured JPEGs of varied sizes, in either layout."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)

    def picture(label: int):
        height, width = (int(size * s) for s in rng.uniform(0.8, 1.3, 2))
        base = np.array([170, 90, 70] if label == 0 else [70, 100, 180], dtype=float)
        pixels = base + rng.normal(0, 40, (height, width, 3))
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    for label, name in enumerate(CLASS_NAMES):
        folder = root / "train" if layout == "kaggle" else root / name.capitalize()
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(n_per_class):
            filename = f"{name}.{index}.jpg" if layout == "kaggle" else f"{index}.jpg"
            picture(label).save(folder / filename, quality=90)
    if n_test:
        (root / "test1").mkdir(parents=True, exist_ok=True)
        for image_id in range(1, n_test + 1):
            picture(image_id % 2).save(root / "test1" / f"{image_id}.jpg", quality=90)
    return root


def striped_images(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A generated two-class image set that a small CNN learns in a few dozen steps, for grading
    ``CatsDogsCNN`` without the Kaggle data: ``(images (n, 3, size, size) float32 in [0, 1],
    labels (n,) int64)``, balanced, in random order. Class 0 ("cat") has horizontal stripes,
    class 1 ("dog") vertical ones; period, phase, colours, contrast and the pixel noise are random,
    so neither colour nor brightness tells the classes apart, only the orientation."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    position = np.arange(size, dtype=np.float64)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    for index, label in enumerate(labels):
        period = rng.uniform(6.0, 14.0)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * position / period + rng.uniform(0, 2 * np.pi))
        pattern = wave[:, None] * np.ones(size) if label == 0 else np.ones(size)[:, None] * wave
        base = rng.uniform(0.3, 0.7, (3, 1, 1))
        contrast = rng.uniform(0.3, 0.6, (3, 1, 1)) * rng.choice([-1.0, 1.0], (3, 1, 1))
        picture = base + contrast * (pattern - 0.5) + rng.normal(0, 0.1, (3, size, size))
        images[index] = np.clip(picture, 0.0, 1.0)
    return images, labels.astype(np.int64)
