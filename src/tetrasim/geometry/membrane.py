"""Membranes: where the membrane potential (EField) lives on a mesh.

A membrane is a set of patches (its triangles carry the capacitance and the channels) and a
conducting volume (the tets of the patches' inner compartments, plus ``volumes=``). The
potential is solved on the vertices of the conducting volume (docs/concepts/efield.md).
Also here: :func:`cable_mesh`, a structured prism mesh of a cylinder-like cable used by the
Rallpack examples and tests (cheap, deterministic, no gmsh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import GeometryError, did_you_mean
from .mesh import TetMesh

__all__ = ["Membrane", "add_membrane", "cable_mesh"]


@dataclass
class Membrane:
    """A membrane: patches, conducting volume, specific capacitance and cytosol resistivity.

    ``tri_capacitance`` holds F/m² per membrane triangle (in the order of ``tris``); change
    it for some triangles with :meth:`set_capacitance`.
    """

    name: str
    patches: list[str]
    volumes: list[str]
    capacitance: float  # F/m^2
    volume_resistivity: float  # Ohm m
    tris: np.ndarray  # mesh triangle ids, patch after patch
    tets: np.ndarray  # conducting tets (sorted)
    tri_capacitance: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def set_capacitance(self, capacitance, tris=None) -> None:
        """Specific capacitance (F/m²) of some membrane triangles (mesh ids), or of all (``None``)."""
        value = _positive_or_zero(capacitance, f"membrane {self.name!r}: capacitance")
        if tris is None:
            self.tri_capacitance[:] = value
            return
        ids = np.atleast_1d(np.asarray(tris, dtype=np.int64))
        position = {int(t): k for k, t in enumerate(self.tris)}
        missing = [int(t) for t in ids if int(t) not in position]
        if missing:
            raise GeometryError(f"membrane {self.name!r}: triangles {missing[:5]} are not on the membrane")
        self.tri_capacitance[[position[int(t)] for t in ids]] = value

    def __repr__(self) -> str:
        return (
            f"Membrane({self.name!r}, patches={self.patches}, {len(self.tris)} tris, {len(self.tets)} tets, "
            f"capacitance={self.capacitance}, volume_resistivity={self.volume_resistivity})"
        )


def _positive_or_zero(value, what: str, positive: bool = False) -> float:
    from ..units import to_si

    dims = "capacitance per area" if "capacitance" in what else "resistivity"
    number = float(to_si(value, dims, what))
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise GeometryError(f"{what} = {value!r} must be finite and {'> 0' if positive else '>= 0'}")
    return number


def add_membrane(
    geometry, name: str, patches, capacitance=0.01, volume_resistivity=1.0, volumes=None
) -> Membrane:
    """Build the :class:`Membrane` ``name`` of a MeshGeometry (see ``MeshGeometry.membrane``)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    what = f"membrane {name!r}"
    geometry._check_name(name, "membrane")
    existing = getattr(geometry, "membranes", {})
    if existing:
        raise GeometryError(
            f"{what}: this geometry already has membrane {next(iter(existing))!r}; one membrane "
            "per geometry is supported (put all its patches in one membrane)"
        )
    if isinstance(patches, str) or not patches:
        raise GeometryError(f"{what}: patches must be a non-empty list of patch names, got {patches!r}")
    chosen = []
    for patch in patches:
        key = getattr(patch, "name", patch)
        if key not in geometry.patches:
            raise GeometryError(
                f"{what}: no patch {key!r}{did_you_mean(key, geometry.patches)}; define it first "
                "with geom.patch(...)"
            )
        chosen.append(geometry.patches[key])
    cm = _positive_or_zero(capacitance, f"{what}: capacitance")
    rho = _positive_or_zero(volume_resistivity, f"{what}: volume_resistivity", positive=True)
    volume_names = []
    for patch in chosen:
        if patch.inner not in volume_names:
            volume_names.append(patch.inner)
    for extra in volumes or ():
        comp = geometry._comp(extra, what)
        if comp.name not in volume_names:
            volume_names.append(comp.name)
    tets = np.unique(np.concatenate([geometry.compartments[v].tets for v in volume_names]))
    mesh = geometry.mesh
    # the conducting volume must be one piece: tets connected through shared faces
    neighbors = mesh.tet_neighbors[tets]
    inside = np.zeros(mesh.n_tets, dtype=bool)
    inside[tets] = True
    local = np.full(mesh.n_tets, -1, np.int64)
    local[tets] = np.arange(len(tets))
    valid = (neighbors >= 0) & inside[np.maximum(neighbors, 0)]
    rows = np.repeat(np.arange(len(tets)), 4)[valid.ravel()]
    cols = local[neighbors.ravel()[valid.ravel()]]
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(len(tets), len(tets)))
    n_parts, _ = connected_components(graph, directed=False)
    if n_parts > 1:
        raise GeometryError(
            f"{what}: its conducting volume (compartments {volume_names}) falls into {n_parts} "
            "pieces not connected through tet faces; the potential needs one connected volume "
            "(join the compartments with volumes=[...] or make one membrane per piece)"
        )
    tris = np.concatenate([np.asarray(p.tris, np.int64) for p in chosen])
    membrane = Membrane(name, [p.name for p in chosen], volume_names, cm, rho, tris, tets,
                        np.full(len(tris), cm))
    if not hasattr(geometry, "membranes"):
        geometry.membranes = {}
    geometry.membranes[name] = membrane
    return membrane


