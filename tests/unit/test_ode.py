"""Tier 0 tests of the deterministic solvers ``wm-ode`` and ``ode``.

Tolerances are derived, never tuned:

* Kernel vs NumPy twin and Jacobian vs finite differences: floating-point error bounds.
  A sum of ``K`` rounded terms is off by at most ``gamma_K * S`` (``gamma_K = K u / (1 - K u)``,
  ``u = eps/2``), with ``S`` the sum of the absolute values of the terms. The right-hand side is
  a polynomial of degree <= 3 in each single variable, so the five-point central difference
  is *exact* for it; only the rounding of the four evaluations remains.
* Integrations: the step-size controller keeps each step's local error below
  ``rtol * |y| + atol`` per component in the RMS norm, so below ``sqrt(n) * (rtol * |y| + atol)``
  in each of the ``n`` components. Every test system is non-expansive (its Jacobian has a
  non-positive logarithmic 1-norm: decay, closed mass action, diffusion), so local errors do
  not grow and the global error is at most their sum: ``steps * sqrt(n) * (rtol * max|y| + atol)``
  (:func:`_budget`). With ``rtol = 1e-10`` that budget is ~1e-7 relative, small enough to catch
  a wrong convention (falling factorial instead of power: ~1/N ~ 1e-4; a factor 2 in a rate).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import tetrasim as ts
from tetrasim.compile import compiler
from tetrasim.compile.discretize import Discretization
from tetrasim.errors import CapabilityError, SimulationError
from tetrasim.kernels import reference
from tetrasim.kernels.ode import bicgstab_jacobi, ode_rhs
from tetrasim.solvers.base import Runtime
from tetrasim.solvers.ode import ODESolver
from tetrasim.units import AVOGADRO

EPS = np.finfo(float).eps
RTOL = 1e-10  # tight, so the derived budget is sensitive (see module docstring)


def _gamma(k: int) -> float:
    u = EPS / 2
    return k * u / (1 - k * u)


# ---------------------------------------------------------------------------- helpers
class _FakeMesh:
    """A mesh-like geometry whose discretization is built by hand (a chain of elements)."""

    is_mesh = True
    rois: dict = {}
    compartments: dict = {}  # only looked at by compile_system's input check
    patches: dict = {}

    def __init__(self, disc: Discretization):
        self.disc = disc


@pytest.fixture
def fake_mesh(monkeypatch):
    original = compiler.discretize

    def discretize(geometry):
        return geometry.disc if isinstance(geometry, _FakeMesh) else original(geometry)

    monkeypatch.setattr(compiler, "discretize", discretize)
    return _FakeMesh


def chain(volumes, face_area=1e-14, spacing=1e-7, systems=("v",)) -> Discretization:
    """Elements 0-1-2-... in a line: coupling i->j = A / (V_i * delta), as DESIGN.md §4."""
    volumes = np.asarray(volumes, dtype=np.float64)
    n = len(volumes)
    neighbors = np.full((n, 4), -1, np.int64)
    neighbors[1:, 0] = np.arange(n - 1)
    neighbors[:-1, 1] = np.arange(1, n)
    couplings = np.where(neighbors >= 0, face_area / (volumes[:, None] * spacing), 0.0)
    return Discretization(
        n_volume=n, n_surface=0, measure=volumes, compartment_elements={"cyto": np.arange(n, dtype=np.int64)},
        compartment_systems={"cyto": list(systems)}, patch_elements={}, patch_systems={}, patch_inner={},
        patch_outer={}, surface_inner=np.zeros(0, np.int64), surface_outer=np.zeros(0, np.int64),
        volume_neighbors=neighbors, volume_couplings=couplings, element_kind="tet")


def rich_model(diffusing=("A", "C")):
    """Orders 0, 1, 2, 3, a catalyst, a reversible second-order reaction."""
    model = ts.Model()
    model.species("A", "B", "C", "D")
    v = model.volume_system("v")
    v.reaction("-> A", kf=2e-6)  # order 0 (M/s)
    v.reaction("A -> B", kf=3.0)  # order 1
    v.reaction("A + B -> C", kf=4e8)  # order 2
    v.reaction("2 A + B -> D", kf=1e14)  # order 3, mixed
    v.reaction("3 D -> A", kf=5e13)  # order 3, cubic
    v.reaction("A + B -> A + C", kf=2e8)  # catalyst A
    v.reaction("2 B <-> C", kf=3e8, kb=7.0)  # reversible, second order forward
    for name in diffusing:
        v.diffusion(name, 1e-12)
    return model


def ode_arrays(solver):
    c, rt = solver.compiled, solver.runtime
    return (rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr, c.rx_upd_pool,
            c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest, rt.df_rate)


def make_solver(model, geometry, **options):
    compiled = ts.compile_system(model, geometry)
    runtime = Runtime(rx_rate=compiled.rx_rate.copy(), df_rate=compiled.df_rate.copy(),
                      df_total=compiled.df_total.copy(), clamped=np.zeros(compiled.n_pools, bool))
    return ODESolver(compiled, runtime, **options)


def abs_terms(solver, y):
    """Per pool: number of summed terms K and the sum S of their absolute values."""
    (rx_rate, reac_ptr, reac_pool, reac_count, upd_ptr, upd_pool, upd_delta, df_pool, df_ptr, df_dest,
     df_rate) = ode_arrays(solver)
    a = reference.ode_reaction_rates(np.abs(y), rx_rate, reac_ptr, reac_pool, reac_count)
    n = len(y)
    total = np.zeros(n)
    count = np.zeros(n, np.int64)
    upd_owner = np.repeat(np.arange(len(rx_rate)), np.diff(upd_ptr))
    np.add.at(total, upd_pool, np.abs(upd_delta) * a[upd_owner])
    np.add.at(count, upd_pool, 1)
    source = df_pool[np.repeat(np.arange(len(df_pool)), np.diff(df_ptr))]
    flux = df_rate * np.abs(y[source])
    np.add.at(total, source, flux)
    np.add.at(total, df_dest, flux)
    np.add.at(count, source, 1)
    np.add.at(count, df_dest, 1)
    max_order = int(max([0] + [reac_count[reac_ptr[p]:reac_ptr[p + 1]].sum() for p in range(len(rx_rate))]))
    return count + max_order + 2, total  # +order+2: the rounding of each product c * prod y^nu * delta


def _budget(sim, exact, atol):
    """Global error budget (see module docstring) for solution values ``exact``."""
    stats = sim.solver.stats
    n = sim.compiled.n_pools
    return stats["steps"] * math.sqrt(n) * (sim.solver.rtol * np.max(np.abs(exact)) + atol)


def well_mixed(equation, kf, kb=None, volume=1e-18, species=("A", "B", "C"), name="r"):
    model = ts.Model()
    model.species(*species)
    model.volume_system("v").reaction(equation, kf=kf, kb=kb, name=name)
    geom = ts.WellMixed()
    geom.compartment("c", volume=volume, systems=["v"])
    return model, geom


# ---------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("clamp", [False, True])
def test_rhs_kernel_matches_reference_twin(fake_mesh, clamp):
    solver = make_solver(rich_model(), fake_mesh(chain([1e-21, 2e-21, 1.5e-21])))
    rng = np.random.default_rng(1)
    n = solver.compiled.n_pools
    for _ in range(20):
        y = rng.uniform(0, 1000, n) * (rng.random(n) < 0.8)
        clamped = (rng.random(n) < 0.3) if clamp else np.zeros(n, bool)
        got = np.empty(n)
        ode_rhs(y, clamped, *ode_arrays(solver), got)
        want = reference.ode_rhs(y, clamped, *ode_arrays(solver))
        k, s = abs_terms(solver, y)
        bound = 2 * np.array([_gamma(int(ki)) for ki in k]) * s  # both sides rounded
        assert np.all(np.abs(got - want) <= bound)
        assert np.all(got[clamped] == 0.0)


def test_rhs_matches_hand_computed_rates():
    """2A -> C in V: dA/dt = -2 c A^2 with c = k / (1e3 V N_A) (so d[A]/dt = -2 k [A]^2, as STEPS)."""
    k, volume = 1e7, 1e-18
    model, geom = well_mixed("2 A -> C", k, volume=volume)
    solver = make_solver(model, geom)
    y = np.array([6000.0, 0.0, 10.0])
    c = k / (1e3 * volume * AVOGADRO)
    want = np.array([-2 * c * 6000.0**2, 0.0, c * 6000.0**2])
    np.testing.assert_allclose(solver.rhs(y), want, rtol=4 * EPS)


@pytest.mark.parametrize("clamp", [False, True])
def test_jacobian_matches_reference_and_finite_differences(fake_mesh, clamp):
    solver = make_solver(rich_model(), fake_mesh(chain([1e-21, 2e-21, 1.5e-21])))
    rng = np.random.default_rng(2)
    n = solver.compiled.n_pools
    h = 2.0**-4  # states are multiples of 1/8, so y +- h, y +- 2h are exact
    for _ in range(5):
        y = np.round(rng.uniform(0, 300, n) * 8) / 8
        clamped = (rng.random(n) < 0.3) if clamp else np.zeros(n, bool)
        jac = solver.jacobian(y, clamped).toarray()
        # (1) the dense NumPy twin: each entry is a sum of products of <= 4 factors
        twin = reference.ode_jacobian_dense(y, clamped, *ode_arrays(solver))
        abs_twin = np.abs(reference.ode_jacobian_dense(np.abs(y), clamped, *ode_arrays(solver)[:6],
                                                       np.abs(solver.compiled.rx_upd_delta),
                                                       *ode_arrays(solver)[7:]))
        terms = solver.compiled.n_reactions + 8
        assert np.all(np.abs(jac - twin) <= 2 * _gamma(terms) * (abs_twin + np.abs(twin)) + 0.0)
        # (2) the five-point difference, exact for polynomials of degree <= 4 in one variable
        for j in range(n):
            points = []
            sums = []
            for step in (-2, -1, 1, 2):
                yp = y.copy()
                yp[j] += step * h
                points.append(solver.rhs(yp, clamped))
                k, s = abs_terms(solver, yp)
                sums.append(np.array([_gamma(int(ki)) for ki in k]) * s)
            fd = (points[0] - 8 * points[1] + 8 * points[2] - points[3]) / (12 * h)
            rounding = (sums[0] + 8 * sums[1] + 8 * sums[2] + sums[3]) / (12 * h)
            bound = rounding + _gamma(6) * (np.abs(fd) + np.abs(jac[:, j]))
            assert np.all(np.abs(jac[:, j] - fd) <= bound), (j, np.max(np.abs(jac[:, j] - fd) - bound))
        assert np.all(jac[clamped] == 0.0)


def test_jacobian_pattern_sums_duplicate_slots():
    """A + B -> A + C: the catalyst's column gets entries only through B and C rows."""
    model, geom = well_mixed("A + B -> A + C", 1e8)
    solver = make_solver(model, geom)
    y = np.array([3.0, 5.0, 7.0])
    c = solver.runtime.rx_rate[0]
    want = np.array([[0, 0, 0], [-c * 5, -c * 3, 0], [c * 5, c * 3, 0]])
    np.testing.assert_allclose(solver.jacobian(y).toarray(), want, rtol=4 * EPS)
    assert solver.jacobian(y).nnz == 4  # no structural entries in the catalyst's own row


