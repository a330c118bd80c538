"""Partition a compiled mesh system over ranks and cut it into per-rank local systems.

Runs on rank 0 only, once, during set-up (``Simulation(..., backend="mpi")``):

1. :func:`partition_elements` gives every element (tet or patch triangle) an owner rank. The
   unit of ownership is a *reaction cluster* — elements coupled by a reaction (a membrane
   triangle with the tets on either side when a surface reaction reads both) — because the
   reaction operator runs the exact SSA of a cluster as one process. Clusters are the vertices
   of a graph whose edges are the diffusion couplings (and triangle–tet contact), weighted by
   the expected work (reaction and diffusion processes per cluster), cut by METIS (pymetis);
   or a user array of one rank per tet.
2. :func:`local_systems` cuts the global :class:`~tetrasim.compile.CompiledSystem` into one
   :class:`~tetrasim.compile.CompiledSystem` per rank, with local element ids: the owned
   elements in increasing global id, then one ghost layer (elements the owned diffusion moves
   molecules into). It also returns the exchange plan (which ghost pools go to which rank, and
   where the receiver adds them), sized once.

No array over all elements survives set-up: rank 0 drops the global system after scattering.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..compile.compiler import CompiledSystem
from ..compile.discretization import Discretization
from ..errors import CapabilityError, SimulationError

__all__ = ["partition_elements", "local_systems", "cut_part", "reaction_components", "send_plan",
           "receive_pools"]


def reaction_components(compiled) -> np.ndarray:
    """Label of each element's reaction cluster (elements coupled by a reaction share a label)."""
    c = compiled
    n = c.n_elements
    n_species = c.n_species
    rows = np.concatenate(
        [
            np.repeat(np.arange(c.n_reactions), np.diff(c.rx_reac_ptr)),
            np.repeat(np.arange(c.n_reactions), np.diff(c.rx_upd_ptr)),
        ]
    )
    pools = np.concatenate([c.rx_reac_pool, c.rx_upd_pool]).astype(np.int64)
    a = np.asarray(c.rx_element, np.int64)[rows] if len(rows) else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, pools // n_species)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return label.astype(np.int64)


def _element_work(compiled) -> np.ndarray:
    """Expected work per element: its reaction processes plus its diffusion targets, plus one."""
    c = compiled
    work = np.ones(c.n_elements, np.int64)
    np.add.at(work, np.asarray(c.rx_element, np.int64), 1)
    if c.n_diffusions:
        source = np.asarray(c.df_pool, np.int64) // c.n_species
        np.add.at(work, source, np.diff(c.df_ptr))
    return work


