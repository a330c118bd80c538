"""Plausibility warnings: magnitudes that are legal but far from cell biology (``ModelWarning``).

A bare number is read in STEPS units (m, m³, M, m²/s, ...), so a value typed in the wrong
unit, ``40`` meaning 40 µM, or a volume in µm³ given as m³, is legal yet off by many orders
of magnitude. These checks warn, name the value and the unit it was read in, and never stop
a run. The ranges are deliberately wide: a warning must point at a unit mistake, not at an
unusual but real model.
"""

from __future__ import annotations

import numpy as np

from .errors import warn_model
from .units import AVOGADRO

__all__ = ["warn_concentration", "warn_diffusion_coefficient", "warn_volume", "warn_area", "warn_compiled",
           "RANGES"]

# (low, high) of the plausible range of each quantity, in SI / STEPS units.
RANGES = {
    # 1 M is already a salt-water concentration; 10 M is certainly µM or mM typed as M.
    "concentration": (0.0, 1.0),  # M
    # a lipid bilayer holds ~5e6 lipids per µm², about 8e-6 mol/m²: nothing on a membrane is denser.
    "surface concentration": (0.0, 1e-5),  # mol/m^2
    # from a (10 nm)³ nanodomain to a 1 µL bath; a whole neuron is ~1e-14 m³.
    "volume": (1e-24, 1e-9),  # m^3
    # from proteins in a crowded membrane (~1e-15) to small ions in water (~2e-9), with margin
    "diffusion coefficient": (1e-16, 1e-7),  # m^2/s
    # from a (10 nm)² membrane domain to 1 mm².
    "area": (1e-16, 1e-6),  # m^2
    # expected molecules per voxel at 1 µM: below 1e-3 the voxels are ~10 nm, above 1e9 ~100 µm
    "molecules per voxel": (1e-3, 1e9),
}

_UNIT = {"diffusion coefficient": "m^2/s", "concentration": "M", "surface concentration": "mol/m^2",
         "volume": "m^3", "area": "m^2"}
_HINT = {
    "diffusion coefficient": "bare numbers are in m^2/s: write ts.Q('9 um^2/s') for other units",
    "concentration": "bare numbers are in M (mol/L): write ts.Q('40 uM') for micromolar",
    "surface concentration": "bare numbers on a patch are in mol/m^2: write ts.Q('1e-9 mol/m^2')",
    "volume": "bare numbers are in m^3: 1 fL is 1e-18 m^3, or write ts.Q('1 um^3')",
    "area": "bare numbers are in m^2: 1 um^2 is 1e-12 m^2, or write ts.Q('1 um^2')",
}


def _check(value: float, kind: str, what: str) -> None:
    low, high = RANGES[kind]
    if value > high or 0 < value < low:
        side = "above" if value > high else "below"
        warn_model(f"{what} = {value:g} {_UNIT[kind]} is {side} the plausible range for cell biology "
                   f"({low:g}..{high:g} {_UNIT[kind]}); {_HINT[kind]}")


def warn_concentration(value: float, dims: str, what: str) -> None:
    """Warn about a concentration above 1 M (volume) or 1e-5 mol/m² (patch)."""
    _check(float(value), dims, what)


def warn_diffusion_coefficient(value: float, what: str) -> None:
    """Warn about a diffusion coefficient outside 1e-16..1e-7 m²/s."""
    _check(float(value), "diffusion coefficient", what)


def warn_volume(value: float, what: str) -> None:
    """Warn about a compartment volume outside 1e-24..1e-9 m³."""
    _check(float(value), "volume", what)


def warn_area(value: float, what: str) -> None:
    """Warn about a patch area outside 1e-16..1e-6 m²."""
    _check(float(value), "area", what)


def warn_compiled(compiled) -> None:
    """Compile-time check: expected molecules per volume element at 1 µM, from the median element.

    A voxel that holds < 1e-3 molecules at 1 µM (edges of ~10 nm) makes diffusion events dominate
    every run; one that holds > 1e9 (a (100 µm)³ element) is far beyond what a stochastic method
    should simulate molecule by molecule. The median keeps one sliver tet from triggering it.
    Tet edge lengths are checked when the mesh is built (``GeometryWarning``) and diffusion
    coefficients when the rule is defined.
    """
    if compiled.n_volume == 0:
        return
    volume = float(np.median(compiled.measure[:compiled.n_volume]))
    per_voxel = 1e-6 * 1e3 * AVOGADRO * volume
    low, high = RANGES["molecules per voxel"]
    if not low <= per_voxel <= high:
        kind = "tet" if compiled.discretization.element_kind == "tet" else "compartment"
        warn_model(f"a median {kind} of {volume:.3g} m^3 holds {per_voxel:.3g} molecules at 1 uM, outside "
                   f"the plausible {low:g}..{high:g} per voxel; check the length or volume unit of the "
                   "geometry")
