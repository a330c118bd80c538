"""Astrocyte photobleaching (FRAP) on node-shaft branchlets (Glia 2022, ModelDB 266928).

The published protocol: ZsGreen at 25 µM in the cytosol, D = 9 µm²/s; at t = 1 s, 60 % of the
fluorescent molecules in the bleach region (the central node and the neighbouring shaft
halves) become "bleached" (same D); the fluorescence of the bleach region recovers as
bleached and unbleached molecules exchange with the rest of the branchlet. Thinner shafts
slow the exchange, so the recovery time constant τ grows as the shaft narrows.

:func:`run_frap` runs the protocol on generated branchlets (``tetrasim.geometry.shapes.branchlet``,
shaft widths d0 = 378 nm, d0/2, d0/3) and, when the reference data are present, on the three
published meshes; it fits ``F(t) = F_inf - (F_inf - F_b) exp(-(t - t_b)/τ)`` from the bleach
time and optionally plots the recovery curves (mean ± SD over runs).

Examples
--------
>>> from tetrasim.examples_frap import run_frap
>>> out = run_frap(geometries=("d0",), runs=1, t_end=1.05, mesh_size=190e-9, plot=False,
...                use_published=False, solver="ode")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["run_frap", "frap_geometry", "frap_model", "simulate_frap", "FrapGeometry", "fit_recovery",
           "published_data_dir", "D0", "GENERATED", "PUBLISHED"]

D0 = 378e-9  #: shaft width of the reference branchlet (m)
ZSGREEN_CONC = 25e-6  #: M
DIFFUSION = 9e-12  #: m^2/s, ZsGreen and bleached ZsGreen
BLEACH_FRACTION = 0.6

#: generated geometries: name -> shaft width (m)
GENERATED = {"d0": D0, "d0/2": D0 / 2, "d0/3": D0 / 3}
#: published meshes: name -> (file, bleach-region element sets, central node set)
PUBLISHED = {
    "published d0": ("5nodes_ratio1.inp", ("EB36", "EB39", "EB40"), "EB36"),
    "published d0/2": ("5nodes_ratio2.inp", ("EB36", "EB37", "EB40"), "EB36"),
    "published d0/3": ("5nodes_ratio3.inp", ("EB36", "EB37", "EB38"), "EB36"),
}


def published_data_dir() -> Path | None:
    """``meshes/astrocyte`` of the reference data: ``$TETRASIM_DATA`` or ``<repo>/../shared/data``."""
    candidates = []
    if os.environ.get("TETRASIM_DATA"):
        candidates.append(Path(os.environ["TETRASIM_DATA"]))
    repo = Path(__file__).resolve().parents[2]
    candidates.append(repo.parent / "shared" / "data")
    for root in candidates:
        folder = root / "meshes" / "astrocyte"
        if folder.is_dir():
            return folder
    return None


@dataclass
class FrapGeometry:
    name: str
    mesh: object
    cytosol: np.ndarray  # tet ids
    bleach: np.ndarray  # tet ids
    node: np.ndarray  # tet ids of the central node
    shaft_width: float
    source: str


def frap_geometry(name: str, mesh_size: float | None = None, seed: int = 0) -> FrapGeometry:
    """The mesh and regions of one FRAP geometry (a key of :data:`GENERATED` or :data:`PUBLISHED`)."""
    from .errors import GeometryError
    from .geometry import TetMesh, shapes

    if name in GENERATED:
        width = GENERATED[name]
        mesh = shapes.branchlet(d_shaft=width, size=mesh_size, seed=seed)
        bleach = mesh.group_union("node2", "shaft1b", "shaft2a")
        return FrapGeometry(name, mesh, mesh.group("cytosol"), bleach, mesh.group("node2"), width,
                            mesh.source)
    if name in PUBLISHED:
        folder = published_data_dir()
        if folder is None:
            raise GeometryError(f"FRAP geometry {name!r} needs the reference data (meshes/astrocyte); set "
                                "TETRASIM_DATA to the folder that holds meshes/")
        filename, bleach_sets, node_set = PUBLISHED[name]
        mesh = TetMesh.load(folder / filename, length_unit="nm")
        cytosol = mesh.group_complement("EB25")
        width = {"published d0": D0, "published d0/2": D0 / 2, "published d0/3": D0 / 3}[name]
        return FrapGeometry(name, mesh, cytosol, mesh.group_union(*bleach_sets), mesh.group(node_set), width,
                            str(folder / filename))
    raise GeometryError(f"unknown FRAP geometry {name!r}; choose from {list(GENERATED) + list(PUBLISHED)}")


def _recovery(t, f_inf, f_b, tau, t_b):
    return f_inf - (f_inf - f_b) * np.exp(-(t - t_b) / tau)


def fit_recovery(times: np.ndarray, signal: np.ndarray, t_bleach: float) -> dict:
    """Fit ``F_inf - (F_inf - F_b) exp(-(t - t_b)/τ)`` to ``signal`` for ``t > t_bleach``.

    Returns ``tau`` (s), ``f_inf``, ``f_b`` and the 1-σ error of τ from the fit covariance.
    """
    from scipy.optimize import curve_fit

    keep = times > t_bleach
    t, y = times[keep], np.asarray(signal, dtype=np.float64)[keep]
    if len(t) < 4:
        return dict(tau=math.nan, tau_err=math.nan, f_inf=math.nan, f_b=math.nan)
    guess = (float(y[-1]), float(y[0]), max((t[-1] - t[0]) / 5, 1e-3))

    def model(tt, f_inf, f_b, tau):
        return _recovery(tt, f_inf, f_b, tau, t_bleach)

    try:
        bounds = ([-np.inf, -np.inf, 1e-6], [np.inf, np.inf, 1e3])
        popt, pcov = curve_fit(model, t, y, p0=guess, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError):
        return dict(tau=math.nan, tau_err=math.nan, f_inf=math.nan, f_b=math.nan)
    err = float(np.sqrt(pcov[2, 2])) if np.all(np.isfinite(pcov)) else math.nan
    return dict(tau=float(popt[2]), tau_err=err, f_inf=float(popt[0]), f_b=float(popt[1]))


@dataclass
class FrapResult:
    name: str
    solver: str
    runs: int
    times: np.ndarray
    bleach_counts: np.ndarray  # (runs, times) fluorescent molecules in the bleach region
    node_counts: np.ndarray  # (runs, times) in the central node
    fit: dict
    n_tets: int
    wall_s: float
    events: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def tau(self) -> float:
        return self.fit["tau"]

    @property
    def normalized(self) -> np.ndarray:
        """Bleach-region fluorescence per run divided by its pre-bleach mean."""
        pre = self.times < self.extra["t_bleach"]
        base = self.bleach_counts[:, pre].mean(axis=1, keepdims=True) if pre.any() else 1.0
        return self.bleach_counts / base


def frap_model(geometry: FrapGeometry):
    """The FRAP model (ZsGreen and bleached ZsGreen, both diffusing) and its mesh geometry.

    Returns ``(model, geom)`` with compartment ``cytosol`` and ROIs ``bleach`` and ``node``.
    """
    import tetrasim as ts

    from .geometry import MeshGeometry

    model = ts.Model()
    model.species("ZsGreen", "Bleached")
    cyt = model.volume_system("cyt")
    cyt.diffusion("ZsGreen", DIFFUSION)
    cyt.diffusion("Bleached", DIFFUSION)
    geom = MeshGeometry(geometry.mesh)
    geom.compartment("cytosol", tets=geometry.cytosol, systems=["cyt"])
    geom.roi("bleach", tets=geometry.bleach)
    geom.roi("node", tets=geometry.node)
    return model, geom


def simulate_frap(geometry: FrapGeometry, solver: str = "ssa", runs: int = 1, t_end: float = 2.5,
                  t_bleach: float = 1.0, dt: float = 3.6e-3, seed: int = 1, fraction: float = BLEACH_FRACTION,
                  conc: float = ZSGREEN_CONC, progress=False, **options) -> FrapResult:
    """Run the bleaching protocol on one geometry; return the recorded counts and the fitted τ."""
    import tetrasim as ts

    model, geom = frap_model(geometry)
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=progress, **options)
    sim.label = f"FRAP {geometry.name}"  # names the progress reports
    stochastic = getattr(sim.solver, "stochastic", True)
    if stochastic:
        # Each run starts from molecules placed independently and uniformly (multinomial in
        # proportion to tet volume): the equilibrium of the walkers, whose mean is the ode's
        # proportional spread. (A deterministic largest-remainder spread puts every molecule in
        # the largest tets when there is less than one per tet.)
        sim.run(0.0, runs=runs)
        elements = sim.compiled.compartment_elements["cytosol"]
        weights = sim.compiled.measure[elements]
        total = round(conc * 1e3 * ts.units.AVOGADRO * weights.sum())
        rng = np.random.default_rng(np.random.SeedSequence([sim.seed, 0x51AC]))
        draws = rng.multinomial(total, weights / weights.sum(), size=sim.n_runs)
        sim.set_count("cytosol", "ZsGreen", draws, per_element=True)
    else:
        sim.set_conc("cytosol", "ZsGreen", conc)
    rec_bleach = sim.record(ts.Count("ZsGreen", where=ts.ROI("bleach")), every=dt, name="bleach")
    rec_node = sim.record(ts.Count("ZsGreen", where=ts.ROI("node")), every=dt, name="node")
    start = time.perf_counter()
    sim.run(min(t_bleach, t_end), runs=runs)
    if t_end > t_bleach:
        counts = np.asarray(sim.get_count(ts.ROI("bleach"), "ZsGreen", per_element=True, keep_runs=True))
        counts = counts.reshape(sim.n_runs, -1)
        if stochastic:
            rng = np.random.default_rng(np.random.SeedSequence([sim.seed, 0xF2A9]))
            bleached = rng.binomial(counts.astype(np.int64), fraction)
        else:
            bleached = counts * fraction
        old = np.asarray(sim.get_count(ts.ROI("bleach"), "Bleached", per_element=True, keep_runs=True))
        old = old.reshape(sim.n_runs, -1)
        sim.set_count(ts.ROI("bleach"), "ZsGreen", counts - bleached, per_element=True)
        sim.set_count(ts.ROI("bleach"), "Bleached", old + bleached, per_element=True)
        res = sim.run(t_end)
    else:
        res = sim.results
    wall = time.perf_counter() - start
    times = res.times_of(rec_bleach)
    bleach = np.asarray(res[rec_bleach], dtype=np.float64)
    node = np.asarray(res[rec_node], dtype=np.float64)
    fit = fit_recovery(times, bleach.mean(axis=0), t_bleach)
    return FrapResult(geometry.name, sim.solver_name, sim.n_runs, times, bleach, node, fit,
                      geometry.mesh.n_tets, wall, int(getattr(sim.solver, "events", 0)),
                      extra=dict(t_bleach=t_bleach, seed=seed, conc=conc))


def plot_frap(results: dict, path: Path, t_bleach: float = 1.0) -> Path:
    """Recovery curves (bleach-region fluorescence / pre-bleach, mean ± SD over runs) as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, r in results.items():
        f = r.normalized
        mean, sd = f.mean(axis=0), f.std(axis=0)
        label = f"{name} ({r.solver}, {r.runs} run{'s' * (r.runs > 1)}): τ = {r.tau * 1e3:.0f} ms"
        (line,) = ax.plot(r.times, mean, lw=1.2, label=label)
        if r.runs > 1:
            ax.fill_between(r.times, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0)
        if np.isfinite(r.tau):
            t = r.times[r.times > t_bleach]
            pre = r.bleach_counts[:, r.times < t_bleach].mean() if (r.times < t_bleach).any() else 1.0
            fit = _recovery(t, r.fit["f_inf"], r.fit["f_b"], r.fit["tau"], t_bleach) / pre
            ax.plot(t, fit, color=line.get_color(), lw=0.8, ls="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fluorescence in bleach region / pre-bleach")
    ax.set_title("FRAP in astrocyte branchlets: ZsGreen 25 µM, D = 9 µm²/s, 60 % bleached at 1 s")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def run_frap(geometries=("d0", "d0/2", "d0/3"), runs: int = 5, solver: str = "ssa", t_end: float = 2.5,
             out_dir=".", plot: bool = True, mesh_size: float | None = None, use_published: bool = True,
             seed: int = 1, t_bleach: float = 1.0, dt: float = 3.6e-3, conc: float = ZSGREEN_CONC,
             progress=False, verbose: bool = True, **options) -> dict:
    """Run FRAP on each geometry; return ``{"results": {name: FrapResult}, "tau": {name: τ}, ...}``.

    Parameters
    ----------
    geometries
        Generated branchlet names (``"d0"``, ``"d0/2"``, ``"d0/3"``); with ``use_published`` the
        published meshes (``"published d0"`` ...) are added when the reference data exist.
    runs, solver, seed
        Replicates (1 for ``ode``), solver name and seed.
    t_end, t_bleach, dt
        End time, bleach time and sampling interval (s).
    conc
        ZsGreen concentration (M); 25 µM in the published protocol. The spatial SSA costs
        ~5e8 (d0) to ~1e9 (d0/3) events per simulated second at 25 µM, proportional to it.
    out_dir, plot
        Where to save ``frap_recovery.png`` (and whether to).
    mesh_size
        Target edge length (m) for generated branchlets (default: the generator's,
        ``min(d_shaft, d_node)/4``).
    """
    names = list(geometries)
    if use_published and published_data_dir() is not None:
        names += [n for n in PUBLISHED if n not in names]
    results, tau = {}, {}
    for name in names:
        geometry = frap_geometry(name, mesh_size=mesh_size, seed=seed)
        r = simulate_frap(geometry, solver=solver, runs=runs, t_end=t_end, t_bleach=t_bleach, dt=dt,
                          seed=seed, conc=conc, progress=progress, **options)
        results[name], tau[name] = r, r.tau
        if verbose:
            rate = f", {r.events / r.wall_s:.3g} events/s" if r.events else ""
            print(f"{name:>16}: {r.n_tets:6d} tets, {solver} x{r.runs}: tau = {r.tau * 1e3:7.1f} ms "
                  f"(± {r.fit['tau_err'] * 1e3:.1f}), wall {r.wall_s:.1f} s{rate}", flush=True)
    figure = None
    if plot and results:
        figure = plot_frap(results, Path(out_dir) / "frap_recovery.png", t_bleach)
        if verbose:
            print(f"figure: {figure}")
    generated = [tau[n] for n in ("d0", "d0/2", "d0/3") if n in tau]
    monotone = bool(np.all(np.diff(generated) > 0)) if len(generated) > 1 else None
    return dict(results=results, tau=tau, figure=figure, tau_grows_as_shaft_narrows=monotone)


