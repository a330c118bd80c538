"""Benchmark of the exact spatial SSA (``ssa``): events/s, wall time and peak memory.

Cases
-----
(a) unbounded point source: 100,000 molecules in the tet at the centre of a sphere of radius
    10 µm (~30k tets), D = 2e-11 m²/s, simulated for ``--t-point`` s (default 0.05).
(b) FRAP on the d0/3 branchlet (tetrasim.examples_frap, generator defaults, ~51k tets):
    ZsGreen 25 µM, D = 9 µm²/s, simulated for ``--t-frap`` s (default 0.02; the whole
    2.5-s protocol is ~2.6e9 events).

Each case runs in a fresh subprocess (peak RSS is per case; numba compilation is done in a
warm-up run on a tiny problem and excluded from the timing). When STEPS is importable
(``import steps``), its Tetexact runs the same mesh and model in the same process type and the
table shows the wall-time ratio; otherwise tetrasim is shown alone.

    python benchmarks/spatial_ssa.py [--t-point 0.05] [--t-frap 0.02] [--markdown docs/benchmarks_spatial.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _warm_up() -> None:
    import tetrasim as ts
    from tetrasim.geometry import MeshGeometry, shapes

    mesh = shapes.box(1e-6, 1e-6, 1e-6, size=0.5e-6)
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    geom = MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    sim.set_count("c", "A", 10)
    sim.record(ts.Count("A", where="c"), every=0.01)
    sim.run(0.02)


def case_point(t_end: float) -> dict:
    import tetrasim as ts
    from tetrasim.geometry import MeshGeometry, shapes

    _warm_up()
    mesh = shapes.sphere(10e-6, size=0.85e-6, seed=20240601)
    model = ts.Model()
    model.species("A")
    model.volume_system("vsys").diffusion("A", 2e-11)
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vsys"])
    start = time.perf_counter()
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    setup = time.perf_counter() - start
    source = int(mesh.find_tet([0.0, 0.0, 0.0]))
    sim.set_count(ts.Tet(source), "A", 100_000)
    sim.record(ts.Count("A", where="cyto", per_element=True), every=t_end / 4)
    start = time.perf_counter()
    sim.run(t_end)
    wall = time.perf_counter() - start
    return dict(case="(a) point source, 1e5 molecules", n_tets=mesh.n_tets, t_sim=t_end, setup_s=setup,
                wall_s=wall, events=sim.solver.events, events_per_s=sim.solver.events / wall,
                peak_rss_mb=_peak_rss_mb(), steps=_steps_point(mesh, t_end, source))


def case_frap(t_end: float) -> dict:
    import tetrasim as ts
    from tetrasim.examples_frap import ZSGREEN_CONC, frap_geometry, frap_model

    _warm_up()
    g = frap_geometry("d0/3")
    model, geom = frap_model(g)
    start = time.perf_counter()
    sim = ts.Simulation(model, geom, solver="ssa", seed=1, progress=False)
    setup = time.perf_counter() - start
    sim.set_conc("cytosol", "ZsGreen", ZSGREEN_CONC)
    sim.record(ts.Count("ZsGreen", where=ts.ROI("bleach")), every=3.6e-3)
    start = time.perf_counter()
    sim.run(t_end)
    wall = time.perf_counter() - start
    return dict(case="(b) FRAP d0/3 branchlet, 25 uM", n_tets=g.mesh.n_tets, t_sim=t_end, setup_s=setup,
                wall_s=wall, events=sim.solver.events, events_per_s=sim.solver.events / wall,
                peak_rss_mb=_peak_rss_mb(), steps=None)


def _steps_point(mesh, t_end: float, source: int):
    """STEPS Tetexact on the same mesh and model, or None when STEPS is not importable."""
    try:
        import steps.interface  # noqa: F401
        from steps.geom import Compartment, TetMesh
        from steps.model import Diffusion, Model, Species, VolumeSystem
        from steps.rng import RNG
        from steps.sim import Simulation
    except ImportError:
        return None
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mesh.msh"
            mesh.save(path, length_unit="m")
            mdl = Model()
            with mdl:
                species = Species.Create()
                vsys = VolumeSystem.Create()
                with vsys:
                    Diffusion(species, 2e-11)
            steps_mesh = TetMesh.LoadGmsh(str(path), 1.0)
            with steps_mesh:
                Compartment.Create(steps_mesh.tets, vsys)
            rng = RNG("mt19937", 512, 1)
            sim = Simulation("Tetexact", mdl, steps_mesh, rng)
            sim.newRun()
            # untested here (no STEPS on the development machines): STEPS 4 'interface' API
            getattr(sim.TET(steps_mesh.tets[source]), species.name).Count = 100_000
            start = time.perf_counter()
            sim.run(t_end)
            return dict(wall_s=time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - report, never fail the benchmark on the peer
        return dict(error=f"{type(error).__name__}: {error}")


def _run_child(name: str, t_end: float) -> dict:
    command = [sys.executable, __file__, "--child", name, "--t", str(t_end)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    head = ("| case | tets | simulated (s) | events | wall (s) | events/s | peak RSS (MiB) "
            "| STEPS Tetexact wall (s) | tetrasim / STEPS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in rows:
        steps = r.get("steps") or {}
        steps_wall = f"{steps['wall_s']:.2f}" if "wall_s" in steps else steps.get("error", "—")
        ratio = f"{r['wall_s'] / steps['wall_s']:.2f}" if "wall_s" in steps else "—"
        lines.append(f"| {r['case']} | {r['n_tets']:,} | {r['t_sim']:g} | {r['events']:,} "
                     f"| {r['wall_s']:.2f} "
                     f"| {r['events_per_s']:.3g} | {r['peak_rss_mb']:.0f} | {steps_wall} | {ratio} |")
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="spatial SSA benchmark")
    parser.add_argument("--t-point", type=float, default=0.05)
    parser.add_argument("--t-frap", type=float, default=0.02)
    parser.add_argument("--markdown", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--t", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = case_point(args.t) if args.child == "point" else case_frap(args.t)
        print(json.dumps(result))
        return
    try:
        import steps  # noqa: F401

        steps_available = True
    except ImportError:
        steps_available = False
    rows = [_run_child("point", args.t_point), _run_child("frap", args.t_frap)]
    import numba

    import tetrasim

    text = table(rows)
    note = ("STEPS is importable: its Tetexact ran the same mesh and model (case a)."
            if steps_available else "STEPS is not importable here: tetrasim alone (no peer comparison).")
    machine = (f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
               f"numpy {np.__version__}, numba {numba.__version__}, tetrasim {tetrasim.__version__}; "
               "one core per run")
    print(text)
    print(note)
    print(machine)
    if args.markdown:
        command = f"python benchmarks/spatial_ssa.py --t-point {args.t_point:g} --t-frap {args.t_frap:g}"
        Path(args.markdown).write_text(f"# Spatial SSA benchmark\n\nMeasured by `{command}`.\n\n"
                                       f"{text}\n{note}\n\n"
                                       f"{machine}\n")


if __name__ == "__main__":
    main()
