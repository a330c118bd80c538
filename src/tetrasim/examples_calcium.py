"""Astrocyte Ca²⁺ signals on node–shaft branchlets: the IP3R / GCaMP6s model (Glia 2022).

Cytosolic Ca²⁺, IP3 and the indicator GCaMP6s diffuse in the cytosol of a branchlet whose
endoplasmic reticulum (ER) is a hole; PLC on the plasma membrane makes IP3 from Ca²⁺; 8-state
IP3 receptors on the ER membrane bind Ca²⁺ (activating and inactivating sites) and IP3, and an
open receptor releases Ca²⁺ into the cytosol (the ER lumen is not simulated: release is a
source per open channel). Stimulation is an IP3 infusion into the central node at t = 1 s;
the signal is Ca–GCaMP6s in each node, sampled every 1 ms.

The kinetics and the protocol are the published ones (Denizot et al., Glia 2022, reusing
PLoS Comput Biol 2019); the units are STEPS's. The IP3R surface density comes from the authors'
model files (:data:`IP3R_DENSITY`); the size of a receptor cluster
(:data:`CHANNELS_PER_CLUSTER`) comes from the PAP-ER study's documented run and is not fixed for
the Glia 2022 study (see docs/examples/astrocyte_calcium.md, "Parameters from the sources").

Examples
--------
>>> from tetrasim.examples_calcium import calcium_model
>>> model = calcium_model()
>>> len(model.species_names), sorted(model.species_names)[:2]
(13, ['GCaMP6s', 'ca'])
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .peak_rule import derive_n_sigma, detect_peaks, pooled_sigma

__all__ = ["calcium_model", "calcium_geometry", "CalciumGeometry", "place_clustered", "simulate_calcium",
           "detect_peaks", "CalciumRun", "run_study", "analyse_study", "baseline_traces", "save_run",
           "load_run", "run_file", "mesh_fingerprint", "equilibrated_state", "IP3R_STATES", "IP3R_DENSITY",
           "CHANNELS_PER_CLUSTER", "EQUILIBRATE_S", "NODE_MESH_SIZE"]

# --- species and kinetics (STEPS units: M, s, m^2/s) -------------------------------------------
IP3R_STATES = ("unb_IP3R", "ip3_IP3R", "caa_IP3R", "cai_IP3R", "open_IP3R", "cai_ip3_IP3R", "ca2_IP3R",
               "ca2_ip3_IP3R")
DIFFUSION = {"ca": 13e-12, "ip3": 280e-12, "GCaMP6s": 50e-12, "ca_GCaMP6s": 50e-12}
CA_REST = 120e-9  #: M, resting [Ca] and [IP3]
IP3_REST = 120e-9
GCAMP_TOTAL = 10e-6  #: M
GCAMP_KF, GCAMP_KB = 7.78e6, 1.12
PLC_DENSITY = 2460e12  #: per m^2 of plasma membrane (2,460 per µm²)
#: IP3R per m² of ER membrane: 285 per µm². The PAP-ER model puts 230 channels on mesh d9s4a34b1,
#: whose ER membrane is 0.807 µm² (its data_EM_PAPs.csv), and the 2019 model 50 on a 0.176 µm² ER
#: (ModelDB 247694, measured on its mesh): 285 and 284 per µm².
IP3R_DENSITY = 285e12
#: channels per cluster (a random ER triangle and its edge neighbours): the PAP-ER repository's
#: documented run splits its 230 channels into 5 clusters of 46. The Glia 2022 value is not in
#: any source found: still an assumption for that study.
CHANNELS_PER_CLUSTER = 46
CLUSTER_SPACING = 30e-9  #: m, minimum distance between cluster centres
INFUSED_IP3 = 50  #: molecules injected into the central node
T_STIMULUS = 1.0  #: s
#: Samples (1 ms each) of the trailing running mean before peak detection. Amended at 9 of 60
#: study runs (docs/examples/astrocyte_calcium.md, "The peak rule"), from the null data alone:
#: at least two integrated correlation times of the slowest baseline noise (~70 ms, d0/3) and at
#: most a fifth of the 0.9-s unbinding time that sets how long a signal stays in the indicator.
#: The rule first fixed, before any run, was 20 samples with a per-run σ (``FIRST_RULE``).
PEAK_SMOOTH = 150
#: Whose σ sets the threshold: "pooled" over a geometry's runs (per node), or each run's "per-run".
PEAK_SIGMA = "pooled"
#: The rule as fixed before the study's first run, kept for the record and as a sensitivity check.
FIRST_RULE = dict(smooth=20, sigma="per-run")
#: m, element size in the nodes of the generated branchlets: d0's (a quarter of its 378-nm shaft).
NODE_MESH_SIZE = 378e-9 / 4
#: Expected spurious peaks per run in the window after the stimulus (the false-alarm budget
#: from which the threshold's n is derived, :func:`tetrasim.peak_rule.derive_n_sigma`).
FALSE_ALARM = 0.05
#: s of well-mixed ``wm-ode`` pre-equilibration before the recorded baseline in the study
#: (:func:`equilibrated_state`); 0 starts from the specified, drifting state
EQUILIBRATE_S = 20.0


def calcium_model():
    """The IP3R / GCaMP6s model: systems ``cyt`` (cytosol), ``pm`` (plasma membrane), ``erm`` (ER
    membrane)."""
    import tetrasim as ts

    model = ts.Model()
    model.species("ca", "ip3", "GCaMP6s", "ca_GCaMP6s", "plc", *IP3R_STATES)
    cyt = model.volume_system("cyt")
    cyt.reaction("ca ->", kf=30.0)  # pumps, lumped
    cyt.reaction("-> ca", kf=1.5e-7)  # leak, zero order (M/s)
    cyt.reaction("ca + GCaMP6s <-> ca_GCaMP6s", kf=GCAMP_KF, kb=GCAMP_KB)
    cyt.reaction("ip3 ->", kf=1.2e-4)
    for species, coefficient in DIFFUSION.items():
        cyt.diffusion(species, coefficient)
    pm = model.surface_system("pm")
    pm.reaction("plc.s + ca.i -> plc.s + ca.i + ip3.i", kf=1.0)
    erm = model.surface_system("erm")
    activating = [("unb", "caa"), ("ip3", "open"), ("cai", "ca2"), ("cai_ip3", "ca2_ip3")]
    inactivating = [("unb", "cai"), ("caa", "ca2"), ("ip3", "cai_ip3"), ("open", "ca2_ip3")]
    ip3_binding = [("unb", "ip3"), ("caa", "open"), ("cai", "cai_ip3"), ("ca2", "ca2_ip3")]
    for pairs, ligand, kf, kb in ((activating, "ca", 1.2e6, 50.0), (inactivating, "ca", 1.6e4, 100.0),
                                  (ip3_binding, "ip3", 4.1e7, 400.0)):
        for before, after in pairs:
            erm.reaction(f"{before}_IP3R.s + {ligand}.i <-> {after}_IP3R.s", kf=kf, kb=kb)
    erm.reaction("open_IP3R.s -> open_IP3R.s + ca.i", kf=6e3)  # release per open channel
    return model


@dataclass
class CalciumGeometry:
    name: str
    mesh: object
    cytosol: np.ndarray  # tet ids
    er_membrane: np.ndarray  # triangle ids (faces shared by cytosol and ER)
    plasma_membrane: np.ndarray  # triangle ids (the rest of the cytosol's surface)
    nodes: dict  # name -> tet ids; "node2" is the central node
    shaft_width: float
    central: str = "node2"


def calcium_geometry(name: str = "d0", mesh_size: float | None = None, seed: int = 0) -> CalciumGeometry:
    """A branchlet with its ER: generated (``"d0"``, ``"d0/2"``, ``"d0/3"``) or published
    (``"published d0"``...).

    The generated meshes are graded: ``mesh_size`` (default a quarter of the shaft width) in the
    shafts and :data:`NODE_MESH_SIZE` (d0's element size) in the nodes, so every geometry's
    nodes, where the signal is read, are meshed alike, and the thin shafts do not make the whole
    mesh fine (docs/examples/astrocyte_calcium.md, "Cost").
    """
    from .errors import GeometryError
    from .examples_frap import GENERATED, PUBLISHED, published_data_dir
    from .geometry import TetMesh, shapes

    if name in GENERATED:
        width = GENERATED[name]
        mesh = shapes.branchlet(d_shaft=width, er=True, size=mesh_size, node_size=NODE_MESH_SIZE, seed=seed)
        cytosol, er = mesh.group("cytosol"), mesh.group("er")
        nodes = {f"node{i}": mesh.group(f"node{i}") for i in range(5)}
    elif name in PUBLISHED:
        folder = published_data_dir()
        if folder is None:
            raise GeometryError(
                f"geometry {name!r} needs the reference data (meshes/astrocyte); set TETRASIM_DATA "
                "to the folder that holds meshes/"
            )
        filename, _bleach, central = PUBLISHED[name]
        mesh = TetMesh.load(folder / filename, length_unit="nm")
        er = mesh.group("EB25")
        cytosol = mesh.group_complement("EB25")
        width = {"published d0": GENERATED["d0"], "published d0/2": GENERATED["d0/2"],
                 "published d0/3": GENERATED["d0/3"]}[name]
        nodes = _nodes_by_position(mesh, cytosol)
        nodes["node2"] = mesh.group(central)
    else:
        raise GeometryError(f"unknown geometry {name!r}; choose from {list(GENERATED) + list(PUBLISHED)}")
    er_membrane = mesh.faces_between(cytosol, er)
    plasma = np.setdiff1d(mesh.surface_tris(tets=cytosol), er_membrane)
    return CalciumGeometry(name, mesh, cytosol, er_membrane, plasma, nodes, width)


def _nodes_by_position(mesh, cytosol, n_nodes: int = 5, d_node: float = 380e-9) -> dict:
    """Node regions of a published branchlet: cytosol tets within a node radius of equally spaced centres."""
    centres = mesh.tet_barycenters[cytosol]
    x = centres[:, 0]
    axis_y, axis_z = np.median(centres[:, 1]), np.median(centres[:, 2])
    low, high = np.quantile(x, [0.02, 0.98])
    spacing = (high - low) / n_nodes
    xs = low + spacing * (np.arange(n_nodes) + 0.5)
    nodes = {}
    for i, xc in enumerate(xs):
        d2 = (x - xc) ** 2 + (centres[:, 1] - axis_y) ** 2 + (centres[:, 2] - axis_z) ** 2
        nodes[f"node{i}"] = cytosol[d2 <= (d_node / 2) ** 2]
    return nodes


def place_clustered(mesh, tris: np.ndarray, n_channels: int, per_cluster: int = CHANNELS_PER_CLUSTER,
                    spacing: float = CLUSTER_SPACING, rng=None) -> np.ndarray:
    """Counts per triangle of ``n_channels`` receptors in clusters (one entry per ``tris``).

    A cluster is a random triangle and its edge neighbours within ``tris``; cluster centres are
    at least ``spacing`` apart (random sequential choice; when no admissible centre is left the
    remaining channels join existing clusters). Each cluster holds ``per_cluster`` channels
    (the last one the remainder), spread uniformly over its triangles.
    """
    from .errors import GeometryError

    rng = np.random.default_rng(rng)
    tris = np.asarray(tris, dtype=np.int64)
    if n_channels < 0 or int(n_channels) != n_channels:
        raise GeometryError(f"n_channels must be a whole number >= 0, got {n_channels!r}")
    counts = np.zeros(len(tris), dtype=np.int64)
    if n_channels == 0:
        return counts
    if len(tris) == 0:
        raise GeometryError("no triangles to place receptors on")
    centres = mesh.tri_barycenters[tris]
    neighbours, _lengths = mesh.tri_edge_neighbors(tris)
    n_clusters = math.ceil(n_channels / per_cluster)
    chosen: list[int] = []
    for candidate in rng.permutation(len(tris)):
        if len(chosen) == n_clusters:
            break
        if all(np.linalg.norm(centres[candidate] - centres[c]) >= spacing for c in chosen):
            chosen.append(int(candidate))
    left = int(n_channels)
    for i in range(n_clusters):
        centre = chosen[i % len(chosen)]
        members = [centre] + [int(j) for j in neighbours[centre] if j >= 0]
        k = min(per_cluster, left)
        np.add.at(counts, rng.choice(members, size=k), 1)
        left -= k
    return counts


def equilibrated_state(volume: float, pm_area: float, er_area: float, seconds: float = 20.0,
                       ip3r_density: float = IP3R_DENSITY) -> dict:
    """The well-mixed model (``wm-ode``) after ``seconds`` from the specified start.

    The specified start (120 nM Ca, GCaMP6s at equilibrium with it) is not the model's rest:
    pumps and leak alone hold Ca near 5 nM, so free Ca and Ca–GCaMP6s fall for seconds
    (k_off of GCaMP6s is 1.12 s⁻¹) and a pre-stimulus baseline drifts. The original model files
    say so too: their steady state takes several seconds and must be reached before Ca²⁺
    activity is analysed. Every process except IP3 decay (1.2e-4 s⁻¹, hours) settles within
    seconds, so IP3 stays at its 120 nM. Returns ``{"conc": {species: M}, "ip3r": {state:
    fraction of channels}}``.
    """
    sim = wellmixed_simulation(volume, pm_area, er_area, solver="wm-ode", ip3r_density=ip3r_density)
    sim.run(seconds)
    conc = {name: float(np.ravel(sim.get_conc("cytosol", name))[0])
            for name in ("ca", "ip3", "GCaMP6s", "ca_GCaMP6s")}
    counts = np.array([float(np.ravel(sim.get_count("erm", state))[0]) for state in IP3R_STATES])
    return {"conc": conc, "ip3r": dict(zip(IP3R_STATES, counts / counts.sum(), strict=True))}


def build_simulation(geometry: CalciumGeometry, solver: str = "ssa", seed: int = 1, runs: int = 1,
                     ip3r_density: float = IP3R_DENSITY, progress=False,
                     channels_per_cluster: int = CHANNELS_PER_CLUSTER, equilibrate: float = 0.0, **options):
    """A :class:`tetrasim.Simulation` of the model on ``geometry`` at rest (t = 0), replicates created.

    Initial state as specified: [ca] = [ip3] = 120 nM, GCaMP6s 10 µM total at its equilibrium
    with that Ca, PLC 2,460 per µm² of plasma membrane, IP3R (``ip3r_density`` per m² of ER
    membrane) in clusters of ``channels_per_cluster`` (:func:`place_clustered`), all in
    ``unb_IP3R``; each replicate gets its own placement of the channels. With ``equilibrate`` > 0
    the cytosol and the receptor states start instead from :func:`equilibrated_state` after that
    many seconds (each channel's state drawn from the equilibrated fractions), so that the
    baseline does not drift.
    """
    import tetrasim as ts

    from .geometry import MeshGeometry

    model = calcium_model()
    geom = MeshGeometry(geometry.mesh)
    geom.compartment("cytosol", tets=geometry.cytosol, systems=["cyt"])
    geom.patch("pm", tris=geometry.plasma_membrane, inner="cytosol", systems=["pm"])
    geom.patch("erm", tris=geometry.er_membrane, inner="cytosol", systems=["erm"])
    for name, tets in geometry.nodes.items():
        geom.roi(name, tets=tets)
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=progress, **options)
    sim.run(0.0, runs=runs)
    area_pm = geometry.mesh.tri_areas[geometry.plasma_membrane].sum()
    area_er = geometry.mesh.tri_areas[geometry.er_membrane].sum()
    bound = GCAMP_TOTAL * CA_REST / (CA_REST + GCAMP_KB / GCAMP_KF)
    start = {"conc": {"ca": CA_REST, "ip3": IP3_REST, "ca_GCaMP6s": bound, "GCaMP6s": GCAMP_TOTAL - bound},
             "ip3r": {"unb_IP3R": 1.0}}
    if equilibrate > 0:
        volume = geometry.mesh.tet_volumes[geometry.cytosol].sum()
        start = equilibrated_state(volume, area_pm, area_er, equilibrate, ip3r_density)
    for name, value in start["conc"].items():
        sim.set_conc("cytosol", name, value)
    sim.set_count("pm", "plc", round(PLC_DENSITY * area_pm))
    n_channels = round(ip3r_density * area_er)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1F3A]))
    per_run = np.stack([place_clustered(geometry.mesh, geometry.er_membrane, n_channels,
                                        per_cluster=channels_per_cluster, rng=rng)
                        for _ in range(sim.n_runs)])
    fractions = np.array([start["ip3r"].get(state, 0.0) for state in IP3R_STATES])
    if np.issubdtype(sim.solver.state_dtype, np.integer):
        # each channel's state drawn independently: a multinomial split of every triangle's count
        by_state = np.zeros((len(IP3R_STATES),) + per_run.shape, dtype=np.int64)
        for index in np.ndindex(per_run.shape):
            if per_run[index] > 0:
                by_state[(slice(None),) + index] = rng.multinomial(per_run[index], fractions)
    else:
        by_state = fractions[:, None] * per_run.mean(axis=0)[None, :]  # deterministic: the mean
    for state, counts in zip(IP3R_STATES, by_state, strict=True):
        if counts.any():
            sim.set_count(ts.Tri(geometry.er_membrane), state, counts, per_element=True)
    return sim


def wellmixed_simulation(volume: float, pm_area: float, er_area: float, solver: str = "wm-ssa", seed: int = 1,
                         runs: int = 1, ip3r_density: float = IP3R_DENSITY, progress=False, **options):
    """The model well mixed: compartment ``cytosol`` (``volume`` m³) with patches ``pm`` and ``erm``.

    The same initial state as :func:`build_simulation`; the limit the spatial model reaches on a
    single tet, and the reference of the well-mixed tests.
    """
    import tetrasim as ts

    geom = ts.WellMixed()
    geom.compartment("cytosol", volume=volume, systems=["cyt"])
    geom.patch("pm", area=pm_area, inner="cytosol", systems=["pm"])
    geom.patch("erm", area=er_area, inner="cytosol", systems=["erm"])
    sim = ts.Simulation(calcium_model(), geom, solver=solver, seed=seed, progress=progress, **options)
    bound = GCAMP_TOTAL * CA_REST / (CA_REST + GCAMP_KB / GCAMP_KF)
    sim.set_conc("cytosol", "ca", CA_REST)
    sim.set_conc("cytosol", "ip3", IP3_REST)
    sim.set_conc("cytosol", "ca_GCaMP6s", bound)
    sim.set_conc("cytosol", "GCaMP6s", GCAMP_TOTAL - bound)
    sim.set_count("pm", "plc", round(PLC_DENSITY * pm_area))
    sim.set_count("erm", "unb_IP3R", round(ip3r_density * er_area))
    return sim


def infuse_ip3(sim, geometry: CalciumGeometry, molecules: int = INFUSED_IP3, seed: int = 0) -> None:
    """Add ``molecules`` IP3 to the central node, placed at random in proportion to tet volume (each run)."""
    import tetrasim as ts

    where = ts.ROI(geometry.central)
    counts = np.asarray(sim.get_count(where, "ip3", per_element=True, keep_runs=True), dtype=np.float64)
    volumes = geometry.mesh.tet_volumes[geometry.nodes[geometry.central]]
    if np.issubdtype(sim.solver.state_dtype, np.integer):
        rng = np.random.default_rng(np.random.SeedSequence([sim.seed, 0x1F3B, seed]))
        added = rng.multinomial(molecules, volumes / volumes.sum(), size=sim.n_runs)
    else:
        added = np.broadcast_to(molecules * volumes / volumes.sum(), counts.shape)
    sim.set_count(where, "ip3", counts + added, per_element=True)


@dataclass
class CalciumRun:
    geometry: str
    solver: str
    seeds: list
    times: np.ndarray
    signal: dict  # node -> (runs, times) Ca-GCaMP6s in µM
    calcium: dict  # node -> (runs, times) free Ca in µM
    wall_s: float
    extra: dict = field(default_factory=dict)


def simulate_calcium(geometry: CalciumGeometry, solver: str = "ssa", seed: int = 1, runs: int = 1,
                     t_baseline: float = T_STIMULUS, t_after: float = 4.0, dt: float = 1e-3,
                     ip3r_density: float = IP3R_DENSITY, progress=False,
                     channels_per_cluster: int = CHANNELS_PER_CLUSTER, equilibrate: float = EQUILIBRATE_S,
                     **options) -> CalciumRun:
    """Baseline to ``t_baseline``, IP3 infusion into the central node, then ``t_after`` more seconds
    (from the state of :func:`build_simulation` with ``equilibrate``)."""
    import tetrasim as ts

    start = time.perf_counter()
    sim = build_simulation(geometry, solver, seed, runs, ip3r_density, progress,
                           channels_per_cluster=channels_per_cluster, equilibrate=equilibrate, **options)
    recorders = {}
    for node in geometry.nodes:
        recorders[node] = (
            sim.record(ts.Conc("ca_GCaMP6s", where=ts.ROI(node)), every=dt, name=f"signal_{node}"),
            sim.record(ts.Conc("ca", where=ts.ROI(node)), every=dt, name=f"ca_{node}"),
        )
    sim.run(t_baseline)
    infuse_ip3(sim, geometry)
    res = sim.run(t_baseline + t_after)
    times = res.times_of(recorders[geometry.central][0])
    signal = {node: np.asarray(res[a]) * 1e6 for node, (a, _) in recorders.items()}
    calcium = {node: np.asarray(res[b]) * 1e6 for node, (_, b) in recorders.items()}
    return CalciumRun(
        geometry.name,
        sim.solver_name,
        [seed],
        times,
        signal,
        calcium,
        time.perf_counter() - start,
        extra=dict(t_stimulus=t_baseline),
    )


_TASK_FIELDS = ("geometry", "solver", "seed", "t_baseline", "t_after", "mesh_size", "ip3r_density",
                "channels_per_cluster", "equilibrate", "mesh")


def mesh_fingerprint(geometry: CalciumGeometry) -> str:
    """What identifies a run's mesh across machines: tet count and cytosol volume (a kept run made
    on another mesh, e.g. before a change to the generator, is never reused)."""
    volume = float(geometry.mesh.tet_volumes[geometry.cytosol].sum())
    return f"{geometry.mesh.n_tets} tets, cytosol {volume:.9e} m3"


def run_file(folder, task) -> Path:
    """Where one (geometry, seed) run of the study is kept: ``folder/<geometry>_<solver>_seed<k>.npz``."""
    name, solver, seed = task[0], task[1], task[2]
    slug = "".join(ch if ch.isalnum() else "-" for ch in name)
    return Path(folder) / f"{slug}_{solver}_seed{seed}.npz"


def save_run(path, task, result: CalciumRun) -> None:
    """Write one run with the parameters that made it (temporary file + rename: never half a file)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"times": result.times, "wall_s": np.float64(result.wall_s),
              "t_stimulus": np.float64(result.extra.get("t_stimulus", T_STIMULUS)),
              "task": np.array(json.dumps(dict(zip(_TASK_FIELDS, task, strict=True))))}
    for node in result.signal:
        arrays[f"signal_{node}"] = result.signal[node]
        arrays[f"calcium_{node}"] = result.calcium[node]
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(temporary, path)


