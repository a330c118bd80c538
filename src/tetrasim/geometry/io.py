"""Mesh file readers and writers.

Readers (chosen by extension or ``format=``):

======================  ===================  ==============================================
format                  extensions           notes
======================  ===================  ==============================================
``gmsh``                ``.msh``             2.2 and 4.1 ASCII (own streaming parser), binary
                                             via meshio; physical groups become groups
``abaqus``              ``.inp``             ``*NODE``, ``*ELEMENT`` (C3D4), ``ELSET`` blocks
``tetgen``              ``.node/.ele/.face`` region attributes and boundary markers become groups
``vtk`` / ``vtu``       ``.vtk``, ``.vtu``   via meshio; integer cell data become groups
``npz``                 ``.npz``             native, fast, coordinates in metres
======================  ===================  ==============================================

Every failure is a :class:`~tetrasim.errors.MeshFormatError` naming the file, the line (or
element) and what is wrong; geometric problems are :class:`~tetrasim.errors.GeometryError`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..arguments import checked_keywords
from ..errors import GeometryError, MeshFormatError
from .conventions import parse_length_unit

if TYPE_CHECKING:  # annotations only: mesh.py builds on this module, not the other way round
    from .mesh import TetMesh

__all__ = ["read_mesh", "save_mesh", "FORMATS"]

FORMATS = {
    ".msh": "gmsh",
    ".inp": "abaqus",
    ".node": "tetgen",
    ".ele": "tetgen",
    ".face": "tetgen",
    ".vtk": "vtk",
    ".vtu": "vtu",
    ".npz": "npz",
}
NPZ_VERSION = 1
# Gmsh element type -> number of nodes (for skipping lower-dimensional elements).
_GMSH_NODES = {
    1: 2,
    2: 3,
    3: 4,
    4: 4,
    5: 8,
    6: 6,
    7: 5,
    8: 3,
    9: 6,
    10: 9,
    11: 10,
    12: 27,
    13: 18,
    14: 14,
    15: 1,
    16: 8,
    17: 20,
    18: 15,
    19: 13,
    20: 9,
    21: 10,
    22: 12,
    23: 15,
    24: 15,
    25: 21,
    26: 4,
    27: 5,
    28: 6,
    29: 20,
    30: 35,
    31: 56,
}
_GMSH_IGNORED = {1, 3, 8, 15, 16, 10, 26, 27, 28}  # points, lines, quads: not part of a tet mesh
_GMSH_3D_NAMES = {
    5: "8-node hexahedron",
    6: "6-node prism",
    7: "5-node pyramid",
    11: "10-node tetrahedron",
    12: "27-node hexahedron",
    13: "18-node prism",
    14: "14-node pyramid",
    17: "20-node hexahedron",
    18: "15-node prism",
    19: "13-node pyramid",
    29: "20-node tetrahedron",
}


# ---------------------------------------------------------------------------- helpers
class _Text:
    """A text file split into lines, with helpers that raise MeshFormatError naming the line."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.split("\n")

    def fail(self, lineno: int, message: str, hint: str = "") -> MeshFormatError:
        where = f"{self.path}, line {lineno + 1}" if lineno >= 0 else str(self.path)
        text = f"{where}: {message}"
        if hint:
            text += f". {hint}"
        return MeshFormatError(text)

    def line(self, i: int, what: str) -> str:
        if i >= len(self.lines):
            raise self.fail(-1, f"the file ends before {what}", "The file is truncated: export it again")
        return self.lines[i]

    def ints(self, i: int, what: str, count: int | None = None) -> list[int]:
        parts = self.line(i, what).split()
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise self.fail(i, f"expected integers ({what}), got {self.lines[i].strip()[:80]!r}") from None
        if count is not None and len(vals) < count:
            raise self.fail(i, f"expected {count} integers ({what}), got {len(vals)}")
        return vals

    def block(self, start: int, n: int, ncols: int, dtype, what: str, sep: str | None = None) -> np.ndarray:
        """Parse ``n`` lines from ``start`` as a (n, ncols) array, or raise naming the bad line."""
        if n < 0:
            raise self.fail(start - 1, f"negative count {n} ({what})")
        if start + n > len(self.lines):
            raise self.fail(
                -1,
                f"the file ends inside the {what} ({n} lines expected from line {start + 1})",
                "The file is truncated: export it again",
            )
        chunk = self.lines[start : start + n]
        joined = " ".join(chunk)
        if sep is not None:
            joined = joined.replace(sep, " ")
        tokens = joined.split()
        try:
            if len(tokens) != n * ncols:
                raise ValueError
            arr = np.array(tokens, dtype=dtype).reshape(n, ncols) if n else np.zeros((0, ncols), dtype)
            if dtype is float and not np.isfinite(arr).all():
                raise ValueError
            return arr
        except (ValueError, OverflowError):
            for k, text in enumerate(chunk):
                parts = text.replace(sep, " ").split() if sep else text.split()
                try:
                    row = np.array(parts, dtype=dtype)
                    ok = len(parts) == ncols and (dtype is not float or np.isfinite(row).all())
                except (ValueError, OverflowError):
                    ok = False
                if not ok:
                    raise self.fail(
                        start + k,
                        f"expected {ncols} numbers ({what}), got {text.strip()[:80]!r}",
                        "The file is garbled or truncated",
                    ) from None
            raise self.fail(start, f"cannot read the {what}") from None

    def find(self, marker: str, start: int = 0, required: bool = True) -> int:
        for i in range(start, len(self.lines)):
            if self.lines[i].strip() == marker:
                return i
        if required:
            raise self.fail(-1, f"section {marker} is missing", "The file is truncated or not a Gmsh mesh")
        return -1


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MeshFormatError(f"{path}: no such file") from None
    except OSError as error:
        raise MeshFormatError(f"{path}: cannot read the file ({error})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            raise MeshFormatError(f"{path}: not a text file ({error})") from None


def _relabel(path, node_ids: np.ndarray, conn: np.ndarray, elem_ids: np.ndarray, what: str) -> np.ndarray:
    """Map file node ids in ``conn`` to 0-based rows of ``node_ids``."""
    order = np.argsort(node_ids, kind="stable")
    sorted_ids = node_ids[order]
    if sorted_ids.size > 1 and (sorted_ids[1:] == sorted_ids[:-1]).any():
        dup = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0]
        raise MeshFormatError(f"{path}: node id {int(dup)} is defined twice; node ids must be unique")
    if conn.size == 0:
        return conn.astype(np.int64)
    pos = np.searchsorted(sorted_ids, conn)
    pos = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    ok = sorted_ids[pos] == conn if sorted_ids.size else np.zeros(conn.shape, bool)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        raise MeshFormatError(
            f"{path}: {what} {int(elem_ids[r])} refers to node {int(conn[r, c])}, which is not defined "
            f"({int((~ok).any(axis=1).sum())} elements affected); the file is inconsistent or truncated"
        )
    return order[pos].astype(np.int64)


