"""Part init: ``initialize_weights`` for the zero, normal and Glorot methods, and seeding."""
import numpy as np

from grader.verdicts import styles
from grader.verdicts.nn_parts import INIT_SIZES, check_statistics, check_structure, initialized_weights
from reference import mlp

N_FEATURES, HIDDEN, N_CLASSES = INIT_SIZES["n_features"], INIT_SIZES["hidden"], INIT_SIZES["n_classes"]


def test_init_zero(worker, grade):
    dims = mlp.layer_dims(30, (20, 20), 7)
    weights = initialized_weights(worker, grade, "zero", hidden=(20, 20), n_features=30, n_classes=7)
    check_structure(grade, weights, dims)
    nonzero = [k for k, v in weights.items() if isinstance(v, np.ndarray) and k.startswith("W")
               and v.dtype.kind in "biuf" and np.any(v != 0)]
    grade.expect(not nonzero, f"the zero method left non-zero entries in {', '.join(nonzero)} "
                 f"(the grader passes init_method='zero'; accepted names: "
                 f"{styles.accepted_init_names()})", 2)


def test_init_normal(worker, grade):
    dims = mlp.layer_dims(N_FEATURES, HIDDEN, N_CLASSES)
    weights = initialized_weights(worker, grade, "normal", seed=11)
    check_structure(grade, weights, dims)
    check_statistics(grade, weights, dims, "normal")


def test_init_glorot(worker, grade):
    dims = mlp.layer_dims(N_FEATURES, HIDDEN, N_CLASSES)
    weights = initialized_weights(worker, grade, "glorot", seed=12)
    check_structure(grade, weights, dims)
    check_statistics(grade, weights, dims, "glorot", weight_per_layer=1.5)


def test_init_seed(worker, grade):
    hidden, n_features, n_classes = (16, 8), 12, 3
    first = initialized_weights(worker, grade, "glorot", seed=7, hidden=hidden,
                                n_features=n_features, n_classes=n_classes)
    again = initialized_weights(worker, grade, "glorot", seed=7, hidden=hidden,
                                n_features=n_features, n_classes=n_classes)
    other = initialized_weights(worker, grade, "glorot", seed=8, hidden=hidden,
                                n_features=n_features, n_classes=n_classes)

    def same(a, b):
        return set(a) == set(b) and all(
            isinstance(a[k], np.ndarray) and isinstance(b[k], np.ndarray)
            and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)

    grade.expect(same(first, again), "two calls with seed=7 gave different weights: seed "
                 "np.random with self.seed (when it is not None) before drawing")
    grade.expect(not same(first, other), "seeds 7 and 8 gave the same weights: the seed is ignored "
                 "or a fixed seed is used")
