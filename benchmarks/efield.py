"""Membrane potential (EField) with stochastic channels: HH on a 1 µm × 50 µm cylinder, beside NEURON.

Case: the Rallpack 3 Hodgkin–Huxley membrane (Na 1200 S/m², K 360 S/m², 20 pS channels, leak
Rm 4 Ω·m² at −65 mV, Cm 0.01 F/m², Ra 1 Ω·m, 6.3 °C) on a gmsh cylinder of radius 0.5 µm and
length 50 µm (size 0.2 µm: 22,765 tets; the membrane is the side, the ends are sealed),
0.1 nA injected at z = 0 from t = 0, ``--t-end`` simulated (default 4 ms), efield_dt 10 µs.
Stochastic channels with ``ssa`` and ``opsplit`` (each run from resting channel states placed
by the solver); the wall time per simulated ms is the median of ``--repeats`` runs after an
untimed warm-up, each solver in a fresh process on one core; the EField share is the time
spent outside the chemistry (potential solve, currents, rate refresh) over the whole run.

NEURON runs the same cable (hh mechanism, 50 segments of 1 µm, dt 10 µs) in the same
script when installed. STEPS is timed only when ``steps`` imports (it is not installed
here; the issue quotes STEPS 4 on this kind of machine: Tetexact 5.44 s, TetOpSplit + PETSc
3.55 s per simulated ms).

Usage
-----
    python benchmarks/efield.py                       # 4 ms, 3 repeats
    python benchmarks/efield.py --t-end 1e-3 --repeats 1
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, before NumPy / numba load

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    command_line,
    format_mib,
    machine_markdown,
    markdown_table,
    peak_rss_mib,
    run_isolated,
)

RADIUS, LENGTH, SIZE, EFIELD_DT, CURRENT = 0.5e-6, 50e-6, 0.2e-6, 1e-5, 0.1e-9


def build(solver: str, seed: int):
    """The simulation of the case, ready to run; returns (simulation, mesh)."""
    import numpy as np

    import tetrasim as ts
    from tetrasim.examples_efield import RALLPACK, hh_model, set_hh_channels
    from tetrasim.geometry.shapes import cylinder

    mesh = cylinder(RADIUS, LENGTH, size=SIZE)
    surface = mesh.surface_tris()
    side = surface[np.abs(mesh.tri_normals[surface][:, 2]) < 0.5]
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto")
    geom.patch("memb", tris=side, inner="cyto", systems=["hh"])
    p = RALLPACK
    geom.membrane("membrane", patches=["memb"], capacitance=p["capacitance"],
                  volume_resistivity=p["axial_resistivity"])
    model = hh_model(p["channel_conductance"], p["e_na"], p["e_k"], p["rest"])
    sim = ts.Simulation(model, geom, solver=solver, seed=seed, efield_dt=EFIELD_DT)
    sim.set_potential("membrane", p["rest"])
    sim.set_membrane_resistivity("membrane", p["membrane_resistivity"], p["e_leak"])
    set_hh_channels(sim, "memb", float(mesh.tri_areas[side].sum()))
    start = np.flatnonzero(np.isclose(mesh.vertices[:, 2], 0.0))
    sim.set_current_clamp(ts.Verts(start), CURRENT)
    return sim, mesh


def measure_tetrasim(solver: str, t_end: float, repeats: int) -> dict:
    """In a fresh process: warm-up, then ``repeats`` timed runs (new simulation each, seed = repeat)."""
    import tetrasim as ts

    build(solver, 0)[0].run(min(t_end, 2e-4))  # warm-up: JIT caches, mesh cache
    walls, shares, spikes = [], [], []
    for repeat in range(repeats):
        sim, mesh = build(solver, repeat + 1)
        probe = sim.record(ts.Potential("membrane"), every=1e-4)
        start = time.perf_counter()
        results = sim.run(t_end)
        wall = time.perf_counter() - start
        seconds = sim.solver.seconds
        walls.append(wall)
        shares.append(seconds["efield"] / wall)
        spikes.append(float(results[probe][0].max()))
    return {"walls": walls, "efield_share": statistics.median(shares), "peak_mib": peak_rss_mib(),
            "n_tets": mesh.n_tets, "max_v": spikes}


def measure_neuron(t_end: float, repeats: int) -> dict | None:
    if importlib.util.find_spec("neuron") is None:
        return None
    from tetrasim.examples_efield import neuron_cable

    walls = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        neuron_cable("hh", length=LENGTH, n_segments=50, dt=EFIELD_DT, t_end=t_end, every=1e-4,
                     current=CURRENT)
        walls.append(time.perf_counter() - start)
    return {"walls": walls[1:], "peak_mib": peak_rss_mib()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-end", type=float, default=4e-3, help="simulated time (s), default 4e-3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solvers", nargs="+", default=["ssa", "opsplit"])
    args = parser.parse_args(argv)
    print(machine_markdown())
    print(f"\nCommand: `{command_line()}`\n")
    ms = args.t_end * 1e3
    rows = []
    for solver in args.solvers:
        out = run_isolated(measure_tetrasim, solver, args.t_end, args.repeats)
        per_ms = statistics.median(out["walls"]) / ms
        rows.append([f"tetrasim {solver} + EField ({out['n_tets']:,} tets)", f"{per_ms:.3f}",
                     f"{out['efield_share'] * 100:.0f} %", format_mib(out["peak_mib"]),
                     ", ".join(f"{w:.2f}" for w in out["walls"]),
                     f"peak V {max(out['max_v']) * 1e3:.1f} mV"])
        print(f"{solver}: {per_ms:.3f} s per simulated ms", file=sys.stderr, flush=True)
    neuron = run_isolated(measure_neuron, args.t_end, args.repeats)
    if neuron is not None:
        walls = neuron["walls"]
        rows.append(["NEURON hh, 50 segments, dt 10 µs", f"{statistics.median(walls) / ms:.5f}", "—",
                     format_mib(neuron["peak_mib"]), ", ".join(f"{w:.4f}" for w in walls), "deterministic"])
    if importlib.util.find_spec("steps") is None:
        rows.append(["STEPS", "not installed", "—", "—", "—", "issue: Tetexact 5.44, TetOpSplit 3.55 s/ms"])
    print(markdown_table(["simulator", "wall s per simulated ms (median)", "EField share", "peak RSS",
                          "wall per run (s)", "note"], rows))


if __name__ == "__main__":
    main()
