"""The GPU back end: ``Simulation(..., solver="opsplit", backend="gpu")`` with numba-cuda.

The state of a run (counts), the rates, the reaction clusters and the diffusion graph live in
device memory; each opsplit step is three kernel launches (:mod:`tetrasim.kernels.opsplit_cuda`):
the reaction operator (one thread per cluster), the diffusion operator (one thread per diffusing
element·species, arrivals by atomic adds) and the synchronous application of the arrivals.
Recorded probes are summed on the device; only the recorded values cross to the host. The counts
are copied to the device when a run starts and back when it ends (``sim.run``), so getters,
setters, checkpoints and results are those of the serial facade.

The kernels draw from the same Philox streams as serial ``opsplit`` (keyed by seed, run, step,
cluster key or pool id, purpose), so a GPU run is the serial trajectory: bit for bit in numba's
CUDA simulator, and on a device wherever its floating-point results equal the CPU's (see
docs/concepts/gpu.md for where they may not). ``numba.cuda`` is imported only when a GPU
simulation is created: importing tetrasim never touches CUDA.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..errors import CapabilityError
from ..simulation import Simulation
from ..solvers.opsplit import OpSplitSolver
from ..solvers.registry import canonical_solver_name
from .base import Backend

__all__ = ["GPUBackend", "GPUOpSplitSolver", "GPUSimulation", "load_kernels"]

_INSTALL_HINT = (
    "install the GPU extra with pip install 'tetrasim[gpu]' (numba-cuda) on a machine with an NVIDIA "
    "GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 before importing numba to run the kernels in "
    "numba's CUDA simulator (slow; for tests)"
)


def _simulated() -> bool:
    """True when numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def load_kernels():
    """The compiled CUDA kernels, or a :class:`CapabilityError` that says what to install."""
    try:
        from numba import cuda
    except ImportError as error:  # numba without its CUDA target
        raise CapabilityError(f"backend='gpu' needs numba.cuda ({error}); {_INSTALL_HINT}") from None
    if not _simulated() and not cuda.is_available():
        raise CapabilityError(f"backend='gpu' found no usable CUDA device or driver; {_INSTALL_HINT}")
    from ..kernels.opsplit_cuda import build_kernels

    return build_kernels()


class GPUBackend(Backend):
    """One CUDA device holds every element; operators are kernel launches over a grid."""

    name = "gpu"

    def __init__(self, kernels=None):
        self.kernels = kernels if kernels is not None else load_kernels()
        self.cuda = self.kernels.cuda
        self.simulated = _simulated()

    def distribute(self, compiled, partition=None):
        """All elements on the one device (the solver copies its arrays with :meth:`to_device`)."""
        return compiled, {}

    def to_device(self, array):
        """A device copy of a host array."""
        return self.cuda.to_device(np.ascontiguousarray(array))

    def empty(self, n: int, dtype):
        """A zeroed device array of ``n`` values."""
        return self.cuda.to_device(np.zeros(n, dtype=dtype))

    def launch(self, kernel, *arguments, items: int = 1):
        """Launch ``kernel`` with one thread per item (``items`` threads, rounded up to blocks)."""
        from ..kernels.opsplit_cuda import launch_shape

        blocks, threads = launch_shape(items)
        kernel[blocks, threads](*arguments)

    def cooperative_shape(self, items: int) -> tuple[int, int]:
        """(blocks, threads) for a cooperative launch: every block resident at once, so grid-wide
        barriers cannot deadlock. Two blocks of 128 threads per multiprocessor always fit (255
        registers per thread at most); the simulator runs cooperative grids of one block only."""
        from ..kernels.opsplit_cuda import THREADS_PER_BLOCK, launch_shape

        blocks, threads = launch_shape(items)
        if self.simulated:
            return 1, threads
        resident = 2 * self.cuda.get_current_device().MULTIPROCESSOR_COUNT
        return min(blocks, resident), THREADS_PER_BLOCK if blocks > 1 else threads

    def device_bytes(self) -> tuple[int, int]:
        """(free, total) bytes of the device's memory (the simulator reports the host's)."""
        return self.cuda.current_context().get_memory_info()


