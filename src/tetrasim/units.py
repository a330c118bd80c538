"""Physical constants, the ``Q("220 um^2/s")`` quantity parser and conversion to SI.

Inside tetrasim everything is an SI float (mol/L for concentrations, as in STEPS). Any
parameter may be given as a bare number in the STEPS conventions
(docs/concepts/propensities_and_units.md), as a
:class:`Quantity` made by :func:`Q`, or as a pint Quantity (duck-typed, pint is not imported).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UnitError

__all__ = ["AVOGADRO", "FARADAY", "GAS_CONSTANT", "E_CHARGE", "Quantity", "Q", "to_si", "Dims", "DIMS"]

AVOGADRO = 6.02214076e23  # 1/mol
E_CHARGE = 1.602176634e-19  # C
FARADAY = AVOGADRO * E_CHARGE  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)

# Dimension vectors over the SI base (m, s, mol, kg, A, K).
_BASE = ("m", "s", "mol", "kg", "A", "K")
Dims = tuple


def _d(m=0, s=0, mol=0, kg=0, A=0, K=0) -> Dims:
    return (m, s, mol, kg, A, K)


# name -> (factor to SI, dims)
_UNITS: dict[str, tuple[float, Dims]] = {
    "m": (1.0, _d(m=1)),
    "s": (1.0, _d(s=1)),
    "min": (60.0, _d(s=1)),
    "h": (3600.0, _d(s=1)),
    "mol": (1.0, _d(mol=1)),
    "M": (1e3, _d(mol=1, m=-3)),  # molar: mol/L
    "L": (1e-3, _d(m=3)),
    "l": (1e-3, _d(m=3)),
    "g": (1e-3, _d(kg=1)),
    "A": (1.0, _d(A=1)),
    "K": (1.0, _d(K=1)),
    "C": (1.0, _d(A=1, s=1)),
    "V": (1.0, _d(kg=1, m=2, A=-1, s=-3)),
    "S": (1.0, _d(kg=-1, m=-2, A=2, s=3)),
    "F": (1.0, _d(kg=-1, m=-2, A=2, s=4)),
    "Ohm": (1.0, _d(kg=1, m=2, A=-2, s=-3)),
    "ohm": (1.0, _d(kg=1, m=2, A=-2, s=-3)),
    "Ω": (1.0, _d(kg=1, m=2, A=-2, s=-3)),
    "J": (1.0, _d(kg=1, m=2, s=-2)),
    "W": (1.0, _d(kg=1, m=2, s=-3)),
    "Hz": (1.0, _d(s=-1)),
    "molecules": (1.0 / AVOGADRO, _d(mol=1)),
}
_PREFIXES = {
    "y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6,
    "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1, "k": 1e3, "M": 1e6, "G": 1e9,
}

# Named dimensions used in error messages and parameter checks.
DIMS: dict[str, Dims] = {
    "dimensionless": _d(),
    "length": _d(m=1),
    "area": _d(m=2),
    "volume": _d(m=3),
    "time": _d(s=1),
    "diffusion coefficient": _d(m=2, s=-1),
    "concentration": _d(mol=1, m=-3),
    "surface concentration": _d(mol=1, m=-2),
    "potential": _d(kg=1, m=2, A=-1, s=-3),
    "conductance": _d(kg=-1, m=-2, A=2, s=3),
    "capacitance per area": _d(kg=-1, m=-4, A=2, s=4),
    "current": _d(A=1),
    "resistivity": _d(kg=1, m=3, A=-2, s=-3),
    "specific membrane resistance": _d(kg=1, m=4, A=-2, s=-3),
}


def _dims_name(dims: Dims) -> str:
    for name, d in DIMS.items():
        if d == dims:
            return name
    parts = [f"{b}^{e}" if e != 1 else b for b, e in zip(_BASE, dims, strict=True) if e]
    return " ".join(parts) or "dimensionless"


@dataclass(frozen=True)
class Quantity:
    """A value in SI units with its dimension vector over (m, s, mol, kg, A, K)."""

    si_value: float
    dims: Dims
    text: str = ""

    def __repr__(self) -> str:
        return f"Q({self.text!r})" if self.text else f"Quantity({self.si_value!r}, {_dims_name(self.dims)})"


def _lookup_unit(token: str) -> tuple[float, Dims]:
    if token in _UNITS:
        return _UNITS[token]
    for prefix, factor in _PREFIXES.items():
        if token.startswith(prefix) and token[len(prefix):] in _UNITS:
            base_factor, dims = _UNITS[token[len(prefix):]]
            return factor * base_factor, dims
    raise KeyError(token)


_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_TERM = re.compile(r"\s*([*/])?\s*([A-Za-zµμΩ]+)(?:\s*(?:\^|\*\*)\s*([-+]?\d+))?")


def Q(text: str) -> Quantity:  # noqa: N802 - short, conventional name for quantities
    """Parse a quantity such as ``"220 um^2/s"``, ``"1e8 /M/s"``, ``"25 uM"`` or ``"0.01 F/m^2"``.

    Examples
    --------
    >>> Q("220 um^2/s").si_value
    2.2e-10
    >>> to_si(Q("25 uM"), "concentration", "c")   # concentrations come back in mol/L
    2.5e-05
    """
    if not isinstance(text, str):
        raise UnitError(f"Q() takes a string such as '220 um^2/s', got {text!r}")
    match = _NUMBER.match(text)
    if not match:
        raise UnitError(f"cannot read a number at the start of {text!r}; write e.g. Q('220 um^2/s')")
    value = float(match.group(1))
    rest = text[match.end():]
    factor, dims = 1.0, _d()
    pos = 0
    # A leading '/' (as in "1e8 /M/s") divides too.
    while pos < len(rest):
        if rest[pos:].strip() == "":
            break
        term = _TERM.match(rest, pos)
        if not term or term.end() == pos:
            bad = pos + len(rest[pos:]) - len(rest[pos:].lstrip())  # point at the character, not a space
            raise UnitError(
                f"cannot read the unit of {text!r} at position {match.end() + bad}: {rest[bad:]!r}"
            )
        op, name, exponent = term.group(1), term.group(2), int(term.group(3) or 1)
        try:
            unit_factor, unit_dims = _lookup_unit(name)
        except KeyError:
            known = list(_UNITS) + ["um", "nm", "mM", "uM", "nM", "ms", "us"]
            from .errors import did_you_mean

            raise UnitError(f"unknown unit {name!r} in {text!r}{did_you_mean(name, known)}") from None
        if op == "/":
            exponent = -exponent
        factor *= unit_factor**exponent
        dims = tuple(a + b * exponent for a, b in zip(dims, unit_dims, strict=True))
        pos = term.end()
    return Quantity(value * factor, dims, text)


_PINT_DIMS = {"[length]": 0, "[time]": 1, "[substance]": 2, "[mass]": 3, "[current]": 4, "[temperature]": 5}


def _from_pint(value) -> Quantity:
    base = value.to_base_units()
    dims = [0] * 6
    for key, exponent in dict(base.dimensionality).items():
        if key not in _PINT_DIMS:
            raise UnitError(f"unsupported dimension {key} in {value!r}")
        dims[_PINT_DIMS[key]] = int(exponent)
    si = float(base.magnitude)
    # pint's base unit for mass is kg and for substance mol: matches ours.
    return Quantity(si, tuple(dims), str(value))


def to_si(value, expected: str | Dims | None, name: str, *, molar: bool = True) -> float:
    """Convert a bare number or quantity to the SI float tetrasim uses inside.

    ``expected`` is a name from :data:`DIMS` or a dimension vector; ``None`` skips the check.
    Concentrations come back in mol/L (``molar=True``), as STEPS' bare numbers are.
    Raises :class:`UnitError` naming ``name`` when dimensions do not match or the value is
    not a finite number.
    """
    if isinstance(value, str):
        try:
            value = Q(value)
        except UnitError as error:
            raise UnitError(f"{name}: {error}") from None
    if hasattr(value, "to_base_units") and hasattr(value, "magnitude"):
        value = _from_pint(value)
    expected_dims = DIMS[expected] if isinstance(expected, str) else expected
    if isinstance(value, Quantity):
        if expected_dims is not None and value.dims != tuple(expected_dims):
            raise UnitError(
                f"{name}: {value!r} has dimensions of {_dims_name(value.dims)}, "
                f"expected {_dims_name(tuple(expected_dims))}"
            )
        si = value.si_value
        if molar and expected_dims is not None:
            # Convert mol/m^3 powers back to the STEPS molar convention: M = 1e3 mol/m^3.
            conc_power = _conc_power(tuple(expected_dims))
            si = si / (1e3**conc_power)
        return si
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UnitError(f"{name}: expected a number or a quantity, got {value!r}") from None
    if not math.isfinite(number):
        raise UnitError(f"{name}: {value!r} is not a finite number")
    return number


def _conc_power(dims: Dims) -> int:
    """Power of concentration hidden in ``dims`` (by its mol exponent) for the molar convention."""
    mol = dims[2]
    # Only quantities that are per-volume in substance carry the molar convention (M, M/s, /M/s).
    if mol != 0 and dims[0] == -3 * mol:
        return mol
    return 0


def rate_dims(order: int, surface_only: bool = False) -> Dims:
    """Dimensions of an n-th order rate constant: (conc)^(1-order)/s, conc per area for 2-D."""
    if surface_only:
        return _d(mol=1 - order, m=-2 * (1 - order), s=-1)
    return _d(mol=1 - order, m=-3 * (1 - order), s=-1)
