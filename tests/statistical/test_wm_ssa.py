"""Tier 1: the well-mixed exact SSA against analytic distributions (DESIGN.md §7).

Every test has a false-alarm budget alpha = 1e-4, split by Bonferroni over its assertions
(``stats.z_threshold(m)`` = norm.isf(alpha / 2m) for m two-sided z-tests). Seeds are fixed.
Each docstring states the smallest bias the test detects: the bias that moves the statistic
by one threshold (detected with probability >= 1/2); larger biases are detected surely.
"""

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.linalg import expm

import tetrasim as ts
from stats import (
    binomial_mu4,
    chi_square_check,
    lumped_bins,
    mean_check,
    poisson_mu4,
    variance_check,
)
from tetrasim.units import AVOGADRO


def _record(sim, species, every, t_end, runs):
    rec = sim.record(ts.Count(species, where="c"), every=every)
    res = sim.run(t_end, runs=runs)
    return res.times_of(rec), res[rec].astype(np.float64)


def test_first_order_decay_mean_and_variance(make_wm):
    """A -> 0, k = 5/s, N0 = 50: N(t) ~ Binomial(N0, e^-kt) at every sample 0.1 ... 1 s.

    R = 20,000 runs, 10 times x (mean, variance) = 20 assertions, threshold |z| <= 4.56.
    Detects a 0.6 % error in the decay rate (through the mean, most sensitive at t = 0.3 s),
    a 1.4 % rate error through the variance, and a 4.5 % relative error of the variance at
    fixed mean (e.g. molecules removed in pairs, or replicates sharing random numbers).
    """
    n0, k, runs = 50, 5.0, 20_000
    sim = make_wm([("A ->", k)], volume=9e-18, seed=101)
    sim.set_count("c", "A", n0)
    times, data = _record(sim, "A", 0.1, 1.0, runs)
    assert np.all(data[:, 0] == n0)
    t, x = times[1:], data[:, 1:]
    p = np.exp(-k * t)
    m = 2 * len(t)
    mean = mean_check(x, n0 * p, m, expected_variance=n0 * p * (1 - p), label="mean")
    var = variance_check(x, n0 * p * (1 - p), m, expected_mu4=binomial_mu4(n0, p), label="variance")
    assert mean.passed, mean.describe(t)
    assert var.passed, var.describe(t)


def test_zero_order_is_poisson(make_wm):
    """0 -> A at k = 1e-6 M/s in V = 1e-18 m^3: N(t) ~ Poisson(602.214 t) at 0.1 ... 1 s.

    (The validation table's k = 1e-3 M/s in the same volume makes 602,214 molecules/s, not
    602; that case runs in tests/validation with fewer runs.)

    R = 10,000 runs, 20 assertions (|z| <= 4.56). Detects a 0.19 % error of the production
    rate (e.g. a wrong 1e3 in the litre conversion, or a wrong N_A) and a 6.5 % error of the
    variance (e.g. molecules produced in bursts).
    """
    k, volume, runs = 1e-6, 1e-18, 10_000
    sim = make_wm([("-> A", k)], volume=volume, seed=202)
    times, data = _record(sim, "A", 0.1, 1.0, runs)
    t, x = times[1:], data[:, 1:]
    lam = k * 1e3 * volume * AVOGADRO * t
    m = 2 * len(t)
    mean = mean_check(x, lam, m, expected_variance=lam, label="mean")
    var = variance_check(x, lam, m, expected_mu4=poisson_mu4(lam), label="variance")
    assert mean.passed, mean.describe(t)
    assert var.passed, var.describe(t)


def test_birth_death_stationary_histogram_is_poisson(make_wm):
    """0 -> A (100 molecules/s), A -> 0 (10/s): the stationary histogram is Poisson(10).

    One run of 1e5 s sampled every 0.1 s. The series is autocorrelated: its correlation
    function is e^(-k tau) with k = 10/s (correlation time 0.1 s), so consecutive samples
    correlate by e^-1 = 0.37 and a chi-square on all samples would overstate the evidence.
    We thin to every 10th sample (every 1 s: correlation e^-10 = 4.5e-5, independent for all
    purposes) after 10 s of burn-in (100 correlation times), leaving 99,991 samples.
    Bins m = 5 ... 15 plus the lumped tails (<5, >15): 13 bins, 12 degrees of freedom,
    threshold chi2.isf(1e-4, 12) = 39.1. Detects a 1 % error of the birth or death rate
    (non-centrality 99, power > 0.9999; 0.5 % is detected with probability 0.38).
    """
    birth = 100 / (AVOGADRO * 1e-15)  # M/s: 100 molecules/s in 1e-18 m^3
    sim = make_wm([("-> A", birth), ("A ->", 10.0)], volume=1e-18, seed=303)
    times, data = _record(sim, "A", 0.1, 1e5, 1)
    series = data[0].astype(np.int64)
    assert len(series) == 1_000_001
    thinned = series[100::10]
    assert len(thinned) == 99_991
    edges = np.arange(5, 16)
    probabilities = np.concatenate(
        [
            [scipy_stats.poisson.cdf(4, 10)],
            scipy_stats.poisson.pmf(edges, 10),
            [scipy_stats.poisson.sf(15, 10)],
        ]
    )
    check = chi_square_check(lumped_bins(thinned, 5, 15), probabilities)
    assert check.passed, check.describe()


