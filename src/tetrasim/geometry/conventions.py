"""Mesh conventions shared by the mesh class, its readers and its quality checks.

The local face numbering of a tet and the parsing of a file's length unit live here, in a
module that imports nothing else from :mod:`tetrasim.geometry`, so that ``mesh``, ``io`` and
``quality`` do not import each other for them.
"""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError, did_you_mean

__all__ = ["FACE_VERTICES", "parse_length_unit"]

#: Local vertex indices of face ``k`` (opposite vertex ``k``), ordered so that the face normal
#: (right-hand rule) points out of a positively oriented tet.
FACE_VERTICES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]], dtype=np.int64)

_UNIT_ALIASES = {
    "m": 1.0,
    "meter": 1.0,
    "metre": 1.0,
    "dm": 1e-1,
    "cm": 1e-2,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "μm": 1e-6,
    "micron": 1e-6,
    "microns": 1e-6,
    "micrometer": 1e-6,
    "micrometre": 1e-6,
    "nm": 1e-9,
    "nanometer": 1e-9,
    "nanometre": 1e-9,
    "pm": 1e-12,
}


def parse_length_unit(length_unit) -> float:
    """Return the size in metres of one file length unit.

    Parameters
    ----------
    length_unit : str or float
        ``"m"``, ``"mm"``, ``"um"`` (or ``"µm"``, ``"micron"``), ``"nm"``, a quantity string such
        as ``"10 nm"``, or a positive number of metres per file unit (``1e-6``).

    Examples
    --------
    >>> parse_length_unit("um")
    1e-06
    >>> parse_length_unit(1e-9)
    1e-09
    """
    if length_unit is None:
        raise GeometryError(
            "length_unit is required: say what one coordinate unit of the mesh file is, "
            "e.g. TetMesh.load(path, length_unit='um') (or 'nm', 'm', or metres as a number)"
        )
    if isinstance(length_unit, str):
        key = length_unit.strip()
        if key in _UNIT_ALIASES:
            return _UNIT_ALIASES[key]
        from ..units import Q, to_si

        try:
            text = key if key[:1].isdigit() or key[:1] == "." else "1 " + key
            return float(to_si(Q(text), "length", "length_unit"))
        except Exception:  # noqa: BLE001 - every failure becomes a GeometryError below
            raise GeometryError(
                f"length_unit {length_unit!r} is not a length unit"
                f"{did_you_mean(key, _UNIT_ALIASES)}; use 'm', 'mm', 'um', 'nm' or metres as a number"
            ) from None
    try:
        scale = float(getattr(length_unit, "si_value", length_unit))
    except (TypeError, ValueError):
        raise GeometryError(f"length_unit {length_unit!r} is neither a unit name nor a number") from None
    if not np.isfinite(scale) or scale <= 0:
        raise GeometryError(f"length_unit must be a positive number of metres, got {length_unit!r}")
    return scale
