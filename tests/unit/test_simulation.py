"""Tier 0: the Simulation facade — state access, clamping, rates, continuation, records, seeds, errors.

Bad input must raise a :class:`TetrasimError` subclass, never a NumPy or numba traceback
(DESIGN.md §6).
"""

import importlib.util

import numpy as np
import pytest

import tetrasim as ts
from stats import z_threshold
from tetrasim.errors import CapabilityError, SimulationError, TetrasimError
from tetrasim.units import AVOGADRO

HAVE_ODE = importlib.util.find_spec("tetrasim.solvers.ode") is not None
SOLVERS = [
    "wm-ssa",
    pytest.param("wm-ode", marks=pytest.mark.skipif(not HAVE_ODE, reason="wm-ode not written yet")),
]


@pytest.fixture
def decay(make_wm):
    """A -> B named 'decay' (k = 5/s) in 1e-18 m^3, 50 A."""

    def factory(solver="wm-ssa", seed=1, k=5.0, n=50):
        sim = make_wm([("A -> B", k)], solver=solver, seed=seed)
        sim.set_count("c", "A", n)
        return sim

    return factory


# ---------------------------------------------------------------------- state
def test_set_and_get_count(decay):
    sim = decay()
    assert sim.get_count("c", "A") == 50 and isinstance(sim.get_count("c", "A"), int)
    sim.set_count("c", "B", 7)
    assert sim.get_count("c", "B") == 7
    np.testing.assert_array_equal(sim.get_count("c", "B", per_element=True), [7])
    sim.set_count("c", "B", [3], per_element=True)
    assert sim.get_count("c", "B") == 3
    assert sim.get_count(None, "B") == 3  # one compartment: where may be omitted
    sim.set_count("c", "B", 4.0)  # whole floats are fine
    assert sim.get_count("c", "B") == 4


def test_set_and_get_concentration(decay):
    sim = decay()
    factor = 1e3 * 1e-18 * AVOGADRO  # molecules per molar
    sim.set_conc("c", "A", 1e-6)
    assert sim.get_count("c", "A") == round(1e-6 * factor) == 602
    assert sim.get_conc("c", "A") == pytest.approx(602 / factor, rel=1e-14)
    sim.set_conc("c", "A", ts.Q("25 uM"))
    assert sim.get_count("c", "A") == round(25e-6 * factor)
    sim.set_conc("c", "A", [2e-6], per_element=True)
    assert sim.get_count("c", "A") == round(2e-6 * factor)
    np.testing.assert_allclose(sim.get_conc("c", "A", per_element=True), [round(2e-6 * factor) / factor])


def test_setters_act_on_every_replicate_and_getters_return_one_value_each(decay):
    sim = decay()
    sim.run(0.1, runs=3)
    counts = sim.get_count("c", "A")
    assert isinstance(counts, np.ndarray) and counts.shape == (3,)
    sim.set_count("c", "A", 9)
    np.testing.assert_array_equal(sim.get_count("c", "A"), [9, 9, 9])
    sim.set_count("c", "A", [[1], [2], [3]], per_element=True)  # (runs, elements)
    np.testing.assert_array_equal(sim.get_count("c", "A"), [1, 2, 3])
    assert sim.get_conc("c", "A").shape == (3,)


@pytest.mark.skipif(not hasattr(ts, "MeshGeometry"), reason="mesh layer not available")
def test_placement_over_tets_is_integer_exact():
    """A total spread over tets sums exactly (the distribution: tests/statistical/test_placement.py)."""
    mesh = ts.TetMesh.from_arrays(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
        [[0, 1, 2, 3], [1, 2, 3, 4]],
        length_unit="um",
    )
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=0.0)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    sim.set_count("c", "A", 10)
    per_tet = sim.get_count("c", "A", per_element=True, keep_runs=True)
    assert per_tet.shape == (1, 2) and per_tet.sum() == 10 and per_tet.min() >= 0
    assert sim.get_count("c", "A") == 10


