"""``Simulation`` on MPI: the same user script under ``python`` and ``mpiexec -n N python``.

``ts.Simulation(..., backend="mpi")`` (or any Simulation under ``mpiexec`` with more than one
rank) returns an :class:`MPISimulation`. Every public method is *collective*: every rank calls
it with the same arguments, as it does when the whole script runs on every rank.

Set-up: rank 0 compiles the model on the geometry, partitions the elements
(:mod:`tetrasim.backends.partition`), cuts one local system per rank and scatters them; then it
drops the global arrays. Each rank keeps only its owned elements, one ghost layer, and for each
named region the local ids of its owned elements with their positions in the region's serial
order. Getters reduce over ranks (every rank gets the value); recorded samples are summed into
rank 0's results and broadcast, and only rank 0 writes files.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CapabilityError, SimulationError
from ..placement import InitialStateLog, place, placement_stream
from ..recording.probes import ROI, Conc, Count, Tet, Tri, molecules_per_unit
from ..simulation import Recorder, Simulation, _as_float_array, _where_text
from ..solvers.base import Runtime
from ..solvers.registry import canonical_solver_name
from ..units import AVOGADRO, to_si
from .mpi import DistributedOpSplitSolver, MPIBackend, release_freed_memory
from .split_setup import split_layout

__all__ = ["MPISimulation"]


def _region_index(compiled, owner, owned_by_rank, n_parts):
    """Per rank: {name: (local element ids, positions in the region, region size, kind)}."""
    out = [{} for _ in range(n_parts)]
    named = [(name, elements, "volume") for name, elements in compiled.compartment_elements.items()]
    named += [(name, elements, "surface") for name, elements in compiled.patch_elements.items()]
    for name, elements, kind in named:
        elements = np.asarray(elements, np.int64)
        where_owned = owner[elements]
        for rank in range(n_parts):
            positions = np.flatnonzero(where_owned == rank)
            local = np.searchsorted(owned_by_rank[rank], elements[positions])
            out[rank][name] = (local, positions, len(elements), kind)
    return out


class MPISimulation(Simulation):
    """A :class:`~tetrasim.Simulation` whose state is split over MPI ranks (opsplit only)."""

    def __init__(
        self,
        model,
        geometry,
        solver: str = "opsplit",
        seed: int | None = None,
        progress=None,
        backend=None,
        partition=None,
        comm=None,
        **options,
    ):
        self.backend = MPIBackend(comm)
        b = self.backend
        with b.collective():
            self.solver_name = canonical_solver_name(solver)
            if self.solver_name != "opsplit":
                raise CapabilityError(
                    f"backend='mpi' runs the 'opsplit' solver; {solver!r} runs on one process "
                    "(use backend='serial')"
                )
            if not (getattr(geometry, "is_mesh", False) or hasattr(geometry, "mesh")):
                raise CapabilityError("backend='mpi' needs a mesh geometry (ts.MeshGeometry)")
            if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
                raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
        if seed is None and b.is_root:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = int(b.comm.bcast(seed, root=0))
        if getattr(getattr(geometry, "mesh", None), "is_part", False):  # ts.load_split_mesh: one part a rank
            with b.collective():
                if partition is not None:
                    raise SimulationError(
                        "partition= cannot re-partition a pre-split mesh: its files are the partition"
                    )
            layout = split_layout(model, geometry, b)
        else:
            parts = None
            with b.collective():
                if b.is_root:
                    parts = self._set_up(model, geometry, partition)
            layout = b.comm.scatter(parts, root=0)
            del parts  # rank 0 keeps no global array past this line
        release_freed_memory()
        self.model = model
        # no reference to the geometry (its mesh is global): only the ROIs, resolved per rank
        self.geometry = None
        self._rois = dict(getattr(geometry, "rois", {}) or {})
        self.layout = layout
        self.compiled = c = layout["system"]
        self.runtime = Runtime(
            rx_rate=c.rx_rate,
            df_rate=c.df_rate,
            df_total=c.leaving_rates(c.df_rate),
            clamped=np.zeros(c.n_pools, dtype=bool),
        )
        self._rule_k = np.array([r.k for r in c.reaction_rules], dtype=np.float64)
        self._diffusion_coefficient = np.array([r.coefficient for r in c.diffusion_rules], dtype=np.float64)
        with b.collective():
            self.solver = DistributedOpSplitSolver(c, self.runtime, b, layout, **options)
        self.solver.parameters_changed()  # collective: the global τ
        self.progress = progress if b.is_root else False
        self._template = np.zeros(c.n_pools, dtype=self.solver.state_dtype)
        self._states = None
        self._run_states = None
        self.time = 0.0
        self._recorders = {}
        self._placements = 0
        self._initial_log = InitialStateLog()  # setters before the replicates exist (placement.py)
        self._auto_checkpoint = None
        self._options = dict(options)
        self.label = None
        owned = layout["global_elements"][: layout["n_owned"]]
        self._owned_tets = owned[owned < layout["n_volume"]]
        self._owned_tris = layout["owned_mesh_tris"]

    def _set_up(self, model, geometry, partition):
        """Rank 0: compile, partition, cut into local systems (one dict per rank)."""
        from ..compile import compile_system
        from .partition import local_systems, partition_elements

        compiled = compile_system(model, geometry)
        n_parts = self.backend.size
        owner = partition_elements(compiled, n_parts, partition)
        parts = local_systems(compiled, owner, n_parts)
        owned = [p["global_elements"][: p["n_owned"]] for p in parts]
        regions = _region_index(compiled, owner, owned, n_parts)
        tris = compiled.discretization.surface_mesh_tris
        names = list(compiled.compartment_elements) + list(compiled.patch_elements)
        for rank, part in enumerate(parts):
            part["regions"] = regions[rank]
            part["region_names"] = names
            part["n_volume"] = compiled.n_volume
            surface = owned[rank][owned[rank] >= compiled.n_volume] - compiled.n_volume
            part["owned_mesh_tris"] = (
                np.asarray(tris, np.int64)[surface] if tris is not None else np.zeros(0, np.int64)
            )
        return parts

    # ------------------------------------------------------------------ locations
    def _resolve(self, where):
        """(local elements, positions in the serial selection, selection size) of ``where`` on this rank."""
        layout = self.layout
        if where is None:
            names = layout["region_names"]
            if len(names) == 1:
                where = names[0]
            else:
                raise SimulationError(f"say where: one of {names}, ts.ROI(name), ts.Tet(i) or ts.Tri(i)")
        if isinstance(where, str):
            if where in layout["regions"]:
                local, positions, total, _kind = layout["regions"][where]
                return local, positions, total
            rois = self._rois
            if where in rois:
                return self._resolve(ROI(where))
            raise SimulationError(f"no compartment, patch or ROI named {where!r}")
        if isinstance(where, ROI) and "rois" in layout:  # a pre-split mesh: ROIs indexed at set-up
            if where.name not in layout["rois"]:
                raise SimulationError(f"no ROI of tets or triangles named {where.name!r}")
            local, positions, total, complete = layout["rois"][where.name]
            if not complete:
                raise SimulationError(
                    "some triangles are not in any patch; only patch triangles hold molecules"
                )
            return local, positions, total
        if isinstance(where, ROI):
            rois = self._rois
            if where.name not in rois:
                raise SimulationError(f"no ROI named {where.name!r}")
            roi = rois[where.name]
            tets = getattr(roi, "tets", None)
            if tets is not None and len(tets):
                return self._resolve(Tet(np.asarray(tets)))
            tris = getattr(roi, "tris", None)
            if tris is not None and len(tris):
                return self._resolve(Tri(np.asarray(tris)))
            raise SimulationError(f"ROI {where.name!r} holds neither tets nor triangles")
        if isinstance(where, (Tet, Tri)):
            ids = np.atleast_1d(np.asarray(where.index, dtype=np.int64))
            if isinstance(where, Tet):
                n_volume = self.layout["n_volume"]
                if ids.size and (ids.min() < 0 or ids.max() >= n_volume):
                    raise SimulationError(f"tet index out of range 0..{n_volume - 1}: {where.index!r}")
                mine, first = self._owned_tets, 0  # owned tet ids, increasing; local ids 0, 1, ...
            else:
                mine, first = self._owned_tris, len(self._owned_tets)  # mesh ids of owned patch triangles
            order = np.argsort(mine, kind="stable")
            at = np.minimum(np.searchsorted(mine[order], ids), max(len(mine) - 1, 0))
            found = mine[order][at] == ids if len(mine) else np.zeros(len(ids), bool)
            positions = np.flatnonzero(found)
            return (first + order[at[positions]]).astype(np.int64), positions, len(ids)
        raise SimulationError(
            f"cannot use {_where_text(where)!r} as a location: give a compartment/patch name, "
            "ts.ROI(name), ts.Tet(i) or ts.Tri(i)"
        )

    def _select(self, where, species):
        """Local elements, local pools and species index; also the serial positions (``self._last``)."""
        b, c = self.backend, self.compiled
        with b.collective():
            species_index = c.species_index(species)
            local, positions, total = self._resolve(where)
        absent = ~c.present[local, species_index]
        all_absent = np.sort(np.concatenate(b.comm.allgather(positions[absent])))
        found = int(b.sum(np.array([len(positions)]))[0]) if isinstance(where, Tri) else total
        with b.collective():  # errors seen alike on every rank, reported once by rank 0
            if found != total:
                raise SimulationError(
                    "some triangles are not in any patch; only patch triangles hold molecules"
                )
            if len(all_absent) == total:
                raise SimulationError(
                    f"species {str(species)!r} is not in {_where_text(where)!r}: no system "
                    "placed there uses it"
                )
        keep = ~absent
        local, positions = local[keep], positions[keep]
        positions = positions - np.searchsorted(all_absent, positions)  # renumber as the serial filter does
        self._last = (positions, total - len(all_absent))
        return local, local * c.n_species + species_index, species_index

    # ------------------------------------------------------------------ counts
    def set_count(self, where, species, count, per_element: bool = False) -> None:
        self.backend.enter("set_count")
        b = self.backend
        elements, pools, _ = self._select(where, species)
        positions, total = self._last
        with b.collective():
            if per_element:
                values = _as_float_array(count, f"set_count of {species!r} in {_where_text(where)!r}")
                if values.ndim == 0 or values.shape[-1] != total or values.ndim > 2:
                    raise SimulationError(
                        f"set_count(per_element=True) for {_where_text(where)!r} needs "
                        f"{total} values (or (runs, {total})), got shape {values.shape}"
                    )
                self._check_counts(values, species, where, True)
            else:
                value = _as_float_array(count, f"set_count of {species!r} in {_where_text(where)!r}")
                if value.ndim != 0:
                    raise SimulationError(
                        f"set_count of {species!r} in {_where_text(where)!r} takes one total; "
                        "pass per_element=True for one value per element"
                    )
                self._check_counts(np.array([float(value)]), species, where, True)
        if per_element:
            self._apply(pools, values[..., positions].astype(self.solver.state_dtype))
            return
        # the serial placement (placement.py), drawn from the same streams over the region's weights in
        # serial order; each rank keeps its own elements' part
        weights = b.gather_region(self.compiled.measure[elements], positions, total)
        self._placements += 1
        amount = int(round(float(value)))
        if self._states is None:
            placed = place(amount, weights, placement_stream(self.seed, self._placements, 0))
            self._template[pools] = placed[positions]
            self._initial_log.add_placement(pools, weights, amount, self._placements, positions)
            self.solver.parameters_changed()
        else:
            per_run = np.stack([place(amount, weights, placement_stream(self.seed, self._placements, r))
                                for r in range(self.n_runs)])
            self._apply(pools, per_run[:, positions])

    def get_count(self, where, species, per_element: bool = False):
        self.backend.enter("get_count")
        _, pools, _ = self._select(where, species)
        positions, total = self._last
        local = self._states_view()[:, pools]
        if per_element:
            full = self.backend.gather_region(local.T.copy(), positions, total).T
            return self._unpack(full, True)
        return self._unpack(self.backend.sum(local.sum(axis=1))[:, None], False)

    def set_conc(self, where, species, conc, per_element: bool = False) -> None:
        self.backend.enter("set_conc")
        elements, _, _ = self._select(where, species)
        positions, total = self._last
        measure = self.backend.gather_region(self.compiled.measure[elements], positions, total)
        factor = 1e3 * AVOGADRO * measure
        with self.backend.collective():
            if per_element:
                values = np.asarray(
                    [to_si(v, "concentration", f"concentration of {species}") for v in np.ravel(conc)]
                ).reshape(np.shape(conc))
            else:
                value = to_si(conc, "concentration", f"concentration of {species}")
                if not math.isfinite(value) or value < 0:
                    raise SimulationError(
                        f"concentration of {species!r} must be finite and >= 0, got {conc!r}"
                    )
        if per_element:
            self.set_count(where, species, np.round(values * factor), per_element=True)
        else:
            self.set_count(where, species, round(value * factor.sum()))

    def get_conc(self, where, species, per_element: bool = False):
        self.backend.enter("get_conc")
        elements, pools, _ = self._select(where, species)
        positions, total = self._last
        b = self.backend
        # the serial formula on the region in serial order (M in a compartment, mol/m² on a patch)
        capacity = b.gather_region(molecules_per_unit(self.compiled, elements), positions, total)
        counts = b.gather_region(self._states_view()[:, pools].T.copy(), positions, total).T.astype(
            np.float64
        )
        if per_element:
            data = counts / capacity
            return data[0] if data.shape[0] == 1 else data
        data = counts.sum(axis=1) / capacity.sum()
        return data[0].item() if data.shape[0] == 1 else data

    # ------------------------------------------------------------------ recording
    def record(self, probe: Count, every: float, name: str | None = None) -> Recorder:
        self.backend.enter("record")
        b = self.backend
        with b.collective():
            if not isinstance(probe, Count):
                raise SimulationError(f"record() takes ts.Count(...) or ts.Conc(...), got {probe!r}")
        elements, pools, _ = self._select(probe.where, probe.species)
        positions, total = self._last
        measure = b.gather_region(self.compiled.measure[elements], positions, total)
        global_ids = b.gather_region(self.layout["global_elements"][elements], positions, total)
        recorder = super().record(probe, every, name)  # validates, names; its selection is replaced here
        recorder.elements, recorder.pools = global_ids, pools
        recorder.positions, recorder.n_total = positions, total
        recorder.factor = 1.0 / (1e3 * AVOGADRO * measure) if isinstance(probe, Conc) else None
        # the serial divisor, summed in serial order: sum of molecules per unit (M or mol/m²) per element
        capacity = molecules_per_unit(self.compiled, elements)
        recorder.capacity = b.gather_region(capacity, positions, total).sum()
        return recorder

    def run(self, t_end, runs: int | None = None, progress=None):
        self.backend.enter("run")
        with self.backend.collective():  # argument errors: raised alike on every rank, reported by rank 0
            end = float(to_si(t_end, "time", "t_end"))
            if not math.isfinite(end) or end < self.time:
                raise SimulationError(f"run({t_end!r}): the end time must be >= the current time {self.time}")
        return super().run(t_end, runs=runs, progress=progress)

    def reset(self) -> None:
        self.backend.enter("reset")
        super().reset()

    def set_clamped(self, where, species, clamped: bool = True) -> None:
        self.backend.enter("set_clamped")
        super().set_clamped(where, species, clamped)

    def set_rate(self, reaction: str, k, backward: bool = False) -> None:
        self.backend.enter("set_rate")
        super().set_rate(reaction, k, backward)

    def set_diffusion_coefficient(self, species, coefficient, where: str | None = None) -> None:
        self.backend.enter("set_diffusion_coefficient")
        super().set_diffusion_coefficient(species, coefficient, where)

    def _combine_ranks(self, raw: np.ndarray) -> np.ndarray:
        """Recorded sums of every rank, added (each rank recorded its owned pools only)."""
        return self.backend.sum(raw)

    def _reduce(self, recorder: Recorder, data: np.ndarray) -> np.ndarray:
        if isinstance(recorder.probe, Conc) and not recorder.probe.per_element:
            return data.astype(np.float64)[:, :, 0] / recorder.capacity
        return super()._reduce(recorder, data)

    @property
    def results(self):
        results = super().results
        results.meta["mpi_ranks"] = self.backend.size
        results.write_files = self.backend.is_root  # every rank holds the results; rank 0 writes
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", backend='mpi', rank={self.backend.rank}/{self.backend.size})"
