"""``opsplit``: the operator-splitting solver of STEPS 4 (Hepburn et al. 2016, J Chem Phys 145:054118).

Each step of length τ = 1 / (largest per-molecule leaving rate in the mesh) runs an exact
SSA of the reactions in every tet (with its membrane triangles) and then moves molecules by
binomial diffusion from the time-averaged occupancy. See docs/concepts/opsplit.md.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..arguments import flag, seed_value
from ..compile.compiler import reorder_csr
from ..errors import SimulationError
from ..kernels.opsplit import (
    STREAM_WORDS,
    clear_touched,
    keyed_diffusion_operator,
    opsplit_steps,
    ssa_operator,
)
from ..units import to_si
from .base import Solver

__all__ = ["OpSplitSolver", "reaction_clusters"]

_STEPS_PER_CHUNK = 2000  # steps between progress updates


def reaction_clusters(compiled):
    """Group reaction processes into clusters of elements they couple (CSR), keyed by smallest element."""
    c = compiled
    S = c.n_species
    n_rx = c.n_reactions
    if n_rx == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.concatenate([np.repeat(np.arange(n_rx), np.diff(c.rx_reac_ptr)),
                           np.repeat(np.arange(n_rx), np.diff(c.rx_upd_ptr))])
    pools = np.concatenate([c.rx_reac_pool, c.rx_upd_pool])
    a = c.rx_element[rows]
    b = pools // S
    n = c.n_elements
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    # key of a component: its smallest element id (independent of any processing order)
    key_of_label = np.full(label.max() + 1, n, np.int64)
    np.minimum.at(key_of_label, label, np.arange(n))
    process_key = key_of_label[label[c.rx_element]]
    order = np.argsort(process_key, kind="stable")
    keys, counts = np.unique(process_key[order], return_counts=True)
    ptr = np.zeros(len(keys) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order.astype(np.int64), keys.astype(np.int64)


class OpSplitSolver(Solver):
    """Options: ``dt`` (cap on the step, s), ``order_seed`` (visit elements in a shuffled order; tests)."""

    name = "opsplit"
    state_dtype = np.int64
    stochastic = True
    needs_mesh = True
    accepted_options = ("dt", "order_seed", "profile")

    def __init__(self, compiled, runtime, dt: float | None = None, order_seed: int | None = None,
                 profile: bool = False, **options):
        super().__init__(compiled, runtime, **options)
        self.generation = 0  # parameter changes so far: a step left pending before one is void
        # profile=True steps from Python and times each operator (slower; for benchmarks)
        self.profile = flag(profile, "opsplit option profile", SimulationError)
        if order_seed is not None:
            order_seed = seed_value(order_seed, SimulationError)
        self.operator_seconds = {"ssa": 0.0, "diffusion": 0.0}
        if dt is not None:
            dt = to_si(dt, "time", "opsplit dt")  # a number (s), "1 ms" or ts.Q("1 ms")
            if not dt > 0:
                raise SimulationError(f"opsplit dt must be a positive time, got {dt!r}")
        self.dt_cap = None if dt is None else float(dt)
        c = compiled
        self.cluster_ptr, self.cluster_proc, self.cluster_key = reaction_clusters(c)
        self._local_reactions()
        n_clusters = len(self.cluster_key)
        # Empty order arrays mean the natural order: clusters by element, diffusion by source pool
        # (the compiler's order), which reads memory front to back. Any order gives the same result.
        self.cluster_order = np.zeros(0, dtype=np.int64)
        self.df_order = np.zeros(0, dtype=np.int64)
        if order_seed is not None:
            rng = np.random.default_rng(order_seed)
            self.cluster_order = rng.permutation(n_clusters).astype(np.int64)
            self.df_order = rng.permutation(c.n_diffusions).astype(np.int64)
        n_pools = c.n_pools
        self._propensity = np.zeros(c.n_reactions)
        self._occ_integral = np.zeros(n_pools)
        self._occ_last = np.zeros(n_pools)
        self._touched = np.zeros(n_pools, dtype=bool)
        self._touched_list = np.zeros(n_pools, dtype=np.int32 if n_pools < 2**31 else np.int64)
        # arrivals of one step, per pool; a step moves far fewer than 2**31 molecules into one pool
        self._incoming = np.zeros(n_pools, dtype=np.int32)
        self._stream = np.zeros(STREAM_WORDS, dtype=np.uint64)
        max_targets = int(np.diff(c.df_ptr).max()) if c.n_diffusions else 1
        self._split = np.zeros(max(max_targets, 1), dtype=np.int64)
        self.stats = np.zeros(3, dtype=np.int64)  # reaction events, diffusion jumps, steps
        self.extent_offset = -1  # >= 0: count reaction firings in counts[extent_offset + local process]
        self.pool_key = np.zeros(0, np.int64)  # global id of each pool on a part of a mesh; empty: its index
        self.parameters_changed()

    def _local_reactions(self) -> None:
        """Reaction arrays in cluster order: the compiled ones when already so (volume-only models)."""
        c, order = self.compiled, self.cluster_proc
        if np.array_equal(order, np.arange(len(order))):
            self._reac_ptr, self._reac_pool, self._reac_count = c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count
            self._upd_ptr, self._upd_pool, self._upd_delta = c.rx_upd_ptr, c.rx_upd_pool, c.rx_upd_delta
            self._rate_view = None  # use the runtime rates directly
            self._rate = self.runtime.rx_rate
            return
        self._reac_ptr, self._reac_pool, self._reac_count = reorder_csr(order, c.rx_reac_ptr, c.rx_reac_pool,
                                                                         c.rx_reac_count)
        self._upd_ptr, self._upd_pool, self._upd_delta = reorder_csr(order, c.rx_upd_ptr, c.rx_upd_pool,
                                                                      c.rx_upd_delta)
        self._rate_view = order
        self._rate = np.zeros(len(order))

    @property
    def tau(self) -> float:
        """The diffusion step (s): 1 / largest per-molecule leaving rate, capped by ``dt``."""
        return self._tau

    def parameters_changed(self) -> None:
        self.generation = getattr(self, "generation", 0) + 1
        if self._rate_view is not None:
            self._rate[:] = self.runtime.rx_rate[self._rate_view]
        total = self.runtime.df_total
        largest = float(total.max()) if len(total) else 0.0
        tau = 1.0 / largest if largest > 0 else np.inf
        if self.dt_cap is not None:
            tau = min(tau, self.dt_cap)
        self._tau = tau

    def new_runs(self, seed, n_runs):
        return [{"seed": int(seed), "run": r, "step": 0} for r in range(n_runs)]

    def extent_positions(self, processes: np.ndarray) -> np.ndarray:
        """Where the firings of compiled reaction ``processes`` are counted (cluster order)."""
        position = np.empty(len(self.cluster_proc), np.int64)
        position[self.cluster_proc] = np.arange(len(self.cluster_proc))
        return position[processes]

    def run_state_arrays(self, run_state) -> dict:
        """What a checkpoint stores of one replicate: the Philox key (seed, run), the step counter and,
        when the last run stopped inside a step, the state at that step's start (see :meth:`advance`)."""
        arrays = {"key": np.array([run_state["seed"], run_state["run"], run_state["step"]], np.int64)}
        grid = run_state.get("grid")
        if grid is not None and grid[3] == self.generation:
            arrays["grid_times"] = np.array([grid[0], grid[1]], np.float64)
            arrays["grid_counts"] = grid[2]
        return arrays

    def run_state_from_arrays(self, arrays) -> dict:
        seed, run, step = (int(v) for v in arrays["key"])
        state = {"seed": seed, "run": run, "step": step}
        if "grid_times" in arrays:
            t_grid, t_end = (float(v) for v in arrays["grid_times"])
            state["grid"] = (t_grid, t_end, np.array(arrays["grid_counts"]), self.generation)
        return state

    def bytes_per_pool(self) -> float:
        """Solver working memory per (element, species) pool, counts included."""
        per_pool = (self._occ_integral, self._occ_last, self._touched, self._touched_list, self._incoming)
        return sum(a.itemsize for a in per_pool) + np.dtype(self.state_dtype).itemsize

    def _steps(self, run_state, counts, t, t_stop, max_steps):
        if self.profile:
            return self._profiled_steps(run_state, counts, t, t_stop, max_steps)
        c, rt = self.compiled, self.runtime
        seed = np.uint64(run_state["seed"])
        t, step = opsplit_steps(
            t,
            t_stop,
            self._tau,
            run_state["step"],
            max_steps,
            seed,
            np.uint64(run_state["run"]),
            self.cluster_order,
            self.df_order,
            self.cluster_ptr,
            self.cluster_key,
            counts,
            rt.clamped,
            self._rate,
            self._reac_ptr,
            self._reac_pool,
            self._reac_count,
            self._upd_ptr,
            self._upd_pool,
            self._upd_delta,
            c.df_pool,
            c.df_ptr,
            c.df_dest,
            rt.df_rate,
            rt.df_total,
            self._propensity,
            self._occ_integral,
            self._occ_last,
            self._touched,
            self._touched_list,
            self._incoming,
            self._stream,
            self._split,
            self.stats,
            self.extent_offset,
        )
        run_state["step"] = step
        return t

    def _launch(self, kernel, *arguments):
        """Run one operator kernel (a back end that places or times kernels overrides this)."""
        return kernel(*arguments)

    def _exchange(self, counts) -> None:
        """After the diffusion of a step: nothing on one process (the MPI back end sends its halo)."""

    def _profiled_steps(self, run_state, counts, t, t_stop, max_steps):
        """The steps of :func:`opsplit_steps`, one operator call at a time from Python, each timed.

        Used with ``profile=True`` and by the MPI back end (with its own :meth:`_launch`,
        :meth:`_exchange` and global pool keys); the fast serial path is the numba loop.
        """
        import time

        c, rt = self.compiled, self.runtime
        seed, run = np.uint64(run_state["seed"]), np.uint64(run_state["run"])
        launch = self._launch
        taken = 0
        while t < t_stop and taken < max_steps:
            h, last = t_stop - t, True
            if h > self._tau * (1.0 + 1e-12):
                h, last = self._tau, False
            step = run_state["step"]
            start = time.perf_counter()
            n_touched, events = launch(
                ssa_operator,
                h,
                seed,
                run,
                step,
                self.cluster_order,
                self.cluster_ptr,
                self.cluster_key,
                counts,
                rt.clamped,
                self._rate,
                self._reac_ptr,
                self._reac_pool,
                self._reac_count,
                self._upd_ptr,
                self._upd_pool,
                self._upd_delta,
                self._propensity,
                self._occ_integral,
                self._occ_last,
                self._touched,
                self._touched_list,
                self._stream,
                self.extent_offset,
            )
            middle = time.perf_counter()
            jumps = launch(
                keyed_diffusion_operator,
                h,
                seed,
                run,
                step,
                self.df_order,
                c.df_pool,
                c.df_ptr,
                c.df_dest,
                rt.df_rate,
                rt.df_total,
                counts,
                rt.clamped,
                self._occ_integral,
                self._touched,
                self._incoming,
                self._stream,
                self._split,
                self.pool_key,
            )
            end = time.perf_counter()
            launch(clear_touched, self._touched, self._touched_list, n_touched)
            self._exchange(counts)
            self.operator_seconds["ssa"] += middle - start
            self.operator_seconds["diffusion"] += end - middle
            self.stats[0] += events
            self.stats[1] += jumps
            self.stats[2] += 1
            run_state["step"] = step + 1
            taken += 1
            t = t_stop if last else t + h
        return t

    # where the state lives: host arrays here; the GPU solver (backends/gpu.py) keeps them on the device
    def _copy_state(self, counts):
        """A copy of a state, where the state lives."""
        return counts.copy()

    def _snapshot(self, counts) -> np.ndarray:
        """A host copy of a state (kept in the run state and in checkpoints)."""
        return counts.copy()

    def _restore(self, counts, source) -> None:
        """Overwrite the state ``counts`` with ``source`` (a state or a snapshot)."""
        counts[:] = source

    def _sample(self, out_row, counts, record_pools, record_columns) -> None:
        """Add the recorded pools of ``counts`` into their columns of ``out_row``."""
        np.add.at(out_row, record_columns, counts[record_pools])

    def _branch_state(self, run_state, counts, t, r):
        """The state at ``r`` inside the next step, on a branch that leaves the trajectory alone.

        A copy of the state at the grid point ``t`` takes one step of length r - t with the keys
        of the next step (the random numbers are counter-based: the branch consumes nothing the
        trajectory will use). That is exactly the state a run stopped at ``r`` would reach.
        """
        branch = self._copy_state(counts)
        stats = self.stats.copy()
        self._steps(dict(run_state), branch, t, r, 1)
        self.stats[:] = stats  # the branch is an observation, not work of the run
        return branch

    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        """Step from ``t_start`` to ``t_end`` on the grid t_start + n·τ; recording never cuts a step.

        A record time on the grid samples the state there. A record time r inside a step is
        sampled on a branch: a copy of the state at the step's start advanced by r - t with the
        step's own keys (:meth:`_branch_state`), i.e. the state a run stopped at r would have;
        the trajectory itself continues with the full step. So a sample is exactly timed, and
        adding or removing a recorder leaves the trajectory of a seed unchanged.
        """
        t = float(t_start)
        # Continuation: when the previous call stopped inside a step, the trajectory's own state
        # is the one at that step's start (kept as run_state["grid"]) and ``counts`` holds the
        # stopped-at state on a branch. If nothing changed since, resume from the grid point, so
        # run(a); run(b) takes exactly the steps of run(b); otherwise a new grid starts here.
        grid = run_state.pop("grid", None)
        if grid is not None and grid[3] == self.generation and grid[1] == t and grid[2].shape == counts.shape:
            t = grid[0]
            self._restore(counts, grid[2])
        k = 0
        n_records = len(record_times)
        eps = 1e-12 * max(1.0, abs(t_end))
        tau = self._tau
        while True:
            while k < n_records and (record_times[k] <= t + eps or t >= t_end):
                self._sample(out[k], counts, record_pools, record_columns)  # a grid point (or the end)
                k += 1
            if t >= t_end:
                return
            if np.isfinite(tau) and t_end - t < tau * (1.0 - 1e-12):  # the end lies inside a step: a branch
                branch = self._branch_state(run_state, counts, t, float(t_end))
                run_state["grid"] = (t, float(t_end), self._snapshot(counts), self.generation)
                while k < n_records and record_times[k] < t_end - eps:
                    sample = self._branch_state(run_state, counts, t, float(record_times[k]))
                    self._sample(out[k], sample, record_pools, record_columns)
                    k += 1
                self._restore(counts, branch)
                while k < n_records:
                    self._sample(out[k], counts, record_pools, record_columns)
                    k += 1
                return
            # end of the next step, by the rule of opsplit_steps (the last step is cut at t_end)
            next_end = t_end if t_end - t <= tau * (1.0 + 1e-12) else t + tau
            while k < n_records and record_times[k] < next_end - eps:
                branch = self._branch_state(run_state, counts, t, float(record_times[k]))
                self._sample(out[k], branch, record_pools, record_columns)
                k += 1
            steps = _STEPS_PER_CHUNK
            if k < n_records and np.isfinite(tau):  # whole steps that end at or before the next record
                steps = min(steps, max(1, int(np.floor((record_times[k] - t) / tau + 1e-9))))
            if np.isfinite(tau):  # whole steps only: a step that would pass t_end is taken on a branch above
                steps = min(steps, max(1, int(np.floor((t_end - t) / tau * (1.0 + 1e-12)))))
            t = self._steps(run_state, counts, t, t_end, steps)
            if progress is not None:
                progress(t)
