"""Issue 14 item 7: concentrations on a patch are mol/m² (STEPS' convention for surface reactions).

Before the fix, ``set_conc`` on an 8 µm² patch at 1e-6 put 1e3 times too many molecules (it used
the molar factor 1e3·N_A·area) and the ``Conc`` probe reported count / (1e3·N_A·area) labelled M.
References here are written out by hand from N_A and the area, not taken from tetrasim.
"""

from __future__ import annotations

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh

N_A = 6.02214076e23  # exact (SI 2019)
AREA = 8e-12  # m², 8 µm²
VOLUME = 1e-18  # m³


def wellmixed_sim(solver="wm-ssa"):
    model = ts.Model()
    model.species("A", "R", "RA")
    model.volume_system("v").reaction("A -> A + A", kf=0.0)
    model.surface_system("s").reaction("R.s + A.i <-> RA.s", kf=1e6, kb=1.0)
    geom = ts.WellMixed()
    geom.compartment("cyto", volume=VOLUME, systems=["v"])
    geom.patch("memb", area=AREA, inner="cyto", systems=["s"])
    return ts.Simulation(model, geom, solver=solver, seed=1, progress=False)


@pytest.mark.parametrize("solver", ["wm-ssa", "wm-ode"])
def test_set_conc_on_a_patch_is_mol_per_square_metre(solver):
    sim = wellmixed_sim(solver)
    sim.set_conc("memb", "R", 1e-6)  # mol/m²
    expected = 1e-6 * N_A * AREA  # 4.8e6 molecules, not 4.8e9
    count = sim.get_count("memb", "R")
    if solver == "wm-ssa":
        assert count == round(expected)
    else:
        assert count == pytest.approx(expected, rel=1e-12)
    assert sim.get_conc("memb", "R") == pytest.approx(1e-6, rel=1e-6)


def test_quantities_on_a_patch_need_surface_units():
    sim = wellmixed_sim()
    sim.set_conc("memb", "R", ts.Q("2e-7 mol/m^2"))
    assert sim.get_count("memb", "R") == round(2e-7 * N_A * AREA)
    with pytest.raises(ts.UnitError):
        sim.set_conc("memb", "R", ts.Q("1 uM"))  # a volume concentration on a membrane
    with pytest.raises(ts.UnitError):
        sim.set_conc("cyto", "A", ts.Q("1e-9 mol/m^2"))  # and a surface density in a volume


def test_volume_concentrations_stay_molar():
    sim = wellmixed_sim()
    sim.set_conc("cyto", "A", 1e-6)  # M
    assert sim.get_count("cyto", "A") == round(1e-6 * 1e3 * N_A * VOLUME)


def test_conc_and_amount_probes_on_a_patch():
    sim = wellmixed_sim()
    sim.set_count("memb", "R", 4000)
    sim.set_count("cyto", "A", 0)
    conc = sim.record(ts.Conc("R", where="memb"), every=0.1)
    amount = sim.record(ts.Amount("R", where="memb"), every=0.1)
    volume_conc = sim.record(ts.Conc("A", where="cyto"), every=0.1)
    res = sim.run(0.2)
    assert res[conc][0, 0] == pytest.approx(4000 / (N_A * AREA), rel=1e-12)
    assert res[amount][0, 0] == pytest.approx(4000 / N_A, rel=1e-12)
    assert res.series_of(conc).unit == "mol/m^2"
    assert res.series_of(amount).unit == "mol"
    assert res.series_of(volume_conc).unit == "M"
    assert res.series_of(amount).quantity == "amount"


def test_per_triangle_concentration_on_a_mesh():
    mesh = grid_mesh(2, 1, 1, 0.5e-6)
    model = ts.Model()
    model.species("A", "R")
    model.volume_system("v").diffusion("A", 1e-12)
    model.surface_system("s").reaction("R.s + A.i -> R.s", kf=1e6)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", systems=["v"])
    patch = geom.patch("memb", tris=mesh.surface_tris(), inner="cyto", systems=["s"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=2, progress=False)
    areas = mesh.tri_areas[patch.tris]
    counts = np.arange(1, len(areas) + 1)
    sim.set_count("memb", "R", counts, per_element=True)
    expected = counts / (N_A * areas)
    np.testing.assert_allclose(sim.get_conc("memb", "R", per_element=True), expected, rtol=1e-12)
    assert sim.get_conc("memb", "R") == pytest.approx(counts.sum() / (N_A * areas.sum()), rel=1e-12)
    tri = int(patch.tris[0])
    assert sim.get_conc(ts.Tri(tri), "R") == pytest.approx(1 / (N_A * areas[0]), rel=1e-12)
    rec = sim.record(ts.Conc("R", where="memb", per_element=True), every=1.0)
    np.testing.assert_allclose(sim.run(0.0)[rec][0, 0], counts / (N_A * areas), rtol=1e-12)
