"""The STEPS 4 "simple model" with the operator-splitting solver, timed on one core.

10 species SA..SJ (1000..10000 molecules spread over a 10 x 10 x 100 um box), four reversible
reactions, D = 100..10 um^2/s; 0.5 s simulated, all counts recorded every 1 ms. Meshes: the
published 3,363- and 13,009-tet meshes from ../shared/data (or a gmsh box when absent).

Prints wall time (median of repeats), steps, molecule jumps per second, the SSA/diffusion
split (a separate profiled run), and peak memory above the interpreter baseline. When STEPS
(`import steps`) is importable, runs its TetOpSplit on the same mesh and prints the ratio.

    python benchmarks/steps4_simple_model.py [--repeats 3] [--mesh 13009 3363] [--t-end 0.5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import tetrasim as ts

SPECIES = [f"S{letter}" for letter in "ABCDEFGHIJ"]
REACTIONS = [("SA + SB <-> SC", 1e9, 100.0), ("SC + SD <-> SE", 1e8, 10.0), ("SF + SG <-> SH", 1e7, 1.0),
             ("SH + SI <-> SJ", 1e6, 1.0)]
PUBLISHED = {13009: "10x10x100_13009tets.msh", 3363: "10x10x100_3363tets.msh"}


def data_dir() -> Path:
    env = os.environ.get("TETRASIM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_mesh(n_tets: int):
    path = data_dir() / "meshes" / "steps4-simple-model" / PUBLISHED[n_tets]
    if path.exists():
        return ts.TetMesh.load(path, length_unit="um"), str(path.name)
    size = 1.25e-6 if n_tets > 5000 else 2.0e-6  # gmsh target sizes giving about the same tet counts
    mesh = ts.shapes.box(10e-6, 10e-6, 100e-6, size=size)
    return mesh, f"gmsh box, size {size * 1e6:g} um ({mesh.n_tets} tets; published mesh absent)"


def build_model():
    model = ts.Model()
    model.species(*SPECIES)
    vsys = model.volume_system("vsys")
    for equation, kf, kb in REACTIONS:
        vsys.reaction(equation, kf=kf, kb=kb)
    for i, name in enumerate(SPECIES):
        vsys.diffusion(name, (100 - 10 * i) * 1e-12)
    return model


def make_simulation(model, mesh, seed=1, **options):
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyt", systems=["vsys"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=seed, progress=False, **options)
    for i, name in enumerate(SPECIES):
        sim.set_count("cyt", name, 1000 * (i + 1))
    for name in SPECIES:
        sim.record(ts.Count(name, where="cyt"), every=1e-3)
    return sim


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numba {numba.__version__}"


def run_steps(mesh_path: Path, t_end: float):
    """STEPS TetOpSplit on the same mesh and model; None when STEPS is not importable.

    Written against the STEPS >= 4 ``steps.interface`` API (untested here: STEPS is not
    installed on the reference machine; see benchmarks/README.md for building it).
    """
    try:
        import steps.interface  # noqa: F401
        from steps.geom import Compartment, TetMesh
        from steps.model import Diffusion, Model, ReactionManager, Species, VolumeSystem
        from steps.rng import RNG
        from steps.sim import Simulation
    except ImportError:
        return None
    mdl = Model()
    reactions = ReactionManager()
    with mdl:
        lookup = {name: Species(name=name) for name in SPECIES}
        vsys = VolumeSystem(name="vsys")
        with vsys:
            for index, (equation, kf, kb) in enumerate(REACTIONS):
                left, right = equation.split("<->")
                a, b = (lookup[x.strip()] for x in left.split("+"))
                # STEPS's reaction syntax: the comparison chain declares the reaction
                a + b < reactions[f"r{index}"] > lookup[right.strip()]  # noqa: B015
                reactions[f"r{index}"].K = kf, kb
            for i, name in enumerate(SPECIES):
                Diffusion(lookup[name], (100 - 10 * i) * 1e-12)
    mesh = TetMesh.LoadGmsh(str(mesh_path), scale=1e-6)
    with mesh:
        Compartment(mesh.tets, vsys, name="cyt")
    sim = Simulation("TetOpSplit", mdl, mesh, RNG("mt19937", 512, 1))
    sim.newRun()
    for i, name in enumerate(SPECIES):
        getattr(sim.cyt, name).Count = 1000 * (i + 1)
    start = time.perf_counter()
    sim.run(t_end)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mesh", type=int, nargs="+", default=[13009, 3363], choices=sorted(PUBLISHED))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--t-end", type=float, default=0.5)
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profiled run (SSA/diffusion split)")
    args = parser.parse_args(argv)

    model = build_model()
    # Warm up: compile every kernel on a tiny mesh so the timings and memory exclude the JIT.
    warm_mesh = ts.shapes.box(1e-6, 1e-6, 1e-6, size=0.5e-6) if hasattr(ts, "shapes") else None
    if warm_mesh is not None:
        make_simulation(model, warm_mesh).run(0.002)
        make_simulation(model, warm_mesh, profile=True).run(0.002)
    print(f"machine: {machine()}")
    print(f"command: python benchmarks/steps4_simple_model.py --mesh {' '.join(map(str, args.mesh))} "
          f"--repeats {args.repeats} --t-end {args.t_end}")
    rows = []
    for n_tets in args.mesh:
        can_reset = reset_peak_rss()
        baseline = _status_kib("VmRSS")
        start = time.perf_counter()
        mesh, source = load_mesh(n_tets)
        sim = make_simulation(model, mesh)
        setup = time.perf_counter() - start
        walls, stats = [], None
        for _ in range(args.repeats):
            sim.reset()
            for i, name in enumerate(SPECIES):
                sim.set_count("cyt", name, 1000 * (i + 1))
            sim.solver.stats[:] = 0
            start = time.perf_counter()
            sim.run(args.t_end)
            walls.append(time.perf_counter() - start)
            stats = sim.solver.stats.copy()
        peak_mib = (_status_kib("VmHWM") - baseline) / 1024 if can_reset else float("nan")
        wall = statistics.median(walls)
        split = ""
        if not args.no_profile:
            profiled = make_simulation(model, mesh, profile=True)
            profiled.run(args.t_end)
            seconds = profiled.solver.operator_seconds
            total = seconds["ssa"] + seconds["diffusion"]
            split = f"SSA {seconds['ssa']:.2f} s ({100 * seconds['ssa'] / total:.0f} %), " \
                    f"diffusion {seconds['diffusion']:.2f} s ({100 * seconds['diffusion'] / total:.0f} %)"
        steps_wall = None
        mesh_path = data_dir() / "meshes" / "steps4-simple-model" / PUBLISHED[n_tets]
        if mesh_path.exists():
            try:
                steps_wall = run_steps(mesh_path, args.t_end)
            except Exception as error:  # a peer failing must not hide our numbers
                print(f"STEPS run failed: {error}")
        rows.append((n_tets, source, mesh.n_tets, wall, walls, setup, int(stats[2]), int(stats[1]),
                     int(stats[0]), peak_mib, split, steps_wall, sim.solver.bytes_per_pool(), sim.solver.tau))

    print()
    print("| mesh | tets | wall (median) | repeats | setup | steps | tau | jumps | jumps/s | reactions | "
          "peak RSS above baseline | bytes/(tet·species) | STEPS TetOpSplit | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (_, source, tets, wall, walls, setup, steps, jumps, events, peak, _, steps_wall, bpp,
         tau) in rows:
        steps_text = f"{steps_wall:.2f} s" if steps_wall else "not installed"
        ratio = f"{steps_wall / wall:.1f}x" if steps_wall else "-"
        repeats = ", ".join(f"{w:.2f}" for w in walls)
        print(f"| {source} | {tets} | {wall:.2f} s | {repeats} | {setup:.2f} s | "
              f"{steps} | {tau * 1e6:.0f} us | {jumps:.3g} | {jumps / wall:.3g} | {events} "
              f"| {peak:.1f} MiB | "
              f"{bpp:.0f} | {steps_text} | {ratio} |")
    for row in rows:
        if row[10]:
            print(f"profile {row[0]}: {row[10]}")
    print("\nTargets (issue 5): <= 8 s wall on one core for 13,009 tets; <= 50 MB above baseline.")
    print("Published: STEPS 4 8.26 s on 2 cores (Xeon Gold 6248); "
          "STEPS 5.1 13.6 s on one rank of this machine kind.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
