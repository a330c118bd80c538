"""The astrocyte IP3R/GCaMP6s model (tetrasim.examples_calcium): conservation, well-mixed limit, peaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from gridmesh import grid_mesh
from stats import z_threshold
from tetrasim.examples_calcium import (
    IP3R_STATES,
    CalciumGeometry,
    build_simulation,
    detect_peaks,
    equilibrated_state,
    infuse_ip3,
    place_clustered,
    simulate_calcium,
    wellmixed_simulation,
)


def small_branch() -> CalciumGeometry:
    """A 6 x 2 x 2 block (0.25 µm cubes) whose ER is the middle of the first row of cubes."""
    mesh = grid_mesh(6, 2, 2, 0.25e-6)
    centre = mesh.tet_barycenters
    er = np.flatnonzero((centre[:, 0] > 0.5e-6) & (centre[:, 0] < 1.0e-6) & (centre[:, 1] < 0.25e-6)
                        & (centre[:, 2] < 0.25e-6))
    cytosol = np.setdiff1d(np.arange(mesh.n_tets), er)
    er_membrane = mesh.faces_between(cytosol, er)
    plasma = np.setdiff1d(mesh.surface_tris(tets=cytosol), er_membrane)
    x = centre[cytosol, 0]
    nodes = {f"node{i}": cytosol[(x >= i * 0.3e-6) & (x < (i + 1) * 0.3e-6)] for i in range(5)}
    return CalciumGeometry("small", mesh, cytosol, er_membrane, plasma, nodes, 0.25e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_receptor_and_indicator_totals_are_conserved(seed):
    """IP3R changes state but is never made or lost; GCaMP6s + Ca-GCaMP6s likewise (exact, every sample)."""
    geometry = small_branch()
    sim = build_simulation(geometry, solver="ssa", seed=seed, ip3r_density=2000e12)
    receptors = [sim.record(ts.Count(state, where="erm"), every=0.01) for state in IP3R_STATES]
    indicator = [
        sim.record(ts.Count(name, where="cytosol"), every=0.01) for name in ("GCaMP6s", "ca_GCaMP6s")
    ]
    n_receptors = sim.get_count("erm", "unb_IP3R")
    n_indicator = sim.get_count("cytosol", "GCaMP6s") + sim.get_count("cytosol", "ca_GCaMP6s")
    assert n_receptors > 0 and n_indicator > 0
    sim.run(0.1)
    infuse_ip3(sim, geometry)
    res = sim.run(0.3)
    np.testing.assert_array_equal(sum(res[r] for r in receptors), n_receptors)
    np.testing.assert_array_equal(sum(res[r] for r in indicator), n_indicator)
    assert sum(res[r] for r in receptors[1:]).max() > 0  # receptors did change state
    assert sim.solver.events > 1000


def _components(occupied, neighbours) -> int:
    """Connected components (edge adjacency) of the occupied triangles."""
    occupied = set(int(i) for i in occupied)
    seen, components = set(), 0
    for start in occupied:
        if start in seen:
            continue
        components += 1
        stack = [start]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack.extend(int(j) for j in neighbours[i] if j >= 0 and int(j) in occupied)
    return components


def test_clustered_placement_places_every_channel_in_clusters():
    geometry = small_branch()
    tris = geometry.er_membrane
    neighbours, _ = geometry.mesh.tri_edge_neighbors(tris)
    counts = place_clustered(geometry.mesh, tris, 23, per_cluster=5, spacing=0.0, rng=3)
    assert counts.sum() == 23 and counts.min() >= 0
    assert _components(np.flatnonzero(counts), neighbours) <= 5  # 5 clusters of <= 4 triangles
    # centres farther apart than the whole membrane: one cluster holds every channel
    lonely = place_clustered(geometry.mesh, tris, 12, per_cluster=5, spacing=1.0, rng=4)
    assert lonely.sum() == 12 and _components(np.flatnonzero(lonely), neighbours) == 1
    assert np.count_nonzero(lonely) <= 4


def test_one_tet_spatial_model_is_the_well_mixed_model():
    """On a single tet, ssa and wm-ssa solve the same master equation: equal mean free Ca; and
    both means follow the wm-ode trajectory.

    Two-sample z-test of the mean [Ca] (µM) at 6 times, SE from the sample variances of 300 runs
    each, alpha = 1e-4 Bonferroni over the times. Detects a mis-scaled surface rate (area vs
    volume) or a release that does not reach the cytosol tet.
    """
    vertices = np.array([[0, 0, 0], [2e-6, 0, 0], [0, 2e-6, 0], [0, 0, 2e-6]], dtype=float)
    mesh = ts.TetMesh.from_arrays(vertices, np.array([[0, 1, 2, 3]]), length_unit="m")
    faces = mesh.surface_tris()
    geometry = CalciumGeometry("one tet", mesh, np.array([0]), faces[2:], faces[:2], {"node2": np.array([0])},
                               2e-6)
    runs, times = 300, np.linspace(0.05, 0.3, 6)
    density = 300e12
    spatial = build_simulation(geometry, solver="ssa", seed=5, runs=runs, ip3r_density=density)
    rec_s = spatial.record(ts.Conc("ca", where="cytosol"), every=0.05)
    data_s = spatial.run(0.3)[rec_s][:, 1:] * 1e6
    er_area = mesh.tri_areas[faces[2:]].sum()
    well = wellmixed_simulation(mesh.total_volume, mesh.tri_areas[faces[:2]].sum(), er_area, seed=6,
                                ip3r_density=density)
    rec_w = well.record(ts.Conc("ca", where="cytosol"), every=0.05)
    data_w = well.run(0.3, runs=runs)[rec_w][:, 1:] * 1e6
    difference = data_s.mean(axis=0) - data_w.mean(axis=0)
    se = np.sqrt(data_s.var(axis=0, ddof=1) / runs + data_w.var(axis=0, ddof=1) / runs)
    assert np.all(np.abs(difference) <= z_threshold(len(times)) * se), (difference, se)
    # the deterministic limit: the wm-ode trajectory against each stochastic mean (one-sample z-test,
    # SE of that mean; alpha = 1e-4 Bonferroni over both solvers and the times)
    ode = wellmixed_simulation(mesh.total_volume, mesh.tri_areas[faces[:2]].sum(), er_area, solver="wm-ode",
                               ip3r_density=density)
    rec_o = ode.record(ts.Conc("ca", where="cytosol"), every=0.05)
    data_o = ode.run(0.3)[rec_o][0, 1:] * 1e6
    for data in (data_s, data_w):
        gap = data.mean(axis=0) - data_o
        se_one = np.sqrt(data.var(axis=0, ddof=1) / runs)
        assert np.all(np.abs(gap) <= z_threshold(2 * len(times)) * se_one), (gap, se_one)


def test_detect_peaks_on_a_known_trace():
    t = np.arange(0, 2, 1e-3)
    rng = np.random.default_rng(1)
    trace = 1.0 + 0.01 * rng.standard_normal(len(t))
    trace[(t > 1.2) & (t < 1.5)] += 0.5
    peak = detect_peaks(t, trace, t_stimulus=1.0, n_sigma=5, smooth=1)
    assert peak["peak"]
    assert peak["time_to_peak"] == pytest.approx(0.2, abs=2e-3)
    assert peak["duration"] == pytest.approx(0.3, abs=3e-3)
    assert peak["amplitude"] == pytest.approx(0.5, rel=0.1)
    assert not detect_peaks(t, 1.0 + 0.01 * rng.standard_normal(len(t)), 1.0, n_sigma=5, smooth=1)["peak"]


def test_simulate_calcium_runs_end_to_end():
    result = simulate_calcium(small_branch(), solver="ssa", seed=2, t_baseline=0.05, t_after=0.05,
                              ip3r_density=2000e12)
    assert set(result.signal) == {f"node{i}" for i in range(5)}
    assert result.signal["node2"].shape == (1, len(result.times))
    assert np.all(result.signal["node2"] > 0)


def test_study_summary_and_figure(tmp_path, monkeypatch):
    """The study pipeline (pool, peaks, statistics, figure) on the small block, two seeds, serially."""
    import tetrasim.examples_calcium as calcium

    monkeypatch.setattr(calcium, "calcium_geometry", lambda name, mesh_size=None: small_branch())
    study = calcium.run_study(("d0", "d0/2"), seeds=[1, 2], t_after=0.05, ip3r_density=2000e12, workers=1,
                              verbose=False)
    assert set(study["summary"]) == {"d0", "d0/2"}
    assert study["summary"]["d0"]["probability"][2] == 2
    # The threshold's n is derived from the baselines (2 seeds x 5 nodes x 1 s per geometry).
    assert set(study["thresholds"]) == {"d0", "d0/2"}
    assert all(2.0 < n < 10.0 for n in study["n_sigma"].values()), study["n_sigma"]
    # Every run's threshold is its own baseline mean + n times the sigma pooled over the geometry's runs.
    assert study["sigma"] == "pooled" and study["smooth"] == calcium.PEAK_SMOOTH
    for g, peaks in study["peaks"].items():
        sigma = study["pooled_sigma"][g]
        for peak in peaks:
            assert peak["threshold"] == pytest.approx(peak["baseline"] + study["n_sigma"][g] * sigma)
    assert "d0 vs d0/2" in study["tests"]
    assert 0 < study["tests"]["trend d0 -> d0/2"]["probability"] <= 1
    path = calcium.plot_study(study, tmp_path / "calcium.png")
    assert Path(path).stat().st_size > 10_000


def test_study_keeps_each_run_and_resumes(tmp_path, monkeypatch):
    """With runs_dir every finished run is kept; a second call reads them instead of simulating, and a
    changed parameter makes it simulate again (a stale run is never reused)."""
    import tetrasim.examples_calcium as calcium

    monkeypatch.setattr(calcium, "calcium_geometry", lambda name, mesh_size=None: small_branch())
    kwargs = dict(seeds=[1, 2], t_after=0.02, t_baseline=0.02, ip3r_density=2000e12, workers=1, verbose=False,
                  n_sigma=3.0, smooth=5)
    first = calcium.run_study(("d0",), runs_dir=tmp_path, **kwargs)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d0_ssa_seed1.npz", "d0_ssa_seed2.npz"]

    def no_simulation(task):
        raise AssertionError(f"run {task} simulated again")

    monkeypatch.setattr(calcium, "_run_one", no_simulation)
    again = calcium.run_study(("d0",), runs_dir=tmp_path, **kwargs)
    for before, after in zip(first["runs"]["d0"], again["runs"]["d0"], strict=True):
        assert after.extra.get("reused")
        np.testing.assert_array_equal(before.signal["node2"], after.signal["node2"])
        np.testing.assert_array_equal(before.times, after.times)
    assert again["summary"] == first["summary"]
    # A study in progress: analyse what is kept, count what is missing, simulate nothing.
    partial = calcium.run_study(("d0",), runs_dir=tmp_path, simulate=False, **{**kwargs, "seeds": [1, 2, 3]})
    assert partial["n_missing"] == 1 and len(partial["runs"]["d0"]) == 2
    assert partial["summary"] == first["summary"]
    with pytest.raises(AssertionError, match="simulated again"):
        calcium.run_study(("d0",), runs_dir=tmp_path, **{**kwargs, "t_after": 0.03})
    assert not list(tmp_path.glob("*.part"))


def test_equilibrated_start_is_the_rest_state():
    """The pre-equilibrated start is the model's rest: longer pre-equilibration changes nothing that
    matters, GCaMP6s is bound at the equilibrium of the rest Ca, and Ca sits near the pumps/leak
    balance (1.5e-7 M/s / 30 s^-1 = 5 nM, raised a little by IP3R release) - far below the specified
    120 nM start, which is why the unequilibrated baseline drifts."""
    volume, pm_area, er_area = 0.56e-18, 7.9e-12, 3.7e-12  # the generated d0 branchlet with ER
    rest = equilibrated_state(volume, pm_area, er_area, seconds=20.0)
    later = equilibrated_state(volume, pm_area, er_area, seconds=60.0)
    for name in ("ca", "ca_GCaMP6s", "GCaMP6s"):
        assert later["conc"][name] == pytest.approx(rest["conc"][name], rel=0.03)
    ca = rest["conc"]["ca"]
    assert 5e-9 <= ca < 10e-9
    kd = 1.12 / 7.78e6
    # quasi-equilibrium: Ca still creeps down as IP3 slowly falls, and the bound form lags it by ~0.5 %
    # (the specified start is 11x off this value)
    assert rest["conc"]["ca_GCaMP6s"] == pytest.approx(10e-6 * ca / (ca + kd), rel=0.01)
    assert sum(rest["ip3r"].values()) == pytest.approx(1.0)


def test_equilibrated_build_keeps_every_receptor():
    """With pre-equilibration the channels are split over their states, per triangle and run, without
    losing or making one; most stay unbound at rest."""
    geometry = small_branch()
    rested = build_simulation(geometry, solver="ssa", seed=3, runs=3, ip3r_density=2000e12, equilibrate=20.0)
    total = sum(np.asarray(rested.get_count("erm", state)) for state in IP3R_STATES)
    expected = round(2000e12 * geometry.mesh.tri_areas[geometry.er_membrane].sum())  # density x ER area
    np.testing.assert_array_equal(total, np.full(3, expected))
    assert np.all(np.asarray(rested.get_count("erm", "unb_IP3R")) > 0.9 * total)
    assert np.asarray(rested.get_conc("cytosol", "ca")).max() < 20e-9


def load_study_script(name: str):
    """``studies/astrocyte_calcium/<name>.py`` as a module (the study's scripts are not a package)."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "studies" / "astrocyte_calcium" / f"{name}.py"
    if not script.exists():
        pytest.skip("studies/astrocyte_calcium/ is not in this copy: the study scripts live in the "
                    "repository, not in the installed package; run the tests from a checkout")
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_description_script_reads_kept_runs(tmp_path, capsys):
    """studies/astrocyte_calcium/describe.py on a kept run with a known response: baseline 0.4 µM,
    doubled from 1.5 s on; the table reports the ratio and the baseline's autocorrelation."""
    import tetrasim.examples_calcium as calcium

    describe = load_study_script("describe")
    t = np.arange(5001) * 1e-3
    rng = np.random.default_rng(0)
    signal = {f"node{i}": (0.4 + 0.05 * rng.standard_normal(len(t)))[None, :] for i in range(5)}
    signal["node2"] = (np.where(t >= 1.5, 0.8, 0.4) + 0.05 * rng.standard_normal(len(t)))[None, :]
    run = calcium.CalciumRun("d0", "ssa", [1], t, signal, {k: v * 0.1 for k, v in signal.items()}, 12.0,
                             extra=dict(t_stimulus=1.0))
    task = ("d0", "ssa", 1, 1.0, 4.0, None, 2.85e14, 46, 20.0, "mesh")
    calcium.save_run(calcium.run_file(tmp_path, task), task, run)
    assert describe.main([str(tmp_path)]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split("|")
    assert row[1].strip() == "d0" and row[2].strip() == "1"
    assert float(row[4]) == pytest.approx(0.4, abs=0.01)
    assert float(row[5]) == pytest.approx(2.0, abs=0.05)
    r10, r50 = (float(x) for x in row[7].split(","))
    assert abs(r10) < 0.1 and abs(r50) < 0.1  # white noise


def test_study_summary_script_tabulates_the_kept_runs(tmp_path, monkeypatch):
    """studies/astrocyte_calcium/summarise.py: one table row per analysis and geometry, read from
    the kept runs without simulating."""
    import tetrasim.examples_calcium as calcium

    summarise = load_study_script("summarise")
    monkeypatch.setattr(calcium, "calcium_geometry", lambda name, mesh_size=None: small_branch())
    options = dict(seeds=[1, 2], t_after=0.02, t_baseline=0.02, ip3r_density=2000e12, n_sigma=3.0, smooth=5)
    calcium.run_study(("d0",), runs_dir=tmp_path, workers=1, verbose=False, **options)

    def no_simulation(task):
        raise AssertionError(f"run {task} simulated")

    monkeypatch.setattr(calcium, "_run_one", no_simulation)
    one = {**options, "geometries": ("d0",)}
    lines = summarise.summarise(tmp_path, analyses=(("both", one), ("second", {**one, "seeds": [2]})))
    rows = [line.split("|") for line in lines if line.startswith(("| both", "| second"))]
    cells = [(r[1].strip(), r[2].strip(), r[3].strip()) for r in rows]
    assert cells == [("both", "d0", "2"), ("second", "d0", "1")]


def test_study_facts_script_counts_peaks_and_regenerative_runs(tmp_path, monkeypatch):
    """studies/astrocyte_calcium/facts.py on three kept d0 runs with known responses (flat; doubled
    from 1.5 s; 12x for 0.5 s from 1.5 s, so its largest 250-ms mean is regenerative while its mean
    over 1.5-5 s is not): the regenerative run, the runs that rise, the peaks of both rules and the
    derived n without one run, all read from the kept files."""
    import tetrasim.examples_calcium as calcium

    facts = load_study_script("facts")
    monkeypatch.setattr(calcium, "calcium_geometry", lambda name, mesh_size=None: "geometry")
    monkeypatch.setattr(calcium, "mesh_fingerprint", lambda geometry: "mesh")
    t = np.arange(5001) * 1e-3
    rng = np.random.default_rng(3)
    for seed, response in ((1, 1.0), (2, 2.0), (3, 12.0)):
        signal = {f"node{i}": (0.4 + 0.02 * rng.standard_normal(len(t)))[None, :] for i in range(5)}
        end = 2.0 if response > 10 else np.inf
        level = 0.4 * np.where((t >= 1.5) & (t < end), response, 1.0)
        signal["node2"] = (level + 0.02 * rng.standard_normal(len(t)))[None, :]
        run = calcium.CalciumRun("d0", "ssa", [seed], t, signal, signal, 100.0 * seed,
                                 extra=dict(t_stimulus=1.0))
        task = ("d0", "ssa", seed, calcium.T_STIMULUS, 4.0, None, calcium.IP3R_DENSITY,
                calcium.CHANNELS_PER_CLUSTER, calcium.EQUILIBRATE_S, "mesh")
        calcium.save_run(calcium.run_file(tmp_path, task), task, run)
    lines = facts.facts(tmp_path, without=["d0:3"])
    text = "\n".join(lines)
    d0 = next(line for line in lines if line.startswith("- d0:"))
    assert "wall 100-300 s (mean 200 s)" in d0
    assert "regenerative (>= 10x) 1 of 3 [3]" in d0 and "above 1.4x 2 of 3" in d0
    assert "- all: 3 runs, 0.2 h of one core (0.1 h on 2 cores)" in lines
    amended = lines[lines.index(next(x for x in lines if x.startswith("## Peaks, amended"))) + 1]
    assert amended.count(" s, ") == 2 and " s2 " in f" {amended}" and " s3 " in f" {amended}"
    assert "(above at end)" in amended  # the doubled response lasts to the end of the record
    assert "## d0 without seed 3:" in text and "of 2 with a peak" in text
