# ruff: noqa: N803, N806
"""Compiling a MeshGeometry: hand-computed 2-tet and 2-triangle couplings, rate scaling per
element (volume, surface-only, surface with a volume reactant), process counts, compartment
walls and diffusion boundaries, presence and the dependency graph."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.geometry import MeshGeometry, TetMesh
from tetrasim.units import AVOGADRO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import meshes  # noqa: E402

UM = 1e-6


def two_tets():
    """Two tets sharing the face (1, 2, 3): apex 0 at the origin and apex 4 at (1, 1, 1) µm."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    return TetMesh.from_arrays(vertices, [[0, 1, 2, 3], [1, 2, 3, 4]], length_unit="um", fix_orientation=True)


def hand_coupling():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float) * UM
    face = v[[1, 2, 3]]
    area = 0.5 * np.linalg.norm(np.cross(face[1] - face[0], face[2] - face[0]))
    vol0 = abs(np.linalg.det(np.stack([v[1] - v[0], v[2] - v[0], v[3] - v[0]]))) / 6
    vol1 = abs(np.linalg.det(np.stack([v[2] - v[1], v[3] - v[1], v[4] - v[1]]))) / 6
    b0, b1 = v[[0, 1, 2, 3]].mean(0), v[[1, 2, 3, 4]].mean(0)
    delta = np.linalg.norm(b1 - b0)
    return area, vol0, vol1, delta


def diffusion_model(D=2e-12):
    model = ts.Model()
    model.species("A")
    model.volume_system("vsys").diffusion("A", D)
    return model


def test_two_tet_hop_rates_by_hand():
    D = 2e-12
    mesh = two_tets()
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["vsys"])
    c = ts.compile_system(diffusion_model(D), geom)
    area, vol0, vol1, delta = hand_coupling()
    assert c.n_diffusions == 2  # one process per (tet, species)
    np.testing.assert_array_equal(np.diff(c.df_ptr), [1, 1])  # boundary faces give no target
    np.testing.assert_array_equal(c.df_pool, [0, 1])
    np.testing.assert_array_equal(c.df_dest, [1, 0])
    np.testing.assert_allclose(c.df_rate, [D * area / (vol0 * delta), D * area / (vol1 * delta)], rtol=1e-12)
    np.testing.assert_allclose(c.df_total, c.df_rate)
    # detailed balance of the uniform state: V0 * d01 == V1 * d10
    assert vol0 * c.df_rate[0] == pytest.approx(vol1 * c.df_rate[1], rel=1e-12)


def test_two_triangle_surface_hop_rates_by_hand():
    D = 1e-13
    mesh = two_tets()
    model = ts.Model()
    model.species("S")
    model.volume_system("vsys")
    model.surface_system("ssys").diffusion("S", D)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["vsys"])
    # two boundary triangles of tet 0 sharing the edge (0, 1): (0, 1, 2) and (0, 1, 3)
    geom.patch("p", tris=np.array([[0, 1, 2], [0, 1, 3]]), inner="c", systems=["ssys"])
    c = ts.compile_system(model, geom)
    v = mesh.vertices
    t1, t2 = v[[0, 1, 2]], v[[0, 1, 3]]
    a1 = 0.5 * np.linalg.norm(np.cross(t1[1] - t1[0], t1[2] - t1[0]))
    a2 = 0.5 * np.linalg.norm(np.cross(t2[1] - t2[0], t2[2] - t2[0]))
    edge = np.linalg.norm(v[1] - v[0])
    delta = np.linalg.norm(t1.mean(0) - t2.mean(0))
    assert c.n_surface == 2 and c.n_diffusions == 2
    tris = geom.patches["p"].tris
    areas = mesh.tri_areas[tris]
    expected = {round(a1 * 1e24): D * edge / (a1 * delta), round(a2 * 1e24): D * edge / (a2 * delta)}
    got = {round(areas[k] * 1e24): c.df_rate[k] for k in range(2)}
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12)


