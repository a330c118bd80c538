"""Checkpoint/restore and exact continuation for every solver (issue 10 item 1).

The references are runs of the same simulation without interruption: a run split by
``run(a); checkpoint; restore; run(b)`` must reproduce ``run(b)`` bit for bit (same seed). The
deterministic solvers reach this too, at their default tolerances: their integrator's steps do
not depend on where a run stops, it is kept between runs and saved in the checkpoint
(solvers/ode_continuation.py). The issue asks for 1e-9 relative; exact is what they give.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import CapabilityError, CheckpointError
from tetrasim.solvers.ode_continuation import SAVABLE_METHODS

STOCHASTIC = ["wm-ssa", "ssa", "opsplit"]
DETERMINISTIC = ["wm-ode", "ode"]
ODE_OPTIONS = {}  # the default tolerances: continuation keeps the integrator, so it is exact anyway


def build(solver, boundary=False):
    """A + B <-> C with diffusion; on a mesh, two compartments joined by a diffusion boundary."""
    model = ts.Model()
    model.species("A", "B", "C")
    v = model.volume_system("v")
    v.reaction("A + B <-> C", kf=1e8, kb=50.0)
    v.diffusion("A", 1e-12)
    v.diffusion("C", 5e-13)
    if solver.startswith("wm-"):
        geom = ts.WellMixed()
        geom.compartment("c", volume=1e-18, systems=["v"])
        return model, geom
    mesh = grid_mesh(2, 2, 2, 0.3e-6)
    geom = ts.MeshGeometry(mesh)
    x = mesh.tet_barycenters[:, 0]
    geom.compartment("c", tets=np.flatnonzero(x < 0.3e-6), systems=["v"])
    geom.compartment("d", tets=np.flatnonzero(x >= 0.3e-6), systems=["v"])
    geom.diffusion_boundary("wall", between=("c", "d"), species=["A"] if boundary else None)
    return model, geom


def fresh(solver, model, geom, seed=3):
    options = ODE_OPTIONS if solver in DETERMINISTIC else {}
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False, **options)
    sim.set_count("c", "A", 300)
    sim.set_count("c", "B", 200)
    recorders = [sim.record(ts.Count("C", where="c"), every=1e-3),
                 sim.record(ts.Count("A", where="c", per_element=True), every=5e-3)]
    return sim, recorders


def recorded(sim, recorders):
    res = sim.results
    return [res[r.name] for r in recorders]


@pytest.mark.parametrize("solver", STOCHASTIC + DETERMINISTIC)
def test_restore_continues_like_one_run(solver, tmp_path):
    model, geom = build(solver, boundary=True)
    single, recs = fresh(solver, model, geom)
    single.run(0.04, runs=2)
    plain, plain_recs = fresh(solver, model, geom)
    plain.run(0.02, runs=2)
    plain.run(0.04)
    split, split_recs = fresh(solver, model, geom)
    split.run(0.02, runs=2)
    split.checkpoint(tmp_path / "run.h5")
    restored = ts.Simulation.restore(tmp_path / "run.h5", model, geom)
    assert restored.time == 0.02 and restored.n_runs == 2 and restored.solver_name == solver
    restored.run(0.04)
    series = (recorded(single, recs), recorded(plain, plain_recs), recorded(restored, split_recs))
    for a, b, c in zip(*series, strict=True):
        assert a.shape == c.shape
        np.testing.assert_array_equal(b, c)  # restore == plain continuation, every solver
        np.testing.assert_array_equal(a, c)  # == one uninterrupted run, bit for bit
    np.testing.assert_array_equal(restored._states, plain._states)


@pytest.mark.parametrize("solver", ["wm-ssa", "ssa", "wm-ode", "ode"])
def test_plain_continuation_is_exact_in_many_pieces(solver):
    """run(0.04) in 7 uneven pieces fires exactly the events of one run (the pending event is kept),
    or takes exactly the integrator steps of one run (pieces shorter than a step included)."""
    model, geom = build(solver, boundary=True)
    single, recs = fresh(solver, model, geom)
    single.run(0.04)
    pieces, piece_recs = fresh(solver, model, geom)
    for t in (0.0013, 0.005, 0.0101, 0.0101 + 1e-9, 0.02, 0.02, 0.033, 0.04):
        pieces.run(t)
    for a, b in zip(recorded(single, recs), recorded(pieces, piece_recs), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", STOCHASTIC + DETERMINISTIC)
def test_changes_between_runs_survive_a_checkpoint(solver, tmp_path):
    """Counts, rates, clamps and boundary switches set before the checkpoint act after the restore."""
    model, geom = build(solver)

    def protocol(sim, checkpoint_path=None):
        sim.run(0.01, runs=2)
        sim.set_count("c", "B", 150)
        sim.set_rate("v_r0", 2e8)
        sim.set_clamped("c", "B", True)
        if not solver.startswith("wm-"):
            sim.set_diffusion_boundary_active("wall", "A", True)
        if checkpoint_path is not None:
            sim.checkpoint(checkpoint_path)
            sim = ts.Simulation.restore(checkpoint_path, model, geom)
        sim.run(0.03)
        return sim

    a, recs = fresh(solver, model, geom)
    a = protocol(a)
    b, recs_b = fresh(solver, model, geom)
    b = protocol(b, tmp_path / "mid.h5")
    for x, y in zip(recorded(a, recs), recorded(b, recs_b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert b.get_rate("v_r0") == 2e8 and b.get_clamped("c", "B")
    if not solver.startswith("wm-"):
        assert b.get_diffusion_boundary_active("wall", "A")
        assert b.get_count("d", "A", keep_runs=True).sum() > 0  # the opened wall let A through


def test_checkpoint_before_the_first_run_keeps_per_replicate_placement(tmp_path):
    model, geom = build("ssa")
    a, recs = fresh("ssa", model, geom)
    a.checkpoint(tmp_path / "start.h5")
    b = ts.Simulation.restore(tmp_path / "start.h5", model, geom)
    a.run(0.01, runs=3)
    b.run(0.01, runs=3)
    np.testing.assert_array_equal(a._states, b._states)
    per_tet = b.get_count("c", "A", per_element=True, keep_runs=True)
    assert not np.array_equal(per_tet[0], per_tet[1])  # each replicate placed its own molecules


def test_extents_are_checkpointed(tmp_path):
    model, geom = build("ssa")
    a, _ = fresh("ssa", model, geom)
    rec = a.record(ts.Extent("v_r0", where="c"), every=0.01)
    a.run(0.04)
    b, _ = fresh("ssa", model, geom)
    b.record(ts.Extent("v_r0", where="c"), every=0.01)
    b.run(0.02)
    b.checkpoint(tmp_path / "e.h5")
    c = ts.Simulation.restore(tmp_path / "e.h5", model, geom)
    res = c.run(0.04)
    np.testing.assert_array_equal(res[rec.name], a.results[rec])
    assert c.get_extent("c", "v_r0") == a.get_extent("c", "v_r0") > 0


def test_restore_checks_model_and_geometry(tmp_path):
    model, geom = build("ssa")
    sim, _ = fresh("ssa", model, geom)
    sim.run(0.01)
    sim.checkpoint(tmp_path / "c.h5")
    other_model, _ = build("ssa")
    other_model.systems["v"].reaction("C ->", kf=1.0)
    with pytest.raises(CheckpointError, match="another model"):
        ts.Simulation.restore(tmp_path / "c.h5", other_model, geom)
    _, other_geom = build("ssa")
    other_geom.roi("unused", tets=[0])  # ROIs are selections only: still the same geometry
    ts.Simulation.restore(tmp_path / "c.h5", model, other_geom)
    mesh = grid_mesh(2, 2, 2, 0.31e-6)  # 3 % larger tets
    bigger = ts.MeshGeometry(mesh)
    x = mesh.tet_barycenters[:, 0]
    bigger.compartment("c", tets=np.flatnonzero(x < 0.31e-6), systems=["v"])
    bigger.compartment("d", tets=np.flatnonzero(x >= 0.31e-6), systems=["v"])
    bigger.diffusion_boundary("wall", between=("c", "d"))
    with pytest.raises(CheckpointError, match="another geometry"):
        ts.Simulation.restore(tmp_path / "c.h5", model, bigger)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ts.Simulation.restore(tmp_path / "missing.h5", model, geom)
    sim.results.save(tmp_path / "results.h5")
    with pytest.raises(CheckpointError, match="not a tetrasim checkpoint"):
        ts.Simulation.restore(tmp_path / "results.h5", model, geom)


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, geom = build("ssa")
    sim, _ = fresh("ssa", model, geom)
    sim.run(0.01)
    path = tmp_path / "run.h5"
    sim.checkpoint(path)
    before = path.read_bytes()
    sim.run(0.02)
    import tetrasim.checkpoint as checkpoint_module

    def broken(group, where):
        raise OSError("disk full")  # fails after the states were written to the temporary file

    monkeypatch.setattr(checkpoint_module, "_write_where", broken)
    with pytest.raises(OSError, match="disk full"):
        sim.checkpoint(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.h5"]  # no temporary file left behind
    assert ts.Simulation.restore(path, model, geom).time == 0.01


def test_a_killed_writer_leaves_the_previous_checkpoint(tmp_path):
    """The process dies half-way through writing (a truncated file): the old checkpoint is intact."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        import numpy as np, tetrasim as ts, tetrasim.checkpoint as cp
        from unit.test_checkpoint import build, fresh
        model, geom = build("ssa")
        sim, _ = fresh("ssa", model, geom)
        sim.run(0.01)
        sim.checkpoint({str(tmp_path / "run.h5")!r})
        sim.run(0.02)
        original = cp._write_where
        def dying(group, where):
            group.file.flush()
            os._exit(3)  # killed mid-write: no clean-up, no rename
        cp._write_where = dying
        sim.checkpoint({str(tmp_path / "run.h5")!r})
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3, done.stderr
    leftovers = [name for name in os.listdir(tmp_path) if name != "run.h5"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".part")  # the truncated temporary file
    model, geom = build("ssa")
    restored = ts.Simulation.restore(tmp_path / "run.h5", model, geom)
    assert restored.time == 0.01
    partial = tmp_path / leftovers[0]
    with pytest.raises(CheckpointError):
        ts.Simulation.restore(partial, model, geom)
    truncated = tmp_path / "truncated.h5"
    data = (tmp_path / "run.h5").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        ts.Simulation.restore(truncated, model, geom)


