"""A pre-split Gmsh set (each rank reads its own file) against the whole mesh (rank 0 partitions).

Meshes a box with gmsh (``--size``: element size in µm on a 4×2×2 µm box), writes it whole and
split into ``--ranks`` files, then runs the same small opsplit model under ``mpiexec -n R`` both
ways, round-robin ``--repeats`` times. Each rank reports the tets its script holds (the whole
mesh, or its part with the halo), the tets it owns, the seconds to load the mesh and to set up
the simulation, and its peak RSS above the interpreter baseline (VmHWM) at the end of set-up.

    python benchmarks/split_mesh.py [--size 0.08] [--ranks 4] [--repeats 3] [--halo 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def make_set(path: Path, size: float, parts: int) -> None:
    import gmsh

    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        box = gmsh.model.occ.addBox(0, 0, 0, 4, 2, 2)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [box], name="cyto")
        for option, value in (("Mesh.MeshSizeFromPoints", 0), ("Mesh.MeshSizeMin", size),
                              ("Mesh.MeshSizeMax", size), ("Mesh.MshFileVersion", 4.1)):
            gmsh.option.setNumber(option, value)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(path))
        gmsh.model.mesh.partition(parts)
        gmsh.option.setNumber("Mesh.PartitionSplitMeshFiles", 1)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def worker(mode: str, path: str, halo: int) -> None:
    from mpi4py import MPI

    import tetrasim as ts
    import tetrasim.backends.mpi_simulation  # noqa: F401 - imported before the baseline is taken
    import tetrasim.solvers.opsplit  # noqa: F401

    comm = MPI.COMM_WORLD
    baseline = _status_kib("VmRSS")
    start = time.perf_counter()
    mesh = ts.load_split_mesh(path, "um", halo=halo) if mode == "split" else ts.load_mesh(path, "um")
    loaded = time.perf_counter()
    held = mesh.n_tets
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", tets=mesh.group("cyto"), systems=["v"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=1, progress=False, backend="mpi")
    del mesh, geom
    done = time.perf_counter()
    row = {"rank": comm.rank, "held": held, "owned": int(sim.layout["n_owned"]), "load_s": loaded - start,
           "setup_s": done - loaded, "peak_mib": (_status_kib("VmHWM") - baseline) / 1024}
    rows = comm.gather(row, root=0)
    if comm.rank == 0:
        print(json.dumps({"mode": mode, "tets": sim.layout["n_volume"], "per_rank": rows}))


def launch(mode: str, path: Path, ranks: int, halo: int) -> dict:
    from tetrasim.backends.launch import mpiexec_command

    command = mpiexec_command(ranks, __file__, "--worker", mode, "--path", str(path), "--halo", str(halo))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent / "src"),
                                                                     os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {ranks} ranks failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=float, default=0.08)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--halo", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.path, args.halo)
        return 0
    from _common import markdown_table

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "box.msh"
        make_set(path, args.size, args.ranks)
        runs = {"whole": [], "split": []}
        for _ in range(args.repeats):  # round-robin: both modes see the same load
            for mode in runs:
                runs[mode].append(launch(mode, path, args.ranks, args.halo))
    rows = []
    for mode, results in runs.items():
        def median(key, results=results):
            return [statistics.median(r["per_rank"][k][key] for r in results) for k in range(args.ranks)]

        first = results[0]["per_rank"]
        rows.append([
            "split set (each rank its file)" if mode == "split" else "whole file (rank 0 partitions)",
            f"{results[0]['tets']:,}",
            f"{min(r['held'] for r in first):,}–{max(r['held'] for r in first):,}",
            f"{min(r['owned'] for r in first):,}–{max(r['owned'] for r in first):,}",
            f"{max(median('load_s')):.2f}",
            f"{max(median('setup_s')):.2f}",
            f"{max(median('peak_mib')):.0f}",
            " / ".join(f"{v:.0f}" for v in median("peak_mib")),
        ])
    print(f"python benchmarks/split_mesh.py --size {args.size} --ranks {args.ranks} --repeats {args.repeats} "
          f"--halo {args.halo}; medians of {args.repeats} launches, max over ranks")
    print(markdown_table(["mesh", "tets", "tets held per rank", "owned per rank", "load s", "set-up s",
                          "set-up peak RSS above baseline, max (MiB)", "per rank (MiB)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
