"""Tier 1 statistical tests of ``opsplit`` on small meshes (every species diffusing at 1e-12 m²/s).

Tolerances are derived, never tuned (DESIGN.md §7): each test has a false-alarm budget
α = 1e-4, Bonferroni-split over its z-tests (``stats.z_threshold``); seeds are fixed.

Why exact references apply: for first-order reactions every molecule reacts independently
of the others and of where it is, and opsplit runs an *exact* SSA of the reactions in every
tet, while diffusion only moves molecules (it conserves them exactly). So the total count of
a first-order network is exactly distributed as in the well-mixed model: the splitting
introduces no bias there, and the tests hold at any sample size. Likewise pure diffusion
moves molecules independently (binomial leaving + multinomial face split = independent
per-molecule moves), so the count in a sub-region at equilibrium is Binomial(N, V1/V).
Second-order reactions are different: see :func:`test_second_order_within_splitting_budget`.
"""

from __future__ import annotations

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from stats import binomial_mu4, mean_check, variance_check
from tetrasim.geometry import MeshGeometry
from tetrasim.units import AVOGADRO

D = 1e-12
MESH = dict(nx=3, ny=3, nz=3, h=0.25e-6)  # 162 tets, 0.42 µm³


def mesh_sim(reactions, species, seed, mesh=None):
    mesh = mesh if mesh is not None else grid_mesh(**MESH)
    model = ts.Model()
    model.species(*species)
    system = model.volume_system("v")
    for equation, kf, *kb in reactions:
        system.reaction(equation, kf=kf, kb=kb[0] if kb else None)
    for name in species:
        system.diffusion(name, D)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    return ts.Simulation(model, geom, solver="opsplit", seed=seed, progress=False)


def assert_checks(*checks):
    messages = [check.describe() for check in checks]
    print("\n".join(messages))
    for check, message in zip(checks, messages, strict=True):
        assert check.passed, message


def test_first_order_decay_mean_and_variance():
    """A → ∅, k = 5 s⁻¹, N0 = 50 (VALIDATION.md), 1,000 runs, t = 0.1 … 1 s.

    The count is exactly Binomial(N0, e^(−kt)). Detects: a wrong first-order rate or event
    time in the SSA operator (e.g. the step length h not honoured, events past h applied),
    lost or duplicated molecules in the diffusion operator, correlated draws between runs or
    steps (variance), at the level of ~5 standard errors of the mean (≈ 1 % of N0 e^(−kt)).
    """
    k, n0, runs = 5.0, 50, 1000
    sim = mesh_sim([("A ->", k)], ["A"], seed=101)
    sim.set_count("c", "A", n0)
    rec = sim.record(ts.Count("A", where="c"), every=0.1)
    data = sim.run(1.0, runs=runs)[rec][:, 1:]
    t = np.arange(1, 11) * 0.1
    p = np.exp(-k * t)
    m = 2 * len(t)
    assert_checks(
        mean_check(data, n0 * p, m, expected_variance=n0 * p * (1 - p), label="decay mean"),
        variance_check(data, n0 * p * (1 - p), m, expected_mu4=binomial_mu4(n0, p), label="decay variance"),
    )


def test_reversible_isomerisation_mean_and_variance():
    """A ⇌ B, kf = 10, kb = 2 s⁻¹ (VALIDATION.md), N = 400 molecules all A, 300 runs.

    Each molecule is A at time t with p(t) = kb/(kf+kb) + kf/(kf+kb)·e^(−(kf+kb)t), independently,
    so A(t) ~ Binomial(N, p(t)) exactly, in the transient and at equilibrium (t ≥ 0.7 s).
    Detects: a wrong balance of the two directions (equilibrium shift ≳ 1.5 %), a wrong
    relaxation rate, and any coupling of the two directions' draws (variance).
    """
    kf, kb, n, runs = 10.0, 2.0, 400, 300
    sim = mesh_sim([("A <-> B", kf, kb)], ["A", "B"], seed=202)
    sim.set_count("c", "A", n)
    rec = sim.record(ts.Count("A", where="c"), every=0.1)
    rec_b = sim.record(ts.Count("B", where="c"), every=0.1)
    res = sim.run(1.0, runs=runs)
    np.testing.assert_array_equal(res[rec] + res[rec_b], n)  # exact conservation
    picks = np.array([1, 3, 7, 8, 9, 10])  # transient and t >= 0.7 s
    data = res[rec][:, picks]
    t = picks * 0.1
    p = kb / (kf + kb) + kf / (kf + kb) * np.exp(-(kf + kb) * t)
    m = 2 * len(t)
    assert_checks(
        mean_check(data, n * p, m, expected_variance=n * p * (1 - p), label="A mean"),
        variance_check(data, n * p * (1 - p), m, expected_mu4=binomial_mu4(n, p), label="A variance"),
    )