@pytest.mark.parametrize("solver", ["ssa", "opsplit", "ode"])
def test_auto_checkpoint(solver, tmp_path):
    model, geom = build(solver, boundary=True)
    single, recs = fresh(solver, model, geom)
    single.run(0.04, runs=2)
    auto, auto_recs = fresh(solver, model, geom)
    handle = auto.auto_checkpoint(every=0.015, path=tmp_path / "auto.h5")
    auto.run(0.04, runs=2)
    assert handle.written == 2  # at 0.015 and 0.03
    for a, b in zip(recorded(single, recs), recorded(auto, auto_recs), strict=True):
        np.testing.assert_array_equal(a, b)
    restored = ts.Simulation.restore(tmp_path / "auto.h5", model, geom)
    assert restored.time == pytest.approx(0.03)
    restored.run(0.04)
    for a, b in zip(recorded(single, recs), recorded(restored, auto_recs), strict=True):
        np.testing.assert_array_equal(a, b)
    auto.auto_checkpoint(None, None)
    with pytest.raises(ts.SimulationError):
        auto.auto_checkpoint(every=-1, path=tmp_path / "x.h5")


@pytest.mark.parametrize("method", ["BDF", "Radau", "RK45", "LSODA"])
def test_every_scipy_method_continues_exactly(method, tmp_path):
    """Kept between runs, every method's integrator takes the steps of one run; saved in a checkpoint,
    each method whose state is Python's continues exactly; LSODA (Fortran state) restarts there,
    within a small multiple of its tolerance."""
    options = {"method": method}
    model, geom = build("ode", boundary=True)

    def make():
        sim = ts.Simulation(model, geom, solver="ode", seed=3, progress=False, **options)
        sim.set_count("c", "A", 300)
        sim.set_count("c", "B", 200)
        return sim, [sim.record(ts.Count("C", where="c"), every=1e-3)]

    single, recs = make()
    single.run(0.04)
    plain, plain_recs = make()
    plain.run(0.013)
    plain.run(0.04)
    split, split_recs = make()
    split.run(0.013)
    split.checkpoint(tmp_path / "m.h5")
    restored = ts.Simulation.restore(tmp_path / "m.h5", model, geom)
    restored.run(0.04)
    runs = ((single, recs), (plain, plain_recs), (restored, split_recs))
    a, b, c = (recorded(sim, r)[0] for sim, r in runs)
    np.testing.assert_array_equal(a, b)
    if method == "LSODA":
        np.testing.assert_allclose(c, a, rtol=1e-6)  # the default rtol
        assert restored.solver.method not in SAVABLE_METHODS
    else:
        np.testing.assert_array_equal(a, c)


