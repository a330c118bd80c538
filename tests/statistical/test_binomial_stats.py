"""Tier 1 statistical tests of the keyed uniforms and the binomial sampler (DESIGN.md section 7).

Each test has a false-alarm budget alpha = 1e-4, split by Bonferroni over its assertions;
every z-test is two-sided with threshold ``norm.isf(alpha / (2 m))`` for ``m`` assertions.
Seeds are fixed, so a pass or a failure is reproducible.  Samples use one keyed stream per
(element = sample index), exactly as the solver does, so correlations between streams of
neighbouring elements would show up as a wrong variance.
"""

import numba
import numpy as np
import pytest
from scipy import stats

from tetrasim.kernels.binomial import binomial
from tetrasim.kernels.philox import PURPOSE_LEAVE, PURPOSE_ROUND, STREAM_WORDS, stream_init, uniform01

ALPHA = 1e-4

# (n, p): inversion (n min(p, 1-p) < 10) and BTRD, both sides of p = 1/2, the boundary
# n p = 10, and n from 1 to 1e6, p from 1e-4 to 0.99
MOMENT_GRID = [
    (1, 0.3),
    (1, 0.99),
    (7, 0.5),
    (15, 0.7),
    (100, 1e-4),
    (100, 0.0999),
    (100, 0.1),
    (30, 0.4),
    (50, 0.9),
    (1000, 1e-4),
    (1000, 0.02),
    (10**4, 0.5),
    (10**6, 1e-4),
    (10**6, 0.3),
    (10**6, 0.99),
]
MOMENT_SAMPLES = 400_000

CHI_SQUARE_CASES = [(20, 0.3), (100, 0.0999), (30, 0.5), (1000, 0.02), (200, 0.85), (10**6, 0.3)]
CHI_SQUARE_SAMPLES = 1_000_000


@numba.njit(cache=True)
def _binomial_sample(n, p, count, seed, step):
    state = np.empty(STREAM_WORDS, dtype=np.uint64)
    out = np.empty(count, dtype=np.int64)
    for element in range(count):
        stream_init(state, seed, 0, step, element, PURPOSE_LEAVE)
        out[element] = binomial(n, p, state)
    return out


@numba.njit(cache=True)
def _uniform_sample(count, seed, step, index):
    out = np.empty(count)
    for element in range(count):
        out[element] = uniform01(seed, 0, step, element, PURPOSE_ROUND, index)
    return out


def _z_threshold(assertions):
    return stats.norm.isf(ALPHA / (2 * assertions))


def test_binomial_mean_and_variance():
    """Sample mean and variance of Binomial(n, p) against n p and n p (1 - p).

    Detects a bias of the mean larger than about 4.9 standard errors, sqrt(n p q / S), e.g.
    a wrong branch constant, an off-by-one in the inversion search, a wrong symmetry for
    p > 1/2; and a relative error of the variance larger than about
    4.9 sqrt((kurtosis - 1) / S) (about 1 % to 4 % here), e.g. a hat or squeeze that is too
    narrow in BTRD, or streams of neighbouring elements that are correlated.
    """
    assertions = 2 * len(MOMENT_GRID)
    threshold = _z_threshold(assertions)
    failures = []
    for step, (n, p) in enumerate(MOMENT_GRID):
        sample = _binomial_sample(n, p, MOMENT_SAMPLES, 20240607, step).astype(np.float64)
        q = 1.0 - p
        mean = n * p
        variance = n * p * q
        # fourth central moment of the binomial distribution
        mu4 = n * p * q * (1.0 + 3.0 * (n - 2) * p * q)
        z_mean = (sample.mean() - mean) / np.sqrt(variance / MOMENT_SAMPLES)
        # variance of the sample variance (unbiased estimator), to O(1/S^2)
        var_of_variance = (mu4 - variance**2 * (MOMENT_SAMPLES - 3) / (MOMENT_SAMPLES - 1)) / MOMENT_SAMPLES
        z_variance = (sample.var(ddof=1) - variance) / np.sqrt(var_of_variance)
        for name, z in (("mean", z_mean), ("variance", z_variance)):
            if abs(z) > threshold:
                failures.append(f"n={n} p={p}: {name} z={z:.2f} > {threshold:.2f}")
    assert not failures, failures


