"""The numbered elements of a discretized geometry (the compiler's input), as one dataclass.

Its own module so that the well-mixed and the mesh discretizers both build it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Discretization"]


@dataclass
class Discretization:
    n_volume: int
    n_surface: int
    measure: np.ndarray  # (n_volume + n_surface,) volume m^3 or area m^2
    compartment_elements: dict[str, np.ndarray]
    compartment_systems: dict[str, list[str]]
    patch_elements: dict[str, np.ndarray]  # global element ids
    patch_systems: dict[str, list[str]]
    patch_inner: dict[str, str]
    patch_outer: dict[str, str | None]
    surface_inner: np.ndarray  # (n_surface,) global volume element, -1 none
    surface_outer: np.ndarray  # (n_surface,) global volume element, -1 none
    # Mesh only: neighbours and geometric couplings (1/m^2) for diffusion.
    volume_neighbors: np.ndarray | None = None  # (n_volume, 4) element ids, -1 none
    volume_couplings: np.ndarray | None = None  # (n_volume, 4)
    surface_neighbors: np.ndarray | None = None  # (n_surface, 3) global element ids, -1 none
    surface_couplings: np.ndarray | None = None  # (n_surface, 3)
    boundaries: dict[str, tuple[tuple[str, str], list[str] | None]] = field(default_factory=dict)
    # surface diffusion boundaries: name -> ((patch a, patch b), species open from the start)
    surface_boundaries: dict[str, tuple[tuple[str, str], list[str] | None]] = field(default_factory=dict)
    element_kind: str = "compartment"  # "compartment" (well-mixed) or "tet"
    surface_mesh_tris: np.ndarray | None = None  # mesh triangle id of each surface element

    @property
    def n_elements(self) -> int:
        return self.n_volume + self.n_surface

    def compartment_of_volume(self) -> np.ndarray:
        """Compartment index (in insertion order) of each volume element, -1 for none."""
        owner = np.full(self.n_volume, -1, dtype=np.int64)
        for index, elements in enumerate(self.compartment_elements.values()):
            owner[elements] = index
        return owner
