"""compile_system: model + geometry -> CompiledSystem, the flat arrays every solver runs on.

The pipeline, one step a function:

1. ``discretize``: number the elements (compartments or tets, then patches or triangles).
2. ``_species_presence``: which species live in which element.
3. ``_reaction_processes``: one process per (directional reaction, element), in CSR form.
4. ``_diffusion_processes``: one process per (element, diffusing species), with its targets.
5. ``_dependencies``: pool -> processes whose propensity reads that pool.

Pure: the model and geometry are never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import CompileError, ModelError, did_you_mean
from ..units import AVOGADRO
from .boundaries import boundary_extra
from .discretize import Discretization, check_systems, discretize
from .duplicates import check_duplicate_rules
from .efield import compile_efield, efield_presence

__all__ = ["CompiledSystem", "compile_system", "ReactionRule", "DiffusionRule"]


@dataclass(frozen=True)
class ReactionRule:
    """One direction of one model reaction."""

    name: str  # reaction name, with "#back" for the backward direction
    reaction: str
    backward: bool
    k: float  # macroscopic rate constant (STEPS units)
    order: int
    surface_only: bool
    location: str  # compartment or patch name


@dataclass(frozen=True)
class DiffusionRule:
    name: str
    species: str
    coefficient: float  # m^2/s
    location: str
    surface: bool


@dataclass(frozen=True, eq=False)
class CompiledSystem:
    """Flat, C-contiguous arrays in SI units and counts. Pools are ``element * n_species + s``."""

    species_names: tuple[str, ...]
    n_volume: int
    n_surface: int
    measure: np.ndarray
    present: np.ndarray  # (n_elements, n_species) bool
    compartment_elements: dict[str, np.ndarray]
    patch_elements: dict[str, np.ndarray]
    discretization: Discretization
    # reactions
    reaction_rules: tuple[ReactionRule, ...]
    rx_rule: np.ndarray
    rx_element: np.ndarray
    rx_scale: np.ndarray  # c = k * scale
    rx_reac_ptr: np.ndarray
    rx_reac_pool: np.ndarray
    rx_reac_count: np.ndarray
    rx_upd_ptr: np.ndarray
    rx_upd_pool: np.ndarray
    rx_upd_delta: np.ndarray
    # diffusion
    diffusion_rules: tuple[DiffusionRule, ...]
    df_rule: np.ndarray
    df_pool: np.ndarray
    df_ptr: np.ndarray
    df_dest: np.ndarray  # destination pool of each target
    df_geom: np.ndarray  # geometric coupling (1/m^2) of each target
    model_hash: str = ""
    extra: dict = field(default_factory=dict)

    # Rates are derived (scale x k, geometry x D) rather than stored: a simulation keeps its own
    # mutable copies, and a second stored set would double the biggest arrays.
    @property
    def rx_rate(self) -> np.ndarray:
        """Count-based rate constant c of each reaction process (1/s per reactant combination)."""
        k = np.array([r.k for r in self.reaction_rules], np.float64)
        return self.rx_scale * k[self.rx_rule] if len(self.rx_rule) else np.zeros(0)

    @property
    def df_rate(self) -> np.ndarray:
        """Per-molecule rate (1/s) of each diffusion target: D x geometric coupling."""
        coefficient = np.array([r.coefficient for r in self.diffusion_rules], np.float64)
        if not len(self.df_geom):
            return np.zeros(0)
        rate = self.df_geom * coefficient[np.repeat(self.df_rule, np.diff(self.df_ptr))]
        closed = self.extra.get("df_closed")  # across diffusion boundaries not open by default
        return rate if closed is None or not closed.any() else np.where(closed, 0.0, rate)

    @property
    def df_total(self) -> np.ndarray:
        """Per-molecule leaving rate (1/s) of each diffusion process."""
        return self.leaving_rates(self.df_rate)

    def leaving_rates(self, df_rate: np.ndarray) -> np.ndarray:
        """Sum of ``df_rate`` over each diffusion process's targets."""
        return np.add.reduceat(df_rate, self.df_ptr[:-1]) if len(df_rate) else np.zeros(len(self.df_pool))

    @cached_property
    def _dependency_graph(self) -> tuple[np.ndarray, np.ndarray]:
        return _dependencies(self.n_pools, self.rx_reac_ptr, self.rx_reac_pool, self.df_pool)

    @property
    def dep_ptr(self) -> np.ndarray:
        """CSR pointers of pool -> processes whose propensity reads it (reactions first, then diffusion).

        Built on first use: only the exact SSA needs it.
        """
        return self._dependency_graph[0]

    @property
    def dep_proc(self) -> np.ndarray:
        return self._dependency_graph[1]

    @property
    def n_species(self) -> int:
        return len(self.species_names)

    @property
    def n_elements(self) -> int:
        return self.n_volume + self.n_surface

    @property
    def n_pools(self) -> int:
        return self.n_elements * self.n_species

    @property
    def n_reactions(self) -> int:
        return len(self.rx_rule)

    @property
    def n_diffusions(self) -> int:
        return len(self.df_pool)

    def species_index(self, name) -> int:
        name = str(name)
        try:
            return self.species_names.index(name)
        except ValueError:
            raise ModelError(f"unknown species {name!r}{did_you_mean(name, self.species_names)}") from None

    def rule_indices(self, name: str) -> list[int]:
        """Reaction-rule indices for a reaction name (``name`` or ``name#back``)."""
        if not isinstance(name, str):
            raise ModelError(f"a reaction is named by a string such as 'binding', got {name!r}")
        found = [i for i, r in enumerate(self.reaction_rules) if r.name == name or r.reaction == name]
        if not found:
            names = sorted({r.reaction for r in self.reaction_rules})
            raise ModelError(f"no reaction named {name!r}{did_you_mean(name, names)}")
        return found


