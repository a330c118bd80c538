"""The peak rule: trailing running mean, upcrossing counts against Rice's discrete formula, and a
threshold derived from null data that keeps its false-alarm budget on fresh null runs.

Stochastic checks use fixed seeds and thresholds from a false-alarm budget of 1e-4 per check
(DESIGN.md §7).
"""

import numpy as np
import pytest
from scipy.stats import binom, multivariate_normal, norm

from tetrasim.peak_rule import derive_n_sigma, detect_peaks, pooled_sigma, running_mean, upcrossing_rates

ALPHA_TEST = 1e-4


def immigration_death(rng, runs, steps, mean=5.0, tau=3e-3, dt=1e-3, unit=0.08):
    """Discrete-time M/M/∞ counts (stationary Poisson(mean), correlation time tau), times unit: a
    node holding a few indicator molecules that come and go independently."""
    stay = np.exp(-dt / tau)
    n = rng.poisson(mean, runs)
    out = np.empty((runs, steps))
    for k in range(steps):
        n = rng.binomial(n, stay) + rng.poisson(mean * (1 - stay), runs)
        out[:, k] = n
    return out * unit


def gaussian_ar1(rng, runs, steps, rho):
    x = rng.standard_normal(runs)
    out = np.empty((runs, steps))
    for k in range(steps):
        x = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(runs)
        out[:, k] = x
    return out


def test_running_mean_is_trailing():
    trace = np.arange(10.0)
    smoothed = running_mean(trace, 3)
    assert np.all(np.isnan(smoothed[:2]))
    np.testing.assert_allclose(smoothed[2:], [np.mean(trace[i - 2:i + 1]) for i in range(2, 10)])
    np.testing.assert_array_equal(running_mean(trace, 1), trace)


def test_detect_peaks_measures_a_step():
    t = np.arange(0.0, 2.0, 1e-3)
    trace = np.where((t > 1.2) & (t < 1.5), 2.0, 1.0) + 0.01 * np.sin(2 * np.pi * 7 * t)
    peak = detect_peaks(t, trace, t_stimulus=1.0, n_sigma=4.0, smooth=10)
    assert peak["peak"]
    # The trailing mean of 10 samples passes mean + 4 sigma (0.03 above 1) within its first sample
    # and stays above until the step has left the window.
    assert peak["time_to_peak"] == pytest.approx(0.201, abs=1.5e-3)
    assert peak["duration"] == pytest.approx(0.299 + 0.009, abs=2.5e-3)
    assert peak["amplitude"] == pytest.approx(1.0, abs=0.02)


def test_detect_peaks_needs_a_baseline():
    t = np.arange(0.0, 1.0, 1e-3)
    with pytest.raises(ValueError, match="before the stimulus"):
        detect_peaks(t, np.ones_like(t), t_stimulus=0.005, n_sigma=3.0, smooth=10)


def test_upcrossing_rates_match_the_discrete_rice_formula():
    """For a Gaussian AR(1) sampled every dt, an upcrossing of level u between two samples has
    probability P(X <= u < Y) = Phi(u) - Phi2(u, u; rho)."""
    rho, dt = 0.8, 1e-3
    traces = gaussian_ar1(np.random.default_rng(3), 20, 50_000, rho)
    levels = np.array([0.5, 1.0, 1.5, 2.0])
    rates, counts, seconds = upcrossing_rates(list(traces), dt, 1, levels)
    pair = multivariate_normal(cov=[[1, rho], [rho, 1]])
    per_step = np.array([norm.cdf(u) - pair.cdf([u, u]) for u in levels])
    expected = per_step * seconds / dt
    # Crossings are nearly a Poisson count; allow the budget's z over the four levels, plus the
    # error of standardising with a half-trace's mean and sigma (0.5 % of a level's rate).
    z = norm.isf(ALPHA_TEST / (2 * len(levels)))
    assert np.all(np.abs(counts - expected) <= z * np.sqrt(expected) + 0.005 * expected), (counts, expected)


def test_derived_threshold_keeps_its_false_alarm_budget_on_fresh_null_runs():
    """Derive n from 300 s of few-molecule null baselines; then on 2,000 fresh unstimulated runs (1 s
    baseline + 4 s window) the fraction with a spurious peak stays within the 5 % budget."""
    rng = np.random.default_rng(11)
    null = immigration_death(rng, 300, 1000)
    derived = derive_n_sigma(list(null), 1e-3, smooth=20, window_s=4.0, alpha=0.05)
    assert 2.0 < derived.n_sigma < 10.0
    runs = immigration_death(rng, 2000, 5000)
    t = np.arange(5000) * 1e-3
    false_peaks = sum(detect_peaks(t, r, 1.0, derived.n_sigma, 20)["peak"] for r in runs)
    assert false_peaks <= binom.isf(ALPHA_TEST, len(runs), 0.05), false_peaks
    # Conservative (measured: 0.15 %), but not past use: two sigma lower the budget is exceeded.
    lower = sum(detect_peaks(t, r, 1.0, derived.n_sigma - 2.0, 20)["peak"] for r in runs)
    assert lower > binom.isf(ALPHA_TEST, len(runs), 0.05), lower