class _Options(NamedTuple):
    """Reader options passed through to :func:`_finish`."""

    fix_orientation: bool = False
    drop_unused_nodes: bool = False
    build: Any = None  # the mesh class (TetMesh): called with the arrays a reader found


def _id_ranges(ids: np.ndarray, limit: int = 4) -> str:
    """``"5..9, 12, 20..31"``: sorted ids as runs of consecutive values (the first ``limit`` runs)."""
    ids = np.sort(ids)
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(ids) - 1]])
    runs = [
        f"{int(ids[a])}" if a == b else f"{int(ids[a])}..{int(ids[b])}"
        for a, b in zip(starts[:limit], ends[:limit], strict=True)
    ]
    return ", ".join(runs) + (", ..." if len(starts) > limit else "")


def _unused_nodes(path, options, node_ids, node_lines, tets) -> np.ndarray | None:
    """Check every node is a vertex of a tetrahedron; return the kept-node mask when dropping.

    A file cut short inside (or between) its element blocks still has all its nodes, so nodes
    that no tetrahedron uses are the signature of lost elements.
    """
    used = np.zeros(len(node_ids), dtype=bool)
    used[tets.ravel()] = True
    if used.all():
        return None
    if options.drop_unused_nodes:
        return used
    unused = np.flatnonzero(~used)
    where = f", line {int(node_lines[unused[0]]) + 1}" if node_lines is not None else ""
    raise MeshFormatError(
        f"{path}{where}: {unused.size} of {len(node_ids)} nodes are not a vertex of any tetrahedron "
        f"(node ids {_id_ranges(node_ids[unused])}). A file cut short inside its elements looks like "
        "this: export the mesh again; if the file really holds stray nodes, load it with "
        "drop_unused_nodes=True"
    )


def _finish(
    path,
    length_unit,
    options,
    nodes,
    node_ids,
    tet_conn,
    tet_ids,
    groups=None,
    tri_conn=None,
    tri_ids=None,
    tri_groups=None,
    node_lines=None,
) -> TetMesh:
    """Relabel nodes and build a :class:`TetMesh` with groups given as element-id arrays.

    ``node_lines`` (0-based line of each node in the file, optional) only locates errors.
    """
    scale = parse_length_unit(length_unit)
    if tet_conn is None or len(tet_conn) == 0:
        raise MeshFormatError(f"{path}: the file contains no tetrahedra (a surface-only mesh?)")
    tet_ids = np.asarray(tet_ids, dtype=np.int64)
    if tet_ids.size > 1 and (tet_ids[1:] < tet_ids[:-1]).any():  # keep the file's element-id order
        by_id = np.argsort(tet_ids, kind="stable")
        tet_ids, tet_conn = tet_ids[by_id], tet_conn[by_id]
    tets = _relabel(path, node_ids, tet_conn, tet_ids, "tetrahedron")
    keep = _unused_nodes(path, options, node_ids, node_lines, tets)
    new_index = None
    if keep is not None:  # drop_unused_nodes: renumber the vertices that tets use
        new_index = np.cumsum(keep) - 1
        new_index[~keep] = -1
        nodes, tets = nodes[keep], new_index[tets]
    # groups given as element ids -> row indices
    id_order = np.argsort(tet_ids, kind="stable")
    sorted_tet_ids = tet_ids[id_order]

    def rows_of(ids, gname):
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_tet_ids, ids), len(sorted_tet_ids) - 1)
        ok = sorted_tet_ids[pos] == ids
        if not ok.all():
            raise MeshFormatError(
                f"{path}: group {gname!r} lists element {int(ids[~ok][0])}, which is not a "
                "tetrahedron of the file"
            )
        return id_order[pos]

    tet_groups = {name: rows_of(ids, name) for name, ids in (groups or {}).items()}
    tgroups = {}
    if tri_conn is not None and len(tri_conn) and tri_groups:
        tri_v = _relabel(path, node_ids, tri_conn, tri_ids, "triangle")
        if new_index is not None:
            tri_v = new_index[tri_v]
            if (tri_v < 0).any():
                raise MeshFormatError(f"{path}: a triangle uses a node that no tetrahedron uses")
        t_order = np.argsort(tri_ids, kind="stable")
        for name, ids in tri_groups.items():
            pos = np.minimum(np.searchsorted(tri_ids[t_order], ids), len(t_order) - 1)
            tgroups[name] = tri_v[t_order[pos]]
    return options.build(
        nodes * scale,
        tets,
        groups=tet_groups,
        tri_groups=tgroups,
        fix_orientation=options.fix_orientation,
        source=str(path),
        element_ids=tet_ids,
        input_unit=length_unit,
    )


# ---------------------------------------------------------------------------- Gmsh
def _gmsh_physical_names(txt: _Text) -> dict[tuple[int, int], str]:
    names = {}
    i = txt.find("$PhysicalNames", required=False)
    if i < 0:
        return names
    n = txt.ints(i + 1, "the number of physical names", 1)[0]
    for k in range(n):
        line = txt.line(i + 2 + k, "the physical names")
        m = re.match(r'\s*(-?\d+)\s+(-?\d+)\s+"(.*)"\s*$', line)
        if not m:
            raise txt.fail(i + 2 + k, f"expected 'dim tag \"name\"', got {line.strip()[:80]!r}")
        names[(int(m.group(1)), int(m.group(2)))] = m.group(3)
    return names


