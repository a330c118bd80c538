"""Compile a membrane into the arrays of the vertex-based EField (docs/concepts/efield.md).

Everything here is plain data (NumPy arrays and SciPy sparse CSR matrices, no solver
objects), so a distributed solver can take the same assembly and partition it:

- ``stiffness``: the linear-FEM stiffness matrix of the conducting volume times its
  conductivity 1/ρ (S), assembled vectorised from per-tet gradients of the hat functions;
- ``capacitance``: the lumped membrane capacitance per vertex, Σ Cm·A/3 over the membrane
  triangles that touch it (F);
- ``tri_vertices`` (local vertex numbers of each membrane triangle) and the maps from the
  compiled surface elements and reaction processes to membrane triangles;
- voltage-dependent rate tables, one per transition (and per GHK direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from ..errors import CompileError, GeometryError

__all__ = ["EFieldSystem", "compile_efield", "stiffness_matrix", "lumped_capacitance", "efield_presence"]


@dataclass(frozen=True, eq=False)
class EFieldSystem:
    """The membrane-potential part of a :class:`~tetrasim.CompiledSystem` (SI units)."""

    membrane: str
    vertex_ids: np.ndarray  # (n_vertices,) mesh vertex id of each EField vertex
    stiffness: scipy.sparse.csr_matrix  # (n_vertices, n_vertices) S
    capacitance: np.ndarray  # (n_vertices,) F, lumped
    tri_ids: np.ndarray  # (n_tris,) mesh triangle ids of the membrane
    tri_vertices: np.ndarray  # (n_tris, 3) local vertex numbers
    tri_areas: np.ndarray  # (n_tris,) m^2
    tri_capacitance: np.ndarray  # (n_tris,) F/m^2
    tri_to_vertex: scipy.sparse.csr_matrix  # (n_vertices, n_tris), 1/3 per corner: spreads tri currents
    tri_element: np.ndarray  # (n_tris,) compiled surface element of each membrane tri, -1 none
    # voltage-dependent processes
    vdep_names: tuple[str, ...]  # one per table (transition name)
    vdep_low: np.ndarray  # (n_tables,) V
    vdep_step: np.ndarray  # (n_tables,) V
    vdep_size: np.ndarray  # (n_tables,) entries
    vdep_offset: np.ndarray  # (n_tables + 1,) into vdep_values
    vdep_values: np.ndarray  # concatenated tables of macroscopic rate constants
    vdep_process: np.ndarray  # (n_vdep_processes,) reaction process ids
    vdep_table: np.ndarray  # (n_vdep_processes,) table of each process
    vdep_tri: np.ndarray  # (n_vdep_processes,) membrane tri of each process
    # currents (per membrane tri)
    current_names: tuple[str, ...]
    current_kind: tuple[str, ...]  # "ohmic" | "ghk"
    ohmic_pool: np.ndarray  # (n_ohmic, n_tris) pool of the open state (-1 where absent)
    ohmic_conductance: np.ndarray  # (n_ohmic,) S per channel
    ohmic_reversal: np.ndarray  # (n_ohmic,) V
    ghk_in_pool: np.ndarray  # (n_ghk, n_tris) influx counter pool (-1 absent)
    ghk_out_pool: np.ndarray  # (n_ghk, n_tris)
    ghk_charge: np.ndarray  # (n_ghk,) z·e (C) carried outward by one efflux event

    @property
    def n_vertices(self) -> int:
        return len(self.vertex_ids)

    @property
    def n_tris(self) -> int:
        return len(self.tri_ids)


def stiffness_matrix(vertices: np.ndarray, tets: np.ndarray, conductivity) -> scipy.sparse.csr_matrix:
    """Linear-FEM stiffness ``K_ab = Σ_e σ_e V_e ∇φ_a·∇φ_b`` (S) over ``tets`` (local vertex numbers).

    Vectorised: the hat-function gradients of every tet come from one batched 3x3 inverse.
    """
    x = vertices[tets]  # (m, 4, 3)
    edges = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=1)  # rows = edges
    det = np.linalg.det(edges)
    if np.any(np.abs(det) <= 0):
        raise GeometryError("the conducting volume has a flat (zero-volume) tet; the stiffness matrix needs "
                            "proper tets (check the mesh with tetrasim mesh info)")
    inverse = np.linalg.inv(edges)  # columns of inverse = gradients of barycentric coords 1..3
    grads = np.empty((len(tets), 4, 3))
    grads[:, 1:] = np.transpose(inverse, (0, 2, 1))
    grads[:, 0] = -grads[:, 1:].sum(axis=1)
    weight = np.abs(det) / 6.0 * np.broadcast_to(np.asarray(conductivity, np.float64), (len(tets),))
    local = np.einsum("mai,mbi->mab", grads, grads) * weight[:, None, None]
    rows = np.repeat(tets, 4, axis=1).ravel()
    cols = np.tile(tets, (1, 4)).ravel()
    n = int(vertices.shape[0])
    matrix = scipy.sparse.coo_matrix((local.ravel(), (rows, cols)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    return matrix


def lumped_capacitance(n_vertices: int, tri_vertices: np.ndarray, tri_areas: np.ndarray,
                       tri_capacitance: np.ndarray) -> np.ndarray:
    """Σ Cm·A/3 per vertex over the membrane triangles touching it (F)."""
    share = np.repeat(tri_capacitance * tri_areas / 3.0, 3)
    return np.bincount(tri_vertices.ravel(), weights=share, minlength=n_vertices)


def efield_presence(model, disc, species_index: dict[str, int], present: np.ndarray) -> None:
    """Channel states named by currents live on the triangles of the patches that run the current's system."""
    currents = getattr(model, "_currents", {})
    for patch, systems in disc.patch_systems.items():
        for current in currents.values():
            if current.system in systems:
                present[disc.patch_elements[patch], species_index[current.channel_state]] = True
                if current.__class__.__name__ == "GHKCurrent":
                    for counter in (current.influx_counter, current.efflux_counter):
                        present[disc.patch_elements[patch], species_index[counter]] = True


