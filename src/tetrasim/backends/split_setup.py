"""Set-up of an MPI simulation on a pre-split mesh: every rank compiles and cuts its own part.

With a whole mesh, rank 0 compiles the model on it, partitions it and scatters the local
systems (:mod:`tetrasim.backends.partition`). With a :class:`~tetrasim.backends.split_mesh.PartMesh`
(``ts.load_split_mesh``) no rank has the whole mesh, so each rank

1. compiles the model on its part (its file's tets and the halo) — the processes of interior
   elements are exactly those of the whole mesh, because the part keeps the whole mesh's orders;
2. gives its local elements their serial ids: tets from the part, patch triangles by ranking
   over all ranks their sorted node tags (the serial reader sorts triangles given as ids by
   face, which is that order when the unsplit file lists its nodes by increasing tag, as Gmsh
   writes them) or, for a patch given by a group's name, their element tags (the file's order);
3. gives every element the owner that ``partition=`` with the file set's partition would give
   (a tet: the rank of its file; a patch triangle: the owner of its inner tet; a reaction
   cluster: the owner of its smallest element), and cuts the same local system as
   :func:`~tetrasim.backends.partition.cut_part` does from the global one;
4. agrees the exchange plan with its neighbours and numbers its owned elements within each
   compartment and patch (their positions in serial order), by MPI exchanges.

Every check raises the same typed error on every rank; a check that needs more halo says so.
"""

from __future__ import annotations

import numpy as np

from ..errors import CapabilityError, GeometryError, InternalError, SimulationError
from .partition import cut_part, reaction_components, receive_pools, send_plan
from .split_mesh import global_positions

__all__ = ["split_layout"]


def _check_geometry(geometry, backend) -> None:
    mesh = geometry.mesh
    if mesh.n_parts != backend.size:
        raise SimulationError(
            f"the mesh was loaded as {mesh.n_parts} parts but the simulation runs on {backend.size} ranks"
        )
    if getattr(geometry, "membranes", None):
        raise CapabilityError(
            "a membrane potential (geom.membrane) on a pre-split mesh is not supported; load the "
            "unsplit file with ts.load_mesh"
        )
    names = (tuple(geometry.compartments), tuple(geometry.patches), tuple(geometry.diffusion_boundaries),
             tuple(geometry.surface_diffusion_boundaries), tuple(geometry.rois))
    every = backend.comm.allgather(names)
    if any(other != names for other in every):
        raise GeometryError(
            "the ranks defined different compartments, patches or boundaries on their parts "
            f"({every}); run the same script on every rank and define every region on every part"
        )


def _tri_keys(mesh, tris, group) -> np.ndarray:
    """What orders triangles serially: the sorted node tags of a face (triangles given as ids,
    which the serial reader sorts by face), or the element tag (given as a group's name, which
    the serial reader keeps in the file's order)."""
    if group is not None:
        return mesh.face_tags[tris]
    return np.sort(mesh.vertex_tags[mesh.tris[tris]], axis=1)


def _serial_face_ids(mesh, backend) -> np.ndarray:
    """The whole mesh's face id (``mesh.tris`` row of the serial reader) of each face of the part
    that touches an interior tet (-1 elsewhere): faces are numbered by their sorted vertices, which
    is their sorted node tags when the unsplit file lists its nodes by increasing tag."""
    sides = mesh.face_tets
    trusted = ((sides >= 0) & mesh.interior[np.maximum(sides, 0)]).any(axis=1)
    ids = np.full(mesh.n_tris, -1, np.int64)
    ids[trusted], _ = global_positions(backend.comm, np.sort(mesh.vertex_tags[mesh.tris[trusted]], axis=1))
    return ids