def _system_species(system) -> dict[str, set[str]]:
    """Species a system touches, by location ('volume'/'surface'/'inner'/'outer')."""
    out: dict[str, set[str]] = {"volume": set(), "surface": set(), "inner": set(), "outer": set()}
    for reaction in system.reactions.values():
        for term in reaction.reactants + reaction.products:
            out[term.location or "volume"].add(term.name)
    for rule in system.diffusions.values():
        out["surface" if system.surface else "volume"].add(rule.species)
    return out


def _species_presence(model, disc: Discretization, species_index: dict[str, int]) -> np.ndarray:
    present = np.zeros((disc.n_elements, len(species_index)), dtype=bool)
    for comp, systems in disc.compartment_systems.items():
        for system_name in systems:
            for name in _system_species(model.systems[system_name])["volume"]:
                present[disc.compartment_elements[comp], species_index[name]] = True
    for patch, systems in disc.patch_systems.items():
        elements = disc.patch_elements[patch]
        for system_name in systems:
            touched = _system_species(model.systems[system_name])
            for name in touched["surface"]:
                present[elements, species_index[name]] = True
            for side in ("inner", "outer"):
                if not touched[side]:
                    continue
                comp = disc.patch_inner[patch] if side == "inner" else disc.patch_outer[patch]
                if comp is None:
                    raise CompileError(
                        f"patch {patch!r} runs system {system_name!r}, whose reactions use outer-volume "
                        f"species {sorted(touched[side])}, but the patch has no outer compartment"
                    )
                for name in touched[side]:
                    present[disc.compartment_elements[comp], species_index[name]] = True
    return present


def _csr_from_blocks(blocks: list[tuple[np.ndarray, np.ndarray]], n_rows_list: list[int]):
    """Concatenate per-rule (n_rows, width) pool and value blocks into CSR arrays."""
    if blocks:
        counts = np.concatenate([np.full(n, b[0].shape[1], np.int64)
                                 for b, n in zip(blocks, n_rows_list, strict=True)])
    else:
        counts = np.zeros(0, np.int64)
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    pools = np.concatenate([b[0].ravel() for b in blocks]) if blocks else np.zeros(0, np.int64)
    values = np.concatenate([b[1].ravel() for b in blocks]) if blocks else np.zeros(0, np.int64)
    return ptr, pools.astype(np.int64), values.astype(np.int64)


def reorder_csr(order: np.ndarray, ptr: np.ndarray, *values: np.ndarray):
    """Rows of a CSR structure taken in ``order``: returns the new pointers and value arrays."""
    lengths = np.diff(ptr)[order]
    new_ptr = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    index = np.repeat(ptr[:-1][order], lengths) + (np.arange(new_ptr[-1]) - np.repeat(new_ptr[:-1], lengths))
    return (new_ptr,) + tuple(np.ascontiguousarray(v[index]) for v in values)


