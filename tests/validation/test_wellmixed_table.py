"""Tier 2: the well-mixed kinetics table of VALIDATION.md, for ``wm-ssa`` and ``wm-ode``.

Run with ``pytest -m validation`` (``scripts/make_validation_report.py`` runs it and writes
docs/validation.md). Every case records one report row: the largest deviation in units of its
tolerance (``worst``; <= 1 passes). Tolerances are derived, never hand-tuned:

* ``wm-ssa``, mean curves: at each of the m sample times t > 0 the sample mean over R runs
  must lie within z* standard errors (sample SD / sqrt(R)) of the reference, with
  z* = norm.isf(1e-4 / 2m) (Bonferroni over the sample times, and over the variance checks
  where the reference gives a variance). The deterministic reference curves are the mass-action
  limit; the exact mean of the master equation differs from them by O(1/N), so the cases use
  N ~ 6e5 molecules where that bias is ~1e-5 relative, far below the ~1e-3 tolerance (the
  small-N surface case uses the exact master-equation mean instead, see its notes).
* ``wm-ssa``, birth-death: Pearson chi-square of the thinned stationary histogram,
  threshold chi2.isf(1e-4, dof).
* ``wm-ode``: |y - ref| <= n_steps sqrt(n_pools) (rtol |ref| + atol), with the integrator's
  rtol and atol (molecules) and the number of steps it took. SciPy's integrators keep the RMS
  over the pools of error / (atol + rtol |y|) below 1 in every step, so each pool's local error
  is at most sqrt(n_pools) (atol + rtol |y|); every case here is contracting (decay,
  consumption, relaxation to equilibrium; conserved linear combinations are kept exactly by
  the linear multistep formula), so local errors are not amplified and the global error is at
  most their sum. The bound is loose: the report also gives the observed global error in units
  of one step's local tolerance.

A small subset (``test_quick_subset``) runs in the default ``pytest`` so CI covers the table.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.linalg import expm

import tetrasim as ts
from stats import chi_square_check, lumped_bins, mean_z, variance_z, z_threshold
from tetrasim.units import AVOGADRO

VALIDATION_SECTION = "Well-mixed kinetics"
SOLVERS = ["wm-ssa", "wm-ode"]
HAVE_ODE = importlib.util.find_spec("tetrasim.solvers.ode") is not None
ODE_RTOL = 1e-8


@dataclass
class Outcome:
    runs: int
    worst: float
    reference: str
    tolerance: str
    notes: str = ""
    details: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.worst) and self.worst <= 1.0)


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    parameters: str
    run: Callable[[str], Outcome]
    section: str = VALIDATION_SECTION

    def __str__(self) -> str:
        return self.key


# ---------------------------------------------------------------------- building blocks
def _simulation(reactions, solver, seed, volume=1e-18, patch_area=None, initial=None, scale=None):
    """One compartment "c" (and a patch "p" when ``patch_area``); ``initial`` maps species to counts.

    ``scale`` is the number of molecules that sets the ODE's atol (default: the initial total).
    """
    model = ts.Model()
    names = []
    for equation, *_ in reactions:
        for token in equation.replace("->", " ").replace("<", " ").replace("+", " ").split():
            name = token.split(".")[0].lstrip("0123456789")
            if name and name not in names:
                names.append(name)
    model.species(*names)
    geometry = ts.WellMixed()
    if patch_area is None:
        system = model.volume_system("v")
        geometry.compartment("c", volume=volume, systems=["v"])
    else:
        system = model.surface_system("s")
        geometry.compartment("c", volume=volume)
        geometry.patch("p", area=patch_area, inner="c", systems=["s"])
    for equation, kf, *kb in reactions:
        system.reaction(equation, kf=kf, kb=kb[0] if kb else None)
    where = "c" if patch_area is None else "p"
    total = max(1.0, float(scale if scale is not None else sum((initial or {}).values())))
    options = {}
    if solver == "wm-ode":
        options = {"rtol": ODE_RTOL, "atol": 1e-2 * ODE_RTOL * total}
    sim = ts.Simulation(model, geometry, solver=solver, seed=seed, progress=False, **options)
    for species, count in (initial or {}).items():
        sim.set_count(where, species, count)
    return sim, where, options


def _record(sim, where, species, every, t_end, runs):
    recorders = [sim.record(ts.Count(s, where=where), every=every) for s in species]
    res = sim.run(t_end, runs=runs if sim.solver.stochastic else 1)  # deterministic: one run
    return res.times_of(recorders[0]), [res[r].astype(np.float64) for r in recorders]


def _ssa_curve(times, data, reference, variance=None, label="mean"):
    """Mean (and variance) over runs vs reference at every sample t > 0; Bonferroni over all."""
    if not np.all(data[:, 0] == data[0, 0]):
        return math.inf, "initial state differs between runs", 0.0
    t, x, ref = times[1:], data[:, 1:], np.asarray(reference)[1:]
    assertions = len(t) * (1 if variance is None else 2)
    z_star = z_threshold(assertions)
    z = np.abs(mean_z(x, ref))
    worst = z.max() / z_star
    i = int(z.argmax())
    relative = np.max(np.abs(x.mean(axis=0) - ref) / np.abs(ref))
    details = (
        f"{label}: max |z| = {z[i]:.3g} at t = {t[i]:g} s (z* = {z_star:.3g}); max rel. dev. {relative:.2e}"
    )
    if variance is not None:
        zv = np.abs(variance_z(x, np.asarray(variance)[1:]))
        worst = max(worst, zv.max() / z_star)
        details += f"; variance: max |z| = {zv.max():.3g} at t = {t[int(zv.argmax())]:g} s"
    return worst, details, relative


def _ssa_tolerance(times, with_variance=False):
    m = (len(times) - 1) * (2 if with_variance else 1)
    what = "mean and variance" if with_variance else "mean"
    return (
        f"{what} within z* = {z_threshold(m):.2f} SE at {len(times) - 1} times (alpha 1e-4 / {m}, Bonferroni)"
    )


def _ode_curve(sim, options, times, y, reference):
    steps = int(sim.solver.stats["steps"])
    local = ODE_RTOL * np.abs(reference) + options["atol"]  # one step's local tolerance
    tolerance = max(steps, 1) * np.sqrt(sim.compiled.n_pools) * local
    error = np.abs(y[0] - reference)
    ratio = error / tolerance
    i = int(ratio.argmax())
    relative = np.max(error / np.maximum(np.abs(reference), 1e-300))
    in_local = float(np.max(error / local))
    details = (
        f"max |y - ref| / tol = {ratio[i]:.3g} at t = {times[i]:g} s (|y - ref| = {error[i]:.3g} "
        f"molecules); {steps} steps; global error = {in_local:.3g} x one step's local tolerance; "
        f"max rel. dev. {relative:.2e}"
    )
    extra = {"max_relative_deviation": relative, "steps": steps, "global_over_local": in_local}
    return float(ratio.max()), details, extra


def _ode_tolerance(options):
    return (
        f"n_steps sqrt(n_pools) (rtol |ref| + atol), rtol = {options['rtol']:g}, "
        f"atol = {options['atol']:.3g} molecules"
    )


def _curve_outcome(
    solver, sim, options, times, data, reference, runs, reference_text, variance=None, notes=""
):
    if solver == "wm-ode":
        worst, details, extra = _ode_curve(sim, options, times, data, reference)
        return Outcome(1, worst, reference_text, _ode_tolerance(options), notes, details, extra)
    worst, details, relative = _ssa_curve(times, data, reference, variance)
    return Outcome(
        runs,
        worst,
        reference_text,
        _ssa_tolerance(times, variance is not None),
        notes,
        details,
        {"max_relative_deviation": relative},
    )


def _volume_factor(volume):
    return 1e3 * volume * AVOGADRO  # molecules per molar


# ---------------------------------------------------------------------- the cases
def first_order(solver):
    k, n0, volume, runs = 5.0, 50, 9e-18, 10_000
    sim, where, options = _simulation([("A ->", k)], solver, 7001, volume, initial={"A": n0})
    times, (a,) = _record(sim, where, ["A"], 0.1, 1.0, runs)
    p = np.exp(-k * times)
    return _curve_outcome(
        solver,
        sim,
        options,
        times,
        a,
        n0 * p,
        runs,
        "mean N0 e^-kt, variance N0 e^-kt (1 - e^-kt)" if solver == "wm-ssa" else "N0 e^-kt",
        variance=n0 * p * (1 - p) if solver == "wm-ssa" else None,
    )


def reversible(solver):
    kf, kb, n, runs = 10.0, 2.0, 100_000, 100
    sim, where, options = _simulation([("A <-> B", kf, kb)], solver, 7002, initial={"A": n})
    times, (a,) = _record(sim, where, ["A"], 0.1, 2.0, runs)
    keep = np.concatenate([[0], np.flatnonzero(times >= 0.7 - 1e-9)])  # t = 0 (exact) and t >= 0.7 s
    exact = n * (kb + kf * np.exp(-(kf + kb) * times)) / (kf + kb)
    equilibrium = n * kb / (kf + kb)
    transient = exact[keep[1]] - equilibrium
    notes = (
        f"equilibrium N kb/(kf+kb) = {equilibrium:,.1f}; the compared curve is the exact first-order "
        f"solution, which still exceeds it by {transient:.1f} molecules ({transient / equilibrium:.2%}) "
        "at 0.7 s"
    )
    return _curve_outcome(
        solver,
        sim,
        options,
        times[keep],
        a[:, keep],
        exact[keep],
        runs,
        "A(t) = N (kb + kf e^-(kf+kb)t)/(kf+kb) -> N kb/(kf+kb), t >= 0.7 s",
        notes=notes,
    )


def second_order_2a(solver):
    k, a0, volume, runs = 1e7, 10e-6, 1e-16, 100
    f = _volume_factor(volume)
    sim, where, options = _simulation([("2 A -> C", k)], solver, 7003, volume, scale=a0 * f)
    sim.set_conc(where, "A", a0)
    n0 = sim.get_count(where, "A")
    times, (a,) = _record(sim, where, ["A"], 0.005, 0.05, runs)
    reference = f / (f / n0 + 2 * k * times)  # 1/[A] = 1/A0 + 2kt, in molecules
    return _curve_outcome(
        solver,
        sim,
        options,
        times,
        a,
        reference,
        runs,
        "1/[A] = 1/A0 + 2kt",
        notes=f"A0 = {n0:,} molecules (V = {volume:g} m^3)",
    )


def second_order_ab_equal(solver):
    k, a0, volume, runs = 5e7, 20e-6, 5e-17, 100
    f = _volume_factor(volume)
    sim, where, options = _simulation([("A + B -> C", k)], solver, 7004, volume, scale=2 * a0 * f)
    sim.set_conc(where, "A", a0)
    sim.set_conc(where, "B", a0)
    n0 = sim.get_count(where, "A")
    times, (a,) = _record(sim, where, ["A"], 0.001, 0.01, runs)
    reference = f / (f / n0 + k * times)  # 1/[A] = 1/A0 + kt
    return _curve_outcome(
        solver,
        sim,
        options,
        times,
        a,
        reference,
        runs,
        "1/[A] = 1/A0 + kt",
        notes=f"A0 = B0 = {n0:,} molecules (V = {volume:g} m^3)",
    )


def second_order_ab_unequal(solver):
    k, a0, b0, volume, runs = 5e6, 1e-6, 0.5e-6, 1e-15, 100
    f = _volume_factor(volume)
    sim, where, options = _simulation([("A + B -> C", k)], solver, 7005, volume, scale=(a0 + b0) * f)
    sim.set_conc(where, "A", a0)
    sim.set_conc(where, "B", b0)
    na, nb = sim.get_count(where, "A"), sim.get_count(where, "B")
    times, (a, b) = _record(sim, where, ["A", "B"], 0.1, 1.0, runs)
    conserved = np.all(a - b == na - nb)
    ratio = (nb / na) * np.exp(-(na - nb) * (k / f) * times)  # ln(B/A) = ln(B0/A0) - (A0-B0) k t
    reference = (na - nb) * ratio / (1 - ratio)  # B(t) in molecules
    outcome = _curve_outcome(
        solver,
        sim,
        options,
        times,
        b,
        reference,
        runs,
        "ln(B/A) = ln(B0/A0) - (A0 - B0) k t (B compared; A - B is conserved)",
        notes=f"A0 = {na:,}, B0 = {nb:,} molecules (V = {volume:g} m^3)",
    )
    if solver == "wm-ssa" and not conserved:
        outcome.worst = math.inf
        outcome.details += "; A - B not conserved"
    return outcome


def third_order(solver):
    k, a0, volume, runs = 1e12, 100e-6, 1e-17, 100
    f = _volume_factor(volume)
    sim, where, options = _simulation([("3 A -> C", k)], solver, 7006, volume, scale=a0 * f)
    sim.set_conc(where, "A", a0)
    n0 = sim.get_count(where, "A")
    times, (a,) = _record(sim, where, ["A"], 1e-4, 1e-3, runs)
    reference = f / np.sqrt((f / n0) ** 2 + 6 * k * times)  # 1/[A]^2 = 1/A0^2 + 6kt
    return _curve_outcome(
        solver,
        sim,
        options,
        times,
        a,
        reference,
        runs,
        "1/[A]^2 = 1/A0^2 + 6kt",
        notes=f"A0 = {n0:,} molecules (V = {volume:g} m^3)",
    )


def _surface_master_equation(a0, b0, c, times):
    """Exact mean of B(t) for A + B -> C with propensity c A B (A - B conserved): the master equation."""
    delta = a0 - b0
    n = b0 + 1
    generator = np.zeros((n, n))
    for b in range(1, n):
        rate = c * (b + delta) * b
        generator[b, b] -= rate
        generator[b - 1, b] += rate
    p0 = np.zeros(n)
    p0[b0] = 1.0
    return np.array([expm(generator * t) @ p0 @ np.arange(n) for t in times])


def surface_ab(solver):
    k, area, a0, b0, runs = 1e11, 10e-12, 100, 50, 10_000
    c = k / (AVOGADRO * area)
    sim, where, options = _simulation(
        [("A.s + B.s -> C.s", k)], solver, 7007, patch_area=area, initial={"A": a0, "B": b0}
    )
    times, (b,) = _record(sim, where, ["B"], 0.1, 1.0, runs)
    ratio = (b0 / a0) * np.exp(-(a0 - b0) * c * times)
    mass_action = (a0 - b0) * ratio / (1 - ratio)
    if solver == "wm-ode":
        return _curve_outcome(
            solver,
            sim,
            options,
            times,
            b,
            mass_action,
            runs,
            "ln(B/A) = ln(B0/A0) - (A0 - B0) c t, c = k/(N_A area)",
        )
    exact = _surface_master_equation(a0, b0, c, times)
    gap = np.max(np.abs(exact[1:] - mass_action[1:]) / mass_action[1:])
    worst_ma, _, _ = _ssa_curve(times, b, mass_action)
    notes = (
        f"with 100 and 50 molecules the exact mean (master equation, compared) lies up to {gap:.2%} below "
        f"the mass-action formula of the validation cases; against that formula this run scores "
        f"{worst_ma:.2f} of the tolerance"
    )
    outcome = _curve_outcome(
        solver,
        sim,
        options,
        times,
        b,
        exact,
        runs,
        "master-equation mean of B (mass-action limit: ln(B/A) = ln(B0/A0) - (A0-B0) c t)",
        notes=notes,
    )
    outcome.extra["worst_vs_mass_action"] = worst_ma
    return outcome


def zero_order(solver):
    k, volume, runs = 1e-3, 1e-18, 100
    sim, where, options = _simulation([("-> A", k)], solver, 7008, volume, scale=k * _volume_factor(volume))
    times, (a,) = _record(sim, where, ["A"], 0.1, 1.0, runs)
    lam = k * _volume_factor(volume) * times
    notes = (
        f"k 1e3 V N_A = {lam[-1]:,.0f} molecules/s: the '~602 molecules' sometimes quoted for this case is"
        " off by 1e3 (the parameters as written are used)"
    )
    variance = lam if solver == "wm-ssa" else None
    return _curve_outcome(
        solver,
        sim,
        options,
        times,
        a,
        lam,
        runs,
        "Poisson: mean = variance = k 1e3 V N_A t",
        variance=variance,
        notes=notes,
    )


def birth_death(solver):
    birth, death, volume = 100 / (AVOGADRO * 1e-15), 10.0, 1e-18
    if solver == "wm-ode":
        sim, where, options = _simulation([("-> A", birth), ("A ->", death)], solver, 7009, volume, scale=10)
        times, (a,) = _record(sim, where, ["A"], 0.1, 10.0, 1)
        reference = 10.0 * (1 - np.exp(-death * times))
        return _curve_outcome(
            solver,
            sim,
            options,
            times,
            a,
            reference,
            1,
            "deterministic limit: A(t) = 10 (1 - e^-10t), 0 ... 10 s",
        )
    t_end = 2e5
    sim, where, _ = _simulation([("-> A", birth), ("A ->", death)], solver, 7009, volume)
    _, (a,) = _record(sim, where, ["A"], 0.1, t_end, 1)
    series = a[0].astype(np.int64)
    thinned = series[100::10]  # 10 s burn-in, then every 1 s (correlation e^-10)
    edges = np.arange(5, 16)
    probabilities = np.concatenate(
        [
            [scipy_stats.poisson.cdf(4, 10)],
            scipy_stats.poisson.pmf(edges, 10),
            [scipy_stats.poisson.sf(15, 10)],
        ]
    )
    check = chi_square_check(lumped_bins(thinned, 5, 15), probabilities)
    relative = np.abs(check.observed[1:-1] - check.expected[1:-1]) / check.expected[1:-1]
    notes = (
        f"one run of {t_end:g} s sampled every 0.1 s; the series is autocorrelated (correlation time "
        f"0.1 s), so it is thinned to every 1 s after 10 s burn-in: {len(thinned):,} samples; "
        f"largest relative deviation of a bin m = 5..15: {relative.max():.2%} (STEPS tolerance 1.5 %)"
    )
    return Outcome(
        1,
        check.worst,
        "stationary histogram = Poisson(10), m = 5..15, tails lumped",
        f"chi-square <= {check.threshold:.1f} ({check.dof} dof, alpha 1e-4)",
        notes,
        check.describe(),
        {"max_relative_deviation": float(relative.max()), "chi_square": check.statistic},
    )


CASES = [
    Case(
        "first_order",
        "first order A -> 0",
        "k = 5 /s, N0 = 50, V = 9e-18 m^3, every 0.1 s to 1 s",
        first_order,
    ),
    Case("reversible", "reversible A <-> B", "kf = 10, kb = 2 /s, A0 = 100,000", reversible),
    Case("2A", "2A -> C", "k = 1e7 /M/s, A0 = 10 uM", second_order_2a),
    Case("AB_equal", "A + B -> C, A0 = B0", "k = 5e7 /M/s, A0 = B0 = 20 uM", second_order_ab_equal),
    Case(
        "AB_unequal", "A + B -> C, A0 != B0", "k = 5e6 /M/s, A0 = 1 uM, B0 = 0.5 uM", second_order_ab_unequal
    ),
    Case("3A", "3A -> C", "k = 1e12 /M^2/s, A0 = 100 uM", third_order),
    Case(
        "surface_AB",
        "surface A + B -> C (2-D)",
        "area 10 um^2, A0 = 100, B0 = 50, k = 1e11 (mol/m^2)^-1/s",
        surface_ab,
    ),
    Case("zero_order", "zero order 0 -> A", "k = 1e-3 M/s, V = 1e-18 m^3, 1 s", zero_order),
    Case("birth_death", "birth-death stationary", "100 molecules/s in, 10 /s out, 2e5 s", birth_death),
]
CASE_BY_KEY = {case.key: case for case in CASES}


def _check_solver(solver):
    if solver == "wm-ode" and not HAVE_ODE:
        pytest.skip("wm-ode: tetrasim/solvers/ode.py does not exist yet")


@pytest.mark.validation
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_wellmixed_table(case, solver, validation_row):
    _check_solver(solver)
    outcome = case.run(solver)
    validation_row(
        section=case.section,
        case=case.title,
        solver=solver,
        runs=outcome.runs,
        parameters=case.parameters,
        reference=outcome.reference,
        tolerance=outcome.tolerance,
        worst=outcome.worst,
        passed=outcome.passed,
        notes=outcome.notes,
        details=outcome.details,
        **outcome.extra,
    )
    assert outcome.passed, f"{case.title} [{solver}]: {outcome.details}"


QUICK = [
    ("first_order", "wm-ssa"),
    ("surface_AB", "wm-ssa"),
    ("first_order", "wm-ode"),
    ("reversible", "wm-ode"),
    ("AB_unequal", "wm-ode"),
]


@pytest.mark.parametrize(("key", "solver"), QUICK, ids=[f"{k}-{s}" for k, s in QUICK])
def test_quick_subset(key, solver):
    """A few fast rows of the table in the default test run, so CI covers the validation code."""
    _check_solver(solver)
    outcome = CASE_BY_KEY[key].run(solver)
    assert outcome.passed, f"{key} [{solver}]: {outcome.details}"
