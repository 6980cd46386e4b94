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

    def describe(self) -> str:
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
