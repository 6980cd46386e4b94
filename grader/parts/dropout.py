"""Part dropout: inverted dropout judged by its statistics (drop rate, scaling, masks drawn
independently across calls, examples, units and seeds), identity in evaluation and at p = 0,
backward against the grader's own gradient for the entries forward dropped, and seeded
reproducibility. No seed-locked mask is ever compared. Every statistical check is exact and
fails a correct Dropout with probability at most ``STAT_ALPHA``."""
import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.parts import each
from grader.verdicts.checks import Verdict, allowed_error, compare_array, expectation, type_name
from reference.distributions import binomial_range, mask_overlap_check
from reference.normalization import dropout_keep_scale


def dropout_calls(worker, grade, p, seed, inputs, train=True):
    """Forward each ``(x, dout)`` of ``inputs`` in turn on ONE ``Dropout(p, seed)``, each followed
    by ``backward(dout, mask)`` with that forward's mask; returns ``[(out, dx), ...]`` in float64."""
    sequence = [{"args": [x, train], "then": {"method": "backward", "args": [dout]}}
                for x, dout in inputs]
    outcome = worker.call_sequence("forward", sequence, cls="Dropout", config={"p": p, "seed": seed})
    got = grade.require(outcome, f"Dropout(p={p}, seed={seed}).forward / backward")
    results = []
    for step, (x, _) in zip(got, inputs, strict=False):   # got: the student's list
        out, dx = step["result"], step["then"]
        for name, value in (("forward(x)[0]", out), ("backward(dout, mask)", dx)):
            if not (isinstance(value, np.ndarray) and value.shape == x.shape
                    and value.dtype.kind in "biuf"):
                grade.fail(f"{name} returned {type_name(value)}; expected an array of shape {x.shape}")
        results.append((out.astype(np.float64), dx.astype(np.float64)))
    return results


def dropout_step(worker, grade, p, seed, x, dout, train=True):
    return dropout_calls(worker, grade, p, seed, [(x, dout)], train)[0]


