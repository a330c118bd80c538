"""VALIDATION.md: the bias of ``opsplit`` against the exact spatial SSA shrinks when dt shrinks.

The observable
--------------
A linear model on a 192-tet box (8 x 2 x 2 cubes of 0.25 µm, 2 µm long): species A diffuses
(D = 1e-12 m²/s) everywhere and is destroyed (A → ∅, k = 500 s⁻¹ ≈ 1/τ) in a *sink*
compartment, the tets with x > 0.5 µm, joined to the rest by a diffusion boundary. N = 1e5
molecules start in the corner tet at x = 0. Observables at T = 20 ms (≈ 11 τ):

* the fraction absorbed by the sink, ``1 − A(T)/N``;
* the fraction still in the first slab, x < 0.25 µm.

Why this one: it is where splitting error is large. Reaching the sink in 11 steps needs the
fast tail of the diffusion front; the binomial diffusion step moves a molecule at most one
tet per step and its mean is the forward-Euler map I + τ·L of the diffusion generator L,
and the sink's decay and the diffusion into it do not commute (Lie splitting, error O(τ)).

The reference is exact, not sampled: every process is first order, so the mean of the
spatial master equation -- the one the exact ``ssa`` samples -- obeys dm/dt = M m exactly;
it is computed with ``expm_multiply`` (tests/meshes.py: ``mesh_mean``), equivalent to
infinitely many ``ssa`` runs. ``ssa`` itself is run too, and must agree with it (z-test).

Molecules are independent, so a run's count is a sum of N Bernoulli variables; the sample
standard error over R = 20 runs of N = 1e5 molecules is ~1e-4 in fraction, and the
splitting bias at dt = τ is ~6e-3 (~80 SE): the test has power. It asserts

1. the bias at dt = τ is significant (|b| > z·SE): else the test could not fail;
2. |bias(τ/4)| < |bias(τ)| with margin z·sqrt(SE₁² + SE₄²);
3. first-order convergence at least: |bias(τ/4)| + z·SE₄ < ½·(|bias(τ)| − z·SE₁) (first
   order predicts ¼);
4. ``ssa`` agrees with the exact mean.

z is the two-sided threshold for α = 1e-4, Bonferroni over all z-tests of the case.
Measured (seed 7, CPU): see the printed table and docs/concepts/opsplit.md.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from meshes import mesh_mean
from stats import z_threshold
from tetrasim.geometry import MeshGeometry

pytestmark = pytest.mark.validation
VALIDATION_SECTION = "Diffusion"

N = 100_000
T = 0.02
RUNS = 20
SSA_RUNS = 4
FACTORS = (1, 2, 4, 8)


def build(solver, seed=7, **options):
    mesh = grid_mesh(8, 2, 2, 0.25e-6)
    x = mesh.tet_barycenters[:, 0]
    model = ts.Model()
    model.species("A")
    model.volume_system("move").diffusion("A", 1e-12)
    model.volume_system("kill").reaction("A ->", kf=500.0)
    geom = MeshGeometry(mesh)
    geom.compartment("bulk", tets=np.flatnonzero(x <= 0.5e-6), systems=["move"])
    geom.compartment("sink", tets=np.flatnonzero(x > 0.5e-6), systems=["move", "kill"])
    geom.diffusion_boundary("membrane", between=("bulk", "sink"), species=["A"])
    geom.roi("first", tets=np.flatnonzero(x < 0.25e-6))
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False, **options)
    source = int(np.lexsort(mesh.tet_barycenters.T[::-1])[0])  # smallest x, then y, then z
    sim.set_count(ts.Tet(source), "A", N)
    return sim


def observe(sim, runs):
    """(absorbed fraction, first-slab fraction) per run at T."""
    recs = [sim.record(ts.Count("A", where=w), every=T) for w in ("bulk", "sink", "first")]
    res = sim.run(T, runs=runs)
    bulk, sink, first = (res[r][:, -1].astype(float) for r in recs)
    return np.stack([1 - (bulk + sink) / N, first / N], axis=1)


def test_opsplit_bias_shrinks_with_dt(validation_row):
    start = time.perf_counter()
    reference_sim = build("opsplit")
    tau = reference_sim.solver.tau
    c = reference_sim.compiled
    exact_counts = mesh_mean(reference_sim, reference_sim._template.astype(float), [T])[0]
    first_pools = reference_sim.geometry.rois["first"].tets * c.n_species
    exact = np.array([1 - exact_counts.sum() / N, exact_counts[first_pools].sum() / N])
    # independent molecules: per-run variance of a fraction is p (1 - p) / N
    se_runs = np.sqrt(exact * (1 - exact) / N)

    bias, se = {}, {}
    for f in FACTORS:
        samples = observe(build("opsplit", dt=tau / f), RUNS)
        bias[f] = samples.mean(axis=0) - exact
        se[f] = se_runs / np.sqrt(RUNS)
    ssa = observe(build("ssa"), SSA_RUNS)
    ssa_bias, ssa_se = ssa.mean(axis=0) - exact, se_runs / np.sqrt(SSA_RUNS)

    # 2 observables x (significance, shrink, order, ssa) z-tests
    z = z_threshold(8)
    lines = [f"tau = {tau:.4g} s, exact: absorbed {exact[0]:.5f}, first slab {exact[1]:.5f}; z = {z:.3g}",
             f"{'dt':>8} {'bias absorbed':>14} {'bias first':>12} {'SE abs.':>9} {'SE first':>9}"]
    for f in FACTORS:
        label = f"tau/{f}"
        lines.append(f"{label:>8} {bias[f][0]:14.3e} {bias[f][1]:12.3e} {se[f][0]:9.2e} {se[f][1]:9.2e}")
    lines.append(f"{'ssa':>8} {ssa_bias[0]:14.3e} {ssa_bias[1]:12.3e} {ssa_se[0]:9.2e} {ssa_se[1]:9.2e}")
    print("\n".join(lines))

    b1, b4 = np.abs(bias[1]), np.abs(bias[4])
    significant = b1 / (z * se[1])
    shrink = (b1 - b4) / (z * np.hypot(se[1], se[4]))
    order = (0.5 * (b1 - z * se[1])) / (b4 + z * se[4])
    ssa_z = np.abs(ssa_bias) / ssa_se
    passed = bool(np.all(significant > 1) and np.all(shrink > 1) and np.all(order > 1) and np.all(ssa_z <= z))
    validation_row(
        section="Diffusion", case="opsplit convergence: sink absorption and source slab at 20 ms",
        solver="opsplit",
        runs=RUNS, reference="exact master-equation mean (expm_multiply); ssa cross-check",
        tolerance=f"z = {z:.3g} (alpha 1e-4 / 8)", worst=float(np.max(ssa_z) / z), passed=passed,
        notes="; ".join(f"bias(tau/{f}) = {bias[f][0]:.2e}, {bias[f][1]:.2e}" for f in FACTORS),
        wall_s=time.perf_counter() - start)
    assert np.all(significant > 1), f"the bias at dt = tau is not measurable: {lines}"
    assert np.all(shrink > 1), f"the bias does not shrink from dt = tau to tau/4: {lines}"
    assert np.all(order > 1), f"the bias shrinks slower than first order: {lines}"
    assert np.all(ssa_z <= z), f"ssa disagrees with the exact mean: {lines}"