def load_run(path, task) -> CalciumRun | None:
    """The run kept at ``path`` if it was made with exactly ``task``'s parameters, else None."""
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path) as data:
        wanted = json.loads(json.dumps(dict(zip(_TASK_FIELDS, task, strict=True))))  # as the file holds it
        if json.loads(str(data["task"])) != wanted:
            return None
        nodes = sorted(key[len("signal_"):] for key in data.files if key.startswith("signal_"))
        return CalciumRun(task[0], task[1], [task[2]], data["times"], {n: data[f"signal_{n}"] for n in nodes},
                          {n: data[f"calcium_{n}"] for n in nodes}, float(data["wall_s"]),
                          extra=dict(t_stimulus=float(data["t_stimulus"]), reused=True))


def _run_one(args):
    name, solver, seed, t_baseline, t_after, mesh_size, density, per_cluster, equilibrate, mesh = args
    geometry = calcium_geometry(name, mesh_size=mesh_size)
    if mesh_fingerprint(geometry) != mesh:
        raise RuntimeError(f"{name}: the mesh built for this run ({mesh_fingerprint(geometry)}) is not the "
                           f"study's ({mesh}); gmsh gave another mesh for the same parameters")
    result = simulate_calcium(geometry, solver=solver, seed=seed, t_baseline=t_baseline, t_after=t_after,
                              ip3r_density=density, channels_per_cluster=per_cluster, equilibrate=equilibrate)
    result.geometry = name  # the study's key, whatever the mesh calls itself
    return result


