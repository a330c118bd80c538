"""Statistical helpers for tier-1 and validation tests (DESIGN.md §7).

Every statistical test has a false-alarm budget ``ALPHA = 1e-4`` split over its assertions by
Bonferroni: with ``m`` two-sided z-tests each uses the threshold ``norm.isf(ALPHA / (2 m))``;
with ``m`` chi-square tests each uses ``chi2.isf(ALPHA / m, dof)``. The union bound holds
whatever the correlation between the assertions (e.g. samples of one run at several times),
so a test fails by chance at most once in 10,000 seeds. Seeds are fixed, so a pass or a
failure is reproducible.

Import from a test as ``from stats import ...`` (``tests/`` is on ``sys.path`` through the
root ``conftest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

__all__ = [
    "ALPHA",
    "z_threshold",
    "chi2_threshold",
    "ZCheck",
    "mean_z",
    "variance_z",
    "mean_check",
    "variance_check",
    "chi_square_check",
    "ChiSquareCheck",
    "lumped_bins",
    "binomial_mu4",
    "poisson_mu4",
]

ALPHA = 1e-4


def z_threshold(assertions: int, alpha: float = ALPHA) -> float:
    """Two-sided z threshold for one of ``assertions`` Bonferroni-corrected tests."""
    if assertions < 1:
        raise ValueError("at least one assertion")
    return float(_scipy_stats.norm.isf(alpha / (2 * assertions)))


def chi2_threshold(dof: int, assertions: int = 1, alpha: float = ALPHA) -> float:
    """Upper chi-square threshold with ``dof`` degrees of freedom for one of ``assertions`` tests."""
    return float(_scipy_stats.chi2.isf(alpha / assertions, dof))


@dataclass
class ZCheck:
    """Per-point z-scores against a threshold; ``worst`` is max |z| / threshold (<= 1 passes)."""

    z: np.ndarray
    threshold: float
    label: str = ""

    @property
    def worst(self) -> float:
        return float(np.max(np.abs(self.z)) / self.threshold) if np.size(self.z) else 0.0

    @property
    def passed(self) -> bool:
        return bool(np.all(np.abs(self.z) <= self.threshold))

    def describe(self, times=None) -> str:
        index = int(np.argmax(np.abs(self.z))) if np.size(self.z) else 0
        where = f" at t = {times[index]:g} s" if times is not None and np.size(self.z) else ""
        return (
            f"{self.label}: max |z| = {np.max(np.abs(self.z)):.3g}{where}, threshold {self.threshold:.3g} "
            f"(worst = {self.worst:.3g} of the tolerance)"
        )


def mean_z(samples: np.ndarray, expected_mean, expected_variance=None) -> np.ndarray:
    """z-score of the sample mean over axis 0 (independent runs) against ``expected_mean``.

    With ``expected_variance`` the standard error is the analytic sqrt(var / R); otherwise the
    sample standard deviation is used (R is large in every test, so the t-distribution is normal).
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    variance = (
        samples.var(axis=0, ddof=1) if expected_variance is None else np.asarray(expected_variance, float)
    )
    se = np.sqrt(variance / n)
    return (samples.mean(axis=0) - np.asarray(expected_mean, float)) / se


def variance_z(samples: np.ndarray, expected_variance, expected_mu4=None) -> np.ndarray:
    """z-score of the unbiased sample variance over axis 0 against ``expected_variance``.

    The standard error of s² is sqrt((mu4 - sigma⁴ (R-3)/(R-1)) / R) with the fourth central
    moment ``mu4`` analytic when given, else estimated from the sample.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    variance = np.asarray(expected_variance, float)
    if expected_mu4 is None:
        centred = samples - samples.mean(axis=0)
        mu4 = (centred**4).mean(axis=0)
    else:
        mu4 = np.asarray(expected_mu4, float)
    se = np.sqrt((mu4 - variance**2 * (n - 3) / (n - 1)) / n)
    return (samples.var(axis=0, ddof=1) - variance) / se


def mean_check(samples, expected_mean, assertions: int, expected_variance=None, label="mean") -> ZCheck:
    return ZCheck(mean_z(samples, expected_mean, expected_variance), z_threshold(assertions), label)


def variance_check(
    samples, expected_variance, assertions: int, expected_mu4=None, label="variance"
) -> ZCheck:
    return ZCheck(variance_z(samples, expected_variance, expected_mu4), z_threshold(assertions), label)


def binomial_mu4(n, p):
    """Fourth central moment of Binomial(n, p): n p q (1 + 3 (n - 2) p q)."""
    n = np.asarray(n, float)
    pq = np.asarray(p, float) * (1 - np.asarray(p, float))
    return n * pq * (1 + 3 * (n - 2) * pq)


def poisson_mu4(lam):
    """Fourth central moment of Poisson(lam): lam (1 + 3 lam)."""
    lam = np.asarray(lam, float)
    return lam * (1 + 3 * lam)


def lumped_bins(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """Counts in bins (<low, low, low+1, ..., high, >high) of integer ``values``."""
    values = np.asarray(values)
    inner = np.bincount(np.clip(values, low - 1, high + 1) - (low - 1), minlength=high - low + 3)
    return inner.astype(np.float64)


@dataclass
class ChiSquareCheck:
    statistic: float
    dof: int
    threshold: float
    observed: np.ndarray
    expected: np.ndarray

    @property
    def worst(self) -> float:
        return self.statistic / self.threshold

    @property
    def passed(self) -> bool:
        return self.statistic <= self.threshold

    @property
    def p_value(self) -> float:
        return float(_scipy_stats.chi2.sf(self.statistic, self.dof))

    def describe(self) -> str:
        return (
            f"chi-square {self.statistic:.4g} with {self.dof} dof, threshold {self.threshold:.4g} "
            f"(p = {self.p_value:.3g}; worst = {self.worst:.3g} of the tolerance)"
        )


def chi_square_check(observed_counts, expected_probabilities, assertions: int = 1) -> ChiSquareCheck:
    """Pearson chi-square goodness of fit of binned counts to probabilities (summing to 1)."""
    observed = np.asarray(observed_counts, dtype=np.float64)
    probabilities = np.asarray(expected_probabilities, dtype=np.float64)
    if abs(probabilities.sum() - 1.0) > 1e-9:
        raise ValueError("expected probabilities must sum to 1")
    expected = observed.sum() * probabilities
    if np.any(expected < 5):
        raise ValueError("every bin needs an expected count >= 5 for the chi-square approximation")
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = len(observed) - 1
    return ChiSquareCheck(statistic, dof, chi2_threshold(dof, assertions), observed, expected)
