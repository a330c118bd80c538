"""Regions of a tetrahedral mesh: compartments, patches, diffusion boundaries and ROIs.

:class:`MeshGeometry` ties a :class:`~tetrasim.geometry.mesh.TetMesh` to named regions that
the model's systems live in. Everything is stored as index arrays into the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arguments import check_keywords, index_array
from ..errors import GeometryError, did_you_mean
from .mesh import TetMesh, _as_index_array, _sorted_unique
from .wellmixed import _systems

__all__ = ["MeshGeometry", "MeshCompartment", "MeshPatch", "DiffusionBoundary", "SurfaceDiffusionBoundary",
           "MeshROI"]


def _indices(values, what: str, upper: int, kind: str) -> np.ndarray:
    """Sorted unique ids from a boolean mask or whole-number indices (never truncating 0.9 to 0)."""
    try:
        is_mask = np.asarray(values).dtype == bool
    except (TypeError, ValueError):
        is_mask = False
    if not is_mask:
        values = index_array(values, what, GeometryError)
    return _sorted_unique(_as_index_array(values, what, upper, kind))


@dataclass
class MeshCompartment:
    """A volume region: a set of tets with the volume systems that act in it."""

    name: str
    tets: np.ndarray
    systems: list[str] = field(default_factory=list)
    volume: float = 0.0  # m^3

    def __repr__(self) -> str:
        return f"MeshCompartment({self.name!r}, {self.tets.size} tets, systems={self.systems})"


@dataclass
class MeshPatch:
    """A surface region: triangles (face ids) between an inner and an optional outer compartment.

    ``tri_inner_tet[i]`` is the tet of ``inner`` adjacent to ``tris[i]``; ``tri_outer_tet[i]``
    the tet of ``outer`` on the other side, or ``-1``. ``tri_normals`` point from inner to outer.
    """

    name: str
    tris: np.ndarray
    inner: str
    outer: str | None
    systems: list[str] = field(default_factory=list)
    tri_inner_tet: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tri_outer_tet: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tri_normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    area: float = 0.0  # m^2
    group: str | None = None  # the triangle group named by patch(tris="name"), kept in its file order

    def __repr__(self) -> str:
        return (
            f"MeshPatch({self.name!r}, {self.tris.size} tris, inner={self.inner!r}, "
            f"outer={self.outer!r}, systems={self.systems})"
        )


@dataclass
class DiffusionBoundary:
    """Faces between two compartments across which diffusion can be switched on, per species.

    Closed for every species (as in STEPS) except those listed in ``species``; open and close
    it during a run with ``sim.set_diffusion_boundary_active(name, species, True|False)``.
    """

    name: str
    tris: np.ndarray
    between: tuple[str, str]
    tri_tets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    species: tuple[str, ...] | None = None  # open from the start for these species

    @property
    def inner(self) -> str:
        return self.between[0]

    @property
    def outer(self) -> str:
        return self.between[1]

    def __repr__(self) -> str:
        return f"DiffusionBoundary({self.name!r}, {self.tris.size} tris, between={self.between})"


@dataclass
class SurfaceDiffusionBoundary:
    """Edges between two patches across which surface diffusion can be switched on, per species.

    Closed for every species except those listed in ``species`` (STEPS ``SDiffBoundary``).
    """

    name: str
    between: tuple[str, str]
    n_edges: int
    species: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"SurfaceDiffusionBoundary({self.name!r}, {self.n_edges} edges, between={self.between})"


def _species_names(species, what: str):
    """``species=`` of a boundary as a tuple of names (``None`` stays ``None``)."""
    if species is None:
        return None
    if isinstance(species, str) or not hasattr(species, "__iter__"):
        species = [species]
    names = tuple(str(s) for s in species)
    if not all(names):
        raise GeometryError(f"{what}: species= must name species, got {species!r}")
    return names


@dataclass
class MeshROI:
    """A named selection of tets, triangles (face ids) or vertices, for setting and recording."""

    name: str
    kind: str  # "tets" | "tris" | "vertices"
    indices: np.ndarray
    group: str | None = None  # the triangle group named by roi(tris="name"), kept in its file order

    @property
    def tets(self) -> np.ndarray:
        return self.indices if self.kind == "tets" else np.zeros(0, np.int64)

    @property
    def tris(self) -> np.ndarray:
        return self.indices if self.kind == "tris" else np.zeros(0, np.int64)

    @property
    def vertices(self) -> np.ndarray:
        return self.indices if self.kind == "vertices" else np.zeros(0, np.int64)


@check_keywords
class MeshGeometry:
    """Named compartments, patches, diffusion boundaries and ROIs on a :class:`TetMesh`.

    Examples
    --------
    >>> import tetrasim as ts
    >>> mesh = ts.TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
    ...                               [[0, 1, 2, 3], [1, 2, 3, 4]], length_unit="um")
    >>> geom = ts.MeshGeometry(mesh)
    >>> geom.compartment("cyto", systems=["cyt"])
    MeshCompartment('cyto', 2 tets, systems=['cyt'])
    >>> geom.patch("memb", tris=mesh.surface_tris(), inner="cyto", systems=["pm"])
    MeshPatch('memb', 6 tris, inner='cyto', outer=None, systems=['pm'])
    """

    def __init__(self, mesh: TetMesh):
        if not isinstance(mesh, TetMesh):
            raise GeometryError(f"MeshGeometry needs a TetMesh, got {type(mesh).__name__}")
        self.mesh = mesh
        self.compartments: dict[str, MeshCompartment] = {}
        self.patches: dict[str, MeshPatch] = {}
        self.diffusion_boundaries: dict[str, DiffusionBoundary] = {}
        self.surface_diffusion_boundaries: dict[str, SurfaceDiffusionBoundary] = {}
        self.rois: dict[str, MeshROI] = {}
        self.tet_compartment = np.full(mesh.n_tets, -1, dtype=np.int64)  # index into compartments
        self.tri_patch = np.full(mesh.n_tris, -1, dtype=np.int64)  # index into patches

    def __repr__(self) -> str:
        return (
            f"MeshGeometry({self.mesh.n_tets} tets; compartments={list(self.compartments)}, "
            f"patches={list(self.patches)}, diffusion_boundaries={list(self.diffusion_boundaries)}, "
            f"rois={list(self.rois)})"
        )

    # ------------------------------------------------------------------ helpers
    def _check_name(self, name: str, what: str) -> None:
        if not isinstance(name, str) or not name:
            raise GeometryError(f"{what} name must be a non-empty string, got {name!r}")
        used = {**self.compartments, **self.patches, **self.diffusion_boundaries,
                **self.surface_diffusion_boundaries, **self.rois}
        if name in used:
            raise GeometryError(f"{what} {name!r}: the name is already used by {used[name]!r}")

    def _tets(self, tets, what: str) -> np.ndarray:
        if tets is None:
            return np.arange(self.mesh.n_tets, dtype=np.int64)
        if isinstance(tets, str):
            return self.mesh.group(tets)
        return _indices(tets, what, self.mesh.n_tets, "tet")

    def _tris(self, tris, what: str) -> np.ndarray:
        if isinstance(tris, str):
            return self.mesh.tri_group(tris)
        try:
            arr = np.asarray(tris)
        except (TypeError, ValueError):
            raise GeometryError(f"{what}: expected triangle ids, vertex triples or a group name, "
                                f"got {tris!r}") from None
        if arr.ndim == 2 and arr.dtype != bool:
            if arr.shape[1] != 3:
                raise GeometryError(f"{what}: triangles given as vertex triples need shape (k, 3), "
                                    f"got {arr.shape}; or pass a flat list of triangle ids")
            return np.unique(self.mesh.find_tris(index_array(arr.ravel(), what, GeometryError).reshape(-1, 3),
                                                 name=what))
        return _indices(tris, what, self.mesh.n_tris, "triangle")

    def _comp(self, name, what: str) -> MeshCompartment:
        key = getattr(name, "name", name)
        if not isinstance(key, str) or key not in self.compartments:
            raise GeometryError(
                f"{what}: no compartment {key!r}{did_you_mean(key, self.compartments)}; "
                f"define it first with geom.compartment({key!r}, tets=...)"
            )
        return self.compartments[key]

    def _comp_mask(self, comp: MeshCompartment) -> np.ndarray:
        mask = np.zeros(self.mesh.n_tets, dtype=bool)
        mask[comp.tets] = True
        return mask

    # ------------------------------------------------------------------ regions
    def compartment(self, name: str, tets=None, systems=None) -> MeshCompartment:
        """Add a compartment of ``tets`` (indices, mask or group name; ``None``: all tets)."""
        what = f"compartment {name!r}"
        self._check_name(name, "compartment")
        idx = self._tets(tets, what)
        if idx.size == 0 and not self.mesh.is_part:  # a part of a split mesh may miss a region
            raise GeometryError(f"{what}: the tet selection is empty")
        owner = self.tet_compartment[idx]
        if (owner >= 0).any():
            other = list(self.compartments)[int(owner[owner >= 0][0])]
            t = int(idx[np.flatnonzero(owner >= 0)[0]])
            raise GeometryError(
                f"{what}: tet {t} (and {int((owner >= 0).sum()) - 1} more) already belongs to compartment "
                f"{other!r}; a tet can be in one compartment only"
            )
        idx.setflags(write=False)
        comp = MeshCompartment(name, idx, _systems(systems, what), float(self.mesh.tet_volumes[idx].sum()))
        self.tet_compartment[idx] = len(self.compartments)
        self.compartments[name] = comp
        return comp

    def patch(self, name: str, tris, inner, outer=None, systems=None) -> MeshPatch:
        """Add a patch of triangles (face ids, vertex triples or a triangle-group name).

        Every triangle must be a face of a tet of ``inner``; when ``outer`` is given, the tet on
        the other side must belong to ``outer``.
        """
        what = f"patch {name!r}"
        self._check_name(name, "patch")
        inner_c = self._comp(inner, what)
        outer_c = self._comp(outer, what) if outer is not None else None
        ids = self._tris(tris, what)
        if ids.size == 0 and not self.mesh.is_part:
            raise GeometryError(f"{what}: the triangle selection is empty")
        taken = self.tri_patch[ids] >= 0
        if taken.any():
            other = list(self.patches)[int(self.tri_patch[ids[taken][0]])]
            raise GeometryError(f"{what}: triangle {int(ids[taken][0])} already belongs to patch {other!r}")
        ft = self.mesh.face_tets[ids]
        in_mask = self._comp_mask(inner_c)
        t0_in = in_mask[ft[:, 0]]
        t1_in = (ft[:, 1] >= 0) & in_mask[np.maximum(ft[:, 1], 0)]
        if not (t0_in | t1_in).all():
            bad = int(ids[np.flatnonzero(~(t0_in | t1_in))[0]])
            raise GeometryError(
                f"{what}: triangle {bad} is not a face of any tet of inner compartment {inner_c.name!r} "
                f"({int((~(t0_in | t1_in)).sum())} such triangles); pick faces on its boundary, "
                f"e.g. mesh.surface_tris(geom.compartments[{inner_c.name!r}].tets)"
            )
        if (t0_in & t1_in).any():
            bad = int(ids[np.flatnonzero(t0_in & t1_in)[0]])
            raise GeometryError(
                f"{what}: triangle {bad} lies inside compartment {inner_c.name!r} (tets on both sides belong "
                "to it); a patch must be on the compartment's boundary"
            )
        inner_tet = np.where(t0_in, ft[:, 0], ft[:, 1])
        other_tet = np.where(t0_in, ft[:, 1], ft[:, 0])
        if outer_c is not None:
            out_mask = self._comp_mask(outer_c)
            ok = (other_tet >= 0) & out_mask[np.maximum(other_tet, 0)]
            if not ok.all():
                bad = int(ids[np.flatnonzero(~ok)[0]])
                raise GeometryError(
                    f"{what}: triangle {bad} has no tet of outer compartment {outer_c.name!r} "
                    "on its other side "
                    f"({int((~ok).sum())} such triangles); use geom.membrane_tris_between"
                    f"({inner_c.name!r}, {outer_c.name!r}) or leave outer=None"
                )
            outer_tet = other_tet
        else:
            outer_tet = np.full(ids.size, -1, dtype=np.int64)
        normals = self.mesh.tri_normals[ids] * np.where(t0_in, 1.0, -1.0)[:, None]
        for arr in (ids, inner_tet, outer_tet, normals):
            arr.setflags(write=False)
        patch = MeshPatch(
            name,
            ids,
            inner_c.name,
            None if outer_c is None else outer_c.name,
            _systems(systems, what),
            inner_tet,
            outer_tet,
            normals,
            float(self.mesh.tri_areas[ids].sum()),
            group=tris if isinstance(tris, str) else None,
        )
        self.tri_patch[ids] = len(self.patches)
        self.patches[name] = patch
        return patch

    def membrane(self, name: str, patches, capacitance=0.01, volume_resistivity=1.0, volumes=None):
        """Add a membrane for the membrane potential: ``patches`` carry the capacitance (F/m²) and
        channels; the conducting volume is their inner compartments (and ``volumes``), with
        ``volume_resistivity`` (Ω·m). See :mod:`tetrasim.geometry.membrane`."""
        from .membrane import add_membrane

        return add_membrane(self, name, patches, capacitance, volume_resistivity, volumes)

    def membrane_tris_between(self, a, b) -> np.ndarray:
        """Face ids shared by a tet of compartment ``a`` and a tet of compartment ``b``."""
        ca = self._comp(a, "membrane_tris_between")
        cb = self._comp(b, "membrane_tris_between")
        return self.mesh.faces_between(ca.tets, cb.tets)

    def diffusion_boundary(self, name: str, between, species=None) -> DiffusionBoundary:
        """Add a diffusion boundary on the faces shared by the two compartments ``between=(a, b)``.

        It is closed for every species unless listed in ``species`` (as in STEPS); change that
        during a run with ``sim.set_diffusion_boundary_active(name, species, True|False)``.
        """
        what = f"diffusion boundary {name!r}"
        self._check_name(name, "diffusion boundary")
        species = _species_names(species, what)
        try:
            a, b = between
        except (TypeError, ValueError):
            raise GeometryError(
                f"{what}: between must be a pair of compartment names, got {between!r}"
            ) from None
        ca, cb = self._comp(a, what), self._comp(b, what)
        if ca.name == cb.name:
            raise GeometryError(f"{what}: between names the same compartment twice ({ca.name!r})")
        ids = self.mesh.faces_between(ca.tets, cb.tets)
        if ids.size == 0 and not self.mesh.is_part:
            raise GeometryError(f"{what}: compartments {ca.name!r} and {cb.name!r} share no face")
        ft = self.mesh.face_tets[ids]
        a_mask = self._comp_mask(ca)
        first_in_a = a_mask[ft[:, 0]]
        tri_tets = np.stack(
            [np.where(first_in_a, ft[:, 0], ft[:, 1]), np.where(first_in_a, ft[:, 1], ft[:, 0])], 1
        )
        for other in self.diffusion_boundaries.values():
            if set(other.between) == {ca.name, cb.name}:
                raise GeometryError(f"{what}: {other.name!r} already joins {ca.name!r} and {cb.name!r}")
        db = DiffusionBoundary(name, ids, (ca.name, cb.name), tri_tets, species)
        self.diffusion_boundaries[name] = db
        return db

    def surface_diffusion_boundary(self, name: str, between, species=None) -> SurfaceDiffusionBoundary:
        """Add a surface diffusion boundary on the edges shared by the patches ``between=(a, b)``.

        Closed for every species unless listed in ``species`` (STEPS ``SDiffBoundary``).
        """
        what = f"surface diffusion boundary {name!r}"
        self._check_name(name, "surface diffusion boundary")
        species = _species_names(species, what)
        try:
            a, b = between
        except (TypeError, ValueError):
            raise GeometryError(f"{what}: between must be a pair of patch names, got {between!r}") from None
        for patch in (a, b):
            if patch not in self.patches:
                hint = did_you_mean(str(patch), self.patches)
                raise GeometryError(f"{what}: no patch named {patch!r}{hint}")
        if a == b:
            raise GeometryError(f"{what}: between names the same patch twice ({a!r})")
        for other in self.surface_diffusion_boundaries.values():
            if set(other.between) == {a, b}:
                raise GeometryError(f"{what}: {other.name!r} already joins {a!r} and {b!r}")
        pa, pb = self.patches[a].tris, self.patches[b].tris
        union = np.concatenate([pa, pb])
        neighbors, _lengths = self.mesh.tri_edge_neighbors(union)
        has = neighbors >= 0
        in_a = np.arange(len(union)) < len(pa)
        n_edges = int((has & in_a[:, None] & ~in_a[np.where(has, neighbors, 0)]).sum())
        if n_edges == 0 and not self.mesh.is_part:
            raise GeometryError(f"{what}: patches {a!r} and {b!r} share no edge")
        boundary = SurfaceDiffusionBoundary(name, (a, b), n_edges, species)
        self.surface_diffusion_boundaries[name] = boundary
        return boundary

    def roi(self, name: str, *, tets=None, tris=None, vertices=None) -> MeshROI:
        """Add a region of interest: exactly one of ``tets``, ``tris`` or ``vertices``."""
        what = f"ROI {name!r}"
        self._check_name(name, "ROI")
        given = [(k, v) for k, v in (("tets", tets), ("tris", tris), ("vertices", vertices)) if v is not None]
        if len(given) != 1:
            raise GeometryError(f"{what}: give exactly one of tets=, tris= or vertices=")
        kind, value = given[0]
        if kind == "tets":
            idx = self._tets(value, what)
        elif kind == "tris":
            idx = self._tris(value, what)
        else:
            idx = _indices(value, what, self.mesh.n_vertices, "vertex")
        if idx.size == 0 and not self.mesh.is_part:
            raise GeometryError(f"{what}: the selection is empty")
        idx.setflags(write=False)
        roi = MeshROI(name, kind, idx, group=value if kind == "tris" and isinstance(value, str) else None)
        self.rois[name] = roi
        return roi