def _patch_ids(geometry, compiled, backend, gid) -> dict:
    """Serial ids of the local patch triangles (in ``gid``); per patch its first id and size."""
    mesh = geometry.mesh
    disc = compiled.discretization
    start, spans = mesh.n_global_tets, {}
    for name, patch in geometry.patches.items():
        tris = np.asarray(patch.tris, np.int64)
        sides = mesh.face_tets[tris]
        trusted = ((sides >= 0) & mesh.interior[np.maximum(sides, 0)]).any(axis=1)
        positions, total = global_positions(backend.comm, _tri_keys(mesh, tris[trusted], patch.group))
        gid[disc.patch_elements[name][trusted]] = start + positions
        spans[name] = (start, total)
        start += total
    return spans


def _owners(geometry, compiled, gid, rank):
    """Owner rank of every local element (-1: its reaction cluster is not entirely in the part)."""
    mesh = geometry.mesh
    disc = compiled.discretization
    n_volume, n = compiled.n_volume, compiled.n_elements
    inner = np.asarray(disc.surface_inner, np.int64)
    outer = np.asarray(disc.surface_outer, np.int64)
    owner = np.concatenate([mesh.tet_partition, mesh.tet_partition[inner]]).astype(np.int64)
    label = reaction_components(compiled)
    n_labels = int(label.max()) + 1 if n else 0
    trusted = np.concatenate([mesh.interior, gid[n_volume:] >= 0])
    broken = np.zeros(n_labels, bool)
    broken[label[~trusted]] = True
    first = np.full(n_labels, n, np.int64)
    np.minimum.at(first, label, np.arange(n))
    cluster_owner = owner[np.minimum(first, n - 1)]
    cluster_owner[broken] = -1
    final = cluster_owner[label]
    # every cluster this rank's file anchors (a file tet, or a triangle on a file tet) must be whole here
    anchored = np.concatenate([mesh.tet_layer == 0, mesh.tet_layer[inner] == 0])
    if (anchored & broken[label]).any():
        raise CapabilityError(
            f"a reaction cluster (elements coupled by surface reactions) reaches past the halo of "
            f"{mesh.halo} layers; load the mesh with ts.load_split_mesh(..., halo={mesh.halo + 1})"
        )
    mine_tri = np.flatnonzero(final[n_volume:] == rank)
    sides = np.concatenate([inner[mine_tri], outer[mine_tri][outer[mine_tri] >= 0]])
    if (mesh.tet_layer[sides] > mesh.halo - 2).any():  # a patch triangle's edge neighbours must be whole
        raise CapabilityError(
            f"an owned patch triangle lies too close to the halo's edge ({mesh.halo} layers); load the "
            f"mesh with ts.load_split_mesh(..., halo={mesh.halo + 1})"
        )
    return final


def _roi_index(geometry, compiled, backend, gid, owner, owned_local) -> dict:
    """Per ROI of tets or triangles: (local ids of owned elements, positions in the ROI, ROI size,
    whether every triangle of the ROI is a patch triangle). Serial order: increasing tet id, or
    increasing face (sorted node tags) for triangles."""
    mesh = geometry.mesh
    rank = backend.rank
    disc = compiled.discretization
    out = {}
    for name, roi in geometry.rois.items():
        if roi.kind == "tets":
            mine = np.asarray(roi.tets, np.int64)
            mine = mine[owner[mine] == rank]
            positions, total = global_positions(backend.comm, gid[mine])
            out[name] = (np.searchsorted(owned_local, mine), positions, total, True)
        elif roi.kind == "tris":
            tris = np.asarray(roi.tris, np.int64)
            sides = mesh.face_tets[tris]
            trusted = ((sides >= 0) & mesh.interior[np.maximum(sides, 0)]).any(axis=1)
            tris = tris[trusted]
            keys = _tri_keys(mesh, tris, roi.group)
            faces = np.asarray(disc.surface_mesh_tris, np.int64)  # face of each surface element
            element = np.full(mesh.n_tris, -1, np.int64)
            element[faces] = compiled.n_volume + np.arange(len(faces))
            found = element[tris]
            mine = (found >= 0) & (owner[np.maximum(found, 0)] == rank)
            ranks, total = global_positions(backend.comm, keys)
            held = backend.comm.allreduce(int(mine.sum()))
            out[name] = (np.searchsorted(owned_local, found[mine]), ranks[mine], total, held == total)
    return out


