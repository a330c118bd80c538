"""The back-end contract: what a solver's operators need from the machine they run on.

A back end answers five questions for a solver (see docs/concepts/parallel.md):

1. **Where the state lives** — :meth:`Backend.distribute` turns the global compiled system
   into the part this process holds (serial: all of it; MPI: the owned elements plus one ghost
   layer, with local ids; GPU: device copies), and :meth:`Backend.empty` allocates state arrays.
2. **How operators are launched** — :meth:`Backend.launch` calls a kernel on those arrays
   (serial and MPI: a numba ``njit`` call; GPU: a ``cuda.jit`` launch over a grid).
3. **How molecules leaving the local part are exchanged** — :meth:`Backend.exchange` is called
   once per step after the diffusion operator; molecules that moved into ghost pools go to their
   owners and are added there, synchronously (serial: nothing to do).
4. **How global quantities are reduced** — :meth:`Backend.minimum` (the step τ) and
   :meth:`Backend.sum` (probes and getters), identical on every process.
5. **How failure is shared** — :meth:`Backend.collective` runs a block and, when any process
   failed in it, raises the same error on every process (never a hang).

Random numbers are not the back end's business: the opsplit kernels draw from Philox streams
keyed by *global* element/pool ids, so any back end that passes the global ids
(``cluster_key`` and ``pool_key``) reproduces the serial trajectory bit for bit.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

__all__ = ["Backend"]


class Backend:
    """Serial defaults of the contract; :class:`~tetrasim.backends.mpi.MPIBackend` overrides them."""

    name = "base"
    rank = 0
    size = 1

    @property
    def is_root(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0

    def distribute(self, compiled, partition=None):
        """The part of ``compiled`` this process holds, as ``(local compiled system, layout dict)``."""
        return compiled, {}

    def empty(self, n: int, dtype) -> np.ndarray:
        """A zeroed state array of ``n`` values where the operators can reach it."""
        return np.zeros(n, dtype=dtype)

    def launch(self, kernel, *arguments):
        """Run one operator kernel on this process's arrays; returns what the kernel returns."""
        return kernel(*arguments)

    def exchange(self, counts: np.ndarray) -> None:
        """After a diffusion step: send molecules in ghost pools to their owners, add those received."""

    def minimum(self, value: float) -> float:
        """The minimum of ``value`` over all processes."""
        return value

    def sum(self, array):
        """Element-wise sum of ``array`` over all processes (the same result everywhere)."""
        return array

    @contextmanager
    def collective(self):
        """Run a block on every process; an error on any process is raised on all of them."""
        yield
