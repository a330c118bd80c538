"""Tier 0: compile_system on well-mixed geometries — CSR contents, mesoscopic constants, dependencies.

Count-based constants (DESIGN.md §3): c = k (1e3 V N_A)^(1 - order) for volume reactions and
surface reactions with a volume reactant (V of that compartment), c = k (N_A A)^(1 - order)
for surface reactions whose reactants are all on the surface; propensity c Π n(n-1)...(n-ν+1).
"""

import math

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.errors import CompileError, TetrasimError
from tetrasim.kernels.ssa import propensities
from tetrasim.units import AVOGADRO

V = 1e-18
AREA = 1e-12


@pytest.fixture
def system():
    m = ts.Model()
    m.species("A", "B", "C", "S", "T", "U")
    v = m.volume_system("v")
    v.reaction("A + B <-> C", kf=1e8, kb=2.0)  # processes 0 (forward), 1 (backward)
    v.reaction("2 A -> B", kf=1e7)  # 2
    v.reaction("-> A", kf=1e-6)  # 3
    s = m.surface_system("s")
    s.reaction("S.s + T.s -> U.s", kf=1e11)  # 4, surface only
    s.reaction("S.s + A.i -> U.s", kf=1e8)  # 5, with a volume reactant
    s.reaction("-> S.s", kf=1e-9)  # 6, zero order on the surface
    g = ts.WellMixed()
    g.compartment("c", volume=V, systems=["v"])
    g.patch("p", area=AREA, inner="c", systems=["s"])
    return m, g, ts.compile_system(m, g)


def _pool(element, species):
    return element * 6 + "ABCSTU".index(species)