def test_bicgstab_kernel_solves_newton_systems():
    """The Krylov kernel meets its residual target on I - c J of a diffusion chain."""
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    n = 500
    off = rng.uniform(1.0, 100.0, n - 1)
    jac = sp.diags([off, -np.r_[off, 0] - np.r_[0, off], off], [-1, 0, 1], format="csr")
    b = rng.standard_normal(n)
    for c in (1e-3, 1e-1, 10.0):
        matrix = (sp.eye(n) - c * jac).tocsr()
        x = np.zeros(n)
        iterations = bicgstab_jacobi(matrix.indptr, matrix.indices, matrix.data, 1 / matrix.diagonal(), b, x,
                                     1e-10, 1000)
        assert iterations > 0
        assert np.linalg.norm(b - matrix @ x) <= 1e-10 * np.linalg.norm(b)


# ---------------------------------------------------------------------------- analytic solutions
def run_wm(model, geom, initial, t_end, every, record="A", **options):
    sim = ts.Simulation(model, geom, solver="wm-ode", rtol=RTOL, **options)
    for species, count in initial.items():
        sim.set_count("c", species, count)
    rec = {s: sim.record(ts.Count(s, where="c"), every=every) for s in record}
    res = sim.run(t_end)
    return sim, res, {s: res[r][0] for s, r in rec.items()}


