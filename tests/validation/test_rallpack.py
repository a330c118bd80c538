"""Rallpack 3 (Hodgkin–Huxley axon) against NEURON run here, and stochastic channels.

NEURON (PyPI ``neuron``) simulates the same cable: 1,000 segments, dt 1 µs, the ``hh``
mechanism at 6.3 °C without its 1 mV rate tables, Crank–Nicolson (``secondorder = 2``),
with the mesh cable's own cross-section and membrane per length
(``tetrasim.examples_efield.neuron_cable``). The default run is reduced (6 ms, coarse
steps) and checks what the reduction can: conduction velocity within 3 % of NEURON's and
better-than-first-order convergence of the spike times in efield_dt. The full
case (0.1 s, efield_dt 1 µs) carries the ``validation`` marker.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tetrasim.examples_efield import neuron_cable, run_cable, spike_times


def _neuron():
    try:
        import neuron  # noqa: F401
    except Exception as error:  # pragma: no cover - depends on the environment
        pytest.skip(
            f"NEURON is not importable ({type(error).__name__}: {error}); pip install neuron (in [dev])"
        )


def _compare(out, t_end, every):
    cable = out["cable"]
    times, v_start, v_end = neuron_cable(
        "hh", cable.length, cable.area, cable.perimeter, t_end=t_end, every=every
    )
    n = min(len(times), len(out["times"]))
    ours = out["v_start"][0][:n], out["v_end"][0][:n]
    theirs = v_start[:n], v_end[:n]
    rms = [float(np.sqrt(np.mean((a - b) ** 2))) for a, b in zip(ours, theirs, strict=True)]
    spikes = [(spike_times(out["times"][:n], a), spike_times(times[:n], b)) for a, b in zip(ours, theirs,
                                                                                           strict=True)]
    return rms, spikes


def _velocity(spikes, length):
    (ours_start, theirs_start), (ours_end, theirs_end) = spikes
    return length / (ours_end[0] - ours_start[0]), length / (theirs_end[0] - theirs_start[0])


def test_rallpack3_reduced_velocity_and_second_order_in_dt():
    """6 ms (the first spike and its arrival at 1 mm), 100 slices.

    With deterministic channels the step is built to be second order in efield_dt
    (Crank–Nicolson for V, rates at the predicted mid-step potential, trapezoid occupancy).
    On one mesh, against t(1.25 µs), a first-order scheme has error(5 µs)/error(10 µs) =
    (5 − 1.25)/(10 − 1.25) = 0.43, a second-order one (5² − 1.25²)/(10² − 1.25²) = 0.24. We
    require < 0.43 at both ends: better than first order. Measured 0.385 (x = 0) and 0.379
    (1 mm): an observed order of about 1.4, not the full 2 (a finding, docs/concepts/efield.md).
    The conduction velocity at 10 µs is within 3 % of NEURON's. (Steps never cross a record
    time, so dt above the 10 µs sampling would not be tested.)
    """
    _neuron()
    first = {}
    for dt in (1e-5, 5e-6, 1.25e-6):
        out = run_cable("hh", solver="ode", n_slices=100, efield_dt=dt, t_end=6e-3, every=1e-5)
        found = [spike_times(out["times"], out[key][0]) for key in ("v_start", "v_end")]
        assert all(len(f) == 1 for f in found), (dt, found)
        first[dt] = [f[0] for f in found]
        if dt == 1e-5:
            _rms, spikes = _compare(out, 6e-3, 1e-5)
            ours_velocity, neuron_velocity = _velocity(spikes, out["cable"].length)
            assert abs(ours_velocity / neuron_velocity - 1) < 0.03, (ours_velocity, neuron_velocity)
    for end in (0, 1):
        coarse = abs(first[1e-5][end] - first[1.25e-6][end])
        fine = abs(first[5e-6][end] - first[1.25e-6][end])
        assert fine < (5e-6 - 1.25e-6) / (1e-5 - 1.25e-6) * coarse, (end, first)


@pytest.mark.validation
def test_rallpack3_full_against_neuron(validation_row):
    """The VALIDATION case: 0.1 s, RMS < 0.15 mV at x = 0 and < 1.1 mV at x = 1 mm, velocity within 3 %."""
    _neuron()
    out = run_cable("hh", solver="ode", n_slices=200, efield_dt=1e-6, t_end=0.1, every=1e-5)
    rms, spikes = _compare(out, 0.1, 1e-5)
    ours_velocity, neuron_velocity = _velocity(spikes, out["cable"].length)
    worst = max(rms[0] / 0.15e-3, rms[1] / 1.1e-3, abs(ours_velocity / neuron_velocity - 1) / 0.03)
    validation_row(
        section="Membrane potential",
        case="Rallpack 3 (HH axon, deterministic channels)",
        solver="ode",
        runs=1,
        reference="NEURON 1000 segments, dt 1 us, secondorder 2, no hh rate tables",
        tolerance="RMS 0.15 mV (x=0), 1.1 mV (x=1 mm); velocity 3 %",
        worst=worst,
        passed=worst <= 1,
        notes=(
            f"RMS {rms[0] * 1e3:.3f} / {rms[1] * 1e3:.3f} mV; velocity {ours_velocity:.4f} vs "
            f"{neuron_velocity:.4f} m/s"
        ),
    )
    assert rms[0] < 0.15e-3 and rms[1] < 1.1e-3, rms
    assert abs(ours_velocity / neuron_velocity - 1) < 0.03


def _stochastic_first_spikes(solver, seeds, length, n_slices, t_end, dt):
    times = []
    for seed in seeds:
        out = run_cable("hh", solver=solver, length=length, n_slices=n_slices, efield_dt=dt, t_end=t_end,
                        every=1e-5, seed=seed)
        found = spike_times(out["times"], out["v_start"][0])
        assert len(found), f"seed {seed}: no spike"
        times.append(found[0])
    return np.array(times)


def _check_mean_spike_time(solver, runs, length, n_slices, t_end, dt):
    """Mean first-spike time at x = 0 over seeds vs the deterministic (ode) one: a z-test with the
    sample standard deviation, threshold from alpha = 1e-4 (one assertion). It detects a bias
    of the stochastic coupling larger than ~4 standard errors of the mean."""
    from stats import z_threshold

    deterministic = run_cable("hh", solver="ode", length=length, n_slices=n_slices, efield_dt=dt, t_end=t_end,
                              every=1e-5)
    t_det = spike_times(deterministic["times"], deterministic["v_start"][0])[0]
    stochastic = _stochastic_first_spikes(solver, range(1, runs + 1), length, n_slices, t_end, dt)
    spread = float(stochastic.std(ddof=1))
    z = (stochastic.mean() - t_det) / (spread / math.sqrt(runs))
    return z, z_threshold(1), t_det, stochastic.mean(), spread


@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_stochastic_channels_reduced_mean_spike_time(solver):
    """Reduced: 100 µm cable, 4 ms, 8 seeds (the full case: 1 mm, 20 seeds, validation)."""
    z, threshold, t_det, mean, spread = _check_mean_spike_time(solver, 8, 100e-6, 10, 4e-3, 1e-5)
    assert abs(z) < threshold, (t_det, mean, spread, z)


@pytest.mark.validation
@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_stochastic_channels_mean_spike_time(solver, validation_row):
    z, threshold, t_det, mean, spread = _check_mean_spike_time(solver, 20, 1e-3, 100, 6e-3, 1e-5)
    validation_row(
        section="Membrane potential",
        case="Rallpack 3, stochastic channels: mean first spike",
        solver=solver,
        runs=20,
        reference="deterministic (ode) spike time",
        tolerance=f"|z| < {threshold:.2f} (alpha 1e-4)",
        worst=abs(z) / threshold,
        passed=abs(z) < threshold,
        notes=f"ode {t_det * 1e3:.4f} ms; mean {mean * 1e3:.4f} ms, spread (SD) {spread * 1e3:.4f} ms",
    )
    assert abs(z) < threshold
