"""The exact SSA kernel equals its plain-Python twin (kernels/reference_ssa.py) bit for bit.

The twin recomputes every propensity and rebuilds the sum tree at every event, so this checks
the kernel's dependency graph, incremental tree updates, clamps, falling factorials and hop
target selection against the specification, on the same xoshiro stream: counts at every sample
and the final generator state must be identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.kernels.reference_ssa import Xoshiro256, reference_ssa_advance
from tetrasim.kernels.rng import next_u64, seed_states

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import meshes  # noqa: E402


def _twin_run(sim, counts, t_end, every):
    """Run the twin from ``counts`` with run 0's fresh stream; returns (samples, counts, state)."""
    c, rt, solver = sim.compiled, sim.runtime, sim.solver
    counts = counts.copy()
    state = seed_states(sim.seed, 1)[0].copy()  # the stream run 0 starts from
    times = np.arange(0, int(round(t_end / every)) + 1) * every
    pools = np.arange(c.n_pools, dtype=np.int64)
    out = np.zeros((len(times), c.n_pools), dtype=np.int64)
    reference_ssa_advance(counts, rt.clamped, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count,
                          c.rx_upd_ptr, c.rx_upd_pool, c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest,
                          rt.df_rate, rt.df_total, state, 0.0, t_end, times, pools, pools, out,
                          solver._tree_size)
    return out, counts, state


def _all_locations(sim):
    c = sim.compiled
    out = []
    for where, elements in list(c.compartment_elements.items()) + list(c.patch_elements.items()):
        for s, name in enumerate(c.species_names):
            if c.present[elements, s].any():
                out.append((name, where))
    return out


def _compare(sim, t_end, every):
    recorders = [sim.record(ts.Count(name, where=where, per_element=True), every=every)
                 for name, where in _all_locations(sim)]
    initial = np.asarray(sim._template[: sim.compiled.n_pools]).copy()  # replicate 0's initial state
    twin_samples, twin_counts, twin_state = _twin_run(sim, initial, t_end, every)
    res = sim.run(t_end)
    c = sim.compiled
    for recorder in recorders:
        species = c.species_index(recorder.probe.species)
        expected = twin_samples[:, recorder.elements * c.n_species + species]
        np.testing.assert_array_equal(res[recorder][0], expected)
    np.testing.assert_array_equal(sim._states[0][: c.n_pools], twin_counts)
    # the generator states agree too: both consumed exactly the same draws
    run_state = sim._run_states[0]
    kernel_state = np.asarray(getattr(run_state, "rng", run_state)).copy()
    assert [next_u64(kernel_state) for _ in range(3)] == [Xoshiro256(twin_state).next_u64() for _ in range(3)]
    assert sim.solver.events > 50  # the comparison covered real work


@pytest.mark.parametrize("seed", [4, 5])
def test_mesh_reaction_diffusion_with_clamp_matches_twin(seed):
    """Reactions of order 0-3, volume and surface diffusion, a surface reaction and a clamp.

    (A model without diffusion and with few reactions runs the linear-scan kernel instead, whose
    sums are formed in another order: equal to the tree kernel but for last-bit round-off.)
    """
    from tetrasim.geometry import MeshGeometry

    mesh = meshes.tiny_mesh()
    model = ts.Model()
    model.species("A", "B", "C", "S", "P")
    volume = model.volume_system("v")
    volume.reaction("A + B <-> C", kf=1e9, kb=50)
    volume.reaction("2 A -> B", kf=3e8)
    volume.reaction("3 B -> C", kf=1e16)
    volume.reaction("-> A", kf=1e-4)
    volume.diffusion("A", 1e-12)
    volume.diffusion("C", 4e-13)
    surface = model.surface_system("s")
    surface.reaction("S.s + A.i -> P.s", kf=1e9)
    surface.diffusion("S", 1e-13)
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", systems=["v"])
    geom.patch("memb", tris=mesh.surface_tris(), inner="cyto", systems=["s"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=seed, progress=False)
    sim.set_count("cyto", "A", 120)
    sim.set_count("cyto", "B", 60)
    sim.set_count("memb", "S", 60)
    sim.set_count(ts.Tet(0), "B", 7)
    sim.set_clamped(ts.Tet(0), "B", True)
    _compare(sim, 0.01, 0.001)
