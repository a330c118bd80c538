"""Validation and quality statistics for :class:`~tetrasim.geometry.mesh.TetMesh`.

The checks run when a mesh is built from user input (file or arrays) and raise
:class:`~tetrasim.errors.GeometryError` naming the source, the element and what to do:
indices out of range, non-finite coordinates, zero-volume or inverted tets, duplicate tets,
faces shared by more than two tets and folded (overlapping) neighbours. An implausible size
for a cell (a mesh in nm read as um) gives a :class:`~tetrasim.errors.LengthUnitWarning`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import GeometryError, LengthUnitWarning
from .conventions import FACE_VERTICES, parse_length_unit

__all__ = ["signed_volumes", "tet_quality", "summary"]

#: Edges (pairs of local vertices) of a tetrahedron.
TET_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], dtype=np.int64)
MIN_EDGE = (
    1e-9  # m; shorter median edges suggest a wrong length unit (docs/concepts/propensities_and_units.md)
)
MAX_MEDIAN_EDGE = 1e-5  # m; a median edge above 10 um does not resolve a cell
MAX_EXTENT = 1e-3  # m; no cell-biology mesh spans more than a millimetre
#: Units offered when a mesh's size looks wrong.
UNIT_CHOICES = (("nm", 1e-9), ("um", 1e-6), ("mm", 1e-3), ("m", 1.0))


def _name(mesh_or_ids, i: int, element_ids=None) -> str:
    ids = getattr(mesh_or_ids, "element_ids", element_ids)
    if ids is not None and len(ids) > i:
        return f"tet {i} (element id {int(ids[i])} in the file)"
    return f"tet {i}"


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (n, 3) arrays (faster than ``np.cross`` for long arrays)."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def signed_volumes(vertices: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Signed volumes (m^3): positive when ``(v1-v0, v2-v0, v3-v0)`` is right-handed."""
    p0 = vertices[tets[:, 0]]
    a = vertices[tets[:, 1]] - p0
    b = vertices[tets[:, 2]] - p0
    c = vertices[tets[:, 3]] - p0
    return np.einsum("ij,ij->i", a, cross(b, c)) / 6.0


def check_arrays(vertices: np.ndarray, tets: np.ndarray, source: str, element_ids=None) -> None:
    """Reject non-finite coordinates and vertex indices out of range."""
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise GeometryError(f"{source}: vertex {bad} has non-finite coordinates {vertices[bad].tolist()}")
    n = len(vertices)
    lo, hi = tets.min(axis=1), tets.max(axis=1)
    bad_rows = np.flatnonzero((lo < 0) | (hi >= n))
    if bad_rows.size:
        i = int(bad_rows[0])
        raise GeometryError(
            f"{source}: {_name(None, i, element_ids)} refers to vertex {tets[i].tolist()} but the mesh has "
            f"{n} vertices (valid indices 0..{n - 1}); {bad_rows.size} tets are affected. "
            "The file is inconsistent: re-export it from the mesher."
        )
    srt = np.sort(tets, axis=1)
    rep = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
    if rep.size:
        i = int(rep[0])
        raise GeometryError(
            f"{source}: {_name(None, i, element_ids)} repeats a vertex {tets[i].tolist()} (zero volume); "
            f"{rep.size} tets are degenerate. Remove them or re-mesh."
        )


def check_orientation(mesh, signed: np.ndarray, fix_orientation: bool) -> np.ndarray:
    """Reject zero-volume tets; flip (or reject) negatively oriented ones. Returns the new signed volumes."""
    absv = np.abs(signed)
    tiny = absv == 0
    cand = np.flatnonzero(absv < 1e-6 * np.median(absv))  # only small tets need their edge lengths
    if cand.size:
        sub = mesh.tets[cand]
        edges = mesh.vertices[sub[:, TET_EDGES[:, 1]]] - mesh.vertices[sub[:, TET_EDGES[:, 0]]]
        lmax = np.sqrt((edges**2).sum(axis=2).max(axis=1))
        tiny[cand] |= absv[cand] <= 1e-12 * lmax**3
    if tiny.any():
        i = int(np.flatnonzero(tiny)[0])
        raise GeometryError(
            f"{mesh.source}: {_name(mesh, i)} with vertices {mesh.tets[i].tolist()} has zero volume "
            f"({signed[i]:.3g} m^3; {int(tiny.sum())} such tets). Re-mesh or remove the flat elements."
        )
    neg = signed < 0
    if neg.any():
        if not fix_orientation:
            i = int(np.flatnonzero(neg)[0])
            what = "all tets are" if neg.all() else f"{int(neg.sum())} of {len(neg)} tets are"
            raise GeometryError(
                f"{mesh.source}: {what} inverted (negative orientation), first {_name(mesh, i)}. "
                "If the file simply uses the opposite vertex order, load it with fix_orientation=True."
            )
        tets = mesh.tets.copy()
        tets[neg, 2], tets[neg, 3] = mesh.tets[neg, 3], mesh.tets[neg, 2]
        mesh.tets = tets
        signed = np.abs(signed)
    return signed


