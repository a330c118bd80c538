"""Issue 14 item 11 and issue 15 item 10: ModelWarning on magnitudes far from cell biology.

Each warning must point at the user's line and say which unit a bare number was read in.
"""

from __future__ import annotations

import warnings

import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from tetrasim.errors import ModelWarning


def caught(action):
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always")
        action()
    return [w for w in found if issubclass(w.category, ModelWarning)]


def test_volume_of_one_cubic_metre_warns_at_the_user_line():
    found = caught(lambda: ts.WellMixed().compartment("c", volume=1.0))
    assert len(found) == 1 and "m^3" in str(found[0].message)
    assert found[0].filename == __file__
    assert not caught(lambda: ts.WellMixed().compartment("c", volume=1e-18))


def test_patch_area_warns():
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18)
    assert caught(lambda: geom.patch("p", area=1.0, inner="c"))
    assert not caught(lambda: geom.patch("q", area=8e-12, inner="c"))


def sim():
    model = ts.Model()
    model.species("A", "R")
    model.volume_system("v").reaction("A -> A + A", kf=0.0)
    model.surface_system("s").reaction("R.s -> R.s + A.i", kf=0.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    geom.patch("p", area=1e-12, inner="c", systems=["s"])
    return ts.Simulation(model, geom, solver="wm-ode", seed=1, progress=False)


def test_ten_molar_warns_and_micromolar_does_not():
    s = sim()
    found = caught(lambda: s.set_conc("c", "A", 10.0))
    assert len(found) == 1 and "uM" in str(found[0].message) and found[0].filename == __file__
    assert not caught(lambda: s.set_conc("c", "A", 40e-6))
    assert not caught(lambda: s.set_conc("c", "A", ts.Q("2 mM")))
    assert caught(lambda: s.set_conc("c", "A", [20.0], per_element=True))


def test_surface_density_above_lipid_packing_warns():
    s = sim()
    assert caught(lambda: s.set_conc("p", "R", 1e-3))
    assert not caught(lambda: s.set_conc("p", "R", 1e-9))


def test_molecules_per_voxel_at_compile_time():
    """A grid of 1 nm cubes (a mesh in um whose coordinates were scaled to nm) holds
    ~1e-6 molecules per tet at 1 uM; 0.25 um cubes hold ~1.6 and are fine."""
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)

    def compile_on(h):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ts.errors.GeometryWarning)  # the mesh's own edge warning
            geom = ts.MeshGeometry(grid_mesh(2, 1, 1, h))
        geom.compartment("c", systems=["v"])
        return lambda: ts.compile_system(model, geom)

    found = caught(compile_on(1e-9))
    assert len(found) == 1 and "molecules at 1 uM" in str(found[0].message)
    assert not caught(compile_on(0.25e-6))
    assert caught(compile_on(1e-3))  # 1 mm cubes (a mesh in mm read as m): ~1e11 per tet


def test_warnings_can_be_silenced_or_made_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        with pytest.raises(ModelWarning):
            ts.WellMixed().compartment("c", volume=1.0)


def test_changing_a_diffusion_coefficient_warns_too():
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    geom = ts.MeshGeometry(grid_mesh(2, 1, 1, 0.5e-6))
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    found = caught(lambda: sim.set_diffusion_coefficient("A", 1e-3))
    assert len(found) == 1 and "m^2/s" in str(found[0].message) and found[0].filename == __file__
    assert not caught(lambda: sim.set_diffusion_coefficient("A", 2e-12))
