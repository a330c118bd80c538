"""Data access parity (issue 10 item 4): reaction extents, propensities, clamps, volumes and
areas, ROI set/get, and getters that keep the run axis.

Extents are checked through exact bookkeeping identities (every firing of A -> ∅ removes one
A, so extent = A0 - A), propensities against c = k / (1e3·N_A·V)^(order-1) times the
falling factorial computed here by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import CapabilityError, SimulationError
from tetrasim.units import AVOGADRO

H = 0.3e-6


def decay_mesh(solver, seed=4):
    mesh = grid_mesh(2, 1, 1, H)
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    v.reaction("A -> C", kf=20.0, name="decay")
    v.reaction("B <-> A", kf=5.0, kb=1.0, name="swap")
    geom = ts.MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    geom.roi("first", tets=[0, 1, 2])
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False)
    return sim, mesh


@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_extents_balance_the_counts_per_element(solver):
    """No diffusion: per tet, A0 - A = decay - swap(fwd B->A) + swap#back(A->B) ... exactly.

    B -> A (swap) adds an A, A -> C (decay) and A -> B (swap#back) remove one; so per tet
    A0 - A = decay + swap#back - swap. Fails if any kernel drops or double counts a firing.
    """
    sim, mesh = decay_mesh(solver)
    sim.set_count("c", "A", 600)
    recs = {name: sim.record(ts.Extent(name, where="c", per_element=True), every=0.05)
            for name in ("decay", "swap", "swap#back")}
    total = sim.record(ts.Extent("decay", where="c"), every=0.05)
    res = sim.run(0.3, runs=2)
    a0 = _initial(sim)
    a = sim.get_count("c", "A", per_element=True, keep_runs=True)
    extents = {name: sim.get_extent("c", name, per_element=True, keep_runs=True) for name in recs}
    np.testing.assert_array_equal(a0 - a, extents["decay"] + extents["swap#back"] - extents["swap"])
    assert extents["decay"].sum() > 100
    for name, rec in recs.items():
        series = res[rec]
        assert series.shape == (2, 7, mesh.n_tets)
        assert np.all(np.diff(series, axis=1) >= 0)  # cumulative
        np.testing.assert_array_equal(series[:, -1], extents[name])
        assert np.all(series[:, 0] == 0)
    np.testing.assert_array_equal(res[total][:, -1], extents["decay"].sum(axis=1))
    assert res.series_of(total).quantity == "extent" and res.series_of(total).unit == "firings"
    first = sim.get_extent(ts.ROI("first"), "decay", keep_runs=True)
    np.testing.assert_array_equal(first, extents["decay"][:, :3].sum(axis=1))
    sim.reset_extents()
    assert np.sum(sim.get_extent("c", "decay")) == 0


def _initial(sim):
    """Per-replicate initial counts (each replicate placed its own molecules): from the log."""
    states = np.repeat(sim._template[None, :], sim.n_runs, axis=0)
    for r in range(1, sim.n_runs):
        sim._initial_log.replay(states[r], sim.seed, r)
    _, pools, _ = sim._select("c", "A")
    return states[:, pools]


def test_wellmixed_extent_equals_decayed_molecules():
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=5.0, name="decay")
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=2, progress=False)
    sim.set_count("c", "A", 1000)
    sim.track_extents()
    sim.run(0.2, runs=3)
    np.testing.assert_array_equal(sim.get_extent("c", "decay"), 1000 - sim.get_count("c", "A"))


def test_extents_cost_nothing_unless_asked():
    sim, _ = decay_mesh("ssa")
    sim.set_count("c", "A", 10)
    sim.run(0.01)
    assert sim._states.shape[1] == sim.compiled.n_pools and sim.solver.extent_offset == -1
    with pytest.raises(SimulationError, match="not being counted"):
        sim.get_extent("c", "decay")
    with pytest.raises(SimulationError, match="no backward"):
        ts.Simulation(*_wm("wm-ssa")).record(ts.Extent("bind#back", where="c"), every=0.1)
    ode = ts.Simulation(*_wm("wm-ode"))
    with pytest.raises(CapabilityError):
        ode.track_extents()


def _wm(solver):
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    v.reaction("A + B -> C", kf=1e8, name="bind")
    v.reaction("2 A -> C", kf=3e7, name="dimer")
    geom = ts.WellMixed()
    geom.compartment("c", volume=2e-18, systems=["v"])
    return model, geom, solver


@pytest.mark.parametrize("solver", ["wm-ssa", "wm-ode"])
def test_propensities(solver):
    model, geom, _ = _wm(solver)
    sim = ts.Simulation(model, geom, solver=solver, progress=False)
    sim.set_count("c", "A", 40)
    sim.set_count("c", "B", 25)
    volume_factor = 1e3 * AVOGADRO * 2e-18
    bind = 1e8 / volume_factor * 40 * 25
    dimer = 3e7 / volume_factor * (40 * 39 if solver == "wm-ssa" else 40 * 40)
    assert sim.get_propensity("c", "bind") == pytest.approx(bind, rel=1e-12)
    assert sim.get_propensity("c", "dimer") == pytest.approx(dimer, rel=1e-12)
    sim.set_rate("bind", 2e8)
    assert sim.get_propensity("c", "bind") == pytest.approx(2 * bind, rel=1e-12)


def test_mesh_propensity_per_element():
    sim, mesh = decay_mesh("ssa")
    sim.set_count(ts.Tet([0, 3]), "A", [7, 2], per_element=True)
    per = sim.get_propensity("c", "decay", per_element=True, keep_runs=True)
    expected = np.zeros((1, mesh.n_tets))
    expected[0, [0, 3]] = [140.0, 40.0]
    np.testing.assert_allclose(per, expected, rtol=1e-12)
    assert sim.get_propensity(ts.Tet(0), "decay") == pytest.approx(140.0)


def test_clamps_volumes_areas_and_rois():
    mesh = grid_mesh(2, 1, 1, H)
    model = ts.Model()
    model.species("A", "S")
    model.volume_system("v").diffusion("A", 1e-12)
    model.surface_system("s").reaction("A.i -> S.s", kf=1e-30)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    surface = mesh.surface_tris()
    geom.patch("p", tris=surface, inner="c", systems=["s"])
    geom.roi("pair", tets=[0, 5])
    geom.roi("some_tris", tris=surface[:4])
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    assert sim.get_volume("c") == pytest.approx(2 * H ** 3, rel=1e-12)
    assert sim.get_volume(ts.ROI("pair")) == pytest.approx(mesh.tet_volumes[[0, 5]].sum(), rel=1e-12)
    assert sim.get_area("p") == pytest.approx(2 * (4 * H * H) + 2 * H * H, rel=1e-12)  # 2x1x1 box surface
    assert sim.get_area(ts.ROI("some_tris")) == pytest.approx(mesh.tri_areas[surface[:4]].sum(), rel=1e-12)
    with pytest.raises(SimulationError, match="get_area"):
        sim.get_volume("p")
    with pytest.raises(SimulationError, match="get_volume"):
        sim.get_area("c")
    assert not sim.get_clamped("c", "A")
    sim.set_clamped(ts.ROI("pair"), "A", True)
    assert sim.get_clamped(ts.ROI("pair"), "A") and not sim.get_clamped("c", "A")
    flags = sim.get_clamped("c", "A", per_element=True)
    assert flags.sum() == 2 and flags[[0, 5]].all()
    sim.set_count(ts.ROI("some_tris"), "S", 8)
    assert sim.get_count(ts.ROI("some_tris"), "S") == 8 and sim.get_count("p", "S") == 8
    sim.set_conc(ts.ROI("pair"), "A", 1e-5)
    factor = 1e3 * AVOGADRO * mesh.tet_volumes[[0, 5]].sum()
    assert sim.get_count(ts.ROI("pair"), "A") == round(1e-5 * factor)
    assert sim.get_conc(ts.ROI("pair"), "A") == pytest.approx(round(1e-5 * factor) / factor, rel=1e-12)


def test_getters_keep_the_run_axis_on_request():
    sim, mesh = decay_mesh("ssa")
    sim.set_count("c", "A", 30)
    assert sim.get_count("c", "A", keep_runs=True).shape == (1,)
    assert sim.get_count("c", "A", per_element=True, keep_runs=True).shape == (1, mesh.n_tets)
    assert sim.get_conc("c", "A", per_element=True, keep_runs=True).shape == (1, mesh.n_tets)
    assert sim.get_conc("c", "A", keep_runs=True).shape == (1,)
    with pytest.warns(FutureWarning, match="keep_runs"):
        assert sim.get_count("c", "A", per_element=True).shape == (mesh.n_tets,)
    assert sim.get_count("c", "A", per_element=True, keep_runs=False).shape == (mesh.n_tets,)
    assert sim.get_count("c", "A") == 30  # a total of one run stays a number
    sim.run(0.01, runs=3)
    assert sim.get_count("c", "A", per_element=True).shape == (3, mesh.n_tets)
    assert sim.get_count("c", "A", keep_runs=True).shape == (3,)
