"""Probes: what to record (``Count``/``Conc`` of a species somewhere) and where-selectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arguments import check_keywords, flag, index_array
from ..errors import ModelError, SimulationError, did_you_mean
from ..units import AVOGADRO

__all__ = ["Tet", "Tri", "ROI", "Count", "Conc", "Amount", "resolve_where", "VOLUME_UNIT", "SURFACE_UNIT"]

VOLUME_UNIT = "M"  # concentration in a volume: mol/L (STEPS)
SURFACE_UNIT = "mol/m^2"  # concentration on a patch: mol/m² (STEPS' convention for surface reactions)


@check_keywords
@dataclass(frozen=True)
class Tet:
    """One tet (or an array of tet indices) of the mesh."""

    index: object

    def __post_init__(self):
        index_array(self.index, "ts.Tet(index)", SimulationError)  # 1.7 or "a" fail here, not later


@check_keywords
@dataclass(frozen=True)
class Tri:
    """One mesh triangle (or an array of triangle indices) that belongs to a patch."""

    index: object

    def __post_init__(self):
        index_array(self.index, "ts.Tri(index)", SimulationError)


@check_keywords
@dataclass(frozen=True)
class ROI:
    """A named region of interest defined with ``geom.roi(name, ...)``."""

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise SimulationError(f"ts.ROI(name) takes the name of an ROI, got {self.name!r}")


@check_keywords
@dataclass(frozen=True)
class Count:
    """Number of molecules of ``species`` in ``where`` (summed, or per element)."""

    species: str
    where: object = None
    per_element: bool = False
    unit = "molecules"

    def __post_init__(self):
        name = getattr(self.species, "name", self.species)  # a ts Species or its name
        if not isinstance(name, str):
            raise ModelError(f"{type(self).__name__}(species=...) takes a species name, got {self.species!r}")
        object.__setattr__(self, "species", name)
        flag(self.per_element, f"{type(self).__name__}(per_element=...)", SimulationError)


@check_keywords
@dataclass(frozen=True)
class Conc(Count):
    """Concentration of ``species`` in ``where``: M in a volume, mol/m² on a patch (summed or per element)."""

    unit = VOLUME_UNIT


@check_keywords
@dataclass(frozen=True)
class Amount(Count):
    """Amount of substance (mol) of ``species`` in ``where``: molecules / N_A."""

    unit = "mol"


def _describe(where) -> str:
    return where if isinstance(where, str) else repr(where)


def resolve_where(compiled, geometry, where) -> tuple[np.ndarray, str]:
    """Global element ids selected by ``where`` and their kind ('volume' or 'surface')."""
    disc = compiled.discretization
    if where is None:
        if len(compiled.compartment_elements) == 1 and not compiled.patch_elements:
            where = next(iter(compiled.compartment_elements))
        else:
            names = list(compiled.compartment_elements) + list(compiled.patch_elements)
            raise SimulationError(f"say where: one of {names}, ts.ROI(name), ts.Tet(i) or ts.Tri(i)")
    if isinstance(where, str):
        if where in compiled.compartment_elements:
            return compiled.compartment_elements[where], "volume"
        if where in compiled.patch_elements:
            return compiled.patch_elements[where], "surface"
        rois = getattr(geometry, "rois", {}) or {}
        if where in rois:
            return resolve_where(compiled, geometry, ROI(where))
        names = list(compiled.compartment_elements) + list(compiled.patch_elements) + list(rois)
        raise SimulationError(f"no compartment, patch or ROI named {where!r}{did_you_mean(where, names)}")
    if isinstance(where, Tet):
        if disc.element_kind != "tet":
            raise SimulationError("ts.Tet(...) needs a mesh geometry; this simulation is well-mixed")
        ids = np.atleast_1d(np.asarray(where.index, dtype=np.int64))
        if ids.size and (ids.min() < 0 or ids.max() >= disc.n_volume):
            raise SimulationError(f"tet index out of range 0..{disc.n_volume - 1}: {where.index!r}")
        return ids, "volume"
    if isinstance(where, Tri):
        if disc.surface_mesh_tris is None:
            raise SimulationError("ts.Tri(...) needs a mesh geometry with patches")
        ids = np.atleast_1d(np.asarray(where.index, dtype=np.int64))
        lookup = {int(t): k for k, t in enumerate(disc.surface_mesh_tris)}
        missing = [int(i) for i in ids if int(i) not in lookup]
        if missing:
            raise SimulationError(
                f"triangles {missing[:5]} are not in any patch; only patch triangles hold molecules"
            )
        return np.array([disc.n_volume + lookup[int(i)] for i in ids], np.int64), "surface"
    if isinstance(where, ROI):
        rois = getattr(geometry, "rois", {}) or {}
        if where.name not in rois:
            raise SimulationError(f"no ROI named {where.name!r}{did_you_mean(where.name, rois)}")
        roi = rois[where.name]
        tets = getattr(roi, "tets", None)
        if tets is not None and len(tets):
            return resolve_where(compiled, geometry, Tet(np.asarray(tets)))
        tris = getattr(roi, "tris", None)
        if tris is not None and len(tris):
            return resolve_where(compiled, geometry, Tri(np.asarray(tris)))
        raise SimulationError(f"ROI {where.name!r} holds neither tets nor triangles")
    raise SimulationError(f"cannot use {_describe(where)!r} as a location: give a compartment/patch name, "
                          "ts.ROI(name), ts.Tet(i) or ts.Tri(i)")


def is_surface(compiled, elements: np.ndarray) -> bool:
    """True when ``elements`` are patch elements (areas), False for volume elements; never a mix."""
    surface = np.asarray(elements) >= compiled.n_volume
    if surface.size and surface.any() and not surface.all():
        raise SimulationError("a concentration needs either volume elements or patch elements, not both")
    return bool(surface.size and surface[0])


def molecules_per_unit(compiled, elements: np.ndarray) -> np.ndarray:
    """Molecules per unit concentration of each element: 1e3·N_A·V (per M) or N_A·A (per mol/m²)."""
    measure = compiled.measure[elements]
    return AVOGADRO * measure if is_surface(compiled, elements) else 1e3 * AVOGADRO * measure


def concentration_unit(compiled, elements: np.ndarray) -> str:
    return SURFACE_UNIT if is_surface(compiled, elements) else VOLUME_UNIT


def concentration_factor(compiled, elements: np.ndarray) -> np.ndarray:
    """Molecules -> concentration factor per element: 1 / (1e3·N_A·V) (M) or 1 / (N_A·A) (mol/m²)."""
    return 1.0 / molecules_per_unit(compiled, elements)
