"""Well-mixed geometry: compartments with a volume and patches with an area."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..arguments import check_keywords
from ..errors import GeometryError, did_you_mean
from ..plausibility import warn_area, warn_volume
from ..units import to_si

__all__ = ["WellMixed", "WellMixedCompartment", "WellMixedPatch"]


@dataclass
class WellMixedCompartment:
    name: str
    volume: float  # m^3
    systems: list[str] = field(default_factory=list)


@dataclass
class WellMixedPatch:
    name: str
    area: float  # m^2
    inner: str
    outer: str | None
    systems: list[str] = field(default_factory=list)


def _positive(value, dims: str, what: str) -> float:
    number = to_si(value, dims, what)  # wrong dimensions: UnitError naming the parameter
    if not (math.isfinite(number) and number > 0):
        raise GeometryError(f"{what} = {value!r} must be a positive finite number")
    return number


def _systems(systems, what: str) -> list[str]:
    """System names from names or system objects (shared with the mesh geometry)."""
    if systems is None:
        return []
    if isinstance(systems, str):
        return [systems]
    try:
        names = [getattr(s, "name", s) for s in systems]
    except TypeError:
        raise GeometryError(f"{what}: systems must be a list of system names, got {systems!r}") from None
    for name in names:
        if not isinstance(name, str):
            raise GeometryError(f"{what}: systems must be names of model systems, got {name!r}")
    return names


@check_keywords
class WellMixed:
    """A well-mixed geometry: each compartment and patch is one homogeneous element.

    Examples
    --------
    >>> import tetrasim as ts
    >>> geom = ts.WellMixed()
    >>> geom.compartment("cyto", volume=1e-18, systems=["cyt"])
    WellMixedCompartment(name='cyto', volume=1e-18, systems=['cyt'])
    """

    is_mesh = False

    def __init__(self) -> None:
        self.compartments: dict[str, WellMixedCompartment] = {}
        self.patches: dict[str, WellMixedPatch] = {}

    def _check_new(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise GeometryError(f"compartment/patch name {name!r} must be an identifier")
        if name in self.compartments or name in self.patches:
            raise GeometryError(f"the geometry already has a compartment or patch named {name!r}")

    def compartment(self, name: str, volume, systems=None) -> WellMixedCompartment:
        """Add a compartment of ``volume`` m³ running the given volume systems."""
        self._check_new(name)
        comp = WellMixedCompartment(name, _positive(volume, "volume", f"volume of compartment {name!r}"),
                                    _systems(systems, f"compartment {name!r}"))
        warn_volume(comp.volume, f"volume of compartment {name!r}")
        self.compartments[name] = comp
        return comp

    def patch(self, name: str, area, inner: str, outer: str | None = None, systems=None) -> WellMixedPatch:
        """Add a membrane patch of ``area`` m² between ``inner`` and (optionally) ``outer``."""
        self._check_new(name)
        inner, outer = getattr(inner, "name", inner), getattr(outer, "name", outer)
        for side, comp in (("inner", inner), ("outer", outer)):
            if comp is not None and not isinstance(comp, str):
                raise GeometryError(f"patch {name!r}: {side} must be a compartment name, got {comp!r}")
            if comp is not None and comp not in self.compartments:
                raise GeometryError(
                    f"patch {name!r}: {side} compartment {comp!r} does not exist"
                    f"{did_you_mean(comp, self.compartments)}; create it first with geom.compartment()"
                )
        if inner is None:
            raise GeometryError(f"patch {name!r} needs an inner compartment")
        if outer == inner:
            raise GeometryError(f"patch {name!r}: inner and outer compartment are both {inner!r}")
        patch = WellMixedPatch(name, _positive(area, "area", f"area of patch {name!r}"), inner, outer,
                               _systems(systems, f"patch {name!r}"))
        warn_area(patch.area, f"area of patch {name!r}")
        self.patches[name] = patch
        return patch

    def __repr__(self) -> str:
        return f"WellMixed(compartments={list(self.compartments)}, patches={list(self.patches)})"
