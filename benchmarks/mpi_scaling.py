"""Distributed opsplit: peak memory per rank and wall time against the number of MPI ranks.

Two cases, each run under ``mpiexec -n R`` for every R in ``--ranks``:

* ``simple``: the STEPS 4 simple model (benchmarks/steps4_simple_model.py: 10 species, 4
  reversible reactions, published 13,009-tet mesh when present) for ``--t-end`` s. Wall time
  of ``sim.run`` (median of ``--repeats``) beside STEPS DistTetOpSplit's published 13.6 s (1
  rank) and 7.7 s (2 ranks) for 0.5 s.
* ``box``: the same model on a structured box of ``--box`` cubes (6 tets each; 50 50 67 is
  1,005,000 tets), a few steps only: the point is memory.

Memory: each rank reports its peak RSS during set-up (rank 0 compiles and partitions the
whole mesh) and its peak RSS while running (VmHWM reset after set-up, after the script drops
its mesh), minus the interpreter baseline. The run-phase peak should fall ∝ 1/ranks apart from
a constant (numba, NumPy, MPI: the baseline is subtracted; what remains is state).

    python benchmarks/mpi_scaling.py [--ranks 1 2 4] [--t-end 0.5] [--repeats 3] [--box 50 50 67]

Timing on a shared machine is noisy: quote medians and rerun on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

STEPS_SECONDS = {1: 13.6, 2: 7.7}  # STEPS 4 DistTetOpSplit, simple model, 0.5 s (published)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _state_mib(sim) -> float:
    """MiB of NumPy arrays the simulation holds (compiled part, runtime, solver, replicate states)."""
    seen, total = set(), 0
    for holder in (sim.compiled, sim.runtime, sim.solver, sim):
        for value in vars(holder).values():
            if isinstance(value, np.ndarray) and id(value) not in seen:
                seen.add(id(value))
                total += value.nbytes
    return total / 2**20


def worker(case: str, t_end: float, repeats: int, box, backend: str = "mpi") -> None:
    """One rank of one case: print one JSON line on rank 0 with every rank's numbers."""
    from steps4_simple_model import SPECIES, build_model, load_mesh

    import tetrasim as ts
    from tetrasim.backends.mpi import release_freed_memory

    baseline = _status_kib("VmRSS")
    model = build_model()
    if case == "simple":
        mesh, mesh_name = load_mesh(13009)
    else:
        from gridmesh import grid_mesh

        mesh = grid_mesh(*(box if case == "box" else (2, 2, 2)), 1e-6)
        mesh_name = f"grid box {box} ({mesh.n_tets} tets)"
    n_tets = mesh.n_tets
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyt", systems=["vsys"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=1, progress=False, backend=backend)
    for i, name in enumerate(SPECIES):
        sim.set_count("cyt", name, 1000 * (i + 1))
    for name in SPECIES:
        sim.record(ts.Count(name, where="cyt"), every=1e-3)
    del mesh, geom  # the script's global mesh: not needed once the simulation holds its part
    gc.collect()
    release_freed_memory()
    setup_peak = _status_kib("VmHWM")
    can_reset = _reset_peak()
    comm = getattr(sim.backend, "comm", None)
    barrier = comm.Barrier if comm is not None else (lambda: None)
    t_run = t_end if case == "simple" else 5 * sim.solver.tau
    sim.run(2 * sim.solver.tau)  # warm-up: numba loads (or compiles) the kernels outside the timing
    walls = []
    for _ in range(repeats if case == "simple" else 1):
        sim.reset()
        sim.solver.stats[:] = 0
        barrier()
        start = time.perf_counter()
        sim.run(t_run)
        barrier()
        walls.append(time.perf_counter() - start)
    run_peak = _status_kib("VmHWM") if can_reset else float("nan")
    local_pools = sim.compiled.n_pools
    gather = comm.gather if comm is not None else (lambda row, root: [row])
    rows = gather(
        {
            "rank": sim.backend.rank,
            "setup_peak_mib": (setup_peak - baseline) / 1024,
            "run_peak_mib": (run_peak - baseline) / 1024,
            "baseline_mib": baseline / 1024,
            "local_pools": local_pools,
            "state_mib": _state_mib(sim),
        },
        root=0,
    )
    if sim.backend.is_root:
        print(
            json.dumps(
                {
                    "case": case,
                    "mesh": mesh_name,
                    "tets": n_tets,
                    "ranks": sim.backend.size,
                    "t_end": t_run,
                    "steps": int(sim.solver.stats[2]),
                    "wall_s": walls,
                    "median_wall_s": statistics.median(walls),
                    "per_rank": rows,
                }
            )
        )


