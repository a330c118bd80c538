"""Probes and selectors of the membrane potential: ``Vert``/``Verts``, ``Potential``, ``Current``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Vert", "Verts", "Potential", "Current"]


@dataclass(frozen=True)
class Vert:
    """One mesh vertex (for potentials, clamps and current injection)."""

    index: int


@dataclass(frozen=True)
class Verts:
    """Several mesh vertices."""

    indices: object


@dataclass(frozen=True)
class Potential:
    """Membrane potential (V) at ``where``: ``ts.Vert``/``ts.Verts``, ``ts.Tri`` (mean of its three
    vertices), ``ts.ROI`` or a membrane/patch name (area-weighted mean over its triangles).
    ``per_element=True`` keeps one column per vertex or triangle."""

    where: object = None
    per_element: bool = False
    unit = "V"
    quantity = "potential"
    species = "V"


@dataclass(frozen=True)
class Current:
    """Membrane current ``name`` (A, outward positive) summed over the triangles of ``where``."""

    name: str
    where: object = None
    per_element: bool = False
    unit = "A"
    quantity = "current"

    @property
    def species(self) -> str:
        return self.name