def test_diffusion_equilibrium_is_binomial_in_volume_fraction():
    """N = 200 molecules start in one corner tet of a box with unequal cells; at t = 0.8, 1 s
    the count left of x = 0.45 µm is Binomial(N, V1/V) with V1/V = 0.45 (300 runs).

    The slowest mode relaxes at D·π²/L² = 9.9 s⁻¹, so the start is forgotten to 2e-4 of N at
    0.8 s. Detects: a stationary distribution not proportional to volume (e.g. the coupling
    A/(V·δ) normalised by the wrong tet's volume, or a face split that ignores the face
    rates), molecules lost or created, and correlated moves (variance ≠ N p q).
    """
    xs = np.array([0.0, 0.2, 0.45, 0.7, 1.0]) * 1e-6  # 96 tets of 3 volumes, 1 µm long
    mesh = grid_mesh(ny=2, nz=2, h=0.25e-6, xs=xs)
    assert len(np.unique(np.round(mesh.tet_volumes * 1e24, 6))) == 3
    n, runs = 200, 300
    sim = mesh_sim([], ["A"], seed=303, mesh=mesh)
    sim.geometry.roi("left", tets=np.flatnonzero(mesh.tet_barycenters[:, 0] < 0.45e-6))
    sim.set_count(ts.Tet(0), "A", n)
    rec = sim.record(ts.Count("A", where="left"), every=0.2)
    data = sim.run(1.0, runs=runs)[rec][:, [4, 5]]
    fraction = mesh.tet_volumes[sim.geometry.rois["left"].tets].sum() / mesh.tet_volumes.sum()
    assert fraction == pytest.approx(0.45, rel=1e-12)
    m = 4
    assert_checks(
        mean_check(data, n * fraction, m, expected_variance=n * fraction * (1 - fraction), label="left mean"),
        variance_check(data, n * fraction * (1 - fraction), m, expected_mu4=binomial_mu4(n, fraction),
                       label="left variance"),
    )


def test_second_order_within_splitting_budget():
    """A + B → C, k = 5e6 M⁻¹s⁻¹, A0 = B0 = 20 µM (VALIDATION.md mesh case), 100 runs, t ≤ 50 ms.

    Splitting-bias budget. In a tet a pair (A, B) reacts at the mesoscopic rate
    c = k / (1e3·N_A·V_tet) (3.2 s⁻¹ here). Reactions deplete pairs locally, anticorrelating
    n_A and n_B in a tet, which lowers the effective rate below mean field; diffusion
    relaxes that correlation at a rate ≥ Σd_min (the smallest leaving rate), so even the
    exact spatial SSA runs slow by a relative ε_mesh ≤ c/Σd_min. Operator splitting freezes
    the remixing for up to one step τ, adding at most the probability that a given pair reacts
    within one step, ε_split ≤ c·τ. So the mean lies between the mean-field solution
    1/[A] = 1/A0 + k·t and the one with k·(1 − ε), ε = c/Σd_min + c·τ (1.4 % here), widened by
    z·SE on both sides. Measured (seed below): the bias is 0.2–0.4 % (z·SE ≈ 0.5–0.8 %),
    like the exact ``ssa``'s (≈ 0.3–0.7 % in an exploratory 20-run comparison on a 384-tet
    box), i.e. well inside the budget.

    Detects: errors of the second-order propensity larger than ~3 % (a factor 2 from the
    pair count, a wrong volume in c, the occupancy mistaken for the count in the SSA).
    It cannot resolve the splitting bias itself: tests/validation/test_opsplit_convergence.py
    measures that against the exact master equation.
    """
    k, a0, runs = 5e6, 20e-6, 100
    sim = mesh_sim([("A + B -> C", k)], ["A", "B", "C"], seed=404)
    sim.set_conc("c", "A", a0)
    sim.set_conc("c", "B", a0)
    rec = sim.record(ts.Count("A", where="c"), every=0.01)
    data = sim.run(0.05, runs=runs)[rec][:, 1:].astype(float)
    c, tau = sim.compiled, sim.solver.tau
    volume = c.measure[: c.n_volume].sum()
    per_pair = c.rx_rate.max()
    assert per_pair == pytest.approx(k / (1e3 * AVOGADRO * c.measure[0]), rel=1e-12)
    epsilon = per_pair / c.df_total.min() + per_pair * tau
    n0 = round(a0 * 1e3 * AVOGADRO * volume)
    t = np.arange(1, 6) * 0.01
    conc = 1e3 * AVOGADRO * volume
    mean_field = conc / (1 / a0 + k * t)
    slowed = conc / (1 / a0 + k * (1 - epsilon) * t)
    budget = slowed - mean_field
    se = data.std(axis=0, ddof=1) / np.sqrt(runs)
    check = mean_check(data, mean_field, len(t), label="A mean")
    z = check.threshold
    deviation = data.mean(axis=0) - mean_field
    print(f"N0 = {n0}, tau = {tau:.3g} s, c = {per_pair:.3g}/s, epsilon = {epsilon:.3%}; relative bias "
          f"{np.array2string(deviation / mean_field, precision=4)}, budget "
          f"{np.array2string(budget / mean_field, precision=4)}, "
          f"z*SE {np.array2string(z * se / mean_field, precision=4)}")
    assert np.all(deviation <= budget + z * se), "opsplit reacts slower than the splitting budget allows"
    assert np.all(deviation >= -z * se), "opsplit reacts faster than mean field: second-order rate too high"