def test_clamping_keeps_counts_fixed(make_wm):
    sim = make_wm([("A -> B", 10.0)], seed=3)
    sim.set_count("c", "A", 100)
    sim.set_clamped("c", "A")
    rec_a = sim.record(ts.Count("A", where="c"), every=0.1)
    rec_b = sim.record(ts.Count("B", where="c"), every=0.1)
    res = sim.run(1.0, runs=2)
    assert np.all(res[rec_a] == 100)
    # A still fires, as a source: B(1 s) ~ Poisson(10/s x 100 x 1 s); z for alpha = 1e-4 over 2 runs
    assert np.all(np.abs(res[rec_b][:, -1] - 1000) <= z_threshold(2) * np.sqrt(1000))
    assert np.all(np.diff(res[rec_b], axis=1) >= 0)
    sim.set_clamped("c", "A", False)
    res = sim.run(2.0)
    assert np.all(res[rec_a][:, -1] < 100)


def test_clamped_product_stays_fixed(make_wm):
    sim = make_wm([("-> A", 1e-3)])
    sim.set_count("c", "A", 5)
    sim.set_clamped("c", "A")
    rec = sim.record(ts.Count("A"), every=0.5)
    assert np.all(sim.run(1.0)[rec] == 5)


def test_set_rate_mid_run(make_wm):
    sim = make_wm([("A -> B", 0.0)], seed=5)
    rule = sim.compiled.reaction_rules[0].reaction
    sim.set_count("c", "A", 100)
    rec = sim.record(ts.Count("A"), every=0.5)
    sim.run(1.0)
    assert np.all(sim.results[rec] == 100)
    sim.set_rate(rule, 1e3)  # e^-1000 survival per molecule: all gone by t = 2
    assert sim.get_rate(rule) == 1e3
    res = sim.run(2.0)
    np.testing.assert_array_equal(res[rec][0, :3], [100, 100, 100])
    assert res[rec][0, -1] == 0


def test_set_rate_backward_and_quantities(make_wm):
    sim = make_wm([("A + B <-> C", 1e8, 2.0)])
    rule = sim.compiled.reaction_rules[0].reaction
    sim.set_rate(rule, 3.0, backward=True)
    assert sim.get_rate(rule, backward=True) == 3.0 and sim.get_rate(rule) == 1e8
    sim.set_rate(rule, ts.Q("1e5 /mM/s"))
    assert sim.get_rate(rule) == pytest.approx(1e8)
    sim.set_rate(rule + "#back", 4.0)
    assert sim.get_rate(rule, backward=True) == 4.0 and sim.get_rate(rule) == pytest.approx(1e8)
    with pytest.raises(TetrasimError, match="expected"):
        sim.set_rate(rule, ts.Q("5 /s"))  # second order needs /M/s


def test_set_rate_backward_of_irreversible_reaction_is_an_error(decay):
    sim = decay()
    rule = sim.compiled.reaction_rules[0].reaction
    with pytest.raises(SimulationError, match="no backward direction"):
        sim.set_rate(rule, 1.0, backward=True)
    assert sim.get_rate(rule) == 5.0  # and the forward rate is untouched


@pytest.mark.parametrize("solver", SOLVERS)
def test_continuation_equals_one_long_record(decay, solver):
    """run(1); run(2) records 0, 0.1, ..., 2 once each; its first second equals run(1) alone."""
    first = decay(solver=solver, seed=11)
    rec = first.record(ts.Count("A"), every=0.1)
    first.run(1.0, runs=2)
    res = first.run(2.0)
    assert res[rec].shape == (2, 21)
    np.testing.assert_allclose(res.times, np.arange(21) * 0.1, atol=1e-12)
    other = decay(solver=solver, seed=11)
    rec2 = other.record(ts.Count("A"), every=0.1)
    np.testing.assert_array_equal(res[rec][:, :11], other.run(1.0, runs=2)[rec2])
    assert first.time == 2.0
    assert first.run(2.0)[rec].shape == (2, 21)  # running to the current time adds nothing