def kept_entries(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The entries forward kept (``x`` has no zeros, so a dropped entry is exactly 0)."""
    return out != 0


def never_drops(kept: np.ndarray, what: str) -> str:
    """The diagnosis of a mask that drops nothing, or '' when it drops something."""
    if kept.all():
        return (f"{what} never drops: all {kept.size} entries were kept in training mode (is the "
                "mask multiplied into x? is the train flag read the wrong way round?)")
    return ""


def drop_rate(kept: np.ndarray, p: float, what: str) -> Verdict:
    """The fraction dropped, against the exact Binomial(n, p) range at ``STAT_ALPHA``: whether
    it passes, and the diagnosis when it does not."""
    n = kept.size
    dropped = int(n - kept.sum())
    low, high = binomial_range(n, p, tol.STAT_ALPHA)
    if low <= dropped <= high:
        return Verdict(True)
    verdict = Verdict(False, never_drops(kept, what) or (
        f"{what} dropped {dropped / n:.4f} of the entries; expected {p} (allowed range "
        f"{low / n:.4f} to {high / n:.4f})"))
    if low <= n - dropped <= high:
        verdict.blame(causes.DROPOUT_KEEP_PROBABILITY)
    return verdict


def independence_check(grade, what: str, pairs, weight=1.0) -> bool:
    """Masks that must be drawn independently: ``pairs`` is ``[(name, kept_a, kept_b), ...]``,
    each tested by Fisher's exact test at ``STAT_ALPHA / len(pairs)``, so that together they fail
    a correct Dropout with probability at most ``STAT_ALPHA``."""
    for _, kept_a, kept_b in pairs:
        for kept in (kept_a, kept_b):
            if kept.all() or not kept.any():
                return grade.expect(False, never_drops(kept, what) or (
                    f"{what}: every entry was dropped, so the masks cannot be compared"), weight)
    checks = [mask_overlap_check(name, a, b, tol.STAT_ALPHA / len(pairs)) for name, a, b in pairs]
    failed = [check for check in checks if not check.passed]
    message = ""
    if failed:
        identical = [name for name, a, b in pairs if np.array_equal(a, b)]
        cause = (f"the same entries were dropped in {', '.join(identical)}" if identical else
                 "the masks depend on each other")
        message = (f"{what}: {cause}; each mask must be drawn anew, independently for every "
                   "entry: " + "; ".join(check.describe() for check in failed))
    return grade.expect(not failed, message, weight)


@each("p", [0.3, 0.75])
def test_dropout_train_statistics(worker, grade, p):
    x = np.ones((400, 50))
    (first, _), (second, _) = dropout_calls(worker, grade, p, 11, [(x, x), (x, x)])
    scale = dropout_keep_scale(p)
    what = f"Dropout(p={p}).forward(ones((400, 50)))"
    kept = [kept_entries(out, x) for out in (first, second)]
    out = np.concatenate([first, second])
    both_kept = np.concatenate(kept)
    never = never_drops(both_kept, what)
    if never:
        grade.fail(never)   # nothing in this test can be right without dropping
    # The documented tolerance (``tolerances``), not an exact match: a float32 mask holds
    # 1 / (1 - p) = 1.4285714 for p = 0.3, within 3e-8 of the float64 value.
    expected = np.full(out.shape, scale)
    wrong_values = ~np.isclose(out, 0) & ~(np.abs(out - expected) <= allowed_error(expected))
    cause = ""
    if np.all(np.isclose(out[both_kept], 1.0)):
        cause = causes.DROPOUT_NOT_RESCALED
    elif np.all(np.isclose(out[both_kept], 1.0 / p)):
        cause = causes.DROPOUT_DIVIDED_BY_P
    grade.check(expectation(not wrong_values.any(),
                            f"{what}, called twice: {int(wrong_values.sum())} of {out.size} "
                            f"entries are neither 0 nor 1 / (1 - p) = {scale:g}", cause), 1.5)
    grade.check(drop_rate(both_kept, p, f"{what}, called twice"))
    independence_check(grade, f"{what}, called twice on one object",
                       [("the first and the second call", kept[0], kept[1])])
    mask = kept[0]
    independence_check(grade, f"{what}: the mask of one call", [
        ("examples (rows) 0, 2, 4, ... and 1, 3, 5, ...", mask[0::2], mask[1::2]),
        ("units (columns) 0, 2, 4, ... and 1, 3, 5, ...", mask[:, 0::2], mask[:, 1::2])])


def test_dropout_eval_identity(worker, grade, rng):
    x = rng.normal(0, 1, (30, 8))
    out, dx = dropout_step(worker, grade, 0.5, 3, x, np.ones_like(x), train=False)
    verdict = compare_array("Dropout(p=0.5).forward(x, train=False)[0]", out, x)
    if not verdict.passed and np.any((out == 0) & (x != 0)):
        verdict.blame(causes.DROPOUT_DROPPED_IN_EVAL)
    grade.check(verdict)
    grade.check(compare_array("Dropout backward in evaluation", dx, np.ones_like(x)))
    unchanged, _ = dropout_step(worker, grade, 0.0, 7, x, x)
    grade.check(compare_array("Dropout(p=0).forward(x)[0] in training", unchanged, x))


def test_dropout_backward_uses_mask(worker, grade, rng):
    """dx must be dout times the multiplier of inverted dropout, 0 or 1 / (1 - p), for the entries
    forward dropped. The grader computes it from its own dout and p; the only thing it takes
    from forward is WHICH entries were dropped, after checking that they look like a dropout
    mask (an exact drop-rate test), so a forward that never drops cannot make any dx right."""
    p = 0.5   # symmetric: a forward that mixes up drop and keep probability still drops half
    x = rng.uniform(0.5, 2.0, (60, 20))
    dout = rng.normal(0, 1, x.shape)
    out, dx = dropout_step(worker, grade, p, 5, x, dout)
    kept = kept_entries(out, x)
    what = f"Dropout(p={p}).forward (whose mask backward must use)"
    rate = drop_rate(kept, p, what)
    if not rate.passed:
        # the test ends on forward's drop rate, whose cause (if named) is the failure's
        grade.fail("backward cannot be checked: it needs the entries forward dropped, and "
                   + rate.message, cause=causes.Cause(rate.cause, rate.cause_text) if rate.cause else None)
    expected = dout * kept * dropout_keep_scale(p)
    verdict = compare_array("backward(dout, mask)", dx, expected, hypotheses={
        causes.DROPOUT_BACKWARD_IGNORES_MASK: dout,
        causes.DROPOUT_BACKWARD_UNSCALED: dout * kept})
    if not verdict.passed and np.any((dx == 0) != ~kept):
        verdict.blame(causes.DROPOUT_BACKWARD_NEW_MASK)
    grade.check(verdict)


def test_dropout_seed(worker, grade, rng):
    x = rng.uniform(0.5, 2.0, (60, 40))
    first, _ = dropout_step(worker, grade, 0.5, 7, x, x)
    again, _ = dropout_step(worker, grade, 0.5, 7, x, x)
    other, _ = dropout_step(worker, grade, 0.5, 8, x, x)
    kept = [kept_entries(out, x) for out in (first, again, other)]
    cause = never_drops(np.concatenate(kept), "Dropout(p=0.5)")
    if cause:
        grade.fail(cause)   # masks that drop nothing are trivially reproducible
    grade.expect(np.array_equal(first, again), "two Dropout(p, seed=7) objects drew different "
                 "masks: draw them from a generator seeded in __init__")
    independence_check(grade, "Dropout(p=0.5) with seeds 7 and 8",
                       [("seeds 7 and 8", kept[0], kept[2])])