def test_layout(system):
    _, _, c = system
    assert c.species_names == ("A", "B", "C", "S", "T", "U")
    assert (c.n_volume, c.n_surface, c.n_elements, c.n_species, c.n_pools) == (1, 1, 2, 6, 12)
    np.testing.assert_array_equal(c.measure, [V, AREA])
    np.testing.assert_array_equal(c.present, [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(c.compartment_elements["c"], [0])
    np.testing.assert_array_equal(c.patch_elements["p"], [1])
    assert c.n_reactions == 7 and c.n_diffusions == 0  # well-mixed: no diffusion processes
    assert [r.name for r in c.reaction_rules] == ["v_r0", "v_r0#back", "v_r1", "v_r2", "s_r0", "s_r1", "s_r2"]
    assert [r.order for r in c.reaction_rules] == [2, 1, 2, 0, 2, 2, 0]
    np.testing.assert_array_equal(c.rx_element, [0, 0, 0, 0, 1, 1, 1])
    assert c.species_index("T") == 4


def test_count_based_constants(system):
    _, _, c = system
    volume_factor = 1e3 * V * AVOGADRO  # molecules per molar in the compartment
    area_factor = AVOGADRO * AREA  # molecules per mol/m^2 on the patch
    expected = [
        1e8 / volume_factor,  # second order: k (1e3 V N_A)^-1
        2.0,  # first order unchanged
        1e7 / volume_factor,
        1e-6 * volume_factor,  # zero order: k (1e3 V N_A)
        1e11 / area_factor,  # surface only: k (N_A A)^-1
        1e8 / volume_factor,  # surface with a volume reactant: the volume's factor
        1e-9 * area_factor,  # zero order on a surface: per area
    ]
    np.testing.assert_allclose(c.rx_rate, expected, rtol=1e-14)
    np.testing.assert_allclose(c.rx_rate, c.rx_scale * np.array([r.k for r in c.reaction_rules]), rtol=1e-15)
    assert [r.surface_only for r in c.reaction_rules] == [False] * 4 + [True, False, True]


def test_reactant_csr(system):
    _, _, c = system
    np.testing.assert_array_equal(c.rx_reac_ptr, [0, 2, 3, 4, 4, 6, 8, 8])
    rows = [
        {(_pool(0, "A"), 1), (_pool(0, "B"), 1)},
        {(_pool(0, "C"), 1)},
        {(_pool(0, "A"), 2)},
        set(),
        {(_pool(1, "S"), 1), (_pool(1, "T"), 1)},
        {(_pool(1, "S"), 1), (_pool(0, "A"), 1)},
        set(),
    ]
    for p, row in enumerate(rows):
        span = slice(c.rx_reac_ptr[p], c.rx_reac_ptr[p + 1])
        assert set(zip(c.rx_reac_pool[span].tolist(), c.rx_reac_count[span].tolist(), strict=True)) == row, p


def test_update_csr(system):
    _, _, c = system
    rows = [
        {(_pool(0, "A"), -1), (_pool(0, "B"), -1), (_pool(0, "C"), 1)},
        {(_pool(0, "A"), 1), (_pool(0, "B"), 1), (_pool(0, "C"), -1)},
        {(_pool(0, "A"), -2), (_pool(0, "B"), 1)},
        {(_pool(0, "A"), 1)},
        {(_pool(1, "S"), -1), (_pool(1, "T"), -1), (_pool(1, "U"), 1)},
        {(_pool(1, "S"), -1), (_pool(0, "A"), -1), (_pool(1, "U"), 1)},
        {(_pool(1, "S"), 1)},
    ]
    for p, row in enumerate(rows):
        span = slice(c.rx_upd_ptr[p], c.rx_upd_ptr[p + 1])
        assert set(zip(c.rx_upd_pool[span].tolist(), c.rx_upd_delta[span].tolist(), strict=True)) == row, p


def test_catalysts_have_no_update_entry():
    m = ts.Model()
    m.species("E", "S", "P")
    m.volume_system("v").reaction("E + S -> E + P", kf=1e6)
    g = ts.WellMixed()
    g.compartment("c", volume=V, systems=["v"])
    c = ts.compile_system(m, g)
    assert set(zip(c.rx_upd_pool.tolist(), c.rx_upd_delta.tolist(), strict=True)) == {(1, -1), (2, 1)}
    assert set(zip(c.rx_reac_pool.tolist(), c.rx_reac_count.tolist(), strict=True)) == {(0, 1), (1, 1)}


def test_dependency_graph(system):
    _, _, c = system
    assert len(c.dep_ptr) == c.n_pools + 1
    expected = {
        _pool(0, "A"): {0, 2, 5},
        _pool(0, "B"): {0},
        _pool(0, "C"): {1},
        _pool(1, "S"): {4, 5},
        _pool(1, "T"): {4},
    }
    for pool in range(c.n_pools):
        procs = set(c.dep_proc[c.dep_ptr[pool] : c.dep_ptr[pool + 1]].tolist())
        assert procs == expected.get(pool, set()), pool
    # the graph is exactly "process p reads pool q"
    for p in range(c.n_reactions):
        for q in c.rx_reac_pool[c.rx_reac_ptr[p] : c.rx_reac_ptr[p + 1]]:
            assert p in c.dep_proc[c.dep_ptr[q] : c.dep_ptr[q + 1]]


def test_arrays_are_contiguous_and_typed(system):
    _, _, c = system
    for name in (
        "rx_rule",
        "rx_element",
        "rx_reac_ptr",
        "rx_reac_pool",
        "rx_reac_count",
        "rx_upd_ptr",
        "rx_upd_pool",
        "rx_upd_delta",
        "dep_ptr",
        "dep_proc",
        "df_pool",
        "df_ptr",
        "df_dest",
    ):
        array = getattr(c, name)
        # pointers are int64; ids and stoichiometries may be stored as int32 to save memory
        allowed = (np.int64,) if name.endswith("_ptr") else (np.int32, np.int64)
        assert array.dtype in allowed and array.flags.c_contiguous, name
    for name in ("rx_rate", "rx_scale", "measure", "df_rate", "df_total"):
        array = getattr(c, name)
        assert array.dtype == np.float64 and array.flags.c_contiguous, name


def test_compile_is_pure(system):
    m, g, c = system
    before = (m.hash(), repr(g), [vars(x).copy() for x in g.compartments.values()])
    again = ts.compile_system(m, g)
    assert (m.hash(), repr(g), [vars(x).copy() for x in g.compartments.values()]) == before
    np.testing.assert_array_equal(again.rx_rate, c.rx_rate)
    assert again.model_hash == m.hash()


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 7, 10])
def test_any_order_gives_the_falling_factorial_propensity(order):
    """Propensity c n(n-1)...(n-order+1) with c = k (1e3 V N_A)^(1-order), for any order."""
    m = ts.Model()
    m.species("A", "B")
    m.volume_system("v").reaction(f"{order} A -> B", kf=3.0)
    g = ts.WellMixed()
    g.compartment("c", volume=V, systems=["v"])
    c = ts.compile_system(m, g)
    expected_c = 3.0 * (1e3 * V * AVOGADRO) ** (1 - order)
    assert math.isfinite(c.rx_rate[0]) and c.rx_rate[0] > 0
    assert c.rx_rate[0] == pytest.approx(expected_c, rel=1e-13)
    for n in (0, order - 1, order, order + 3, 50):
        if n < 0:
            continue
        counts = np.zeros(c.n_pools, np.int64)
        counts[0] = n
        out = np.zeros(1)
        propensities(
            counts, c.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.df_pool, c.df_total, out
        )
        falling = math.prod(range(n - order + 1, n + 1)) if n >= order else 0
        assert out[0] == pytest.approx(expected_c * falling, rel=1e-12), (order, n)


