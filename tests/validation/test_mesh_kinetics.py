"""VALIDATION.md "Well-mixed kinetics" rows on a mesh: ssa, ode (opsplit once available).

The mesh is the 1-µm sphere (231 tets, within the cases' 40-300), every species
diffusing at 1e-12 m²/s. The reference is the mean-field (analytic) curve in molecule counts.

Tolerance (DESIGN.md §7): ssa passes when every sample time satisfies
``|mean - expected| <= z * sqrt(var / R) + budget`` with ``var`` exact (first order, reversible:
Binomial; zero order: Poisson) or an upper bound (irreversible consumption started from fixed
counts: Var(n) <= nu² E[events], see tests/meshes.py), z for α = 1e-4 Bonferroni over the
sample times (and over mean and variance checks where the variance is exact), and ``budget``
the exactly computed gap between the well-mixed master-equation mean and the mean-field curve
(only the 100-molecule surface case has one). Each ssa run starts from an independent
multinomial placement of the molecules (a well-mixed solution is a Poisson field; placing
fixed per-tet counts would under-disperse the tets and slow higher-order reactions at t = 0).
ode passes when ``|ode - expected| <= 1e-3 * max(expected)``.

What the tests detect: a mis-scaled mesoscopic rate (volume of the tet vs compartment, the
1e3·N_A factor, the falling factorial), a per-element rate that is not summed correctly, or a
surface rate scaled by volume instead of area -- each shifts the mean by far more than z·SE.

Runs and sizes (for the 15-minute budget on 2 cores): reversible 3 runs of the full 100,000
molecules; 2A->C to 2 s (its half-life is 5 s) and A+B->C (A0 = B0) to 1 s, 4 runs each (the
curves bend by ~30 % and ~10 %; the statistic is tighter than the 1-3 % STEPS tolerance on
the consumed amount); birth-death the case's full 2e5 s run (its hops dominate, ~5e9 events:
minutes, which is why the table is ``make validate`` only) with the SE inflated for the 0.1-s
sample correlation.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm, poisson

import tetrasim as ts
from tetrasim.errors import CapabilityError
from tetrasim.solvers.registry import get_solver_class

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import meshes  # noqa: E402

pytestmark = pytest.mark.validation

SOLVERS = ["ssa", "ode", "opsplit"]

CASES = {
    "first_order": (lambda: meshes.case_first_order(), 1000),
    "reversible": (lambda: meshes.case_reversible(1.0), 3),
    "dimer": (lambda: meshes.case_dimer(2.0), 4),
    "ab_equal": (lambda: meshes.case_ab_equal(1.0), 4),
    "ab_unequal": (lambda: meshes.case_ab_unequal(1.0), 200),
    "trimer": (lambda: meshes.case_trimer(0.01), 200),
    "trimer_fast_mixing": (lambda: meshes.case_trimer(0.01, diffusion=1e-10), 20),
    "zero_order": (lambda: meshes.case_zero_order(), 200),
    "surface_ab": (lambda: meshes.case_surface_ab(2.0), 500),
}


def require_solver(name: str) -> None:
    try:
        get_solver_class(name)
    except (CapabilityError, ImportError) as error:
        pytest.skip(f"solver not yet available: {name!r} ({error})")


#: The spatial stochastic solvers on 3A->C at D = 1e-12 m²/s: reactions deplete tets faster than
#: diffusion refills them, so the mean decays more slowly than the mean-field curve (see
#: tests/meshes.py:case_trimer). This is the physics of the discretised model, so those two
#: rows are checked by test_trimer_spatial_bias_is_pinned instead of against mean field.
KNOWN_SPATIAL_BIAS = {("trimer", "ssa"), ("trimer", "opsplit")}
#: Relative excess of remaining A over mean field at t = 10 ms (measured: ssa +1.32 %, opsplit
#: +1.14 % with 200 runs, seed 101; +0.99 % earlier with another seed): the known band.
TRIMER_BIAS_BAND = (0.010, 0.013)
TRIMER_RUNS = 200


@pytest.mark.parametrize(("case_key", "solver"), [(case, solver) for case in CASES for solver in SOLVERS
                                                  if (case, solver) not in KNOWN_SPATIAL_BIAS])
def test_mesh_kinetics(case_key, solver, validation_row):
    require_solver(solver)
    factory, runs = CASES[case_key]
    case = factory()
    out = meshes.run_kinetics(case, solver, runs, seed=101)
    worst = max(out["worst_ratio"], out.get("worst_variance_ratio") or 0.0)
    validation_row(section="Kinetics on a mesh", case=case.name, solver=solver, runs=out["runs"],
                   reference="mean-field curve", tolerance=("z·SE (alpha 1e-4) + computed budget"
                                                           if out["runs"] > 1 else "1e-3 x max"),
                   worst=worst, passed=out["ok"], wall_s=out["wall_s"],
                   notes=f"largest relative deviation {out['worst_rel_deviation']:.2%}")
    print({k: v for k, v in out.items() if k not in ("mean", "expected", "tolerance")})
    i = int(np.argmax(np.abs(out["mean"] - out["expected"]) / out["tolerance"]))
    assert out["ok"], (f"{case.name} / {solver}: t={case.times[i]:g}: mean {out['mean'][i]:.2f} vs expected "
                       f"{out['expected'][i]:.2f} (tolerance {out['tolerance'][i]:.2f}); "
                       f"variance ratio {out.get('worst_variance_ratio')}")


@functools.cache
def _trimer(solver: str):
    case = meshes.case_trimer(0.01)
    return case, meshes.run_kinetics(case, solver, TRIMER_RUNS, seed=101)


@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_trimer_spatial_bias_is_pinned(solver, validation_row):
    """3A->C at D = 1e-12: the remaining A at t = 10 ms exceeds mean field by the known 1.0-1.3 %.

    Band: [1.0 % - z·SE, 1.3 % + z·SE] with SE from the case's variance bound over 200 runs and z
    for α = 1e-4 two-sided (~±0.6 %). Detects a change of the spatial bias by more than that: a
    solver that mixes tets too fast (bias -> 0) or reacts without refilling (bias doubling).
    """
    require_solver(solver)
    case, out = _trimer(solver)
    expected = case.expected[-1]
    relative = (out["mean"][-1] - expected) / expected
    se = np.sqrt(case.variance_bound[-1] / TRIMER_RUNS) / expected
    z = norm.isf(1e-4 / 2)
    low, high = TRIMER_BIAS_BAND[0] - z * se, TRIMER_BIAS_BAND[1] + z * se
    print(dict(solver=solver, relative=relative, band=(low, high)))
    centre, half = (low + high) / 2, (high - low) / 2
    validation_row(section="Kinetics on a mesh", case="3A->C at D = 1e-12 (spatial bias pinned)",
                   solver=solver,
                   runs=TRIMER_RUNS, reference="known bias +1.0..1.3 % over mean field at 10 ms",
                   tolerance="band widened by z·SE (alpha 1e-4)", worst=abs(relative - centre) / half,
                   passed=bool(low <= relative <= high), notes=f"excess {relative:.2%}")
    assert low <= relative <= high, f"{solver}: 3A->C excess {relative:.3%} outside [{low:.3%}, {high:.3%}]"


def test_trimer_ssa_and_opsplit_agree(validation_row):
    """ssa and opsplit give the same 3A->C mean at every sample time (two-sample z-test).

    SE² = (var_ssa + var_opsplit) / 200 with the case's variance upper bound, z for α = 1e-4
    Bonferroni over the sample times. Detects an opsplit reaction/diffusion splitting bias
    beyond ~0.6 % of the mean here (opsplit's step is short against the reaction time).
    """
    require_solver("opsplit")
    case, ssa = _trimer("ssa")
    _, opsplit = _trimer("opsplit")
    se = np.sqrt(2 * np.maximum(case.variance_bound, 0) / TRIMER_RUNS)
    z = norm.isf(1e-4 / (2 * (len(case.times) - 1)))
    difference = np.abs(ssa["mean"] - opsplit["mean"])[1:]
    worst = float(np.max(difference / (z * se[1:])))
    validation_row(section="Kinetics on a mesh", case="3A->C: ssa vs opsplit", solver="opsplit",
                   runs=TRIMER_RUNS, reference="ssa mean", tolerance="two-sample z·SE (alpha 1e-4)",
                   worst=worst, passed=worst <= 1.0)
    assert np.all(difference <= z * se[1:]), (difference, z * se[1:])


@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_birth_death_stationary(solver, validation_row):
    """Stationary histogram of ∅→A (100/s), A→∅ (10/s) = Poisson(10) for m = 5..15.

    The indicator of {n = m} sampled every Δt = 0.1 s is autocorrelated; for this reversible
    immigration-death process every function's autocorrelation is a positive mixture of
    exp(-j·k·τ), j >= 1, so the variance inflation is at most (1 + e^{-kΔt}) / (1 - e^{-kΔt})
    = 2.16 (k = 10/s), which the SE uses. α = 1e-4 Bonferroni over the 11 bins.
    """
    require_solver(solver)
    mesh = meshes.kinetics_mesh()
    model = ts.Model()
    model.species("A")
    vsys = model.volume_system("vsys")
    volume = mesh.total_volume
    vsys.reaction("-> A", kf=100.0 / (1e3 * meshes.AVOGADRO * volume))
    vsys.reaction("A ->", kf=10.0)
    vsys.diffusion("A", meshes.MESH_D)
    geom = ts.geometry.MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vsys"])
    sim = ts.Simulation(model, geom, solver=solver, seed=5)
    sim.set_count("cyto", "A", 10)
    dt, t_burn, t_end = 0.1, 10.0, 2e5  # the validation case's one long run (>= 2e5 s)
    rec = sim.record(ts.Count("A", where="cyto"), every=dt)
    res = sim.run(t_end)
    counts = res[rec][0][res.times_of(rec) >= t_burn]
    m = np.arange(5, 16)
    freq = np.array([(counts == k).mean() for k in m])
    expected = poisson.pmf(m, 10.0)
    rho = np.exp(-10.0 * dt)
    se = np.sqrt(expected * (1 - expected) / len(counts) * (1 + rho) / (1 - rho))
    z = norm.isf(1e-4 / (2 * len(m)))
    worst = float(np.max(np.abs(freq - expected) / (z * se)))
    print(dict(samples=len(counts), worst_rel=float(np.max(np.abs(freq - expected) / expected)),
               worst_ratio=worst))
    validation_row(section="Kinetics on a mesh", case="birth-death stationary", solver=solver, runs=1,
                   reference="Poisson(10) for m = 5..15",
                   tolerance="z·SE per bin, SE x correlation inflation "
                   "(alpha 1e-4 / 11)", worst=worst, passed=worst <= 1.0,
                   notes=f"{len(counts):,} samples of one {t_end:g} s run")
    assert np.all(np.abs(freq - expected) <= z * se), (freq, expected, z * se)


# ---------------------------------------------------------------------------- FRAP: ssa vs ode
def test_frap_ssa_agrees_with_ode(validation_row):
    """The FRAP recovery of 20 ssa runs agrees with the ode curve on the same mesh (d0 branchlet).

    After the bleach every molecule moves independently and was bleached independently, so the
    fluorescent count in the bleach region is a sum of independent Bernoulli variables: its
    variance is at most its mean. The test uses the time-averaged count over 5 windows after
    the bleach (a window average of independent [0, 1] indicators also has variance <= mean)
    and checks ``|mean_ssa - ode| <= z * sqrt(ode / R)`` with α = 1e-4 Bonferroni over the
    windows, and the pre-bleach level likewise.

    Cost and power: the full protocol (25 µM, 2.5 s) costs ~1.3e9 events per ssa run on this
    mesh, so the test uses 1 µM (433 molecules), bleaches at 10 ms and follows the recovery for
    0.3 s (~3 τ), 20 runs (~1.2e8 events). Power scales with molecules × runs; this detects a
    bias of ~10 % in the recovered amount per window (a hop rate or bleach fraction off by
    ~25 %), not a 2 % one.
    """
    require_solver("ode")
    from tetrasim.examples_frap import frap_geometry, simulate_frap

    geometry = frap_geometry("d0")
    common = dict(t_end=0.31, t_bleach=0.01, dt=3.6e-3, conc=1e-6, seed=17)
    ode = simulate_frap(geometry, solver="ode", runs=1, **common)
    ssa = simulate_frap(geometry, solver="ssa", runs=20, **common)
    t = ssa.times
    windows = np.array_split(np.flatnonzero(t > common["t_bleach"]), 5)
    pre = np.flatnonzero(t < common["t_bleach"])
    z = norm.isf(1e-4 / (2 * (len(windows) + 1)))
    rows = []
    for idx in [pre, *windows]:
        ref = ode.bleach_counts[0, idx].mean()
        mean = ssa.bleach_counts[:, idx].mean()
        tol = z * np.sqrt(ref / ssa.runs)
        rows.append((float(t[idx].mean()), float(mean), float(ref), float(tol)))
    print(dict(tau_ssa_ms=ssa.tau * 1e3, tau_ode_ms=ode.tau * 1e3, windows=rows))
    worst = max(abs(mean - ref) / tol for _, mean, ref, tol in rows)
    validation_row(section="Science", case="FRAP recovery (d0): ssa vs ode", solver="ssa", runs=ssa.runs,
                   reference="ode on the same mesh",
                   tolerance="z·sqrt(mean/runs) per window (alpha 1e-4 / 6)",
                   worst=worst, passed=worst <= 1.0,
                   notes=f"tau ssa {ssa.tau * 1e3:.0f} ms, ode {ode.tau * 1e3:.0f} ms")
    for t_mid, mean, ref, tol in rows:
        assert abs(mean - ref) <= tol, f"t~{t_mid:.3f} s: ssa {mean:.2f} vs ode {ref:.2f} (tol {tol:.2f})"
