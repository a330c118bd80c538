"""Model language: species, systems, reactions, diffusion."""

from .core import Diffusion, Model, Reaction, Species, SurfaceSystem, VolumeSystem
from .parser import parse_reaction

__all__ = ["Model", "Species", "VolumeSystem", "SurfaceSystem", "Reaction", "Diffusion", "parse_reaction"]