@pytest.mark.parametrize("solver", SOLVERS)
def test_record_shapes_are_never_squeezed(decay, solver):
    sim = decay(solver=solver)
    total = sim.record(ts.Count("A", where="c"), every=0.1)
    per = sim.record(ts.Count("A", where="c", per_element=True), every=0.1)
    conc = sim.record(ts.Conc("A", where="c"), every=0.25)
    res = sim.run(1.0)
    assert res[total].shape == (1, 11)
    assert res[per].shape == (1, 11, 1)
    assert res[conc].shape == (1, 5)
    np.testing.assert_allclose(res.times_of(conc), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(res[total], res[per][:, :, 0])
    assert res[total.name] is res[total]
    assert res.runs == 1 and res.solver == sim.solver_name and res.seed == sim.seed
    assert res[conc][0, 0] == pytest.approx(50 / (1e3 * 1e-18 * AVOGADRO))
    sim.reset()
    assert sim.time == 0.0 and sim.n_runs == 0
    res = sim.run(0.5, runs=4)
    assert res[total].shape == (4, 6) and res[per].shape == (4, 6, 1)


def test_recording_a_zero_length_run(decay):
    sim = decay()
    rec = sim.record(ts.Count("A"), every=0.1)
    res = sim.run(0.0, runs=2)
    assert res[rec].shape == (2, 1) and np.all(res[rec] == 50)


def test_same_seed_is_identical_and_different_seeds_differ(decay):
    def trace(seed):
        sim = decay(seed=seed)
        rec = sim.record(ts.Count("A"), every=0.05)
        return sim.run(1.0, runs=5)[rec]

    np.testing.assert_array_equal(trace(42), trace(42))
    assert not np.array_equal(trace(42), trace(43))


def test_replicates_are_independent(decay):
    """Counts of neighbouring runs are uncorrelated (z-test on the lag-1 correlation across runs).

    Detects replicate streams that overlap or are seeded from neighbouring integers: a
    correlation above about 3.9 / sqrt(R) = 0.06 (R = 4000 runs), alpha = 1e-4, 2 assertions.
    Also no two runs may share a whole trajectory (R = 4000 runs of 50 decaying molecules
    collide by chance with negligible probability).
    """
    runs = 4000
    sim = decay(seed=2024)
    rec = sim.record(ts.Count("A"), every=0.1)
    data = sim.run(1.0, runs=runs)[rec].astype(float)
    threshold = z_threshold(2)
    for column in (2, 5):  # t = 0.2 s and 0.5 s
        x = data[:, column]
        r = np.corrcoef(x[:-1], x[1:])[0, 1]
        assert abs(r) * np.sqrt(runs - 1) < threshold, (column, r)
    assert len({row.tobytes() for row in data[:200].astype(np.int64)}) > 150


def test_rate_zero_and_empty_systems_do_not_hang(make_wm):
    sim = make_wm([("A -> B", 0.0)])
    sim.set_count("c", "A", 10)
    rec = sim.record(ts.Count("A"), every=1e5)
    res = sim.run(1e6)
    assert np.all(res[rec] == 10) and res[rec].shape == (1, 11)
    sim = make_wm([("A -> B", 5.0)])  # no molecules at all
    rec = sim.record(ts.Count("B"), every=1e5)
    assert np.all(sim.run(1e6)[rec] == 0)


def test_single_molecule_limits(make_wm):
    sim = make_wm([("A -> B", 5.0)], seed=9)
    sim.set_count("c", "A", 1)
    rec = sim.record(ts.Count("A"), every=1.0)
    data = sim.run(20.0, runs=50)[rec]
    assert np.all((data == 0) | (data == 1))
    assert np.all(np.diff(data, axis=1) <= 0)
    assert np.all(data[:, -1] == 0)  # survival e^-100
    # a second-order reaction with one molecule never fires (falling factorial n(n-1))
    sim = make_wm([("2 A -> C", 1e12), ("A + B -> C", 1e12)], seed=9)
    sim.set_count("c", "A", 1)
    rec = sim.record(ts.Count("A"), every=1.0)
    assert np.all(sim.run(10.0, runs=3)[rec] == 1)


def test_counts_never_go_negative(make_wm):
    sim = make_wm([("3 A -> B", 1e12), ("A + B -> C", 1e9), ("C -> A", 100.0)], seed=4)
    sim.set_count("c", "A", 20)
    recs = [sim.record(ts.Count(s), every=0.01) for s in "ABC"]
    res = sim.run(2.0, runs=10)
    assert all(np.all(res[r] >= 0) for r in recs)
    total = res[recs[0]] + 3 * res[recs[1]] + 4 * res[recs[2]]  # A + 3B + 4C is conserved
    assert np.all(total == 20)


def test_solver_aliases(decay, make_wm):
    sim = make_wm([("A -> B", 5.0)], solver="Wmdirect")
    assert sim.solver_name == "wm-ssa"
    with pytest.raises(CapabilityError, match="unknown solver"):
        make_wm([("A -> B", 5.0)], solver="gillespie")


# ---------------------------------------------------------------------- bad input
BAD_CALLS = {
    "count text": lambda s: s.set_count("c", "A", "abc"),
    "count None": lambda s: s.set_count("c", "A", None),
    "count list": lambda s: s.set_count("c", "A", [1, 2]),
    "count quantity": lambda s: s.set_count("c", "A", ts.Q("1 s")),
    "count negative": lambda s: s.set_count("c", "A", -1),
    "count fractional": lambda s: s.set_count("c", "A", 1.5),
    "count nan": lambda s: s.set_count("c", "A", float("nan")),
    "count inf": lambda s: s.set_count("c", "A", float("inf")),
    "count huge": lambda s: s.set_count("c", "A", 1e30),
    "per element wrong length": lambda s: s.set_count("c", "A", [1, 2], per_element=True),
    "per element scalar": lambda s: s.set_count("c", "A", 3, per_element=True),
    "per element text": lambda s: s.set_count("c", "A", ["a"], per_element=True),
    "per element 3-d": lambda s: s.set_count("c", "A", [[[1]]], per_element=True),
    "unknown species": lambda s: s.set_count("c", "Q", 1),
    "unknown where": lambda s: s.set_count("cc", "A", 1),
    "where int": lambda s: s.set_count(3, "A", 1),
    "Tet on well-mixed": lambda s: s.set_count(ts.Tet(0), "A", 1),
    "Tri on well-mixed": lambda s: s.set_count(ts.Tri(0), "A", 1),
    "unknown ROI": lambda s: s.set_count(ts.ROI("spine"), "A", 1),
    "conc negative": lambda s: s.set_conc("c", "A", -1e-6),
    "conc text": lambda s: s.set_conc("c", "A", "abc"),
    "conc dimensions": lambda s: s.set_conc("c", "A", ts.Q("1 s")),
    "conc None": lambda s: s.set_conc("c", "A", None),
    "conc nan": lambda s: s.set_conc("c", "A", float("nan")),
    "get unknown species": lambda s: s.get_count("c", "Z"),
    "get_conc unknown where": lambda s: s.get_conc("x", "A"),
    "clamp unknown species": lambda s: s.set_clamped("c", "Z"),
    "rate negative": lambda s: s.set_rate("decay", -1),
    "rate nan": lambda s: s.set_rate("decay", float("nan")),
    "rate text": lambda s: s.set_rate("decay", "fast"),
    "rate None": lambda s: s.set_rate("decay", None),
    "rate dimensions": lambda s: s.set_rate("decay", ts.Q("1 um")),
    "rate unknown reaction": lambda s: s.set_rate("decya", 1),
    "rate backward of irreversible": lambda s: s.set_rate("decay", 1, backward=True),
    "get_rate backward": lambda s: s.get_rate("decay", backward=True),
    "diffusion of non-diffusing": lambda s: s.set_diffusion_coefficient("A", 1e-12),
    "record a string": lambda s: s.record("A", every=0.1),
    "record every 0": lambda s: s.record(ts.Count("A"), every=0),
    "record every negative": lambda s: s.record(ts.Count("A"), every=-1),
    "record every text": lambda s: s.record(ts.Count("A"), every="x"),
    "record every None": lambda s: s.record(ts.Count("A"), every=None),
    "record unknown species": lambda s: s.record(ts.Count("Z"), every=0.1),
    "record unknown where": lambda s: s.record(ts.Count("A", where="d"), every=0.1),
    "run negative": lambda s: s.run(-1),
    "run nan": lambda s: s.run(float("nan")),
    "run inf": lambda s: s.run(float("inf")),
    "run text": lambda s: s.run("x"),
    "run None": lambda s: s.run(None),
    "run wrong dimensions": lambda s: s.run(ts.Q("1 um")),
    "runs 0": lambda s: s.run(1, runs=0),
    "runs fractional": lambda s: s.run(1, runs=1.5),
    "runs text": lambda s: s.run(1, runs="2"),
    "results unknown key": lambda s: s.run(0.1)["nope"],
    "run backwards": lambda s: (s.run(1), s.run(0.5)),
    "change runs": lambda s: (s.run(1, runs=2), s.run(2, runs=3)),
    "record after running": lambda s: (s.run(1), s.record(ts.Count("A"), every=0.1)),
}


@pytest.mark.parametrize("call", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_input_raises_a_tetrasim_error(make_wm, call):
    model = ts.Model()
    model.species("A", "B")
    model.volume_system("v").reaction("A -> B", kf=5.0, name="decay")
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1, progress=False)
    with pytest.raises(TetrasimError):
        call(sim)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seed": -1}, SimulationError),
        ({"seed": "x"}, SimulationError),
        ({"seed": 1.5}, SimulationError),
        ({"solver": "bogus"}, CapabilityError),
        ({"solver": 3}, CapabilityError),
        ({"solver": None}, CapabilityError),
        ({"model": "x"}, TetrasimError),
        ({"geometry": "y"}, TetrasimError),
        ({"geometry": None}, TetrasimError),
    ],
)
def test_bad_construction(kwargs, error):
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=1.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    args = {"model": model, "geometry": geom, "solver": "wm-ssa", "seed": 1}
    args.update(kwargs)
    with pytest.raises(error):
        ts.Simulation(**args)


def test_well_mixed_solver_on_a_species_absent_from_the_compartment():
    model = ts.Model()
    model.species("A", "X")
    model.volume_system("v").reaction("A ->", kf=1.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1)
    with pytest.raises(SimulationError, match="'X' is not in 'c'"):
        sim.set_count("c", "X", 1)


@pytest.mark.parametrize("solver", ["wm-ssa", "wm-ode", "ssa", "opsplit", "ode"])
def test_a_model_without_species_runs_and_records_time(solver):
    """A geometry with no chemistry yet (a user building up a model) is a legal, trivial run:
    every solver advances the clock; the deterministic ones used to crash ordering an empty
    Jacobian pattern."""
    model = ts.Model()
    if solver.startswith("wm-"):
        geom = ts.WellMixed()
        geom.compartment("cyt", volume=1e-18)
    else:
        mesh = ts.shapes.box(1e-6, 1e-6, 1e-6, size=0.5e-6)
        geom = ts.MeshGeometry(mesh)
        geom.compartment("cyt", tets=mesh.group("box"))
    sim = ts.Simulation(model, geom, solver=solver, seed=1)
    sim.run(0.1)
    assert sim.time == pytest.approx(0.1)
