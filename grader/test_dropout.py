"""Part dropout: inverted dropout judged by its statistics (drop rate, scaling), identity in
evaluation, the forward mask reused by backward, and seeded reproducibility. No seed-locked
mask is ever compared."""
import math

import numpy as np
import pytest

from grader import tolerances as tol
from grader.verdicts.checks import compare_array, type_name
from reference.distributions import two_sided_z
from reference.normalization import dropout_keep_scale


def dropout_step(worker, grade, p, seed, x, dout, train=True):
    outcome = worker.call_sequence("forward", [{"args": [x, train],
                                                "then": {"method": "backward", "args": [dout]}}],
                                   cls="Dropout", config={"p": p, "seed": seed})
    got = grade.require(outcome, f"Dropout(p={p}, seed={seed}).forward / backward")
    out, dx = got[0]["result"], got[0]["then"]
    for name, value in (("forward(x)[0]", out), ("backward(dout, mask)", dx)):
        if not (isinstance(value, np.ndarray) and value.shape == x.shape):
            grade.fail(f"{name} returned {type_name(value)}; expected an array of shape {x.shape}")
    return out.astype(np.float64), dx.astype(np.float64)


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_dropout_train_statistics(worker, grade, p):
    x = np.ones((400, 50))
    out, _ = dropout_step(worker, grade, p, 11, x, x)
    scale = dropout_keep_scale(p)
    kept = out != 0
    wrong_values = ~np.isclose(out, 0) & ~np.isclose(out, scale, rtol=1e-9, atol=0)
    cause = ""
    if np.all(np.isclose(out[kept], 1.0)):
        cause = ". Likely cause: the kept entries were not divided by 1 - p (inverted dropout)"
    elif np.all(np.isclose(out[kept], 1.0 / p)):
        cause = ". Likely cause: kept entries were divided by p instead of 1 - p"
    grade.expect(not wrong_values.any(),
                 f"Dropout(p={p}) on ones: {int(wrong_values.sum())} of {out.size} entries are "
                 f"neither 0 nor 1 / (1 - p) = {scale:g}{cause}", 2.0)
    dropped = 1.0 - kept.mean()
    bound = two_sided_z(tol.STAT_ALPHA) * math.sqrt(p * (1 - p) / out.size)
    cause = ". Likely cause: p was used as the keep probability" if abs(
        dropped - (1 - p)) <= bound else ""
    grade.expect(abs(dropped - p) <= bound,
                 f"Dropout(p={p}) dropped {dropped:.4f} of the entries; expected {p} "
                 f"(allowed deviation {bound:.4f}){cause}")


def test_dropout_eval_identity(worker, grade, rng):
    x = rng.normal(0, 1, (30, 8))
    out, dx = dropout_step(worker, grade, 0.5, 3, x, np.ones_like(x), train=False)
    verdict = compare_array("Dropout(p=0.5).forward(x, train=False)[0]", out, x)
    if not verdict.passed and np.any((out == 0) & (x != 0)):
        verdict.message += ". Likely cause: entries were dropped with train=False"
    grade.check(verdict)
    grade.check(compare_array("Dropout backward in evaluation", dx, np.ones_like(x)))


def test_dropout_backward_uses_mask(worker, grade, rng):
    x = rng.uniform(0.5, 2.0, (60, 20))
    dout = rng.normal(0, 1, x.shape)
    out, dx = dropout_step(worker, grade, 0.4, 5, x, dout)
    expected = dout * out / x  # the multiplier forward applied to each entry
    verdict = compare_array("backward(dout, mask)", dx, expected,
                            hypotheses={"backward ignored the mask (returned dout)": dout})
    if not verdict.passed and np.any((dx == 0) != (out == 0)):
        verdict.message += (". Likely cause: backward dropped other entries than forward did "
                            "(a new mask drawn in backward?)")
    grade.check(verdict)


def test_dropout_seed(worker, grade, rng):
    x = rng.uniform(0.5, 2.0, (40, 25))
    first, _ = dropout_step(worker, grade, 0.5, 7, x, x)
    again, _ = dropout_step(worker, grade, 0.5, 7, x, x)
    other, _ = dropout_step(worker, grade, 0.5, 8, x, x)
    grade.expect(np.array_equal(first, again), "two Dropout(p, seed=7) objects drew different "
                 "masks: draw them from a generator seeded in __init__")
    grade.expect(not np.array_equal(first, other), "seeds 7 and 8 gave the same mask")
    unchanged, _ = dropout_step(worker, grade, 0.0, 7, x, x)
    grade.check(compare_array("Dropout(p=0).forward(x)[0]", unchanged, x))
