"""A pre-split Gmsh 4.1 set under MPI: each rank reads only its own file.

``ts.load_split_mesh("box.msh", "um")`` on rank ``r`` of ``n`` reads ``box_<r+1>.msh`` (the
files ``gmsh.model.mesh.partition(n)`` writes with ``Mesh.PartitionSplitMeshFiles=1``) and
returns a :class:`PartMesh`: that file's tets plus ``halo`` layers of the neighbours' tets,
found by an MPI exchange keyed by the global node tags. No rank ever holds the whole mesh.

How the halo is found (every step is a ``comm.alltoall`` of arrays sized by the part, not by
the mesh):

1. The global id of a tet is the position of its element tag among all tet tags (what the
   serial reader of the unsplit file gives): :func:`global_positions`, a bucket sort over ranks.
2. A *directory* spread over the ranks by node tag (node ``t`` lives on rank ``t % n``) lists,
   for each node, the tets that use it and the rank whose file holds them; a second one, keyed
   by a triangle's smallest node tag, holds the file triangles (patches come from them).
3. Layer ``k`` is every tet that shares a node with layer ``k-1`` (layer 0: the file's tets):
   each rank asks the directory for the stars of its newest nodes, then asks the files' ranks
   for the tets' records (node tags, coordinates, physical groups).

The part mesh numbers its tets in increasing global id and its vertices in increasing node
tag, so every order the compiler derives from it (faces, neighbours, patch triangles) is the
order of the unsplit mesh restricted to the part. Tets in layers ``0..halo-1`` are *interior*:
all their neighbours are present, so what the compiler computes for them is exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GeometryError, MeshFormatError
from ..geometry.gmsh_parts import read_gmsh_part, split_file_name
from ..geometry.mesh import TetMesh
from .mpi import MPIBackend, import_mpi

__all__ = ["PartMesh", "load_split_mesh", "global_positions"]


class PartMesh(TetMesh):
    """One rank's part of a split mesh: its file's tets plus ``halo`` layers of neighbours.

    Local ids (``0..n_tets-1``) index this part; ``global_tets[i]`` is the serial id of local
    tet ``i`` (its position among the unsplit mesh's tets), increasing. Build compartments and
    patches on it as on a whole mesh, from groups (``mesh.group(name)``, ``mesh.tri_group(name)``)
    or per-tet predicates (barycentres); a group with no tet in this part is empty here.
    ``tet_layer``, ``tet_partition``, ``vertex_tags`` and ``face_tags`` (the element tag of faces
    that are file triangles, else -1) tie the part to the files.
    """

    is_part = True

    def _finish_part(
        self, global_tets, layer, partition, vertex_tags, halo, n_parts, n_global, names, tri_names
    ):
        self.global_tets = global_tets
        self.tet_layer = layer  # 0: this rank's file; k: k node-sharing steps away
        self.tet_partition = partition  # the rank whose file holds each tet
        self.vertex_tags = vertex_tags
        self.halo = int(halo)
        self.n_parts = int(n_parts)
        self.n_global_tets = int(n_global)
        self._all_groups = tuple(names)
        self._all_tri_groups = tuple(tri_names)
        for arr in (global_tets, layer, partition, vertex_tags):
            arr.setflags(write=False)

    @property
    def interior(self) -> np.ndarray:
        """Mask of local tets whose every neighbour is in the part (layers below ``halo``)."""
        return self.tet_layer < self.halo

    def group(self, name: str) -> np.ndarray:
        if name not in self.groups and name in self._all_groups:
            return np.zeros(0, np.int64)  # the group has no tet in this part
        return super().group(name)

    def tri_group(self, name: str) -> np.ndarray:
        if name not in self.tri_groups and name in self._all_tri_groups:
            return np.zeros(0, np.int64)
        return super().tri_group(name)

    def __repr__(self) -> str:
        own = int((self.tet_layer == 0).sum())
        return (
            f"PartMesh({own} own tets + {self.n_tets - own} halo tets of {self.n_global_tets}, "
            f"groups={list(self._all_groups)}, source={self.source!r})"
        )


# ---------------------------------------------------------------- distributed helpers
def _rows(keys: np.ndarray) -> np.ndarray:
    """Rows of an int64 matrix as one comparable value each (lexicographic order)."""
    keys = np.ascontiguousarray(keys, np.int64)
    return keys.view(np.dtype([(f"c{i}", np.int64) for i in range(keys.shape[1])])).ravel()


def _comparable(comm, keys: np.ndarray) -> np.ndarray | None:
    """One sortable value per row, lexicographic: rows packed into one int64 when the values fit
    (fast sorts), else a structured view. None when no rank has a row."""
    mpi = import_mpi()
    lo = comm.allreduce(int(keys.min()) if keys.size else np.iinfo(np.int64).max, op=mpi.MIN)
    hi = comm.allreduce(int(keys.max()) if keys.size else np.iinfo(np.int64).min, op=mpi.MAX)
    if lo > hi:
        return None
    bits = max((hi - lo).bit_length(), 1)
    if bits * keys.shape[1] > 62:
        return _rows(keys)
    packed = np.zeros(len(keys), np.int64)
    for column in keys.T:
        packed = (packed << bits) | (column - lo)
    return packed


def global_positions(comm, keys) -> tuple[np.ndarray, int]:
    """Position of each row of ``keys`` among the distinct rows held by all ranks, and their count.

    Rows may repeat within and across ranks. A sample sort: splitters drawn from every rank's
    sorted keys cut the key range into one bucket per rank, rows go to their bucket's rank,
    which sorts them, and an exclusive scan of the bucket sizes gives the offsets. Memory per
    rank is the size of its own keys and bucket.
    """
    keys = np.asarray(keys, np.int64)
    keys = keys[:, None] if keys.ndim == 1 else keys  # one column per component of a key
    size = comm.Get_size()
    values = _comparable(comm, keys)
    if values is None:  # no keys anywhere
        return np.zeros(0, np.int64), 0
    ordered = np.sort(values)
    sample = ordered[np.linspace(0, len(ordered) - 1, min(len(ordered), 64)).astype(np.int64)]
    pooled = np.sort(np.concatenate(comm.allgather(sample)))
    splitters = pooled[(np.arange(1, size) * len(pooled)) // size]
    bucket = np.searchsorted(splitters, values, side="right")  # equal keys share a bucket
    incoming = comm.alltoall([values[bucket == q] for q in range(size)])
    distinct = np.unique(np.concatenate(incoming))
    offset = comm.exscan(len(distinct)) or 0  # None on rank 0
    total = comm.allreduce(len(distinct))
    back = comm.alltoall([offset + np.searchsorted(distinct, rows) for rows in incoming])
    positions = np.empty(len(keys), np.int64)
    for q in range(size):
        positions[bucket == q] = back[q]
    return positions, int(total)


def _scatter_by(rank_of: np.ndarray, size: int, *arrays) -> list:
    """Per destination rank, the rows of ``arrays`` whose ``rank_of`` is that rank."""
    return [tuple(a[rank_of == q] for a in arrays) for q in range(size)]


# ---------------------------------------------------------------- reading
def _open_part(path: Path, length_unit, rank: int, size: int):
    """This rank's file of the set, checked against the number of ranks."""
    mine = split_file_name(path, rank + 1)
    if not mine.exists():
        if path.exists() and not split_file_name(path, 1).exists():
            raise MeshFormatError(
                f"{path} is not split: no {split_file_name(path, 1).name}; split it with "
                "gmsh.model.mesh.partition(n) and Mesh.PartitionSplitMeshFiles=1, or load the whole "
                "file with ts.load_mesh (rank 0 then partitions it)"
            )
        raise MeshFormatError(
            f"{mine}: no such file, so this split set has fewer parts than the {size} ranks of this run; "
            f"run with mpiexec -n <number of files {path.stem}_*{path.suffix}>"
        )
    part = read_gmsh_part(mine, length_unit)
    if part.n_partitions != size:
        raise MeshFormatError(
            f"{mine}: the set is split into {part.n_partitions} parts but this run has {size} "
            f"rank{'s' if size != 1 else ''}; "
            f"run with mpiexec -n {part.n_partitions} (one rank per file), or split the mesh again "
            f"into {size} parts"
        )
    if part.partition != rank + 1:
        raise MeshFormatError(
            f"{mine}: holds partition {part.partition}, expected {rank + 1} (were the files renamed?)"
        )
    return part


def _union_names(comm, names) -> list[str]:
    return sorted(set().union(*comm.allgather(sorted(names))))


def _membership(groups: dict, names: list[str], n: int) -> np.ndarray:
    member = np.zeros((n, max(len(names), 1)), dtype=bool)
    for k, name in enumerate(names):
        if name in groups:
            member[groups[name], k] = True
    return member


def load_split_mesh(path, length_unit, *, halo: int = 3, comm=None) -> PartMesh:
    """This rank's part of a pre-split Gmsh 4.1 set (collective: call it on every rank).

    Parameters
    ----------
    path : str or Path
        The set's name as Gmsh was asked to write it: ``"box.msh"`` means the files
        ``box_1.msh … box_n.msh``; rank ``r`` reads ``box_<r+1>.msh`` only.
    length_unit : str or float
        Size of one coordinate unit of the files, e.g. ``"um"``.
    halo : int
        Layers of neighbouring tets (node-sharing steps) kept around the file's tets, >= 2. The
        simulation checks that its owned elements, their reaction clusters and their diffusion
        targets lie inside; if not it says to raise ``halo``.
    comm : mpi4py communicator, optional
        ``MPI.COMM_WORLD`` by default; its size must equal the number of files.

    Raises
    ------
    MeshFormatError
        On every rank, when a rank's file is missing, the number of files differs from the
        number of ranks, or a file is not a partitioned Gmsh 4.1 ASCII file.
    """
    backend = MPIBackend(comm)
    comm, rank, size = backend.comm, backend.rank, backend.size
    path = Path(path)
    with backend.collective():
        if int(halo) != halo or halo < 2:
            raise GeometryError(f"halo must be an integer >= 2, got {halo!r}")
        part = _open_part(path, length_unit, rank, size)
    halo = int(halo)
    names = _union_names(comm, part.tet_groups)
    tri_names = _union_names(comm, part.tri_groups)
    gid, n_global = global_positions(comm, part.tet_tags)  # tags are increasing: so are the ids
    node_row = np.searchsorted(np.sort(part.node_tags), part.tet_nodes)
    coords = part.nodes[np.argsort(part.node_tags, kind="stable")][node_row]  # (m, 4, 3)
    member = _membership(part.tet_groups, names, len(gid))

    # the node directory: node tag -> (tet id, file rank); the triangle directory: by smallest node
    flat = part.tet_nodes.ravel()
    incoming = comm.alltoall(_scatter_by(flat % size, size, flat, np.repeat(gid, 4)))
    star_node = np.concatenate([pieces[0] for pieces in incoming])
    star_tet = np.concatenate([pieces[1] for pieces in incoming])
    star_rank = np.concatenate([np.full(len(p[0]), q, np.int64) for q, p in enumerate(incoming)])
    order = np.argsort(star_node, kind="stable")
    star_node, star_tet, star_rank = star_node[order], star_tet[order], star_rank[order]
    tri_member = _membership(part.tri_groups, tri_names, len(part.tri_tags))
    smallest = part.tri_nodes.min(axis=1) if len(part.tri_tags) else np.zeros(0, np.int64)
    incoming = comm.alltoall(
        _scatter_by(smallest % size, size, smallest, part.tri_tags, part.tri_nodes, tri_member)
    )
    tri_dir = [np.concatenate([p[k] for p in incoming]) for k in range(4)]

    def ask_directory(nodes, answer):
        requests = comm.alltoall([nodes[nodes % size == q] for q in range(size)])
        return comm.alltoall([answer(np.asarray(r, np.int64)) for r in requests])

    def stars(request):
        lo, hi = np.searchsorted(star_node, request), np.searchsorted(star_node, request, side="right")
        count = hi - lo  # the entries of each requested node are star_*[lo:hi]
        take = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        return star_tet[take], star_rank[take]

    def records(request):
        at = np.searchsorted(gid, request)
        return request, part.tet_tags[at], part.tet_nodes[at], coords[at], member[at]

    file_tets = (gid, part.tet_tags, part.tet_nodes, coords, member)
    held = [file_tets + (np.full(len(gid), rank), np.zeros(len(gid), np.int64))]
    known = gid
    newest = queried = np.unique(part.tet_nodes)
    for layer in range(1, halo + 1):
        found = ask_directory(newest, stars)
        tets = np.concatenate([f[0] for f in found])
        owners = np.concatenate([f[1] for f in found])
        tets, first = np.unique(tets, return_index=True)
        owners = owners[first]
        fresh = ~np.isin(tets, known)
        tets, owners = tets[fresh], owners[fresh]
        requests = comm.alltoall([tets[owners == q] for q in range(size)])
        replies = comm.alltoall([records(np.asarray(r, np.int64)) for r in requests])
        for q, reply in enumerate(replies):
            held.append(reply + (np.full(len(reply[0]), q), np.full(len(reply[0]), layer)))
        known = np.concatenate([known, tets])
        newest = np.setdiff1d(np.concatenate([r[2].ravel() for r in replies]), queried)
        queried = np.union1d(queried, newest)
    global_tets, tags, tet_nodes, tet_coords, tet_member, partition, layer = (
        np.concatenate([h[k] for h in held]) for k in range(7)
    )
    order = np.argsort(global_tets, kind="stable")
    global_tets, tags, tet_nodes, tet_coords, tet_member, partition, layer = (
        a[order] for a in (global_tets, tags, tet_nodes, tet_coords, tet_member, partition, layer)
    )
    vertex_tags, local = np.unique(tet_nodes, return_inverse=True)
    local = local.reshape(-1, 4)
    vertices = np.empty((len(vertex_tags), 3))
    vertices[local.ravel()] = tet_coords.reshape(-1, 3)
    groups = {name: np.flatnonzero(tet_member[:, k]) for k, name in enumerate(names)}
    groups = {name: rows for name, rows in groups.items() if len(rows)}
    source = f"{path} (part {rank + 1} of {size})"
    with backend.collective():  # a geometric error in one part stops every rank with its message
        mesh = PartMesh(vertices, local, groups=groups, source=source, element_ids=tags,
                        input_unit=length_unit)
        mesh._finish_part(global_tets, layer, partition, vertex_tags, halo, size, n_global, names, tri_names)

    # patch triangles: file triangles whose three nodes are in the part and that touch an interior tet
    found = ask_directory(vertex_tags, lambda r: tuple(a[np.isin(tri_dir[0], r)] for a in tri_dir[1:]))
    tri_tags = np.concatenate([f[0] for f in found])
    tri_nodes = np.concatenate([f[1] for f in found])  # (k, 3)
    tri_member = np.concatenate([f[2] for f in found])  # (k, number of triangle groups)
    tri_tags, first = np.unique(tri_tags, return_index=True)
    tri_nodes, tri_member = tri_nodes[first], tri_member[first]
    inside = np.isin(tri_nodes, vertex_tags).all(axis=1)
    faces = _face_ids(mesh, np.searchsorted(vertex_tags, tri_nodes[inside]))
    sides = mesh.face_tets[np.maximum(faces, 0)]
    touches = (faces >= 0) & ((sides >= 0) & mesh.interior[np.maximum(sides, 0)]).any(axis=1)
    tags = tri_tags[inside]
    mesh.face_tags = np.full(mesh.n_tris, -1, np.int64)  # element tag of the faces that are file triangles
    mesh.face_tags[faces[touches]] = tags[touches]
    for k, name in enumerate(tri_names):
        chosen = touches & tri_member[inside][:, k]
        chosen = faces[chosen][np.argsort(tags[chosen])]  # file order (increasing tag), as serially
        chosen.setflags(write=False)
        if len(chosen):
            mesh.tri_groups[name] = chosen
    return mesh


def _face_ids(mesh: TetMesh, triples: np.ndarray) -> np.ndarray:
    """Face id of each vertex triple (-1 where it is not a face of the part)."""
    if not len(triples):
        return np.zeros(0, np.int64)
    faces = _rows(np.sort(mesh.tris, axis=1))
    order = np.argsort(faces)
    wanted = _rows(np.sort(triples, axis=1))
    at = np.minimum(np.searchsorted(faces[order], wanted), len(order) - 1)
    return np.where(faces[order][at] == wanted, order[at], -1)


