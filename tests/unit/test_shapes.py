"""Mesh generators: box area/volume, determinism, branchlet volumes against the analytic formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tetrasim.errors import GeometryError
from tetrasim.geometry import MeshGeometry, shapes

pytest.importorskip("gmsh")
D0 = 378e-9


def test_box_volume_area_and_determinism():
    m = shapes.box(2e-6, 1e-6, 1e-6, size=0.3e-6, cache=False)
    assert m.total_volume == pytest.approx(2e-18, rel=1e-9)
    assert m.tri_areas[m.surface_tris()].sum() == pytest.approx(2 * (2 + 2 + 1) * 1e-12, rel=1e-9)
    again = shapes.box(2e-6, 1e-6, 1e-6, size=0.3e-6, cache=False)
    assert np.array_equal(m.tets, again.tets) and np.array_equal(m.vertices, again.vertices)


def test_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TETRASIM_CACHE", str(tmp_path))
    a = shapes.sphere(1e-6, size=0.4e-6)
    assert list(shapes.cache_dir().glob("sphere-*.npz"))
    b = shapes.sphere(1e-6, size=0.4e-6)
    assert np.array_equal(a.tets, b.tets)
    assert a.total_volume == pytest.approx(4 / 3 * math.pi * 1e-18, rel=0.05)


def test_cylinder():
    m = shapes.cylinder(0.5e-6, 2e-6, size=0.25e-6, cache=False)
    assert m.total_volume == pytest.approx(math.pi * 0.25e-12 * 2e-6, rel=0.05)
    lo, hi = m.bounding_box
    assert lo[2] == pytest.approx(0, abs=1e-15) and hi[2] == pytest.approx(2e-6)


def test_branchlet_analytic_volume_formula():
    # no shafts: spheres only; thin shafts: spheres + cylinders between the sphere surfaces
    r_node = 190e-9
    assert shapes.branchlet_volume(n_nodes=1) == pytest.approx(4 / 3 * math.pi * r_node**3)
    a = 1e-12
    v = shapes.branchlet_volume(d_shaft=2 * a, n_nodes=2, spacing=1e-6)
    expected = 2 * 4 / 3 * math.pi * r_node**3 + math.pi * a * a * (1e-6 - 2 * r_node)
    assert v == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_branchlet_volumes(k):
    d = D0 / k
    m = shapes.branchlet(d_shaft=d, size=0.1e-6)
    assert m.total_volume == pytest.approx(shapes.branchlet_volume(d_shaft=d), rel=0.05)
    groups = m.groups
    assert {"cytosol", "node0", "node4", "shaft1b", "shaft2a"} <= set(groups)
    parts = np.concatenate([groups[g] for g in groups if g != "cytosol"])
    assert np.array_equal(np.sort(parts), groups["cytosol"])  # the labels partition the cytosol
    lo, hi = m.bounding_box
    assert hi[0] == pytest.approx(2 * 1.57e-6 + 190e-9, rel=0.01) and lo[0] == pytest.approx(-hi[0], rel=0.01)


def test_branchlet_er():
    m = shapes.branchlet(d_shaft=D0 / 2, size=0.1e-6, er=True)
    er, cyt = m.group("er"), m.group("cytosol")
    assert np.intersect1d(er, cyt).size == 0 and er.size + cyt.size == m.n_tets
    outer = shapes.branchlet_volume(d_shaft=D0 / 2)
    inner = shapes.branchlet_volume(d_node=190e-9, d_shaft=D0 / 4)
    assert m.tet_volumes[er].sum() == pytest.approx(inner, rel=0.08)
    assert m.tet_volumes[cyt].sum() == pytest.approx(outer - inner, rel=0.05)
    geom = MeshGeometry(m)
    geom.compartment("cyto", tets="cytosol")
    geom.compartment("er", tets="er")
    erm = geom.membrane_tris_between("cyto", "er")
    assert erm.size > 0
    geom.patch("erm", tris=erm, inner="er", outer="cyto")


def test_bad_parameters():
    with pytest.raises(GeometryError, match="d_shaft"):
        shapes.branchlet(d_shaft=500e-9)
    with pytest.raises(GeometryError, match="positive"):
        shapes.box(-1, 1, 1)
    with pytest.raises(GeometryError, match="huge mesh"):
        shapes.box(1e-6, 1e-6, 1e-6, size=1e-11)
