"""Built-in demonstration models behind ``tetrasim demo``.

The command's plumbing (output folder, files, plot, printing) lives in :func:`run_demo`; each
model is a :class:`Demo` entry in :data:`DEMOS`, so a new demonstration is one more entry.

The current default, ``calcium-buffering``, is a well-mixed spine head: a 2 ms Ca²⁺ influx
pulse, buffering by a calbindin-like buffer and first-order extrusion, run with the exact
well-mixed SSA (several replicates, mean ± SD) and with the deterministic ODE on one plot.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import CapabilityError, SimulationError, did_you_mean

__all__ = ["Demo", "DemoOutput", "DEMOS", "run_demo", "calcium_buffering", "astrocyte_calcium"]


@dataclass
class DemoOutput:
    """What :func:`run_demo` wrote: result files (one per solver) and the figure (or ``None``)."""

    model: str
    results: dict = field(default_factory=dict)  # solver name -> Results
    h5_paths: dict = field(default_factory=dict)  # solver name -> path
    png_path: str | None = None
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Demo:
    """One demonstration: ``simulate(solver, runs, seed) -> Results`` and a ``plot(fig, results)``."""

    name: str
    description: str
    solvers: tuple[str, ...]  # run by default, in this order
    default_runs: int
    simulate: Callable
    plot: Callable


# ---------------------------------------------------------------------- calcium buffering
# A well-mixed dendritic-spine head. Parameters are literature-like, not fitted:
#   calbindin-D28k medium-affinity site: kon = 8.7e7 /M/s, koff = 35.8 /s (Kd ≈ 0.41 µM;
#   Nägerl et al. 2000, Biophys J 79:3009); total buffer 40 µM; resting free Ca 50 nM;
#   extrusion (PMCA/NCX lumped) 1500 /s; influx pulse 2 ms at 10 mM/s (20 µM total Ca).
CALCIUM = {
    "volume": 1e-19,  # m^3 = 0.1 fL = 0.1 µm^3, a large spine head
    "kon": 8.7e7,  # /M/s
    "koff": 35.8,  # /s
    "buffer_total": 40e-6,  # M
    "ca_rest": 50e-9,  # M
    "extrusion": 1500.0,  # /s
    "pulse_start": 0.010,  # s
    "pulse_duration": 0.002,  # s
    "pulse_rate": 1e-2,  # M/s (zero order)
    "t_end": 0.150,  # s
    "every": 0.5e-3,  # s
}


def calcium_buffering_model():
    """The model and geometry of the calcium-buffering demo."""
    import tetrasim as ts

    p = CALCIUM
    model = ts.Model()
    calcium, _buffer, _bound = model.species("Ca", "Buf", "CaBuf")
    calcium.valence = 2
    cyt = model.volume_system("cyt")
    cyt.reaction("Ca + Buf <-> CaBuf", kf=p["kon"], kb=p["koff"], name="binding")
    cyt.reaction("-> Ca", kf=p["extrusion"] * p["ca_rest"], name="influx")  # basal leak balances extrusion
    cyt.reaction("Ca ->", kf=p["extrusion"], name="extrusion")
    geom = ts.WellMixed()
    geom.compartment("spine", volume=p["volume"], systems=["cyt"])
    return model, geom


def calcium_buffering(solver: str = "wm-ssa", runs: int = 20, seed: int = 2024):
    """Simulate the spine-head calcium pulse; returns :class:`tetrasim.Results`.

    The buffer starts in equilibrium with resting Ca; the influx rate is raised for the pulse
    and restored afterwards (``run``/``set_rate``/``run`` continue the same replicates).
    """
    import tetrasim as ts

    p = CALCIUM
    model, geom = calcium_buffering_model()
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, progress=False)
    kd = p["koff"] / p["kon"]
    bound = p["buffer_total"] * p["ca_rest"] / (p["ca_rest"] + kd)
    sim.set_conc("spine", "Ca", p["ca_rest"])
    sim.set_conc("spine", "Buf", p["buffer_total"] - bound)
    sim.set_conc("spine", "CaBuf", bound)
    for species in ("Ca", "CaBuf"):
        sim.record(ts.Conc(species, where="spine"), every=p["every"], name=species)
    basal = sim.get_rate("influx")
    sim.run(p["pulse_start"], runs=runs)
    sim.set_rate("influx", basal + p["pulse_rate"])
    sim.run(p["pulse_start"] + p["pulse_duration"])
    sim.set_rate("influx", basal)
    return sim.run(p["t_end"])


DETERMINISTIC = ("wm-ode", "ode")


def _plot_calcium(fig, results: dict) -> None:
    axes = fig.subplots(2, 1, sharex=True)
    colors = iter(["tab:blue", "tab:orange", "tab:green", "tab:red"])
    for solver, res in results.items():
        stochastic = res.solver not in DETERMINISTIC
        color = next(colors) if stochastic else "k"
        for ax, species in zip(axes, ("Ca", "CaBuf"), strict=True):
            t_ms = res.times_of(species) * 1e3
            data = res[species] * 1e6  # (runs, times), µM
            if stochastic:
                mean = data.mean(axis=0)
                sd = data.std(axis=0, ddof=1) if res.runs > 1 else np.zeros_like(mean)
                ax.plot(t_ms, data[0], color=color, linewidth=0.5, alpha=0.5, label=f"{solver}: one run")
                ax.plot(t_ms, mean, color=color, linewidth=1.3,
                        label=f"{solver}: mean ± SD of {res.runs} runs")
                ax.fill_between(t_ms, mean - sd, mean + sd, color=color, alpha=0.25, linewidth=0)
            else:
                ax.plot(t_ms, data[0], color=color, linestyle="--", linewidth=1.3, label=solver)
    p = CALCIUM
    pulse_ms = (p["pulse_start"] * 1e3, (p["pulse_start"] + p["pulse_duration"]) * 1e3)
    for ax, title in zip(axes, ("free Ca²⁺ (µM)", "Ca²⁺-bound buffer (µM)"), strict=True):
        ax.axvspan(*pulse_ms, color="0.9", zorder=0)
        ax.set_ylabel(title)
    axes[0].legend(fontsize=8, frameon=False)
    axes[-1].set_xlabel("time (ms)")
    axes[0].set_title(f"Calcium buffering in a {p['volume'] * 1e18:g} fL spine head "
                      f"(Ca + Buf ⇌ CaBuf, {p['buffer_total'] * 1e6:g} µM calbindin-like buffer)", fontsize=9)
    fig.tight_layout()


# ---------------------------------------------------------------------- astrocyte FRAP
FRAP_GEOMETRIES = ("d0", "d0/2", "d0/3")


def astrocyte_frap(solver: str = "ode", runs: int = 1, seed: int = 2024):
    """Photobleaching in the three generated astrocyte branchlets (d_shaft = d0, d0/2, d0/3).

    The published protocol (25 µM ZsGreen, D = 9 µm²/s, 60 % bleached at 1 s, sampled every
    3.6 ms to 2.5 s; see :mod:`tetrasim.examples_frap`). Returns one :class:`tetrasim.Results`
    with a series per geometry (fluorescent molecules in the bleach region) and the fitted
    recovery time constants in ``meta``.
    """
    from .examples_frap import frap_geometry, simulate_frap
    from .recording.results import RecordedSeries, Results

    series, meta = {}, {}
    for name in FRAP_GEOMETRIES:
        geometry = frap_geometry(name, seed=0)
        result = simulate_frap(geometry, solver=solver, runs=runs, seed=seed, progress=None)
        key = "bleach_" + name.replace("/", "_")
        series[key] = RecordedSeries(key, "count", "ZsGreen", f"bleach region ({name})", "molecules",
                                     result.times, result.bleach_counts)
        meta[f"tau_{name.replace('/', '_')}_s"] = float(result.tau)
        print(f"    {name:>5}: {geometry.mesh.n_tets:6d} tets, recovery tau = {result.tau * 1e3:6.1f} ms "
              f"({result.wall_s:.1f} s)", flush=True)
    from ._version import __version__

    return Results(series, seed, solver, "astrocyte-frap", __version__, runs, meta)


def _plot_frap(fig, results: dict) -> None:
    ax = fig.subplots(1, 1)
    for solver, res in results.items():
        for key in res:
            data = res[key].astype(float)
            times = res.times_of(key)
            pre = times < 1.0
            normalized = data / data[:, pre].mean(axis=1, keepdims=True)
            mean = normalized.mean(axis=0)
            name = key.removeprefix("bleach_").replace("_", "/")
            tau = res.meta.get(f"tau_{key.removeprefix('bleach_')}_s", float("nan"))
            (line,) = ax.plot(times, mean, linewidth=1.2, label=f"{name} ({solver}): τ = {tau * 1e3:.0f} ms")
            if res.runs > 1:
                sd = normalized.std(axis=0, ddof=1)
                ax.fill_between(times, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("bleach-region fluorescence / pre-bleach")
    ax.set_title("FRAP in astrocyte branchlets (node–shaft, shaft width d0 = 378 nm, d0/2, d0/3):\n"
                 "25 µM ZsGreen, D = 9 µm²/s, 60 % bleached at t = 1 s", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()


# ---------------------------------------------------------------------- astrocyte calcium
#: The demo's short protocol: 10 ms baseline, IP3 infusion into the central node, 30 ms more,
#: on the generated d0 branchlet with its ER (the study runs 1 s + 4 s; see
#: docs/examples/astrocyte_calcium.md), from the pre-equilibrated rest state. The default solver
#: is ``ssa``: one run takes ~14 s here (2 shared cores); ``ode`` and ``opsplit`` are slower
#: (measured in that document).
CALCIUM_DEMO = {"geometry": "d0", "t_baseline": 0.01, "t_after": 0.03, "every": 0.5e-3}


def astrocyte_calcium(solver: str = "ssa", runs: int = 1, seed: int = 2024):
    """IP3R / GCaMP6s Ca²⁺ model on the d0 branchlet: a short IP3 stimulus of the central node.

    Returns one :class:`tetrasim.Results` with Ca-GCaMP6s and free Ca (µM) per node, one row
    per run (stochastic solvers run ``runs`` independent seeds).
    """
    from ._version import __version__
    from .examples_calcium import calcium_geometry, simulate_calcium
    from .recording.results import RecordedSeries, Results

    p = CALCIUM_DEMO
    geometry = calcium_geometry(p["geometry"], seed=0)
    result = simulate_calcium(geometry, solver=solver, seed=seed, runs=runs, t_baseline=p["t_baseline"],
                              t_after=p["t_after"], dt=p["every"])
    series = {}
    for node in geometry.nodes:
        for key, data, species in (("signal", result.signal, "ca_GCaMP6s"), ("ca", result.calcium, "ca")):
            name = f"{key}_{node}"
            series[name] = RecordedSeries(name, "conc", species, node, "uM", result.times, data[node])
    print(f"    {p['geometry']}: {geometry.mesh.n_tets} tets, {result.wall_s:.1f} s", flush=True)
    return Results(series, seed, solver, "astrocyte-calcium", __version__, runs,
                   {"t_stimulus_s": p["t_baseline"], "geometry": p["geometry"]})


def _plot_astrocyte_calcium(fig, results: dict) -> None:
    axes = fig.subplots(2, 1, sharex=True)
    for solver, res in results.items():
        for ax, key in zip(axes, ("signal", "ca"), strict=True):
            for node in ("node2", "node0"):
                data = np.asarray(res[f"{key}_{node}"])
                runs = f", mean of {res.runs} runs" if res.runs > 1 else ""
                label = f"{node} ({solver}{runs})"
                ax.plot(res.times_of(f"{key}_{node}"), data.mean(axis=0), linewidth=1.0, label=label)
    t_stim = CALCIUM_DEMO["t_baseline"]
    for ax, title in zip(axes, ("Ca-GCaMP6s (µM)", "free Ca²⁺ (µM)"), strict=True):
        ax.axvline(t_stim, color="k", linestyle=":", linewidth=0.8)
        ax.set_ylabel(title)
    axes[0].legend(fontsize=8, frameon=False)
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title("Astrocyte branchlet (d0) with ER: IP3 infused into the central node (node2) "
                      f"at t = {t_stim:g} s", fontsize=9)
    fig.tight_layout()


DEMOS: dict[str, Demo] = {
    "astrocyte-frap": Demo(
        name="astrocyte-frap",
        description="photobleaching recovery in astrocyte branchlets with shafts d0, d0/2, d0/3 "
                    "(Glia 2022 protocol); the recovery slows as the shaft narrows",
        solvers=("ode",),
        default_runs=1,
        simulate=astrocyte_frap,
        plot=_plot_frap,
    ),
    "astrocyte-calcium": Demo(
        name="astrocyte-calcium",
        description="IP3R/GCaMP6s Ca2+ model (Glia 2022) on the d0 branchlet with its ER: 10 ms "
                    "baseline, IP3 into the central node, 30 ms more; Ca-GCaMP6s per node",
        solvers=("ssa",),
        default_runs=1,
        simulate=astrocyte_calcium,
        plot=_plot_astrocyte_calcium,
    ),
    "calcium-buffering": Demo(
        name="calcium-buffering",
        description="well-mixed spine head: Ca2+ influx pulse, calbindin-like buffer, extrusion; "
                    "exact SSA (mean ± SD) vs ODE",
        solvers=("wm-ssa", "wm-ode"),
        default_runs=20,
        simulate=calcium_buffering,
        plot=_plot_calcium,
    ),
}
DEFAULT_DEMO = "astrocyte-frap"


# ---------------------------------------------------------------------- plumbing
def demo_geometry_kind(demo: Demo) -> str:
    """``"well-mixed"`` or ``"mesh"``: the geometry a demo's own solvers run on."""
    return "well-mixed" if all(name.startswith("wm-") for name in demo.solvers) else "mesh"


