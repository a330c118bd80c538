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


# ---------------------------------------------------------------------------- size, quality, accuracy
def test_size_is_honoured_on_curved_shapes():
    """Issue 10.6: sphere(1 um) gave 679 tets for every size; size now sets it unless curvature= is given."""
    counts = []
    for size in (0.35e-6, 0.5e-6, 0.7e-6):
        m = shapes.sphere(1e-6, size=size, cache=False)
        counts.append(m.n_tets)
        assert 0.6 * size < np.median(m.edge_lengths()) < 1.4 * size
    assert counts[0] > 1.5 * counts[1] > 2.25 * counts[2]  # ~ size^-3 (x2.9 per step), well above flat
    thin = [shapes.cylinder(0.5e-6, 2e-6, size=s, cache=False).n_tets for s in (0.15e-6, 0.3e-6)]
    assert thin[0] > 4 * thin[1]
    # with a curvature rule, coarse sizes no longer matter: 16 elements per turn set the mesh
    fine = [shapes.sphere(1e-6, size=s, curvature=16, cache=False).n_tets for s in (0.5e-6, 0.7e-6)]
    assert fine[0] == fine[1] > counts[1]
    with pytest.raises(GeometryError, match="curvature"):
        shapes.sphere(1e-6, curvature=2.5)


def test_structured_box_is_mirror_symmetric_across_every_face():
    """Neighbouring barycentres are joined normal to the shared face (what makes the diffusion exact)."""
    m = shapes.box(1e-6, 1e-6, 2e-6, size=0.25e-6)
    assert m.n_tets == 6 * 4 * 4 * 8
    inner = np.flatnonzero(m.face_tets[:, 1] >= 0)
    joint = m.tet_barycenters[m.face_tets[inner, 1]] - m.tet_barycenters[m.face_tets[inner, 0]]
    joint /= np.linalg.norm(joint, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(np.einsum("ij,ij->i", joint, m.tri_normals[inner])), 1.0, atol=1e-12)
    loose = shapes.box(1e-6, 1e-6, 2e-6, size=0.25e-6, structured=False, cache=False)
    assert loose.total_volume == pytest.approx(2e-18, rel=1e-9)