def _run_and_keep(args):
    task, folder = args
    result = _run_one(task)
    if folder is not None:
        save_run(run_file(folder, task), task, result)
    return result


def run_study(
    geometries=("d0", "d0/2", "d0/3"),
    seeds=range(1, 21),
    solver: str = "ssa",
    t_after: float = 4.0,
    mesh_size: float | None = None,
    ip3r_density: float = IP3R_DENSITY,
    n_sigma: float | None = None,
    workers: int | None = None,
    verbose: bool = True,
    t_baseline: float = T_STIMULUS,
    channels_per_cluster: int = CHANNELS_PER_CLUSTER,
    runs_dir=None,
    equilibrate: float = EQUILIBRATE_S,
    smooth: int = PEAK_SMOOTH,
    false_alarm: float = FALSE_ALARM,
    simulate: bool = True,
    sigma: str = PEAK_SIGMA,
) -> dict:
    """Run every (geometry, seed) in a process pool and summarise the peaks of the central node.

    The peaks are found by :func:`analyse_study` (``n_sigma``, ``smooth``, ``false_alarm``, ``sigma``: by
    default the threshold's n is derived per geometry from the pre-stimulus baselines); the
    analysis is not part of a run's identity, so a kept study is re-analysed with other values
    without simulating again. With ``simulate=False`` only the runs already in ``runs_dir`` are
    analysed (a study in progress), and the missing ones are counted, not run.

    With ``runs_dir``, each finished run is written there at once (:func:`save_run`) and a run
    already there with the same parameters is read instead of simulated, so a study that takes
    hours can be stopped and resumed, or spread over several sessions, without losing a seed.

    Returns ``{"runs": {geometry: [CalciumRun]}, "summary": {geometry: {measure: (mean, std, n)}},
    "tests": {measure: p-values}, "wall_s", "seconds_per_seed"}``.
    """
    import os
    from concurrent.futures import ProcessPoolExecutor

    meshes = {g: mesh_fingerprint(calcium_geometry(g, mesh_size=mesh_size)) for g in geometries}
    tasks = [
        (g, solver, int(s), float(t_baseline), float(t_after), mesh_size, float(ip3r_density),
         int(channels_per_cluster), float(equilibrate), meshes[g])
        for s in seeds for g in geometries  # seed-major: a study stopped early covers every geometry
    ]
    runs: dict = {g: [] for g in geometries}
    kept = {}
    if runs_dir is not None:
        for task in tasks:
            result = load_run(run_file(runs_dir, task), task)
            if result is not None:
                kept[task] = result
    todo = [task for task in tasks if task not in kept]
    missing = len(todo)
    if not simulate:
        if verbose:
            print(f"{len(kept)} of {len(tasks)} runs kept in {runs_dir}; analysing those ({missing} missing)",
                  flush=True)
        tasks, todo = [task for task in tasks if task in kept], []
    elif verbose and kept:
        print(f"{len(kept)} of {len(tasks)} runs read from {runs_dir}; {len(todo)} to simulate", flush=True)
    workers = workers or max(1, min(len(todo), os.cpu_count() or 1))
    start = time.perf_counter()
    fresh = {}

    def report(done, result):
        fresh[(result.geometry, result.seeds[0])] = result
        if verbose:
            elapsed = time.perf_counter() - start
            left = elapsed / done * (len(todo) - done)
            print(f"[{done}/{len(todo)}] {result.geometry} seed {result.seeds[0]}: {result.wall_s:.1f} s"
                  f" (elapsed {elapsed:.0f} s, about {left:.0f} s left)", flush=True)

    jobs = [(task, runs_dir) for task in todo]
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for done, result in enumerate(pool.map(_run_and_keep, jobs), 1):
                report(done, result)
    else:
        for done, job in enumerate(jobs, 1):
            report(done, _run_and_keep(job))
    for task in tasks:  # in the order asked for, whichever finished first
        runs[task[0]].append(kept[task] if task in kept else fresh[(task[0], task[2])])
    runs = {g: results for g, results in runs.items() if results}
    study = analyse_study(runs, n_sigma=n_sigma, smooth=smooth, window_s=t_after, false_alarm=false_alarm,
                          sigma=sigma)
    study.update(wall_s=time.perf_counter() - start, n_missing=0 if simulate else missing)
    return study