def _atol(sim, initial_total):
    solver = sim.solver
    return solver.atol if solver.atol is not None else solver.default_atol(np.array([initial_total]))


def test_first_order_decay():
    model, geom = well_mixed("A ->", 5.0, volume=9e-18)
    sim, res, data = run_wm(model, geom, {"A": 50}, 1.0, 0.1)
    exact = 50 * np.exp(-5.0 * res.times)
    assert np.all(np.abs(data["A"] - exact) <= _budget(sim, exact, _atol(sim, 50)))
    assert data["A"][0] == 50.0  # t_start is recorded as the initial state


def test_reversible_equilibrium():
    kf, kb, total = 10.0, 2.0, 100_000
    model, geom = well_mixed("A <-> B", kf, kb)
    sim, res, data = run_wm(model, geom, {"A": total}, 2.0, 0.05, record="AB")
    eq = total * kb / (kf + kb)
    exact = eq + (total - eq) * np.exp(-(kf + kb) * res.times)
    budget = _budget(sim, exact, _atol(sim, total))
    assert np.all(np.abs(data["A"] - exact) <= budget)
    assert np.all(np.abs(data["A"] + data["B"] - total) <= budget)
    late = res.times >= 0.7
    assert np.all(np.abs(data["A"][late] - eq) <= np.abs(exact[late] - eq) + budget)