def _reaction_processes(model, disc: Discretization, species_index, present):
    S = len(species_index)
    rules: list[ReactionRule] = []
    rule_ids, elements_all, scales = [], [], []
    reac_blocks, upd_blocks, n_rows = [], [], []

    def add(reaction, location, elements, volume_elements, surface: bool, backward: bool):
        reactants, products = (reaction.products, reaction.reactants) if backward else (reaction.reactants,
                                                                                         reaction.products)
        k = reaction.kb if backward else reaction.kf
        order = sum(t.count for t in reactants)
        surface_only = surface and all(t.location == "surface" for t in reactants)
        if surface:
            volume_sides = {t.location for t in reactants if t.location != "surface"}
            side = volume_sides.pop() if volume_sides else None
        def elements_at(location):
            """Element of a term at ``location``, per process."""
            if not surface or location == "surface":
                return elements
            return volume_elements[location]

        def term_elements(term):
            return elements_at(term.location)

        for term in reactants + products:
            element_ids = term_elements(term)
            missing = ~present[element_ids, species_index[term.name]]
            if np.any(missing):
                raise CompileError(f"reaction {reaction.name!r} ({reaction.equation!r}) in {location!r} uses "
                                   f"{term.name!r}, which is not present there")
        if surface_only:
            measure = disc.measure[elements]
            scale = (AVOGADRO * measure) ** (1 - order)
        elif surface:
            if side is None:  # zero-order surface reaction with no volume reactant: per area
                scale = (AVOGADRO * disc.measure[elements]) ** (1 - order)
            else:
                scale = (1e3 * AVOGADRO * disc.measure[volume_elements[side]]) ** (1 - order)
        else:
            scale = (1e3 * AVOGADRO * disc.measure[elements]) ** (1 - order)
        name = reaction.name + ("#back" if backward else "")
        rules.append(ReactionRule(name, reaction.name, backward, float(k), order, surface_only, location))
        n = len(elements)
        reac_pools = np.stack([term_elements(t) * S + species_index[t.name] for t in reactants], axis=1) \
            if reactants else np.zeros((n, 0), np.int64)
        reac_counts = np.tile(np.array([t.count for t in reactants], np.int64), (n, 1))
        # net change per (species, location), dropping zero changes (catalysts)
        delta: dict[tuple[str, str | None], int] = {}
        for t in reactants:
            delta[(t.name, t.location)] = delta.get((t.name, t.location), 0) - t.count
        for t in products:
            delta[(t.name, t.location)] = delta.get((t.name, t.location), 0) + t.count
        changes = [(key, d) for key, d in delta.items() if d != 0]
        upd_pools = np.stack([elements_at(key[1]) * S + species_index[key[0]] for key, _ in changes],
                             axis=1) if changes else np.zeros((n, 0), np.int64)
        upd_delta = np.tile(np.array([d for _, d in changes], np.int64), (n, 1))
        rule_ids.append(np.full(n, len(rules) - 1, np.int64))
        elements_all.append(elements)
        scales.append(np.broadcast_to(np.asarray(scale, np.float64), (n,)))
        reac_blocks.append((reac_pools, reac_counts))
        upd_blocks.append((upd_pools, upd_delta))
        n_rows.append(n)

    for comp, systems in disc.compartment_systems.items():
        elements = disc.compartment_elements[comp]
        for system_name in systems:
            for reaction in model.systems[system_name].reactions.values():
                add(reaction, comp, elements, None, False, False)
                if reaction.reversible:
                    add(reaction, comp, elements, None, False, True)
    for patch, systems in disc.patch_systems.items():
        elements = disc.patch_elements[patch]
        local = elements - disc.n_volume
        volume_elements = {"inner": disc.surface_inner[local], "outer": disc.surface_outer[local]}
        for system_name in systems:
            for reaction in model.systems[system_name].reactions.values():
                uses_outer = any(t.location == "outer" for t in reaction.reactants + reaction.products)
                if uses_outer and np.any(volume_elements["outer"] < 0):
                    raise CompileError(
                        f"surface reaction {reaction.name!r} ({reaction.equation!r}) uses outer "
                        f"species but patch {patch!r} has no outer compartment"
                    )
                add(reaction, patch, elements, volume_elements, True, False)
                if reaction.reversible:
                    add(reaction, patch, elements, volume_elements, True, True)

    reac_ptr, reac_pool, reac_count = _csr_from_blocks(reac_blocks, n_rows)
    upd_ptr, upd_pool, upd_delta = _csr_from_blocks(upd_blocks, n_rows)
    rule_arr = np.concatenate(rule_ids) if rule_ids else np.zeros(0, np.int64)
    scale_arr = np.concatenate(scales).astype(np.float64) if scales else np.zeros(0)
    element_arr = np.concatenate(elements_all).astype(np.int64) if elements_all else np.zeros(0, np.int64)
    # Processes element by element, so the reactions of one tet sit together in memory.
    order = np.argsort(element_arr, kind="stable")
    rule_arr, scale_arr, element_arr = rule_arr[order], scale_arr[order], element_arr[order]
    reac_ptr, reac_pool, reac_count = reorder_csr(order, reac_ptr, reac_pool, reac_count)
    upd_ptr, upd_pool, upd_delta = reorder_csr(order, upd_ptr, upd_pool, upd_delta)
    return dict(
        reaction_rules=tuple(rules),
        rx_rule=rule_arr,
        rx_element=element_arr,
        rx_scale=scale_arr,
        rx_reac_ptr=reac_ptr, rx_reac_pool=reac_pool, rx_reac_count=reac_count,
        rx_upd_ptr=upd_ptr, rx_upd_pool=upd_pool, rx_upd_delta=upd_delta,
    )


