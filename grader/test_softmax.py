"""Part softmax: values on batches and vectors, stability at large logits, invariants."""
import numpy as np

from grader.verdicts.checks import compare_array
from grader.verdicts.nn_parts import call_softmax, softmax_failure_cause
from reference import mlp


def axis0_softmax(x):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


def test_softmax_values(worker, grade, rng):
    x = rng.normal(0.0, 3.0, size=(8, 10))
    got = call_softmax(worker, grade, x)
    grade.check(compare_array("softmax(x) for x of shape (8, 10)", got, mlp.softmax(x),
                              hypotheses={"normalized along axis 0 (columns) instead of the last "
                                          "axis (rows)": axis0_softmax(x),
                                          "normalized over the whole array instead of per row":
                                          np.exp(x - x.max()) / np.exp(x - x.max()).sum()}))


def test_softmax_1d(worker, grade, rng):
    x = rng.normal(0.0, 3.0, size=7)
    got = call_softmax(worker, grade, x, "softmax(x) for x of shape (7,)")
    grade.check(compare_array("softmax(x) for x of shape (7,)", got, mlp.softmax(x),
                              allow_squeeze=False))


def test_softmax_large_logits(worker, grade, rng):
    x = rng.normal(0.0, 1.0, size=(4, 6))
    x[0] += 1000.0
    x[1] -= 1000.0
    x[2, 3] = 1000.0
    got = call_softmax(worker, grade, x, "softmax(x) with logits near +-1000")
    verdict = compare_array("softmax(x) with logits near +-1000", got, mlp.softmax(x))
    # Rows 0 and 1 lie ~2000 apart: subtracting the batch's maximum instead of each row's shows.
    cause = softmax_failure_cause(x, got)
    if not verdict.passed and cause and "Likely cause" not in verdict.message:
        verdict.message += f". Likely cause: {cause}"
    grade.check(verdict)


def test_softmax_invariants(worker, grade, rng):
    x = rng.normal(0.0, 4.0, size=(12, 5))
    shift = rng.normal(0.0, 50.0, size=(12, 1))
    plain = call_softmax(worker, grade, x)
    shifted = call_softmax(worker, grade, x + shift, "softmax(x + c) with a constant c per row")
    if not (isinstance(plain, np.ndarray) and plain.shape == x.shape):
        grade.fail(f"softmax(x) for x of shape {x.shape} did not return an array of that shape")
    sums = np.sum(plain.astype(np.float64), axis=-1)
    grade.check(compare_array("row sums of softmax(x)", sums, np.ones(x.shape[0])))
    grade.check(compare_array("softmax(x + c) compared with softmax(x)", shifted,
                              plain.astype(np.float64)))
