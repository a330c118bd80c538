"""Diffusion boundaries in the compiled system: which diffusion targets cross which boundary.

A diffusion boundary (STEPS ``DiffBoundary``, between two compartments) or surface diffusion
boundary (STEPS ``SDiffBoundary``, between two patches) is compiled into ordinary diffusion
targets across its faces (edges), one per species present on both sides, each tagged with
the boundary's index. As in STEPS, a boundary is closed for every species unless it was
created with ``species=[...]``; the simulation opens and closes it per species at run time
(:mod:`tetrasim.diffusion_control`) by setting those targets' rates, so nothing is recompiled.
"""

from __future__ import annotations

import numpy as np

from ..errors import CompileError, did_you_mean

__all__ = ["boundary_extra"]


def boundary_extra(disc, df_boundary: np.ndarray, df_dest: np.ndarray, n_species: int, species_index) -> dict:
    """The boundary tables stored in ``CompiledSystem.extra``.

    ``boundary_names``/``boundary_between``/``boundary_kind`` describe each boundary (volume ones
    first), ``boundary_default_open`` (n_boundaries, n_species) the species it was created open
    for, ``df_boundary`` the boundary index of each diffusion target (-1: none) and
    ``df_closed`` which targets are shut at the start.
    """
    boundaries = list(disc.boundaries.items()) + list(disc.surface_boundaries.items())
    default_open = np.zeros((len(boundaries), n_species), dtype=bool)
    for i, (_name, (_between, species)) in enumerate(boundaries):
        for name in species or ():
            if str(name) not in species_index:
                raise CompileError(f"diffusion boundary {_name!r} is opened for species {str(name)!r}, "
                                   f"which the model does not have"
                                   f"{did_you_mean(str(name), list(species_index))}")
            default_open[i, species_index[str(name)]] = True
    df_boundary = np.ascontiguousarray(df_boundary, dtype=np.int32)
    crossing = df_boundary >= 0
    closed = np.zeros(len(df_boundary), dtype=bool)
    if crossing.any():
        target_species = np.asarray(df_dest, dtype=np.int64) % n_species
        closed[crossing] = ~default_open[df_boundary[crossing], target_species[crossing]]
    return {
        "boundary_names": tuple(name for name, _ in boundaries),
        "boundary_between": tuple(tuple(between) for _, (between, _s) in boundaries),
        "boundary_kind": tuple(["volume"] * len(disc.boundaries)
                               + ["surface"] * len(disc.surface_boundaries)),
        "boundary_default_open": default_open,
        "df_boundary": df_boundary,
        "df_closed": closed,
    }
