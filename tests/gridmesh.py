"""A structured-grid tetrahedral mesh for tests: ``nx*ny*nz`` cubes of side ``h``, 6 tets each.

No gmsh: the mesh is built with NumPy, so it is identical on every machine and instant to
make. Each cube is split along its main diagonal (Kuhn / Freudenthal subdivision); the six
tets are congruent, and their vertex order is fixed here so that every signed volume is
positive (no reliance on ``fix_orientation``). Faces of neighbouring cubes match, so the
mesh is conforming.

Import from a test as ``from gridmesh import grid_mesh`` (``tests/`` is on ``sys.path``
through the root ``conftest.py``).
"""

from __future__ import annotations

import numpy as np

from tetrasim.geometry import TetMesh

__all__ = ["grid_mesh", "grid_tets", "axes_tets"]

#: the six monotone vertex paths from cube corner 0 to corner 7 (corner = 4*dx + 2*dy + dz)
_KUHN_PATHS = ((4, 6), (4, 5), (2, 6), (2, 3), (1, 5), (1, 3))


def grid_tets(nx: int, ny: int, nz: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (m) and positively oriented tets (vertex ids) of the structured box of cubes."""
    if min(nx, ny, nz) < 1 or not h > 0:
        raise ValueError("grid_tets needs nx, ny, nz >= 1 and h > 0")
    return axes_tets(*(np.arange(n + 1, dtype=np.float64) * h for n in (nx, ny, nz)))


def axes_tets(xs, ys, zs) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`grid_tets` on the tensor grid of increasing coordinates ``xs, ys, zs`` (m).

    Unequal spacings give boxes (not cubes) of unequal volumes, still split into 6 tets each.
    """
    xs, ys, zs = (np.asarray(a, dtype=np.float64) for a in (xs, ys, zs))
    if min(len(xs), len(ys), len(zs)) < 2 or any(np.any(np.diff(a) <= 0) for a in (xs, ys, zs)):
        raise ValueError("axes_tets needs at least two strictly increasing coordinates per axis")
    nx, ny, nz = len(xs) - 1, len(ys) - 1, len(zs) - 1
    vertices = np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"))

    def vid(a, b, c):
        return ((i + a) * (ny + 1) + (j + b)) * (nz + 1) + (k + c)

    corners = [vid((q >> 2) & 1, (q >> 1) & 1, q & 1) for q in range(8)]
    tets = np.concatenate([np.stack([corners[0], corners[p], corners[r], corners[7]], axis=1)
                           for p, r in _KUHN_PATHS])
    # orient every tet positively: swap two vertices where the signed volume is negative
    a, b, c, d = (vertices[tets[:, n]] for n in range(4))
    signed = np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a)
    flip = signed < 0
    tets[flip, 1], tets[flip, 2] = tets[flip, 2].copy(), tets[flip, 1].copy()
    return vertices, tets.astype(np.int64)


def grid_mesh(nx: int = 4, ny: int = 4, nz: int = 4, h: float = 0.25e-6, *, xs=None) -> TetMesh:
    """A :class:`~tetrasim.geometry.TetMesh` box of ``nx*ny*nz`` cubes of side ``h`` (m), ``6*nx*ny*nz`` tets.

    ``xs`` (optional, m) replaces the x coordinates of the grid (then ``nx = len(xs) - 1``):
    unequal spacing gives tets of unequal volumes.

    Examples
    --------
    >>> mesh = grid_mesh(2, 1, 1, 1e-6)
    >>> mesh.n_tets, round(float(mesh.tet_volumes.sum()) * 1e18, 12)
    (12, 2.0)
    """
    if xs is None:
        vertices, tets = grid_tets(nx, ny, nz, h)
    else:
        vertices, tets = axes_tets(xs, np.arange(ny + 1) * h, np.arange(nz + 1) * h)
        nx = len(xs) - 1
    return TetMesh.from_arrays(vertices, tets, length_unit="m", source=f"grid_mesh({nx},{ny},{nz},{h:g})")