def _group_name(names, dim, tag) -> str:
    return names.get((dim, tag), str(tag))


def _read_gmsh(path: Path, length_unit, options) -> TetMesh:
    with open(path, "rb") as f:
        head = f.read(256)
    if not head.lstrip().startswith(b"$MeshFormat"):
        raise MeshFormatError(f"{path}, line 1: not a Gmsh file (no $MeshFormat header)")
    try:
        fmt = head.split(b"\n")[1].split()
        version, filetype = fmt[0].decode(), int(fmt[1])
    except (IndexError, ValueError, UnicodeDecodeError):
        raise MeshFormatError(
            f"{path}, line 2: cannot read the Gmsh format line 'version file-type data-size'"
        ) from None
    if filetype == 1:
        return _read_meshio(path, length_unit, options, "gmsh")
    txt = _Text(path, _read_text(path))
    if version.startswith("2"):
        return _read_gmsh22(txt, length_unit, options)
    if version.startswith("4"):
        return _read_gmsh41(txt, length_unit, options, version)
    raise txt.fail(1, f"Gmsh format version {version} is not supported", "Save as version 4.1 or 2.2")


def _read_gmsh22(txt: _Text, length_unit, options) -> TetMesh:
    names = _gmsh_physical_names(txt)
    i = txt.find("$Nodes")
    n = txt.ints(i + 1, "the number of nodes", 1)[0]
    arr = txt.block(i + 2, n, 4, float, "node lines 'id x y z'")
    if txt.line(i + 2 + n, "$EndNodes").strip() != "$EndNodes":
        raise txt.fail(i + 2 + n, "expected $EndNodes", "The node count does not match the node lines")
    node_ids = arr[:, 0].astype(np.int64)
    nodes = arr[:, 1:]
    j = txt.find("$Elements", i + 2 + n)
    m = txt.ints(j + 1, "the number of elements", 1)[0]
    if m < 0 or j + 2 + m > len(txt.lines):
        raise txt.fail(-1, f"the file ends inside the elements ({m} expected)", "The file is truncated")
    if txt.line(j + 2 + m, "$EndElements").strip() != "$EndElements":
        raise txt.fail(
            j + 2 + m, "expected $EndElements", "The element count does not match the element lines"
        )
    chunk = txt.lines[j + 2 : j + 2 + m]
    rows = None
    first = chunk[0].split() if chunk else []
    if first and all(len(c) for c in chunk):
        k = len(first)
        try:
            flat = np.array(" ".join(chunk).split(), dtype=np.int64)
            if flat.size == m * k:
                cand = flat.reshape(m, k)
                if (cand[:, 2] == cand[0, 2]).all() and (cand[:, 1] == cand[0, 1]).all():
                    rows = [cand]
        except (ValueError, OverflowError):
            rows = None
    if rows is None:  # mixed element types: line by line
        rows = []
        for off, line in enumerate(chunk):
            try:
                vals = np.array(line.split(), dtype=np.int64)
            except (ValueError, OverflowError):
                raise txt.fail(j + 2 + off, f"cannot read element line {line.strip()[:80]!r}") from None
            if vals.size < 3 or vals.size != 3 + vals[2] + _GMSH_NODES.get(int(vals[1]), vals.size):
                etype = int(vals[1]) if vals.size > 1 else -1
                if vals.size >= 3 and etype not in _GMSH_NODES:
                    raise txt.fail(j + 2 + off, f"unknown Gmsh element type {etype}")
                raise txt.fail(
                    j + 2 + off, f"element line has the wrong number of entries: {line.strip()[:80]!r}"
                )
            rows.append(vals[None, :])
    tet_parts, tri_parts = [], []
    line0 = j + 2
    for block in rows:
        etype, ntags = block[:, 1], block[:, 2]
        for t in np.unique(etype):
            sel = block[etype == t]
            t = int(t)
            if t not in _GMSH_NODES:
                raise txt.fail(line0 + int(np.flatnonzero(etype == t)[0]), f"unknown Gmsh element type {t}")
            if t in _GMSH_3D_NAMES:
                raise txt.fail(
                    line0 + int(np.flatnonzero(etype == t)[0]),
                    f"element type {t} ({_GMSH_3D_NAMES[t]}) is not supported",
                    "tetrasim needs linear tetrahedra (type 4): re-mesh with tets, order 1",
                )
            if t in (4, 2):
                nt = int(ntags[etype == t][0])
                nn = _GMSH_NODES[t]
                if sel.shape[1] != 3 + nt + nn:
                    raise txt.fail(
                        line0, f"element type {t} lines have {sel.shape[1]} entries, expected {3 + nt + nn}"
                    )
                phys = sel[:, 3] if nt >= 1 else np.zeros(len(sel), np.int64)
                part = (sel[:, 0], sel[:, 3 + nt :], phys)
                (tet_parts if t == 4 else tri_parts).append(part)
    if not tet_parts:
        raise txt.fail(-1, "the file contains no tetrahedra (element type 4)")
    tet_ids = np.concatenate([p[0] for p in tet_parts])
    tet_conn = np.concatenate([p[1] for p in tet_parts])
    tet_phys = np.concatenate([p[2] for p in tet_parts])
    groups = {_group_name(names, 3, int(t)): tet_ids[tet_phys == t] for t in np.unique(tet_phys) if t != 0}
    tri_conn = tri_ids = None
    tri_groups = {}
    if tri_parts:
        tri_ids = np.concatenate([p[0] for p in tri_parts])
        tri_conn = np.concatenate([p[1] for p in tri_parts])
        tri_phys = np.concatenate([p[2] for p in tri_parts])
        tri_groups = {
            _group_name(names, 2, int(t)): tri_ids[tri_phys == t] for t in np.unique(tri_phys) if t != 0
        }
    return _finish(
        txt.path,
        length_unit,
        options,
        nodes,
        node_ids,
        tet_conn,
        tet_ids,
        groups,
        tri_conn,
        tri_ids,
        tri_groups,
        node_lines=i + 2 + np.arange(n),
    )


