"""Tetrahedral meshes as arrays: :class:`TetMesh` and its derived data.

A :class:`TetMesh` holds vertex coordinates in metres and tetrahedra as rows of four vertex
indices (positively oriented after construction). Everything else -- volumes, barycenters,
faces, neighbours, boundary, couplings -- is derived once, vectorised with NumPy, and cached.

Conventions
-----------
* Face ``k`` of a tet is the face opposite its local vertex ``k``. ``tet_neighbors[i, k]`` is
  the tet across that face, ``-1`` on the mesh boundary.
* ``mesh.tris`` lists every unique face of the mesh (boundary and interior). Triangle ``f`` is
  oriented with its normal pointing *out of* ``face_tets[f, 0]``; ``face_tets[f, 1]`` is the
  tet on the other side or ``-1``. Boundary triangles therefore have outward normals.
* Diffusion couplings follow docs/concepts/spatial_ssa.md: ``g = A_f / (V_i * delta_ij)`` (1/m^2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path

import numpy as np

from ..arguments import check_keywords, checked_keywords
from ..errors import GeometryError, did_you_mean
from . import io, quality
from .conventions import FACE_VERTICES, parse_length_unit

__all__ = ["TetMesh", "FACE_VERTICES", "parse_length_unit", "load_mesh", "mesh_info"]

def _sorted_unique(arr: np.ndarray) -> np.ndarray:
    if arr.size < 2 or (arr[1:] > arr[:-1]).all():
        return arr
    arr = np.sort(arr)
    return arr[np.concatenate([[True], arr[1:] != arr[:-1]])]


def _as_index_array(values, name: str, upper: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        if arr.shape != (upper,):
            raise GeometryError(f"{name}: a boolean mask must have length {upper}, got shape {arr.shape}")
        return np.flatnonzero(arr).astype(np.int64)
    arr = np.asarray(arr, dtype=np.int64).ravel() if arr.size else np.zeros(0, np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        bad = arr[(arr < 0) | (arr >= upper)][0]
        raise GeometryError(f"{name}: {what} index {bad} is out of range 0..{upper - 1}")
    return arr


@check_keywords
class TetMesh:
    """A tetrahedral mesh: vertices in metres, tets, element groups and cached derived data.

    Parameters
    ----------
    vertices : array_like, shape (n, 3)
        Vertex coordinates in metres.
    tets : array_like of int, shape (m, 4)
        Vertex indices of each tetrahedron (0-based).
    groups : mapping of str to array_like of int, optional
        Named sets of tet indices (physical groups, element sets).
    tri_groups : mapping of str to array_like of int, shape (k, 3), optional
        Named sets of explicit triangles given as vertex triples; each must be a face of the
        mesh. Stored as face ids into :attr:`tris`.
    fix_orientation : bool
        Reorder the vertices of negatively oriented tets instead of rejecting the mesh.
    validate : bool
        Run the checks of :mod:`tetrasim.geometry.quality` (leave on for user input).
    source : str, optional
        Where the mesh came from (a file name), used in error messages.
    element_ids : array_like of int, optional
        The tets' ids in the source file, used in error messages.
    input_unit : str or float, optional
        The length unit the coordinates were given in before scaling to metres (``length_unit``
        of a file); only used to suggest a better one when the mesh's size is implausible.

    Examples
    --------
    >>> mesh = TetMesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]])
    >>> float(mesh.tet_volumes[0] * 6)
    1.0
    """

    is_part = False  # True for one rank's part of a split mesh (tetrasim.backends.split_mesh.PartMesh)

    def __init__(
        self,
        vertices,
        tets,
        *,
        groups: Mapping | None = None,
        tri_groups: Mapping | None = None,
        fix_orientation: bool = False,
        validate: bool = True,
        source: str | None = None,
        element_ids=None,
        input_unit=None,
    ):
        self.source = str(source) if source is not None else "<arrays>"
        self.input_unit = input_unit
        verts = np.ascontiguousarray(vertices, dtype=np.float64)
        cells = np.asarray(tets)
        if verts.ndim != 2 or verts.shape[1] != 3:
            raise GeometryError(f"{self.source}: vertices must have shape (n, 3), got {verts.shape}")
        if cells.ndim != 2 or cells.shape[1] != 4:
            raise GeometryError(f"{self.source}: tets must have shape (m, 4), got {cells.shape}")
        if cells.shape[0] == 0:
            raise GeometryError(f"{self.source}: the mesh has no tetrahedra")
        if cells.dtype.kind not in "iu":
            if cells.dtype.kind == "f" and np.all(np.isfinite(cells)) and np.all(cells == np.round(cells)):
                cells = cells.astype(np.int64)
            else:
                raise GeometryError(f"{self.source}: tets must be integer vertex indices, got {cells.dtype}")
        cells = np.ascontiguousarray(cells, dtype=np.int64)
        self.element_ids = None if element_ids is None else np.asarray(element_ids, dtype=np.int64)
        if validate:
            quality.check_arrays(verts, cells, self.source, self.element_ids)
        self.vertices = verts
        self.tets = cells
        signed = quality.signed_volumes(verts, cells)
        if validate:
            signed = quality.check_orientation(self, signed, fix_orientation)
        self._signed_volumes = signed
        self.groups: dict[str, np.ndarray] = {}
        for name, idx in (groups or {}).items():
            arr = _sorted_unique(_as_index_array(idx, f"{self.source}: group {name!r}", len(cells), "tet"))
            arr.setflags(write=False)
            self.groups[str(name)] = arr
        self.vertices.setflags(write=False)
        self.tets.setflags(write=False)
        self._build_faces(check=validate)
        if validate:
            quality.check_duplicates(self)
            quality.check_folded(self)
            quality.warn_edge_lengths(self)
        self.tri_groups: dict[str, np.ndarray] = {}
        for name, triples in (tri_groups or {}).items():
            self.tri_groups[str(name)] = self.find_tris(triples, name=f"triangle group {name!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        vertices,
        tets,
        *,
        length_unit="m",
        groups=None,
        tri_groups=None,
        fix_orientation: bool = False,
        source: str | None = None,
    ) -> TetMesh:
        """Build a mesh from arrays; ``length_unit`` scales ``vertices`` to metres (default ``"m"``).

        Examples
        --------
        >>> m = TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]],
        ...                         length_unit="um")
        >>> float(m.tet_volumes.sum()) * 1e18 * 6
        1.0
        """
        scale = parse_length_unit(length_unit)
        verts = np.asarray(vertices, dtype=np.float64) * scale
        return cls(
            verts,
            tets,
            groups=groups,
            tri_groups=tri_groups,
            fix_orientation=fix_orientation,
            source=source,
            input_unit=length_unit,
        )

    @classmethod
    def load(
        cls,
        path,
        length_unit=None,
        *,
        format: str | None = None,  # noqa: A002 - public name
        fix_orientation: bool = False,
        drop_unused_nodes: bool = False,
    ) -> TetMesh:
        """Read a mesh file; see :func:`load_mesh` for formats and errors."""
        return io.read_mesh(
            path,
            length_unit,
            cls,
            format=format,
            fix_orientation=fix_orientation,
            drop_unused_nodes=drop_unused_nodes,
        )

    def save(self, path, *, format: str | None = None, length_unit="m") -> Path:  # noqa: A002
        """Write the mesh to ``.npz`` (native, fast) or Gmsh 4.1 ``.msh`` (coordinates in ``length_unit``)."""
        return io.save_mesh(self, path, format=format, length_unit=length_unit)

    def __repr__(self) -> str:
        return (
            f"TetMesh({self.n_vertices} vertices, {self.n_tets} tets, {self.n_tris} faces, "
            f"groups={list(self.groups)}, source={self.source!r})"
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_tets(self) -> int:
        """Number of tetrahedra."""
        return int(self.tets.shape[0])

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.vertices.shape[0])

    @property
    def n_tris(self) -> int:
        """Number of unique faces (``len(mesh.tris)``)."""
        return int(self.tris.shape[0])

    # ------------------------------------------------------------------ faces
    def _build_faces(self, check: bool) -> None:
        m = self.n_tets
        local = self.tets[:, FACE_VERTICES].reshape(4 * m, 3)
        srt = np.sort(local, axis=1)
        n = max(self.n_vertices, 1)
        if n < 2_000_000:
            key = (srt[:, 0] * n + srt[:, 1]) * n + srt[:, 2]
            order = np.argsort(key, kind="stable")
            ks = key[order]
            new = np.empty(4 * m, dtype=bool)
            new[0] = True
            np.not_equal(ks[1:], ks[:-1], out=new[1:])
        else:
            order = np.lexsort((srt[:, 2], srt[:, 1], srt[:, 0]))
            ss = srt[order]
            new = np.empty(4 * m, dtype=bool)
            new[0] = True
            new[1:] = np.any(ss[1:] != ss[:-1], axis=1)
        fid_sorted = np.cumsum(new) - 1
        nf = int(fid_sorted[-1]) + 1
        counts = np.bincount(fid_sorted, minlength=nf)
        if check and counts.max() > 2:
            quality.raise_nonconforming(self, counts, fid_sorted, order)
        tet_faces = np.empty(4 * m, dtype=np.int64)
        tet_faces[order] = fid_sorted
        first = order[new]
        second_mask = ~new
        face_tets = np.full((nf, 2), -1, dtype=np.int64)
        face_local = np.full((nf, 2), -1, dtype=np.int64)
        face_tets[:, 0] = first // 4
        face_local[:, 0] = first % 4
        sec = order[second_mask]
        fsec = fid_sorted[second_mask]
        face_tets[fsec, 1] = sec // 4
        face_local[fsec, 1] = sec % 4
        self._tris = np.ascontiguousarray(local[first])
        self._tet_faces = tet_faces.reshape(m, 4)
        self._face_tets = face_tets
        self._face_local = face_local
        for arr in (self._tris, self._tet_faces, self._face_tets, self._face_local):
            arr.setflags(write=False)

    @property
    def tris(self) -> np.ndarray:
        """(nf, 3) int64 vertex indices of every unique face, normal pointing out of ``face_tets[:, 0]``."""
        return self._tris

    @property
    def tet_faces(self) -> np.ndarray:
        """(m, 4) int64 face id (row of :attr:`tris`) of face ``k`` of each tet."""
        return self._tet_faces

    @property
    def face_tets(self) -> np.ndarray:
        """(nf, 2) int64 tets on either side of each face (second is ``-1`` on the boundary)."""
        return self._face_tets

    @cached_property
    def tet_neighbors(self) -> np.ndarray:
        """(m, 4) int64 tet across face ``k`` (opposite vertex ``k``), ``-1`` on the boundary."""
        ft = self._face_tets[self._tet_faces]  # (m, 4, 2)
        own = np.arange(self.n_tets)[:, None]
        nb = np.where(ft[:, :, 0] == own, ft[:, :, 1], ft[:, :, 0])
        nb.setflags(write=False)
        return nb

    # ------------------------------------------------------------------ tet geometry
    @cached_property
    def tet_volumes(self) -> np.ndarray:
        """(m,) tet volumes in m^3 (positive)."""
        v = np.abs(self._signed_volumes)
        v.setflags(write=False)
        return v

    @cached_property
    def tet_barycenters(self) -> np.ndarray:
        """(m, 3) tet barycenters in metres."""
        v, t = self.vertices, self.tets
        b = (v[t[:, 0]] + v[t[:, 1]] + v[t[:, 2]] + v[t[:, 3]]) * 0.25
        b.setflags(write=False)
        return b

    @cached_property
    def tet_face_areas(self) -> np.ndarray:
        """(m, 4) area in m^2 of face ``k`` (opposite vertex ``k``) of each tet."""
        a = self.tri_areas[self._tet_faces]
        a.setflags(write=False)
        return a

    @property
    def total_volume(self) -> float:
        """Sum of the tet volumes in m^3."""
        return float(self.tet_volumes.sum())

    @cached_property
    def bounding_box(self) -> np.ndarray:
        """(2, 3) array: minimum and maximum vertex coordinates in metres."""
        mask = np.zeros(self.n_vertices, dtype=bool)
        mask[self.tets.ravel()] = True
        used = self.vertices if mask.all() else self.vertices[mask]
        return np.stack([used.min(axis=0), used.max(axis=0)])

    # ------------------------------------------------------------------ triangle geometry
    @cached_property
    def _tri_cross(self) -> np.ndarray:
        v, t = self.vertices, self._tris
        p0 = v[t[:, 0]]
        return quality.cross(v[t[:, 1]] - p0, v[t[:, 2]] - p0)

    @cached_property
    def tri_areas(self) -> np.ndarray:
        """(nf,) area in m^2 of every face."""
        a = 0.5 * np.sqrt(np.einsum("ij,ij->i", self._tri_cross, self._tri_cross))
        a.setflags(write=False)
        return a

    @cached_property
    def tri_normals(self) -> np.ndarray:
        """(nf, 3) unit normals pointing out of ``face_tets[:, 0]`` (outward on the boundary)."""
        nrm = self._tri_cross / (2.0 * self.tri_areas[:, None])
        nrm.setflags(write=False)
        return nrm

    @cached_property
    def tri_barycenters(self) -> np.ndarray:
        """(nf, 3) face barycenters in metres."""
        b = self.vertices[self._tris].mean(axis=1)
        b.setflags(write=False)
        return b

    def tri_tets(self, tri_ids=None) -> np.ndarray:
        """(k, 2) tets adjacent to the given faces (all faces when ``None``); ``-1`` where none."""
        if tri_ids is None:
            return self._face_tets
        return self._face_tets[_as_index_array(tri_ids, "tri_tets", self.n_tris, "triangle")]

    def surface_tris(self, tets=None) -> np.ndarray:
        """Face ids of the boundary of the mesh, or of the tet subset ``tets``.

        The boundary of a subset is every face with exactly one adjacent tet in the subset (for
        the cytosol of an astrocyte mesh: the plasma membrane plus the ER membrane).
        """
        if tets is None:
            return np.flatnonzero(self._face_tets[:, 1] < 0)
        inside = self._tet_mask(tets, "surface_tris")
        ft = self._face_tets
        a = inside[ft[:, 0]]
        b = np.where(ft[:, 1] >= 0, inside[np.maximum(ft[:, 1], 0)], False)
        return np.flatnonzero(a ^ b)

    def faces_between(self, tets_a, tets_b) -> np.ndarray:
        """Face ids shared by a tet of ``tets_a`` and a tet of ``tets_b``."""
        a = self._tet_mask(tets_a, "faces_between")
        b = self._tet_mask(tets_b, "faces_between")
        ft = self._face_tets
        inner = ft[:, 1] >= 0
        t0, t1 = ft[:, 0], np.maximum(ft[:, 1], 0)
        hit = inner & ((a[t0] & b[t1]) | (b[t0] & a[t1]))
        return np.flatnonzero(hit)

    def find_tris(self, triples, name: str = "triangles") -> np.ndarray:
        """Face ids of triangles given as vertex triples (any order); GeometryError if not a face."""
        tri = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        if tri.size == 0:
            return np.zeros(0, dtype=np.int64)
        n = self.n_vertices
        if tri.min() < 0 or tri.max() >= n:
            raise GeometryError(f"{self.source}: {name} uses a vertex index out of range 0..{n - 1}")
        sk = np.sort(tri, axis=1)
        fk = np.sort(self._tris, axis=1)
        if n < 2_000_000:
            qkey = (sk[:, 0] * n + sk[:, 1]) * n + sk[:, 2]
            fkey = (fk[:, 0] * n + fk[:, 1]) * n + fk[:, 2]
        else:  # structured view keeps exact comparison for huge meshes
            dt = np.dtype([("a", np.int64), ("b", np.int64), ("c", np.int64)])
            qkey = np.ascontiguousarray(sk).view(dt).ravel()
            fkey = np.ascontiguousarray(fk).view(dt).ravel()
        order = np.argsort(fkey)
        pos = np.searchsorted(fkey[order], qkey)
        pos = np.minimum(pos, len(order) - 1)
        found = fkey[order][pos] == qkey
        if not found.all():
            bad = int(np.flatnonzero(~found)[0])
            raise GeometryError(
                f"{self.source}: {name}: triangle {bad} with vertices {tri[bad].tolist()} is not a face of "
                "any tetrahedron; surface triangles must be faces of the volume mesh"
            )
        return order[pos]

    def tri_edge_neighbors(self, tri_ids) -> tuple[np.ndarray, np.ndarray]:
        """Edge neighbours within a set of triangles.

        Parameters
        ----------
        tri_ids : array_like of int
            Face ids (rows of :attr:`tris`) forming a surface.

        Returns
        -------
        neighbors : ndarray, shape (k, 3)
            Position *within* ``tri_ids`` of the triangle across edge ``e`` (the edge opposite
            local vertex ``e``), ``-1`` when the edge is on the border of the set or shared by more
            than two triangles of the set (non-manifold edge).
        edge_lengths : ndarray, shape (k, 3)
            Length in metres of edge ``e``.
        """
        ids = _as_index_array(tri_ids, "tri_edge_neighbors", self.n_tris, "triangle")
        k = len(ids)
        tv = self._tris[ids]
        edges = tv[:, [[1, 2], [2, 0], [0, 1]]].reshape(3 * k, 2)
        p = self.vertices
        lengths = np.linalg.norm(p[edges[:, 0]] - p[edges[:, 1]], axis=1).reshape(k, 3)
        nbr = np.full(3 * k, -1, dtype=np.int64)
        if k:
            e = np.sort(edges, axis=1)
            key = e[:, 0] * np.int64(self.n_vertices) + e[:, 1]
            order = np.argsort(key, kind="stable")
            ks = key[order]
            new = np.ones(3 * k, dtype=bool)
            new[1:] = ks[1:] != ks[:-1]
            gid = np.cumsum(new) - 1
            counts = np.bincount(gid)
            start = np.flatnonzero(new)
            pair = np.flatnonzero(counts == 2)
            a = order[start[pair]]
            b = order[start[pair] + 1]
            nbr[a] = b // 3
            nbr[b] = a // 3
        return nbr.reshape(k, 3), lengths

    # ------------------------------------------------------------------ couplings
    def diffusion_couplings(self, tet_subset=None) -> np.ndarray:
        """Geometric diffusion couplings ``A_f / (V_i * delta_ij)`` in 1/m^2.

        Parameters
        ----------
        tet_subset : array_like of int or bool mask, optional
            Only couple tets inside this set (a compartment); couplings to tets outside it, and
            rows of tets outside it, are 0.

        Returns
        -------
        ndarray, shape (m, 4)
            ``g[i, k]`` for the face ``k`` of tet ``i`` towards ``tet_neighbors[i, k]``; 0 where
            there is no neighbour. Multiply by D (m^2/s) for the rate of one molecule (1/s).

        Examples
        --------
        >>> m = TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
        ...                         [[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> g = m.diffusion_couplings()
        >>> bool(g[0, 0] > 0 and g[0, 1] == 0)
        True
        """
        nb = self.tet_neighbors
        has = nb >= 0
        if tet_subset is not None:
            inside = self._tet_mask(tet_subset, "diffusion_couplings")
            has = has & inside[:, None] & inside[np.maximum(nb, 0)]
        bc = self.tet_barycenters
        j = np.where(has, nb, np.arange(self.n_tets)[:, None])
        delta = np.linalg.norm(bc[j] - bc[:, None, :], axis=2)
        g = np.zeros(nb.shape, dtype=np.float64)
        np.divide(self.tet_face_areas, self.tet_volumes[:, None] * delta, out=g, where=has)
        return g

    def tri_diffusion_couplings(self, tri_ids) -> tuple[np.ndarray, np.ndarray]:
        """Surface couplings ``L_e / (A_tri * delta)`` (1/m^2) and neighbours within ``tri_ids``.

        Returns ``(couplings, neighbors)``, both shaped (k, 3), with the conventions of
        :meth:`tri_edge_neighbors` (``neighbors`` are positions within ``tri_ids``).
        """
        ids = _as_index_array(tri_ids, "tri_diffusion_couplings", self.n_tris, "triangle")
        nbr, lengths = self.tri_edge_neighbors(ids)
        has = nbr >= 0
        bc = self.tri_barycenters[ids]
        j = np.where(has, nbr, np.arange(len(ids))[:, None])
        delta = np.linalg.norm(bc[j] - bc[:, None, :], axis=2)
        g = np.zeros(nbr.shape, dtype=np.float64)
        np.divide(lengths, self.tri_areas[ids][:, None] * delta, out=g, where=has)
        return g, nbr

    # ------------------------------------------------------------------ incidence
    @cached_property
    def vertex_tets(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR incidence ``(indptr, tet_ids)``: tets of vertex v are ``tet_ids[indptr[v]:indptr[v+1]]``."""
        flat = self.tets.ravel()
        order = np.argsort(flat, kind="stable")
        counts = np.bincount(flat, minlength=self.n_vertices)
        indptr = np.zeros(self.n_vertices + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, (order // 4).astype(np.int64)

    def edges(self) -> np.ndarray:
        """(ne, 2) unique edges as sorted vertex pairs."""
        e = self.tets[:, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]].reshape(-1, 2)
        e = np.sort(e, axis=1)
        key = np.unique(e[:, 0] * np.int64(self.n_vertices) + e[:, 1])
        return np.stack([key // self.n_vertices, key % self.n_vertices], axis=1)

    # ------------------------------------------------------------------ selections
    def _tet_mask(self, tets, name: str) -> np.ndarray:
        if isinstance(tets, str):
            tets = self.group(tets)
        mask = np.zeros(self.n_tets, dtype=bool)
        mask[_as_index_array(tets, name, self.n_tets, "tet")] = True
        return mask

    def group(self, name: str) -> np.ndarray:
        """Tet indices of group ``name``; GeometryError with a suggestion when unknown."""
        try:
            return self.groups[name]
        except KeyError:
            raise GeometryError(
                f"{self.source}: no tet group {name!r}{did_you_mean(name, self.groups)}; "
                f"groups are {sorted(self.groups)}"
            ) from None

    def tri_group(self, name: str) -> np.ndarray:
        """Face ids of explicit triangle group ``name``."""
        try:
            return self.tri_groups[name]
        except KeyError:
            raise GeometryError(
                f"{self.source}: no triangle group {name!r}{did_you_mean(name, self.tri_groups)}; "
                f"triangle groups are {sorted(self.tri_groups)}"
            ) from None

    def group_union(self, *names: str) -> np.ndarray:
        """Sorted tet indices in any of the named groups."""
        parts = [self.group(n) for n in names]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def group_complement(self, *names: str) -> np.ndarray:
        """Sorted tet indices in none of the named groups (e.g. cytosol = all but the ER)."""
        mask = np.ones(self.n_tets, dtype=bool)
        for n in names:
            mask[self.group(n)] = False
        return np.flatnonzero(mask)

    def tets_where(self, predicate: Callable) -> np.ndarray:
        """Tets whose barycenter satisfies ``predicate(x, y, z)`` (vectorised, metres).

        Examples
        --------
        >>> m = TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]])
        >>> m.tets_where(lambda x, y, z: x > 0).tolist()
        [0]
        """
        return self._where(predicate, self.tet_barycenters, self.n_tets, "tets_where")

    def tris_where(self, predicate: Callable, tri_ids=None) -> np.ndarray:
        """Face ids (among ``tri_ids``, default all) whose barycenter satisfies ``predicate(x, y, z)``."""
        ids = (
            np.arange(self.n_tris)
            if tri_ids is None
            else _as_index_array(tri_ids, "tris_where", self.n_tris, "triangle")
        )
        sel = self._where(predicate, self.tri_barycenters[ids], len(ids), "tris_where")
        return ids[sel]

    def vertices_where(self, predicate: Callable) -> np.ndarray:
        """Vertex indices whose coordinates satisfy ``predicate(x, y, z)``."""
        return self._where(predicate, self.vertices, self.n_vertices, "vertices_where")

    @staticmethod
    def _where(predicate, points, n, name) -> np.ndarray:
        if not callable(predicate):
            raise GeometryError(f"{name}: expected a function of (x, y, z), got {predicate!r}")
        res = np.asarray(predicate(points[:, 0], points[:, 1], points[:, 2]))
        if res.shape == ():
            res = np.full(n, bool(res))
        if res.shape != (n,):
            raise GeometryError(
                f"{name}: the predicate must return one boolean per point, got shape {res.shape}"
            )
        return np.flatnonzero(res.astype(bool))

    # ------------------------------------------------------------------ point location
    @cached_property
    def _locator(self):
        from scipy.spatial import cKDTree

        bc = self.tet_barycenters
        reach = np.linalg.norm(self.vertices[self.tets] - bc[:, None, :], axis=2).max()
        return cKDTree(bc), float(reach)

    def _contains(self, tet_ids: np.ndarray, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        p = self.vertices[self.tets[tet_ids]]  # (q, 4, 3)
        mat = np.transpose(p[:, 1:] - p[:, :1], (0, 2, 1))  # columns: edges from vertex 0
        rhs = (points - p[:, 0])[..., None]
        lam = np.linalg.solve(mat, rhs)[..., 0]
        l0 = 1.0 - lam.sum(axis=1)
        low = np.minimum(l0, lam.min(axis=1))
        return low >= -tol

    def find_tet(self, points) -> np.ndarray | int:
        """Index of the tet containing each point (metres), ``-1`` outside the mesh.

        ``points`` of shape (3,) gives an int; shape (q, 3) gives an int64 array (q,).
        """
        pts = np.asarray(points, dtype=np.float64)
        single = pts.ndim == 1
        pts = np.atleast_2d(pts)
        if pts.shape[-1] != 3:
            raise GeometryError(f"find_tet: points must have shape (3,) or (q, 3), got {np.shape(points)}")
        out = np.full(len(pts), -1, dtype=np.int64)
        tree, reach = self._locator
        kk = min(8, self.n_tets)
        _, cand = tree.query(pts, k=kk)
        cand = np.asarray(cand).reshape(len(pts), kk)
        todo = np.ones(len(pts), dtype=bool)
        for c in range(kk):
            idx = np.flatnonzero(todo)
            if not idx.size:
                break
            ok = self._contains(cand[idx, c], pts[idx])
            out[idx[ok]] = cand[idx[ok], c]
            todo[idx[ok]] = False
        box = self.bounding_box
        span = float(np.max(box[1] - box[0]))
        for i in np.flatnonzero(todo):
            p = pts[i]
            if np.any(p < box[0] - 1e-9 * span) or np.any(p > box[1] + 1e-9 * span):
                continue
            near = np.asarray(tree.query_ball_point(p, reach * (1 + 1e-9)), dtype=np.int64)
            if near.size:
                ok = self._contains(near, np.broadcast_to(p, (len(near), 3)))
                if ok.any():
                    out[i] = near[np.flatnonzero(ok)[0]]
        return int(out[0]) if single else out

    # ------------------------------------------------------------------ statistics
    def edge_lengths(self) -> np.ndarray:
        """Lengths in metres of the unique edges."""
        e = self.edges()
        return np.linalg.norm(self.vertices[e[:, 0]] - self.vertices[e[:, 1]], axis=1)

    def summary(self, length_unit="um") -> str:
        """Human-readable summary (counts, volume, area, groups, edge and quality statistics)."""
        return quality.summary(self, length_unit)


@checked_keywords
def load_mesh(
    path,
    length_unit,
    *,
    format: str | None = None,  # noqa: A002
    fix_orientation: bool = False,
    drop_unused_nodes: bool = False,
) -> TetMesh:
    """Read a tetrahedral mesh file into a :class:`TetMesh`.

    Parameters
    ----------
    path : str or Path
        The file (for TetGen any of ``.node``, ``.ele``; ``.face`` is read when present).
    length_unit : str or float
        Size of one coordinate unit of the file, e.g. ``"um"``, ``"nm"`` or ``1e-6`` (required
        except for ``.npz``, which is stored in metres).
    format : str, optional
        ``"gmsh"``, ``"abaqus"``, ``"tetgen"``, ``"vtk"``, ``"vtu"`` or ``"npz"``; by default
        from the extension.
    fix_orientation : bool
        Reorder negatively oriented tets instead of rejecting the file.
    drop_unused_nodes : bool
        Drop nodes that no tetrahedron uses instead of rejecting the file (such nodes are what a
        file cut short inside its elements leaves behind, so they are an error by default).

    Raises
    ------
    MeshFormatError
        Truncated or garbled files (an Abaqus ``*PART`` without ``*END PART``, a file ending inside
        a line, nodes no tetrahedron uses), unknown element types, undefined nodes.
    GeometryError
        Zero-volume, inverted, duplicate or overlapping tets, non-conforming faces.
    """
    return io.read_mesh(path, length_unit, TetMesh, format=format, fix_orientation=fix_orientation,
                        drop_unused_nodes=drop_unused_nodes)


@checked_keywords
def mesh_info(path, length_unit="um", *, format=None) -> str:  # noqa: A002
    """Load a mesh file and return its :func:`~tetrasim.geometry.quality.summary` (``tetrasim mesh-info``).

    Parameters
    ----------
    path : str or Path
        Mesh file (any format :func:`load_mesh` reads).
    length_unit : str or float
        Length unit of the file's coordinates; the report uses the same unit.
    """
    import warnings  # here, not at the top: only the mesh-info command needs them

    from ..errors import GeometryWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeometryWarning)
        mesh = load_mesh(path, length_unit, format=format)
    text = quality.summary(mesh, length_unit)
    for w in caught:
        text += f"\nwarning: {w.message}"
    return text
