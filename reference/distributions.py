"""What each initializer must draw, and statistical tests of samples against it.

Random parts are judged by statistics with a stated false-alarm rate ``alpha`` (the chance
that a correct initializer fails one check), never by seed-locked values. Each check returns a
``StatCheck`` that says what was measured, what was expected, and the bound it was held to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from reference.mlp import glorot_bound


@dataclass(frozen=True)
class Distribution:
    """The law of every entry of one weight matrix."""

    kind: str            # "zero" | "normal" | "uniform"
    low: float = 0.0     # uniform bounds
    high: float = 0.0
    mean: float = 0.0    # normal parameters
    std: float = 0.0

    def describe(self) -> str:
        if self.kind == "uniform":
            return f"U({self.low:.4g}, {self.high:.4g})"
        if self.kind == "normal":
            return f"N({self.mean:g}, {self.std:g}^2)"
        return "all zeros"

    @property
    def variance(self) -> float:
        if self.kind == "uniform":
            return (self.high - self.low) ** 2 / 12.0
        if self.kind == "normal":
            return self.std ** 2
        return 0.0

    @property
    def expected_mean(self) -> float:
        if self.kind == "uniform":
            return (self.low + self.high) / 2.0
        return self.mean

    def fourth_central_moment(self) -> float:
        if self.kind == "uniform":
            half = (self.high - self.low) / 2.0
            return half ** 4 / 5.0
        if self.kind == "normal":
            return 3.0 * self.std ** 4
        return 0.0

    def cdf(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "uniform":
            return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        if self.kind == "normal":
            z = torch.tensor((x - self.mean) / (self.std * math.sqrt(2.0)), dtype=torch.float64)
            return 0.5 * (1.0 + torch.erf(z).numpy())
        raise ValueError("a point mass has no continuous CDF")


def weight_distribution(method: str, d_in: int, d_out: int) -> Distribution:
    """The distribution of the entries of ``W`` of shape ``(d_in, d_out)`` under ``method``."""
    if method == "zero":
        return Distribution("zero")
    if method == "normal":
        return Distribution("normal", mean=0.0, std=1.0)
    if method == "glorot":
        bound = glorot_bound(d_in, d_out)
        return Distribution("uniform", low=-bound, high=bound)
    raise ValueError(f"unknown init_method {method!r}")


@dataclass(frozen=True)
class StatCheck:
    """One statistic of a sample, held to a bound."""

    name: str
    observed: float
    expected: float
    bound: float         # the check passes when |observed - expected| <= bound
    passed: bool
    allowed: tuple | None = None   # instead of the bound: the range [low, high] of an exact test

    def describe(self) -> str:
        if self.allowed is not None:
            low, high = self.allowed
            return (f"{self.name}: observed {self.observed:.6g}, expected {self.expected:.6g} "
                    f"(allowed range {low:.4g} to {high:.4g})")
        return (f"{self.name}: observed {self.observed:.6g}, expected {self.expected:.6g} "
                f"(allowed deviation {self.bound:.3g})")


def two_sided_z(alpha: float) -> float:
    """The ``z`` with ``P(|N(0,1)| > z) = alpha``, by bisection on erfc (no scipy needed)."""
    low, high = 0.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if math.erfc(middle / math.sqrt(2.0)) > alpha:
            low = middle
        else:
            high = middle
    return high


def kolmogorov_critical(alpha: float, n: int) -> float:
    """Asymptotic critical value of the one-sample KS statistic ``D_n`` at level ``alpha``."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) / math.sqrt(n)


def ks_statistic(sample: np.ndarray, distribution: Distribution) -> float:
    """``sup |F_n(x) - F(x)|`` for the sample against the continuous ``distribution``."""
    x = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    n = x.size
    cdf = distribution.cdf(x)
    above = np.arange(1, n + 1) / n - cdf
    below = cdf - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