def _gmsh41_entities(txt: _Text, section: str = "$Entities") -> dict[tuple[int, int], list[int]]:
    """Entity (dim, tag) -> physical tags, from the ``$Entities`` section (empty when absent)."""
    physicals: dict[tuple[int, int], list[int]] = {}
    e = txt.find(section, required=False)
    if e >= 0:
        counts = txt.ints(e + 1, "the entity counts", 4)[:4]
        row = e + 2
        for dim, count in enumerate(counts):
            for _ in range(count):
                parts = txt.line(row, "the entities").split()
                try:
                    tag = int(parts[0])
                    k = 4 if dim == 0 else 7
                    nphys = int(parts[k])
                    physicals[(dim, tag)] = [int(x) for x in parts[k + 1 : k + 1 + nphys]]
                except (ValueError, IndexError):
                    raise txt.fail(row, f"cannot read the entity line {parts[:8]}") from None
                row += 1
    return physicals


def _gmsh41_nodes(txt: _Text):
    """``(node tags, coordinates, 0-based line of each node, row after $EndNodes)`` of a 4.1 file."""
    i = txt.find("$Nodes")
    nblocks, nnodes = txt.ints(i + 1, "the node block header 'numEntityBlocks numNodes min max'", 4)[:2]
    row = i + 2
    node_id_parts, coord_parts, line_parts = [], [], []
    for _ in range(nblocks):
        hdr = txt.ints(row, "a node block header 'dim tag parametric numNodes'", 4)
        if hdr[2] != 0:
            raise txt.fail(
                row, "parametric node coordinates are not supported", "Save without parametric nodes"
            )
        k = hdr[3]
        node_id_parts.append(txt.block(row + 1, k, 1, np.int64, "node tags")[:, 0])
        line_parts.append(row + 1 + k + np.arange(k))
        coord_parts.append(txt.block(row + 1 + k, k, 3, float, "node coordinates 'x y z'"))
        row += 1 + 2 * k
    if txt.line(row, "$EndNodes").strip() != "$EndNodes":
        raise txt.fail(row, "expected $EndNodes", "The node blocks do not match their counts")
    node_ids = np.concatenate(node_id_parts) if node_id_parts else np.zeros(0, np.int64)
    nodes = np.concatenate(coord_parts) if coord_parts else np.zeros((0, 3))
    if len(node_ids) != nnodes:
        raise txt.fail(i + 1, f"the header announces {nnodes} nodes but the blocks hold {len(node_ids)}")
    lines = np.concatenate(line_parts) if line_parts else None
    return node_ids, nodes, lines, row


def _gmsh41_elements(txt: _Text, start: int) -> list[tuple[int, int, int, np.ndarray, np.ndarray]]:
    """Tet and triangle blocks of a 4.1 file: ``(dim, entity tag, type, element tags, node tags)``."""
    j = txt.find("$Elements", start)
    nblocks = txt.ints(j + 1, "the element block header", 4)[0]
    row = j + 2
    blocks = []
    for _ in range(nblocks):
        dim, tag, etype, k = txt.ints(row, "an element block header 'dim tag type numElements'", 4)[:4]
        if etype not in _GMSH_NODES:
            raise txt.fail(row, f"unknown Gmsh element type {etype}")
        if etype in _GMSH_3D_NAMES:
            raise txt.fail(
                row,
                f"element type {etype} ({_GMSH_3D_NAMES[etype]}) is not supported",
                "tetrasim needs linear tetrahedra (type 4): re-mesh with tets, order 1",
            )
        nn = _GMSH_NODES[etype]
        if etype in (4, 2):
            data = txt.block(row + 1, k, 1 + nn, np.int64, f"element lines of type {etype} 'tag n1..n{nn}'")
            blocks.append((dim, tag, etype, data[:, 0], data[:, 1:]))
        elif row + 1 + k > len(txt.lines):
            raise txt.fail(-1, "the file ends inside the elements", "The file is truncated")
        row += 1 + k
    if txt.line(row, "$EndElements").strip() != "$EndElements":
        raise txt.fail(row, "expected $EndElements", "The element blocks do not match their counts")
    return blocks


def _gmsh41_groups(blocks, physicals, names, etype: int) -> dict[str, np.ndarray]:
    """Physical group name -> element tags, for the blocks of one element type."""
    dim = 3 if etype == 4 else 2
    groups: dict[str, list] = {}
    for bdim, tag, btype, ids, _ in blocks:
        if btype == etype:
            for p in physicals.get((bdim, tag), []):
                groups.setdefault(_group_name(names, dim, p), []).append(ids)
    return {k: np.concatenate(v) for k, v in groups.items()}


def _read_gmsh41(txt: _Text, length_unit, options, version) -> TetMesh:
    if version not in ("4.1", "4.10"):
        raise txt.fail(1, f"Gmsh format version {version} is not supported", "Save as version 4.1 or 2.2")
    names = _gmsh_physical_names(txt)
    physicals = _gmsh41_entities(txt)  # entity (dim, tag) -> physical tags
    node_ids, nodes, node_lines, row = _gmsh41_nodes(txt)
    blocks = _gmsh41_elements(txt, row)
    tets = [b for b in blocks if b[2] == 4]
    tris = [b for b in blocks if b[2] == 2]
    if not tets:
        raise txt.fail(-1, "the file contains no tetrahedra (element type 4)")
    return _finish(
        txt.path,
        length_unit,
        options,
        nodes,
        node_ids,
        np.concatenate([t[4] for t in tets]),
        np.concatenate([t[3] for t in tets]),
        _gmsh41_groups(blocks, physicals, names, 4),
        np.concatenate([t[4] for t in tris]) if tris else None,
        np.concatenate([t[3] for t in tris]) if tris else None,
        _gmsh41_groups(blocks, physicals, names, 2),
        node_lines=node_lines,
    )


