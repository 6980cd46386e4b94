"""The images study 5 trains on: Kaggle's dogs vs. cats under ``--data-root`` when it is there,
else generated striped images (``reference.data.cats_dogs.striped_images``).

Labelled images are decoded once, resized to ``size x size``, and kept as ``uint8`` tensors
(25,000 Kaggle images at 64x64 take 300 MB); the loaders turn each batch into floats in [0, 1].
The Kaggle test images (``test1/<id>.jpg``) are only streamed, into the student's
``write_kaggle_submission``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reference.data.errors import DataError

SUBFOLDERS = ("", "dogs-vs-cats", "cats_dogs", "PetImages")
"""Where under ``--data-root`` the labelled images may be (the MNIST files share that root)."""
LAYOUTS = {"kaggle": "Kaggle's images", "folders": "images in class folders"}


@dataclass
class Images:
    """Images ``(N, 3, S, S)`` uint8 and their targets ``(N,)`` int64 (labels: 0 cat, 1 dog; or
    ids); ``labelled`` says which."""
    images: object
    targets: object
    labelled: bool = True

    def __len__(self) -> int:
        return len(self.targets)

    def floats(self, index):
        """``images[index]`` as float32 in [0, 1]."""
        return self.images[index].float().div_(255)

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """Batches of ``(images (B, 3, S, S) float32 in [0, 1], targets (B,))``."""
        import torch

        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.images, self.targets),
                                           batch_size=batch_size, shuffle=shuffle, generator=generator,
                                           collate_fn=_as_floats)


def _as_floats(batch):
    import torch

    images, targets = torch.utils.data.default_collate(batch)
    return images.float().div_(255), targets


def _bytes(images: np.ndarray):
    import torch

    return torch.from_numpy(np.round(np.clip(images, 0, 1) * 255).astype(np.uint8))


@dataclass
class CatsDogs:
    """Training and validation images, and what the Kaggle CSV is written over: ``test`` (a loader
    of ``(images, ids)``), ``test_labels`` (``{id: label}`` when known, else None)."""
    train: Images
    valid: Images
    test: object
    test_count: int
    test_labels: dict | None
    source: str          # "generated", "kaggle" or "folders"
    description: str     # for the notes
    short: str           # for the configuration table


def generated(sizes: tuple[int, int, int], size: int, seed: int, batch_size: int) -> CatsDogs:
    """``sizes = (train, valid, test)`` striped images; the test ones get the made-up ids 1..n."""
    import torch

    from reference.data.cats_dogs import striped_images

    n_train, n_valid, n_test = sizes
    images, labels = striped_images(n_train + n_valid + n_test, size=size, seed=seed)
    pixels, labels = _bytes(images), torch.from_numpy(labels)
    cut = (slice(0, n_train), slice(n_train, n_train + n_valid), slice(n_train + n_valid, None))
    train, valid, test = (Images(pixels[part], labels[part]) for part in cut)
    ids = torch.arange(1, n_test + 1)
    held_out = Images(test.images, ids, labelled=False)
    return CatsDogs(train, valid, held_out.loader(batch_size), n_test,
                    dict(zip(ids.tolist(), test.targets.tolist(), strict=True)), "generated",
                    f"generated striped images ({n_train:,} training, {n_valid:,} validation, "
                    f"{n_test:,} held out for the CSV; horizontal stripes = cat, vertical = dog)",
                    f"generated stripes: {n_train:,} training, {n_valid:,} validation, "
                    f"{n_test:,} for the CSV")


def find_root(data_root) -> tuple[Path | None, str]:
    """``(folder, "")``: the folder under ``data_root`` that holds labelled dogs and cats; or
    ``(None, why)`` when none does (why: the loader's complaint about ``data_root`` itself)."""
    from reference.data.cats_dogs import find_labelled_images

    if data_root is None:
        return None, "no --data-root given"
    why = ""
    for sub in SUBFOLDERS:
        candidate = Path(data_root) / sub
        try:
            find_labelled_images(candidate)
        except (DataError, OSError) as error:
            why = why or str(error)
            continue
        return candidate, ""
    return None, why


def _decode(paths, targets, size: int, progress, desc: str) -> Images:
    import torch

    from reference.data.cats_dogs import ImageDataset, transforms

    dataset = ImageDataset(paths, targets, transforms(size, augment=False))
    workers = min(4, os.cpu_count() or 1) if len(paths) >= 1000 else 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, num_workers=workers)
    images, labels = [], []
    for batch, batch_targets in progress(loader, total=len(loader), desc=desc):
        images.append((batch * 255).round().to(torch.uint8))
        labels.append(torch.as_tensor(batch_targets, dtype=torch.int64))
    return Images(torch.cat(images), torch.cat(labels))


def real(root: Path, limit: int | None, test_limit: int | None, val_fraction: float, size: int,
         seed: int, batch_size: int, progress) -> CatsDogs:
    """At most ``limit`` labelled images under ``root`` (a stratified, seeded subset) split into
    training and validation; the CSV over ``root/test1`` (at most ``test_limit`` images, by id)
    or, without it, over the validation images with the made-up ids 1..n."""
    import torch

    from reference.data.cats_dogs import ImageDataset, find_labelled_images, find_test_images, transforms
    from reference.data.splits import stratified_split

    paths, labels, layout = find_labelled_images(root)
    train_idx, valid_idx = stratified_split(labels, (1 - val_fraction, val_fraction), seed)
    if limit is not None and limit < len(labels):
        n_valid = max(2, round(limit * val_fraction))
        train_idx, valid_idx = train_idx[:limit - n_valid], valid_idx[:n_valid]
    train = _decode([paths[i] for i in train_idx], labels[train_idx].tolist(), size, progress,
                    "decoding training images")
    valid = _decode([paths[i] for i in valid_idx], labels[valid_idx].tolist(), size, progress,
                    "decoding validation images")
    try:
        test_paths, ids = find_test_images(root)
    except DataError:
        test_paths = None
    if test_paths is not None:
        test_paths, ids = test_paths[:test_limit], ids[:test_limit]
        dataset = ImageDataset(test_paths, ids, transforms(size, augment=False))
        workers = min(4, os.cpu_count() or 1) if len(ids) >= 1000 else 0
        test = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
        test_count, test_labels = len(ids), None
        where = f"the {len(ids):,} Kaggle test images of {root / 'test1'}"
    else:
        ids = torch.arange(1, len(valid) + 1)
        test = Images(valid.images, ids, labelled=False).loader(batch_size)
        test_count = len(valid)
        test_labels = dict(zip(ids.tolist(), valid.targets.tolist(), strict=True))
        where = "the validation images with made-up ids 1..n (no test1 folder)"
    return CatsDogs(train, valid, test, test_count, test_labels, layout,
                    f"real images from {root} ({layout} layout, {len(train):,} training and "
                    f"{len(valid):,} validation, {size}x{size}); the CSV is over {where}",
                    f"{LAYOUTS[layout]}: {len(train):,} training, {len(valid):,} validation, "
                    f"{test_count:,} for the CSV")
