"""Tier 0: the quantity parser ``Q``, ``to_si`` and the STEPS unit conventions (DESIGN.md §3)."""

import math

import pytest

import tetrasim as ts
from tetrasim.errors import TetrasimError, UnitError
from tetrasim.units import AVOGADRO, DIMS, Q, Quantity, rate_dims, to_si


@pytest.mark.parametrize(
    ("text", "si", "dims"),
    [
        ("220 um^2/s", 2.2e-10, "diffusion coefficient"),
        ("220 um**2/s", 2.2e-10, "diffusion coefficient"),
        ("9 µm^2/s", 9e-12, "diffusion coefficient"),
        ("9 μm^2 / s", 9e-12, "diffusion coefficient"),
        ("1 um^3", 1e-18, "volume"),
        ("10 um^2", 1e-11, "area"),
        ("2 nm", 2e-9, "length"),
        ("1 L", 1e-3, "volume"),
        ("5 ms", 5e-3, "time"),
        ("2 min", 120.0, "time"),
        ("1 h", 3600.0, "time"),
        ("-65 mV", -0.065, "potential"),
        ("0.01 F/m^2", 0.01, "capacitance per area"),
        ("1 uF/cm^2", 0.01, "capacitance per area"),
        ("1 Ohm m", 1.0, "resistivity"),
        ("4 ohm m^2", 4.0, "specific membrane resistance"),
        ("0.1 nA", 1e-10, "current"),
        ("25 nS", 25e-9, "conductance"),
        (".5 s", 0.5, "time"),
        ("1e-3 s", 1e-3, "time"),
        ("3 dimensionless_missing_unit", None, None),
    ],
)
def test_q_parses_si_value_and_dimensions(text, si, dims):
    if si is None:
        with pytest.raises(UnitError, match="unknown unit"):
            Q(text)
        return
    quantity = Q(text)
    assert isinstance(quantity, Quantity)
    assert quantity.si_value == pytest.approx(si, rel=1e-12)
    assert quantity.dims == DIMS[dims]
    assert text in repr(quantity)


@pytest.mark.parametrize(
    ("text", "expected", "molar"),
    [
        ("25 uM", 2.5e-5, "concentration"),
        ("1 mM", 1e-3, "concentration"),
        ("1 mol/m^3", 1e-3, "concentration"),  # 1 mol/m^3 = 1 mM
        ("3 nM", 3e-9, "concentration"),
    ],
)
def test_concentrations_come_back_molar(text, expected, molar):
    assert to_si(Q(text), molar, "c") == pytest.approx(expected, rel=1e-12)
    assert to_si(text, molar, "c") == pytest.approx(expected, rel=1e-12)  # a string is parsed too


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("1e-3 M/s", 0, 1e-3),  # zero order: M/s
        ("5 /s", 1, 5.0),
        ("5 Hz", 1, 5.0),
        ("1e8 /M/s", 2, 1e8),
        ("1e8 M^-1 s^-1", 2, 1e8),
        ("1e5 /mM/s", 2, 1e8),
        ("1e12 M^-2 s^-1", 3, 1e12),
        ("1e-6 /uM^2/s", 3, 1e6),
        ("1e12 /M^4/s", 5, 1e12),
    ],
)
def test_rate_constants_follow_steps_molar_convention(text, order, expected):
    assert to_si(Q(text), rate_dims(order), "k") == pytest.approx(expected, rel=1e-12)


def test_surface_rate_constants_are_per_mol_per_m2():
    # second-order surface-only rate: (mol/m^2)^-1 s^-1, no molar conversion
    assert to_si(Q("1e11 m^2/mol/s"), rate_dims(2, surface_only=True), "k") == pytest.approx(1e11)
    assert to_si(Q("1e23 um^2/mol/s"), rate_dims(2, surface_only=True), "k") == pytest.approx(1e11)
    with pytest.raises(UnitError):
        to_si(Q("1e8 /M/s"), rate_dims(2, surface_only=True), "k")


def test_molecules_unit_counts_particles():
    assert Q("602214076 molecules").si_value == pytest.approx(602214076 / AVOGADRO)


