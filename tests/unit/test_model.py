"""Tier 0: the model language — species, systems, reactions, diffusion — and its errors.

One test per error class of the model layer (DESIGN.md §6): every message names the object,
its definition site, the value and what to do.
"""

import math
import os
import warnings

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.errors import ModelError, ModelWarning, TetrasimError, UnitError

HERE = os.path.basename(__file__)


@pytest.fixture
def model():
    m = ts.Model()
    m.species("Ca", "Buf", "CaBuf", "Pump", "CaPump", "L", "R", "RL")
    return m


# ---------------------------------------------------------------------- the happy path
def test_design_example(model):
    cyt = model.volume_system("cyt")
    reaction = cyt.reaction("Ca + Buf <-> CaBuf", kf=1e8, kb=100)
    assert reaction.kf == 1e8 and reaction.kb == 100
    assert reaction.reversible and reaction.order == 2 and reaction.backward_order == 1
    rule = cyt.diffusion("Ca", 220e-12)
    assert rule.coefficient == 220e-12 and not rule.surface
    pm = model.surface_system("pm")
    pump = pm.reaction("Pump.s + Ca.i -> CaPump.s", kf=3e9)
    assert pump.surface and not pump.reversible and pump.kb is None
    assert pm.diffusion("Pump", 1e-13).surface
    assert [r.name for r in model.reactions()] == ["cyt_r0", "pm_r0"]
    assert set(model.systems) == {"cyt", "pm"}
    assert model.system("pm") is pm


def test_species_returns_one_or_a_tuple():
    m = ts.Model()
    a = m.species("A")
    assert isinstance(a, ts.model.Species) and str(a) == "A"
    b, c = m.species("B", "C")
    assert (b.name, c.name) == ("B", "C")
    d = m.species("D", valence=2)
    assert d.valence == 2
    a.valence = -1
    assert m.get_species("A").valence == -1
    assert m.species_names == ["A", "B", "C", "D"]


def test_species_objects_are_accepted_where_names_are(model):
    ca = model.get_species("Ca")
    cyt = model.volume_system("cyt")
    assert cyt.diffusion(ca, 1e-12).species == "Ca"


def test_quantities_are_converted_once_to_steps_units(model):
    cyt = model.volume_system("cyt")
    r = cyt.reaction("Ca + Buf <-> CaBuf", kf=ts.Q("1e5 /mM/s"), kb=ts.Q("100 /s"))
    assert r.kf == pytest.approx(1e8) and r.kb == pytest.approx(100)
    assert cyt.diffusion("Ca", ts.Q("220 um^2/s")).coefficient == pytest.approx(2.2e-10)
    zero = cyt.reaction("-> Buf", kf=ts.Q("1 uM/s"))
    assert zero.kf == pytest.approx(1e-6)
    third = cyt.reaction("3 L -> R", kf=ts.Q("1e12 M^-2 s^-1"))
    assert third.kf == pytest.approx(1e12)
    pm = model.surface_system("pm")
    surf = pm.reaction("R.s + L.s -> RL.s", kf=ts.Q("1e11 m^2/mol/s"))
    assert surf.kf == pytest.approx(1e11)
    mixed = pm.reaction("R.s + Ca.i -> RL.s", kf=ts.Q("1e8 /M/s"))  # a volume reactant: molar units
    assert mixed.kf == pytest.approx(1e8)


def test_any_order_is_accepted(model):
    cyt = model.volume_system("cyt")
    r = cyt.reaction("7 Ca -> CaBuf", kf=1.0)
    assert r.order == 7


def test_rate_zero_is_legal(model):
    assert model.volume_system("cyt").reaction("Ca ->", kf=0).kf == 0.0


def test_hash_is_stable_and_tracks_parameters():
    def build(k):
        m = ts.Model()
        m.species("A", "B")
        m.volume_system("v").reaction("A -> B", kf=k)
        return m

    assert build(1.0).hash() == build(1.0).hash()
    assert build(1.0).hash() != build(2.0).hash()
    assert len(build(1.0).hash()) == 16