def _write_gmsh41(mesh: TetMesh, path: Path, scale: float) -> None:
    names = list(mesh.groups)
    member = np.zeros((mesh.n_tets, max(len(names), 1)), dtype=bool)
    for k, name in enumerate(names):
        member[mesh.groups[name], k] = True
    keys, entity_of = np.unique(np.packbits(member, axis=1), axis=0, return_inverse=True)
    entity_of = entity_of.ravel()
    tri_names = list(mesh.tri_groups)
    out = []
    out.append("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n")
    nphys = len(names) + len(tri_names)
    if nphys:
        out.append(f"$PhysicalNames\n{nphys}\n")
        out += [f'3 {k + 1} "{n}"\n' for k, n in enumerate(names)]
        out += [f'2 {k + 1} "{n}"\n' for k, n in enumerate(tri_names)]
        out.append("$EndPhysicalNames\n")
    lo, hi = mesh.bounding_box / scale
    box = " ".join(f"{v:.17g}" for v in (*lo, *hi))
    out.append(f"$Entities\n0 0 {len(tri_names)} {len(keys)}\n")
    for k in range(len(tri_names)):
        out.append(f"{k + 1} {box} 1 {k + 1} 0\n")
    for e in range(len(keys)):
        rows = np.flatnonzero(entity_of == e)
        tags = [str(g + 1) for g in np.flatnonzero(member[rows[0]])] if names else []
        out.append(f"{e + 1} {box} {len(tags)} {' '.join(tags)} 0\n".replace("  ", " "))
    out.append("$EndEntities\n")
    n = mesh.n_vertices
    out.append(f"$Nodes\n1 {n} 1 {n}\n3 1 0 {n}\n")
    out.append("\n".join(map(str, range(1, n + 1))) + "\n")
    text = _format_rows(mesh.vertices / scale, "%.17g")
    out.append(text)
    out.append("$EndNodes\n")
    ntri = sum(len(mesh.tri_groups[t]) for t in tri_names)
    total = mesh.n_tets + ntri
    out.append(f"$Elements\n{len(keys) + len(tri_names)} {total} 1 {total}\n")
    tag = 1
    for k, t in enumerate(tri_names):
        tv = mesh.tris[mesh.tri_groups[t]] + 1
        out.append(f"2 {k + 1} 2 {len(tv)}\n")
        out.append(_format_rows(np.column_stack([np.arange(tag, tag + len(tv)), tv]), "%d"))
        tag += len(tv)
    for e in range(len(keys)):
        rows = np.flatnonzero(entity_of == e)
        out.append(f"3 {e + 1} 4 {len(rows)}\n")
        out.append(_format_rows(np.column_stack([tag + rows, mesh.tets[rows] + 1]), "%d"))
    out.append("$EndElements\n")
    _atomic_write(path, lambda f: f.write("".join(out).encode()))


def _format_rows(arr: np.ndarray, fmt: str) -> str:
    if arr.size == 0:
        return ""
    line = " ".join([fmt] * arr.shape[1]) + "\n"
    return (line * arr.shape[0]) % tuple(arr.ravel().tolist())


# ---------------------------------------------------------------------------- Abaqus
_KEYWORD = re.compile(r"\s*\*")


def _ends_inside_a_line(txt: _Text, data_line: int) -> bool:
    """True when the file has no final newline and its last line is the data line ``data_line``."""
    last = len(txt.lines) - 1
    return bool(txt.lines[last].strip()) and data_line == last


def _truncated_inside_line(txt: _Text, line: int) -> MeshFormatError:
    return txt.fail(
        line,
        "the file ends in the middle of this line (no newline after it)",
        "The file is truncated: export it again (if it is complete, end it with a newline)",
    )


#: Abaqus keywords that open a scope closed by ``*END <keyword>``.
_ABAQUS_SCOPES = ("PART", "ASSEMBLY", "INSTANCE", "STEP")
#: Abaqus keywords followed by data lines; one of them with no data at the end of the file is cut short.
_ABAQUS_DATA = ("NODE", "ELEMENT", "ELSET", "NSET")


def _abaqus_scope(txt: _Text, line: int, key: str, params: dict, open_scopes: list) -> None:
    """Track ``*PART ... *END PART`` (and assembly, instance, step) nesting."""
    if key in _ABAQUS_SCOPES:
        open_scopes.append((key, line, params.get("NAME", "")))
        return
    compact = key.replace(" ", "")
    if not compact.startswith("END") or compact[3:] not in _ABAQUS_SCOPES:
        return
    scope = compact[3:]
    if open_scopes and open_scopes[-1][0] == scope:
        open_scopes.pop()
    elif any(s[0] == scope for s in open_scopes):
        inner, inner_line, _ = open_scopes[-1]
        raise txt.fail(
            line,
            f"*END {scope} while *{inner} (line {inner_line + 1}) is still open",
            "The keywords are garbled: export the file again",
        )
    # an *END without its opening keyword closes nothing: harmless, ignored


def _abaqus_unclosed(txt: _Text, open_scopes: list, last_block) -> MeshFormatError:
    key, line, name = open_scopes[-1]
    what = f"*{key}" + (f", NAME={name}" if name else "")
    inside = ""
    if last_block is not None:
        bkey, bline, bparams = last_block
        label = f"ELSET={bparams['ELSET']}" if "ELSET" in bparams else bkey
        inside = f", inside the *{bkey} block ({label}) that starts at line {bline + 1}"
    return txt.fail(
        -1,
        f"{what} (line {line + 1}) is never closed by *END {key}: the file stops at line "
        f"{len(txt.lines) - (txt.lines[-1] == '')}{inside}",
        "The file is truncated: export it again",
    )