def launch(case: str, ranks: int, args, backend: str = "mpi", repeats: int | None = None) -> dict:
    """Run one case in a fresh process (under mpiexec for the MPI back end); its JSON line."""
    from tetrasim.backends.launch import mpiexec_command

    extra = ["--worker", case, "--backend", backend, "--t-end", str(args.t_end)]
    extra += ["--repeats", str(args.repeats if repeats is None else repeats)]
    extra += ["--box", *map(str, args.box)]
    if backend == "mpi":
        command = mpiexec_command(ranks, __file__, *extra)
    else:
        command = [sys.executable, __file__, *extra]
    path = os.pathsep.join(filter(None, [str(HERE.parent / "src"), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
    if done.returncode != 0:
        raise SystemExit(f"{case} ({backend}, {ranks} ranks) failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--t-end", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--box", type=int, nargs=3, default=[50, 50, 67])
    parser.add_argument("--cases", nargs="+", default=["tiny", "simple", "box"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="mpi", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.t_end, args.repeats, args.box, args.backend)
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; timings are medians of {args.repeats}"
          " launches, taken round-robin over the back ends and rank counts (each sees the same load)")
    for case in args.cases:
        base = None
        runs = [("mpi", ranks) for ranks in args.ranks]
        if case == "simple":
            runs.insert(0, ("serial", 1))  # the serial back end (opsplit_steps, one compiled loop) beside it
        results = {run: [] for run in runs}
        loads = {run: [] for run in runs}
        for _ in range(args.repeats if case == "simple" else 1):
            for backend, ranks in runs:
                loads[(backend, ranks)].append(os.getloadavg()[0])
                results[(backend, ranks)].append(launch(case, ranks, args, backend, repeats=1))
        for backend, ranks in runs:
            rows = results[(backend, ranks)]
            r = rows[0]
            peaks = [row["run_peak_mib"] for row in r["per_rank"]]
            setup = [row["setup_peak_mib"] for row in r["per_rank"]]
            state = [row["state_mib"] for row in r["per_rank"]]
            line = (
                f"{case:6} {r['tets']:>9,} tets  {backend:6} {ranks} ranks"
                f"  run-phase peak RSS per rank (MiB, above baseline): max {max(peaks):7.1f}"
                f"  set-up peak max {max(setup):7.1f}"
                f"  arrays held per rank: max {max(state):7.2f}"
            )
            if case == "simple":
                walls = [row["median_wall_s"] for row in rows]
                wall = statistics.median(walls)
                if backend == "mpi" and base is None:
                    base = wall  # efficiency against the MPI back end on its first rank count
                line += f"  wall {wall:.2f} s ({', '.join(f'{w:.2f}' for w in walls)}) for {r['t_end']} s"
                load = ", ".join(f"{v:.1f}" for v in loads[(backend, ranks)])
                line += f" ({r['steps']} steps; 1-min load average at launch {load})"
                if backend == "mpi":
                    line += f", efficiency {base / wall / ranks:.0%}"
                if ranks in STEPS_SECONDS and abs(r["t_end"] - 0.5) < 1e-12:
                    line += f", STEPS {STEPS_SECONDS[ranks]} s (ratio {wall / STEPS_SECONDS[ranks]:.2f})"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
