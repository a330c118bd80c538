"""Rallpack 3 (Hodgkin–Huxley axon) against NEURON run here, and stochastic channels.

NEURON (PyPI ``neuron``) simulates the same cable: 1,000 segments, dt 1 µs, the ``hh``
mechanism at 6.3 °C, with the mesh cable's own cross-section and membrane per length
(``tetrasim.examples_efield.neuron_cable``). The default run is reduced (6 ms, coarse
steps) and checks what the reduction can: conduction velocity within 3 % of NEURON's and
first-order convergence of the spike times towards NEURON's as efield_dt halves. The full
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


def test_rallpack3_reduced_velocity_and_convergence_towards_neuron():
    """6 ms (the first spike and its arrival at 1 mm), 100 slices, efield_dt 10 and 5 µs.

    The scheme is first order in efield_dt (rates frozen over a step, explicit channel
    currents), so the spike-time error against NEURON must shrink as dt halves: by 1/2 in the
    limit, plus a dt-independent mesh part; we require a shrink below 3/4 at both ends.
    """
    _neuron()
    errors = []
    for dt in (1e-5, 5e-6):
        out = run_cable("hh", solver="ode", n_slices=100, efield_dt=dt, t_end=6e-3, every=1e-5)
        _rms, spikes = _compare(out, 6e-3, 1e-5)
        assert all(len(ours) >= 1 and len(theirs) >= 1 for ours, theirs in spikes), "no spike"
        ours_velocity, neuron_velocity = _velocity(spikes, out["cable"].length)
        assert abs(ours_velocity / neuron_velocity - 1) < 0.03, (dt, ours_velocity, neuron_velocity)
        errors.append([abs(ours[0] - theirs[0]) for ours, theirs in spikes])
    for coarse, fine in zip(errors[0], errors[1], strict=True):
        assert fine < 0.75 * coarse, errors


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
        reference="NEURON 1000 segments, dt 1 us",
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