def check_duplicates(mesh) -> None:
    """Reject two tets with the same four vertices (run after the faces are built).

    Two distinct tets can share at most one face, so a tet meeting the same neighbour across two
    of its faces is a duplicate (or the mesh is otherwise broken).
    """
    nb = np.sort(mesh.tet_neighbors, axis=1)
    rep = (nb[:, 1:] == nb[:, :-1]) & (nb[:, 1:] >= 0)
    rows = np.flatnonzero(rep.any(axis=1))
    if rows.size:
        a = int(rows[0])
        b = int(nb[a][1:][rep[a]][0])
        raise GeometryError(
            f"{mesh.source}: {_name(mesh, a)} and {_name(mesh, b)} share more than one face "
            f"(vertices {mesh.tets[a].tolist()} and {mesh.tets[b].tolist()}): duplicated elements "
            f"({rows.size // 2 or 1} pairs). Remove the duplicates."
        )


def raise_nonconforming(mesh, counts, fid_sorted, order) -> None:
    """Raise for a face shared by more than two tets (called by the face builder)."""
    f = int(np.flatnonzero(counts > 2)[0])
    rows = order[fid_sorted == f] // 4
    names = ", ".join(_name(mesh, int(t)) for t in rows[:4])
    raise GeometryError(
        f"{mesh.source}: a face is shared by {int(counts[f])} tets ({names}); a conforming mesh has at most "
        f"two tets per face ({int((counts > 2).sum())} such faces). The mesh overlaps itself: re-mesh it."
    )


def check_folded(mesh) -> None:
    """Reject neighbouring tets lying on the same side of their shared face (overlap).

    Both tets are positively oriented, so across a proper interior face their outward vertex
    orders are opposite (an odd permutation of each other); an even permutation means the
    second tet lies on the same side as the first. Pure integer test, no round-off.
    """
    ft = mesh._face_tets
    inner = np.flatnonzero(ft[:, 1] >= 0)
    if not inner.size:
        return
    t = mesh.tris[inner]
    s = mesh.tets[ft[inner, 1][:, None], FACE_VERTICES[mesh._face_local[inner, 1]]]
    even = (
        ((s[:, 0] == t[:, 0]) & (s[:, 1] == t[:, 1]))
        | ((s[:, 0] == t[:, 1]) & (s[:, 1] == t[:, 2]))
        | ((s[:, 0] == t[:, 2]) & (s[:, 1] == t[:, 0]))
    )
    if even.any():
        f = int(inner[np.flatnonzero(even)[0]])
        raise GeometryError(
            f"{mesh.source}: {_name(mesh, int(ft[f, 0]))} and {_name(mesh, int(ft[f, 1]))} lie on the same "
            f"side of their shared face ({int(even.sum())} such faces): the mesh is folded or has inverted "
            "elements. "
            "Re-mesh it."
        )


