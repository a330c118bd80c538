"""One file of a pre-split Gmsh 4.1 set: the elements of one partition, with global tags.

``gmsh.model.mesh.partition(n)`` with the option ``Mesh.PartitionSplitMeshFiles=1`` writes
``name_1.msh … name_n.msh``. Each file holds the elements of one partition (their node and
element tags are those of the unsplit mesh) and a ``$PartitionedEntities`` section that names
the partition of every entity. :func:`read_gmsh_part` reads one such file into plain arrays,
without building a mesh: the MPI back end (:mod:`tetrasim.backends.split_mesh`) assembles each
rank's part of the mesh from them. Ghost cells (``Mesh.PartitionCreateGhostCells``) and the
elements of partition interfaces are skipped: the back end finds the neighbours' tets itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MeshFormatError
from .conventions import parse_length_unit
from .io import (
    _gmsh41_elements,
    _gmsh41_nodes,
    _gmsh_physical_names,
    _group_name,
    _read_text,
    _relabel,
    _Text,
)

__all__ = ["GmshPart", "read_gmsh_part", "split_file_name"]


def split_file_name(path, index: int) -> Path:
    """The file of partition ``index`` (1-based) of the set ``path``: ``box.msh`` -> ``box_3.msh``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_{index}{path.suffix}")


@dataclass
class GmshPart:
    """The elements of one partition of a split Gmsh set (tags are the unsplit mesh's)."""

    path: Path
    partition: int  # 1-based, as Gmsh numbers partitions
    n_partitions: int
    node_tags: np.ndarray  # (n,) tags of the nodes the file holds
    nodes: np.ndarray  # (n, 3) coordinates in metres
    tet_tags: np.ndarray  # (m,) increasing
    tet_nodes: np.ndarray  # (m, 4) node tags
    tri_tags: np.ndarray  # (k,)
    tri_nodes: np.ndarray  # (k, 3) node tags
    tet_groups: dict[str, np.ndarray] = field(default_factory=dict)  # name -> rows of tet_tags
    tri_groups: dict[str, np.ndarray] = field(default_factory=dict)  # name -> rows of tri_tags


def _partitioned_entities(txt: _Text):
    """``(n_partitions, ghost entity tags, {(dim, tag): (partitions, physical tags)})``."""
    start = txt.find("$PartitionedEntities", required=False)
    if start < 0:
        return None
    end = txt.find("$EndPartitionedEntities", start)
    tokens = " ".join(txt.lines[start + 1 : end]).split()
    position = 0

    def take(kind=int):
        nonlocal position
        if position >= len(tokens):
            raise txt.fail(start, "the $PartitionedEntities section ends too early", "The file is truncated")
        try:
            value = kind(tokens[position])
        except ValueError:
            near = tokens[position]
            raise txt.fail(start, f"cannot read the $PartitionedEntities section near {near!r}") from None
        position += 1
        return value

    n_partitions = take()
    ghosts = set()
    for _ in range(take()):
        ghosts.add(take())
        take()  # the ghost entity's partition
    counts = [take() for _ in range(4)]
    entities = {}
    for dim, count in enumerate(counts):
        for _ in range(count):
            tag, _parent_dim, _parent_tag = take(), take(), take()
            partitions = [take() for _ in range(take())]
            for _ in range(3 if dim == 0 else 6):  # a point's coordinates, or a bounding box
                take(float)
            physicals = [take() for _ in range(take())]
            if dim > 0:
                for _ in range(take()):  # bounding entities
                    take()
            entities[(dim, tag)] = (partitions, physicals)
    return n_partitions, ghosts, entities


def read_gmsh_part(path, length_unit) -> GmshPart:
    """Read one file of a split Gmsh 4.1 set (ASCII).

    Parameters
    ----------
    path : str or Path
        ``name_k.msh``, written by Gmsh with ``Mesh.PartitionSplitMeshFiles=1``.
    length_unit : str or float
        Size of one coordinate unit of the file (as for :func:`tetrasim.load_mesh`).

    Raises
    ------
    MeshFormatError
        The file is missing, not Gmsh 4.1 ASCII, not a partitioned file (no
        ``$PartitionedEntities``), holds no tetrahedra or holds the tets of several partitions.
    """
    path = Path(path)
    scale = parse_length_unit(length_unit)
    txt = _Text(path, _read_text(path))
    if not txt.lines or txt.lines[0].strip() != "$MeshFormat":
        raise MeshFormatError(f"{path}, line 1: not a Gmsh file (no $MeshFormat header)")
    head = txt.line(1, "the format line").split()
    if len(head) < 2 or head[0] not in ("4.1", "4.10") or head[1] != "0":
        raise txt.fail(
            1, "a split mesh set must be Gmsh 4.1 ASCII", "Save with Mesh.MshFileVersion=4.1, Mesh.Binary=0"
        )
    found = _partitioned_entities(txt)
    if found is None:
        raise MeshFormatError(
            f"{path}: not a partitioned Gmsh file (no $PartitionedEntities section); split the mesh "
            "with gmsh.model.mesh.partition(n) and the option Mesh.PartitionSplitMeshFiles=1, or load "
            "an unsplit file with ts.load_mesh"
        )
    n_partitions, ghosts, entities = found
    names = _gmsh_physical_names(txt)
    node_tags, nodes, _lines, row = _gmsh41_nodes(txt)
    own = {}  # element type -> blocks of this file's own partition
    partitions = set()
    for dim, tag, etype, ids, conn in _gmsh41_elements(txt, row):
        entity_partitions, _physicals = entities.get((dim, tag), ([], []))
        if tag in ghosts or len(entity_partitions) != 1:
            continue  # ghost cells, partition interfaces
        if etype == 4:
            partitions.add(entity_partitions[0])
        own.setdefault(etype, []).append((dim, tag, ids, conn))
    if not own.get(4):
        raise txt.fail(-1, "the file contains no tetrahedra of its partition (element type 4)")
    if len(partitions) != 1:
        raise MeshFormatError(f"{path}: holds the tets of partitions {sorted(partitions)}; expected one")

    def gather(etype, width):
        blocks = own.get(etype, [])
        tags = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0, np.int64)
        conn = np.concatenate([b[3] for b in blocks]) if blocks else np.zeros((0, width), np.int64)
        groups: dict[str, list] = {}
        start = 0
        for dim, tag, ids, _ in blocks:
            for p in entities[(dim, tag)][1]:
                groups.setdefault(_group_name(names, dim, p), []).append(start + np.arange(len(ids)))
            start += len(ids)
        _relabel(path, node_tags, conn, tags, "tetrahedron" if etype == 4 else "triangle")  # nodes defined
        return tags, conn, {k: np.concatenate(v) for k, v in groups.items()}

    tet_tags, tet_nodes, tet_groups = gather(4, 4)
    order = np.argsort(tet_tags, kind="stable")  # increasing tags, as the serial reader numbers tets
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(len(order))
    tri_tags, tri_nodes, tri_groups = gather(2, 3)
    return GmshPart(
        path=path,
        partition=int(partitions.pop()),
        n_partitions=int(n_partitions),
        node_tags=node_tags,
        nodes=nodes * scale,
        tet_tags=tet_tags[order],
        tet_nodes=tet_nodes[order],
        tri_tags=tri_tags,
        tri_nodes=tri_nodes,
        tet_groups={k: np.sort(rank_of[v]) for k, v in tet_groups.items()},
        tri_groups=tri_groups,
    )