def compile_efield(
    model, geometry, disc, reactions: dict, species_index: dict[str, int]
) -> EFieldSystem | None:
    """The :class:`EFieldSystem` of the geometry's membrane, or ``None`` when it has none."""
    membranes = getattr(geometry, "membranes", {}) or {}
    vdep = getattr(model, "_vdep", {})
    currents = getattr(model, "_currents", {})
    if not membranes:
        if vdep or currents:
            raise CompileError(
                "the model has voltage-dependent transitions or membrane currents but the geometry "
                "has no membrane; add one with geom.membrane('memb', patches=[...])"
            )
        return None
    membrane = next(iter(membranes.values()))
    mesh = geometry.mesh
    tets = mesh.tets[membrane.tets]
    vertex_ids, local_tets = np.unique(tets, return_inverse=True)
    local_tets = local_tets.reshape(tets.shape)
    vertices = mesh.vertices[vertex_ids]
    stiffness = stiffness_matrix(vertices, local_tets, 1.0 / membrane.volume_resistivity)
    local_of = np.full(mesh.n_vertices, -1, np.int64)
    local_of[vertex_ids] = np.arange(len(vertex_ids))
    tri_vertices = local_of[mesh.tris[membrane.tris]]
    if np.any(tri_vertices < 0):
        raise GeometryError(f"membrane {membrane.name!r}: some triangles are not on its conducting volume")
    areas = mesh.tri_areas[membrane.tris]
    capacitance = lumped_capacitance(len(vertex_ids), tri_vertices, areas, membrane.tri_capacitance)
    n_tris = len(membrane.tris)
    tri_to_vertex = scipy.sparse.coo_matrix(
        (np.full(3 * n_tris, 1.0 / 3.0), (tri_vertices.ravel(), np.repeat(np.arange(n_tris), 3))),
        shape=(len(vertex_ids), n_tris)).tocsr()
    # compiled surface element of each membrane triangle
    tri_position = np.full(mesh.n_tris, -1, np.int64)
    tri_position[membrane.tris] = np.arange(n_tris)
    tri_element = np.full(n_tris, -1, np.int64)
    if disc.surface_mesh_tris is not None and len(disc.surface_mesh_tris):
        position = tri_position[disc.surface_mesh_tris]
        on = position >= 0
        tri_element[position[on]] = disc.n_volume + np.flatnonzero(on)
    element_tri = np.full(disc.n_elements, -1, np.int64)
    element_tri[tri_element[tri_element >= 0]] = np.flatnonzero(tri_element >= 0)
    tables = _vdep_tables(vdep, reactions, element_tri)
    n_species = len(species_index)

    def pools_of(species: str) -> np.ndarray:
        pools = np.where(tri_element >= 0, tri_element * n_species + species_index[species], -1)
        return pools.astype(np.int64)

    ohmic = [c for c in currents.values() if c.__class__.__name__ == "OhmicCurrent"]
    ghk = [c for c in currents.values() if c.__class__.__name__ == "GHKCurrent"]
    from ..units import E_CHARGE

    def stack(rows):
        return np.array(rows, np.int64).reshape(len(rows), n_tris)

    return EFieldSystem(
        membrane=membrane.name, vertex_ids=vertex_ids, stiffness=stiffness, capacitance=capacitance,
        tri_ids=np.asarray(membrane.tris, np.int64), tri_vertices=tri_vertices, tri_areas=areas,
        tri_capacitance=np.array(membrane.tri_capacitance, np.float64), tri_to_vertex=tri_to_vertex,
        tri_element=tri_element, **tables,
        current_names=tuple(c.name for c in ohmic + ghk),
        current_kind=tuple(["ohmic"] * len(ohmic) + ["ghk"] * len(ghk)),
        ohmic_pool=stack([_masked(pools_of(c.channel_state), c, disc, tri_element) for c in ohmic]),
        ohmic_conductance=np.array([c.conductance for c in ohmic], np.float64),
        ohmic_reversal=np.array([c.reversal for c in ohmic], np.float64),
        ghk_in_pool=stack([_masked(pools_of(c.influx_counter), c, disc, tri_element) for c in ghk]),
        ghk_out_pool=stack([_masked(pools_of(c.efflux_counter), c, disc, tri_element) for c in ghk]),
        ghk_charge=np.array([c.valence * E_CHARGE for c in ghk], np.float64),
    )


