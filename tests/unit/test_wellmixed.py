"""Tier 0: the well-mixed geometry (compartments with a volume, patches with an area)."""

import math

import pytest

import tetrasim as ts
from tetrasim.errors import GeometryError, TetrasimError, UnitError


def test_design_example():
    geom = ts.WellMixed()
    cyto = geom.compartment("cyto", volume=1e-18, systems=["cyt"])
    memb = geom.patch("memb", area=1e-12, inner="cyto", systems=["pm"])
    assert cyto.volume == 1e-18 and cyto.systems == ["cyt"]
    assert memb.area == 1e-12 and memb.inner == "cyto" and memb.outer is None and memb.systems == ["pm"]
    assert list(geom.compartments) == ["cyto"] and list(geom.patches) == ["memb"]
    assert geom.is_mesh is False
    assert repr(geom) == "WellMixed(compartments=['cyto'], patches=['memb'])"


def test_quantities_and_system_forms():
    model = ts.Model()
    model.species("A")
    cyt = model.volume_system("cyt")
    geom = ts.WellMixed()
    assert geom.compartment("a", volume=ts.Q("1 um^3"), systems="cyt").volume == pytest.approx(1e-18)
    assert geom.compartment("b", volume="2 um^3", systems=[cyt]).systems == ["cyt"]  # system objects
    assert geom.compartment("c", volume=1e-18).systems == []
    assert geom.patch("p", area=ts.Q("10 um^2"), inner="a", outer="b").area == pytest.approx(1e-11)


@pytest.mark.parametrize("bad", [0, -1e-18, math.nan, math.inf])
def test_volume_must_be_positive_and_finite(bad):
    # non-finite numbers are rejected by to_si (UnitError), non-positive ones by the geometry
    with pytest.raises((GeometryError, UnitError), match="volume of compartment 'c'"):
        ts.WellMixed().compartment("c", volume=bad)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan])
def test_area_must_be_positive_and_finite(bad):
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18)
    with pytest.raises((GeometryError, UnitError), match="area of patch 'p'"):
        geom.patch("p", area=bad, inner="c")


def test_wrong_dimensions_raise_unit_error():
    geom = ts.WellMixed()
    with pytest.raises(UnitError, match="volume of compartment 'c'"):
        geom.compartment("c", volume=ts.Q("1 um^2"))
    geom.compartment("c", volume=1e-18)
    with pytest.raises(UnitError, match="area of patch 'p'"):
        geom.patch("p", area=ts.Q("1 um^3"), inner="c")
    with pytest.raises(UnitError, match="volume of compartment 'd'"):
        geom.compartment("d", volume="big")


def test_patch_compartments_must_exist_with_a_suggestion():
    geom = ts.WellMixed()
    geom.compartment("cyto", volume=1e-18)
    with pytest.raises(GeometryError, match="inner compartment 'cyt' does not exist.*did you mean 'cyto'"):
        geom.patch("memb", area=1e-12, inner="cyt")
    with pytest.raises(GeometryError, match="outer compartment 'ecs'"):
        geom.patch("memb", area=1e-12, inner="cyto", outer="ecs")
    with pytest.raises(GeometryError, match="needs an inner compartment"):
        geom.patch("memb", area=1e-12, inner=None)
    with pytest.raises(GeometryError, match="both 'cyto'"):
        geom.patch("memb", area=1e-12, inner="cyto", outer="cyto")


def test_names_are_unique_identifiers():
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18)
    with pytest.raises(GeometryError, match="already has"):
        geom.compartment("c", volume=1e-18)
    with pytest.raises(GeometryError, match="already has"):
        geom.patch("c", area=1e-12, inner="c")
    for bad in ("1c", "a b", "", None):
        with pytest.raises(GeometryError, match="identifier"):
            geom.compartment(bad, volume=1e-18)


def test_bad_system_lists():
    with pytest.raises(GeometryError, match="systems must be names"):
        ts.WellMixed().compartment("c", volume=1e-18, systems=[3])


def test_every_error_is_a_tetrasim_error():
    geom = ts.WellMixed()
    for call in (
        lambda: geom.compartment("c", volume=None),
        lambda: geom.compartment("c", volume=[1, 2]),
        lambda: geom.compartment("c", volume={"v": 1}),
    ):
        with pytest.raises(TetrasimError):
            call()
