"""The serial back end: one process holds every element; today's opsplit path, unchanged.

Every method is the default of :class:`~tetrasim.backends.base.Backend`: the state arrays are
NumPy arrays in this process, kernels are called directly, there is no halo to exchange and
a reduction over one process is the value itself. The serial solvers call their kernels
exactly as before (``opsplit_steps`` runs many steps inside one compiled call).
"""

from __future__ import annotations

from .base import Backend

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """All elements in this process (the default)."""

    name = "serial"
