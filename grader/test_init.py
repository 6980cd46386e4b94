"""Part init: ``initialize_weights`` for the zero, normal and Glorot methods, and seeding."""
import numpy as np

from grader import cases
from grader import tolerances as tol
from grader.checks import Verdict, type_name
from reference import distributions, mlp

# Non-square layers and one square one (200 -> 200), big enough for sharp statistics.
N_FEATURES, HIDDEN, N_CLASSES = 300, (200, 200), 10


def initialized_weights(worker, grade, method, seed=None, hidden=HIDDEN, n_features=N_FEATURES,
                        n_classes=N_CLASSES) -> dict:
    outcome = worker.call("initialize_weights", args=[[n_features, n_classes]],
                          config=cases.config(hidden, init_method=method, seed=seed),
                          return_state=["weights"])
    grade.require(outcome, f"initialize_weights (init_method={method!r})")
    weights = outcome.state.get("weights")
    if not isinstance(weights, dict):
        grade.fail(f"after initialize_weights, self.weights is {type_name(weights)}, not a dict")
    return weights


def check_structure(grade, weights, dims, weight=1.0) -> bool:
    """Keys, shapes and zero biases of every layer; returns whether they are all right."""
    problems = []
    for layer in range(1, len(dims)):
        for key, shape in ((f"W{layer}", (dims[layer - 1], dims[layer])), (f"b{layer}", (1, dims[layer]))):
            value = weights.get(key)
            if not isinstance(value, np.ndarray):
                problems.append(f"self.weights[{key!r}] is {type_name(value)}, expected an array {shape}")
            elif value.shape != shape:
                hint = " (transposed?)" if value.shape == shape[::-1] else ""
                problems.append(f"{key} has shape {value.shape}, expected {shape}{hint}")
            elif key.startswith("b") and np.any(value != 0):
                problems.append(f"{key} is not all zeros (biases start at 0)")
    extra = sorted(k for k in weights if k not in {f"{p}{n}" for n in range(1, len(dims)) for p in "Wb"})
    if extra:
        problems.append(f"unexpected keys in self.weights: {', '.join(map(str, extra[:10]))}")
    return grade.check(Verdict(not problems, "; ".join(problems)), weight)


def check_statistics(grade, weights, dims, method, weight_per_layer=1.0) -> None:
    for layer in range(1, len(dims)):
        w = weights.get(f"W{layer}")
        shape = (dims[layer - 1], dims[layer])
        if not isinstance(w, np.ndarray) or w.shape != shape or w.dtype.kind not in "biuf":
            grade.expect(False, f"W{layer}: cannot test its statistics (shape or type is wrong)",
                         weight_per_layer)
            continue
        expected = distributions.weight_distribution(method, *shape)
        stats = distributions.check_sample(w, expected, tol.STAT_ALPHA)
        failed = [s for s in stats if not s.passed]
        message = ""
        if failed:
            message = (f"W{layer} {shape} does not look like {expected.describe()}: "
                       + "; ".join(s.describe() for s in failed) + _likely_init_cause(w, expected))
        grade.expect(not failed, message, weight_per_layer)


def _likely_init_cause(w: np.ndarray, expected: distributions.Distribution) -> str:
    values = w.astype(np.float64).ravel()
    if np.all(values == 0):
        return ". Likely cause: all zeros (the zero branch used for every method?)"
    if expected.kind == "uniform":
        bound = expected.high
        if values.min() >= 0:
            return ". Likely cause: drawn from U(0, d) instead of U(-d, d)"
        observed_bound = float(np.max(np.abs(values)))
        if abs(np.var(values) - 1.0) < 0.05:
            return ". Likely cause: drawn from N(0, 1) instead of U(-d, d)"
        return (f". Likely cause: the largest |w| is {observed_bound:.4g} but d = "
                f"sqrt(6 / (d_in + d_out)) = {bound:.4g}")
    if expected.kind == "normal":
        if values.min() >= 0:
            return ". Likely cause: only non-negative values (uniform on [0, 1)?)"
        return f". Likely cause: the standard deviation is {np.std(values):.4g}, not 1"
    return ""


def test_init_zero(worker, grade):
    dims = mlp.layer_dims(30, (20, 20), 7)
    weights = initialized_weights(worker, grade, "zero", hidden=(20, 20), n_features=30, n_classes=7)
    check_structure(grade, weights, dims)
    nonzero = [k for k, v in weights.items() if isinstance(v, np.ndarray) and k.startswith("W")
               and v.dtype.kind in "biuf" and np.any(v != 0)]
    grade.expect(not nonzero, f"the zero method left non-zero entries in {', '.join(nonzero)}", 2)


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
