"""Tier 0 (deterministic) tests of the operator-splitting solver ``opsplit``.

What is checked, and why (DESIGN.md §4, §5, §7):

* the trajectory does not depend on the order in which reaction clusters and diffusing
  pools are visited (``order_seed=``) -- the property that makes MPI/GPU runs equal serial;
* the same seed gives the same trajectory, another seed another one, and every replicate
  has its own stream;
* diffusion conserves molecules exactly at every step; clamped pools never change and act
  as sources (or sinks);
* τ = 1 / max Σd from an independent hand computation on the mesh; τ follows D changes; the
  ``dt=`` cap; record times never cut a step (a recorder does not change the trajectory), and
  what the step grid means for continuing a run (``run(a)`` then ``run(b)``);
* the data access of the ``ssa`` facade works with ``opsplit`` unchanged;
* the kernel equals a plain-Python reference step (below) bit for bit on a tiny case: every
  random number is keyed by (seed, run, step, key, purpose) exactly as documented.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import meshes
import tetrasim as ts
from gridmesh import grid_mesh
from stats import z_threshold
from tetrasim.geometry import MeshGeometry
from tetrasim.kernels import reference_random as ref
from tetrasim.kernels.philox import PURPOSE_LEAVE, PURPOSE_SSA

D_VOLUME = 1e-12
D_SURFACE = 2e-13


# ---------------------------------------------------------------------------- models
def full_model():
    """Volume reactions (1st and 2nd order, reversible), surface reactions with volume
    reactants and products, surface and volume diffusion."""
    model = ts.Model()
    model.species("A", "B", "C", "R", "RA")
    vol = model.volume_system("vol")
    vol.reaction("A + B <-> C", kf=2e8, kb=20.0)
    vol.reaction("C -> A", kf=5.0)
    for name in ("A", "B", "C"):
        vol.diffusion(name, D_VOLUME)
    memb = model.surface_system("memb")
    memb.reaction("R.s + A.i <-> RA.s", kf=1e9, kb=30.0)
    memb.reaction("RA.s -> R.s + B.i", kf=10.0)
    memb.diffusion("R", D_SURFACE)
    memb.diffusion("RA", D_SURFACE / 2)
    return model


def full_sim(seed=3, mesh=None, solver="opsplit", **options):
    mesh = mesh if mesh is not None else grid_mesh(3, 2, 2, 0.25e-6)
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vol"])
    geom.patch("pm", tris=mesh.surface_tris(), inner="cyto", systems=["memb"])
    geom.roi("left", tets=np.flatnonzero(mesh.tet_barycenters[:, 0] < 0.25e-6))
    sim = ts.Simulation(full_model(), geom, solver=solver, seed=seed, progress=False, **options)
    sim.set_count("cyto", "A", 3000)
    sim.set_count("cyto", "B", 1500)
    sim.set_count(ts.Tet(0), "C", 40)
    sim.set_count("pm", "R", 400)
    return sim


def record_everything(sim, every):
    recs = [sim.record(ts.Count(s, where="cyto", per_element=True), every=every) for s in ("A", "B", "C")]
    recs += [sim.record(ts.Count(s, where="pm", per_element=True), every=every) for s in ("R", "RA")]
    return recs


def diffusion_sim(seed=1, mesh=None, n=2000, **options):
    """One diffusing species, all molecules in tet 0."""
    mesh = mesh if mesh is not None else grid_mesh(4, 2, 2, 0.25e-6)
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", D_VOLUME)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=seed, progress=False, **options)
    sim.set_count(ts.Tet(0), "A", n)
    return sim


# ---------------------------------------------------------------------------- order independence
def test_trajectory_does_not_depend_on_processing_order():
    """Shuffled cluster and pool visiting orders give bit-identical trajectories."""
    trajectories = []
    for order_seed in (None, 1, 2, 3):
        sim = full_sim(seed=11, order_seed=order_seed)
        if order_seed is not None:  # the shuffle really changes the order
            assert not np.array_equal(sim.solver.cluster_order, np.arange(len(sim.solver.cluster_order)))
            assert not np.array_equal(sim.solver.df_order, np.sort(sim.solver.df_order))
        recs = record_everything(sim, every=0.01)
        res = sim.run(0.05, runs=2)
        trajectories.append([res[r] for r in recs])
        assert sim.solver.stats[0] > 1000 and sim.solver.stats[1] > 1000  # reactions and jumps happened
    for other in trajectories[1:]:
        for a, b in zip(trajectories[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_operator_by_operator_loop_equals_the_numba_loop():
    """profile=True steps from Python, one operator at a time: the loop the MPI back end runs.
    It must give the trajectory of the fast numba loop (with extents counted alike)."""
    results = []
    for profile in (False, True):
        sim = full_sim(seed=5, profile=profile)
        recs = record_everything(sim, every=0.01)
        recs.append(sim.record(ts.Extent("vol_r0", where="cyto"), every=0.01))
        res = sim.run(0.05, runs=2)
        results.append([res[r] for r in recs])
        if profile:
            assert sim.solver.operator_seconds["ssa"] > 0 and sim.solver.operator_seconds["diffusion"] > 0
    assert results[0][-1][:, -1].min() > 0  # the reaction fired: extents were counted
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_surface_reactions_form_clusters_keyed_by_smallest_element():
    sim = full_sim()
    s = sim.solver
    c = sim.compiled
    # every surface triangle shares a cluster with its inner tet; the key is the smallest element
    assert len(s.cluster_key) == c.n_volume
    np.testing.assert_array_equal(s.cluster_key, np.arange(c.n_volume))


# ---------------------------------------------------------------------------- seeds
def test_same_seed_same_trajectory_other_seed_differs():
    def trajectory(seed):
        sim = full_sim(seed=seed)
        recs = record_everything(sim, every=0.01)
        res = sim.run(0.03, runs=2)
        return [res[r] for r in recs]

    a, b, c = trajectory(5), trajectory(5), trajectory(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))
    # two replicates of one simulation use different streams (run is a key word)
    assert any(not np.array_equal(x[0], x[1]) for x in a)


# ---------------------------------------------------------------------------- conservation, clamping
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diffusion_conserves_molecules_every_step(seed):
    sim = diffusion_sim(seed=seed, n=5000)
    tau = sim.solver.tau
    rec = sim.record(ts.Count("A", where="c", per_element=True), every=tau)  # one sample per step
    res = sim.run(60 * tau, runs=2)
    data = res[rec]
    assert data.shape[1] == 61
    assert np.all(data >= 0)
    np.testing.assert_array_equal(data.sum(axis=2), 5000)
    assert np.count_nonzero(data[:, -1] > 0) > sim.compiled.n_volume // 2  # molecules did spread
    assert sim.solver.stats[2] == 2 * 60  # one step per sample


def test_clamped_source_and_sink_never_change():
    mesh = grid_mesh(6, 1, 1, 0.25e-6)
    sim = diffusion_sim(seed=4, mesh=mesh, n=0)
    x = mesh.tet_barycenters[:, 0]
    source = np.flatnonzero(x < 0.25e-6)
    sink = np.flatnonzero(x > 1.25e-6)
    sim.set_count(ts.Tet(source), "A", np.full(len(source), 30), per_element=True)
    sim.set_clamped(ts.Tet(source), "A")
    sim.set_clamped(ts.Tet(sink), "A")  # clamped at 0: an absorbing sink
    tau = sim.solver.tau
    rec = sim.record(ts.Count("A", where="c", per_element=True), every=tau)
    data = sim.run(300 * tau, runs=2)[rec]
    np.testing.assert_array_equal(data[:, :, source], 30)
    np.testing.assert_array_equal(data[:, :, sink], 0)
    free = np.setdiff1d(np.arange(mesh.n_tets), np.concatenate([source, sink]))
    inside = data[:, :, free].sum(axis=2)
    assert inside[:, 0].max() == 0 and inside[:, -1].min() > 30  # the source fed the free tets
    # The profile is opsplit's exact mean (independent operator, tests/meshes.py:opsplit_mean),
    # from the source down to the sink. Molecules fed by a clamped source and walking
    # independently make Poisson (or under-dispersed) counts, and an average of correlated samples
    # has at most the variance of one sample: SE <= sqrt(mean / runs); alpha = 1e-4 over 2 regions.
    counts0 = sim._template.astype(np.float64)
    times = np.arange(301) * tau
    exact = meshes.opsplit_mean(sim, counts0, times, tau=tau)[-50:]  # pools = tets (one species)
    near, far = free[x[free] < 0.5e-6], free[x[free] > 1.0e-6]
    for region in (near, far):
        observed = data[:, -50:, region].sum(axis=2).mean()
        expected = exact[:, region].sum(axis=1).mean()
        assert abs(observed - expected) <= z_threshold(2) * math.sqrt(expected / 2), (observed, expected)


def test_clamped_reactant_is_a_source_for_reactions():
    mesh = grid_mesh(2, 1, 1, 0.25e-6)
    model = ts.Model()
    model.species("S", "P")
    v = model.volume_system("v")
    v.reaction("S -> P", kf=50.0)
    v.diffusion("P", D_VOLUME)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=2, progress=False)
    sim.set_count("c", "S", 120)
    sim.set_clamped("c", "S")
    rec_s = sim.record(ts.Count("S", where="c"), every=0.01)
    rec_p = sim.record(ts.Count("P", where="c"), every=0.01)
    res = sim.run(0.2)
    np.testing.assert_array_equal(res[rec_s], 120)
    # P accumulates at rate 50 * 120 = 6000 /s (Poisson: 1200 +- 35 at 0.2 s)
    assert abs(res[rec_p][0, -1] - 1200) <= z_threshold(1) * math.sqrt(1200)  # alpha = 1e-4


# ---------------------------------------------------------------------------- tau
def hand_leaving_rates(mesh, coefficient):
    """Σd per tet from the vertex coordinates alone: D·A_f / (V_i·δ_ij) summed over interior faces."""
    v = mesh.vertices[mesh.tets]  # (m, 4, 3)
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    volume = np.abs(np.einsum("ij,ij->i", normal, v[:, 3] - v[:, 0])) / 6
    centre = v.mean(axis=1)
    faces = {}
    for t, tet in enumerate(mesh.tets):
        for k in range(4):
            key = tuple(sorted(np.delete(tet, k)))
            faces.setdefault(key, []).append(t)
    total = np.zeros(mesh.n_tets)
    for key, owners in faces.items():
        if len(owners) != 2:
            continue
        p = mesh.vertices[list(key)]
        area = 0.5 * np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))
        i, j = owners
        delta = np.linalg.norm(centre[i] - centre[j])
        total[i] += coefficient * area / (volume[i] * delta)
        total[j] += coefficient * area / (volume[j] * delta)
    return total


def test_tau_is_one_over_the_largest_leaving_rate():
    xs = np.array([0.0, 0.1, 0.3, 0.6, 1.0]) * 1e-6  # unequal tets: the largest rate is in the thin slab
    mesh = grid_mesh(ny=2, nz=2, h=0.25e-6, xs=xs)
    sim = diffusion_sim(mesh=mesh)
    hand = hand_leaving_rates(mesh, D_VOLUME)
    c = sim.compiled
    np.testing.assert_allclose(c.df_total, hand[c.df_pool // c.n_species], rtol=1e-12)
    assert sim.solver.tau == pytest.approx(1.0 / hand.max(), rel=1e-12)
    assert sim.solver.tau == pytest.approx(1.0 / c.df_total.max(), rel=0, abs=0)


def test_tau_follows_diffusion_coefficient_and_dt_cap():
    sim = full_sim()
    c = sim.compiled
    species = np.array(c.species_names)[c.df_pool % c.n_species]
    tau0 = sim.solver.tau
    assert tau0 == 1.0 / sim.runtime.df_total.max()
    sim.set_diffusion_coefficient("A", 4 * D_VOLUME)
    assert sim.solver.tau == pytest.approx(tau0 / 4, rel=1e-12)
    sim.set_diffusion_coefficient("A", 0.0)
    expected = 1.0 / sim.runtime.df_total[species != "A"].max()
    assert sim.solver.tau == pytest.approx(expected, rel=1e-12)
    # dt caps the step but never lengthens it
    assert full_sim(dt=tau0 / 3).solver.tau == pytest.approx(tau0 / 3, rel=1e-15)
    assert full_sim(dt=10 * tau0).solver.tau == tau0
    with pytest.raises(ts.SimulationError):
        full_sim(dt=-1.0)
    with pytest.raises(ts.ArgumentError, match="no option 'not_an_option'"):
        full_sim(not_an_option=1)


def test_tau_change_mid_run_takes_effect():
    sim = diffusion_sim()
    tau = sim.solver.tau
    sim.run(10 * tau)
    steps = sim.solver.stats[2]
    assert steps == 10
    sim.set_diffusion_coefficient("A", 2 * D_VOLUME)
    sim.run(20 * tau)  # 10 tau more at half the step
    assert sim.solver.stats[2] - steps == 20


def expected_steps(stop, tau):
    """Whole steps of length tau from 0 up to ``stop``: a stop inside a step is reached on a branch
    (a copy of the state advanced by the remainder) that the trajectory does not take."""
    steps, t = 0, 0.0
    while stop - t >= tau * (1 - 1e-12):
        t += tau
        steps += 1
    return steps


def test_record_times_do_not_cut_steps():
    """Steps are τ long from the start of a run call to its end, whatever the record times."""
    sim = full_sim()
    tau = sim.solver.tau
    every = 2.37 * tau  # not a multiple of tau
    rec = sim.record(ts.Count("A", where="cyto"), every=every)
    res = sim.run(0.05)
    times = res.times_of(rec)
    np.testing.assert_array_equal(times, np.arange(len(times)) * every)
    assert sim.solver.stats[2] == expected_steps(0.05, tau)
    assert sim.time == 0.05


def test_adding_a_recorder_does_not_change_the_trajectory():
    """Issue 14 item 10: recording observes the path. Today's code (before the fix) cut the step
    grid at every record time, so the dense recorder below changed the final state."""
    def final_state(every):
        sim = full_sim(seed=8)
        sim.record(ts.Count("A", where="cyto"), every=0.05)
        if every is not None:
            record_everything(sim, every=every)
        sim.run(0.05, runs=2)
        return np.stack([sim.get_count("cyto", s, per_element=True) for s in ("A", "B", "C")]), sim

    plain, plain_sim = final_state(None)
    tau = plain_sim.solver.tau
    for every in (0.37 * tau, 2.37 * tau, 3 * tau):
        recorded, sim = final_state(every)
        np.testing.assert_array_equal(recorded, plain)
        assert sim.solver.stats[2] == plain_sim.solver.stats[2]


def test_a_sample_is_the_state_a_run_stopped_there_would_have():
    """A sample at r inside a step is taken on a branch: the state at r of a run that stops at r
    (same seed), while the recorded trajectory itself goes on with whole steps."""
    sim = full_sim(seed=5)
    tau = sim.solver.tau
    every = 2.37 * tau
    rec = sim.record(ts.Count("A", where="cyto", per_element=True), every=every)
    samples = sim.run(12 * tau)[rec][0]
    for k in (1, 2, 4):
        stopped = full_sim(seed=5)
        stopped.run(k * every)
        np.testing.assert_array_equal(samples[k], stopped.get_count("cyto", "A", per_element=True))
    assert sim.solver.stats[2] == expected_steps(12 * tau, tau)  # branches are not counted as steps


def test_continuation_equals_single_run_on_the_step_grid():
    """``run(a); run(b)`` equals ``run(b)`` exactly, wherever ``a`` falls.

    The RNG keys on the step counter and the grid runs from the first call; a stop inside a step
    is reached on a branch and the next call resumes from the step's start (nothing changed in
    between), so both take the same steps. Before this, a stop off the grid took a shortened
    step: a different (equally valid) trajectory.
    """
    every = 0.0625
    tau = full_sim().solver.tau

    def one(a):
        sim = full_sim(seed=21)
        recs = record_everything(sim, every=every)
        if a is not None:
            sim.run(a, runs=2)
        res = sim.run(0.5, runs=None if a is not None else 2)
        return [res[r] for r in recs], int(sim.solver.stats[2]), sim._states.copy()

    single, steps_single, state_single = one(None)
    for a in (37 * tau, 0.1875, 37.5 * tau):  # on the grid, on a record time, inside a step
        split, steps_split, state_split = one(a)
        assert steps_single == steps_split == 2 * expected_steps(0.5, tau)  # two replicates
        for x, y in zip(single, split, strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(state_single, state_split)


def test_a_change_at_the_stop_starts_a_new_grid():
    """A setter between two calls voids the pending step: the run continues from the state as set."""
    sim = full_sim(seed=3)
    tau = sim.solver.tau
    sim.run(10.5 * tau)
    sim.set_count("cyto", "A", 0)
    sim.run(20 * tau)
    # 10 whole steps, then a new grid from 10.5 tau: 9 more (an unchanged run takes 20)
    assert sim.solver.stats[2] == expected_steps(10.5 * tau, tau) + expected_steps(9.5 * tau, tau) == 19


# ---------------------------------------------------------------------------- data access
@pytest.mark.parametrize("solver", ["ssa", "opsplit"])
def test_data_access_matches_ssa_facade(solver):
    sim = full_sim(solver=solver)
    c = sim.compiled
    # per tet / per triangle / ROI set and get
    sim.set_count(ts.Tet(5), "A", 7)
    assert sim.get_count(ts.Tet(5), "A") == 7
    tri = int(sim.geometry.patches["pm"].tris[3])
    sim.set_count(ts.Tri(tri), "R", 9)
    assert sim.get_count(ts.Tri(tri), "R") == 9
    left = sim.geometry.rois["left"].tets
    sim.set_count(ts.ROI("left"), "B", 2 * len(left))
    per_tet = sim.get_count("left", "B", per_element=True, keep_runs=True)
    assert per_tet.shape == (1, len(left)) and per_tet.sum() == 2 * len(left)  # multinomial placement
    # concentrations
    sim.set_conc("cyto", "C", ts.Q("2 uM"))
    expected = round(2e-6 * 1e3 * ts.units.AVOGADRO * c.measure[: c.n_volume].sum())
    assert sim.get_count("cyto", "C") == expected
    assert sim.get_conc("cyto", "C") == pytest.approx(2e-6, rel=1e-3)
    per = sim.get_conc("cyto", "C", per_element=True)
    assert per.shape == (c.n_volume,)
    # probes
    count = sim.record(ts.Count("A", where="cyto"), every=0.01)
    conc = sim.record(ts.Conc("RA", where="pm", per_element=True), every=0.01)
    tet = sim.record(ts.Count("C", where=ts.Tet([0, 1, 2]), per_element=True), every=0.01)
    sim.set_clamped(ts.Tet(1), "C")
    clamped_value = sim.get_count(ts.Tet(1), "C")
    res = sim.run(0.02, runs=2)
    assert res[count].shape == (2, 3)
    assert res[conc].shape == (2, 3, len(sim.geometry.patches["pm"].tris))
    assert res[tet].shape == (2, 3, 3)
    assert res[tet][0, 0, 1] == clamped_value  # replicate 0 is the initial state shown before the run
    # each replicate placed its own molecules; the clamp holds each one's count
    np.testing.assert_array_equal(res[tet][:, :, 1], np.repeat(res[tet][:, :1, 1], 3, axis=1))
    assert np.all(res[conc] >= 0) and res[conc][:, -1].sum() > 0
    # set_rate mid-run: switch off every reaction that makes C; C then never grows
    # set_rate mid-run: switch off A + B -> C, the only process that makes C; C then never grows
    sim.set_rate("vol_r0", 0.0)
    assert sim.get_rate("vol_r0") == 0.0
    sim.set_clamped(ts.Tet(1), "C", False)
    for _ in range(3):
        before = sim.get_count("cyto", "C")
        sim.run(sim.time + 0.01)
        after = sim.get_count("cyto", "C")
        assert np.all(after <= before)


def test_memory_per_pool_is_reported():
    sim = full_sim()
    per_pool = sim.solver.bytes_per_pool()
    assert isinstance(per_pool, (int, float)) and 8 < per_pool <= 64
    print(f"opsplit working memory: {per_pool:g} bytes per (element, species) pool")


# ---------------------------------------------------------------------------- reference twin
def _clusters(c):
    """Reaction clusters (connected elements) as {key: [process ids in ascending order]}."""
    parent = list(range(c.n_elements))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    S = c.n_species  # noqa: N806
    for p in range(c.n_reactions):
        pools = list(c.rx_reac_pool[c.rx_reac_ptr[p]:c.rx_reac_ptr[p + 1]])
        pools += list(c.rx_upd_pool[c.rx_upd_ptr[p]:c.rx_upd_ptr[p + 1]])
        for pool in pools:
            a, b = find(int(c.rx_element[p])), find(int(pool) // S)
            parent[max(a, b)] = min(a, b)
    clusters: dict[int, list[int]] = {}
    for p in range(c.n_reactions):
        clusters.setdefault(find(int(c.rx_element[p])), []).append(p)
    return clusters  # find() returns the smallest element of the set: the key


def _uniforms(seed, run, step, key, purpose):
    """Uniforms 0, 1, 2, 3 (block 0), then 4, 5, ... (the stream from block 1)."""
    index = 0
    while True:
        yield ref.uniform01(seed, run, step, key, purpose, index)
        index += 1


def _binomial_from_uniform(m, p, u):
    """Twin of kernels.opsplit._binomial_from_uniform: sequential-search inversion from one uniform."""
    q = 1.0 - p
    if m <= 16:
        r = q
        for _ in range(m - 1):
            r *= q
    else:
        r = math.exp(m * math.log1p(-p))
    ratio = p / q
    a = (m + 1) * ratio
    x = 0
    while u > r:
        u -= r
        x += 1
        if x > m:
            return -1
        r *= a / x - ratio
        if not (r > 0.0):
            return -1
    return x


def reference_step(c, rt, counts, h, seed, run, step):
    """One opsplit step in plain Python: the executable specification of DESIGN.md §4."""
    counts = [int(x) for x in counts]
    clamped = rt.clamped

    def propensity(p):
        a = float(rt.rx_rate[p])
        for e in range(c.rx_reac_ptr[p], c.rx_reac_ptr[p + 1]):
            n = counts[c.rx_reac_pool[e]]
            for j in range(int(c.rx_reac_count[e])):
                a *= n - j
            if a <= 0.0:
                return 0.0
        return a

    # (1) exact SSA per cluster over [0, h], integrating the count of every changed pool
    occupancy, last = {}, {}
    for key, procs in sorted(_clusters(c).items()):
        a = [propensity(p) for p in procs]
        a0 = 0.0
        for x in a:
            a0 += x
        if a0 <= 0.0:
            continue
        u = _uniforms(seed, run, step, key, PURPOSE_SSA)
        u0, u1, _, _ = next(u), next(u), next(u), next(u)
        t = -math.log(1.0 - u0) / a0
        first = True
        while t < h:
            r = (u1 if first else next(u)) * a0
            first = False
            chosen = len(procs) - 1
            for i in range(len(procs)):
                r -= a[i]
                if r < 0.0:
                    chosen = i
                    break
            if a[chosen] <= 0.0:
                chosen = max(i for i in range(len(procs)) if a[i] > 0.0)
            p = procs[chosen]
            for e in range(c.rx_upd_ptr[p], c.rx_upd_ptr[p + 1]):
                pool = int(c.rx_upd_pool[e])
                if clamped[pool]:
                    continue
                if pool in occupancy:
                    occupancy[pool] += counts[pool] * (t - last[pool])
                else:
                    occupancy[pool] = counts[pool] * t
                last[pool] = t
                counts[pool] += int(c.rx_upd_delta[e])
            a = [propensity(q) for q in procs]
            a0 = 0.0
            for x in a:
                a0 += x
            if a0 <= 0.0:
                break
            t -= math.log(1.0 - next(u)) / a0
    for pool in occupancy:
        occupancy[pool] += counts[pool] * (h - last[pool])
    # (2) binomial diffusion from the start-of-operator counts, applied synchronously
    delta = [0] * len(counts)
    for d in range(c.n_diffusions):
        pool = int(c.df_pool[d])
        n = counts[pool]
        if n <= 0:
            continue
        u_round = ref.uniform01(seed, run, step, pool, PURPOSE_LEAVE, 0)
        u_leave = ref.uniform01(seed, run, step, pool, PURPOSE_LEAVE, 1)
        u_split = ref.uniform01(seed, run, step, pool, PURPOSE_LEAVE, 2)
        if pool in occupancy:
            x = occupancy[pool] / h
            m = math.floor(x)
            if u_round < x - m:
                m += 1
            m = min(m, n)
            if m <= 0:
                continue
        else:
            m = n
        p = min(1.0, h * float(rt.df_total[d]))
        state = np.zeros(ref.STREAM_WORDS, np.uint64)
        ref.stream_init(state, seed, run, step, pool, PURPOSE_LEAVE)
        state[5] = 1  # the stream continues after block 0
        if m == 1:
            leaving = 1 if u_leave < p else 0
        else:
            leaving = -1  # small m·p: inversion from u_leave; otherwise the keyed stream
            if p <= 0.5 and m * p < 10.0:
                leaving = _binomial_from_uniform(m, p, u_leave)
            elif p > 0.5 and m * (1.0 - p) < 10.0:
                staying = _binomial_from_uniform(m, 1.0 - p, u_leave)
                leaving = m - staying if staying >= 0 else -1
            if leaving < 0:
                leaving = ref.binomial(m, p, state)
        if leaving <= 0:
            continue
        start, stop = int(c.df_ptr[d]), int(c.df_ptr[d + 1])
        split = np.zeros(stop - start, np.int64)
        if stop - start == 1:
            split[0] = leaving
        elif leaving == 1:
            target = u_split * float(rt.df_total[d])
            chosen = stop - 1 - start
            for k in range(stop - start):
                target -= float(rt.df_rate[start + k])
                if target < 0.0:
                    chosen = k
                    break
            split[chosen] = 1
        else:
            ref.multinomial_split(leaving, rt.df_rate[start:stop], state, split)
        if not clamped[pool]:
            delta[pool] -= leaving
        for k in range(stop - start):
            dest = int(c.df_dest[start + k])
            if not clamped[dest]:
                delta[dest] += int(split[k])
    return np.array([n + dn for n, dn in zip(counts, delta, strict=True)], dtype=np.int64)


def test_kernel_equals_reference_twin_bit_for_bit():
    mesh = grid_mesh(2, 1, 1, 0.25e-6)  # 12 tets, 20 boundary triangles
    sim = full_sim(seed=9, mesh=mesh)
    sim.set_count("cyto", "A", 6000)  # many molecules per tet: BTRD binomials, conditional splits
    sim.set_count(ts.Tet(3), "B", 1)  # single molecules: the one-uniform shortcuts
    sim.set_clamped(ts.Tet(2), "C")
    sim.run(0.0, runs=2)
    c, rt = sim.compiled, sim.runtime
    tau = sim.solver.tau
    t_end = 7.5 * tau  # seven full steps and a half step
    start = sim._states.copy()
    sim.run(t_end)
    for run in range(2):
        counts, t, step = start[run].copy(), 0.0, 0
        while t < t_end:
            h = t_end - t
            last = h <= tau * (1 + 1e-12)
            h = h if last else tau
            counts = reference_step(c, rt, counts, h, np.uint64(9), run, step)
            t = t_end if last else t + h
            step += 1
        assert step == 8
        np.testing.assert_array_equal(sim._states[run], counts)
    assert sim.solver.stats[0] > 100 and sim.solver.stats[1] > 1000
