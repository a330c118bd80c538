"""The MPI back end: each rank holds its part of the mesh and exchanges a halo every step.

* :class:`MPIBackend` implements the contract of :mod:`tetrasim.backends.base` on an mpi4py
  communicator: reductions, the per-step exchange (non-blocking ``Isend``/``Irecv`` of buffers
  sized once at set-up, completed before the next step), and shared failure.
* :class:`DistributedOpSplitSolver` is the ``opsplit`` solver on a local system: the same
  kernels, with each reaction cluster keyed by its *global* smallest element and each pool
  by its *global* id, so the trajectory is the serial one on any number of ranks.

mpi4py is imported only when an MPI simulation is created.
"""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager

import numpy as np

from ..errors import CapabilityError, InternalError, SimulationError, TetrasimError
from ..solvers.opsplit import OpSplitSolver
from .base import Backend

__all__ = ["MPIBackend", "DistributedOpSplitSolver", "import_mpi", "release_freed_memory"]


def import_mpi():
    """``mpi4py.MPI``, or a CapabilityError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise CapabilityError(
            f"backend='mpi' needs mpi4py ({error}); install it with: pip install 'tetrasim[mpi]'"
        ) from None
    return MPI


def release_freed_memory() -> None:
    """Give freed heap back to the system (glibc keeps it), so rank 0's RSS drops after set-up."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


_hook_installed = False


def _install_excepthook(comm) -> None:
    """Uncaught errors: an agreed one ends each rank quietly (rank 0 prints it); any other aborts all ranks.

    Without this, an exception on one rank leaves the others waiting in the next message
    exchange for ever. ``python -m mpi4py`` does the same for plain mpi4py scripts.
    """
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook

    def hook(kind, value, trace):
        if getattr(value, "mpi_agreed", False):
            if comm.Get_rank() == 0:
                previous(kind, value, trace)
            return
        sys.stderr.write(
            f"tetrasim: rank {comm.Get_rank()} of {comm.Get_size()} failed; aborting every rank\n"
        )
        sys.stderr.write("".join(traceback.format_exception(kind, value, trace)))
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook
    _hook_installed = True