def _coupling_edges(compiled) -> tuple[np.ndarray, np.ndarray]:
    """Element pairs coupled by diffusion, or by a patch triangle touching a tet."""
    c = compiled
    n_species = c.n_species
    source = np.repeat(np.asarray(c.df_pool, np.int64) // n_species, np.diff(c.df_ptr))
    dest = np.asarray(c.df_dest, np.int64) // n_species
    a, b = [source], [dest]
    disc = c.discretization
    for side in (disc.surface_inner, disc.surface_outer):
        if side is not None and len(side):
            tri = np.arange(c.n_volume, c.n_elements, dtype=np.int64)
            keep = np.asarray(side) >= 0
            a.append(tri[keep])
            b.append(np.asarray(side, np.int64)[keep])
    return np.concatenate(a), np.concatenate(b)


def partition_elements(compiled, n_parts: int, partition=None) -> np.ndarray:
    """Owner rank of every element, keeping each reaction cluster on one rank.

    Parameters
    ----------
    compiled : CompiledSystem
        The global system (mesh geometry).
    n_parts : int
        Number of ranks.
    partition : array of int, optional
        One rank per tet (``mesh.n_tets`` values in 0..n_parts-1). Patch triangles follow their
        inner tet; a cluster split by the array goes to the owner of its smallest element.
        ``None``: METIS on the cluster graph weighted by expected work.
    """
    c = compiled
    n = c.n_elements
    label = reaction_components(c)
    n_labels = int(label.max()) + 1 if n else 0
    if partition is not None:
        tet_owner = np.asarray(partition)
        if (
            tet_owner.ndim != 1
            or tet_owner.shape[0] != c.n_volume
            or not np.issubdtype(tet_owner.dtype, np.integer)
        ):
            raise SimulationError(
                f"partition= needs one integer rank per tet ({c.n_volume} values), got an array "
                f"of shape {tet_owner.shape} and type {tet_owner.dtype}"
            )
        if tet_owner.size and (tet_owner.min() < 0 or tet_owner.max() >= n_parts):
            raise SimulationError(
                f"partition= ranks must lie in 0..{n_parts - 1} (this run has {n_parts} ranks)"
            )
        owner = np.empty(n, np.int64)
        owner[: c.n_volume] = tet_owner
        inner = np.asarray(c.discretization.surface_inner, np.int64)
        owner[c.n_volume :] = tet_owner[inner] if len(inner) else 0
        first = np.full(n_labels, n, np.int64)  # the smallest element of each cluster decides
        np.minimum.at(first, label, np.arange(n))
        return owner[first[label]]
    if n_parts == 1:
        return np.zeros(n, np.int64)
    try:
        import pymetis
    except ImportError:
        raise CapabilityError(
            "partitioning a mesh over ranks needs pymetis: pip install 'tetrasim[mpi]' "
            "(or pass partition= with one rank per tet)"
        ) from None
    a, b = _coupling_edges(c)
    la, lb = label[a], label[b]
    keep = la != lb
    graph = coo_matrix((np.ones(int(keep.sum()), np.int32), (la[keep], lb[keep])), shape=(n_labels, n_labels))
    graph = (graph + graph.T).tocsr()
    graph.sum_duplicates()
    graph.sort_indices()
    weight = np.zeros(n_labels, np.int64)
    np.add.at(weight, label, _element_work(c))
    if n_labels <= n_parts:  # fewer clusters than ranks: one cluster each
        return label % n_parts
    starts, adjacent = graph.indptr.astype(np.int64), graph.indices.astype(np.int64)
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis >= 2025
        _cuts, membership = pymetis.part_graph(
            n_parts, pymetis.CSRAdjacency(starts, adjacent), vweights=weight
        )
    else:
        _cuts, membership = pymetis.part_graph(n_parts, xadj=starts, adjncy=adjacent, vweights=weight)
    return np.asarray(membership, np.int64)[label]


def _local_csr(selected, ptr, values, *more):
    """Rows ``selected`` of a CSR structure (ptr, values, *more) as a new CSR."""
    ptr = np.asarray(ptr, np.int64)
    lengths = ptr[selected + 1] - ptr[selected]
    new_ptr = np.zeros(len(selected) + 1, np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    index = np.repeat(ptr[selected] - new_ptr[:-1], lengths) + np.arange(new_ptr[-1])
    return (new_ptr, np.asarray(values)[index]) + tuple(np.asarray(m)[index] for m in more)


def _local_extra(extra: dict, targets: np.ndarray) -> dict:
    """The compiled system's per-target tables (diffusion boundaries) for a rank's targets."""
    local = dict(extra)
    for key in ("df_boundary", "df_closed"):
        if key in local and local[key] is not None:
            local[key] = np.ascontiguousarray(np.asarray(local[key])[targets])
    return local


def cut_part(compiled, owner: np.ndarray, rank: int, local_of: np.ndarray | None = None) -> dict:
    """The local system of one rank (see :func:`local_systems`), without the exchange plan.

    ``owner`` gives every element of ``compiled`` a rank (any value other than ``rank`` for
    elements this rank neither owns nor sees). ``local_of`` is scratch (``n_elements`` values of
    -1, left so), passed to reuse it over ranks.
    """
    c = compiled
    n_species = c.n_species
    if local_of is None:
        local_of = np.full(c.n_elements, -1, np.int64)
    df_source = np.asarray(c.df_pool, np.int64) // n_species
    rx_element = np.asarray(c.rx_element, np.int64)
    df_dest = np.asarray(c.df_dest, np.int64)
    owned = np.flatnonzero(owner == rank)
    diffusions = np.flatnonzero(owner[df_source] == rank)
    target = np.arange(len(df_dest))
    df_ptr, dest_pool, df_geom, targets = _local_csr(diffusions, c.df_ptr, df_dest, c.df_geom, target)
    dest_element = dest_pool // n_species
    ghosts = np.unique(dest_element[owner[dest_element] != rank])
    elements = np.concatenate([owned, ghosts])
    local_of[elements] = np.arange(len(elements))

    def to_local(pool, _local=local_of):
        pool = np.asarray(pool, np.int64)
        return _local[pool // n_species] * n_species + pool % n_species

    reactions = np.flatnonzero(owner[rx_element] == rank)
    reac_ptr, reac_pool, reac_count = _local_csr(reactions, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count)
    upd_ptr, upd_pool, upd_delta = _local_csr(reactions, c.rx_upd_ptr, c.rx_upd_pool, c.rx_upd_delta)
    if len(reac_pool) and (owner[np.asarray(reac_pool, np.int64) // n_species] != rank).any():
        raise SimulationError("internal: a reaction reads a pool of another rank")  # clusters stay whole
    n_owned_volume = int(np.count_nonzero(owned < c.n_volume))
    measure = c.measure[elements]
    disc = Discretization(
        n_volume=n_owned_volume,
        n_surface=len(elements) - n_owned_volume,
        measure=measure,
        compartment_elements={},
        compartment_systems={},
        patch_elements={},
        patch_systems={},
        patch_inner={},
        patch_outer={},
        surface_inner=np.zeros(0, np.int64),
        surface_outer=np.zeros(0, np.int64),
        element_kind="tet",
    )
    pool_dtype = np.int32 if len(elements) * n_species < 2**31 else np.int64
    system = CompiledSystem(
        species_names=c.species_names,
        n_volume=n_owned_volume,
        n_surface=len(elements) - n_owned_volume,
        measure=measure,
        present=c.present[elements],
        compartment_elements={},
        patch_elements={},
        discretization=disc,
        reaction_rules=c.reaction_rules,
        rx_rule=np.asarray(c.rx_rule)[reactions],
        rx_element=local_of[rx_element[reactions]].astype(pool_dtype),
        rx_scale=c.rx_scale[reactions],
        rx_reac_ptr=reac_ptr,
        rx_reac_pool=to_local(reac_pool).astype(pool_dtype),
        rx_reac_count=reac_count,
        rx_upd_ptr=upd_ptr,
        rx_upd_pool=to_local(upd_pool).astype(pool_dtype),
        rx_upd_delta=upd_delta,
        diffusion_rules=c.diffusion_rules,
        df_rule=np.asarray(c.df_rule)[diffusions],
        df_pool=to_local(c.df_pool[diffusions]).astype(pool_dtype),
        df_ptr=df_ptr,
        df_dest=to_local(dest_pool).astype(pool_dtype),
        df_geom=df_geom,
        model_hash=c.model_hash,
        extra=_local_extra(c.extra, targets),
    )
    local_of[elements] = -1
    return {
        "system": system,
        "global_elements": elements,
        "n_owned": len(owned),
        "ghost_owner": owner[ghosts],
        "send": {},
        "receive": {},
    }


def send_plan(part: dict, n_species: int) -> dict:
    """``{rank q: local pools}`` of a part's ghosts owned by q (increasing global id, all species)."""
    n_owned = part["n_owned"]
    species = np.arange(n_species)
    plan = {}
    for q in np.unique(part["ghost_owner"]):
        mine = np.flatnonzero(part["ghost_owner"] == q) + n_owned
        plan[int(q)] = (mine[:, None] * n_species + species).ravel()
    return plan


def receive_pools(owned: np.ndarray, ghosts: np.ndarray, n_species: int) -> np.ndarray:
    """Local pools, on the owner, of another rank's ghosts (``owned``: the owner's global ids)."""
    position = np.searchsorted(owned, ghosts)
    return (position[:, None] * n_species + np.arange(n_species)).ravel()


def local_systems(compiled, owner: np.ndarray, n_parts: int) -> list[dict]:
    """Cut ``compiled`` into one local system per rank (see the module docstring).

    Returns one dict per rank: ``system`` (a local CompiledSystem), ``global_elements`` (local
    -> global element id, owned first then ghosts), ``n_owned``, and ``send`` / ``receive``:
    ``{rank: local pool ids}`` — after each diffusion step a rank sends the counts of its ghost
    pools ``send[q]`` to rank ``q``, which adds them to its pools ``receive[r]`` (same order).
    """
    c = compiled
    local_of = np.full(c.n_elements, -1, np.int64)  # reused for each rank (rank 0 set-up only)
    parts = [cut_part(c, owner, rank, local_of) for rank in range(n_parts)]
    # the exchange plan: rank r's ghosts owned by q, in increasing global id, all species
    for rank, part in enumerate(parts):
        part["send"] = send_plan(part, c.n_species)
        for q, pools in part["send"].items():
            ghosts = part["global_elements"][pools[:: c.n_species] // c.n_species]
            theirs = parts[q]["global_elements"][: parts[q]["n_owned"]]
            parts[q]["receive"][rank] = receive_pools(theirs, ghosts, c.n_species)
    return parts
