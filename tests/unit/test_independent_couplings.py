"""The code's diffusion couplings equal the definition, assembled independently from raw arrays.

tests/meshes.py builds every hop rate D·A_f/(V_i·δ_ij) (volume) and D·L_e/(A_tri·δ) (surface)
with plain NumPy from the mesh's vertex and tet arrays alone. The validation tables use that
operator as their reference; this fast test pins the code to it on meshes of several shapes,
so a coupling error of any size (a missing face area, δ to the wrong point) fails here first.
The tolerance is round-off: both sides sum the same few terms in a different order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.geometry import MeshGeometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import meshes  # noqa: E402


@pytest.mark.parametrize("name", ["sphere_r1", "cylinder_d2"])
def test_compiled_couplings_equal_independent_assembly(name):
    mesh = meshes.get_mesh(name)
    model = ts.Model()
    model.species("A", "B")
    model.volume_system("v").diffusion("A", 2e-11)
    surface = model.surface_system("s")
    surface.diffusion("B", 1e-12)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    geom.patch("p", tris=mesh.surface_tris(), inner="c", systems=["s"])
    sim = ts.Simulation(model, geom, solver="ode", progress=False)
    code = meshes.linear_generator(sim, independent=False)
    reference = meshes.linear_generator(sim, independent=True)
    scale = abs(reference).max()
    assert reference.nnz > mesh.n_tets  # the reference really couples the mesh
    assert abs(code - reference).max() <= 1e-12 * scale


def test_independent_assembly_on_a_hand_computed_pair():
    """Two unit right-angle tets sharing a face: A = 1/2, V = 1/6, δ from the barycentres."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=float)
    tets = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    source, dest, g = meshes._independent_tet_couplings(vertices, tets, np.array([0, 1]))
    centre0, centre1 = vertices[tets[0]].mean(axis=0), vertices[tets[1]].mean(axis=0)
    area = 0.5 * np.linalg.norm(np.cross(vertices[2] - vertices[1], vertices[3] - vertices[1]))
    volume1 = abs(np.linalg.det(vertices[[2, 3, 4]] - vertices[1])) / 6
    delta = np.linalg.norm(centre1 - centre0)
    expected = {(0, 1): area / (1 / 6 * delta), (1, 0): area / (volume1 * delta)}
    computed = {(int(s), int(d)): v for s, d, v in zip(source, dest, g, strict=True)}
    assert computed == pytest.approx(expected, rel=1e-14)