def split_layout(model, geometry, backend) -> dict:
    """This rank's layout (the dict :func:`~tetrasim.backends.partition.local_systems` gives rank 0
    for every rank), computed on every rank from its part. Collective."""
    from ..compile import compile_system

    b = backend
    comm, rank, size = b.comm, b.rank, b.size
    mesh = geometry.mesh
    with b.collective():
        _check_geometry(geometry, b)
        compiled = compile_system(model, geometry)
    n_species, n_volume = compiled.n_species, compiled.n_volume
    gid = np.full(compiled.n_elements, -1, np.int64)
    gid[:n_volume] = mesh.global_tets
    spans = _patch_ids(geometry, compiled, b, gid)
    with b.collective():
        owner = _owners(geometry, compiled, gid, rank)
        part = cut_part(compiled, owner, rank)
        elements = part["global_elements"]  # local ids of the part, owned then ghosts
        ghosts = elements[part["n_owned"]:]
        if (owner[ghosts] < 0).any() or (gid[ghosts] < 0).any():
            raise CapabilityError(
                f"a diffusion target of an owned element lies past the halo of {mesh.halo} layers; load "
                f"the mesh with ts.load_split_mesh(..., halo={mesh.halo + 1})"
            )
    part["global_elements"] = gid[elements]
    part["send"] = send_plan(part, n_species)
    outgoing = [np.zeros(0, np.int64)] * size
    for q, pools in part["send"].items():
        outgoing[q] = part["global_elements"][pools[::n_species] // n_species]
    incoming = comm.alltoall(outgoing)
    owned = part["global_elements"][: part["n_owned"]]
    with b.collective():
        for r, wanted in enumerate(incoming):
            if len(wanted):
                pools = receive_pools(owned, wanted, n_species)
                at = np.minimum(pools[::n_species] // n_species, len(owned) - 1)
                if not np.array_equal(owned[at], wanted):
                    raise InternalError(f"rank {r} sends molecules to elements rank {rank} does not own")
                part["receive"][r] = pools
    # regions: each owned element's position in the serial order of its compartment or patch
    disc = compiled.discretization
    owned_local = elements[: part["n_owned"]]  # increasing
    regions = {}
    for name in geometry.compartments:
        members = np.asarray(disc.compartment_elements[name], np.int64)
        mine = members[owner[members] == rank]
        positions, total = global_positions(comm, gid[mine])
        regions[name] = (np.searchsorted(owned_local, mine), positions, total, "volume")
    for name in geometry.patches:
        members = np.asarray(disc.patch_elements[name], np.int64)
        mine = members[owner[members] == rank]
        first, total = spans[name]
        regions[name] = (np.searchsorted(owned_local, mine), gid[mine] - first, total, "surface")
    with b.collective():  # a part may miss a region, the whole mesh may not (as for a whole mesh)
        for name, (_local, _positions, total, kind) in regions.items():
            if total == 0:
                what = "compartment" if kind == "volume" else "patch"
                raise GeometryError(f"{what} {name!r}: the selection is empty in every part of the mesh")
    part["regions"] = regions
    part["rois"] = _roi_index(geometry, compiled, b, gid, owner, owned_local)
    with b.collective():
        for name, (_local, _positions, total, _complete) in part["rois"].items():
            if total == 0:
                raise GeometryError(f"ROI {name!r}: the selection is empty in every part of the mesh")
    part["region_names"] = list(geometry.compartments) + list(geometry.patches)
    part["n_volume"] = mesh.n_global_tets
    owned_surface = owned_local[owned_local >= n_volume] - n_volume
    faces = np.asarray(disc.surface_mesh_tris, np.int64)[owned_surface]
    part["owned_mesh_tris"] = _serial_face_ids(mesh, b)[faces]  # for ts.Tri(i), as on a whole mesh
    part["split"] = True
    return part
