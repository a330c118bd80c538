"""Benchmark: load + derived data + diffusion couplings of a ~1,000,000-tet box mesh.

Run:  python benchmarks/mesh.py [--tets 1000000] [--repeats 3]

The mesh is generated once with gmsh (cached under .cache/ at the repository root), saved as
native .npz and as Gmsh 4.1 .msh, then each repeat runs in a fresh subprocess (so caches and
peak memory are per run) and times: load, derived data (volumes, barycenters, faces,
neighbours, face areas, boundary), diffusion couplings. Peak memory is the process's maximum
resident set size (resource.getrusage), which includes the interpreter and NumPy (~60 MB).
"CPU s" is the process CPU time of load + derived + couplings: on a shared, busy machine it is
closer than the wall time to what an idle core would take.
Targets (issue 3): load + analyse a 1M-tet mesh in < 10 s on one core, peak memory < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"


def make_mesh(n_tets: int) -> Path:
    out = CACHE / f"box_{n_tets}.npz"
    if out.exists():
        return out
    sys.path.insert(0, str(ROOT / "src"))
    from tetrasim.geometry import shapes

    # the structured box has 6 tets per cubic cell of edge size: choose size for the target count
    side = 10e-6
    size = side * (6 / n_tets) ** (1 / 3)
    t = time.perf_counter()
    mesh = shapes.box(side, side, side, size=size, cache=False)
    print(f"generated {mesh.n_tets:,} tets in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    CACHE.mkdir(exist_ok=True)
    mesh.save(out)
    mesh.save(out.with_suffix(".msh"), length_unit="um")
    return out


def one_run(path: str, unit: str | None) -> dict:
    import resource

    import numpy as np  # noqa: F401 - imported before timing

    from tetrasim.geometry import TetMesh

    c0 = time.process_time()
    t0 = time.perf_counter()
    mesh = TetMesh.load(path, length_unit=unit)
    t1 = time.perf_counter()
    derived = (mesh.tet_volumes, mesh.tet_barycenters, mesh.tet_neighbors, mesh.tet_face_areas)
    derived += (mesh.surface_tris(), mesh.tri_barycenters, mesh.bounding_box, mesh.vertex_tets)
    t2 = time.perf_counter()
    mesh.diffusion_couplings()
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return {
        "tets": mesh.n_tets,
        "load": t1 - t0,
        "derived": t2 - t1,
        "couplings": t3 - t2,
        "total": t3 - t0,
        "cpu": cpu,
        "peak_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tets", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, unit = args.worker
        print(json.dumps(one_run(path, None if unit == "-" else unit)))
        return
    npz = make_mesh(args.tets)
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
        PYTHONPATH=str(ROOT / "src"),
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; one thread; median of {args.repeats}"
    )
    print(
        f"{'file':<22}{'tets':>10}{'load s':>9}{'derived s':>11}{'coupl. s':>10}{'total s':>9}"
        f"{'CPU s':>8}{'peak MiB':>10}"
    )
    for path, unit in ((npz, "-"), (npz.with_suffix(".msh"), "um")):
        runs = []
        for _ in range(args.repeats):
            cmd = [sys.executable, __file__, "--worker", str(path), unit]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{path.name:<22}{int(med['tets']):>10,}{med['load']:>9.2f}{med['derived']:>11.2f}"
            f"{med['couplings']:>10.2f}{med['total']:>9.2f}{med['cpu']:>8.2f}{med['peak_mib']:>10.0f}"
        )


if __name__ == "__main__":
    main()
