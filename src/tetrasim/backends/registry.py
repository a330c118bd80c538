"""Choosing a back end: ``Simulation(..., backend="serial" | "mpi" | "gpu")`` or automatically.

``backend=None`` picks ``"mpi"`` when the process was started by ``mpiexec``/``srun`` with more
than one rank (read from the launcher's environment, so importing tetrasim never initialises
MPI), and ``"serial"`` otherwise. ``"gpu"`` is never chosen automatically: it is asked for.
"""

from __future__ import annotations

import os
from importlib import import_module

from ..errors import CapabilityError, did_you_mean

__all__ = [
    "BACKENDS",
    "launched_ranks",
    "refuse_part_of_split_mesh",
    "resolve_backend_name",
    "simulation_class",
]

BACKENDS = ("serial", "mpi", "gpu")

# world size as announced by common MPI launchers (MPICH/Hydra and PMI-2 under Slurm, Open MPI, PMIx)
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launched_ranks() -> int:
    """Number of ranks the MPI launcher started (1 when not under a launcher)."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def resolve_backend_name(backend) -> str:
    """``"serial"``, ``"mpi"`` or ``"gpu"`` for ``backend=`` (``None``: decide from the launcher)."""
    if backend is None:
        return "mpi" if launched_ranks() > 1 else "serial"
    key = str(backend).strip().lower()
    if key not in BACKENDS:
        raise CapabilityError(
            f"unknown backend {backend!r}{did_you_mean(key, BACKENDS)}; choose 'serial', 'mpi' or 'gpu'"
        )
    return key


def simulation_class(backend: str):
    """The Simulation subclass of a back end (None: the plain facade), imported on first use."""
    if backend == "mpi":  # by name: the facade module must not import its subclass's module
        return import_module(f"{__package__}.mpi_simulation").MPISimulation
    if backend == "gpu":  # imports no CUDA: numba.cuda is loaded when a GPU simulation is created
        return import_module(f"{__package__}.gpu").GPUSimulation
    return None


def refuse_part_of_split_mesh(geometry) -> None:
    """A one-process simulation cannot run on one part of a split mesh (the other parts are missing)."""
    mesh = getattr(geometry, "mesh", None)
    if getattr(mesh, "is_part", False) and getattr(mesh, "n_parts", 1) > 1:
        raise CapabilityError(
            f"{mesh.source}: this is one part of a mesh split into {mesh.n_parts} files; run the script "
            f"with mpiexec -n {mesh.n_parts} (backend='mpi'), or load the unsplit file with ts.load_mesh"
        )