def _diffusion_processes(model, disc: Discretization, species_index, present):
    """Diffusion (mesh only): process per (element, species) with its face targets."""
    S = len(species_index)
    rules: list[DiffusionRule] = []
    proc_rule, proc_pool, target_counts, dests, geoms, target_boundary = [], [], [], [], [], []
    if disc.volume_neighbors is None:
        return _pack_diffusion(rules, proc_rule, proc_pool, target_counts, dests, geoms, S, target_boundary)
    owner = disc.compartment_of_volume()
    comp_names = list(disc.compartment_elements)
    # Which compartment (patch) pairs a diffusion boundary joins: its index, in one numbering over
    # volume then surface boundaries. Every species present on both sides gets the crossing
    # targets; whether they are open (and at which D) is decided at run time (diffusion_control).
    boundary_index = {name: i for i, name in enumerate(list(disc.boundaries) + list(disc.surface_boundaries))}

    def pair_table(boundaries, names):
        table = np.full((len(names), len(names)), -1, np.int64)
        for name, ((a, b), _species) in boundaries.items():
            ia, ib = names.index(a), names.index(b)
            table[ia, ib] = table[ib, ia] = boundary_index[name]
        return table

    volume_pairs = pair_table(disc.boundaries, comp_names)
    surface_pairs = pair_table(disc.surface_boundaries, list(disc.patch_elements))

    def build(elements, neighbors, couplings, element_owner, own_index, species, coefficient, rule_index,
              pairs):
        s = species_index[species]
        nbr = neighbors[elements]  # (n, k) global element ids
        geom = couplings[elements]
        valid = nbr >= 0
        safe = np.where(valid, nbr, 0)
        same = valid & (element_owner[safe] == own_index)
        other_owner = element_owner[safe]
        boundary = np.where(
            valid & ~same & (other_owner >= 0), pairs[own_index, np.maximum(other_owner, 0)], -1
        )
        crossing = (boundary >= 0) & present[safe, s]
        ok = (same | crossing) & (geom > 0)
        n_targets = ok.sum(axis=1)
        keep = n_targets > 0
        if coefficient < 0:
            return
        proc_rule.append(np.full(int(keep.sum()), rule_index, np.int64))
        proc_pool.append(elements[keep] * S + s)
        target_counts.append(n_targets[keep])
        dests.append((safe[keep][ok[keep]]) * S + s)
        geoms.append(geom[keep][ok[keep]])
        target_boundary.append(np.where(crossing, boundary, -1)[keep][ok[keep]])

    for ci, (comp, systems) in enumerate(disc.compartment_systems.items()):
        elements = disc.compartment_elements[comp]
        for system_name in systems:
            for rule in model.systems[system_name].diffusions.values():
                rules.append(DiffusionRule(rule.name, rule.species, rule.coefficient, comp, False))
                build(elements, disc.volume_neighbors, disc.volume_couplings, owner, ci, rule.species,
                      rule.coefficient, len(rules) - 1, volume_pairs)
    if disc.surface_neighbors is not None and disc.n_surface:
        surf_owner = np.full(disc.n_elements, -1, np.int64)
        for pi, elements in enumerate(disc.patch_elements.values()):
            surf_owner[elements] = pi
        padded_nbr = np.full((disc.n_elements, 3), -1, np.int64)
        padded_nbr[disc.n_volume:] = disc.surface_neighbors
        padded_geom = np.zeros((disc.n_elements, 3))
        padded_geom[disc.n_volume:] = disc.surface_couplings
        for pi, (patch, systems) in enumerate(disc.patch_systems.items()):
            elements = disc.patch_elements[patch]
            for system_name in systems:
                for rule in model.systems[system_name].diffusions.values():
                    rules.append(DiffusionRule(rule.name, rule.species, rule.coefficient, patch, True))
                    build(elements, padded_nbr, padded_geom, surf_owner, pi, rule.species, rule.coefficient,
                          len(rules) - 1, surface_pairs)
    return _pack_diffusion(rules, proc_rule, proc_pool, target_counts, dests, geoms, S, target_boundary)