def test_bare_numbers_pass_through_unchanged():
    assert to_si(5, "time", "t") == 5.0
    assert to_si(2.5e-10, "diffusion coefficient", "D") == 2.5e-10
    assert to_si(True, None, "flag") == 1.0
    import numpy as np

    assert to_si(np.float32(0.5), "time", "t") == 0.5
    assert to_si(np.int64(3), "time", "t") == 3.0


def test_expected_none_skips_the_dimension_check():
    assert to_si(Q("3 um"), None, "x") == pytest.approx(3e-6)


@pytest.mark.parametrize(
    ("value", "expected", "name"),
    [
        (Q("1 um^2/s"), "time", "run time"),
        (Q("1 s"), "diffusion coefficient", "diffusion coefficient of Ca"),
        ("25 uM", "volume", "volume of cyto"),
        (Q("1 /s"), rate_dims(2), "kf"),
    ],
)
def test_wrong_dimensions_raise_unit_error_naming_parameter(value, expected, name):
    with pytest.raises(UnitError) as info:
        to_si(value, expected, name)
    message = str(info.value)
    assert name in message
    assert "expected" in message


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -math.inf, "nan s", None, object(), [1, 2], "x", ""]
)
def test_non_numbers_and_non_finite_raise_unit_error(bad):
    with pytest.raises(UnitError):
        to_si(bad, "time", "t_end")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("um", "cannot read a number"),
        ("", "cannot read a number"),
        ("1 furlong", "unknown unit"),
        ("1 uMM", "unknown unit"),
        ("1 um^2 $", "position"),
        ("1 um ^ x", "position"),
    ],
)
def test_q_errors(text, match):
    with pytest.raises(UnitError, match=match):
        Q(text)


def test_q_rejects_non_strings():
    with pytest.raises(UnitError, match="string"):
        Q(5)


def test_q_unknown_unit_suggests_a_close_one():
    with pytest.raises(UnitError, match="did you mean 'mol'"):
        Q("1 mole")


def test_q_position_points_at_the_bad_character():
    with pytest.raises(UnitError) as info:
        Q("1 um^2 $")
    assert "position 7" in str(info.value)


def test_unit_error_is_a_value_error_and_a_tetrasim_error():
    with pytest.raises(ValueError):
        Q("1 furlong")
    with pytest.raises(TetrasimError):
        Q("1 furlong")


def test_q_is_exported():
    assert ts.Q is Q


# ---------------------------------------------------------------------- pint duck typing
class _FakeDimensionality(dict):
    pass


class _FakePint:
    """Quacks like a pint Quantity: ``to_base_units()``, ``magnitude``, ``dimensionality``."""

    def __init__(self, magnitude, dimensionality):
        self.magnitude = magnitude
        self.dimensionality = _FakeDimensionality(dimensionality)

    def to_base_units(self):
        return self

    def __str__(self):
        return f"{self.magnitude} (fake pint)"


def test_duck_typed_pint_quantity_without_pint():
    d = _FakePint(2.2e-10, {"[length]": 2, "[time]": -1})
    assert to_si(d, "diffusion coefficient", "D") == pytest.approx(2.2e-10)
    conc = _FakePint(0.025, {"[substance]": 1, "[length]": -3})  # 0.025 mol/m^3 = 25 uM
    assert to_si(conc, "concentration", "c") == pytest.approx(2.5e-5)
    with pytest.raises(UnitError, match="D"):
        to_si(_FakePint(1.0, {"[time]": 1}), "diffusion coefficient", "D")
    with pytest.raises(UnitError, match="luminosity"):
        to_si(_FakePint(1.0, {"[luminosity]": 1}), None, "x")


def test_pint_quantities_if_pint_is_installed():
    pint = pytest.importorskip("pint")
    ureg = pint.UnitRegistry()
    assert to_si(220 * ureg("um**2/s"), "diffusion coefficient", "D") == pytest.approx(2.2e-10)
    assert to_si(25 * ureg.micromolar, "concentration", "c") == pytest.approx(2.5e-5)
    assert to_si(1e8 / ureg.molar / ureg.second, rate_dims(2), "kf") == pytest.approx(1e8)
    assert to_si(10 * ureg("um**2"), "area", "area") == pytest.approx(1e-11)
    with pytest.raises(UnitError, match="volume of c"):
        to_si(1 * ureg.second, "volume", "volume of c")
