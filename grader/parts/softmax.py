"""Part softmax: values on batches and vectors, stability at large logits, shift invariance.

Every check compares the student's output with the reference computed here from the grader's
own input. The properties of a softmax (rows in [0, 1] summing to 1, invariance to a constant
added to a row) earn points only through right values: a property that holds while the values
are wrong is worth nothing (a softmax returning 1/C everywhere has both), and a property that
fails is named as the likely cause of wrong values.
"""
import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.verdicts.checks import Verdict, compare_array
from grader.verdicts.nn_parts import call_softmax, softmax_failure_cause, softmax_variants
from reference import mlp


def uniform(x):
    """What a softmax that ignores its logits returns: 1/C everywhere."""
    return np.full(x.shape, 1.0 / x.shape[-1])


UNIFORM_CAUSE = causes.SOFTMAX_UNIFORM


def row_sum_cause(got, shape):
    """The broken property behind wrong values, when the rows of ``got`` do not sum to 1."""
    if not (isinstance(got, np.ndarray) and got.dtype.kind in "biuf" and got.size
            and got.size == int(np.prod(shape))):
        return ""
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.sum(got.astype(np.float64).reshape(shape), axis=-1)
    if not np.all(np.isfinite(sums)) or np.all(np.abs(sums - 1.0) <= tol.PATTERN_RTOL):
        return ""
    return causes.SOFTMAX_ROW_SUM.format(low=float(np.min(sums)), high=float(np.max(sums)))


def softmax_verdict(label: str, got, x: np.ndarray, hypotheses=None, cause="",
                    **kwargs) -> Verdict:
    """``got`` against the reference softmax of ``x``, naming a known wrong variant, else
    ``cause`` (a diagnosis already made for these inputs), else a row sum other than 1, when the
    values differ."""
    variants = {**(hypotheses or {}), UNIFORM_CAUSE: uniform(x)}
    verdict = compare_array(label, got, mlp.softmax(x), hypotheses=variants, **kwargs)
    if not verdict.passed and not verdict.names_cause:
        cause = cause or row_sum_cause(got, x.shape)
        if cause:
            verdict.blame(cause)
    return verdict


def large_logits(rng) -> np.ndarray:
    """(4, 6) logits: row 0 near +1000, row 1 near -1000, one entry of row 2 at 1000."""
    x = rng.normal(0.0, 1.0, size=(4, 6))
    x[0] += 1000.0
    x[1] -= 1000.0
    x[2, 3] = 1000.0
    return x


PUBLIC_INPUTS = {"test_softmax_values": lambda rng: rng.normal(0.0, 3.0, size=(8, 10)),
                 "test_softmax_large_logits": large_logits}
"""``{test: rng -> x}`` of the tests whose diagnoses use the withheld numpy variants
(``nn_parts.softmax_variants``): the release replays them to record the variants' outputs."""


def test_softmax_values(worker, grade, rng):
    x = PUBLIC_INPUTS["test_softmax_values"](rng)
    got = call_softmax(worker, grade, x)
    variants = softmax_variants(x)
    named = {"axis0": causes.SOFTMAX_AXIS0, "whole": causes.SOFTMAX_WHOLE_ARRAY}
    grade.check(softmax_verdict("softmax(x) for x of shape (8, 10)", got, x,
                                hypotheses={cause: variants[kind] for kind, cause in named.items()
                                            if kind in variants}))


def test_softmax_1d(worker, grade, rng):
    x = rng.normal(0.0, 3.0, size=7)
    got = call_softmax(worker, grade, x, "softmax(x) for x of shape (7,)")
    grade.check(softmax_verdict("softmax(x) for x of shape (7,)", got, x, allow_squeeze=False))


def test_softmax_large_logits(worker, grade, rng):
    x = PUBLIC_INPUTS["test_softmax_large_logits"](rng)
    got = call_softmax(worker, grade, x, "softmax(x) with logits near +-1000")
    # Rows 0 and 1 lie ~2000 apart: subtracting the batch's maximum instead of each row's shows.
    verdict = softmax_verdict("softmax(x) with logits near +-1000", got, x,
                              cause=softmax_failure_cause(x, got))
    grade.check(verdict)


def test_softmax_invariants(worker, grade, rng):
    """softmax(x) and softmax(x + c), with a constant c per row, each against the reference of
    its own input. The student's two answers are never compared with each other: a pair of
    equal wrong answers would pass, and an answer chosen by the student would set the bound."""
    x = rng.normal(0.0, 4.0, size=(12, 5))
    shift = rng.normal(0.0, 50.0, size=(12, 1))
    plain = call_softmax(worker, grade, x)
    shifted = call_softmax(worker, grade, x + shift, "softmax(x + c) with a constant c per row")
    plain_verdict = softmax_verdict(f"softmax(x) for x of shape {x.shape}", plain, x)
    grade.check(plain_verdict)
    shifted_verdict = softmax_verdict("softmax(x + c) with a constant c per row", shifted,
                                      x + shift)
    if not shifted_verdict.passed and plain_verdict.passed:
        shifted_verdict.blame(causes.SOFTMAX_NOT_SHIFT_INVARIANT)
    grade.check(shifted_verdict)
