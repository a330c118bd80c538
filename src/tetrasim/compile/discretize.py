"""Turn a geometry (well-mixed or mesh) into numbered elements the compiler can fill.

Elements are numbered volume elements first (compartments, or every tet of the mesh), then
surface elements (patches, or the triangles of every patch). A pool is (element, species),
numbered ``element * n_species + species``.
"""

from __future__ import annotations

import numpy as np

from ..errors import CompileError, GeometryError
from .discretization import Discretization
from .mesh_discretize import discretize_mesh

__all__ = ["Discretization", "discretize"]


def discretize(geometry) -> Discretization:
    if getattr(geometry, "is_mesh", False) or hasattr(geometry, "mesh"):
        return discretize_mesh(geometry)
    return _discretize_wellmixed(geometry)


def _discretize_wellmixed(geometry) -> Discretization:
    comps = list(geometry.compartments.values())
    patches = list(geometry.patches.values())
    if not comps:
        raise GeometryError(
            "the geometry has no compartment; add one with geom.compartment(name, volume=...)"
        )
    n_volume, n_surface = len(comps), len(patches)
    index = {c.name: i for i, c in enumerate(comps)}
    measure = np.array([c.volume for c in comps] + [p.area for p in patches], dtype=np.float64)
    surface_inner = np.array([index[p.inner] for p in patches], dtype=np.int64)
    surface_outer = np.array([index[p.outer] if p.outer else -1 for p in patches], dtype=np.int64)
    if n_surface == 0:
        surface_inner = np.zeros(0, np.int64)
        surface_outer = np.zeros(0, np.int64)
    return Discretization(
        n_volume=n_volume,
        n_surface=n_surface,
        measure=measure,
        compartment_elements={c.name: np.array([i], np.int64) for i, c in enumerate(comps)},
        compartment_systems={c.name: list(c.systems) for c in comps},
        patch_elements={p.name: np.array([n_volume + k], np.int64) for k, p in enumerate(patches)},
        patch_systems={p.name: list(p.systems) for p in patches},
        patch_inner={p.name: p.inner for p in patches},
        patch_outer={p.name: p.outer for p in patches},
        surface_inner=surface_inner,
        surface_outer=surface_outer,
    )


def check_systems(disc: Discretization, model) -> None:
    """Every system named by a compartment/patch exists and is of the right kind."""
    for kind, table, surface in (("compartment", disc.compartment_systems, False),
                                 ("patch", disc.patch_systems, True)):
        for name, systems in table.items():
            for system_name in systems:
                if system_name not in model.systems:
                    from ..errors import did_you_mean

                    raise CompileError(
                        f"{kind} {name!r} names system {system_name!r}, which the model does not "
                        f"have{did_you_mean(system_name, model.systems)}"
                    )
                if model.systems[system_name].surface != surface:
                    want = "surface" if surface else "volume"
                    raise CompileError(
                        f"{kind} {name!r} needs {want} systems, but {system_name!r} is not one"
                    )