def _pack_diffusion(rules, proc_rule, proc_pool, target_counts, dests, geoms, S, target_boundary):
    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    df_rule = cat(proc_rule, np.int64)
    df_pool = cat(proc_pool, np.int64)
    counts = cat(target_counts, np.int64)
    largest_dest = max((int(d.max()) for d in dests if len(d)), default=0)
    dest = cat(dests, np.int32 if largest_dest < 2**31 else np.int64)  # pool ids
    geom = cat(geoms, np.float64)
    boundary = cat(target_boundary, np.int32)
    for parts in (proc_rule, proc_pool, target_counts, dests, geoms, target_boundary):
        parts.clear()  # drop the per-rule pieces before the reordered copies are made (peak memory)
    # Processes in source-pool order (element-major), so a solver sweeping the mesh reads
    # every diffusion array front to back.
    old_ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=old_ptr[1:])
    order = np.argsort(df_pool, kind="stable")
    ptr, dest, geom, boundary = reorder_csr(order, old_ptr, dest, geom, boundary)
    counts = np.diff(ptr)
    df_rule, df_pool = df_rule[order], df_pool[order]
    return dict(
        diffusion_rules=tuple(rules), df_rule=df_rule, df_pool=df_pool, df_ptr=ptr,
        df_dest=dest, df_geom=np.ascontiguousarray(geom), df_boundary=boundary,
    )


def _dependencies(n_pools: int, rx_reac_ptr, rx_reac_pool, df_pool):
    n_rx = len(rx_reac_ptr) - 1
    rx_of_entry = np.repeat(np.arange(n_rx, dtype=np.int64), np.diff(rx_reac_ptr))
    pools = np.concatenate([rx_reac_pool, df_pool])
    procs = np.concatenate([rx_of_entry, n_rx + np.arange(len(df_pool), dtype=np.int64)])
    order = np.argsort(pools, kind="stable")
    ptr = np.zeros(n_pools + 1, np.int64)
    np.cumsum(np.bincount(pools, minlength=n_pools), out=ptr[1:])
    return ptr, procs[order].astype(np.int64)


_POOL_VALUED = ("rx_reac_pool", "rx_upd_pool", "df_pool", "df_dest", "rx_element")
_SMALL_VALUED = ("rx_rule", "df_rule", "rx_reac_count", "rx_upd_delta")


def _compact_indices(reactions: dict, diffusion: dict, n_pools: int) -> None:
    """Store pool ids, rule ids and stoichiometries as int32 when they fit (halves the index arrays)."""
    arrays = {**reactions, **diffusion}
    for name in _SMALL_VALUED + (_POOL_VALUED if n_pools < 2**31 else ()):
        target = reactions if name in reactions else diffusion
        target[name] = np.ascontiguousarray(arrays[name], dtype=np.int32)


def compile_system(model, geometry) -> CompiledSystem:
    """Compile ``model`` on ``geometry`` into a :class:`CompiledSystem` (pure function)."""
    from ..model import Model

    if not isinstance(model, Model):
        raise CompileError(f"expected a tetrasim.Model as the model, got {model!r}")
    if not (hasattr(geometry, "compartments") and hasattr(geometry, "patches")):
        raise CompileError(f"expected a geometry (ts.WellMixed or ts.MeshGeometry), got {geometry!r}")
    disc = discretize(geometry)
    check_systems(disc, model)
    check_duplicate_rules(model, disc)
    species_index = {name: i for i, name in enumerate(model.species_names)}
    present = _species_presence(model, disc, species_index)
    efield_presence(model, disc, species_index, present)
    reactions = _reaction_processes(model, disc, species_index, present)
    efield = compile_efield(model, geometry, disc, reactions, species_index)  # None without a membrane
    diffusion = _diffusion_processes(model, disc, species_index, present)
    n_pools = disc.n_elements * len(species_index)
    _compact_indices(reactions, diffusion, n_pools)
    extra = boundary_extra(disc, diffusion.pop("df_boundary"), diffusion["df_dest"], len(species_index),
                           species_index)
    compiled = CompiledSystem(
        species_names=tuple(model.species_names),
        n_volume=disc.n_volume,
        n_surface=disc.n_surface,
        measure=disc.measure,
        present=present,
        compartment_elements=disc.compartment_elements,
        patch_elements=disc.patch_elements,
        discretization=disc,
        model_hash=model.hash(),
        extra={**extra, **({"efield": efield} if efield is not None else {})},
        **reactions,
        **diffusion,
    )
    from ..plausibility import warn_compiled

    warn_compiled(compiled)
    return compiled
