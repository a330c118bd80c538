"""tetrasim: stochastic reaction-diffusion on tetrahedral meshes of neurons and glia.

Importing is cheap: numba kernels compile on first use, MPI is never initialised here.
"""

from __future__ import annotations

from . import errors
from ._version import __version__
from .arguments import checked_keywords
from .compile import CompiledSystem, compile_system
from .errors import (
    ArgumentError,
    CapabilityError,
    CheckpointError,
    CompileError,
    GeometryError,
    MeshFormatError,
    ModelError,
    SimulationError,
    TetrasimError,
    UnitError,
)
from .geometry import load_mesh, mesh_info, shapes
from .geometry.mesh import TetMesh
from .geometry.regions import MeshGeometry
from .geometry.wellmixed import WellMixed
from .model import Model
from .recording import ROI, Amount, Conc, Count, Results, Tet, Tri, load_results
from .recording.efield_probes import Current, Potential, Vert, Verts
from .recording.extent import Extent
from .simulation import Simulation
from .units import Q


@checked_keywords
def load_split_mesh(path, length_unit, *, halo: int = 3, comm=None):
    """This rank's part of a pre-split Gmsh 4.1 set ``name_1.msh … name_n.msh`` (run under
    ``mpiexec -n n``); see :func:`tetrasim.backends.split_mesh.load_split_mesh`."""
    from .backends.split_mesh import load_split_mesh as load  # imports mpi4py: only when called

    return load(path, length_unit, halo=halo, comm=comm)


__all__ = [
    "__version__",
    "errors",
    "Model",
    "WellMixed",
    "TetMesh",
    "MeshGeometry",
    "shapes",
    "load_mesh",
    "load_split_mesh",
    "mesh_info",
    "Simulation",
    "compile_system",
    "CompiledSystem",
    "Count",
    "Conc",
    "Amount",
    "Tet",
    "Tri",
    "ROI",
    "Results",
    "load_results",
    "Q",
    "TetrasimError",
    "ModelError",
    "UnitError",
    "GeometryError",
    "MeshFormatError",
    "CompileError",
    "CapabilityError",
    "SimulationError",
    "ArgumentError",
    "Extent",
    "CheckpointError",
    "Vert",
    "Verts",
    "Potential",
    "Current",
]