def _read_abaqus(path: Path, length_unit, options) -> TetMesh:
    txt = _Text(path, _read_text(path))
    lines = txt.lines
    kw = [
        i
        for i, line in enumerate(lines)
        if line.startswith("*") or (line[:1].isspace() and _KEYWORD.match(line))
    ]
    kw.append(len(lines))
    node_parts, node_id_parts, node_line_parts, tet_parts, groups = [], [], [], [], {}
    node_sets: dict[str, list] = {}
    open_scopes: list[tuple[str, int, str]] = []
    last_block = None  # (keyword, line, parameters) of the last data block, to say where a cut is
    for a, b in zip(kw[:-1], kw[1:], strict=True):
        head = lines[a].strip()
        if head.startswith("**"):
            continue
        opts = [p.strip() for p in head[1:].split(",")]
        key = opts[0].upper()
        params = {}
        for p in opts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().upper()] = v.strip()
            elif p:
                params[p.strip().upper()] = ""
        _abaqus_scope(txt, a, key, params, open_scopes)
        data = [k for k in range(a + 1, b) if lines[k].strip()]
        if not data:
            if b == len(lines) and key in _ABAQUS_DATA:
                raise txt.fail(
                    a, f"the file ends right after *{key}, before its data lines", "The file is truncated"
                )
            continue
        if _ends_inside_a_line(txt, data[-1]):
            raise _truncated_inside_line(txt, data[-1])
        if key in _ABAQUS_DATA:
            last_block = (key, a, params)
        s, e = data[0], data[-1] + 1
        if any(not lines[k].strip() for k in range(s, e)):
            raise txt.fail(
                next(k for k in range(s, e) if not lines[k].strip()), "unexpected empty line in a data block"
            )
        if key == "NODE":
            ncol = len(lines[s].replace(",", " ").split())
            if ncol not in (3, 4):
                raise txt.fail(s, f"expected 'id, x, y, z' in *NODE, got {lines[s].strip()[:80]!r}")
            arr = txt.block(s, e - s, ncol, float, "*NODE lines 'id, x, y, z'", sep=",")
            ids = arr[:, 0]
            if (ids != np.round(ids)).any():
                raise txt.fail(s, "node ids must be integers")
            node_id_parts.append(ids.astype(np.int64))
            node_line_parts.append(s + np.arange(e - s))
            xyz = np.zeros((len(arr), 3))
            xyz[:, : ncol - 1] = arr[:, 1:]
            node_parts.append(xyz)
        elif key == "ELEMENT":
            etype = params.get("TYPE", "").upper()
            if etype not in ("C3D4", "C3D4H", "DC3D4"):
                if etype.startswith(("S", "M3D", "R3D", "STRI", "CPS", "CPE", "T3D", "B3", "DS", "SFM")):
                    continue  # shells / beams / surface elements: not part of the tet mesh
                raise txt.fail(
                    a,
                    f"element type {etype or '(missing)'!r} is not supported",
                    "tetrasim reads linear tetrahedra (TYPE=C3D4)",
                )
            arr = txt.block(s, e - s, 5, np.int64, "*ELEMENT lines 'id, n1, n2, n3, n4'", sep=",")
            tet_parts.append(arr)
            if "ELSET" in params:
                groups.setdefault(params["ELSET"], []).append(arr[:, 0])
        elif key == "NSET":
            # node sets only cross-check the nodes: every node they list must be defined
            toks = " ".join(lines[s:e]).replace(",", " ").split()
            try:
                vals = np.array(toks, dtype=np.int64)
            except (ValueError, OverflowError):
                continue  # sets of sets: nothing to check
            if "GENERATE" in params and vals.size % 3 == 0:
                vals = np.concatenate(
                    [np.arange(f, last + 1, st if st else 1) for f, last, st in vals.reshape(-1, 3)]
                )
            node_sets.setdefault(params.get("NSET", "?"), []).append((a, vals))
        elif key == "ELSET":
            name = params.get("ELSET")
            if not name:
                raise txt.fail(a, "*ELSET without ELSET=name")
            toks = " ".join(lines[s:e]).replace(",", " ").split()
            try:
                vals = np.array(toks, dtype=np.int64)
            except (ValueError, OverflowError):
                vals = None
            if vals is None:
                # element sets may name other element sets
                ids = []
                for t in toks:
                    if t in groups:
                        ids.extend(np.concatenate(groups[t]).tolist())
                    else:
                        try:
                            ids.append(int(t))
                        except ValueError:
                            raise txt.fail(
                                s, f"*ELSET {name}: {t!r} is neither an element id nor a set"
                            ) from None
                vals = np.array(ids, dtype=np.int64)
            if "GENERATE" in params:
                if vals.size % 3:
                    raise txt.fail(s, f"*ELSET {name}, GENERATE needs 'first, last, step' triples")
                vals = np.concatenate(
                    [np.arange(f, last + 1, st if st else 1) for f, last, st in vals.reshape(-1, 3)]
                )
            groups.setdefault(name, []).append(vals)
    if open_scopes:
        raise _abaqus_unclosed(txt, open_scopes, last_block)
    if not node_parts:
        raise txt.fail(-1, "no *NODE block", "The file is truncated or not an Abaqus mesh")
    if not tet_parts:
        raise txt.fail(-1, "no *ELEMENT, TYPE=C3D4 block", "The file is truncated or has no tetrahedra")
    node_ids = np.concatenate(node_id_parts)
    for name, parts in node_sets.items():
        for line, vals in parts:
            missing = np.setdiff1d(vals, node_ids)
            if missing.size:
                raise txt.fail(
                    line,
                    f"*NSET {name} lists {missing.size} nodes that are not defined (ids "
                    f"{_id_ranges(missing)})",
                    "The file is truncated or inconsistent: export it again",
                )
    tets = np.concatenate(tet_parts)
    groups_arr = {k: np.concatenate(v) for k, v in groups.items()}
    return _finish(
        path,
        length_unit,
        options,
        np.concatenate(node_parts),
        node_ids,
        tets[:, 1:],
        tets[:, 0],
        groups_arr,
        node_lines=np.concatenate(node_line_parts),
    )