def test_reversible_isomerisation_is_binomial(make_wm):
    """A <-> B, kf = 10, kb = 2 /s, N = 1000 A at t = 0: A(t) ~ Binomial(N, pA(t)) with
    pA(t) = (kb + kf e^-(kf+kb)t) / (kf + kb), at t = 0.5, 1, 1.5, 2 s (equilibrium N/6 from
    about 0.7 s on).

    R = 4,000 runs, 8 assertions (|z| <= 4.37). Detects a 0.49 % error of the equilibrium
    A count, i.e. a 0.59 % error of kb (or kf) relative to the other, and a ~10 % error of
    the equilibrium variance.
    """
    n, kf, kb, runs = 1000, 10.0, 2.0, 4000
    sim = make_wm([("A <-> B", kf, kb)], volume=1e-18, seed=404)
    sim.set_count("c", "A", n)
    times, data = _record(sim, "A", 0.5, 2.0, runs)
    t, x = times[1:], data[:, 1:]
    p = (kb + kf * np.exp(-(kf + kb) * t)) / (kf + kb)
    m = 2 * len(t)
    mean = mean_check(x, n * p, m, expected_variance=n * p * (1 - p), label="mean")
    var = variance_check(x, n * p * (1 - p), m, expected_mu4=binomial_mu4(n, p), label="variance")
    assert mean.passed, mean.describe(t)
    assert var.passed, var.describe(t)


def _master_equation_moments(n0, nu, c, times):
    """Mean and variance of N(t) for nu A -> 0 with propensity c n(n-1)...(n-nu+1), exactly."""
    states = np.arange(n0 % nu, n0 + 1, nu)  # reachable counts
    index = {int(s): i for i, s in enumerate(states)}
    generator = np.zeros((len(states), len(states)))
    for s in states:
        a = c * np.prod(np.arange(s - nu + 1, s + 1, dtype=float)) if s >= nu else 0.0
        if a > 0:
            generator[index[int(s)], index[int(s)]] -= a
            generator[index[int(s - nu)], index[int(s)]] += a
    p0 = np.zeros(len(states))
    p0[index[n0]] = 1.0
    means, variances = [], []
    for t in times:
        p = expm(generator * t) @ p0
        mean = p @ states
        means.append(mean)
        variances.append(p @ states**2 - mean**2)
    return np.array(means), np.array(variances)


@pytest.mark.parametrize(
    ("nu", "n0", "k", "every", "seed"),
    # c = k (1e3 V N_A)^(1-nu) = 1/6 /s (2A) and 1e-2 /s (3A); 1e3 V N_A = 6.02e8 per molar
    [(2, 20, 1e8, 0.05, 505), (3, 30, 1e-2 * 602214076.0**2, 0.01, 606)],
    ids=["2A->C", "3A->C"],
)
def test_higher_order_matches_the_master_equation(make_wm, nu, n0, k, every, seed):
    """nu A -> C with few molecules against the exact chemical master equation (mean, variance).

    V = 1e-18 m^3, R = 20,000 runs, 10 sample times x 2 = 20 assertions (|z| <= 4.56, SE from
    the sample). With 20 or 30 molecules the propensity convention matters: using n^nu instead
    of the falling factorial n(n-1)...(n-nu+1) (an error of 5-10 % in the rate at these counts),
    or a wrong (1e3 V N_A)^(1-order) scaling, moves the mean by many standard errors; the test
    detects a rate error of about 1.5 % (2A) and 1.7 % (3A) through the mean alone.
    """
    runs = 20_000
    sim = make_wm([(f"{nu} A -> C", k)], volume=1e-18, seed=seed)
    sim.set_count("c", "A", n0)
    times, data = _record(sim, "A", every, 10 * every, runs)
    t, x = times[1:], data[:, 1:]
    c = k * (1e3 * 1e-18 * AVOGADRO) ** (1 - nu)
    mean, variance = _master_equation_moments(n0, nu, c, t)
    m = 2 * len(t)
    mean_result = mean_check(x, mean, m, label="mean")
    var_result = variance_check(x, variance, m, label="variance")
    assert mean_result.passed, mean_result.describe(t)
    assert var_result.passed, var_result.describe(t)
    assert np.all(x % nu == n0 % nu)  # molecules leave nu at a time
