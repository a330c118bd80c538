"""Membrane potential (EField): assembly, clamps, conservation, currents, bad input.

References are hand-computed (one-tet stiffness, linear potential under clamps, charge
balance) or written here independently of the code (the GHK flux).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.compile.efield import lumped_capacitance, stiffness_matrix
from tetrasim.errors import CompileError, GeometryError, ModelError, SimulationError
from tetrasim.examples_efield import cable_geometry
from tetrasim.geometry.membrane import cable_mesh


def test_one_tet_stiffness_matches_hand_computation():
    # unit right tet: grad(phi) = (-1,-1,-1), e_x, e_y, e_z; volume 1/6; sigma = 2
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    matrix = stiffness_matrix(vertices, np.array([[0, 1, 2, 3]]), 2.0).toarray()
    expected = 2.0 / 6.0 * np.array([[3, -1, -1, -1], [-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]], float)
    np.testing.assert_allclose(matrix, expected, rtol=1e-14, atol=1e-15)


def test_stiffness_of_a_mesh_is_symmetric_with_zero_row_sums_and_exact_on_linear_fields():
    mesh = cable_mesh(10e-6, 1e-6, 5, 6, rings=2)
    matrix = stiffness_matrix(mesh.vertices, mesh.tets, 1.0)
    assert abs(matrix - matrix.T).max() < 1e-12 * abs(matrix).max()
    np.testing.assert_allclose(matrix @ np.ones(mesh.n_vertices), 0.0, atol=1e-12 * abs(matrix).max())
    # K x for a linear field = boundary flux: zero at interior vertices (P1 reproduces linears)
    flux = matrix @ mesh.vertices[:, 0]
    interior = np.setdiff1d(np.arange(mesh.n_vertices), np.unique(mesh.tris[mesh.surface_tris()]))
    if len(interior):
        np.testing.assert_allclose(flux[interior], 0.0, atol=1e-12 * abs(matrix).max() * 1e-6)


def test_lumped_capacitance_gives_a_third_of_each_triangle():
    tri_vertices = np.array([[0, 1, 2], [1, 2, 3]])
    areas = np.array([2.0, 4.0])
    cm = np.array([0.01, 0.02])
    expected = np.array([0.02 / 3, 0.02 / 3 + 0.08 / 3, 0.02 / 3 + 0.08 / 3, 0.08 / 3])
    np.testing.assert_allclose(lumped_capacitance(4, tri_vertices, areas, cm), expected, rtol=1e-15)


def _passive_cable(n_slices=10, length=20e-6, capacitance=0.01, solver="ode", **kwargs):
    cable = cable_geometry(length=length, diameter=1e-6, n_slices=n_slices, capacitance=capacitance)
    options = {"linear_solver": "direct"} if solver == "ode" else {}
    sim = ts.Simulation(ts.Model(), cable.geometry, solver=solver, seed=1, **options, **kwargs)
    return cable, sim


def test_voltage_clamp_on_a_prism_gives_a_linear_potential():
    """Cm = 0, one end clamped at 10 V, the other at 0 V: the P1 solution is exactly linear."""
    cable, sim = _passive_cable(capacitance=0.0, efield_dt=1e-6)
    sim.set_potential(ts.Verts(cable.start_vertices), 10.0)
    sim.set_potential(ts.Verts(cable.end_vertices), 0.0)
    sim.set_voltage_clamped(ts.Verts(cable.start_vertices), True)
    sim.set_voltage_clamped(ts.Verts(cable.end_vertices), True)
    sim.run(1e-6)
    x = cable.mesh.vertices[:, 0]
    potential = sim.get_potential(ts.Verts(np.arange(cable.mesh.n_vertices)), per_element=True)
    np.testing.assert_allclose(potential, 10.0 * (1 - x / cable.length), atol=1e-10, rtol=0)
    # the mean of each slice (what the validation table states) is linear too
    for plane in np.unique(x):
        mean = potential[np.isclose(x, plane)].mean()
        assert abs(mean - 10.0 * (1 - plane / cable.length)) < 1e-10


@pytest.mark.parametrize("solver, corner", [("ssa", 0), ("ode", 1)])
def test_charge_is_conserved_on_a_closed_passive_membrane(solver, corner):
    """No leak: Σ C_i ΔV_i equals the injected charge I·T (K has zero column sums).

    ``ssa``: backward Euler, current into the axis vertex (no capacitance). ``ode``:
    Crank–Nicolson, current into a membrane vertex (into a vertex without capacitance the
    trapezoid takes half of a current step in its first step: docs/concepts/efield.md §3).
    """
    cable, sim = _passive_cable(efield_dt=1e-5, solver=solver)
    sim.set_potential("membrane", -65e-3)
    vertex = int(cable.start_vertices[corner])
    system = sim.solver.system
    assert (system.capacitance[list(system.vertex_ids).index(vertex)] > 0) == bool(corner)
    sim.set_current_clamp(ts.Vert(vertex), 3e-12)
    sim.run(2e-3)
    potential = sim.get_potential(ts.Verts(system.vertex_ids), per_element=True)
    charge = float(system.capacitance @ (potential + 65e-3))
    assert abs(charge - 3e-12 * 2e-3) <= 1e-12 * 3e-12 * 2e-3


def test_rallpack1_default_run_against_the_analytic_cable():
    """Rallpack 1 in full (cheap: no chemistry): RMS < 1 mV at both ends over 0.25 s.

    The analytic solution uses the mesh cable's own cross-section and perimeter (polygon,
    matched to the 1 µm cylinder's area); the published end values are checked separately.
    """
    from tetrasim.examples_efield import cable_analytic, run_cable

    out = run_cable("passive", solver="ode", n_slices=200, efield_dt=1e-5, t_end=0.25, every=1e-3)
    cable = out["cable"]
    for x, data in ((0.0, out["v_start"][0]), (cable.length, out["v_end"][0])):
        reference = cable_analytic(x, out["times"], cable.length, cable.area, cable.perimeter)
        rms = float(np.sqrt(np.mean((data - reference) ** 2)))
        assert rms < 1e-3, (x, rms)


def test_analytic_cable_reproduces_the_published_rallpack1_values():
    from tetrasim.examples_efield import cable_analytic

    a, length = 0.5e-6, 1e-3
    at_start = cable_analytic(0.0, [0.25], length, math.pi * a * a, 2 * math.pi * a)[0]
    at_end = cable_analytic(length, [0.25], length, math.pi * a * a, 2 * math.pi * a)[0]
    assert abs(at_start - 101.935e-3) < 1e-6 and abs(at_end - 43.097e-3) < 1e-6


def test_passive_cable_is_the_same_with_both_stochastic_solvers():
    """Without chemistry the EField loop does not depend on the chemistry solver (``ssa`` and
    ``opsplit`` both step V by backward Euler; ``ode`` by Crank–Nicolson, checked against the
    analytic cable in the Rallpack 1 tests)."""
    results = []
    for name in ("ssa", "opsplit"):
        cable, sim = _passive_cable(solver=name, efield_dt=1e-5)
        sim.set_potential("membrane", -65e-3)
        sim.set_membrane_resistivity("membrane", 4.0, -65e-3)
        sim.set_current_clamp(ts.Verts(cable.start_vertices), 1e-12)
        record = sim.record(ts.Potential(ts.Verts(cable.end_vertices)), every=1e-4)
        results.append(sim.run(1e-3)[record])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


# ------------------------------------------------------------------ GHK
def _ghk_setup(solver, n_open=50.0, outer_conc=2e-3, potential=-30e-3):
    model = ts.Model()
    model.species("Ca", valence=2)
    model.channel("CaP", states=["closed", "open"])
    model.volume_system("cyt")
    pm = model.surface_system("pm")
    pm.ghk_current("ICaP", channel_state="CaP.open", ion="Ca", permeability=2.5e-20, outer_conc=outer_conc)
    cable = cable_geometry(length=4e-6, n_slices=2, systems=["cyt"], surface_systems=["pm"])
    options = {"linear_solver": "direct"} if solver == "ode" else {}
    sim = ts.Simulation(model, cable.geometry, solver=solver, seed=3, efield_dt=1e-5, **options)
    sim.set_potential("membrane", potential)
    sim.set_voltage_clamped("membrane", True)
    sim.set_count("memb", "CaP.open", n_open)
    return sim


def _ghk_influx_per_channel(potential, outer_conc, permeability=2.5e-20, valence=2, temperature=293.15):
    """Ions/s entering through one open channel when the inside holds no ions (GHK, written out here)."""
    faraday, gas = 96485.33212, 8.314462618
    u = valence * faraday * potential / (gas * temperature)
    molar_flux = permeability * u * outer_conc * 1e3 * math.exp(-u) / (1 - math.exp(-u))  # mol/s inward
    return molar_flux * 6.02214076e23


def test_ghk_flux_ode_matches_the_ghk_equation():
    sim = _ghk_setup("ode")
    current = sim.record(ts.Current("ICaP", where="membrane"), every=1e-4)
    sim.run(1e-3)
    rate = 50 * _ghk_influx_per_channel(-30e-3, 2e-3)
    # with ~a few ions inside, efflux is negligible (< 1e-6 relative here)
    assert sim.get_count("cyto", "Ca") == pytest.approx(rate * 1e-3, rel=1e-4)
    # outward current = -z e x influx
    assert sim.results[current][0, -1] == pytest.approx(-2 * 1.602176634e-19 * rate, rel=1e-3)


def test_ghk_events_ssa_have_the_poisson_mean():
    """Influx events in 1 ms: Poisson(a T) per run; z-test over 30 runs (alpha 1e-4, one assertion)."""
    from stats import z_threshold

    sim = _ghk_setup("ssa", n_open=20)
    runs = 30
    sim.run(1e-3, runs=runs)
    counts = np.asarray(sim.get_count("cyto", "Ca"), dtype=float)
    mean = 20 * _ghk_influx_per_channel(-30e-3, 2e-3) * 1e-3
    z = (counts.mean() - mean) / math.sqrt(mean / runs)
    assert abs(z) < z_threshold(1), (counts.mean(), mean, z)


# ------------------------------------------------------------------ bad input
def test_vdep_rate_that_raises_or_is_negative_is_a_model_error_at_compile():
    for rate, text in ((lambda V: 1.0 if V < 0.02 else 1.0 / 0.0, "ZeroDivisionError"),
                       (lambda V: -1.0 if V > 0 else 1.0, "-1.0"),
                       (lambda V: float("nan"), "nan")):
        model = ts.Model()
        model.channel("K", states=["c", "o"])
        model.surface_system("pm").vdep_transition("K.c -> K.o", rate=rate)
        cable = cable_geometry(length=4e-6, n_slices=2, surface_systems=["pm"])
        with pytest.raises(ModelError, match=r"K\.c -> K\.o.*V = ") as info:
            ts.Simulation(model, cable.geometry, solver="ode", efield_dt=1e-5)
        assert text in str(info.value)


def test_potential_outside_the_rate_table_is_a_simulation_error():
    model = ts.Model()
    model.channel("K", states=["c", "o"])
    model.surface_system("pm").vdep_transition("K.c -> K.o", rate=lambda V: 10.0, vrange=(-0.1, 0.05))
    cable = cable_geometry(length=4e-6, n_slices=2, surface_systems=["pm"])
    sim = ts.Simulation(model, cable.geometry, solver="ssa", efield_dt=1e-5)
    sim.set_potential("membrane", 0.08)
    with pytest.raises(SimulationError, match=r"0\.08 V.*'K\.c -> K\.o'"):
        sim.run(1e-4)


def test_bad_model_input_is_reported():
    model = ts.Model()
    model.channel("Na", states=["c", "o"])
    pm = model.surface_system("pm")
    with pytest.raises(ModelError, match="Channel.state"):
        pm.vdep_transition("Na.c <-> Na.o", rate=lambda V: 1.0)
    with pytest.raises(ModelError, match="not a channel state"):
        pm.vdep_transition("Na.c -> Na.x", rate=lambda V: 1.0)
    with pytest.raises(ModelError, match="function of V"):
        pm.vdep_transition("Na.c -> Na.o", rate=3.0)
    with pytest.raises(ModelError, match="vrange"):
        pm.vdep_transition("Na.c -> Na.o", rate=lambda V: 1.0, vrange=(0.1, -0.1))
    model.species("Ca")
    with pytest.raises(ModelError, match="valence 0"):
        pm.ghk_current("ICa", channel_state="Na.o", ion="Ca", permeability=1e-20, outer_conc=2e-3)
    with pytest.raises(ModelError, match="conductance"):
        pm.ohmic_current("INa", channel_state="Na.o", conductance=-1.0, reversal=0.05)
    with pytest.raises(ModelError, match="already used"):
        model.channel("Na", states=["a"])


def test_bad_geometry_and_simulation_input_is_reported():
    mesh = cable_mesh(10e-6, 1e-6, 4, 6)
    x = mesh.tet_barycenters[:, 0]
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=np.flatnonzero(x < 2e-6))
    geom.compartment("right", tets=np.flatnonzero(x > 7e-6))
    left = mesh.surface_tris(geom.compartments["left"].tets)
    right = mesh.surface_tris(geom.compartments["right"].tets)
    geom.patch("pl", tris=left, inner="left")
    geom.patch("pr", tris=right, inner="right")
    with pytest.raises(GeometryError, match="not connected"):
        geom.membrane("m", patches=["pl", "pr"])
    with pytest.raises(GeometryError, match="no patch"):
        geom.membrane("m", patches=["nope"])
    with pytest.raises(GeometryError, match="capacitance"):
        geom.membrane("m", patches=["pl"], capacitance=-1)

    cable = cable_geometry(length=4e-6, n_slices=2)
    with pytest.raises(SimulationError, match="efield_dt"):
        ts.Simulation(ts.Model(), cable.geometry, solver="ssa", efield_dt=-1.0)
    plain = ts.MeshGeometry(mesh)
    plain.compartment("c")
    with pytest.raises(SimulationError, match="no membrane"):
        ts.Simulation(ts.Model(), plain, solver="ssa", efield_dt=1e-5)
    sim_plain = ts.Simulation(ts.Model(), plain, solver="ssa")
    with pytest.raises(SimulationError, match="no membrane potential"):
        sim_plain.set_potential("c", -65e-3)

    sim = ts.Simulation(ts.Model(), cable.geometry, solver="ssa", efield_dt=1e-5)
    with pytest.raises(SimulationError, match="not in the conducting volume"):
        sim.set_potential(ts.Vert(10**6), 0.0)
    with pytest.raises(SimulationError, match="no membrane current"):
        sim.record(ts.Current("INope", where="membrane"), every=1e-4)
    with pytest.raises(SimulationError, match="resistivity"):
        sim.set_membrane_resistivity("membrane", -4.0, -65e-3)
    with pytest.raises(ts.TetrasimError, match="finite"):
        sim.set_potential("membrane", float("nan"))


def test_zero_capacitance_without_clamp_or_leak_is_a_simulation_error():
    _cable, sim = _passive_cable(capacitance=0.0, efield_dt=1e-5, solver="ssa")
    with pytest.raises(SimulationError, match="singular"):
        sim.run(1e-4)


def test_channels_without_a_membrane_is_a_compile_error():
    model = ts.Model()
    model.channel("K", states=["c", "o"])
    model.surface_system("pm").vdep_transition("K.c -> K.o", rate=lambda V: 1.0)
    mesh = cable_mesh(4e-6, 1e-6, 2, 6)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("c")
    geom.patch("p", tris=mesh.surface_tris(), inner="c", systems=["pm"])
    with pytest.raises(CompileError, match="no membrane"):
        ts.Simulation(model, geom, solver="ssa")


def test_set_rate_on_a_voltage_dependent_transition_is_a_simulation_error():
    """Its rate is refreshed from the table every EField step: set_rate would be silently lost."""
    model = ts.Model()
    model.channel("K", states=["c", "o"])
    pm = model.surface_system("pm")
    pm.vdep_transition("K.c -> K.o", rate=lambda V: 10.0, name="open")
    pm.reaction("K.o.s -> K.c.s", kf=5.0, name="close")
    cable = cable_geometry(length=4e-6, n_slices=2, surface_systems=["pm"])
    sim = ts.Simulation(model, cable.geometry, solver="ssa", efield_dt=1e-5)
    with pytest.raises(SimulationError, match="voltage-dependent"):
        sim.set_rate("open", 20.0)
    sim.set_rate("close", 7.0)  # an ordinary surface reaction on the channel keeps working
    assert sim.get_rate("close") == 7.0
