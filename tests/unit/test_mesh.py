"""TetMesh derived data: hand-computed 1-, 2- and 3-tet meshes, properties, validation, published meshes."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tetrasim.errors import GeometryError, GeometryWarning
from tetrasim.geometry import TetMesh

pytestmark = pytest.mark.filterwarnings("ignore::tetrasim.errors.GeometryWarning")

V = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, -1]]
ONE = [[0, 1, 2, 3]]
TWO = [[0, 1, 2, 3], [1, 2, 3, 4]]
THREE = [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 1, 5]]


def data_dir() -> Path:
    env = os.environ.get("TETRASIM_DATA")
    return Path(env) if env else Path(__file__).parents[2].parent / "shared" / "data"


def test_one_tet_hand_computed():
    m = TetMesh.from_arrays(V[:4], ONE)
    assert m.n_tets == 1 and m.n_vertices == 4 and m.n_tris == 4
    assert m.tet_volumes[0] == pytest.approx(1 / 6)
    np.testing.assert_allclose(m.tet_barycenters[0], [0.25, 0.25, 0.25])
    np.testing.assert_allclose(m.tet_face_areas[0], [math.sqrt(3) / 2, 0.5, 0.5, 0.5])
    assert (m.tet_neighbors == -1).all()
    assert (m.diffusion_couplings() == 0).all()
    assert len(m.surface_tris()) == 4
    # boundary normals point outwards
    out = m.tri_barycenters - m.tet_barycenters[0]
    assert (np.einsum("ij,ij->i", out, m.tri_normals) > 0).all()
    np.testing.assert_allclose(m.bounding_box, [[0, 0, 0], [1, 1, 1]])


def test_two_tets_hand_computed():
    m = TetMesh.from_arrays(V[:5], TWO)
    np.testing.assert_allclose(m.tet_volumes, [1 / 6, 1 / 3])
    assert m.tet_neighbors.tolist() == [[1, -1, -1, -1], [-1, -1, -1, 0]]
    g = m.diffusion_couplings()
    # g = A / (V * delta): A = sqrt(3)/2, delta = |(.5,.5,.5) - (.25,.25,.25)| = sqrt(3)/4
    assert g[0, 0] == pytest.approx(12.0)
    assert g[1, 3] == pytest.approx(6.0)
    assert np.count_nonzero(g) == 2
    assert m.n_tris == 7 and len(m.surface_tris()) == 6
    shared = m.tet_faces[0, 0]
    assert m.tet_faces[1, 3] == shared
    assert sorted(m.tri_tets([shared])[0].tolist()) == [0, 1]
    # subset couplings: only inside the subset
    assert (m.diffusion_couplings(tet_subset=[0]) == 0).all()


def test_three_tets_hand_computed():
    m = TetMesh.from_arrays(V, THREE, length_unit="um")
    np.testing.assert_allclose(m.tet_volumes, np.array([1 / 6, 1 / 3, 1 / 6]) * 1e-18)
    assert m.tet_neighbors[0].tolist() == [1, -1, -1, 2]
    g = m.diffusion_couplings() * 1e-12  # back to 1/um^2
    assert g[0, 0] == pytest.approx(12.0)
    assert g[0, 3] == pytest.approx(0.5 / (1 / 6 * 0.5))
    assert g[2, m.tet_neighbors[2].tolist().index(0)] == pytest.approx(6.0)
    assert m.total_volume == pytest.approx(2 / 3 * 1e-18)
    # every interior face has two tets, boundary faces one
    ft = m.face_tets
    assert ((ft[:, 1] >= 0).sum(), (ft[:, 1] < 0).sum()) == (2, 8)


def test_tri_edge_neighbors_and_couplings():
    m = TetMesh.from_arrays(V[:5], TWO)
    surf = m.surface_tris()
    nbr, lengths = m.tri_edge_neighbors(surf)
    assert (nbr >= 0).all()  # closed surface: every edge has a neighbour
    for i in range(len(surf)):
        for e in range(3):
            assert i in nbr[nbr[i, e]]
    g, nbr2 = m.tri_diffusion_couplings(surf)
    assert (nbr2 == nbr).all() and (g > 0).all()
    # single triangle: no neighbours
    g1, n1 = m.tri_diffusion_couplings(surf[:1])
    assert (n1 == -1).all() and (g1 == 0).all()
    # hand check: two right triangles sharing the hypotenuse-free edge
    one = TetMesh.from_arrays(V[:4], ONE)
    tris = one.find_tris([[0, 1, 2], [0, 1, 3]])
    g2, n2 = one.tri_diffusion_couplings(tris)
    e = n2[0].tolist().index(1)
    delta = np.linalg.norm(one.tri_barycenters[tris[0]] - one.tri_barycenters[tris[1]])
    assert g2[0, e] == pytest.approx(1.0 / (0.5 * delta))


def test_selections_and_find_tet():
    m = TetMesh.from_arrays(V, THREE, groups={"top": [1], "low": [0, 2]})
    assert m.tets_where(lambda x, y, z: z < 0).tolist() == [2]
    assert m.group("top").tolist() == [1]
    with pytest.raises(GeometryError, match="did you mean 'top'"):
        m.group("tpo")
    assert m.group_complement("top").tolist() == [0, 2]
    assert m.find_tet([0.1, 0.1, 0.1]) == 0
    assert m.find_tet([0.1, 0.1, -0.1]) == 2
    assert m.find_tet([5, 5, 5]) == -1
    pts = np.concatenate([m.tet_barycenters, [[0.9, 0.9, -0.9]]])
    assert m.find_tet(pts).tolist() == [0, 1, 2, -1]
    indptr, tets = m.vertex_tets
    assert sorted(tets[indptr[0] : indptr[1]].tolist()) == [0, 2]
    assert len(m.edges()) == 12
    assert "tets" in m.summary("m")


def test_validation_errors():
    with pytest.raises(GeometryError, match="out of range|refers to vertex"):
        TetMesh.from_arrays(V[:4], [[0, 1, 2, 7]])
    with pytest.raises(GeometryError, match="zero volume|repeats"):
        TetMesh.from_arrays(V[:4], [[0, 1, 2, 2]])
    with pytest.raises(GeometryError, match="zero volume"):
        TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], ONE)
    with pytest.raises(GeometryError, match="fix_orientation=True"):
        TetMesh.from_arrays(V[:4], [[0, 2, 1, 3]])
    fixed = TetMesh.from_arrays(V[:4], [[0, 2, 1, 3]], fix_orientation=True)
    assert fixed.tet_volumes[0] == pytest.approx(1 / 6)
    with pytest.raises(GeometryError, match="share more than one face|duplicat"):
        TetMesh.from_arrays(V[:4], [[0, 1, 2, 3], [1, 0, 3, 2]], fix_orientation=True)
    # three tets on one face: non-conforming
    with pytest.raises(GeometryError, match="shared by 3 tets"):
        TetMesh.from_arrays(
            V + [[0.2, 0.2, 0.9]],
            [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 1, 5], [1, 2, 3, 6]],
            fix_orientation=True,
        )
    # folded: a second tet on the same side of the shared face
    with pytest.raises(GeometryError, match="same side"):
        TetMesh.from_arrays(V[:4] + [[0.1, 0.1, 0.1]], [[0, 1, 2, 3], [1, 2, 3, 4]], fix_orientation=True)
    with pytest.raises(GeometryError, match="shape"):
        TetMesh.from_arrays([[0, 0]], ONE)
    with pytest.raises(GeometryError, match="non-finite"):
        TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, np.nan, 0], [0, 0, 1]], ONE)
    with pytest.raises(GeometryError, match="length unit"):
        TetMesh.from_arrays(V[:4], ONE, length_unit="parsec-ish")


def test_edge_length_warning():
    with pytest.warns(GeometryWarning, match="length_unit"):
        TetMesh.from_arrays(V[:4], ONE, length_unit="pm")


def _grid_mesh(nx, ny, nz, jitter, seed):
    """Structured box [0,nx]x[0,ny]x[0,nz] cut into 6 tets per cube (Kuhn), vertices jittered inside."""
    g = np.stack(np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1), indexing="ij"), -1)
    pts = g.reshape(-1, 3).astype(float)
    rng = np.random.default_rng(seed)
    interior = ((pts > 0) & (pts < [nx, ny, nz])).all(axis=1)
    pts[interior] += rng.uniform(-jitter, jitter, (interior.sum(), 3))
    idx = np.arange(len(pts)).reshape(nx + 1, ny + 1, nz + 1)
    cubes = []
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                cubes.append(idx[dx : nx + dx, dy : ny + dy, dz : nz + dz].ravel())
    c = np.stack(cubes, 1)  # corner (dx,dy,dz) -> column dx*4+dy*2+dz
    paths = [(4, 6), (4, 5), (2, 6), (2, 3), (1, 5), (1, 3)]
    tets = np.concatenate([np.stack([c[:, 0], c[:, a], c[:, b], c[:, 7]], 1) for a, b in paths])
    return pts, tets


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.floats(0, 0.15), st.integers(0, 99))
def test_properties_grid(nx, ny, nz, jitter, seed):
    pts, tets = _grid_mesh(nx, ny, nz, jitter, seed)
    m = TetMesh.from_arrays(pts, tets, fix_orientation=True)
    assert m.total_volume == pytest.approx(nx * ny * nz, rel=1e-12)
    assert m.tet_volumes.sum() == pytest.approx(m.total_volume)
    surf = m.surface_tris()
    assert m.tri_areas[surf].sum() == pytest.approx(2 * (nx * ny + ny * nz + nx * nz), rel=1e-12)
    inner = m.face_tets[:, 1] >= 0
    # every interior face has exactly two distinct tets, each seeing the other as neighbour
    a, b = m.face_tets[inner].T
    assert (a != b).all()
    assert (m.tet_neighbors[a] == b[:, None]).any(axis=1).all()
    counts = np.bincount(m.tet_faces.ravel(), minlength=m.n_tris)
    assert ((counts == 2) == inner).all() and ((counts == 1) == ~inner).all()
    g = m.diffusion_couplings()
    assert ((g > 0) == (m.tet_neighbors >= 0)).all()
    # symmetry of the flux: V_i g_ij = V_j g_ji (same face, same delta)
    flux = m.tet_volumes[:, None] * g
    rows, cols = np.nonzero(m.tet_neighbors >= 0)
    j = m.tet_neighbors[rows, cols]
    back = np.argmax(m.tet_neighbors[j] == rows[:, None], axis=1)
    np.testing.assert_allclose(flux[rows, cols], flux[j, back])
    found = m.find_tet(m.tet_barycenters)
    assert (found == np.arange(m.n_tets)).all()


ASTRO = [
    ("5nodes_ratio1.inp", 0.620, 24129),
    ("5nodes_ratio2.inp", 0.263, 33110),
    ("5nodes_ratio3.inp", 0.195, 54267),
]


@pytest.mark.parametrize("name,volume,ntets", ASTRO)
def test_astrocyte_meshes(name, volume, ntets):
    path = data_dir() / "meshes" / "astrocyte" / name
    if not path.exists():
        pytest.skip(f"published mesh {path} absent (set TETRASIM_DATA)")
    m = TetMesh.load(path, length_unit="nm")
    assert set(m.groups) == {"EB25", "EB36", "EB37", "EB38", "EB39", "EB40"}
    cyt = m.group_complement("EB25")
    assert len(cyt) == ntets
    assert m.tet_volumes[cyt].sum() * 1e18 == pytest.approx(volume, rel=0.01)
    er_membrane = m.faces_between(cyt, m.group("EB25"))
    assert er_membrane.size > 0


@pytest.mark.parametrize("name,ntets", [("10x10x100_3363tets.msh", 3363), ("10x10x100_13009tets.msh", 13009)])
def test_steps_simple_model_meshes(name, ntets):
    path = data_dir() / "meshes" / "steps4-simple-model" / name
    if not path.exists():
        pytest.skip(f"published mesh {path} absent (set TETRASIM_DATA)")
    m = TetMesh.load(path, length_unit="um")
    assert m.n_tets == ntets
    np.testing.assert_allclose(m.bounding_box, [[-5e-6, -5e-6, -50e-6], [5e-6, 5e-6, 50e-6]], atol=1e-12)
    assert m.total_volume == pytest.approx(1e4 * 1e-18, rel=1e-9)
    assert m.tri_areas[m.surface_tris()].sum() == pytest.approx(4200e-12, rel=1e-9)
