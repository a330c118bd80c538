"""Tier 0 tests of the ``expm`` method of ``ode``/``wm-ode`` (linear systems) and of the ODE defaults.

References never come from the code under test: the rate matrix ``K`` and source ``b`` of
``dy/dt = K y + b`` are assembled here from the compiled process arrays, and the exact
solution is SciPy's dense ``expm`` of the augmented matrix ``[[K, b], [0, 0]]``.

Tolerances are derived from what ``rtol`` promises for ``expm`` (docs/concepts/ode.md): the
error of every sample, in the volume-weighted norm ``|e|_w = sqrt(sum e_i^2 / w_i)``, is below
``rtol`` times the largest weighted norm of the state, so pool ``i`` is off by at most
``sqrt(w_i) * rtol * max_t |y(t)|_w``. The kinetics rows compare with closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import CapabilityError
from tetrasim.geometry import MeshGeometry


def rate_system(c, rx_rate, df_rate):
    """Dense ``K`` and ``b`` of a system whose reactions have order 0 or 1 (from compiled arrays)."""
    n = c.n_pools
    matrix, source = np.zeros((n, n)), np.zeros(n)
    for d in range(c.n_diffusions):
        for e in range(c.df_ptr[d], c.df_ptr[d + 1]):
            matrix[c.df_dest[e], c.df_pool[d]] += df_rate[e]
            matrix[c.df_pool[d], c.df_pool[d]] -= df_rate[e]
    for p in range(c.n_reactions):
        reactants = c.rx_reac_pool[c.rx_reac_ptr[p]:c.rx_reac_ptr[p + 1]]
        for e in range(c.rx_upd_ptr[p], c.rx_upd_ptr[p + 1]):
            if len(reactants) == 0:
                source[c.rx_upd_pool[e]] += c.rx_upd_delta[e] * rx_rate[p]
            else:
                matrix[c.rx_upd_pool[e], reactants[0]] += c.rx_upd_delta[e] * rx_rate[p]
    return matrix, source


def exact(matrix, source, y0, dt):
    n = len(y0)
    augmented = np.zeros((n + 1, n + 1))
    augmented[:n, :n], augmented[:n, n] = matrix, source
    return (scipy.linalg.expm(dt * augmented) @ np.append(y0, 1.0))[:n]


def graded_mesh_geometry(model_systems=("v",)):
    """36 tets of three sizes (x spacing 0.1, 0.3, 0.2 µm): unequal volumes, so K is not symmetric."""
    mesh = grid_mesh(3, 1, 2, 0.25e-6, xs=np.array([0.0, 0.1e-6, 0.4e-6, 0.6e-6]))
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", tets=np.arange(mesh.n_tets), systems=list(model_systems))
    return mesh, geom


def weighted_bound(sim, states, rtol):
    """Per-pool error bound ``sqrt(w_i) rtol max_t |y(t)|_w`` (w: element measure / median)."""
    c = sim.compiled
    weights = np.repeat(c.measure / np.median(c.measure[:c.n_volume]), c.n_species)
    largest = max(np.sqrt(np.sum(y * y / weights)) for y in states)
    return np.sqrt(weights) * rtol * largest


@pytest.mark.parametrize("linear_solver", ["direct", "krylov", "auto"])
@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_expm_reaction_diffusion_matches_dense_exponential(rtol, linear_solver):
    """Diffusion, conversion A->B, decay and a zero-order source on unequal tets, with a mid-run jump."""
    model = ts.Model()
    model.species("A", "B")
    v = model.volume_system("v")
    v.diffusion("A", 2e-12)
    v.diffusion("B", 0.5e-12)
    v.reaction("A -> B", kf=7.0)
    v.reaction("B ->", kf=3.0)
    v.reaction("-> A", kf=4e-4)  # M/s
    mesh, geom = graded_mesh_geometry()
    sim = ts.Simulation(model, geom, solver="ode", rtol=rtol, progress=False, linear_solver=linear_solver)
    assert sim.solver.method == "expm"
    y0 = np.zeros(sim.compiled.n_pools)
    y0[0] = 5000.0  # everything in tet 0: the sharpest start
    sim.set_count("cyto", "A", y0[0::2], per_element=True)
    every, first = 2e-3, 0.05
    rec = sim.record(ts.Count("A", where="cyto", per_element=True), every=every)
    rec_b = sim.record(ts.Count("B", where="cyto", per_element=True), every=every)
    res = sim.run(first)
    mid = np.asarray(sim.get_count("cyto", "A", per_element=True)) * 0.25  # "bleach" 75 % of A
    sim.set_count("cyto", "A", mid, per_element=True)
    res = sim.run(0.12)
    c = sim.compiled
    matrix, source = rate_system(c, c.rx_rate, c.df_rate)
    times = res.times_of(rec)
    jumped = exact(matrix, source, y0, first)
    jumped[0::2] *= 0.25
    # samples at t = first are the state before the jump (the first segment's last sample)
    states = np.array([exact(matrix, source, y0, t) if t <= first + 1e-12
                       else exact(matrix, source, jumped, t - first) for t in times])
    got = np.stack([res[rec][0], res[rec_b][0]], axis=-1).reshape(len(times), -1)
    bound = weighted_bound(sim, states, rtol)
    assert np.all(np.abs(got - states) <= bound)


def test_expm_conserves_molecules_to_round_off_even_at_loose_rtol():
    """Pure diffusion: the equilibrium is in the Krylov basis, so the total is exact to round-off."""
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    _mesh, geom = graded_mesh_geometry()
    sim = ts.Simulation(model, geom, solver="ode", rtol=1e-3, progress=False)
    counts = np.zeros(sim.compiled.n_elements)
    counts[0] = 1e6
    sim.set_count("cyto", "A", counts, per_element=True)
    rec = sim.record(ts.Count("A", where="cyto"), every=1e-3)
    res = sim.run(0.2)
    total = res[rec][0]
    # a few hundred rounded operations on 1e6 molecules: 1e-9 relative is far above round-off
    assert np.max(np.abs(total - 1e6)) <= 1e-9 * 1e6


def test_expm_reuses_its_factorisation_across_segments():
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    _mesh, geom = graded_mesh_geometry()
    sim = ts.Simulation(model, geom, solver="ode", progress=False, linear_solver="direct")
    sim.set_count("cyto", "A", 1000)
    sim.record(ts.Count("A", where="cyto"), every=1e-3)
    sim.run(0.05)
    counts = np.asarray(sim.get_count("cyto", "A", per_element=True))
    sim.set_count("cyto", "A", counts * np.linspace(0, 1, len(counts)), per_element=True)
    sim.run(0.1)
    assert sim.solver.stats["nlu"] == 1  # same rates, clamps and spacing: one LU for both segments
    sim.set_diffusion_coefficient("A", 2e-12)
    sim.run(0.15)
    assert sim.solver.stats["nlu"] == 2  # new rates: a new LU


def test_method_choice_and_errors():
    model = ts.Model()
    model.species("A", "C")
    model.volume_system("v").reaction("2 A -> C", kf=1e7)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    assert ts.Simulation(model, geom, solver="wm-ode").solver.method == "BDF"  # nonlinear
    with pytest.raises(CapabilityError, match="linear"):
        ts.Simulation(model, geom, solver="wm-ode", method="expm")
    linear = ts.Model()
    linear.species("A")
    linear.volume_system("v").reaction("A ->", kf=1.0)
    assert ts.Simulation(linear, geom, solver="wm-ode").solver.method == "expm"
    assert ts.Simulation(linear, geom, solver="wm-ode", method="BDF").solver.method == "BDF"


# ------------------------------------------------------------------ deterministic replicates
@pytest.mark.parametrize("method", ["expm", "BDF"])
def test_identical_deterministic_replicates_are_solved_once(method):
    model = ts.Model()
    model.species("A", "B")
    model.volume_system("v").reaction("A <-> B", kf=3.0, kb=1.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    work = {}
    for runs in (1, 4):
        sim = ts.Simulation(model, geom, solver="wm-ode", method=method, progress=False)
        sim.set_count("c", "A", 1000.0)
        rec = sim.record(ts.Count("A", where="c"), every=0.1)
        res = sim.run(1.0, runs=runs)
        work[runs] = (dict(sim.solver.stats), res[rec])
    assert work[4][0] == work[1][0]  # the same solver work for 4 replicates as for 1
    assert np.array_equal(work[4][1], np.repeat(work[1][1], 4, axis=0))
    # distinct initial states are still solved one by one (linear system: 2x the start, 2x the curve)
    sim = ts.Simulation(model, geom, solver="wm-ode", method=method, progress=False)
    sim.set_count("c", "A", np.array([[1000.0], [2000.0], [1000.0]]), per_element=True)
    rec = sim.record(ts.Count("A", where="c"), every=0.1)
    data = sim.run(1.0)[rec]
    np.testing.assert_allclose(data[1], 2 * data[0], rtol=1e-5)
    assert np.array_equal(data[2], data[0])


# ------------------------------------------------------------------ default tolerances
A0 = 10e-6


def _kinetics(reactions, initial, t_end=1.0, every=0.01):
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    for equation, k in reactions:
        v.reaction(equation, kf=k)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ode", progress=False)  # default tolerances
    for species, conc in initial.items():
        sim.set_conc("c", species, conc)
    recs = {s: sim.record(ts.Conc(s, where="c"), every=every) for s in initial}
    res = sim.run(t_end)
    return res.times_of(recs["A"]), {s: res[r][0] for s, r in recs.items()}


def _unequal_ab(t, k, a0, b0):
    ratio = (b0 / a0) * np.exp(-(a0 - b0) * k * t)
    a = (a0 - b0) / (1 - ratio)
    return a, a - (a0 - b0)


@pytest.mark.parametrize("row", ["2A->C", "A+B->C equal", "A+B->C unequal", "3A->C", "A->", "A<->B"])
def test_default_tolerances_give_1e6_relative_error_on_the_kinetics_rows(row):
    """The VALIDATION kinetics rows with default rtol (1e-6): every sample within 1e-6 relative."""
    if row == "2A->C":
        t, d = _kinetics([("2 A -> C", 1e7)], {"A": A0})
        pairs = [(d["A"], 1 / (1 / A0 + 2 * 1e7 * t))]
    elif row == "A+B->C equal":
        t, d = _kinetics([("A + B -> C", 5e7)], {"A": 20e-6, "B": 20e-6})
        pairs = [(d["A"], 1 / (1 / 20e-6 + 5e7 * t))]
    elif row == "A+B->C unequal":
        t, d = _kinetics([("A + B -> C", 5e6)], {"A": 1e-6, "B": 0.5e-6})
        a, b = _unequal_ab(t, 5e6, 1e-6, 0.5e-6)
        pairs = [(d["A"], a), (d["B"], b)]
    elif row == "3A->C":
        t, d = _kinetics([("3 A -> C", 1e12)], {"A": 100e-6})
        pairs = [(d["A"], (1 / 100e-6**2 + 6 * 1e12 * t) ** -0.5)]
    elif row == "A->":
        t, d = _kinetics([("A ->", 5.0)], {"A": A0}, every=0.1)
        pairs = [(d["A"], A0 * np.exp(-5.0 * t))]
    else:
        t, d = _kinetics([("A -> B", 10.0), ("B -> A", 2.0)], {"A": A0, "B": 0.0})
        pairs = [(d["A"], A0 * (2 / 12 + 10 / 12 * np.exp(-12 * t)))]
    for got, want in pairs:
        assert np.max(np.abs(got - want) / np.abs(want)) <= 1e-6


def test_expm_restarts_when_the_space_is_full(monkeypatch):
    """A basis capped at 40 vectors: windows restart from the last converged sample and still agree."""
    from tetrasim.solvers import ode_linear

    monkeypatch.setattr(ode_linear, "_MAX_BASIS_BYTES", 1)  # -> the 40-vector floor
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-10)
    mesh = grid_mesh(40, 1, 1, 0.25e-6)  # a 10 µm bar: slow modes, so 0.3 s needs many vectors
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", tets=np.arange(mesh.n_tets), systems=["v"])
    rtol = 1e-10
    sim = ts.Simulation(model, geom, solver="ode", rtol=rtol, progress=False)
    y0 = np.zeros(sim.compiled.n_pools)
    y0[0] = 1e4
    sim.set_count("cyto", "A", y0, per_element=True)
    rec = sim.record(ts.Count("A", where="cyto", per_element=True), every=1e-3)
    res = sim.run(0.3)
    assert sim.solver.stats["steps"] > 1  # it did restart
    c = sim.compiled
    matrix, source = rate_system(c, c.rx_rate, c.df_rate)
    step = scipy.linalg.expm(1e-3 * matrix)  # uniform samples: one propagator, applied repeatedly
    states = [y0]
    for _ in res.times_of(rec)[1:]:
        states.append(step @ states[-1])
    states = np.array(states)
    assert np.all(np.abs(res[rec][0] - states) <= weighted_bound(sim, states, rtol))
    assert abs(res[rec][0][-1].sum() - 1e4) <= 1e-9 * 1e4


def test_expm_catalyst_feeding_a_diffusing_species():
    """A -> A + X: A is conserved but its uniform state is not stationary (it makes X everywhere);
    putting that state in the basis would bend the Krylov sequence (a bug once: X 230x too low)."""
    model = ts.Model()
    model.species("A", "X")
    v = model.volume_system("v")
    v.reaction("A -> A + X", kf=300.0)
    v.diffusion("X", 1e-11)
    _mesh, geom = graded_mesh_geometry()
    rtol = 1e-8
    sim = ts.Simulation(model, geom, solver="ode", rtol=rtol, progress=False)
    y0 = np.zeros(sim.compiled.n_pools)
    y0[0] = 1000.0  # A in tet 0 only
    sim.set_count("cyto", "A", y0[0::2], per_element=True)
    rec = sim.record(ts.Count("X", where="cyto", per_element=True), every=2e-3)
    res = sim.run(0.05)
    c = sim.compiled
    matrix, source = rate_system(c, c.rx_rate, c.df_rate)
    states = np.array([exact(matrix, source, y0, t) for t in res.times_of(rec)])
    bound = weighted_bound(sim, states, rtol)[1::2]
    assert np.all(np.abs(res[rec][0] - states[:, 1::2]) <= bound)
    np.testing.assert_allclose(res[rec][0][-1].sum(), 300.0 * 1000.0 * 0.05, rtol=1e-6)