def _masked(pools: np.ndarray, current, disc, tri_element: np.ndarray) -> np.ndarray:
    """Pools of a current's species only on triangles of patches that run the current's system."""
    keep = np.zeros(len(pools), dtype=bool)
    for patch, systems in disc.patch_systems.items():
        if current.system in systems:
            keep |= np.isin(tri_element, disc.patch_elements[patch])
    return np.where(keep, pools, -1)


def _vdep_tables(vdep: dict, reactions: dict, element_tri: np.ndarray) -> dict:
    rules = reactions["reaction_rules"]
    rule_of_reaction = {}
    for index, rule in enumerate(rules):
        rule_of_reaction.setdefault(rule.reaction, index)
    names, lows, steps, sizes, values = [], [], [], [], []
    processes, table_of, tris = [], [], []
    rx_rule = np.asarray(reactions["rx_rule"])
    rx_element = np.asarray(reactions["rx_element"])
    for table_index, (reaction_name, transition) in enumerate(vdep.items()):
        values.append(transition.table())  # ModelError naming the transition and V on bad rates
        low, _high, step = transition.vrange
        names.append(transition.name)
        lows.append(low)
        steps.append(step)
        sizes.append(len(values[-1]))
        if reaction_name not in rule_of_reaction:
            continue  # the system runs on no patch
        found = np.flatnonzero(rx_rule == rule_of_reaction[reaction_name])
        tri = element_tri[rx_element[found]]
        if np.any(tri < 0):
            raise CompileError(
                f"voltage-dependent rule {transition.name!r} acts on a patch that is not part of "
                "the membrane; add the patch to geom.membrane(..., patches=[...])"
            )
        processes.append(found)
        table_of.append(np.full(len(found), table_index, np.int64))
        tris.append(tri)
    offset = np.zeros(len(values) + 1, np.int64)
    np.cumsum([len(v) for v in values], out=offset[1:])

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    # in process order: the refresh kernel then writes the rate array front to back
    order = np.argsort(cat(processes, np.int64), kind="stable")
    processes, table_of, tris = ([cat(parts, np.int64)[order]] for parts in (processes, table_of, tris))
    return dict(
        vdep_names=tuple(names),
        vdep_low=np.array(lows, np.float64),
        vdep_step=np.array(steps, np.float64),
        vdep_size=np.array(sizes, np.int64),
        vdep_offset=offset,
        vdep_values=cat(values, np.float64),
        vdep_process=cat(processes, np.int64),
        vdep_table=cat(table_of, np.int64),
        vdep_tri=cat(tris, np.int64),
    )