def _molar(volume):
    return 1e3 * volume * AVOGADRO


def test_second_order_2a():
    k, a0, volume = 1e7, 10e-6, 1e-18
    model, geom = well_mixed("2 A -> C", k, volume=volume)
    sim, res, data = run_wm(model, geom, {"A": a0 * _molar(volume)}, 0.05, 0.0025)
    exact = _molar(volume) / (1 / a0 + 2 * k * res.times)
    assert np.all(np.abs(data["A"] - exact) <= _budget(sim, exact, _atol(sim, a0 * _molar(volume))))


def test_third_order_3a():
    k, a0, volume = 1e12, 100e-6, 1e-18
    model, geom = well_mixed("3 A -> C", k, volume=volume)
    sim, res, data = run_wm(model, geom, {"A": a0 * _molar(volume)}, 1e-3, 5e-5)
    exact = _molar(volume) / np.sqrt(1 / a0**2 + 6 * k * res.times)
    assert np.all(np.abs(data["A"] - exact) <= _budget(sim, exact, _atol(sim, a0 * _molar(volume))))


def test_second_order_a_plus_b_unequal():
    k, a0, b0, volume = 5e6, 1e-6, 0.5e-6, 1e-18
    model, geom = well_mixed("A + B -> C", k, volume=volume)
    n = _molar(volume)
    sim, res, data = run_wm(model, geom, {"A": a0 * n, "B": b0 * n}, 2.0, 0.1, record="AB")
    ratio = (b0 / a0) * np.exp(-(a0 - b0) * k * res.times)  # B/A
    exact_a = n * (a0 - b0) / (1 - ratio)
    exact_b = exact_a * ratio
    budget = _budget(sim, exact_a, _atol(sim, (a0 + b0) * n))
    assert np.all(np.abs(data["A"] - exact_a) <= budget)
    assert np.all(np.abs(data["B"] - exact_b) <= budget)


def test_zero_order():
    k, volume = 1e-3, 1e-18
    model, geom = well_mixed("-> A", k, volume=volume)
    sim, res, data = run_wm(model, geom, {}, 1.0, 0.1)
    exact = k * _molar(volume) * res.times
    assert np.all(np.abs(data["A"] - exact) <= _budget(sim, exact, _atol(sim, 0.0)))
    # 1e-3 M/s * 1e3 L/m^3 * 1e-18 m^3 * N_A = 602,214 molecules/s (VALIDATION.md's "≈ 602" drops 1e3)
    assert abs(data["A"][-1] - 602_214.076) <= _budget(sim, exact, _atol(sim, 0.0))


@pytest.mark.parametrize("method", ["Radau", "LSODA"])
def test_other_methods_agree(method):
    k, a0, volume = 1e7, 10e-6, 1e-18
    model, geom = well_mixed("2 A -> C", k, volume=volume)
    sim, res, data = run_wm(model, geom, {"A": a0 * _molar(volume)}, 0.05, 0.0025, method=method)
    exact = _molar(volume) / (1 / a0 + 2 * k * res.times)
    assert np.all(np.abs(data["A"] - exact) <= _budget(sim, exact, _atol(sim, a0 * _molar(volume))))


def test_clamped_source_feeds_linear_growth():
    k = 3.0
    model, geom = well_mixed("A -> B", k)
    sim = ts.Simulation(model, geom, solver="wm-ode", rtol=RTOL)
    sim.set_count("c", "A", 1000)
    sim.set_clamped("c", "A")
    rec_a = sim.record(ts.Count("A", where="c"), every=0.1)
    rec_b = sim.record(ts.Count("B", where="c"), every=0.1)
    res = sim.run(1.0)
    assert np.all(res[rec_a] == 1000.0)  # exactly
    exact = k * 1000 * res.times
    assert np.all(np.abs(res[rec_b][0] - exact) <= _budget(sim, exact, _atol(sim, 1000)))