def test_reprs(model):
    cyt = model.volume_system("cyt")
    r = cyt.reaction("Ca ->", kf=1, name="leak")
    assert repr(r) == "Reaction('leak': 'Ca ->')"
    assert "VolumeSystem('cyt', 1 reactions" in repr(cyt)
    assert repr(model) == "Model(8 species, 1 systems)"


# ---------------------------------------------------------------------- errors
def test_unknown_species_suggests_the_close_name(model):
    cyt = model.volume_system("cyt")
    with pytest.raises(ModelError) as info:
        cyt.reaction("Ca + Buf <-> CaBfu", kf=1e8, kb=100)
    message = str(info.value)
    assert "did you mean 'CaBuf'?" in message
    assert "'CaBfu'" in message and "'cyt'" in message
    assert f"{HERE}:" in message  # the definition site is the user's line
    assert "model.species('CaBfu')" in message  # what to do


def test_unknown_species_in_diffusion(model):
    with pytest.raises(ModelError, match="did you mean 'Ca'"):
        model.volume_system("cyt").diffusion("Caa", 1e-12)


def test_unknown_species_lookup(model):
    with pytest.raises(ModelError, match="did you mean 'Pump'"):
        model.get_species("Pmup")
    with pytest.raises(ModelError, match="unknown system"):
        model.system("nope")


def test_duplicate_species(model):
    with pytest.raises(ModelError, match="already declared") as info:
        model.species("Ca")
    assert f"{HERE}:" in str(info.value)
    with pytest.raises(ModelError, match="already declared"):
        ts.Model().species("X", "X")


def test_duplicate_system_and_name_clashes(model):
    model.volume_system("cyt")
    with pytest.raises(ModelError, match="already used"):
        model.volume_system("cyt")
    with pytest.raises(ModelError, match="already used"):
        model.surface_system("cyt")
    with pytest.raises(ModelError, match="already used"):
        model.volume_system("Ca")
    with pytest.raises(ModelError, match="already the name of a system"):
        model.species("cyt")


def test_duplicate_reaction_and_diffusion_names(model):
    cyt = model.volume_system("cyt")
    cyt.reaction("Ca ->", kf=1, name="leak")
    with pytest.raises(ModelError, match="already has a reaction named 'leak'"):
        cyt.reaction("Buf ->", kf=1, name="leak")
    other = model.volume_system("other")
    with pytest.raises(ModelError, match="already used"):  # names are model-wide
        other.reaction("Buf ->", kf=1, name="leak")
    cyt.diffusion("Ca", 1e-12)
    with pytest.raises(ModelError, match="already diffuses"):
        cyt.diffusion("Ca", 2e-12)


@pytest.mark.parametrize("bad", ["2A", "a b", "", None, 3, "x-y"])
def test_names_must_be_identifiers(bad):
    with pytest.raises(ModelError, match="identifier"):
        ts.Model().species(bad)
    with pytest.raises(ModelError, match="identifier"):
        ts.Model().volume_system(bad)


def test_species_needs_a_name():
    with pytest.raises(ModelError, match="at least one name"):
        ts.Model().species()