# ---------------------------------------------------------------------- expected cost
def calibrate_wall_rate(geometry: FrapGeometry, solver: str = "ssa", conc: float = ZSGREEN_CONC,
                        target_wall: float = 1.0, seed: int = 1, **options) -> float:
    """Wall seconds per simulated second and replicate of the FRAP model on ``geometry``.

    A short run from the protocol's initial state: after a warm-up (kernel compilation, solver
    set-up), the simulated time doubles from 1 ms until a segment takes ``target_wall`` seconds
    of wall time (or 50 ms are simulated); the rate of the last segment is returned. The exact
    SSA's event rate is constant at equilibrium, so the estimate scales linearly.
    """
    import tetrasim as ts

    model, geom = frap_model(geometry)
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False, **options)
    sim.set_conc("cytosol", "ZsGreen", conc)
    warm_up = 1e-5
    sim.run(warm_up)
    span, t = 1e-3, warm_up
    while True:
        start = time.perf_counter()
        sim.run(t + span)
        wall = time.perf_counter() - start
        t += span
        if wall >= target_wall or span >= 0.05:
            return wall / span
        span *= 2


def estimate_frap_cost(geometries, solver: str = "ssa", runs: int = 1, t_end: float = 2.5,
                       conc: float = ZSGREEN_CONC, mesh_size: float | None = None, seed: int = 1,
                       target_wall: float = 1.0, **options) -> dict:
    """Expected wall time (s) of :func:`run_frap` per geometry name, from a short calibration each.

    Only for the stochastic solvers (``ssa``, ``opsplit``), whose cost grows linearly with the
    simulated time and the replicates. An ``ode`` run's cost is not linear in time (its steps
    grow as the recovery settles, and the set-up dominates short runs), so ``None`` is
    returned for it.
    """
    from .solvers.registry import canonical_solver_name

    if canonical_solver_name(solver) in ("ode", "wm-ode"):
        return {name: None for name in geometries}
    estimate = {}
    for name in geometries:
        geometry = frap_geometry(name, mesh_size=mesh_size, seed=seed)
        per_second = calibrate_wall_rate(geometry, solver=solver, conc=conc, target_wall=target_wall,
                                         seed=seed, **options)
        estimate[name] = per_second * t_end * runs
    return estimate