def test_rate_scaling_per_element():
    mesh = two_tets()
    model = ts.Model()
    model.species("A", "B", "R", "S")
    vsys = model.volume_system("vsys")
    vsys.reaction("A + B -> A", kf=1e7, name="second")
    vsys.reaction("-> A", kf=1e-3, name="zero")
    vsys.reaction("3 A ->", kf=1e12, name="third")
    ssys = model.surface_system("ssys")
    ssys.reaction("R.s + S.s -> R.s", kf=1e11, name="surf2")  # surface-only: (mol/m^2)^-1 s^-1
    ssys.reaction("R.s + A.i -> R.s", kf=1e8, name="mixed")  # with a volume reactant: M^-1 s^-1
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["vsys"])
    geom.patch("p", tris=np.array([[0, 1, 2], [1, 2, 4]]), inner="c", systems=["ssys"])
    c = ts.compile_system(model, geom)
    vol = mesh.tet_volumes
    rule = {r.name: i for i, r in enumerate(c.reaction_rules)}

    def rates(name):
        return c.rx_rate[c.rx_rule == rule[name]]

    np.testing.assert_allclose(rates("second"), 1e7 / (1e3 * AVOGADRO * vol), rtol=1e-12)
    np.testing.assert_allclose(rates("zero"), 1e-3 * 1e3 * AVOGADRO * vol, rtol=1e-12)
    np.testing.assert_allclose(rates("third"), 1e12 / (1e3 * AVOGADRO * vol) ** 2, rtol=1e-12)
    tris = geom.patches["p"].tris
    inner = geom.patches["p"].tri_inner_tet
    np.testing.assert_allclose(rates("surf2"), 1e11 / (AVOGADRO * mesh.tri_areas[tris]), rtol=1e-12)
    np.testing.assert_allclose(rates("mixed"), 1e8 / (1e3 * AVOGADRO * vol[inner]), rtol=1e-12)
    # one process per (reaction, element)
    assert len(rates("second")) == mesh.n_tets and len(rates("surf2")) == len(tris)


def test_compartment_wall_and_diffusion_boundary():
    mesh = meshes.tiny_mesh()
    x = mesh.tet_barycenters[:, 0]
    left, right = np.flatnonzero(x < 0.5e-6), np.flatnonzero(x >= 0.5e-6)

    def build(boundary):
        geom = MeshGeometry(mesh)
        geom.compartment("left", tets=left, systems=["vsys"])
        geom.compartment("right", tets=right, systems=["vsys"])
        if boundary:
            geom.diffusion_boundary("db", between=("left", "right"))
        return ts.compile_system(diffusion_model(), geom)

    for boundary in (False, True):
        c = build(boundary)
        src = np.repeat(c.df_pool, np.diff(c.df_ptr))
        crosses = np.isin(src, left) != np.isin(c.df_dest, left)
        assert crosses.any() == boundary
        if boundary:
            n_faces = len(mesh.faces_between(left, right))
            assert crosses.sum() == 2 * n_faces  # each shared face, both directions


def test_presence_and_dependencies():
    mesh = meshes.tiny_mesh()
    x = mesh.tet_barycenters[:, 0]
    model = ts.Model()
    model.species("A", "B")
    model.volume_system("va").diffusion("A", 1e-12)
    model.volume_system("vb").reaction("B -> B + B", kf=1.0)
    geom = MeshGeometry(mesh)
    geom.compartment("left", tets=np.flatnonzero(x < 0.5e-6), systems=["va"])
    geom.compartment("right", tets=np.flatnonzero(x >= 0.5e-6), systems=["vb"])
    c = ts.compile_system(model, geom)
    left, right = geom.compartments["left"].tets, geom.compartments["right"].tets
    assert c.present[left, 0].all() and not c.present[right, 0].any()
    assert c.present[right, 1].all() and not c.present[left, 1].any()
    assert c.n_reactions == len(right) and c.n_diffusions == len(left)
    # every process is listed under every pool it reads, and nowhere else
    reads = {}
    for p in range(c.n_reactions):
        for e in range(c.rx_reac_ptr[p], c.rx_reac_ptr[p + 1]):
            reads.setdefault(int(c.rx_reac_pool[e]), set()).add(p)
    for d, pool in enumerate(c.df_pool):
        reads.setdefault(int(pool), set()).add(c.n_reactions + d)
    for pool in range(c.n_pools):
        listed = set(c.dep_proc[c.dep_ptr[pool]:c.dep_ptr[pool + 1]].tolist())
        assert listed == reads.get(pool, set())