def test_extents_need_a_stochastic_solver():
    model, geom = build("wm-ode")
    sim = ts.Simulation(model, geom, solver="wm-ode", progress=False)
    with pytest.raises(CapabilityError):
        sim.record(ts.Extent("v_r0", where="c"), every=0.01)


@pytest.mark.parametrize("solver", ["wm-ssa", "ssa"])
def test_a_change_between_runs_discards_the_pending_event(solver):
    """With no molecule the next event lies at infinity; adding one must redraw it.

    Keeping the stale pending event would leave the molecule alive for ever; redrawn, it decays
    at 1000/s, so it is gone by t = 2 s except with probability e^-1000.
    """
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=1000.0)
    if solver == "wm-ssa":
        geom = ts.WellMixed()
        geom.compartment("c", volume=1e-18, systems=["v"])
    else:
        geom = ts.MeshGeometry(grid_mesh(1, 1, 1, 0.3e-6))
        geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver=solver, seed=5, progress=False)
    sim.run(1.0)
    sim.set_count(ts.Tet(0) if solver == "ssa" else "c", "A", 1)
    sim.run(2.0)
    assert sim.get_count("c", "A") == 0


@pytest.mark.parametrize("solver", DETERMINISTIC)
def test_linear_models_continue_within_the_issue_tolerance(solver, tmp_path):
    """expm (linear models) has no step grid to keep: a run restarts its Krylov windows at each run
    boundary from the state there, whose error the method keeps far below rtol. The issue's bound,
    1e-9 relative at the default rtol, holds for the split and for the restored run."""
    model = ts.Model()
    model.species("A", "C")
    v = model.volume_system("v")
    v.reaction("A <-> C", kf=30.0, kb=10.0)
    v.diffusion("A", 1e-12)
    v.diffusion("C", 3e-13)
    if solver == "wm-ode":
        geom = ts.WellMixed()
        geom.compartment("c", volume=1e-18, systems=["v"])
    else:
        geom = ts.MeshGeometry(grid_mesh(4, 2, 2, 0.3e-6))
        geom.compartment("c", systems=["v"])

    def make():
        sim = ts.Simulation(model, geom, solver=solver, progress=False)
        sim.set_count(ts.Tet(0) if solver == "ode" else "c", "A", 1000)
        return sim, sim.record(ts.Count("A", where="c", per_element=solver == "ode"), every=1e-3)

    single, rec = make()
    single.run(0.04)
    assert single.solver.method == "expm"
    split, split_rec = make()
    split.run(0.0137)
    split.checkpoint(tmp_path / "lin.h5")
    split.run(0.04)
    restored = ts.Simulation.restore(tmp_path / "lin.h5", model, geom)
    restored.run(0.04)
    reference = single.results[rec.name]
    for other in (split.results[split_rec.name], restored.results[split_rec.name]):
        np.testing.assert_allclose(other, reference, rtol=0, atol=1e-9 * np.abs(reference).max())
    np.testing.assert_array_equal(split.results[split_rec.name], restored.results[split_rec.name])