def check_sample(sample: np.ndarray, distribution: Distribution, alpha: float) -> list[StatCheck]:
    """Mean, variance and KS checks of ``sample`` (any shape) against ``distribution``.

    For a point mass at zero: every entry must be exactly zero. Otherwise the mean and the
    variance are z-tested with their exact standard errors, and the shape of the distribution by
    the Kolmogorov-Smirnov statistic; each check alone fails a correct sampler with probability
    at most ``alpha``.
    """
    x = np.asarray(sample, dtype=np.float64).ravel()
    n = x.size
    if distribution.kind == "zero":
        largest = float(np.max(np.abs(x))) if n else 0.0
        return [StatCheck("largest |w|", largest, 0.0, 0.0, largest == 0.0)]
    z = two_sided_z(alpha)
    checks = []
    if distribution.kind == "uniform":
        outside = int(np.sum((x < distribution.low) | (x > distribution.high)))
        checks.append(StatCheck("entries outside the bounds", outside, 0, 0, outside == 0))
    mean = float(np.mean(x))
    mean_bound = z * math.sqrt(distribution.variance / n)
    checks.append(StatCheck("mean", mean, distribution.expected_mean, mean_bound,
                            abs(mean - distribution.expected_mean) <= mean_bound))
    variance = float(np.var(x))
    variance_sd = math.sqrt((distribution.fourth_central_moment() - distribution.variance ** 2) / n)
    variance_bound = z * variance_sd + distribution.variance / n   # + bias of the 1/n estimator
    checks.append(StatCheck("variance", variance, distribution.variance, variance_bound,
                            abs(variance - distribution.variance) <= variance_bound))
    ks = ks_statistic(x, distribution)
    ks_bound = kolmogorov_critical(alpha, n)
    checks.append(StatCheck(f"Kolmogorov-Smirnov distance to {distribution.describe()}", ks, 0.0,
                            ks_bound, ks <= ks_bound))
    return checks


# -- independence: exact tests that need no knowledge of the law of the entries -------------------
#
# A sampler can match every marginal statistic above and still repeat itself: every unit of a
# layer given the same incoming weights, one dropout mask reused for every call or every example.
# The tests below compare two parts of a sample that a correct sampler draws independently. Each
# is exact: under independence its statistic has a known discrete law (binomial or
# hypergeometric), and the allowed range leaves at most ``alpha / 2`` in each tail, whatever the
# law of the entries (any continuous law for weights, any drop rate for masks).


def _log_choose(n: np.ndarray | int, k: np.ndarray) -> np.ndarray:
    n = torch.as_tensor(n, dtype=torch.float64)
    k = torch.as_tensor(k, dtype=torch.float64)
    return (torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)).numpy()


def _acceptance_range(support: np.ndarray, log_pmf: np.ndarray, alpha: float) -> tuple[int, int]:
    """The narrowest ``[low, high]`` with ``P(X < low) <= alpha / 2`` and ``P(X > high) <= alpha / 2``
    for ``X`` with the given law (tails summed from their own end, so no cancellation)."""
    pmf = np.exp(log_pmf - np.logaddexp.reduce(log_pmf))   # normalized exactly once
    below = np.cumsum(pmf)                                  # P(X <= support[i])
    above = np.cumsum(pmf[::-1])[::-1]                      # P(X >= support[i])
    low_index = int(np.searchsorted(below, alpha / 2.0, side="right"))  # P(X < low) <= alpha/2
    high_candidates = np.nonzero(above <= alpha / 2.0)[0]
    high_index = int(high_candidates[0]) - 1 if high_candidates.size else len(support) - 1
    return int(support[low_index]), int(support[max(high_index, low_index)])


def binomial_range(n: int, q: float, alpha: float) -> tuple[int, int]:
    """Exact acceptance range of ``X ~ Binomial(n, q)`` at level ``alpha`` (two-sided)."""
    k = np.arange(n + 1)
    log_pmf = _log_choose(n, k) + k * math.log(q) + (n - k) * math.log1p(-q)
    return _acceptance_range(k, log_pmf, alpha)


def hypergeometric_range(population: int, first: int, second: int, alpha: float) -> tuple[int, int]:
    """Exact acceptance range of the overlap of two independent uniformly random subsets of sizes
    ``first`` and ``second`` of ``population`` places (Fisher's exact test, two-sided)."""
    k = np.arange(max(0, first + second - population), min(first, second) + 1)
    log_pmf = _log_choose(first, k) + _log_choose(population - first, second - k)
    return _acceptance_range(k, log_pmf, alpha)


