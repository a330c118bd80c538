"""The reaction-equation parser: ``"2 A + B.i <-> C.s"`` -> sides of (name, location, count)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ModelError

__all__ = ["Term", "ParsedReaction", "parse_reaction", "SPECIES_NAME"]

SPECIES_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what an equation can name (kept in step with _TERM)

_LOCATIONS = {"s": "surface", "i": "inner", "o": "outer"}
_FRACTIONAL_COUNT = re.compile(r"\s*(?:\d*\.\d+|\d+\s*/\s*\d+|\d+\.)(?:[eE][-+]?\d+)?\s*\*?\s*[A-Za-z_]")
_TERM = re.compile(r"\s*(?:(\d+)\s*\*?\s*)?([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?"
                   r"(?:\.([A-Za-z]+))?\s*")


@dataclass(frozen=True)
class Term:
    """One species on one side of an equation: ``count`` molecules of ``name`` at ``location``."""

    name: str
    location: str | None  # "surface" | "inner" | "outer" | None (volume system)
    count: int


@dataclass(frozen=True)
class ParsedReaction:
    reactants: tuple[Term, ...]
    products: tuple[Term, ...]
    reversible: bool


def _pointer(text: str, position: int) -> str:
    return f"\n    {text}\n    {' ' * position}^"


def _parse_side(text: str, side: str, offset: int, full: str) -> tuple[Term, ...]:
    stripped = side.strip()
    if stripped in ("", "0", "∅", "Ø"):
        return ()
    counts: dict[tuple[str, str | None], int] = {}
    pos = 0
    expect_term = True
    while pos < len(side):
        if side[pos:].strip() == "":
            break
        if expect_term:
            match = _TERM.match(side, pos)
            if not match or match.end() == pos:
                if _FRACTIONAL_COUNT.match(side, pos):
                    start = offset + pos + (len(side[pos:]) - len(side[pos:].lstrip()))
                    raise ModelError(f"reaction {full!r}: stoichiometry must be a whole number (molecules "
                                     "react whole); scale the equation, e.g. '0.5 A -> B' as 'A -> 2 B'"
                                     + _pointer(full, start))
                raise ModelError(
                    f"reaction {full!r}: expected a species name at position {offset + pos}"
                    + _pointer(full, offset + pos + (len(side[pos:]) - len(side[pos:].lstrip())))
                )
            count_text, name, loc, last = match.groups()
            if last is not None:  # channel state with a location: "Na.m3h1.s"
                name, loc = f"{name}.{loc}", last
            elif loc is not None and loc not in _LOCATIONS and len(loc) > 1:  # channel state, no location
                name, loc = f"{name}.{loc}", None
            count = int(count_text) if count_text else 1
            if count == 0:
                raise ModelError(f"reaction {full!r}: a stoichiometric count of 0 for {name!r} makes no sense"
                                 + _pointer(full, offset + match.start(1)))
            location = None
            if loc is not None:
                if loc not in _LOCATIONS:
                    raise ModelError(
                        f"reaction {full!r}: unknown location '.{loc}' on {name!r}; use .s (surface), "
                        ".i (inner volume) or .o (outer volume)"
                        + _pointer(full, offset + match.start(3) - 1)
                    )
                location = _LOCATIONS[loc]
            key = (name, location)
            counts[key] = counts.get(key, 0) + count
            pos = match.end()
            expect_term = False
        else:
            while pos < len(side) and side[pos].isspace():
                pos += 1
            if side[pos] != "+":
                raise ModelError(f"reaction {full!r}: expected '+' or the arrow at position {offset + pos}"
                                 + _pointer(full, offset + pos))
            pos += 1
            expect_term = True
    if expect_term:
        raise ModelError(
            f"reaction {full!r}: a '+' is not followed by a species" + _pointer(full, offset + len(side))
        )
    return tuple(Term(name, loc, c) for (name, loc), c in counts.items())


def parse_reaction(text: str) -> ParsedReaction:
    """Parse ``"A + 2 B -> C"``, ``"A <-> B"``, ``"-> A"``, ``"A ->"`` and surface forms.

    Raises :class:`ModelError` showing the position of the first problem.

    Examples
    --------
    >>> parse_reaction("2 A + B <-> C").reactants[0]
    Term(name='A', location=None, count=2)
    """
    if not isinstance(text, str):
        raise ModelError(f"a reaction is written as a string such as 'A + B -> C', got {text!r}")
    arrows = [(m.start(), m.group()) for m in re.finditer(r"<->|<=>|->|=>|<-", text)]
    if not arrows:
        raise ModelError(f"reaction {text!r}: no arrow; write '->' (irreversible) or '<->' (reversible)")
    if len(arrows) > 1:
        raise ModelError(f"reaction {text!r}: more than one arrow" + _pointer(text, arrows[1][0]))
    start, arrow = arrows[0]
    if arrow == "<-":
        raise ModelError(
            f"reaction {text!r}: write reactions left to right with '->' or '<->'" + _pointer(text, start)
        )
    reversible = arrow in ("<->", "<=>")
    left, right = text[:start], text[start + len(arrow):]
    reactants = _parse_side(text, left, 0, text)
    products = _parse_side(text, right, start + len(arrow), text)
    if not reactants and not products:
        raise ModelError(f"reaction {text!r} has no species on either side")
    return ParsedReaction(reactants, products, reversible)