def check_solvers(demo: Demo, solvers) -> None:
    """Refuse a solver that cannot run ``demo``'s geometry, naming the solvers and the demo that fit."""
    kind = demo_geometry_kind(demo)
    misfits = [name for name in solvers if name.startswith("wm-") != (kind == "well-mixed")]
    if not misfits:
        return
    solver = misfits[0]
    fitting = "wm-ssa or wm-ode" if kind == "well-mixed" else "ssa, opsplit or ode"
    what = "one well-mixed compartment" if kind == "well-mixed" else "tetrahedral meshes"
    solver_kind = "well-mixed" if solver.startswith("wm-") else "mesh"
    others = [d.name for d in DEMOS.values() if demo_geometry_kind(d) != kind]
    switch = f", or choose the demo that fits it: --model {others[0]} --solver {solver}" if others else ""
    raise CapabilityError(f"demo {demo.name!r} runs on {what} and {solver!r} is a {solver_kind} solver: "
                          f"use --solver {fitting} with this demo{switch}")


def _file_stem(name: str) -> str:
    return "tetrasim_demo_" + name.replace("-", "_")


def run_demo(out_dir=".", runs: int | None = None, solver: str | None = None, plot: bool = True,
             model: str = DEFAULT_DEMO, seed: int = 2024, echo: Callable | None = print) -> DemoOutput:
    """Run a built-in demonstration and write its results (HDF5) and figure (PNG) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the output files (created when missing).
    runs : int, optional
        Replicates for the stochastic solvers (default: the demo's own).
    solver : str, optional
        One solver name, or several separated by commas (default: the demo's own list,
        e.g. ``"wm-ssa,wm-ode"``).
    plot : bool
        Write the PNG figure (matplotlib, Agg back end: no display needed).
    model : str
        Which demo; see :data:`DEMOS`.
    seed : int
        Seed of the stochastic runs.
    echo : callable or None
        Where progress lines go (``print`` by default, ``None`` for silence).
    """
    from .solvers.registry import canonical_solver_name

    if model not in DEMOS:
        raise SimulationError(f"no demo named {model!r}{did_you_mean(model, DEMOS)}; "
                              f"choose from {', '.join(DEMOS)}")
    demo = DEMOS[model]
    runs = demo.default_runs if runs is None else runs
    if not isinstance(runs, (int, np.integer)) or isinstance(runs, bool) or runs < 1:
        raise SimulationError(f"runs must be a positive integer, got {runs!r}")
    if solver is None:
        solvers = demo.solvers
    else:
        solvers = tuple(name.strip() for name in str(solver).split(",") if name.strip())
    if not solvers:
        raise SimulationError("no solver given; e.g. --solver wm-ssa")
    solvers = tuple(dict.fromkeys(canonical_solver_name(s) for s in solvers))
    check_solvers(demo, solvers)
    say = echo or (lambda *args, **kwargs: None)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    output = DemoOutput(model=demo.name)
    say(f"tetrasim demo '{demo.name}': {demo.description}")
    for name in solvers:
        n = 1 if name in DETERMINISTIC else int(runs)
        say(f"  running {name} ({n} run{'s' if n > 1 else ''})...", flush=True)
        try:
            res = demo.simulate(solver=name, runs=n, seed=seed)
        except ImportError as error:  # an optional part this installation lacks
            note = f"solver {name!r} needs {error.name or error} which is not installed; skipped"
            output.notes.append(note)
            say(f"  note: {note}")
            continue
        output.results[name] = res
        path = os.path.join(out_dir, f"{_file_stem(demo.name)}_{name}.h5")
        output.h5_paths[name] = res.save(path)
        say(f"  results ({name}): {os.path.abspath(path)}")
    if not output.results:
        raise SimulationError(f"demo {demo.name!r}: none of the solvers {', '.join(solvers)} could run")
    if plot:
        png = os.path.join(out_dir, f"{_file_stem(demo.name)}.png")
        output.png_path = _save_figure(demo, output.results, png)
        say(f"  figure: {os.path.abspath(output.png_path)}")
    return output


def _save_figure(demo: Demo, results: dict, path: str) -> str:
    """Draw with matplotlib's object API on an Agg canvas (no pyplot state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6), dpi=120)
    FigureCanvasAgg(fig)
    demo.plot(fig, results)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.part")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
