"""The building blocks of a model that every model module shares: names, species and rules.

They sit below :mod:`tetrasim.model.core` (the model language) and
:mod:`tetrasim.model.channels` (membrane rules), which both build on them.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

from ..errors import ModelError
from .parser import Term

__all__ = ["Species", "Reaction", "Diffusion", "check_name", "definition_site"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def definition_site() -> str:
    """``file:line`` of the first caller outside tetrasim, for error messages."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            filename = frame.f_code.co_filename
            if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
                return f"{os.path.basename(filename)}:{frame.f_lineno}"
            frame = frame.f_back
        return "<unknown>"
    finally:
        del frame


def check_name(kind: str, name) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ModelError(
            f"{kind} name {name!r} must be an identifier (letters, digits, '_', not starting with a digit)"
        )
    return name


@dataclass(eq=False)
class Species:
    """A chemical species. ``valence`` (elementary charges) matters for currents."""

    name: str
    valence: int = 0
    defined_at: str = ""

    def __repr__(self) -> str:
        return f"Species({self.name!r})"

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class Reaction:
    """One reaction rule; ``kb`` is ``None`` when irreversible. Rates in STEPS units."""

    name: str
    system: str
    equation: str
    reactants: tuple[Term, ...]
    products: tuple[Term, ...]
    kf: float
    kb: float | None
    surface: bool
    defined_at: str

    @property
    def reversible(self) -> bool:
        return self.kb is not None

    @property
    def order(self) -> int:
        return sum(t.count for t in self.reactants)

    @property
    def backward_order(self) -> int:
        return sum(t.count for t in self.products)

    def __repr__(self) -> str:
        return f"Reaction({self.name!r}: {self.equation!r})"


@dataclass(eq=False)
class Diffusion:
    """Diffusion of one species at ``coefficient`` m²/s, in a volume or on a surface."""

    name: str
    system: str
    species: str
    coefficient: float
    surface: bool
    defined_at: str
