"""The small-network ``wm-ssa`` kernel (linear-scan direct method) against the tree kernel.

Both draw the same random numbers in the same order and compute the same propensities; only
the total and the cumulative sums are added in a different order, which changes a trajectory
only when round-off in the last bit moves a selection boundary or a waiting time past a
sample (probability ~1e-16 per event). So over 2e5 events the two must agree exactly: same
event count, same final counts, same samples. Any difference in a propensity form (a wrong
falling factorial, a clamp ignored, a dropped zero-order term) shows up within a few events.
"""

from __future__ import annotations

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.kernels.ssa import build_tree, propensities, ssa_advance_dependents, tree_size
from tetrasim.solvers.ssa import _SMALL_NETWORK


def network():
    """Every propensity form: order 0, 1, A + B, 2 A (falling factorial), 2 A + B (general)."""
    model = ts.Model()
    model.species("A", "B", "C", "D")
    v = model.volume_system("v")
    v.reaction("-> A", kf=2e-4)
    v.reaction("A -> B", kf=3.0)
    v.reaction("A + B <-> C", kf=3e7, kb=20.0)
    v.reaction("2 A -> D", kf=2e7)
    v.reaction("2 A + B -> D", kf=1e14)
    v.reaction("D -> A + A", kf=5.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    return model, geom


def tree_kernel_run(sim, counts, t_end, record_times, seed_state):
    """The general kernel (partial-sums tree, dependency lists) on the simulation's arrays."""
    c, rt, solver = sim.compiled, sim.runtime, sim.solver
    leaves = np.zeros(solver.n_processes)
    propensities(counts, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.df_pool, rt.df_total,
                 leaves)
    tree = np.zeros(2 * tree_size(solver.n_processes))
    build_tree(leaves, tree)
    out = np.zeros((len(record_times), c.n_pools), np.int64)
    pools = np.arange(c.n_pools)
    _t, _k, events, finished = ssa_advance_dependents(
        counts, rt.clamped, rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr,
        c.rx_upd_pool, c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest, rt.df_rate, rt.df_total, c.dep_ptr,
        c.dep_proc, solver._rx_dep_ptr, solver._rx_dep_proc, tree, seed_state, 0.0, t_end, record_times,
        pools, pools, out, 0, 10**12, np.full(1, np.nan), -1)
    assert finished
    return events, out


@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_small_network_kernel_matches_tree_kernel_event_for_event(seed, clamp):
    model, geom = network()
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=seed, progress=False)
    assert sim.compiled.n_reactions <= _SMALL_NETWORK and sim.compiled.n_diffusions == 0
    for species, count in (("A", 400), ("B", 300), ("C", 50), ("D", 10)):
        sim.set_count("c", species, count)
    if clamp:
        sim.set_clamped("c", "B")
    t_end = 2.0
    recs = [sim.record(ts.Count(s, where="c"), every=0.05) for s in ("A", "B", "C", "D")]
    start = sim._template.copy()
    res = sim.run(t_end)
    events = sim.solver.events
    assert events > 50_000  # enough events for a wrong form to show
    run_state = sim.solver.new_runs(seed, 1)[0]
    state = getattr(run_state, "rng", run_state).copy()
    counts = start.copy()
    times = res.times_of(recs[0])
    tree_events, samples = tree_kernel_run(sim, counts, t_end, times, state)
    assert tree_events == events
    assert np.array_equal(counts, sim._states[0])
    for j, rec in enumerate(recs):
        assert np.array_equal(res[rec][0], samples[:, j])
    if clamp:
        assert np.all(samples[:, 1] == 300)