# ---------------------------------------------------------------------------- TetGen
def _tetgen_table(path: Path, min_cols: int, what: str) -> tuple[_Text, list[int], np.ndarray, list[int]]:
    """Header, data rows as an array, and the 0-based file line of each row."""
    txt = _Text(path, _read_text(path))
    body = [k for k, line in enumerate(txt.lines) if line.split("#", 1)[0].strip()]
    if not body:
        raise txt.fail(-1, f"empty {what} file")
    try:
        header = [int(x) for x in txt.lines[body[0]].split("#", 1)[0].split()]
    except ValueError:
        raise txt.fail(body[0], f"cannot read the {what} header") from None
    if len(header) < 1 or header[0] < 0:
        raise txt.fail(body[0], f"cannot read the {what} header")
    n = header[0]
    rows = body[1 : 1 + n]
    if len(rows) < n:
        raise txt.fail(
            -1, f"the header announces {n} entries but the file has {len(rows)}", "The file is truncated"
        )
    if n == 0:
        return txt, header, np.zeros((0, min_cols)), rows
    if _ends_inside_a_line(txt, rows[-1]):
        raise _truncated_inside_line(txt, rows[-1])
    lines = [txt.lines[k].split("#", 1)[0] for k in rows]
    ncols = len(lines[0].split())
    if ncols < min_cols:
        raise txt.fail(rows[0], f"expected at least {min_cols} columns in the {what}")
    sub = _Text(path, "\n".join(lines))
    try:
        arr = sub.block(0, n, ncols, float, what)
    except MeshFormatError as error:
        m = re.search(r"line (\d+)", str(error))
        k = rows[int(m.group(1)) - 1] if m else rows[0]
        raise txt.fail(k, f"cannot read this {what} line: {txt.lines[k].strip()[:80]!r}") from None
    return txt, header, arr, rows


def _read_tetgen(path: Path, length_unit, options) -> TetMesh:
    stem = path.with_suffix("")
    node_path, ele_path, face_path = (stem.with_suffix(s) for s in (".node", ".ele", ".face"))
    for p in (node_path, ele_path):
        if not p.exists():
            raise MeshFormatError(
                f"{p}: missing; a TetGen mesh needs both {node_path.name} and {ele_path.name}"
            )
    txt, header, nodes, node_rows = _tetgen_table(node_path, 4, "node")
    if len(header) > 1 and header[1] != 3:
        raise txt.fail(0, f"TetGen nodes must be 3-D, the header says dimension {header[1]}")
    node_ids = nodes[:, 0].astype(np.int64)
    etxt, eheader, ele, _ = _tetgen_table(ele_path, 5, "element")
    if len(eheader) > 1 and eheader[1] != 4:
        raise etxt.fail(0, f"{eheader[1]}-node tetrahedra are not supported", "Run TetGen without -o2")
    if (ele != np.round(ele)).any():
        raise etxt.fail(-1, "element ids and node indices must be integers")
    ele_i = ele.astype(np.int64)
    groups = {}
    nattr = eheader[2] if len(eheader) > 2 else 0
    if nattr and ele.shape[1] > 5:
        reg = ele[:, 5]
        for r in np.unique(reg):
            name = f"region{int(r)}" if r == int(r) else f"region{r:g}"
            groups[name] = ele_i[reg == r, 0]
    tri_conn = tri_ids = None
    tri_groups = {}
    if face_path.exists():
        _, fheader, faces, _ = _tetgen_table(face_path, 4, "face")
        if faces.size and len(fheader) > 1 and fheader[1] and faces.shape[1] > 4:
            fi = faces.astype(np.int64)
            tri_ids, tri_conn = fi[:, 0], fi[:, 1:4]
            for mk in np.unique(fi[:, 4]):
                if mk != 0:
                    tri_groups[f"marker{int(mk)}"] = tri_ids[fi[:, 4] == mk]
    return _finish(
        path,
        length_unit,
        options,
        nodes[:, 1:4],
        node_ids,
        ele_i[:, 1:5],
        ele_i[:, 0],
        groups,
        tri_conn,
        tri_ids,
        tri_groups,
    )


