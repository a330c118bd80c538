"""ParaView output (issue 10 item 2): XDMF + HDF5 written by tetrasim, read back with meshio."""

from __future__ import annotations

import os

import meshio
import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import SimulationError

H = 0.3e-6


def mesh_run(runs=2):
    mesh = grid_mesh(2, 2, 1, H)
    x = mesh.tet_barycenters[:, 0]
    model = ts.Model()
    model.species("A", "S")
    model.volume_system("v").diffusion("A", 1e-12)
    model.surface_system("s").reaction("A.i -> S.s", kf=1e-2)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=np.flatnonzero(x < H), systems=["v"])
    geom.compartment("right", tets=np.flatnonzero(x >= H), systems=["v"])
    outer = mesh.surface_tris(geom.compartments["left"].tets)
    outer = outer[np.isin(outer, mesh.surface_tris())]
    geom.patch("memb", tris=outer, inner="left", systems=["s"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=9, progress=False)
    sim.set_count("left", "A", 3000)
    per_tet = sim.record(ts.Count("A", where="left", per_element=True), every=0.01)
    per_tri = sim.record(ts.Count("S", where="memb", per_element=True), every=0.02)
    total = sim.record(ts.Count("A", where="left"), every=0.01)
    return sim, sim.run(0.04, runs=runs), (per_tet, per_tri, total), mesh, geom


def read_back(path):
    with meshio.xdmf.TimeSeriesReader(path) as reader:
        points, cells = reader.read_points_cells()
        steps = [reader.read_data(k) for k in range(reader.num_steps)]
    return points, cells, steps


def test_xdmf_round_trip(tmp_path):
    sim, res, (per_tet, per_tri, total), mesh, geom = mesh_run()
    path = res.to_xdmf(tmp_path / "run.xdmf")
    assert sorted(os.listdir(tmp_path)) == ["run.xdmf", "run.xdmf.h5"]
    points, cells, steps = read_back(path)
    np.testing.assert_array_equal(points, mesh.vertices)
    assert [c.type for c in cells] == ["tetra", "triangle"]
    np.testing.assert_array_equal(cells[0].data, mesh.tets)
    memb = geom.patches["memb"].tris
    np.testing.assert_array_equal(np.sort(cells[1].data, axis=1), np.sort(mesh.tris[memb], axis=1))
    times = [t for t, _, _ in steps]
    np.testing.assert_allclose(times, [0.0, 0.01, 0.02, 0.03, 0.04])
    left = geom.compartments["left"].tets
    for k, (_t, _point_data, cell_data) in enumerate(steps):
        tet_values = {name: blocks[0] for name, blocks in cell_data.items()}
        tri_values = {name: blocks[1] for name, blocks in cell_data.items()}
        expected_compartment = np.where(np.isin(np.arange(mesh.n_tets), left), 0, 1)
        np.testing.assert_array_equal(tet_values["compartment"], expected_compartment)
        assert np.all(tri_values["compartment"] == -1) and np.all(tri_values["patch"] == 0)
        assert np.all(tet_values["patch"] == -1)
        for r in range(2):
            field = tet_values[f"{per_tet.name}_run{r}"]
            np.testing.assert_array_equal(field[left], res[per_tet][r, k])
            assert np.all(np.isnan(np.delete(field, left)))
            tri_field = tri_values[f"{per_tri.name}_run{r}"]
            if k % 2 == 0:
                np.testing.assert_array_equal(tri_field, res[per_tri][r, k // 2])
            else:  # no sample of the 0.02 s recorder at this time
                assert np.all(np.isnan(tri_field))
        np.testing.assert_allclose(tet_values[f"{per_tet.name}_mean"][left], res[per_tet][:, k].mean(axis=0))
        assert not any(name.startswith(total.name + "_") or name == total.name for name in cell_data)


def test_save_with_xdmf_and_reload(tmp_path):
    _sim, res, (per_tet, _, _), _mesh, _geom = mesh_run(runs=1)
    res.save(tmp_path / "out.h5", xdmf=True)
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "out.xdmf", "out.xdmf.h5"]
    _, _, steps = read_back(tmp_path / "out.xdmf")
    assert per_tet.name in steps[0][2]  # one run: the field carries the recorder's name
    loaded = ts.load_results(tmp_path / "out.h5")
    loaded.to_xdmf(tmp_path / "again.xdmf")  # the mesh travels with the saved results
    _, _, again = read_back(tmp_path / "again.xdmf")
    for (t1, _, a), (t2, _, b) in zip(steps, again, strict=True):
        assert t1 == t2
        np.testing.assert_array_equal(a[per_tet.name][0], b[per_tet.name][0])


def test_xdmf_needs_a_mesh_and_per_element_data(tmp_path):
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=1.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1, progress=False)
    sim.record(ts.Count("A", where="c"), every=0.1)
    with pytest.raises(SimulationError, match="needs a mesh"):
        sim.run(0.2).to_xdmf(tmp_path / "x.xdmf")
    mesh_sim, _, _, _, _ = mesh_run()
    mesh_sim._recorders = {k: v for k, v in mesh_sim._recorders.items() if not v.probe.per_element}
    with pytest.raises(SimulationError, match="per_element=True"):
        mesh_sim.results.to_xdmf(tmp_path / "y.xdmf")
    assert os.listdir(tmp_path) == []
