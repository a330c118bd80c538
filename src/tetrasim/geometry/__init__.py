"""Geometry: well-mixed compartments and tetrahedral meshes with their regions."""

from . import shapes
from .io import save_mesh
from .mesh import TetMesh, load_mesh, mesh_info, parse_length_unit
from .quality import tet_quality
from .regions import DiffusionBoundary, MeshCompartment, MeshGeometry, MeshPatch, MeshROI
from .wellmixed import WellMixed, WellMixedCompartment, WellMixedPatch

__all__ = [
    "TetMesh",
    "MeshGeometry",
    "MeshCompartment",
    "MeshPatch",
    "DiffusionBoundary",
    "MeshROI",
    "load_mesh",
    "save_mesh",
    "mesh_info",
    "tet_quality",
    "parse_length_unit",
    "shapes",
    "WellMixed",
    "WellMixedCompartment",
    "WellMixedPatch",
]