# ---------------------------------------------------------------------------- meshio (VTK, VTU, binary gmsh)
def _read_meshio(path: Path, length_unit, options, fmt) -> TetMesh:
    import meshio

    file_format = {"gmsh": "gmsh", "vtk": "vtk", "vtu": "vtu"}[fmt]
    try:
        # meshio prints its own complaints to stdout before raising; the typed error below says it
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            m = meshio.read(str(path), file_format=file_format)
    except (MeshFormatError, GeometryError):
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - meshio raises many kinds (even SystemExit)
        raise MeshFormatError(
            f"{path}: cannot read the {fmt} file ({type(error).__name__}: {error}); "
            "the file is truncated, garbled or not this format"
        ) from None
    points = np.asarray(m.points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise MeshFormatError(f"{path}: points have shape {points.shape}, expected (n, 3)")
    if points.shape[1] == 2:
        raise MeshFormatError(f"{path}: 2-D points; a tetrahedral mesh needs 3-D coordinates")
    tets, tris, gtet, gtri = [], [], {}, {}
    names = {}
    for name, (tag, dim) in (getattr(m, "field_data", None) or {}).items():
        try:
            names[(int(dim), int(tag))] = name
        except (TypeError, ValueError):
            pass
    offset_t = offset_f = 0
    for b, block in enumerate(m.cells):
        data = np.asarray(block.data)
        if block.type == "tetra":
            tets.append(data)
            dim, target, off = 3, gtet, offset_t
            offset_t += len(data)
        elif block.type == "triangle":
            tris.append(data)
            dim, target, off = 2, gtri, offset_f
            offset_f += len(data)
        elif block.type in ("vertex", "line", "quad", "line3"):
            continue
        else:
            raise MeshFormatError(
                f"{path}: element type {block.type!r} is not supported; tetrasim needs linear tetrahedra"
            )
        for key, values in (m.cell_data or {}).items():
            if key in ("gmsh:geometrical",) or b >= len(values):
                continue
            vals = np.asarray(values[b])
            if vals.ndim != 1 or vals.dtype.kind not in "iu":
                continue
            for v in np.unique(vals):
                if key == "gmsh:physical":
                    if v == 0:
                        continue
                    gname = names.get((dim, int(v)), str(int(v)))
                else:
                    gname = f"{key}={int(v)}"
                target.setdefault(gname, []).append(off + np.flatnonzero(vals == v))
    if not tets:
        raise MeshFormatError(f"{path}: the file contains no tetrahedra")
    tet_conn = np.concatenate(tets).astype(np.int64)
    n = len(points)
    ids = np.arange(n, dtype=np.int64)
    tet_ids = np.arange(len(tet_conn), dtype=np.int64)
    tri_conn = np.concatenate(tris).astype(np.int64) if tris else None
    tri_ids = np.arange(len(tri_conn), dtype=np.int64) if tris else None
    return _finish(
        path,
        length_unit,
        options,
        points,
        ids,
        tet_conn,
        tet_ids,
        {k: np.concatenate(v) for k, v in gtet.items()},
        tri_conn,
        tri_ids,
        {k: np.concatenate(v) for k, v in gtri.items()},
    )


# ---------------------------------------------------------------------------- native npz
def _read_npz(path: Path, length_unit, options) -> TetMesh:
    if length_unit is not None and parse_length_unit(length_unit) != 1.0:
        raise GeometryError(
            f"{path}: .npz meshes are stored in metres; pass length_unit='m' (or leave it out)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"])
            if version > NPZ_VERSION:
                raise MeshFormatError(
                    f"{path}: written by a newer tetrasim (format {version}); upgrade tetrasim"
                )
            vertices = np.array(data["vertices"])
            tets = np.array(data["tets"])
            gnames = [str(s) for s in data["group_names"]]
            groups = {g: np.array(data[f"group_{k}"]) for k, g in enumerate(gnames)}
            tnames = [str(s) for s in data["tri_group_names"]]
            tri_groups = {g: np.array(data[f"tri_group_{k}"]) for k, g in enumerate(tnames)}
    except MeshFormatError:
        raise
    except FileNotFoundError:
        raise MeshFormatError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError, IndexError) as error:
        raise MeshFormatError(
            f"{path}: not a readable tetrasim .npz mesh ({type(error).__name__}: {error}); "
            "the file is truncated or corrupted: save the mesh again"
        ) from None
    for name, arr in tri_groups.items():
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise MeshFormatError(f"{path}: triangle group {name!r} has shape {arr.shape}, expected (k, 3)")
    return options.build(
        vertices,
        tets,
        groups=groups,
        tri_groups=tri_groups,
        fix_orientation=options.fix_orientation,
        source=str(path),
    )


def _write_npz(mesh: TetMesh, path: Path) -> None:
    arrays = {
        "format_version": np.array(NPZ_VERSION),
        "vertices": mesh.vertices,
        "tets": mesh.tets,
        "group_names": np.array(list(mesh.groups), dtype=str),
        "tri_group_names": np.array(list(mesh.tri_groups), dtype=str),
    }
    for k, g in enumerate(mesh.groups):
        arrays[f"group_{k}"] = mesh.groups[g]
    for k, g in enumerate(mesh.tri_groups):
        arrays[f"tri_group_{k}"] = mesh.tris[mesh.tri_groups[g]]
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def _atomic_write(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- entry points
_READERS = {
    "gmsh": _read_gmsh,
    "abaqus": _read_abaqus,
    "tetgen": _read_tetgen,
    "npz": _read_npz,
    "vtk": lambda p, u, f: _read_meshio(p, u, f, "vtk"),
    "vtu": lambda p, u, f: _read_meshio(p, u, f, "vtu"),
}


def _format_of(path: Path, format: str | None) -> str:  # noqa: A002
    if format is not None:
        fmt = str(format).lower().lstrip(".")
        fmt = {"msh": "gmsh", "inp": "abaqus", "node": "tetgen", "ele": "tetgen"}.get(fmt, fmt)
        if fmt not in _READERS:
            raise MeshFormatError(f"{path}: unknown mesh format {format!r}; known: {sorted(_READERS)}")
        return fmt
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise MeshFormatError(
            f"{path}: cannot tell the mesh format from the extension {suffix!r}; "
            f"use one of {sorted(FORMATS)} or pass format= ({sorted(_READERS)})"
        )
    return FORMATS[suffix]


@checked_keywords
def read_mesh(
    path,
    length_unit,
    build,
    *,
    format: str | None = None,  # noqa: A002
    fix_orientation: bool = False,
    drop_unused_nodes: bool = False,
) -> TetMesh:
    """Read a tetrahedral mesh file (the public entry is :meth:`TetMesh.load` / :func:`load_mesh`).

    The parameters and errors are those of :func:`tetrasim.geometry.mesh.load_mesh`, plus
    ``build``, the mesh class: ``build(vertices, tets, groups=, tri_groups=, fix_orientation=,
    source=, ...)`` makes the mesh from what was read (this module knows file formats, not meshes).
    """
    path = Path(path)
    fmt = _format_of(path, format)
    if fmt != "npz":
        parse_length_unit(length_unit)
    if not path.exists() and fmt != "tetgen":
        raise MeshFormatError(f"{path}: no such file")
    try:
        return _READERS[fmt](path, length_unit, _Options(fix_orientation, drop_unused_nodes, build))
    except (GeometryError, MemoryError):
        raise
    except RecursionError:
        raise MeshFormatError(f"{path}: cannot read the file (too deeply nested)") from None
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, UnicodeError) as error:
        raise MeshFormatError(
            f"{path}: cannot read the {fmt} file ({type(error).__name__}: {error}); "
            "it is garbled or truncated"
        ) from None


@checked_keywords
def save_mesh(mesh: TetMesh, path, *, format: str | None = None, length_unit="m") -> Path:  # noqa: A002
    """Write ``mesh`` to ``.npz`` (native) or Gmsh 4.1 ASCII ``.msh``; the old file is kept on failure."""
    path = Path(path)
    fmt = _format_of(path, format)
    if fmt == "npz":
        _write_npz(mesh, path)
    elif fmt == "gmsh":
        _write_gmsh41(mesh, path, parse_length_unit(length_unit))
    else:
        raise MeshFormatError(f"{path}: saving to {fmt} is not supported; use .npz or .msh")
    return path
