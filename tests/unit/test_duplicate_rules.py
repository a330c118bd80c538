"""Issue 14 item 8: a rule that would act twice at one location is refused, naming both sites.

Before the fix each copy became its own process and the rate silently doubled (in opsplit the
two diffusion processes of one pool also drew the same random numbers).
"""

from __future__ import annotations

import pytest

import tetrasim as ts
from gridmesh import grid_mesh


def two_systems(first, second):
    model = ts.Model()
    model.species("A", "B")
    first(model.volume_system("v1"))
    second(model.volume_system("v2"))
    return model


def mesh_geom(systems):
    geom = ts.MeshGeometry(grid_mesh(2, 1, 1, 0.5e-6))
    geom.compartment("cyto", systems=systems)
    return geom


def test_same_diffusion_rule_in_two_systems_names_both_sites():
    model = two_systems(lambda v: v.diffusion("A", 1e-12), lambda v: v.diffusion("A", 1e-12))
    with pytest.raises(ts.ModelError, match="diffuses twice") as caught:
        ts.compile_system(model, mesh_geom(["v1", "v2"]))
    message = str(caught.value)
    assert message.count("test_duplicate_rules.py:") == 2 and "'v1'" in message and "'v2'" in message


def test_a_system_listed_twice_is_refused():
    model = two_systems(lambda v: v.diffusion("A", 1e-12), lambda v: None)
    with pytest.raises(ts.ModelError, match="lists system 'v1' twice"):
        ts.Simulation(model, mesh_geom(["v1", "v1"]), solver="opsplit", seed=1)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v1", "v1"])
    with pytest.raises(ts.ModelError, match="twice"):
        ts.compile_system(model, geom)


@pytest.mark.parametrize("second", ["A -> B", "B <-> A"])
def test_duplicate_reaction_across_systems(second):
    kb = {"kb": 1.0} if "<->" in second else {}
    model = two_systems(lambda v: v.reaction("A -> B", kf=1.0), lambda v: v.reaction(second, kf=1.0, **kb))
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v1", "v2"])
    with pytest.raises(ts.ModelError, match="appears twice") as caught:
        ts.compile_system(model, geom)
    assert str(caught.value).count("test_duplicate_rules.py:") == 2


def test_duplicate_reaction_in_one_system():
    model = ts.Model()
    model.species("A", "B")
    v = model.volume_system("v")
    v.reaction("A -> B", kf=1.0)
    v.reaction("A -> B", kf=2.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    with pytest.raises(ts.ModelError, match="summed rate"):
        ts.Simulation(model, geom, solver="wm-ssa", seed=1)


def test_distinct_rules_in_two_compartments_are_fine():
    model = two_systems(lambda v: v.diffusion("A", 1e-12), lambda v: v.diffusion("A", 2e-12))
    geom = ts.MeshGeometry(grid_mesh(2, 1, 1, 0.5e-6))
    geom.compartment("left", tets=list(range(6)), systems=["v1"])
    geom.compartment("right", tets=list(range(6, 12)), systems=["v2"])
    compiled = ts.compile_system(model, geom)
    assert len(compiled.diffusion_rules) == 2
    # a reaction and its reverse written as two irreversible reactions is not a duplicate
    model = two_systems(lambda v: v.reaction("A -> B", kf=1.0), lambda v: v.reaction("B -> A", kf=1.0))
    wm = ts.WellMixed()
    wm.compartment("c", volume=1e-18, systems=["v1", "v2"])
    assert len(ts.compile_system(model, wm).reaction_rules) == 2
