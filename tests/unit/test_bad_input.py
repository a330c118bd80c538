"""Issue 14 item 9, issue 15 items 1, 8 and 9: bad input gets a typed error that says what to do.

Every case listed in the issues, one assertion each. Before the fixes these either raised a raw
Python/NumPy error (ValueError, AttributeError, KeyError, IsADirectoryError) or were silently
accepted (``Tet(1.7)`` read as tet 1, ``sed=1`` ignored, ``save("x.csv")`` writing HDF5).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.cli import main


def model():
    m = ts.Model()
    m.species("A", "B", "Ca")
    v = m.volume_system("v")
    v.reaction("A -> B", kf=1.0, name="binding")
    v.diffusion("A", 1e-12)
    return m


def wellmixed():
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    return geom


def mesh_geom():
    geom = ts.MeshGeometry(grid_mesh(2, 1, 1, 0.5e-6))
    geom.compartment("c", systems=["v"])
    return geom


def wm_sim(**options):
    return ts.Simulation(model(), wellmixed(), solver="wm-ssa", seed=1, progress=False, **options)


def mesh_sim(solver="ssa", **options):
    return ts.Simulation(model(), mesh_geom(), solver=solver, seed=1, progress=False, **options)


# ------------------------------------------------------------------ element indices
@pytest.mark.parametrize("make", [lambda: ts.Tet("a"), lambda: ts.Tri("x"), lambda: ts.Tet(1.7),
                                  lambda: ts.Tet([0, 0.5]), lambda: ts.Tet(None), lambda: ts.Tet(True)])
def test_element_selectors_take_whole_numbers(make):
    with pytest.raises(ts.SimulationError, match="whole numbers|indices"):
        make()


def test_selectors_accept_numpy_integers():
    sim = mesh_sim()
    sim.set_count(ts.Tet(np.int64(3)), "A", 5)
    assert sim.get_count(ts.Tet([3]), "A") == 5


@pytest.mark.parametrize("tets", [["a"], [0.9], np.array([1.5, 2.0]), [[0, 1], [2, 3]]])
def test_compartment_tets_are_checked(tets):
    geom = ts.MeshGeometry(grid_mesh(2, 1, 1, 0.5e-6))
    with pytest.raises(ts.GeometryError):
        geom.compartment("c", tets=tets)


def test_patch_triangles_of_shape_k_by_2_are_refused():
    geom = mesh_geom()
    tris = geom.mesh.surface_tris()[:4]
    with pytest.raises(ts.GeometryError, match=r"\(k, 3\)"):
        geom.patch("p", tris=np.stack([tris, tris], axis=1), inner="c")


# ------------------------------------------------------------------ flags, seeds, names
def test_set_clamped_takes_a_bool():
    sim = wm_sim()
    with pytest.raises(ts.SimulationError, match="True or False"):
        sim.set_clamped("c", "A", "no")
    sim.set_clamped("c", "A", np.bool_(True))
    assert sim.runtime.clamped.any()


@pytest.mark.parametrize("seed", [True, 1.5, "1", -1])
def test_seed_must_be_a_whole_number(seed):
    with pytest.raises(ts.SimulationError, match="seed"):
        ts.Simulation(model(), wellmixed(), solver="wm-ssa", seed=seed)


def test_set_rate_names():
    sim = wm_sim()
    with pytest.raises(ts.ModelError, match="reaction name"):
        sim.set_rate(123, 1.0)
    with pytest.raises(ts.ModelError, match="did you mean 'binding'"):
        sim.set_rate("bindng", 1.0)


def test_species_names_must_be_parseable():
    with pytest.raises(ts.ModelError, match="ASCII"):
        ts.Model().species("Caα")


def test_fractional_stoichiometry_is_named():
    m = model()
    with pytest.raises(ts.ModelError, match="stoichiometry must be a whole number"):
        m.volume_system("w").reaction("1.5 A -> B", kf=1.0)
    with pytest.raises(ts.ModelError, match="stoichiometry must be a whole number"):
        m.volume_system("x").reaction("A -> 0.5B", kf=1.0)


def test_misspelt_species_is_a_model_error_with_suggestion():
    """The user guide promises ModelError (it was CompileError), also for a case-only mismatch."""
    sim = wm_sim()
    with pytest.raises(ts.ModelError, match="did you mean 'Ca'"):
        sim.set_count("c", "Caa", 1)
    with pytest.raises(ts.ModelError, match="did you mean 'Ca'"):
        sim.set_count("c", "ca", 1)
    with pytest.raises(ts.ModelError, match="did you mean 'A'"):
        sim.record(ts.Count("a", where="c"), every=0.1)


def test_solver_name_suggestion():
    with pytest.raises(ts.CapabilityError, match="did you mean 'wm-ssa'"):
        ts.Simulation(model(), wellmixed(), solver="wm_ssa")
    with pytest.raises(ts.CapabilityError, match="did you mean 'opsplit'"):
        ts.Simulation(model(), mesh_geom(), solver="OpSplit_")


# ------------------------------------------------------------------ keywords and options (15.1)
def test_misspelt_simulation_keywords_are_refused():
    with pytest.raises(ts.ArgumentError, match="did you mean 'seed'"):
        ts.Simulation(model(), wellmixed(), solver="wm-ssa", sed=1)
    with pytest.raises(ts.ArgumentError, match="did you mean 'progress'"):
        ts.Simulation(model(), wellmixed(), solver="wm-ssa", seed=1, progres=False)


@pytest.mark.parametrize("solver", ["ssa", "wm-ssa", "opsplit", "ode"])
def test_unknown_solver_options_are_refused(solver):
    geom = wellmixed() if solver.startswith("wm") else mesh_geom()
    with pytest.raises(ts.ArgumentError, match="no option 'tolerance'"):
        ts.Simulation(model(), geom, solver=solver, seed=1, tolerance=1e-3)


def test_misspelt_method_keywords_are_refused():
    sim = wm_sim()
    with pytest.raises(ts.ArgumentError, match="did you mean 'per_element'"):
        sim.set_count("c", "A", 1, per_elem=True)
    with pytest.raises(ts.ArgumentError, match="did you mean 'every'"):
        sim.record(ts.Count("A", where="c"), evry=0.1)
    with pytest.raises(ts.ArgumentError, match="did you mean 'where'"):
        ts.Count("A", wher="c")
    with pytest.raises(ts.ArgumentError, match="did you mean 'kf'"):
        ts.Model().volume_system("v").reaction("-> A", k=1.0)
    with pytest.raises(ts.ArgumentError, match="did you mean 'volume'"):
        ts.WellMixed().compartment("c", vol=1e-18)
    with pytest.raises(ts.ArgumentError, match="did you mean 'systems'"):
        ts.MeshGeometry(grid_mesh(1, 1, 1, 1e-6)).compartment("c", system=["v"])
    with pytest.raises(ts.ArgumentError):  # too many positional arguments
        sim.get_count("c", "A", False, 4)


def test_opsplit_dt_takes_a_quantity():
    assert mesh_sim("opsplit", dt="1 us").solver.tau == pytest.approx(1e-6)
    assert mesh_sim("opsplit", dt=ts.Q("2 us")).solver.tau == pytest.approx(2e-6)
    with pytest.raises(ts.UnitError):
        mesh_sim("opsplit", dt="1 um")
    with pytest.raises(ts.SimulationError):
        mesh_sim("opsplit", order_seed=1.5)


# ------------------------------------------------------------------ recording and results
def test_tiny_record_interval_is_refused_before_allocating():
    sim = wm_sim()
    sim.record(ts.Count("A", where="c"), every=1e-300)
    with pytest.raises(ts.SimulationError, match="samples"):
        sim.run(1.0)


def test_load_results_needs_the_schema(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    with pytest.raises(ts.SimulationError, match="not tetrasim results"):
        ts.load_results(path)
    with h5py.File(tmp_path / "broken.h5", "w") as f:  # schema present, series damaged
        f.attrs["schema_version"] = 1
        f.create_group("series").create_group("s")
    with pytest.raises(ts.SimulationError, match="damaged"):
        ts.load_results(tmp_path / "broken.h5")
    with pytest.raises(ts.SimulationError):
        ts.load_results(tmp_path)  # a folder


def results():
    sim = wm_sim()
    sim.record(ts.Count("A", where="c"), every=0.1)
    sim.set_count("c", "A", 10)
    return sim.run(0.2)


def test_save_does_not_create_folders(tmp_path):
    with pytest.raises(ts.SimulationError, match="does not exist"):
        results().save(tmp_path / "no" / "such" / "out.h5")
    assert not (tmp_path / "no").exists()


def test_save_onto_a_folder_and_wrong_extension(tmp_path):
    res = results()
    with pytest.raises(ts.SimulationError, match="is a folder"):
        res.save(tmp_path)
    with pytest.raises(ts.SimulationError, match=r"\.h5"):
        res.save(tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert ts.load_results(res.save(tmp_path / "out.hdf5")).runs == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.hdf5"]  # no temporary file left


def test_demo_out_naming_a_file(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("x")
    assert main(["demo", "--out", str(target), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "tetrasim: error:" in err and "is a file" in err