def cable_mesh(length: float, radius: float, n_slices: int, n_sides: int = 6, rings: int = 1) -> TetMesh:
    """A structured tet mesh of a cylinder-like cable along x (lengths in m).

    The cross-section is a regular ``n_sides``-gon of circumradius ``radius`` split into
    ``rings`` concentric rings; it is extruded into ``n_slices`` slices of prisms, each prism
    split into three tets with a consistent diagonal rule (vertex ids), so the mesh is
    conforming. Every vertex lies on a slice plane ``x = i * length / n_slices``.
    """
    if not (length > 0 and radius > 0) or n_slices < 1 or n_sides < 3 or rings < 1:
        raise GeometryError(
            "cable_mesh needs length > 0, radius > 0, n_slices >= 1, n_sides >= 3, rings >= 1"
        )
    # cross-section points: centre, then ring r (1..rings) with r * n_sides points
    points = [(0.0, 0.0)]
    ring_start = [0]
    for r in range(1, rings + 1):
        ring_start.append(len(points))
        count = r * n_sides
        for k in range(count):
            # points on the polygon of circumradius radius * r / rings, evenly along its edges
            side, frac = divmod(k, r)
            a0 = 2 * math.pi * side / n_sides
            a1 = 2 * math.pi * (side + 1) / n_sides
            rr = radius * r / rings
            p0 = np.array([math.cos(a0), math.sin(a0)]) * rr
            p1 = np.array([math.cos(a1), math.sin(a1)]) * rr
            points.append(tuple(p0 + (p1 - p0) * frac / r))
    points2d = np.array(points)
    from scipy.spatial import Delaunay

    triangles = Delaunay(points2d).simplices
    n2 = len(points2d)
    xs = np.linspace(0.0, length, n_slices + 1)
    vertices = np.concatenate([np.column_stack([np.full(n2, x), points2d]) for x in xs])
    tets = []
    for s in range(n_slices):
        bottom = triangles + s * n2
        top = bottom + n2
        # sort each triangle's vertices by id; the split a0<a1<a2 gives conforming prisms
        order = np.argsort(bottom, axis=1)
        a = np.take_along_axis(bottom, order, 1)
        b = np.take_along_axis(top, order, 1)
        tets.append(np.stack([a[:, 0], a[:, 1], a[:, 2], b[:, 2]], 1))
        tets.append(np.stack([a[:, 0], a[:, 1], b[:, 1], b[:, 2]], 1))
        tets.append(np.stack([a[:, 0], b[:, 0], b[:, 1], b[:, 2]], 1))
    tets = np.concatenate(tets)
    x = vertices[tets]
    signed = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    tets[signed < 0] = tets[signed < 0][:, [0, 2, 1, 3]]  # positive orientation
    return TetMesh.from_arrays(vertices, tets, length_unit="m")
