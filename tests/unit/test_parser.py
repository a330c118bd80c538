"""Tier 0: the reaction-equation parser (every stoichiometry and order, arrows, locations, errors)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tetrasim.errors import ModelError
from tetrasim.model.parser import Term, parse_reaction


def _side(terms):
    return {(t.name, t.location): t.count for t in terms}


@pytest.mark.parametrize(
    ("text", "reactants", "products", "reversible"),
    [
        ("A -> B", {("A", None): 1}, {("B", None): 1}, False),
        ("A->B", {("A", None): 1}, {("B", None): 1}, False),
        ("A ->", {("A", None): 1}, {}, False),
        ("-> A", {}, {("A", None): 1}, False),
        ("->A", {}, {("A", None): 1}, False),
        ("A -> 0", {("A", None): 1}, {}, False),
        ("A -> ∅", {("A", None): 1}, {}, False),
        ("0 -> A", {}, {("A", None): 1}, False),
        ("2 A -> C", {("A", None): 2}, {("C", None): 1}, False),
        ("2A -> C", {("A", None): 2}, {("C", None): 1}, False),
        ("2*A -> C", {("A", None): 2}, {("C", None): 1}, False),
        ("2 * A -> C", {("A", None): 2}, {("C", None): 1}, False),
        ("A + A -> C", {("A", None): 2}, {("C", None): 1}, False),
        ("A + B -> C", {("A", None): 1, ("B", None): 1}, {("C", None): 1}, False),
        ("3 A -> C", {("A", None): 3}, {("C", None): 1}, False),
        ("A + 2 B -> 3 C + D", {("A", None): 1, ("B", None): 2}, {("C", None): 3, ("D", None): 1}, False),
        ("A + B + C + D + E -> F", {(n, None): 1 for n in "ABCDE"}, {("F", None): 1}, False),
        ("12 A -> B", {("A", None): 12}, {("B", None): 1}, False),
        ("A -> A + B", {("A", None): 1}, {("A", None): 1, ("B", None): 1}, False),  # catalyst
        ("Ca + Buf <-> CaBuf", {("Ca", None): 1, ("Buf", None): 1}, {("CaBuf", None): 1}, True),
        ("A <=> B", {("A", None): 1}, {("B", None): 1}, True),
        ("A => B", {("A", None): 1}, {("B", None): 1}, False),
        ("ca_2 + X9 -> _y", {("ca_2", None): 1, ("X9", None): 1}, {("_y", None): 1}, False),
        ("   A   +   B   ->   C   ", {("A", None): 1, ("B", None): 1}, {("C", None): 1}, False),
    ],
)
def test_volume_forms(text, reactants, products, reversible):
    parsed = parse_reaction(text)
    assert _side(parsed.reactants) == reactants
    assert _side(parsed.products) == products
    assert parsed.reversible is reversible


@pytest.mark.parametrize(
    ("text", "reactants", "products"),
    [
        (
            "Pump.s + Ca.i -> CaPump.s",
            {("Pump", "surface"): 1, ("Ca", "inner"): 1},
            {("CaPump", "surface"): 1},
        ),
        ("R.s + L.o <-> RL.s", {("R", "surface"): 1, ("L", "outer"): 1}, {("RL", "surface"): 1}),
        ("A.s + B.s -> C.s", {("A", "surface"): 1, ("B", "surface"): 1}, {("C", "surface"): 1}),
        ("2 A.s -> C.s", {("A", "surface"): 2}, {("C", "surface"): 1}),
        ("Ca.o -> Ca.i", {("Ca", "outer"): 1}, {("Ca", "inner"): 1}),
        ("-> A.s", {}, {("A", "surface"): 1}),
        ("A.s ->", {("A", "surface"): 1}, {}),
        # the same name at two locations is two terms
        ("Ca.i + Ca.s -> Ca.o", {("Ca", "inner"): 1, ("Ca", "surface"): 1}, {("Ca", "outer"): 1}),
    ],
)
def test_surface_locations(text, reactants, products):
    parsed = parse_reaction(text)
    assert _side(parsed.reactants) == reactants
    assert _side(parsed.products) == products


def test_term_is_a_small_value_object():
    assert parse_reaction("2 A + B <-> C").reactants[0] == Term("A", None, 2)


def _caret_column(message: str) -> int:
    """Column of the ``^`` under the echoed equation, relative to the equation's first character."""
    lines = message.splitlines()
    caret_line = lines[-1]
    equation_line = lines[-2]
    indent = len(equation_line) - len(equation_line.lstrip(" "))
    return caret_line.index("^") - indent


@pytest.mark.parametrize(
    ("text", "match", "column"),
    [
        ("A + -> B", "'\\+' is not followed by a species", 4),
        ("A B -> C", "expected '\\+' or the arrow at position 2", 2),
        ("A -> B C", "expected '\\+' or the arrow at position 7", 7),
        ("A -> B -> C", "more than one arrow", 7),
        ("A <- B", "left to right", 2),
        ("A.x -> B", "unknown location '.x'", 1),
        ("0 A -> B", "stoichiometric count of 0", 0),
        ("A + 3 -> B", "expected a species name at position 3", 4),
        ("A -> + B", "expected a species name at position 4", 5),
        ("A -> B +", "'\\+' is not followed by a species", 8),
    ],
)
def test_errors_show_the_position(text, match, column):
    with pytest.raises(ModelError, match=match) as info:
        parse_reaction(text)
    message = str(info.value)
    assert text in message
    assert _caret_column(message) == column, message


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("A + B", "no arrow"),
        ("", "no arrow"),
        ("->", "no species on either side"),
        (" <-> ", "no species on either side"),
    ],
)
def test_errors_without_position(text, match):
    with pytest.raises(ModelError, match=match):
        parse_reaction(text)


@pytest.mark.parametrize("bad", [None, 3, b"A -> B", ["A", "->", "B"]])
def test_non_string_equations(bad):
    with pytest.raises(ModelError, match="string"):
        parse_reaction(bad)


_NAMES = st.sampled_from(["A", "B", "Ca", "CaBuf", "x_1"])
_SIDE = st.lists(st.tuples(st.integers(1, 6), _NAMES), min_size=0, max_size=5)


@given(_SIDE, _SIDE, st.booleans())
def test_round_trip_of_generated_equations(left, right, reversible):
    """Any generated equation parses to the summed stoichiometry it was written from."""
    if not left and not right:
        return
    text = " + ".join(f"{n} {name}" if n > 1 else name for n, name in left)
    text += " <-> " if reversible else " -> "
    text += " + ".join(f"{n} {name}" if n > 1 else name for n, name in right)
    parsed = parse_reaction(text)

    def total(side):
        out = {}
        for n, name in side:
            out[(name, None)] = out.get((name, None), 0) + n
        return out

    assert _side(parsed.reactants) == total(left)
    assert _side(parsed.products) == total(right)
    assert parsed.reversible is reversible
