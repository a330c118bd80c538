"""Peaks in recorded traces: threshold crossings above a pre-stimulus baseline, and a threshold
derived from a false-alarm budget.

The rule is the one of the astrocyte Ca²⁺ studies: smooth the trace with a running mean, take
the mean and standard deviation σ of the smoothed trace before the stimulus, and call the first
crossing of ``mean + n·σ`` after the stimulus a peak. What the rule leaves open is ``n``: too
small and the threshold fires on noise (a node of an astrocyte branchlet holds a handful of
indicator molecules), too large and real signals are missed. :func:`derive_n_sigma` fixes ``n``
from *null* data only (traces without a stimulus, e.g. the pre-stimulus baselines), so that the
expected number of spurious peaks in the window searched after the stimulus is at most a stated
budget ``alpha``. It never looks at what happens after a stimulus, so it can be fixed before a
study's results are read. Where the baselines are short against their noise's correlation time,
σ is better estimated from all the records of one process together (:func:`pooled_sigma`); the
derivation then standardises each null record with a σ pooled over the *other* records.

How: each null trace is cut in two halves; each half is standardised with the mean and σ of the
*other* half (as the rule standardises the post-stimulus window with the baseline's statistics,
which are an estimate, not the truth); the upcrossings of every level ``n`` on a grid are counted.
The tail, n >= 1 where at least 5 crossings were seen, is fitted as ``log rate = a - b·n`` and the
fit is solved for the level whose expected count in the window is ``alpha``. A Gaussian trace's
rate falls faster, as ``exp(-n²/2)`` (Rice's formula), so the straight line errs towards a higher
threshold: tested on synthetic nulls (few-molecule immigration–death counts and Gaussian AR(1)
traces, from one run's worth of null data to a hundred) the false-alarm rate stays at or below
1.3 % for a 5 % budget, where a fit in ``n²`` is cheaper in threshold but overshoots the budget
(up to 20–38 % with little data, because a few-molecule count is skewed). The expected number
of upcrossings also bounds the probability of at least one. Conservative, then, and stable
with little data.

Examples
--------
>>> import numpy as np
>>> t = np.arange(0.0, 2.0, 1e-3)
>>> trace = np.where((t > 1.2) & (t < 1.5), 2.0, 1.0)
>>> round(detect_peaks(t, trace, t_stimulus=1.0, n_sigma=3.0, smooth=1)["time_to_peak"], 6)
0.201
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["running_mean", "pooled_sigma", "detect_peaks", "upcrossing_rates", "derive_n_sigma",
           "DerivedThreshold"]


def running_mean(trace: np.ndarray, window: int) -> np.ndarray:
    """Trailing running mean: element ``i`` is the mean of ``trace[i-window+1 : i+1]``.

    Causal, so a smoothed sample never sees the future (the baseline's statistics never include
    samples after the stimulus); the first ``window - 1`` elements, which would need samples
    before the trace began, are NaN.
    """
    trace = np.asarray(trace, dtype=np.float64)
    if window <= 1:
        return trace.copy()
    out = np.full(trace.shape, np.nan)
    if len(trace) >= window:
        sums = np.cumsum(np.concatenate(([0.0], trace)))
        out[window - 1:] = (sums[window:] - sums[:-window]) / window
    return out


def pooled_sigma(null_traces, smooth: int) -> float:
    """Standard deviation of the smoothed traces about each trace's own mean, pooled over traces.

    The σ of one short baseline is a noisy estimate when its noise is slow (a 1-s baseline of a
    noise correlated over 70 ms holds about fourteen independent looks); records of the same
    process (one node of one geometry, over a study's seeds) share their σ, so pooling them
    estimates it from all of them. Each trace keeps its own mean.
    """
    squares, dof = 0.0, 0
    for trace in null_traces:
        smoothed = running_mean(trace, smooth)
        smoothed = smoothed[np.isfinite(smoothed)]
        if len(smoothed) < 2:
            continue
        squares += float(((smoothed - smoothed.mean()) ** 2).sum())
        dof += len(smoothed) - 1
    if dof == 0:
        raise ValueError(f"no null trace is longer than the {smooth}-sample running mean: nothing to pool")
    return math.sqrt(squares / dof)


def detect_peaks(times: np.ndarray, trace: np.ndarray, t_stimulus: float, n_sigma: float,
                 smooth: int = 1, sigma: float | None = None) -> dict:
    """Peak measures of one trace after the stimulus, against its own pre-stimulus baseline.

    The trace is smoothed by a trailing running mean over ``smooth`` samples; the threshold is
    the mean of the smoothed samples before ``t_stimulus`` + ``n_sigma`` standard deviations:
    their own, or ``sigma`` when given (e.g. :func:`pooled_sigma` over a study's baselines). A
    peak is the first sample after ``t_stimulus`` above the threshold: time to peak (that
    sample's time − stimulus; the trailing mean delays it by at most ``smooth`` samples),
    amplitude (the excursion's maximum − baseline mean, over the baseline mean: ΔF/F0) and
    duration (time above the threshold, as the count of samples × the sampling interval).
    ``censored`` is True when the excursion is still above the threshold at the record's end:
    its duration and amplitude are then lower bounds.
    """
    times = np.asarray(times, dtype=np.float64)
    smoothed = running_mean(trace, smooth)
    before = smoothed[(times < t_stimulus) & np.isfinite(smoothed)]
    if len(before) < 2:
        raise ValueError(f"detect_peaks needs at least {smooth + 1} samples before the stimulus at "
                         f"t = {t_stimulus:g} s to estimate the baseline; record longer or smooth less")
    base_mean = float(before.mean())
    base_sd = float(before.std()) if sigma is None else float(sigma)
    threshold = base_mean + n_sigma * base_sd
    above = np.flatnonzero((times >= t_stimulus) & (smoothed > threshold))
    if len(above) == 0:
        return dict(peak=False, threshold=threshold, baseline=base_mean)
    first = end = above[0]
    while end + 1 < len(smoothed) and smoothed[end + 1] > threshold:
        end += 1
    peak_value = float(smoothed[first:end + 1].max())
    dt = float(times[1] - times[0]) if len(times) > 1 else 0.0
    return dict(
        peak=True,
        threshold=threshold,
        baseline=base_mean,
        time_to_peak=float(times[first] - t_stimulus),
        amplitude=(peak_value - base_mean) / base_mean if base_mean > 0 else math.inf,
        duration=(end - first + 1) * dt,
        censored=bool(end == len(smoothed) - 1),
    )


def _upcrossings(standardised: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Number of upward crossings of each level (a sample at or below, the next one above)."""
    low, high = standardised[:-1], standardised[1:]
    return ((low[:, None] <= levels[None, :]) & (high[:, None] > levels[None, :])).sum(axis=0)


def upcrossing_rates(null_traces, dt: float, smooth: int, levels,
                     sigmas=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Upcrossings of ``mean + n·σ`` per second of null data, for each ``n`` in ``levels``.

    Each trace is smoothed (:func:`running_mean`), cut in two halves, and each half is
    standardised with the mean and σ of the other half, so the estimate includes the error of
    a baseline estimated from a finite record. With ``sigmas`` (one per trace, e.g. a pooled σ
    estimated without that trace) the half is standardised with the other half's mean and the
    trace's given σ, as a rule with a pooled σ does. Returns ``(rates, counts, seconds)``: rates per
    second, crossing counts per level, and the seconds of null data they were counted in.
    """
    levels = np.asarray(levels, dtype=np.float64)
    counts = np.zeros(len(levels), dtype=np.int64)
    seconds = 0.0
    null_traces = list(null_traces)
    if sigmas is not None and len(sigmas) != len(null_traces):
        raise ValueError(f"{len(sigmas)} sigmas for {len(null_traces)} null traces: give one per trace")
    for index, trace in enumerate(null_traces):
        smoothed = running_mean(trace, smooth)
        smoothed = smoothed[np.isfinite(smoothed)]
        half = len(smoothed) // 2
        if half < 2 * smooth:
            raise ValueError(f"a null trace of {len(trace)} samples is too short for a {smooth}-sample "
                             "running mean: each half must hold at least two windows")
        # Halves split by a gap of one window, so that no sample of one half's running mean
        # shares a raw sample with the other half's.
        first, second = smoothed[:half - smooth], smoothed[half:]
        for part, other in ((first, second), (second, first)):
            sd = other.std() if sigmas is None else float(sigmas[index])
            if sd == 0:
                continue  # a constant baseline: no σ to count in
            counts += _upcrossings((part - other.mean()) / sd, levels)
            seconds += (len(part) - 1) * dt
    if seconds == 0:
        raise ValueError("no null data with a nonzero spread: give traces that fluctuate")
    return counts / seconds, counts, seconds


@dataclass
class DerivedThreshold:
    """The threshold level ``n_sigma`` for a false-alarm budget, with the evidence behind it."""

    n_sigma: float
    alpha: float  #: expected spurious peaks in one window (bounds the probability of one)
    window_s: float  #: seconds searched after the stimulus
    smooth: int
    null_seconds: float
    slope: float  #: fitted b in rate = exp(a - b n)
    levels: np.ndarray = field(repr=False)
    rates: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    observed_at_n: int = 0  #: crossings counted in the null data at the derived level


def derive_n_sigma(null_traces, dt: float, smooth: int, window_s: float, alpha: float = 0.05,
                   min_crossings: int = 5, tail_from: float = 1.0, levels=None,
                   sigmas=None) -> DerivedThreshold:
    """The smallest ``n`` whose expected number of spurious peaks in ``window_s`` is ``alpha``.

    ``null_traces`` are records without a stimulus sampled every ``dt`` (the pre-stimulus
    baselines of a study's runs, in every node). The upcrossing rates of :func:`upcrossing_rates`
    at the levels ``n >= tail_from`` with at least ``min_crossings`` crossings are fitted as
    ``log rate = a - b·n`` (least squares, weighted by the counts), and the fit is solved for
    ``rate · window_s = alpha``. Raises ``ValueError`` when fewer than three levels qualify (too
    little null data to fit a tail). ``sigmas``: see :func:`upcrossing_rates` (a rule that uses
    a pooled σ is calibrated with one).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    levels = np.arange(0.5, 8.01, 0.25) if levels is None else np.asarray(levels, dtype=np.float64)
    null_traces = list(null_traces)
    rates, counts, seconds = upcrossing_rates(null_traces, dt, smooth, levels, sigmas)
    tail = np.flatnonzero((levels >= tail_from) & (counts >= min_crossings))
    if len(tail) < 3:
        raise ValueError(f"{seconds:.1f} s of null data give at least {min_crossings} upcrossings at only "
                         f"{len(tail)} levels from {tail_from:g} sigma; a tail fit needs three: give more "
                         "null data")
    x, y, w = levels[tail], np.log(rates[tail]), counts[tail].astype(np.float64)
    # Weighted least squares (the variance of log(count) is about 1/count) of log rate = a - b·n.
    design = np.stack([np.ones_like(x), -x], axis=1) * np.sqrt(w)[:, None]
    (a, b), *_ = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)
    if b <= 0:
        raise ValueError("the upcrossing rate does not fall with the level; the null traces are not "
                         "stationary (a drifting baseline?)")
    n = (a - math.log(alpha / window_s)) / b
    observed = int(upcrossing_rates(null_traces, dt, smooth, [n], sigmas)[1][0])
    return DerivedThreshold(n, alpha, window_s, smooth, seconds, float(b), levels, rates, counts, observed)