def _length_text(x: float) -> str:
    """A length in metres written in the unit that reads best (``64 nm``, ``6.6 mm``)."""
    for name, unit in (("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3)):
        if abs(x) < 1000 * unit:
            return f"{x / unit:.3g} {name}"
    return f"{x:.3g} m"


def _is_plausible(median_edge: float, extent: float) -> bool:
    return MIN_EDGE <= median_edge <= MAX_MEDIAN_EDGE and extent <= MAX_EXTENT


def length_unit_advice(median_edge: float, extent: float, input_unit=None) -> str | None:
    """Explain why a mesh's size is implausible for a cell and which length unit would fit.

    Parameters
    ----------
    median_edge, extent : float
        Median edge length and largest bounding-box side, in metres, as read.
    input_unit : str or float, optional
        The ``length_unit`` the coordinates were read with (``None``: metres).

    Returns
    -------
    str or None
        ``None`` when a median edge of 1 nm..10 µm and an extent up to 1 mm make the mesh
        plausible; otherwise the explanation, naming the unit (nm, µm, mm, m) under which the
        same file coordinates give a plausible mesh (closest to a 100 nm median edge).
    """
    if _is_plausible(median_edge, extent):
        return None
    given = parse_length_unit(input_unit) if input_unit is not None else 1.0
    given_text = repr(input_unit) if input_unit is not None else "metres"
    fits = []
    for name, unit in UNIT_CHOICES:
        factor = unit / given
        if factor != 1.0 and _is_plausible(median_edge * factor, extent * factor):
            fits.append((abs(np.log10(median_edge * factor / 1e-7)), name, factor))
    text = (
        f"the median edge is {_length_text(median_edge)} and the mesh extends over "
        f"{_length_text(extent)}, implausible for a cell (expected a median edge of "
        f"{_length_text(MIN_EDGE)}..{_length_text(MAX_MEDIAN_EDGE)} and at most "
        f"{_length_text(MAX_EXTENT)} overall) with length_unit {given_text}"
    )
    if not fits:
        return text + "; no common length unit makes it plausible: check the file's coordinates"
    _, name, factor = min(fits)
    return (
        f"{text}. The coordinates fit length_unit={name!r}: the median edge would be "
        f"{_length_text(median_edge * factor)} and the extent {_length_text(extent * factor)}"
    )


def warn_edge_lengths(mesh) -> None:
    """Warn (:class:`~tetrasim.errors.LengthUnitWarning`) when the mesh's size suggests a wrong unit.

    A median edge above 10 µm or an extent above 1 mm is not a cell (a mesh in nm read as µm);
    the warning names the unit that fits.
    """
    sample = mesh.tets[:: max(1, mesh.n_tets // 20000)]
    d = mesh.vertices[sample[:, 0]] - mesh.vertices[sample[:, 1]]
    med = float(np.median(np.sqrt((d**2).sum(axis=1))))
    extent = float((mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)).max())
    advice = length_unit_advice(med, extent, getattr(mesh, "input_unit", None))
    if advice is not None:
        warnings.warn(f"{mesh.source}: {advice}", LengthUnitWarning, stacklevel=4)


def tet_quality(mesh) -> np.ndarray:
    """Volume-length quality ``6*sqrt(2)*V / l_rms^3`` per tet: 1 for a regular tet, 0 when flat."""
    p = mesh.vertices[mesh.tets]
    e = p[:, TET_EDGES[:, 1]] - p[:, TET_EDGES[:, 0]]
    lrms = np.sqrt((e**2).sum(axis=2).mean(axis=1))
    return 6.0 * np.sqrt(2.0) * mesh.tet_volumes / lrms**3


def _stats(x: np.ndarray) -> str:
    return (
        f"min {x.min():.4g}  p5 {np.percentile(x, 5):.4g}  median {np.median(x):.4g}  "
        f"mean {x.mean():.4g}  max {x.max():.4g}"
    )


def summary(mesh, length_unit="um") -> str:
    """Text summary of a mesh in ``length_unit`` (counts, volume, area, groups, edges, quality)."""
    s = parse_length_unit(length_unit)
    u = length_unit if isinstance(length_unit, str) else f"({length_unit:g} m)"
    surf = mesh.surface_tris()
    box = mesh.bounding_box / s
    q = tet_quality(mesh)
    lines = [
        f"mesh        {mesh.source}",
        f"vertices    {mesh.n_vertices:,}",
        f"tets        {mesh.n_tets:,}",
        f"faces       {mesh.n_tris:,} ({surf.size:,} on the boundary)",
        f"volume      {mesh.total_volume / s**3:.6g} {u}^3",
        f"surface     {mesh.tri_areas[surf].sum() / s**2:.6g} {u}^2",
        f"bounding box {box[0].round(6).tolist()} .. {box[1].round(6).tolist()} {u}",
        f"edge length ({u}): {_stats(mesh.edge_lengths() / s)}",
        f"tet volume ({u}^3): {_stats(mesh.tet_volumes / s**3)}",
        f"quality 6*sqrt(2)V/l_rms^3 (1 = regular): {_stats(q)}; {int((q < 0.1).sum())} tets below 0.1",
    ]
    if mesh.groups:
        lines.append("tet groups:")
        for name, idx in mesh.groups.items():
            lines.append(f"  {name:<16} {idx.size:>9,} tets  {mesh.tet_volumes[idx].sum() / s**3:.6g} {u}^3")
    if getattr(mesh, "tri_groups", None):
        lines.append("triangle groups:")
        for name, idx in mesh.tri_groups.items():
            lines.append(f"  {name:<16} {idx.size:>9,} tris  {mesh.tri_areas[idx].sum() / s**2:.6g} {u}^2")
    return "\n".join(lines)