def test_rate_change_mid_run():
    k1, k2, n0, t1 = 2.0, 7.0, 1e4, 0.4
    model, geom = well_mixed("A ->", k1, name="decay")
    sim = ts.Simulation(model, geom, solver="wm-ode", rtol=RTOL)
    sim.set_count("c", "A", n0)
    rec = sim.record(ts.Count("A", where="c"), every=0.05)
    sim.run(t1)
    sim.set_rate("decay", k2)
    res = sim.run(1.0)
    t = res.times
    exact = np.where(t <= t1, n0 * np.exp(-k1 * t), n0 * np.exp(-k1 * t1 - k2 * (t - t1)))
    assert np.all(np.abs(res[rec][0] - exact) <= _budget(sim, exact, _atol(sim, n0)))


def test_segments_do_not_lose_samples():
    """run(0.3) then run(1.0) with every=0.1: 0.1 * 3 rounds past 0.3, yet the sample is taken."""
    model, geom = well_mixed("A ->", 1.0)
    sim = ts.Simulation(model, geom, solver="wm-ode")
    sim.set_count("c", "A", 100)
    rec = sim.record(ts.Count("A", where="c"), every=0.1)
    sim.run(0.3)
    res = sim.run(0.7)
    assert res[rec].shape == (1, 8)
    assert np.all(res[rec] > 40)


def test_progress_reports_end_time():
    model, geom = well_mixed("A ->", 1.0)
    solver = make_solver(model, geom)
    seen = []
    counts = np.array([100.0, 0, 0])
    none = np.zeros(0, np.int64)
    solver.advance(None, counts, 0.0, 2.0, np.zeros(0), none, none, np.zeros((0, 0)), seen.append)
    assert seen and seen[-1] == 2.0
    assert abs(counts[0] - 100 * math.exp(-2.0)) < 1e-3


def test_options_are_checked():
    model, geom = well_mixed("A ->", 1.0)
    with pytest.raises(ts.ArgumentError, match="no option 'dt'"):
        ts.Simulation(model, geom, solver="wm-ode", dt=1e-3)
    with pytest.raises(CapabilityError, match="unknown method"):
        ts.Simulation(model, geom, solver="wm-ode", method="euler")
    with pytest.raises(SimulationError, match="rtol"):
        ts.Simulation(model, geom, solver="wm-ode", rtol=-1)
    with pytest.raises(CapabilityError, match="linear_solver"):
        ts.Simulation(model, geom, solver="wm-ode", linear_solver="cholesky")
    with pytest.raises(SimulationError, match="atol"):
        ts.Simulation(model, geom, solver="wm-ode", atol=0)
    sim = ts.Simulation(model, geom, solver="Wmrk4")  # STEPS alias
    assert sim.solver.name == "wm-ode" and sim.solver.state_dtype == np.float64


# ---------------------------------------------------------------------------- diffusion
def rate_matrix(c) -> np.ndarray:
    """Dense K of dy/dt = K y for a one-species diffusion system, from the compiled targets."""
    rate = np.zeros((c.n_pools, c.n_pools))
    for d in range(c.n_diffusions):
        for e in range(c.df_ptr[d], c.df_ptr[d + 1]):
            rate[c.df_dest[e], c.df_pool[d]] += c.df_rate[e]
            rate[c.df_pool[d], c.df_pool[d]] -= c.df_rate[e]
    return rate


@pytest.mark.parametrize(("method", "linear_solver"),
                         [("BDF", "direct"), ("BDF", "krylov"), ("Radau", "krylov")])
