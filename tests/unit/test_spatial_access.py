"""Spatial data access: get/set counts and concentrations per tet, triangle, compartment, patch
and ROI; clamps; parameter changes during a run; per-element probes; typed compile errors.

All on a hand-built 72-tet box (tests/meshes.py:tiny_mesh), no gmsh needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.errors import CompileError, GeometryError, ModelError, SimulationError, TetrasimError
from tetrasim.geometry import MeshGeometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import meshes  # noqa: E402

H = 0.5e-6  # cube edge of the tiny mesh


def make(solver="ssa", seed=3, two_compartments=True, diffusion=1e-12):
    """Box 1.5 x 1 x 1 µm: 'left' (x < 0.5 µm) and 'right'; patch 'memb' on the x = 0 face of 'left'."""
    mesh = meshes.tiny_mesh()
    model = ts.Model()
    model.species("A", "B", "S")
    vsys = model.volume_system("vsys")
    vsys.reaction("A -> B", kf=2.0, name="decay")
    vsys.diffusion("A", diffusion)
    vsys.diffusion("B", diffusion)
    ssys = model.surface_system("ssys")
    ssys.reaction("S.s + A.i -> S.s + B.i", kf=1e6, name="convert")
    ssys.diffusion("S", 1e-13)
    geom = MeshGeometry(mesh)
    x = mesh.tet_barycenters[:, 0]
    if two_compartments:
        geom.compartment("left", tets=np.flatnonzero(x < H), systems=["vsys"])
        geom.compartment("right", tets=np.flatnonzero(x >= H), systems=["vsys"])
    else:
        geom.compartment("left", systems=["vsys"])
    left = geom.compartments["left"].tets
    surface = mesh.surface_tris(left)
    face = surface[np.abs(mesh.tri_barycenters[surface, 0]) < 1e-12]
    geom.patch("memb", tris=face, inner="left", systems=["ssys"])
    geom.roi("corner", tets=np.flatnonzero((x < H) & (mesh.tet_barycenters[:, 1] < H)))
    geom.roi("face", tris=face[:3])
    sim = ts.Simulation(model, geom, solver=solver, seed=seed)
    return sim, mesh, geom


# ---------------------------------------------------------------------------- counts
def test_tet_count_roundtrip():
    sim, mesh, geom = make()
    sim.set_count(ts.Tet(5), "A", 7)
    assert sim.get_count(ts.Tet(5), "A") == 7
    assert sim.get_count("left", "A") + sim.get_count("right", "A") == 7
    tets = np.array([1, 2, 40])
    sim.set_count(ts.Tet(tets), "B", np.array([3, 0, 9]), per_element=True)
    np.testing.assert_array_equal(sim.get_count(ts.Tet(tets), "B", per_element=True), [3, 0, 9])


def test_triangle_and_patch_counts():
    sim, mesh, geom = make()
    tris = geom.patches["memb"].tris
    sim.set_count(ts.Tri(int(tris[2])), "S", 4)
    assert sim.get_count(ts.Tri(int(tris[2])), "S") == 4
    assert sim.get_count("memb", "S") == 4
    sim.set_count("memb", "S", 101)
    per = sim.get_count("memb", "S", per_element=True, keep_runs=False)
    assert per.sum() == 101 and per.dtype.kind == "i" and per.min() >= 0  # multinomial: tests/statistical


@pytest.mark.parametrize("total", [0, 1, 13, 1000, 123457])
def test_region_count_spread_is_integer_exact(total):
    sim, mesh, geom = make()
    sim.set_count("left", "A", total)
    per = sim.get_count("left", "A", per_element=True, keep_runs=False)
    assert per.sum() == total and per.min() >= 0  # random ∝ volume: tests/statistical/test_placement.py
    assert sim.get_count("right", "A") == 0


def test_roi_counts():
    sim, mesh, geom = make()
    sim.set_count(ts.ROI("corner"), "A", 60)
    assert sim.get_count(ts.ROI("corner"), "A") == 60
    assert sim.get_count("corner", "A") == 60  # a name also finds an ROI
    assert sim.get_count(ts.ROI("corner"), "A", per_element=True).shape == (len(geom.rois["corner"].tets),)
    sim.set_count(ts.ROI("face"), "S", 9)
    assert sim.get_count("memb", "S") == 9


def test_concentrations():
    sim, mesh, geom = make(solver="ssa")
    sim.set_conc("left", "A", 1e-6)
    volume = geom.compartments["left"].volume
    expected_count = round(1e-6 * 1e3 * ts.units.AVOGADRO * volume)
    assert sim.get_count("left", "A") == expected_count
    assert sim.get_conc("left", "A") == pytest.approx(expected_count / (1e3 * ts.units.AVOGADRO * volume))
    per = sim.get_conc("left", "A", per_element=True)
    assert per.shape == (len(geom.compartments["left"].tets),)
    factor = 1e3 * ts.units.AVOGADRO * mesh.tet_volumes[geom.compartments["left"].tets]
    np.testing.assert_allclose(per * factor, sim.get_count("left", "A", per_element=True))
    sim.set_conc(ts.Tet(3), "B", ts.Q("2 uM"))
    assert sim.get_count(ts.Tet(3), "B") == round(2e-6 * 1e3 * ts.units.AVOGADRO * mesh.tet_volumes[3])


def test_getters_have_run_axis_with_replicates():
    sim, mesh, geom = make()
    sim.set_count("left", "A", 100)
    sim.run(0.0, runs=3)
    assert np.shape(sim.get_count("left", "A")) == (3,)
    n = len(geom.compartments["left"].tets)
    assert sim.get_count("left", "A", per_element=True).shape == (3, n)
    values = np.arange(3 * n).reshape(3, n)
    sim.set_count("left", "A", values, per_element=True)
    np.testing.assert_array_equal(sim.get_count("left", "A", per_element=True), values)


def test_per_replicate_set_before_first_run_is_not_silently_dropped():
    sim, mesh, geom = make()
    n = len(geom.compartments["left"].tets)
    values = np.ones((2, n), dtype=np.int64)
    try:
        sim.set_count("left", "A", values, per_element=True)
    except SimulationError:
        return  # refusing is fine too
    sim.run(0.0, runs=2)
    np.testing.assert_array_equal(sim.get_count("left", "A"), [n, n])


# ---------------------------------------------------------------------------- clamps
def test_clamp_single_tet_holds_its_count():
    sim, mesh, geom = make(two_compartments=False, diffusion=1e-11)
    sim.set_rate("decay", 0.0)
    sim.set_count(ts.Tet(0), "A", 50)
    sim.set_clamped(ts.Tet(0), "A", True)
    rec = sim.record(ts.Count("A", where=ts.Tet(0)), every=0.01)
    total = sim.record(ts.Count("A", where="left"), every=0.01)
    res = sim.run(0.2)
    assert np.all(res[rec] == 50)
    assert res[total][0, -1] > 50  # the clamped tet is a source


def test_clamp_region_and_unclamp():
    sim, mesh, geom = make()
    sim.set_count(ts.ROI("corner"), "A", 40)
    sim.set_clamped(ts.ROI("corner"), "A", True)
    sim.run(0.3)
    assert sim.get_count(ts.ROI("corner"), "A") == 40
    sim.set_clamped(ts.ROI("corner"), "A", False)
    sim.run(2.0)
    assert sim.get_count(ts.ROI("corner"), "A") < 40  # decays once released


# ---------------------------------------------------------------------------- parameters during a run
def test_change_rate_during_run():
    sim, mesh, geom = make()
    sim.set_count("left", "A", 500)
    rec = sim.record(ts.Count("A", where="left"), every=0.05)
    sim.run(0.2)
    assert sim.get_rate("decay") == 2.0
    sim.set_rate("decay", 0.0)
    sim.set_diffusion_coefficient("A", 0.0)
    before = sim.get_count("left", "A")
    res = sim.run(1.0)
    tail = res[rec][0, res.times_of(rec) >= 0.2]
    assert before < 500 and np.all(tail == before)


def test_change_diffusion_coefficient_freezes_elements():
    sim, mesh, geom = make(two_compartments=False)
    sim.set_rate("decay", 0.0)
    sim.set_count(ts.Tet(10), "A", 300)
    sim.run(0.05)
    sim.set_diffusion_coefficient("A", 0.0)
    frozen = sim.get_count("left", "A", per_element=True).copy()
    sim.run(0.5)
    np.testing.assert_array_equal(sim.get_count("left", "A", per_element=True), frozen)
    sim.set_diffusion_coefficient("A", ts.Q("1 um^2/s"))
    sim.run(1.0)
    assert not np.array_equal(sim.get_count("left", "A", per_element=True), frozen)


def test_diffusion_coefficient_of_non_diffusing_species_is_named():
    sim, mesh, geom = make()
    with pytest.raises(SimulationError, match="'S' does not diffuse in 'left'"):
        sim.set_diffusion_coefficient("S", 1e-12, where="left")


# ---------------------------------------------------------------------------- probes
def test_per_element_probes_shape():
    sim, mesh, geom = make()
    sim.set_count("left", "A", 100)
    n_left = len(geom.compartments["left"].tets)
    count = sim.record(ts.Count("A", where="left", per_element=True), every=0.1)
    conc = sim.record(ts.Conc("A", where=ts.ROI("corner"), per_element=True), every=0.1)
    total = sim.record(ts.Count("A", where="left"), every=0.1)
    tri = sim.record(ts.Count("S", where="memb", per_element=True), every=0.1)
    res = sim.run(0.5, runs=2)
    assert res[count].shape == (2, 6, n_left)
    assert res[conc].shape == (2, 6, len(geom.rois["corner"].tets))
    assert res[total].shape == (2, 6)
    assert res[tri].shape == (2, 6, len(geom.patches["memb"].tris))
    np.testing.assert_array_equal(res[count].sum(axis=2), res[total])
    corner = geom.rois["corner"].tets
    pos = np.searchsorted(geom.compartments["left"].tets, corner)
    factor = 1e3 * ts.units.AVOGADRO * mesh.tet_volumes[corner]
    np.testing.assert_allclose(res[conc] * factor, res[count][:, :, pos], rtol=1e-12)


# ---------------------------------------------------------------------------- typed errors
def test_surface_reaction_needs_outer_compartment():
    """A surface reaction using an outer-volume species on a patch with no outer compartment."""
    mesh = meshes.tiny_mesh()
    model = ts.Model()
    model.species("R", "L")
    model.volume_system("vsys").diffusion("L", 1e-12)
    model.surface_system("ssys").reaction("R.s + L.o -> R.s", kf=1e6, name="bind")
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vsys"])
    geom.patch("memb", tris=mesh.surface_tris(), inner="cyto", systems=["ssys"])
    with pytest.raises(CompileError, match="memb") as info:
        ts.Simulation(model, geom, solver="ssa", seed=1)
    assert "outer" in str(info.value)


def test_patch_not_adjacent_to_inner_compartment():
    mesh = meshes.tiny_mesh()
    geom = MeshGeometry(mesh)
    x = mesh.tet_barycenters[:, 0]
    geom.compartment("left", tets=np.flatnonzero(x < H))
    geom.compartment("right", tets=np.flatnonzero(x >= H))
    far = mesh.surface_tris(geom.compartments["right"].tets)
    far = far[np.abs(mesh.tri_barycenters[far, 0] - 3 * H) < 1e-12]
    with pytest.raises(GeometryError, match="patch 'memb'.*not a face of any tet of inner compartment"):
        geom.patch("memb", tris=far, inner="left")


def test_diffusion_of_undeclared_species():
    model = ts.Model()
    model.species("A")
    with pytest.raises(ModelError, match="'Z'"):
        model.volume_system("vsys").diffusion("Z", 1e-12)


def test_species_in_no_system_of_the_region():
    sim, mesh, geom = make()
    with pytest.raises(SimulationError, match="'S' is not in 'left'"):
        sim.set_count("left", "S", 5)
    with pytest.raises(TetrasimError, match="unknown species 'Q'"):
        sim.get_count("left", "Q")


def test_compartment_names_missing_system():
    mesh = meshes.tiny_mesh()
    model = ts.Model()
    model.species("A")
    model.volume_system("vsys").diffusion("A", 1e-12)
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vsys", "vsyss"])
    with pytest.raises(CompileError, match="compartment 'cyto' names system 'vsyss'"):
        ts.Simulation(model, geom, solver="ssa", seed=1)


def test_location_errors():
    sim, mesh, geom = make()
    with pytest.raises(SimulationError, match="out of range"):
        sim.get_count(ts.Tet(10_000), "A")
    with pytest.raises(SimulationError, match="not in any patch"):
        sim.get_count(ts.Tri(0 if 0 not in geom.patches["memb"].tris else 10_000), "S")
    with pytest.raises(SimulationError, match="did you mean"):
        sim.get_count("lefft", "A")


def test_last_sample_at_rounded_end_time():
    """run(0.49999999999999994) with every=1e-3 lists a sample at 0.5; it must hold the state, not 0."""
    sim, mesh, geom = make()
    sim.set_rate("decay", 0.0)
    sim.set_count("left", "A", 10)
    rec = sim.record(ts.Count("A", where="left"), every=1e-3)
    res = sim.run(0.49999999999999994)
    assert res.times_of(rec)[-1] == pytest.approx(0.5)
    assert res[rec][0, -1] == 10