class MPIBackend(Backend):
    """The contract on an MPI communicator (``MPI.COMM_WORLD`` by default)."""

    name = "mpi"

    def __init__(self, comm=None):
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._plan = None
        if self.size > 1:
            _install_excepthook(self.comm)

    # ------------------------------------------------------------ failure
    @contextmanager
    def collective(self):
        """Run a block on every rank; if it failed anywhere, raise the first failure on every rank."""
        failure = None
        try:
            yield
        except Exception as error:  # noqa: BLE001 - every failure is shared, then re-raised
            if getattr(error, "mpi_agreed", False):
                raise
            failure = error
        reports = self.comm.allgather(None if failure is None else (type(failure), str(failure)))
        failed = [(rank, report) for rank, report in enumerate(reports) if report is not None]
        if not failed:
            return
        rank, (kind, message) = failed[0]
        if not (isinstance(kind, type) and issubclass(kind, TetrasimError)):
            kind, message = SimulationError, f"{kind.__name__}: {message}"
        where = f" (on rank {rank} of {self.size})" if self.size > 1 else ""
        try:
            error = kind(f"{message}{where}")
        except Exception:  # noqa: BLE001 - an error class with an unusual constructor
            error = SimulationError(f"{message}{where}")
        error.mpi_agreed = True
        if failure is not None and rank == self.rank:
            raise error from failure
        raise error

    def enter(self, method: str) -> None:
        """Check that every rank entered the same public method (else a script diverged: stop all ranks).

        Every collective method of an MPI simulation starts here, so the ranks stay in step; a
        rank that calls a method the others do not call is caught here instead of hanging in the
        next message exchange.
        """
        if self.size == 1:
            return
        names = self.comm.allgather(method)
        if any(name != method for name in names):
            calls = ", ".join(f"rank {rank}: {name}()" for rank, name in enumerate(names))
            error = SimulationError(
                f"the ranks called different methods ({calls}); under MPI every rank must run "
                "the same script and make the same calls in the same order"
            )
            error.mpi_agreed = True
            raise error

    # ------------------------------------------------------------ reductions
    def minimum(self, value: float) -> float:
        return float(self.comm.allreduce(float(value), op=self.MPI.MIN))

    def sum(self, array):
        array = np.ascontiguousarray(array)
        out = np.empty_like(array)
        self.comm.Allreduce(array, out, op=self.MPI.SUM)
        return out

    def gather_region(self, values: np.ndarray, positions: np.ndarray, total: int) -> np.ndarray:
        """The full array of a region, in serial order, on every rank (from each rank's positions)."""
        values = np.asarray(values)
        pieces = self.comm.allgather((positions, values))
        trailing = values.shape[1:]
        out = np.zeros((total,) + trailing, dtype=values.dtype)
        for where, what in pieces:
            out[where] = what
        return out

    # ------------------------------------------------------------ the halo exchange
    def plan_exchange(self, send: dict, receive: dict, dtype) -> None:
        """Fix the exchange pattern and allocate its buffers once (``send``/``receive``: rank -> pools)."""
        self._plan = {
            "send": {q: np.asarray(pools, np.int64) for q, pools in sorted(send.items())},
            "receive": {q: np.asarray(pools, np.int64) for q, pools in sorted(receive.items())},
        }
        self._send_buffer = {q: np.zeros(len(p), dtype) for q, p in self._plan["send"].items()}
        self._receive_buffer = {q: np.zeros(len(p), dtype) for q, p in self._plan["receive"].items()}

    def exchange(self, counts: np.ndarray, clamped: np.ndarray | None = None) -> None:
        """Send arrivals in ghost pools to their owners (zeroing the ghosts); add what arrives here."""
        plan = self._plan
        if plan is None or (not plan["send"] and not plan["receive"]):
            return
        requests = []
        for q, buffer in self._receive_buffer.items():
            requests.append(self.comm.Irecv(buffer, source=q, tag=11))
        for q, pools in plan["send"].items():
            buffer = self._send_buffer[q]
            np.take(counts, pools, out=buffer)
            counts[pools] = 0
            requests.append(self.comm.Isend(buffer, dest=q, tag=11))
        self.MPI.Request.Waitall(requests)
        for q, pools in plan["receive"].items():
            arrived = self._receive_buffer[q]
            if clamped is not None:
                arrived = np.where(clamped[pools], 0, arrived)  # clamped counts never change
            counts[pools] += arrived  # a pool appears once per sender


class DistributedOpSplitSolver(OpSplitSolver):
    """``opsplit`` on one rank's part of the mesh (see :mod:`tetrasim.backends.partition`)."""

    def __init__(self, compiled, runtime, backend: MPIBackend, layout: dict, **options):
        self.backend = backend
        self.global_elements = np.asarray(layout["global_elements"], np.int64)
        super().__init__(compiled, runtime, **options)
        n_species = compiled.n_species
        # RNG keys are global: a cluster's smallest global element (owned ids are increasing in
        # global id, so the local smallest is the global smallest) and each pool's global id
        self.cluster_key = self.global_elements[self.cluster_key]
        self.pool_key = (self.global_elements[:, None] * n_species + np.arange(n_species)).ravel()
        backend.plan_exchange(layout["send"], layout["receive"], self.state_dtype)

    def parameters_changed(self) -> None:
        super().parameters_changed()
        self._tau = self.backend.minimum(self._tau)  # the same τ on every rank: MPI.MIN

    def _launch(self, kernel, *arguments):
        return self.backend.launch(kernel, *arguments)

    def _exchange(self, counts) -> None:
        self.backend.exchange(counts, self.runtime.clamped)

    def _steps(self, run_state, counts, t, t_stop, max_steps):
        """The operator-by-operator loop of the serial solver, with the halo exchange after each step."""
        return self._profiled_steps(run_state, counts, t, t_stop, max_steps)


def check_same_everywhere(backend: MPIBackend, value, what: str) -> None:
    """An argument every rank must pass alike (the same script on every rank)."""
    values = backend.comm.allgather(value)
    if any(v != values[0] for v in values):
        raise InternalError(f"{what} differs between ranks ({values}); run the same script on every rank")