def baseline_traces(results) -> list:
    """Every node's signal before the stimulus, in every run: the null data of the peak rule."""
    return [trace for by_node in _baselines_by_node(results) for trace in by_node.values()]


def _baselines_by_node(results) -> list:
    """``[{node: pre-stimulus signal}]``, one dict per run."""
    out = []
    for r in results:
        before = r.times < r.extra["t_stimulus"]
        out.append({node: np.asarray(signal)[0, before] for node, signal in r.signal.items()})
    return out


def _null_data(by_run: list, smooth: int, sigma: str) -> tuple[list, list | None]:
    """The null traces of a geometry and, for a pooled σ, each one's σ pooled over the *other* runs'
    baselines of the same node (independent of the trace it standardises, as the pooled σ is of a
    post-stimulus window). ``by_run``: :func:`_baselines_by_node` of the geometry's runs."""
    traces = [trace for run in by_run for trace in run.values()]
    if sigma == "per-run":
        return traces, None
    if len(by_run) < 2:
        raise ValueError("a pooled sigma is calibrated on the baselines of at least two runs")
    sigmas = [pooled_sigma([other[node] for j, other in enumerate(by_run) if j != i], smooth)
              for i, run in enumerate(by_run) for node in run]
    return traces, sigmas


def analyse_study(runs: dict, n_sigma: float | None = None, smooth: int = PEAK_SMOOTH, window_s: float = 4.0,
                  false_alarm: float = FALSE_ALARM, node: str = "node2", sigma: str = PEAK_SIGMA) -> dict:
    """Peaks of ``node`` (the central node) in every run, summarised per geometry.

    ``runs`` maps a geometry to its :class:`CalciumRun` list. The threshold of a run is its own
    baseline mean + n·σ of the ``smooth``-sample trailing mean, with σ pooled over the
    geometry's runs (``sigma="pooled"``, :func:`tetrasim.peak_rule.pooled_sigma`) or the run's
    own (``"per-run"``, the rule fixed first). When ``n_sigma`` is None, n is derived per
    geometry (:func:`tetrasim.peak_rule.derive_n_sigma`) from the pre-stimulus baselines of all
    nodes of that geometry's runs, for ``false_alarm`` expected spurious peaks in ``window_s``
    seconds after the stimulus; the baselines only, so the rule is fixed without looking at any
    response. Deriving it per geometry gives every geometry the same false-alarm rate, so that a
    noisier node cannot pass for a more excitable one.
    """
    if sigma not in ("pooled", "per-run"):
        raise ValueError(f"sigma must be 'pooled' or 'per-run', got {sigma!r}")
    summary, measures, thresholds, sigmas = {}, {}, {}, {}
    for g, results in runs.items():
        by_run = _baselines_by_node(results)
        if n_sigma is None:
            dt = float(results[0].times[1] - results[0].times[0])
            try:
                traces, null_sigmas = _null_data(by_run, smooth, sigma)
                derived = derive_n_sigma(traces, dt, smooth, window_s, false_alarm, sigmas=null_sigmas)
            except ValueError as error:
                raise ValueError(f"{g}: cannot derive the peak threshold from {len(results)} baselines "
                                 f"({error}); give n_sigma (--n-sigma) or more runs") from error
            thresholds[g] = derived
            level = derived.n_sigma
        else:
            level = n_sigma
        if sigma == "pooled":
            sigmas[g] = pooled_sigma([run[node] for run in by_run], smooth)
        peaks = [detect_peaks(r.times, r.signal[node][0], r.extra["t_stimulus"], level, smooth, sigmas.get(g))
                 for r in results]
        measures[g] = peaks
        found = [p for p in peaks if p["peak"]]
        summary[g] = {"probability": (len(found) / len(peaks), None, len(peaks))}
        for key in ("time_to_peak", "amplitude", "duration"):
            values = np.array([p[key] for p in found])
            summary[g][key] = (float(values.mean()) if len(values) else math.nan,
                               float(values.std(ddof=1)) if len(values) > 1 else math.nan, len(values))
        summary[g]["censored"] = (sum(p["censored"] for p in found), None, len(found))
    all_runs = [r for results in runs.values() for r in results]
    return dict(runs=runs, summary=summary, peaks=measures, tests=compare_geometries(measures),
                n_sigma={g: thresholds[g].n_sigma if g in thresholds else n_sigma for g in runs},
                thresholds=thresholds, smooth=smooth, false_alarm=false_alarm, sigma=sigma,
                pooled_sigma=sigmas,
                seconds_per_seed={g: float(np.median([r.wall_s for r in rs])) for g, rs in runs.items()},
                n_runs=len(all_runs))