class GPUOpSplitSolver(OpSplitSolver):
    """``opsplit`` with its state and operators on the device (the serial solver's step grid)."""

    def __init__(self, compiled, runtime, backend: GPUBackend, profile: bool = False, **options):
        if profile:
            raise CapabilityError("opsplit profile=True times the CPU operators; drop it with backend='gpu'")
        super().__init__(compiled, runtime, **options)
        self.backend = backend
        c, b = compiled, backend
        from ..kernels.opsplit_cuda import MAX_TARGETS

        most = int(np.diff(c.df_ptr).max()) if c.n_diffusions else 0
        if most > MAX_TARGETS:
            raise CapabilityError(f"backend='gpu' splits diffusion over at most {MAX_TARGETS} neighbours per "
                                  f"element; this mesh has an element with {most}")
        # the graph: constant for the simulation
        self.device = {name: b.to_device(array) for name, array in (
            ("cluster_ptr", self.cluster_ptr), ("cluster_key", self.cluster_key),
            ("reac_ptr", self._reac_ptr), ("reac_pool", self._reac_pool), ("reac_count", self._reac_count),
            ("upd_ptr", self._upd_ptr), ("upd_pool", self._upd_pool), ("upd_delta", self._upd_delta),
            ("df_pool", c.df_pool), ("df_ptr", c.df_ptr), ("df_dest", c.df_dest))}
        n_pools = c.n_pools
        self.device.update(propensity=b.empty(max(c.n_reactions, 1), np.float64),
                           occ_integral=b.empty(n_pools, np.float64), occ_last=b.empty(n_pools, np.float64),
                           touched=b.empty(n_pools, np.bool_), incoming=b.empty(n_pools, np.int32),
                           stats=b.empty(2, np.int64))
        self._scratch_stats = b.empty(2, np.int64)
        self._uploaded = -1  # the parameter generation whose rates are on the device
        self.fused = True  # many steps per launch (grid-wide barriers); False: three launches per step

    def bytes_per_pool(self) -> float:
        """Working memory per (element, species) pool on the device, counts included (as the serial
        solver counts it): counts (int64), occ_integral and occ_last (float64), touched (bool),
        incoming (int32), clamped (bool). The graph and rates: :meth:`device_bytes`."""
        return float(8 + 2 * 8 + 1 + 4 + 1)

    def device_bytes(self) -> int:
        """Bytes this solver holds on the device: graph, rates and work arrays (not a run's counts)."""
        self._upload_rates()
        return int(sum(array.nbytes for array in self.device.values()))

    def _upload_rates(self) -> None:
        """Copy the rates and clamps to the device when a parameter changed since the last copy."""
        if self._uploaded == self.generation:
            return
        rt, b = self.runtime, self.backend
        self.device.update(rate=b.to_device(self._rate), clamped=b.to_device(rt.clamped),
                           df_rate=b.to_device(rt.df_rate), df_total=b.to_device(rt.df_total))
        self._uploaded = self.generation

    # ------------------------------------------------------------------ state on the device
    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        """The serial :meth:`OpSplitSolver.advance` with ``counts`` on the device for its duration."""
        b = self.backend
        device_counts = b.to_device(counts)
        # the recorded pools grouped by column (CSR), for one thread per column on the device
        order = np.argsort(record_columns, kind="stable")
        column_ptr = np.searchsorted(record_columns[order], np.arange(out.shape[-1] + 1)).astype(np.int64)
        self._records = (b.to_device(column_ptr), b.to_device(np.asarray(record_pools)[order]),
                         b.cuda.device_array(out.shape[-1], dtype=out.dtype))
        super().advance(run_state, device_counts, t_start, t_end, record_times, record_pools, record_columns,
                        out, progress)
        device_counts.copy_to_host(counts)
        self._collect_stats()

    def _collect_stats(self) -> None:
        """Add the device's event and jump counters to ``stats`` (read once per run, not per step)."""
        stats = self.device["stats"]
        events_jumps = stats.copy_to_host()
        stats.copy_to_device(np.zeros(2, np.int64))
        self.stats[:2] += events_jumps

    def _branch_state(self, run_state, counts, t, r):
        """The serial branch, with the device counters of the run left alone (a scratch pair)."""
        kept = self.device["stats"]
        self.device["stats"] = self._scratch_stats  # counts a branch's events; never read
        try:
            return super()._branch_state(run_state, counts, t, r)
        finally:
            self.device["stats"] = kept

    def _copy_state(self, counts):
        copy = self.backend.cuda.device_array_like(counts)
        copy.copy_to_device(counts)
        return copy

    def _snapshot(self, counts) -> np.ndarray:
        return counts.copy_to_host()

    def _restore(self, counts, source) -> None:
        counts.copy_to_device(source)

    def _sample(self, out_row, counts, record_pools, record_columns) -> None:
        """Sum the recorded pools into their columns on the device; only the row comes back."""
        column_ptr, column_pools, row = self._records
        if len(out_row) == 0:
            return
        self.backend.launch(self.backend.kernels.record_kernel, counts, column_ptr, column_pools, row,
                            items=len(out_row))
        out_row += row.copy_to_host()

    def _step_grid(self, t, t_stop, max_steps):
        """(steps, t after them) by the rule of :func:`~tetrasim.kernels.opsplit.opsplit_steps`."""
        tau, taken = self._tau, 0
        while t < t_stop and taken < max_steps:
            h, last = t_stop - t, True
            if h > tau * (1.0 + 1e-12):
                h, last = tau, False
            taken += 1
            t = t_stop if last else t + h
        return taken, t

    def _steps(self, run_state, counts, t, t_stop, max_steps):
        """Steps of :func:`~tetrasim.kernels.opsplit.opsplit_steps` on the device: one cooperative
        launch for all of them (``fused``), or three launches per step."""
        self._upload_rates()
        seed, run = np.uint64(run_state["seed"]), np.uint64(run_state["run"])
        step = int(run_state["step"])
        taken, t_after = self._step_grid(t, t_stop, max_steps)
        if taken == 0:
            return t
        if not (self.fused and self._fused_steps(taken, t, t_stop, step, seed, run, counts)):
            self._launched_steps(taken, t, t_stop, step, seed, run, counts)
        self.stats[2] += taken  # events and jumps stay on the device until the run ends
        run_state["step"] = step + taken
        return t_after

    def _fused_steps(self, taken, t, t_stop, step, seed, run, counts) -> bool:
        """All ``taken`` steps in one cooperative launch; False when the device cannot launch it
        (e.g. no cudadevrt for grid synchronisation), which turns ``fused`` off for good."""
        b, dv = self.backend, self.device
        items = max(len(self.cluster_key), self.compiled.n_diffusions, self.compiled.n_pools)
        blocks, threads = b.cooperative_shape(items)
        try:
            b.kernels.steps_kernel[blocks, threads](
                taken, t, t_stop, self._tau, step, seed, run, dv["cluster_ptr"], dv["cluster_key"], counts,
                dv["clamped"], dv["rate"], dv["reac_ptr"], dv["reac_pool"], dv["reac_count"], dv["upd_ptr"],
                dv["upd_pool"], dv["upd_delta"], dv["propensity"], dv["occ_integral"], dv["occ_last"],
                dv["touched"], dv["df_pool"], dv["df_ptr"], dv["df_dest"], dv["df_rate"], dv["df_total"],
                dv["incoming"], dv["stats"], self.extent_offset)
        except Exception as error:  # noqa: BLE001 - any launch failure: fall back to per-step launches
            if b.simulated:
                raise
            warnings.warn(f"backend='gpu': the one-launch step loop failed ({error}); launching each "
                          "operator per step instead", RuntimeWarning, stacklevel=2)
            self.fused = False
            return False
        return True

    def _launched_steps(self, taken, t, t_stop, step, seed, run, counts) -> None:
        """``taken`` steps as three kernel launches each (reaction, diffusion, arrivals)."""
        b, k, dv = self.backend, self.backend.kernels, self.device
        c = self.compiled
        tau = self._tau
        n_clusters, n_diffusions, n_pools = len(self.cluster_key), c.n_diffusions, c.n_pools
        for _ in range(taken):
            h = t_stop - t
            if h > tau * (1.0 + 1e-12):
                h = tau
            if n_clusters:
                b.launch(k.ssa_kernel, h, seed, run, step, dv["cluster_ptr"], dv["cluster_key"], counts,
                         dv["clamped"], dv["rate"], dv["reac_ptr"], dv["reac_pool"], dv["reac_count"],
                         dv["upd_ptr"], dv["upd_pool"], dv["upd_delta"], dv["propensity"], dv["occ_integral"],
                         dv["occ_last"], dv["touched"], dv["stats"], self.extent_offset, items=n_clusters)
            if n_diffusions:
                b.launch(k.diffusion_kernel, h, seed, run, step, dv["df_pool"], dv["df_ptr"], dv["df_dest"],
                         dv["df_rate"], dv["df_total"], counts, dv["clamped"], dv["occ_integral"],
                         dv["touched"], dv["incoming"], dv["stats"], items=n_diffusions)
            b.launch(k.apply_kernel, counts, dv["incoming"], dv["touched"], items=n_pools)
            step += 1
            t = t + h


class GPUSimulation(Simulation):
    """A :class:`~tetrasim.Simulation` whose opsplit operators run on one CUDA device."""

    def __init__(self, model, geometry, solver: str = "opsplit", seed: int | None = None, progress=None,
                 backend=None, partition=None, efield_dt=None, **options):
        if canonical_solver_name(solver) != "opsplit":
            raise CapabilityError(f"backend='gpu' runs the 'opsplit' solver, not {solver!r}; use "
                                  "backend='serial' for the others")
        gpu = GPUBackend()  # a CapabilityError here when CUDA is not available
        super().__init__(model, geometry, solver=solver, seed=seed, progress=progress, partition=partition,
                         efield_dt=efield_dt, **options)
        if not isinstance(self.solver, OpSplitSolver):
            raise CapabilityError("backend='gpu' does not run the membrane potential (EField) yet; use "
                                  "backend='serial' for models with a membrane")
        self.backend = gpu
        self.solver = GPUOpSplitSolver(self.compiled, self.runtime, gpu, **options)