def test_derived_threshold_is_stable_with_one_run_of_null_data():
    """Five 1-s baselines (one run's nodes) give a usable n, within the budget on fresh runs: a fit
    over the whole tail, not its last few levels, does not run away on a flat stretch of counts."""
    rng = np.random.default_rng(12)
    runs = immigration_death(rng, 1000, 5000, tau=20e-3)  # slow noise: few, clustered crossings
    t = np.arange(5000) * 1e-3
    for _ in range(3):
        derived = derive_n_sigma(list(immigration_death(rng, 5, 1000, tau=20e-3)), 1e-3, 20, 4.0, 0.05)
        assert 3.0 < derived.n_sigma < 12.0, derived.n_sigma
        false_peaks = sum(detect_peaks(t, r, 1.0, derived.n_sigma, 20)["peak"] for r in runs)
        assert false_peaks <= binom.isf(ALPHA_TEST, len(runs), 0.05), false_peaks


def test_pooled_sigma_is_the_within_trace_spread():
    """Traces of one process at different levels: the pooled σ is their common spread, not the
    spread of the levels, with each trace's degrees of freedom."""
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((4, 2000))
    traces = [0.5 * row + level for row, level in zip(noise, (0.0, 3.0, -7.0, 20.0), strict=True)]
    expected = np.sqrt(sum(((row - row.mean()) ** 2).sum() for row in 0.5 * noise) / (4 * 1999))
    assert pooled_sigma(traces, 1) == pytest.approx(expected, rel=1e-12)
    smoothed = [running_mean(trace, 10)[9:] for trace in traces]
    assert pooled_sigma(traces, 10) == pytest.approx(
        np.sqrt(sum(((x - x.mean()) ** 2).sum() for x in smoothed) / sum(len(x) - 1 for x in smoothed)))
    with pytest.raises(ValueError, match="nothing to pool"):
        pooled_sigma([np.ones(5)], 10)


def test_pooled_sigma_rule_keeps_its_false_alarm_budget():
    """The study's rule: a 150-ms mean, σ pooled over a geometry's runs. n derived from 20 runs × 5
    nodes of 1-s baselines of slow few-molecule noise (correlation 30 ms), each baseline standardised
    with a σ pooled over the *other* runs; then 2,000 fresh runs, tested against the σ pooled over
    all 20 baselines, keep the 5 % budget (measured: 0 %), and three σ lower they exceed it."""
    rng = np.random.default_rng(1)
    runs_, nodes, window = 20, 5, 150
    null = immigration_death(rng, runs_ * nodes, 1000, tau=30e-3).reshape(runs_, nodes, 1000)
    traces = [null[i, k] for i in range(runs_) for k in range(nodes)]
    left_out = [pooled_sigma([null[j, k] for j in range(runs_) if j != i], window)
                for i in range(runs_) for k in range(nodes)]
    derived = derive_n_sigma(traces, 1e-3, window, 4.0, 0.05, sigmas=left_out)
    sigma = pooled_sigma(list(null[:, 2]), window)
    fresh = immigration_death(rng, 2000, 5000, tau=30e-3)
    t = np.arange(5000) * 1e-3
    false_peaks = sum(detect_peaks(t, r, 1.0, derived.n_sigma, window, sigma=sigma)["peak"] for r in fresh)
    assert false_peaks <= binom.isf(ALPHA_TEST, len(fresh), 0.05), false_peaks
    lower = sum(detect_peaks(t, r, 1.0, derived.n_sigma - 3.0, window, sigma=sigma)["peak"] for r in fresh)
    assert lower > binom.isf(ALPHA_TEST, len(fresh), 0.05), lower


def test_detect_peaks_flags_an_excursion_cut_off_by_the_record():
    t = np.arange(0.0, 2.0, 1e-3)
    rising = np.where(t > 1.5, 2.0, 1.0)
    peak = detect_peaks(t, rising, t_stimulus=1.0, n_sigma=3.0, smooth=1, sigma=0.1)
    assert peak["peak"] and peak["censored"]
    assert peak["threshold"] == pytest.approx(1.3)
    ended = detect_peaks(t, np.where((t > 1.5) & (t < 1.8), 2.0, 1.0), 1.0, 3.0, 1, sigma=0.1)
    assert ended["peak"] and not ended["censored"]


def test_derive_n_sigma_refuses_too_little_null_data():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="more null data"):
        derive_n_sigma(list(immigration_death(rng, 1, 200)), 1e-3, smooth=20, window_s=4.0)
    with pytest.raises(ValueError, match="too short"):
        derive_n_sigma([np.ones(30)], 1e-3, smooth=20, window_s=4.0)
    with pytest.raises(ValueError, match="alpha"):
        derive_n_sigma([np.ones(3000)], 1e-3, smooth=20, window_s=4.0, alpha=1.5)
    with pytest.raises(ValueError, match="one per trace"):
        derive_n_sigma([np.ones(3000)] * 2, 1e-3, smooth=20, window_s=4.0, sigmas=[1.0])