#: The published direction of each measure as the shafts thin (d0 -> d0/2 -> d0/3).
PUBLISHED_TREND = {"probability": "increasing", "time_to_peak": "decreasing", "amplitude": "increasing",
                   "duration": "increasing"}


def compare_geometries(peaks: dict) -> dict:
    """p-values between the geometries, in the order given (widest shaft first).

    Per consecutive pair, two-sided: Fisher's exact test for the peak probability, Mann–Whitney for
    the measures of the runs that had a peak. Over all of them (``"trend"``), one-sided in the
    published direction (:data:`PUBLISHED_TREND`): the Jonckheere–Terpstra permutation test
    (:func:`tetrasim.trend.jonckheere_terpstra`; on 0/1 for the probability).
    """
    from scipy.stats import fisher_exact, mannwhitneyu

    from .trend import jonckheere_terpstra

    names = list(peaks)
    tests = {}
    for a, b in zip(names[:-1], names[1:], strict=True):
        pa, pb = peaks[a], peaks[b]
        yes_a, yes_b = sum(p["peak"] for p in pa), sum(p["peak"] for p in pb)
        tests[f"{a} vs {b}"] = {"probability": float(fisher_exact([[yes_a, len(pa) - yes_a],
                                                                    [yes_b, len(pb) - yes_b]])[1])}
        for key in ("time_to_peak", "amplitude", "duration"):
            xa = [p[key] for p in pa if p["peak"]]
            xb = [p[key] for p in pb if p["peak"]]
            tests[f"{a} vs {b}"][key] = (float(mannwhitneyu(xa, xb).pvalue) if len(xa) > 1 and len(xb) > 1
                                         else math.nan)
    if len(names) > 1:
        trend = {"probability": jonckheere_terpstra([[float(p["peak"]) for p in peaks[g]] for g in names],
                                                    PUBLISHED_TREND["probability"])[1]}
        for key in ("time_to_peak", "amplitude", "duration"):
            groups = [[p[key] for p in peaks[g] if p["peak"]] for g in names]
            trend[key] = (jonckheere_terpstra(groups, PUBLISHED_TREND[key])[1]
                          if sum(len(x) > 0 for x in groups) > 1 else math.nan)
        tests["trend " + " -> ".join(names)] = trend
    return tests