def test_dihedral_angles_and_report():
    from tetrasim.geometry import TetMesh
    from tetrasim.geometry.accuracy import dihedral_angles, quality_report

    regular = TetMesh([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], [[0, 1, 2, 3]], validate=False)
    np.testing.assert_allclose(dihedral_angles(regular), math.degrees(math.acos(1 / 3)), rtol=1e-12)
    corner = TetMesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]], validate=False)
    np.testing.assert_allclose(dihedral_angles(corner)[0, :3], 90.0)  # the edges at the right corner
    report = quality_report(shapes.box(1e-6, 1e-6, 1e-6, size=0.5e-6))
    assert report["step_ratio"] == pytest.approx(1.0) and report["dihedral_min"] == pytest.approx(45.0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_branchlets_have_no_slivers(k):
    """Issue 13.2: slivers (2,400 nm^3 beside a median 73,000) made opsplit's step ~20x shorter than
    the median tet's. Now the step is within 4x of it, no dihedral angle is under 10 degrees and
    no tet is 10x smaller than the median."""
    from tetrasim.geometry.accuracy import quality_report

    report = quality_report(shapes.branchlet(d_shaft=D0 / k))
    assert report["step_ratio"] > 0.25
    assert report["dihedral_min"] > 10.0
    assert report["volume_min"] > report["volume_median"] / 10


def _d_ratio(kind):
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate

    if kind == "box":
        mesh = shapes.box(1e-6, 1e-6, 4e-6)
        rate, modes = exact_slowest_rate("box", lengths=(1e-6, 1e-6, 4e-6))
    elif kind == "cylinder":
        mesh = shapes.cylinder(0.5e-6, 4e-6)
        rate, modes = exact_slowest_rate("cylinder", radius=0.5e-6, length=4e-6)
    else:
        mesh = shapes.sphere(1e-6)
        radius = (3 * mesh.total_volume / (4 * math.pi)) ** (1 / 3)  # the inscribed polyhedron is smaller
        rate, modes = exact_slowest_rate("sphere", radius=radius)
    return effective_diffusion_ratio(mesh, rate, modes)


@pytest.mark.parametrize("kind", ["box", "cylinder", "sphere"])
def test_default_meshes_diffuse_at_the_set_coefficient(kind):
    """Issue 10.7: |D_eff/D - 1| <= 3 % on the default meshes, from the slowest decay rate of the
    solvers' diffusion operator against the exact Neumann rate of the shape (no sampling).

    The cylinder meets it at its default size r/6 with little to spare (0.973; other gmsh seeds
    give 0.967-0.973 and the r 0.2 um x 10 um cylinder 0.971: docs/mesh.md), so a gmsh update
    that moves the mesh can fail this test: that is a finding, not a tolerance to widen."""
    assert _d_ratio(kind) == pytest.approx(1.0, abs=0.03)


def _cytosol_slowest_rate(mesh) -> float:
    from tetrasim.geometry import TetMesh
    from tetrasim.geometry.accuracy import diffusion_eigenvalues

    # the cytosol alone (unused vertices are harmless): the ER is a hole, not a diffusing volume
    return float(diffusion_eigenvalues(TetMesh(mesh.vertices, mesh.tets[mesh.group("cytosol")]), 2)[1])


def test_graded_branchlet_coarsens_the_nodes_only():
    """node_size: the d0/3 branchlet with ER keeps its 31-nm elements in the shafts and takes d0's
    in the nodes: far fewer tets, node tets ~10x larger, no slivers, the same shape."""
    from tetrasim.geometry.accuracy import quality_report

    uniform = shapes.branchlet(d_shaft=D0 / 3, er=True)
    graded = shapes.branchlet(d_shaft=D0 / 3, er=True, node_size=D0 / 4)
    assert graded.n_tets < 0.5 * uniform.n_tets

    def node_median(mesh):
        return np.median(mesh.tet_volumes[np.concatenate([mesh.group(f"node{i}") for i in range(5)])])

    assert node_median(graded) > 5 * node_median(uniform)
    volume = [m.tet_volumes[m.group("cytosol")].sum() for m in (uniform, graded)]
    assert volume[1] == pytest.approx(volume[0], rel=2e-3)
    report = quality_report(graded)
    assert report["dihedral_min"] > 10.0 and report["step_ratio"] > 0.25
    assert report["volume_min"] > report["volume_median"] / 10
    # A node size no larger than size leaves the mesh uniform (and its cache key unchanged).
    same = shapes.branchlet(d_shaft=D0, er=True, node_size=D0 / 4)
    np.testing.assert_array_equal(same.tets, shapes.branchlet(d_shaft=D0, er=True).tets)


@pytest.mark.validation
@pytest.mark.parametrize("k", [2, 3])
def test_graded_branchlet_diffuses_as_a_finer_mesh(k):
    """The slowest decay rate of the cytosol (exchange along the branchlet, through the shafts): the
    graded mesh is at least as close as the uniform default (d_shaft/4) to a uniform mesh twice as
    fine (d_shaft/8). Measured (docs/examples/astrocyte_calcium.md): d0/2 -4.9 % graded, -5.5 %
    uniform; d0/3 -1.6 % graded, -4.6 % uniform."""
    fine = _cytosol_slowest_rate(shapes.branchlet(d_shaft=D0 / k, er=True, size=D0 / k / 8))
    graded = _cytosol_slowest_rate(shapes.branchlet(d_shaft=D0 / k, er=True, node_size=D0 / 4))
    uniform = _cytosol_slowest_rate(shapes.branchlet(d_shaft=D0 / k, er=True))
    assert abs(graded / fine - 1) <= abs(uniform / fine - 1)