def _pooled_bins(pmf, expected_minimum):
    """Consecutive support points pooled until each bin expects >= expected_minimum."""
    edges = []
    accumulated = 0.0
    for k, mass in enumerate(pmf):
        accumulated += mass
        if accumulated >= expected_minimum:
            edges.append(k + 1)
            accumulated = 0.0
    if not edges:
        return np.array([0, len(pmf)])
    edges[-1] = len(pmf)  # the last partial bin joins the previous one
    return np.array([0] + edges)


@pytest.mark.parametrize(("n", "p"), CHI_SQUARE_CASES)
def test_binomial_pmf_chi_square(n, p):
    """Pearson chi-square of the histogram against the binomial pmf.

    Bins pool consecutive values until each expects at least 20 counts (so the chi-square
    law holds); the lower and upper tails are pooled into the first and last bins.  Detects
    a wrong shape of the distribution that keeps mean and variance, e.g. a wrong Stirling
    correction or acceptance bound in BTRD, or a wrong recursion in the inversion.  Budget
    alpha per case (one assertion).
    """
    sample = _binomial_sample(n, p, CHI_SQUARE_SAMPLES, 7, 1000 + int(n))
    low = int(max(0, stats.binom.ppf(1e-12, n, p) - 1))
    high = int(min(n, stats.binom.isf(1e-12, n, p) + 1))
    support = np.arange(low, high + 1)
    pmf = stats.binom.pmf(support, n, p)
    pmf[0] += stats.binom.cdf(low - 1, n, p)
    pmf[-1] += stats.binom.sf(high, n, p)
    edges = _pooled_bins(pmf * CHI_SQUARE_SAMPLES, 20.0)
    expected = np.add.reduceat(pmf, edges[:-1]) * CHI_SQUARE_SAMPLES
    counts = np.bincount(np.clip(sample, low, high) - low, minlength=len(support))
    observed = np.add.reduceat(counts, edges[:-1])
    chi_square = ((observed - expected) ** 2 / expected).sum()
    p_value = stats.chi2.sf(chi_square, len(expected) - 1)
    assert p_value > ALPHA, f"chi2={chi_square:.1f} with {len(expected) - 1} dof, p={p_value:.2e}"


def test_uniform01_moments_and_lag1_correlation():
    """Mean, variance and lag-1 correlations of keyed uniforms.

    For 1e6 consecutive element ids: the mean against 1/2 (bias of the 53-bit conversion),
    the variance against 1/12, and the lag-1 products (u_e - 1/2)(u_{e+1} - 1/2) against 0
    (correlation between the streams of neighbouring elements, i.e. a counter word that
    does not diffuse).  Also the correlation between draw index 0 and 1 of the same stream
    and between consecutive steps.  Detects a correlation larger than about 0.005 and a mean
    bias larger than about 1.4e-3.  Five z-tests share alpha.
    """
    count = 1_000_000
    threshold = _z_threshold(5)
    u = _uniform_sample(count, 99, 5, 0) - 0.5
    next_index = _uniform_sample(count, 99, 5, 1) - 0.5
    next_step = _uniform_sample(count, 99, 6, 0) - 0.5
    scores = {
        "mean": u.mean() / np.sqrt(1.0 / 12.0 / count),
        # (u - 1/2)^2 has mean 1/12 and variance 1/80 - 1/144
        "variance": ((u * u).mean() - 1.0 / 12.0) / np.sqrt((1.0 / 80.0 - 1.0 / 144.0) / count),
        # products of independent centred uniforms have variance 1/144
        "lag-1 element": (u[:-1] * u[1:]).mean() / np.sqrt(1.0 / 144.0 / (count - 1)),
        "lag-1 index": (u * next_index).mean() / np.sqrt(1.0 / 144.0 / count),
        "lag-1 step": (u * next_step).mean() / np.sqrt(1.0 / 144.0 / count),
    }
    failures = {name: round(z, 2) for name, z in scores.items() if abs(z) > threshold}
    assert not failures, (failures, threshold)