def plot_study(study: dict, path) -> str:
    """Traces of the central node (left) and the four measures against the shaft width (right), as PNG.

    The traces are the ones the peak rule reads: the trailing running mean of ``study["smooth"]``
    samples, up to five runs per geometry, each with its threshold (dashed) and, where it found
    one, its first peak (a dot).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .examples_frap import GENERATED
    from .peak_rule import running_mean

    runs = study["runs"]
    fig = plt.figure(figsize=(12, 6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.4])
    trace_axes = left.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (g, results) in zip(trace_axes, runs.items(), strict=True):
        for r, peak in zip(results[:5], study["peaks"][g][:5], strict=False):
            line, = ax.plot(r.times, running_mean(r.signal["node2"][0], study["smooth"]), lw=0.7)
            ax.axhline(peak["threshold"], color=line.get_color(), ls="--", lw=0.6)
            if peak["peak"]:
                t_peak = r.extra["t_stimulus"] + peak["time_to_peak"]
                ax.plot([t_peak], [peak["threshold"]], "o", color=line.get_color(), ms=4)
        ax.axvline(results[0].extra["t_stimulus"], color="k", ls=":", lw=0.8)
        n = study["n_sigma"][g]
        ax.set_ylabel(f"{g}\nCa-GCaMP6s (µM)")
        whose = "pooled σ" if study.get("sigma") == "pooled" else "σ"
        ax.set_title(f"{g}: {len(results)} runs, threshold mean + {n:.1f} {whose} of the "
                     f"{study['smooth']}-ms mean", fontsize=8, loc="left")
    trace_axes[-1].set_xlabel("time (s)")
    widths = np.array([GENERATED.get(g.replace("published ", ""), np.nan) * 1e9 for g in runs])
    labels = [("probability", "peak probability"), ("time_to_peak", "time to first peak (s)"),
              ("amplitude", "amplitude (ΔF/F0)"), ("duration", "duration (s)")]
    for ax, (key, label) in zip(right.subplots(2, 2).ravel(), labels, strict=True):
        means = [study["summary"][g][key][0] for g in runs]
        stds = [study["summary"][g][key][1] or 0.0 for g in runs]
        ax.errorbar(widths, means, yerr=stds, marker="o", capsize=3)
        if key != "probability" and not np.isfinite(means).any():
            ax.text(0.5, 0.5, "no peak in any run", transform=ax.transAxes, ha="center", va="center")
        if np.isfinite(widths).any():
            ax.set_xlim(0.8 * np.nanmin(widths), 1.1 * np.nanmax(widths))
        ax.set_xlabel("shaft width (nm)")
        ax.set_ylabel(label)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
