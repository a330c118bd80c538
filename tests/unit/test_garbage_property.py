"""Issue 14 item 9: property test. The public API driven with garbage raises only TetrasimError.

Hypothesis feeds arbitrary values (None, bools, huge and negative integers, NaN/inf, strings,
bytes, nested lists, dicts, arrays of any dtype, plain objects) into every argument of the
calls a user makes. A call may succeed (some garbage is valid input) or raise a subclass of
``ts.TetrasimError``; anything else (a NumPy ``ValueError``, a ``KeyError``, an
``AttributeError``, an ``OverflowError``) is a defect. Examples are derandomised: the test is
reproducible, and a failure prints the minimal offending call.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tetrasim as ts
from gridmesh import grid_mesh

# TETRASIM_FUZZ_EXAMPLES=2000 runs a longer, randomised search (the default is reproducible).
EXAMPLES = int(os.environ.get("TETRASIM_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 150, deadline=None, derandomize=not EXAMPLES, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.binary(max_size=4),
    st.sampled_from(["A", "c", "memb", "1 ms", "1 uM", "Ca", "-1", "nan", "1e-300", "A ->", "<->"]),
    st.builds(object), st.complex_numbers(allow_nan=False, max_magnitude=10),
)
arrays = st.one_of(
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
    st.tuples(scalars, scalars),
    st.builds(lambda n, dtype: np.arange(n).astype(dtype), st.integers(0, 5),
              st.sampled_from(["int64", "int8", "float64", "bool", "uint16", "U3", "complex128"])),
    st.builds(lambda shape: np.zeros(shape, np.int64), st.sampled_from([(2, 2), (3, 1), (0,), (1, 3)])),
)
garbage = st.one_of(scalars, arrays, st.builds(ts.Tet, st.integers(0, 11)),
                    st.builds(lambda s: ts.Count(s), st.sampled_from(["A", "B", "R"])))


def only_tetrasim_errors(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call(*args, **kwargs)
        except ts.TetrasimError:
            pass


def model():
    m = ts.Model()
    m.species("A", "B", "R")
    v = m.volume_system("v")
    v.reaction("A + B <-> B", kf=1e6, kb=1.0, name="bind")
    v.diffusion("A", 1e-12)
    s = m.surface_system("s")
    s.reaction("R.s + A.i -> R.s", kf=1e6)
    return m


MESH = grid_mesh(2, 1, 1, 0.5e-6)


def mesh_geometry():
    geom = ts.MeshGeometry(MESH)
    geom.compartment("c", systems=["v"])
    geom.patch("memb", tris=MESH.surface_tris(), inner="c", systems=["s"])
    geom.roi("left", tets=[0, 1, 2])
    return geom


def wellmixed():
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    geom.patch("memb", area=1e-12, inner="c", systems=["s"])
    return geom


def simulation(kind):
    if kind == "mesh":
        return ts.Simulation(model(), mesh_geometry(), solver="ssa", seed=1, progress=False)
    return ts.Simulation(model(), wellmixed(), solver=kind, seed=1, progress=False)


@SETTINGS
@given(name=garbage, value=garbage, other=garbage)
def test_model_building(name, value, other):
    m = ts.Model()
    only_tetrasim_errors(m.species, name)
    only_tetrasim_errors(m.species, "A", valence=value)
    v = m.volume_system("v") if "v" not in m.systems else m.system("v")
    only_tetrasim_errors(v.reaction, name, kf=value)
    only_tetrasim_errors(v.reaction, "A -> ", kf=value, name=other)
    only_tetrasim_errors(v.diffusion, name, value)
    only_tetrasim_errors(m.volume_system, name)
    only_tetrasim_errors(m.system, name)


@SETTINGS
@given(name=garbage, value=garbage, systems=garbage)
def test_geometry_building(name, value, systems):
    wm = ts.WellMixed()
    only_tetrasim_errors(wm.compartment, name, volume=value, systems=systems)
    only_tetrasim_errors(wm.compartment, "c", volume=1e-18)
    only_tetrasim_errors(wm.patch, name, area=value, inner=systems)
    mesh = ts.MeshGeometry(MESH)
    only_tetrasim_errors(mesh.compartment, name, tets=value, systems=systems)
    only_tetrasim_errors(mesh.roi, "r", tets=value)
    only_tetrasim_errors(mesh.roi, "t", tris=value)
    only_tetrasim_errors(mesh.roi, "u", vertices=value)
    mesh2 = mesh_geometry()
    only_tetrasim_errors(mesh2.patch, "p2", tris=value, inner=name)
    only_tetrasim_errors(mesh2.diffusion_boundary, "b", between=value)


@SETTINGS
@given(kind=st.sampled_from(["wm-ssa", "wm-ode", "mesh"]), where=garbage, species=garbage, value=garbage,
       flag=garbage)
def test_simulation_state_access(kind, where, species, value, flag):
    sim = simulation(kind)
    only_tetrasim_errors(sim.set_count, where, species, value)
    only_tetrasim_errors(sim.set_count, "c", "A", value, per_element=flag)
    only_tetrasim_errors(sim.set_conc, where, "A", value)
    only_tetrasim_errors(sim.set_conc, "memb", "R", value, per_element=flag)
    only_tetrasim_errors(sim.get_count, where, species)
    only_tetrasim_errors(sim.get_conc, where, species, per_element=flag)
    only_tetrasim_errors(sim.set_clamped, where, species, flag)
    only_tetrasim_errors(sim.set_rate, species, value)
    only_tetrasim_errors(sim.set_rate, "bind", value, backward=flag)
    only_tetrasim_errors(sim.get_rate, species, backward=flag)
    only_tetrasim_errors(sim.set_diffusion_coefficient, species, value, where=where)


@SETTINGS
@given(kind=st.sampled_from(["wm-ssa", "wm-ode", "mesh"]), probe_species=garbage, where=garbage,
       every=garbage, t_end=garbage, runs=garbage, name=garbage)
def test_recording_and_running(kind, probe_species, where, every, t_end, runs, name):
    sim = simulation(kind)  # no molecules: any run length finishes at once
    only_tetrasim_errors(lambda: sim.record(ts.Conc(probe_species, where=where), every=every, name=name))
    only_tetrasim_errors(sim.record, probe_species, every=every)
    only_tetrasim_errors(sim.record, ts.Amount("A", where="c"), every=every)
    only_tetrasim_errors(sim.run, t_end, runs=runs)
    only_tetrasim_errors(sim.run, 1e-3, progress=name)


@SETTINGS
@given(solver=garbage, seed=garbage, option=garbage, index=garbage)
def test_construction_and_selectors(solver, seed, option, index):
    only_tetrasim_errors(ts.Simulation, model(), wellmixed(), solver=solver, seed=seed)
    only_tetrasim_errors(ts.Simulation, model(), mesh_geometry(), solver="opsplit", seed=1, dt=option)
    only_tetrasim_errors(ts.Simulation, model(), wellmixed(), solver="wm-ode", seed=1, rtol=option)
    only_tetrasim_errors(ts.Simulation, solver, seed)
    only_tetrasim_errors(ts.Tet, index)
    only_tetrasim_errors(ts.Tri, index)
    only_tetrasim_errors(ts.ROI, index)
    only_tetrasim_errors(ts.Count, index, where=seed, per_element=option)
    only_tetrasim_errors(ts.Q, index)


@SETTINGS
@given(path=garbage)
def test_saving_and_loading(path, tmp_path_factory):
    sim = simulation("wm-ssa")
    sim.record(ts.Count("A", where="c"), every=0.1)
    res = sim.run(0.1)
    folder = tmp_path_factory.mktemp("io")
    only_tetrasim_errors(res.save, path if not isinstance(path, str) else folder / (path or "x"))
    only_tetrasim_errors(ts.load_results, path if not isinstance(path, str) else folder / (path or "x"))