def test_mixed_stoichiometry_propensity():
    m = ts.Model()
    m.species("A", "B", "C")
    m.volume_system("v").reaction("2 A + 3 B -> C", kf=1.0)
    g = ts.WellMixed()
    g.compartment("c", volume=V, systems=["v"])
    c = ts.compile_system(m, g)
    counts = np.array([5, 4, 0], np.int64)
    out = np.zeros(1)
    propensities(
        counts, c.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.df_pool, c.df_total, out
    )
    assert out[0] == pytest.approx(c.rx_rate[0] * (5 * 4) * (4 * 3 * 2), rel=1e-14)


def test_outer_volume_reactant_uses_the_outer_compartment():
    m = ts.Model()
    m.species("R", "L", "RL")
    m.surface_system("s").reaction("R.s + L.o <-> RL.s", kf=1e7, kb=0.5)
    g = ts.WellMixed()
    g.compartment("cyto", volume=2e-18)
    g.compartment("ecs", volume=5e-18)
    g.patch("p", area=AREA, inner="cyto", outer="ecs", systems=["s"])
    c = ts.compile_system(m, g)
    np.testing.assert_allclose(c.rx_rate, [1e7 / (1e3 * 5e-18 * AVOGADRO), 0.5], rtol=1e-14)
    l_pool = 1 * 3 + 1  # L in element 1 (ecs)
    assert c.present[1, 1] and not c.present[0, 1]
    assert l_pool in c.rx_reac_pool[c.rx_reac_ptr[0] : c.rx_reac_ptr[1]]


# ---------------------------------------------------------------------- errors
def _geom(**systems):
    g = ts.WellMixed()
    g.compartment("c", volume=V, systems=systems.get("c", []))
    if "p" in systems:
        g.patch("p", area=AREA, inner="c", systems=systems["p"])
    return g


def test_unknown_system_with_a_suggestion():
    m = ts.Model()
    m.species("A")
    m.volume_system("cyt").reaction("A ->", kf=1)
    with pytest.raises(CompileError, match="'cytt'.*did you mean 'cyt'"):
        ts.compile_system(m, _geom(c=["cytt"]))


def test_system_kind_mismatch():
    m = ts.Model()
    m.species("A")
    m.volume_system("v").reaction("A ->", kf=1)
    m.surface_system("s").reaction("A.s ->", kf=1)
    with pytest.raises(CompileError, match="needs volume systems"):
        ts.compile_system(m, _geom(c=["s"]))
    with pytest.raises(CompileError, match="needs surface systems"):
        ts.compile_system(m, _geom(c=[], p=["v"]))


def test_outer_species_without_an_outer_compartment():
    m = ts.Model()
    m.species("R", "L", "RL")
    m.surface_system("s").reaction("R.s + L.o -> RL.s", kf=1e7)
    with pytest.raises(CompileError, match="no outer compartment"):
        ts.compile_system(m, _geom(c=[], p=["s"]))


def test_empty_geometry():
    with pytest.raises(TetrasimError, match="no compartment"):
        ts.compile_system(ts.Model(), ts.WellMixed())


def test_species_index_error():
    m = ts.Model()
    m.species("Ca")
    m.volume_system("v").reaction("Ca ->", kf=1)
    c = ts.compile_system(m, _geom(c=["v"]))
    with pytest.raises(ts.ModelError, match="did you mean 'Ca'"):  # as the user guide promises
        c.species_index("Caa")
    with pytest.raises(ts.ModelError, match="no reaction named"):
        c.rule_indices("nope")