def same_order_check(name: str, a: np.ndarray, b: np.ndarray, alpha: float) -> StatCheck:
    """Are ``a`` and ``b`` (same shape; entries iid from one continuous law) independent?

    The entries are taken in disjoint pairs (0, 1), (2, 3), ... of ``a.ravel()`` and the same
    places of ``b``; for each pair, the two arrays either order it the same way or not. When
    ``a`` and ``b`` are independent that is a fair coin, independently per pair, so the number
    of pairs ordered alike is Binomial(pairs, 1/2) exactly, whatever the law of the entries.
    Pairs with a tie in either array are left out (a tie says nothing about the order; leaving
    them out keeps the law exact, and float32 draws do tie now and then). Copies (``b = a``, or
    ``b = c * a`` with ``c > 0``) order every pair alike, ``b = -a`` none; arrays with no untied
    pair cannot be independent draws of a continuous law and fail.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    size = (min(x.size, y.size) // 2) * 2
    x, y = x[:size], y[:size]
    untied = (x[0::2] != x[1::2]) & (y[0::2] != y[1::2])
    pairs = int(untied.sum())
    label = f"{name}: fraction of {pairs} pairs of entries ordered alike"
    if pairs == 0:
        return StatCheck(f"{name}: no pair of entries differs in both (every pair is tied)",
                         math.nan, 0.5, 0.0, False, (math.nan, math.nan))
    alike = int(np.sum(((x[0::2] > x[1::2]) == (y[0::2] > y[1::2]))[untied]))
    low, high = binomial_range(pairs, 0.5, alpha)
    return StatCheck(label, alike / pairs, 0.5, 0.0, low <= alike <= high,
                     (low / pairs, high / pairs))


def independent_units_checks(w: np.ndarray, alpha: float) -> list[StatCheck]:
    """Do the columns (units) of ``w`` (d_in, d_out), and its rows, vary independently?

    Even columns against odd ones (``w[:, 0::2]`` vs ``w[:, 1::2]``), and even rows against odd
    ones, by ``same_order_check`` on the 2 x 2 blocks they share: units given the same incoming
    weights (columns that repeat) order every pair of rows alike, and so do rows that repeat.
    Each of the two checks is held to ``alpha / 2``: together they fail a correct initializer
    with probability at most ``alpha``.
    """
    w = np.asarray(w, dtype=np.float64)
    rows, columns = (w.shape[0] // 2) * 2, (w.shape[1] // 2) * 2
    block = w[:rows, :columns]
    # pair rows (2r, 2r+1) within each column: a column pair orders them alike or not
    by_columns = same_order_check("units (columns) 0, 2, 4, ... against 1, 3, 5, ...",
                                  block[:, 0::2].T, block[:, 1::2].T, alpha / 2.0)
    by_rows = same_order_check("inputs (rows) 0, 2, 4, ... against 1, 3, 5, ...",
                               block[0::2, :], block[1::2, :], alpha / 2.0)
    return [by_columns, by_rows]


def mask_overlap_check(name: str, kept_a: np.ndarray, kept_b: np.ndarray, alpha: float) -> StatCheck:
    """Were two dropout masks (boolean, True = kept, same shape) drawn independently?

    Given how many entries each keeps, independent masks that treat every entry alike keep a
    common set whose size is hypergeometric (Fisher's exact test), whatever the drop rate. A
    reused mask keeps the same entries twice: the overlap is the largest possible.
    """
    a = np.asarray(kept_a, dtype=bool).ravel()
    b = np.asarray(kept_b, dtype=bool).ravel()
    both = int(np.sum(a & b))
    low, high = hypergeometric_range(a.size, int(a.sum()), int(b.sum()), alpha)
    expected = a.sum() * b.sum() / a.size
    return StatCheck(f"{name}: entries kept by both", both, float(expected), 0.0,
                     low <= both <= high, (low, high))
