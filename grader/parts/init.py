"""Part init: ``initialize_weights`` for the zero, normal and Glorot methods, and seeding."""
import numpy as np

from grader import tolerances as tol
from grader.verdicts import styles
from grader.verdicts.nn_parts import INIT_SIZES, check_statistics, check_structure, initialized_weights
from reference import mlp
from reference.distributions import same_order_check

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

    keys = [f"W{layer}" for layer in range(1, len(hidden) + 2)]

    def same(a, b):
        # two empty or keyless dicts are not "the same weights": there are no weights to compare
        return set(a) == set(b) and all(k in a for k in keys) and all(
            isinstance(a[k], np.ndarray) and isinstance(b[k], np.ndarray)
            and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)

    grade.expect(same(first, again), "two calls with seed=7 gave different weights: seed "
                 "np.random with self.seed (when it is not None) before drawing")
    grade.expect(not same(first, other), "seeds 7 and 8 gave the same weights: the seed is ignored "
                 "or a fixed seed is used")
    # Different seeds must give independent weights, not e.g. the same draws rescaled or negated:
    # an exact test on all the W entries, with false-alarm rate STAT_ALPHA.
    if all(isinstance(w.get(k), np.ndarray) and w[k].dtype.kind in "biuf" for w in (first, other)
           for k in keys) and all(first[k].shape == other[k].shape for k in keys):
        def far_pairs(weights):
            # entry k is paired with entry k + half, far apart, so that the check looks at the
            # seeds only: entries repeated within a row (a bug of its own, graded in the
            # statistics tests) do not tie here
            flat = np.concatenate([weights[k].ravel() for k in keys])
            half = flat.size // 2
            return np.stack([flat[:half], flat[half:2 * half]], axis=1)

        check = same_order_check("the W entries of seed 7 against those of seed 8",
                                 far_pairs(first), far_pairs(other), tol.STAT_ALPHA)
        grade.expect(check.passed, "seeds 7 and 8 gave weights that depend on each other (the same "
                     "draws, rescaled or negated?): " + check.describe())
    else:
        grade.expect(False, "cannot compare the weights of seeds 7 and 8 (missing W keys, or "
                     "shapes that differ)")
