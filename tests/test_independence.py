"""The exact independence tests of ``reference/distributions.py``: their acceptance ranges are
exactly the stated ones, a correct sampler fails them no more often than ``alpha``, and the
structures they are for (units sharing weights, reused or broadcast masks) fail them."""
import math

import numpy as np
import pytest

from grader import tolerances as tol
from reference import distributions


def brute_force_range(pmf: dict, alpha: float) -> tuple:
    """The narrowest [low, high] with at most alpha / 2 outside on each side, by plain sums."""
    support = sorted(pmf)
    low = max(k for k in support if sum(pmf[j] for j in support if j < k) <= alpha / 2)
    high = min(k for k in support if sum(pmf[j] for j in support if j > k) <= alpha / 2)
    return low, high


@pytest.mark.parametrize("n, q, alpha", [(40, 0.5, 0.05), (57, 0.3, 0.01), (25, 0.58, 0.2)])
def test_binomial_range_is_exact(n, q, alpha):
    pmf = {k: math.comb(n, k) * q ** k * (1 - q) ** (n - k) for k in range(n + 1)}
    assert distributions.binomial_range(n, q, alpha) == brute_force_range(pmf, alpha)


@pytest.mark.parametrize("population, first, second, alpha", [(60, 20, 35, 0.05), (41, 30, 30, 0.01),
                                                              (30, 4, 27, 0.2)])
def test_hypergeometric_range_is_exact(population, first, second, alpha):
    total = math.comb(population, second)
    pmf = {k: math.comb(first, k) * math.comb(population - first, second - k) / total
           for k in range(max(0, first + second - population), min(first, second) + 1)}
    assert distributions.hypergeometric_range(population, first, second, alpha) == (
        brute_force_range(pmf, alpha))


def test_false_alarm_rates_are_as_stated():
    """At alpha = 0.05, independent draws (float64 and float32 weights, dropout masks) fail each
    check at most about 5 % of the time (3 standard errors of slack for 300 trials)."""
    rng = np.random.default_rng(11)
    trials, alpha = 300, 0.05
    failures = np.zeros(4)
    for _ in range(trials):
        w = rng.uniform(-1, 1, (40, 30))
        failures[0] += not all(c.passed for c in distributions.independent_units_checks(w, alpha))
        w32 = rng.normal(0, 1, (40, 30)).astype(np.float32)
        failures[1] += not all(c.passed for c in distributions.independent_units_checks(w32, alpha))
        failures[2] += not distributions.same_order_check("seeds", rng.normal(size=300),
                                                          rng.normal(size=300), alpha).passed
        failures[3] += not distributions.mask_overlap_check(
            "calls", rng.random((30, 20)) >= 0.3, rng.random((30, 20)) >= 0.3, alpha).passed
    rates = failures / trials
    assert np.all(rates < alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)), rates


def test_units_that_share_weights_fail():
    rng = np.random.default_rng(3)
    column = rng.permutation(np.linspace(-1, 1, 200))
    tiled = np.tile(column[:, None], (1, 10))   # every unit the same incoming weights
    assert not any(c.passed for c in distributions.independent_units_checks(tiled, tol.STAT_ALPHA))
    rows = np.tile(rng.uniform(-1, 1, (1, 10)), (200, 1))
    assert not all(c.passed for c in distributions.independent_units_checks(rows, tol.STAT_ALPHA))
    fresh = rng.uniform(-1, 1, (200, 10))
    assert all(c.passed for c in distributions.independent_units_checks(fresh, tol.STAT_ALPHA))


def test_dependent_draws_and_masks_fail():
    rng = np.random.default_rng(4)
    a = rng.normal(size=400)
    for dependent in (a, 3 * a, -a, a + 1e-3 * rng.normal(size=400)):
        assert not distributions.same_order_check("copy", a, dependent, tol.STAT_ALPHA).passed
    assert distributions.same_order_check("fresh", a, rng.normal(size=400), tol.STAT_ALPHA).passed
    mask = rng.random((400, 50)) >= 0.3
    assert not distributions.mask_overlap_check("reused", mask, mask, tol.STAT_ALPHA).passed
    broadcast = np.broadcast_to(rng.random((1, 50)) >= 0.3, (400, 50))
    assert not distributions.mask_overlap_check("rows", broadcast[0::2], broadcast[1::2],
                                                tol.STAT_ALPHA).passed
    fresh = rng.random((400, 50)) >= 0.3
    assert distributions.mask_overlap_check("fresh", mask, fresh, tol.STAT_ALPHA).passed