@pytest.mark.parametrize("bad", [-1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_negative_or_non_finite_rates(model, bad):
    cyt = model.volume_system("cyt")
    with pytest.raises(TetrasimError) as info:
        cyt.reaction("Ca + Buf -> CaBuf", kf=bad)
    assert isinstance(info.value, (ModelError, UnitError))
    assert "kf" in str(info.value)
    with pytest.raises(TetrasimError) as info:
        cyt.reaction("Ca + Buf <-> CaBuf", kf=1.0, kb=bad)
    assert "kb" in str(info.value)


def test_negative_rate_is_a_model_error_with_the_value(model):
    with pytest.raises(ModelError, match=r"kf of 'Ca ->' = -5.*finite and >= 0"):
        model.volume_system("cyt").reaction("Ca ->", kf=-5)


@pytest.mark.parametrize("bad", ["fast", None, [1, 2], object()])
def test_rates_that_are_not_numbers(model, bad):
    with pytest.raises(UnitError, match="kf"):
        model.volume_system("cyt").reaction("Ca ->", kf=bad)


def test_bad_syntax_shows_the_position(model):
    with pytest.raises(ModelError) as info:
        model.volume_system("cyt").reaction("Ca + + Buf -> CaBuf", kf=1)
    message = str(info.value)
    assert "position 4" in message
    assert message.splitlines()[-1].strip() == "^"
    assert message.splitlines()[-1].index("^") - 4 == 5  # 4 spaces of indent + column 5


def test_reversibility_and_kb_must_agree(model):
    cyt = model.volume_system("cyt")
    with pytest.raises(ModelError, match="needs a backward rate kb="):
        cyt.reaction("Ca <-> Buf", kf=1)
    with pytest.raises(ModelError, match="irreversible"):
        cyt.reaction("Ca -> Buf", kf=1, kb=2)


def test_volume_reactants_on_both_sides_of_a_membrane(model):
    pm = model.surface_system("pm")
    with pytest.raises(ModelError, match="both sides of the membrane"):
        pm.reaction("Pump.s + Ca.i + L.o -> CaPump.s", kf=1)
    with pytest.raises(ModelError, match="backward reaction would have volume reactants on both sides"):
        pm.reaction("CaPump.s <-> Ca.i + L.o", kf=1, kb=1)
    # one-way transport from one side to the other is fine
    pm.reaction("Ca.o + Pump.s -> Ca.i + Pump.s", kf=1)


def test_locations_belong_to_surface_systems(model):
    with pytest.raises(ModelError, match="drop the location suffix"):
        model.volume_system("cyt").reaction("Ca.i -> Buf", kf=1)
    with pytest.raises(ModelError, match=r"Pump.s \(on the membrane\)"):
        model.surface_system("pm").reaction("Pump + Ca.i -> CaPump.s", kf=1)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"kf": ts.Q("1e8 um^2/s")}, "kf"),
        ({"kf": ts.Q("5 /s")}, "kf"),  # second order needs /M/s
        ({"kf": ts.Q("1e8 /M/s"), "kb": ts.Q("1 M/s")}, "kb"),
    ],
)
def test_wrong_dimension_rates_raise_unit_error(model, kwargs, parameter):
    equation = "Ca + Buf <-> CaBuf" if "kb" in kwargs else "Ca + Buf -> CaBuf"
    with pytest.raises(UnitError) as info:
        model.volume_system("cyt").reaction(equation, **kwargs)
    message = str(info.value)
    assert parameter in message and "expected" in message and f"{HERE}:" in message


def test_surface_only_rates_are_per_area(model):
    pm = model.surface_system("pm")
    with pytest.raises(UnitError, match="expected"):
        pm.reaction("R.s + L.s -> RL.s", kf=ts.Q("1e8 /M/s"))


def test_wrong_dimension_diffusion_coefficient(model):
    with pytest.raises(UnitError, match="diffusion coefficient of Ca"):
        model.volume_system("cyt").diffusion("Ca", ts.Q("1 /s"))


@pytest.mark.parametrize("bad", [-1e-12, math.nan, math.inf])
def test_bad_diffusion_coefficient(model, bad):
    with pytest.raises(TetrasimError, match="diffusion coefficient of Ca"):
        model.volume_system("cyt").diffusion("Ca", bad)


def test_implausible_diffusion_coefficient_warns_at_the_user_line(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.volume_system("cyt").diffusion("Ca", 220.0)  # um^2/s written as m^2/s
    assert len(caught) == 1 and caught[0].category is ModelWarning
    assert "1e-16..1e-7" in str(caught[0].message)
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.volume_system("other").diffusion("Ca", 0.0)  # zero is legal and silent


def test_errors_never_leak_numpy_exceptions(model):
    cyt = model.volume_system("cyt")
    for bad in (np.array([1.0, 2.0]), "1e8 per second", {"k": 1}):
        with pytest.raises(TetrasimError):
            cyt.reaction("Ca ->", kf=bad)
