"""MeshGeometry: compartments, patches (orientation, validation), diffusion boundaries, ROIs."""

from __future__ import annotations

import numpy as np
import pytest

from tetrasim.errors import GeometryError
from tetrasim.geometry import MeshGeometry, TetMesh

V = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, -1]]
THREE = [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 1, 5]]


@pytest.fixture
def mesh():
    return TetMesh.from_arrays(V, THREE, length_unit="um", groups={"upper": [0, 1], "lower": [2]})


def test_compartments_and_patches(mesh):
    geom = MeshGeometry(mesh)
    cyt = geom.compartment("cyt", tets="upper", systems=["vsys"])
    er = geom.compartment("er", tets=[2], systems="esys")
    assert cyt.volume == pytest.approx(0.5e-18) and er.systems == ["esys"]
    memb = geom.membrane_tris_between("cyt", "er")
    assert memb.size == 1 and sorted(mesh.tri_tets(memb)[0].tolist()) == [0, 2]
    p = geom.patch("erm", tris=memb, inner="er", outer="cyt", systems=["s"])
    assert p.tri_inner_tet.tolist() == [2] and p.tri_outer_tet.tolist() == [0]
    # normal points from inner (er, below z=0) to outer (cyt, above)
    assert p.tri_normals[0, 2] > 0.99
    outer_faces = mesh.surface_tris(mesh.group("upper"))
    pm_tris = np.setdiff1d(outer_faces, memb)
    pm = geom.patch("pm", tris=pm_tris, inner="cyt")
    assert (pm.tri_outer_tet == -1).all() and set(pm.tri_inner_tet.tolist()) <= {0, 1}
    assert pm.area == pytest.approx(mesh.tri_areas[pm_tris].sum())
    db = geom.diffusion_boundary("db", between=("cyt", "er"))
    assert db.tris.tolist() == memb.tolist() and db.tri_tets.tolist() == [[0, 2]]
    roi = geom.roi("spot", tets=mesh.tets_where(lambda x, y, z: z < 0))
    assert roi.tets.tolist() == [2]
    assert geom.roi("v", vertices=[0, 1]).vertices.tolist() == [0, 1]
    assert list(geom.compartments) == ["cyt", "er"] and list(geom.patches) == ["erm", "pm"]


def test_region_errors(mesh):
    geom = MeshGeometry(mesh)
    geom.compartment("cyt", tets="upper")
    with pytest.raises(GeometryError, match="already belongs to compartment 'cyt'"):
        geom.compartment("other", tets=[1, 2])
    with pytest.raises(GeometryError, match="did you mean 'cyt'"):
        geom.patch("p", tris=mesh.surface_tris(), inner="cty")
    with pytest.raises(GeometryError, match="patch 'p'.*not a face of any tet"):
        geom.patch("p", tris=mesh.surface_tris(), inner="cyt")
    inside = mesh.faces_between([0], [1])
    with pytest.raises(GeometryError, match="inside compartment"):
        geom.patch("p", tris=inside, inner="cyt")
    geom.compartment("er", tets="lower")
    with pytest.raises(GeometryError, match="no tet of outer"):
        geom.patch("p", tris=mesh.surface_tris(mesh.group("upper"))[:3], inner="cyt", outer="er")
    with pytest.raises(GeometryError, match="already used"):
        geom.compartment("cyt", tets=[0])
    with pytest.raises(GeometryError, match="exactly one"):
        geom.roi("r", tets=[0], tris=[0])
    with pytest.raises(GeometryError, match="no tet group"):
        geom.roi("r", tets="nope")


def test_all_tets_default(mesh):
    geom = MeshGeometry(mesh)
    comp = geom.compartment("cyto", systems=["cyt"])
    assert comp.tets.size == 3
    patch = geom.patch("memb", tris=mesh.surface_tris(), inner="cyto", systems=["pm"])
    assert patch.tris.size == 8 and patch.area == pytest.approx(mesh.tri_areas[mesh.surface_tris()].sum())
