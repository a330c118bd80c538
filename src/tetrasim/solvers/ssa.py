"""Exact SSA solvers: ``wm-ssa`` (well-mixed) and ``ssa`` (spatial, STEPS Tetexact).

Both run the same kernel (kernels/ssa.py): on a mesh, diffusion between tets is just another
kind of process in the one SSA.
"""

from __future__ import annotations

import numpy as np

from ..kernels.rng import seed_states
from ..kernels.ssa import (
    build_tree,
    propensities,
    reaction_dependents,
    small_network_tables,
    ssa_advance_dependents,
    ssa_advance_small,
    tree_size,
)
from .base import Solver

__all__ = ["SSASolver", "WellMixedSSASolver", "SSARunState"]

_CHUNK_EVENTS = 2_000_000  # events between progress updates
# Networks of reactions only, up to this many: recompute every propensity after an event
# (ssa_advance_small, the same events bit for bit) instead of following the dependency lists
_SMALL_NETWORK = 16


class SSARunState:
    """One replicate of an exact SSA: its xoshiro stream and the event it drew past the last stop.

    ``pending[0]`` is the time of that event (NaN: none); it is valid only while nothing changed
    since, which ``generation`` (the solver's count of parameter changes when it was drawn) tells.
    """

    __slots__ = ("rng", "pending", "generation")

    def __init__(self, rng, pending=None, generation=0):
        self.rng = np.ascontiguousarray(rng, dtype=np.uint64)
        self.pending = np.full(1, np.nan) if pending is None else np.asarray(pending, np.float64).reshape(1)
        self.generation = int(generation)


class SSASolver(Solver):
    name = "ssa"
    state_dtype = np.int64
    stochastic = True

    def __init__(self, compiled, runtime, **options):
        super().__init__(compiled, runtime, **options)
        c = compiled
        self.n_processes = c.n_reactions + c.n_diffusions
        self._tree_size = tree_size(self.n_processes)
        # per reaction, the processes to refresh after it fires (structure only: built once)
        self._rx_dep_ptr, rx_dep_proc = reaction_dependents(self.n_processes, c.rx_upd_ptr, c.rx_upd_pool,
                                                            c.dep_ptr, c.dep_proc)
        self._rx_dep_proc = rx_dep_proc.astype(np.int32) if self.n_processes < 2**31 else rx_dep_proc
        self.events = 0
        self.generation = 0  # parameter changes so far: a pending event drawn before one is void
        self.extent_offset = -1  # >= 0: count reaction firings in counts[extent_offset + p]

    def new_runs(self, seed, n_runs):
        return [SSARunState(row, generation=self.generation) for row in seed_states(seed, n_runs)]

    def parameters_changed(self) -> None:
        self.generation += 1

    def extent_positions(self, processes: np.ndarray) -> np.ndarray:
        """Where the firings of compiled reaction ``processes`` are counted, after ``extent_offset``."""
        return np.asarray(processes, dtype=np.int64)

    def run_state_arrays(self, run_state) -> dict:
        """What a checkpoint stores of one replicate (see :mod:`tetrasim.checkpoint`)."""
        valid = run_state.generation == self.generation
        pending = run_state.pending.copy() if valid else np.full(1, np.nan)
        return {"rng": run_state.rng.copy(), "pending": pending}

    def run_state_from_arrays(self, arrays) -> SSARunState:
        return SSARunState(arrays["rng"], arrays["pending"], self.generation)

    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        c, rt = self.compiled, self.runtime
        if run_state.generation != self.generation:  # counts, rates or clamps changed: redraw
            run_state.pending[0] = np.nan
            run_state.generation = self.generation
        leaves = np.zeros(self.n_processes)
        propensities(counts, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.df_pool,
                     rt.df_total,
                     leaves)
        if c.n_diffusions == 0 and c.n_reactions <= _SMALL_NETWORK:
            self._advance_small(run_state, counts, leaves, t_start, t_end, record_times, record_pools,
                                record_columns, out, progress)
            return
        tree = np.zeros(2 * self._tree_size)
        build_tree(leaves, tree)
        t, k = float(t_start), 0
        while True:
            t_reached, k, events, finished = ssa_advance_dependents(
                counts, rt.clamped, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr,
                c.rx_upd_pool, c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest, rt.df_rate, rt.df_total,
                c.dep_ptr, c.dep_proc, self._rx_dep_ptr, self._rx_dep_proc, tree, run_state.rng, t,
                float(t_end), record_times, record_pools, record_columns, out, k, _CHUNK_EVENTS,
                run_state.pending, self.extent_offset)
            self.events += events
            if progress is not None:
                progress(t_reached)
            if finished:
                return
            t = t_reached

    def _advance_small(self, run_state, counts, leaves, t_start, t_end, record_times, record_pools,
                       record_columns, out, progress):
        """A few reactions and no diffusion: the linear-scan direct method (kernels/ssa.py)."""
        c, rt = self.compiled, self.runtime
        tables = small_network_tables(c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr,
                                      c.rx_upd_pool, c.rx_upd_delta, rt.clamped)
        dep_ptr, dep_proc = self._rx_dep_ptr.astype(np.int64), self._rx_dep_proc.astype(np.int64)
        t, k = float(t_start), 0
        while True:
            t, k, events, finished = ssa_advance_small(
                counts, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, *tables, dep_ptr,
                dep_proc, leaves, run_state.rng, t, float(t_end), record_times, record_pools, record_columns,
                out, k, _CHUNK_EVENTS, run_state.pending, self.extent_offset)
            self.events += events
            if progress is not None:
                progress(t)
            if finished:
                return


class WellMixedSSASolver(SSASolver):
    name = "wm-ssa"
