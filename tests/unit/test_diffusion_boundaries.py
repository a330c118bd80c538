"""Diffusion boundaries per species at run time (issue 10 item 3; STEPS DiffBoundary/SDiffBoundary).

Closed for every species unless created with ``species=``; opened and closed during a run
with ``sim.set_diffusion_boundary_active``; a boundary-specific D; surface boundaries between
patches. References come from the mesh geometry (face areas, volumes, barycentres), not from
the compiler under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import CompileError, GeometryError, SimulationError

H = 0.3e-6
D_A, D_B = 1e-12, 2e-12


def volume_setup(species=None, solver="ssa", seed=1):
    mesh = grid_mesh(2, 1, 1, H)
    x = mesh.tet_barycenters[:, 0]
    left, right = np.flatnonzero(x < H), np.flatnonzero(x >= H)
    model = ts.Model()
    model.species("A", "B")
    v = model.volume_system("v")
    v.diffusion("A", D_A)
    v.diffusion("B", D_B)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=left, systems=["v"])
    geom.compartment("right", tets=right, systems=["v"])
    geom.diffusion_boundary("wall", between=("left", "right"), species=species)
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False)
    return sim, mesh, left, right


def crossing_targets(sim, left):
    c = sim.compiled
    source = np.repeat(np.asarray(c.df_pool), np.diff(c.df_ptr)) // c.n_species
    dest = np.asarray(c.df_dest) // c.n_species
    return np.flatnonzero(np.isin(source, left) != np.isin(dest, left)), source, dest


def hand_rate(mesh, i, j, coefficient):
    """D·A_f / (V_i·δ_ij) from the mesh: the face shared by tets i and j, barycentre distance."""
    face = mesh.faces_between([i], [j])
    assert len(face) == 1
    delta = np.linalg.norm(mesh.tet_barycenters[i] - mesh.tet_barycenters[j])
    return coefficient * mesh.tri_areas[face[0]] / (mesh.tet_volumes[i] * delta)


def test_closed_by_default_for_every_species():
    sim, mesh, left, right = volume_setup()
    targets, _, _ = crossing_targets(sim, left)
    n_faces = len(mesh.faces_between(left, right))
    assert len(targets) == 2 * 2 * n_faces  # both species, both directions: compiled, but shut
    assert np.all(sim.runtime.df_rate[targets] == 0.0)
    sim.set_count("left", "A", 500)
    sim.set_count("left", "B", 500)
    sim.run(1.0)  # ~ thousands of jumps per molecule: any leak would show
    assert sim.get_count("right", "A") == 0 and sim.get_count("right", "B") == 0
    assert not sim.get_diffusion_boundary_active("wall", "A")


def test_created_open_for_listed_species_only():
    sim, mesh, left, right = volume_setup(species=["A"])
    targets, source, dest = crossing_targets(sim, left)
    species = np.asarray(sim.compiled.df_dest)[targets] % sim.compiled.n_species
    rates = sim.runtime.df_rate[targets]
    assert np.all(rates[species == 1] == 0.0)
    for t in targets[species == 0]:
        assert sim.runtime.df_rate[t] == pytest.approx(hand_rate(mesh, source[t], dest[t], D_A), rel=1e-12)
    sim.set_count("left", "A", 500)
    sim.set_count("left", "B", 500)
    sim.run(1.0)
    assert sim.get_count("right", "A") > 100 and sim.get_count("right", "B") == 0


@pytest.mark.parametrize("solver", ["ssa", "opsplit", "ode"])
def test_switch_during_the_run(solver):
    sim, _, _, _ = volume_setup(solver=solver)
    sim.set_count("left", "A", 400)
    sim.run(0.5)
    # closed: nothing crosses (exactly for the stochastic solvers; the ode's Krylov solution to round-off)
    assert abs(sim.get_count("right", "A")) <= (0 if solver != "ode" else 1e-12 * 400)
    sim.set_diffusion_boundary_active("wall", "A", True)
    assert sim.get_diffusion_boundary_active("wall", "A")
    assert not sim.get_diffusion_boundary_active("wall", "B")
    sim.run(1.0)
    crossed = sim.get_count("right", "A")
    assert crossed > 50
    sim.set_diffusion_boundary_active("wall", "A", False)
    sim.run(1.5)  # closed again: nothing moves between the two sides any more
    assert sim.get_count("right", "A") == pytest.approx(crossed, rel=1e-12)  # ode: round-off of the sum


def test_boundary_specific_coefficient():
    sim, mesh, left, right = volume_setup(species=["A", "B"])
    targets, source, dest = crossing_targets(sim, left)
    sim.set_diffusion_boundary_coefficient("wall", "A", 5e-13)
    assert sim.get_diffusion_boundary_coefficient("wall", "A") == 5e-13
    assert sim.get_diffusion_boundary_coefficient("wall", "B") == D_B  # the species' own D
    species = np.asarray(sim.compiled.df_dest) % sim.compiled.n_species
    for t in targets:
        expected = hand_rate(mesh, source[t], dest[t], 5e-13 if species[t] == 0 else D_B)
        assert sim.runtime.df_rate[t] == pytest.approx(expected, rel=1e-12)
    inside = np.setdiff1d(np.arange(len(sim.runtime.df_rate)), targets)
    inside_a = inside[species[inside] == 0]
    t = inside_a[0]
    assert sim.runtime.df_rate[t] == pytest.approx(hand_rate(mesh, source[t], dest[t], D_A), rel=1e-12)
    # the per-process leaving rate follows
    c = sim.compiled
    np.testing.assert_allclose(sim.runtime.df_total, np.add.reduceat(sim.runtime.df_rate, c.df_ptr[:-1]))
    # a new species D elsewhere keeps the boundary's own value
    sim.set_diffusion_coefficient("A", 3e-12)
    for t in targets[species[targets] == 0]:
        assert sim.runtime.df_rate[t] == pytest.approx(hand_rate(mesh, source[t], dest[t], 5e-13), rel=1e-12)
    sim.set_diffusion_boundary_coefficient("wall", "A", None)  # back to the species' D
    for t in targets[species[targets] == 0]:
        assert sim.runtime.df_rate[t] == pytest.approx(hand_rate(mesh, source[t], dest[t], 3e-12), rel=1e-12)


def surface_setup(species=None, solver="ssa"):
    mesh = grid_mesh(2, 2, 1, H)
    top = mesh.surface_tris()
    top = top[np.isclose(mesh.tri_barycenters[top, 2], H)]
    x = mesh.tri_barycenters[top, 0]
    model = ts.Model()
    model.species("S", "A")
    model.volume_system("v").diffusion("A", D_A)
    model.surface_system("s").diffusion("S", 1e-13)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyt", systems=["v"])
    geom.patch("pa", tris=top[x < H], inner="cyt", systems=["s"])
    geom.patch("pb", tris=top[x >= H], inner="cyt", systems=["s"])
    boundary = geom.surface_diffusion_boundary("edge", between=("pa", "pb"), species=species)
    sim = ts.Simulation(model, geom, solver=solver, seed=2, progress=False)
    return sim, boundary


def test_surface_boundary_between_patches():
    sim, boundary = surface_setup()
    assert boundary.n_edges == 2  # the line x = H across a 2 x 2 top face, split into two edges
    c = sim.compiled
    pa = set(c.patch_elements["pa"].tolist())
    source = np.repeat(np.asarray(c.df_pool), np.diff(c.df_ptr)) // c.n_species
    dest = np.asarray(c.df_dest) // c.n_species
    across = np.array([(s in pa) != (d in pa) for s, d in zip(source, dest, strict=True)])
    assert across.sum() == 2 * boundary.n_edges and np.all(sim.runtime.df_rate[across] == 0)
    sim.set_count("pa", "S", 200)
    sim.run(2.0)
    assert sim.get_count("pb", "S") == 0
    sim.set_diffusion_boundary_active("edge", "S", True)
    sim.run(6.0)
    assert sim.get_count("pb", "S") > 20
    opened, _ = surface_setup(species=["S"])
    assert np.all(opened.runtime.df_rate[across] > 0)


def test_bad_boundary_calls():
    sim, _, _, _ = volume_setup()
    with pytest.raises(SimulationError, match="did you mean 'wall'"):
        sim.set_diffusion_boundary_active("wal", "A", True)
    with pytest.raises(SimulationError, match="True or False"):
        sim.set_diffusion_boundary_active("wall", "A", "yes")
    with pytest.raises(ts.TetrasimError):
        sim.set_diffusion_boundary_active("wall", "Q", True)
    with pytest.raises(SimulationError):
        sim.set_diffusion_boundary_coefficient("wall", "A", -1.0)
    mesh = grid_mesh(2, 1, 1, H)
    x = mesh.tet_barycenters[:, 0]
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=np.flatnonzero(x < H))
    geom.compartment("right", tets=np.flatnonzero(x >= H))
    with pytest.raises(GeometryError, match="same compartment"):
        geom.diffusion_boundary("w", between=("left", "left"))
    geom.diffusion_boundary("w", between=("left", "right"), species=["Nope"])
    with pytest.raises(GeometryError, match="already joins"):
        geom.diffusion_boundary("w2", between=("right", "left"))
    model = ts.Model()
    model.species("A")
    with pytest.raises(CompileError, match="Nope"):
        ts.compile_system(model, geom)
    with pytest.raises(GeometryError):
        geom.surface_diffusion_boundary("s", between=("left", "right"))