def test_diffusion_three_element_chain_matches_matrix_exponential(fake_mesh, method, linear_solver):
    """Linear system: y(t) = expm(K t) y0 exactly; total conserved; equilibrium counts ∝ volume."""
    volumes = np.array([1e-21, 2e-21, 0.5e-21])
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    geometry = fake_mesh(chain(volumes))
    sim = ts.Simulation(model, geometry, solver="ode", rtol=RTOL, method=method,
                        linear_solver=linear_solver)
    assert sim.solver.linear_solver == linear_solver
    sim.set_count(ts.Tet(0), "A", 3000)
    rec = sim.record(ts.Count("A", where="cyto", per_element=True), every=0.01)
    res = sim.run(0.5)
    data = res[rec][0]
    rate = rate_matrix(sim.compiled)
    exact = np.array([scipy.linalg.expm(rate * t) @ np.array([3000.0, 0, 0]) for t in res.times])
    budget = _budget(sim, exact, _atol(sim, 3000))
    assert np.all(np.abs(data - exact) <= budget)
    # conservation: every RHS sums to zero, so only round-off of the linear algebra remains
    assert np.all(np.abs(data.sum(axis=1) - 3000) <= budget)
    slowest = np.sort(np.abs(np.linalg.eigvals(rate).real))[1]  # the other eigenvalue is 0 (conservation)
    remaining = 3000 * np.exp(-slowest * res.times[-1])  # distance to equilibrium left at the end
    np.testing.assert_allclose(data[-1], 3000 * volumes / volumes.sum(), rtol=0, atol=budget + remaining)
    assert remaining < 1e-3 * 3000  # the check above means something


def test_clamped_tet_feeds_chain(fake_mesh):
    """A clamped tet is a source: y(t) = expm(K t) y0 with the clamped row of K zeroed."""
    volumes = np.full(5, 1e-21)
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    sim = ts.Simulation(model, fake_mesh(chain(volumes)), solver="ode", rtol=RTOL)
    sim.set_count(ts.Tet(0), "A", 500)
    sim.set_clamped(ts.Tet(0), "A")
    rec = sim.record(ts.Count("A", where="cyto", per_element=True), every=0.05)
    res = sim.run(3.0)
    data = res[rec][0]
    assert np.all(data[:, 0] == 500.0)  # exactly
    rate = rate_matrix(sim.compiled)
    rate[0] = 0.0  # the clamped pool does not change
    y0 = np.array([500.0, 0, 0, 0, 0])
    exact = np.array([scipy.linalg.expm(rate * t) @ y0 for t in res.times])
    assert np.all(np.abs(data - exact) <= _budget(sim, exact, _atol(sim, 500)))
    assert np.all(np.abs(data[-1] - 500.0) < 1.0)  # nearly filled up to the clamp


@pytest.mark.parametrize("linear_solver", ["direct", "krylov"])
def test_reaction_diffusion_chain_conserves_atoms(fake_mesh, linear_solver):
    """A + B <-> C on a chain with A, C diffusing: A + C and B + C totals are invariants."""
    n = 200
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    v.reaction("A + B <-> C", kf=1e8, kb=10.0)
    v.diffusion("A", 1e-12)
    v.diffusion("C", 5e-13)
    sim = ts.Simulation(model, fake_mesh(chain(np.full(n, 1e-21))), solver="ode", rtol=1e-8,
                         linear_solver=linear_solver)
    sim.set_count(ts.Tet(np.arange(10)), "A", 5000)
    sim.set_count("cyto", "B", 20000)
    rec_a = sim.record(ts.Count("A", where="cyto"), every=1e-3)
    rec_b = sim.record(ts.Count("B", where="cyto"), every=1e-3)
    rec_c = sim.record(ts.Count("C", where="cyto"), every=1e-3)
    res = sim.run(0.02)
    budget = _budget(sim, np.array([20000.0]), _atol(sim, 25000))
    assert np.all(np.abs(res[rec_a] + res[rec_c] - 5000) <= budget)
    assert np.all(np.abs(res[rec_b] + res[rec_c] - 20000) <= budget)
    assert res[rec_c][0, -1] > 100  # something reacted


def test_lsoda_refuses_large_systems(fake_mesh):
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    with pytest.raises(CapabilityError, match="LSODA"):
        ts.Simulation(model, fake_mesh(chain(np.full(5000, 1e-21))), solver="ode", method="LSODA")


@pytest.mark.slow
def test_large_chain_runs(fake_mesh):
    """30,000 elements x 3 species (9e4 unknowns): the sparse LU path scales."""
    n = 30_000
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    v.reaction("A + B <-> C", kf=1e8, kb=10.0)
    v.diffusion("A", 1e-12)
    v.diffusion("C", 5e-13)
    sim = ts.Simulation(model, fake_mesh(chain(np.full(n, 1e-21))), solver="ode")
    sim.set_count(ts.Tet(np.arange(100)), "A", 1e5)
    sim.set_count("cyto", "B", 1e6)
    sim.run(0.1)
    assert abs(sim.get_count("cyto", "A") + sim.get_count("cyto", "C") - 1e5) < 1e-3 * 1e5 * 1e-3
