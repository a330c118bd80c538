"""The GPU back end (``backend="gpu"``), one short prepared run for a machine with an NVIDIA GPU.

Four parts, in order (issue 12; docs/concepts/gpu.md):

0. build: the CUDA kernels are compiled (one untimed warm-up run);
1. identity: a small reaction-diffusion model (volume + surface reactions and diffusion, a clamp),
   serial opsplit and the GPU from the same seeds, every count recorded: identical or not, and how
   many values differ (a device's ``log``/``exp`` or fused multiply-adds may round differently
   from the CPU's; see docs/concepts/gpu.md);
2. (a) the STEPS 4 simple model, 0.5 s simulated on the published 13,009-tet mesh
   ($TETRASIM_DATA/meshes/steps4-simple-model; a gmsh box of about that size when absent), all
   10 counts recorded every 1 ms: median wall time of the repeats (target <= 0.1 s);
3. (b) a structured box of about 1M tets with the simple model's 10 species and reactions: tet·species
   visits per second (diffusing pools x steps / wall; target >= 2e10);
4. (c) device bytes per tet·species (the solver's device arrays and one run's counts over tets x
   species of (b)) and the largest box of 10 species that would fit in the device's free memory.

Without a usable CUDA device it says so and exits 0 (CI has none). ``--smoke`` shrinks every size
so the script itself can be checked in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``):
timings in that mode mean nothing. Designed to finish in a few minutes on an H100/H200.

    python benchmarks/gpu.py [--repeats 3] [--box-tets 1000000] [--box-steps 200] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the model the identity tests share

from _common import command_line, machine_markdown, markdown_table  # noqa: E402
from steps4_simple_model import SPECIES, build_model, load_mesh, make_simulation  # noqa: E402

import tetrasim as ts  # noqa: E402
from models import reaction_diffusion_model  # noqa: E402

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def device_or_none() -> str | None:
    """A description of the CUDA device, or None (with the reason printed) when there is none."""
    try:
        from numba import cuda
    except ImportError as error:
        print(f"no GPU benchmark: numba.cuda cannot be imported ({error}); pip install 'tetrasim[gpu]'")
        return None
    if SIMULATED:
        return "numba CUDA simulator (timings meaningless)"
    if not cuda.is_available():
        print("no GPU benchmark: no usable CUDA device or driver on this machine (exit 0)")
        return None
    device = cuda.get_current_device()
    free, total = cuda.current_context().get_memory_info()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    return f"{name}, compute capability {device.compute_capability}, {total / 2**30:.0f} GiB"


# ------------------------------------------------------------------ 1. identity
def identity_model_sim(backend: str, seed: int, size: float):
    model = reaction_diffusion_model()
    mesh = ts.shapes.box(1e-6, 1e-6, 2e-6, size=size, cache=False)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vol"])
    geom.patch("pm", tris=mesh.surface_tris(), inner="cyto", systems=["memb"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=seed, progress=False, backend=backend)
    sim.set_count("cyto", "A", 3000)
    sim.set_count("cyto", "B", 1500)
    sim.set_count(ts.Tet(0), "C", 40)
    sim.set_clamped(ts.Tet(0), "C", True)
    sim.set_count("pm", "R", 400)
    every = 1.5 * sim.solver.tau  # samples inside steps too
    recorders = [sim.record(ts.Count(s, where=w, per_element=True), every=every)
                 for s, w in (("A", "cyto"), ("B", "cyto"), ("C", "cyto"), ("R", "pm"), ("RA", "pm"))]
    return sim, recorders


def check_identity(seeds, steps: int, size: float) -> list:
    rows = []
    for seed in seeds:
        out = {}
        for backend in ("serial", "gpu"):
            sim, recorders = identity_model_sim(backend, seed, size)
            results = sim.run(steps * sim.solver.tau)
            recorded = [np.asarray(results[r]).ravel() for r in recorders]
            values = np.concatenate([*recorded, sim._states.ravel()])
            out[backend] = (values, sim.solver.stats.copy(), sim.compiled.n_elements)
        serial, gpu = out["serial"], out["gpu"]
        differ = int(np.sum(serial[0] != gpu[0]))
        same = differ == 0 and np.array_equal(serial[1], gpu[1])
        rows.append([seed, serial[2], steps, int(serial[1][0]), int(serial[1][1]), "yes" if same else "NO",
                     differ, len(serial[0])])
    return rows


# ------------------------------------------------------------------ 2. simple model
def simple_model(n_tets: int, t_end: float, repeats: int, smoke: bool = False) -> dict:
    if smoke:  # a few tets: the simulator runs every thread as a Python thread
        mesh = ts.shapes.box(2e-6, 2e-6, 4e-6, size=1e-6, cache=False)
        mesh_name = "smoke box"
    else:
        mesh, mesh_name = load_mesh(n_tets)
    model = build_model()
    walls = []
    sim = None
    for i in range(repeats + 1):  # the first run is the warm-up (kernel compilation)
        sim = make_simulation(model, mesh, seed=1 + i, backend="gpu")
        start = time.perf_counter()
        sim.run(t_end)
        if i:
            walls.append(time.perf_counter() - start)
    return {"mesh": mesh_name, "tets": mesh.n_tets, "steps": int(sim.solver.stats[2]), "wall": walls,
            "tau": sim.solver.tau}


# ------------------------------------------------------------------ 3. and 4. a large box
def box_sim(target_tets: int):
    side = (target_tets / 6) ** (1 / 3)  # cubes per side: 6 tets per cube
    size = 1e-6
    mesh = ts.shapes.box(side * size, side * size, side * size, size=size, cache=False)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyt", systems=["vsys"])
    sim = ts.Simulation(build_model(), geom, solver="opsplit", seed=3, progress=False, backend="gpu")
    for i, name in enumerate(SPECIES):  # about the simple model's density: 1..10 molecules per tet
        sim.set_count("cyt", name, (i + 1) * mesh.n_tets)
    return sim, mesh.n_tets


def box_throughput(target_tets: int, steps: int, repeats: int) -> dict:
    start = time.perf_counter()
    sim, n_tets = box_sim(target_tets)
    build = time.perf_counter() - start
    tau = sim.solver.tau
    sim.run(2 * tau)  # warm-up: compile, copy the graph
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        sim.run(sim.time + steps * tau)
        walls.append(time.perf_counter() - start)
    solver = sim.solver
    pools = n_tets * len(SPECIES)
    device_bytes = solver.device_bytes() + sim._states.shape[1] * 8  # graph, rates, work arrays + counts
    per_pool = device_bytes / pools
    return {"tets": n_tets, "pools": pools, "diffusing": sim.compiled.n_diffusions, "steps": steps,
            "wall": walls, "build": build, "bytes_per_pool": per_pool, "device_bytes": device_bytes,
            "free": solver.backend.device_bytes()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--box-tets", type=int, default=1_000_000)
    parser.add_argument("--box-steps", type=int, default=200)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, to check the script in the simulator")
    args = parser.parse_args(argv)
    device = device_or_none()
    if device is None:
        return 0
    if SIMULATED and not args.smoke:
        print("NUMBA_ENABLE_CUDASIM is set: the simulator takes hours at these sizes; pass --smoke")
        return 0
    print(machine_markdown({"device": device}))
    print(f"\ncommand: `{command_line()}`\n")

    seeds, steps, size = ((1,), 3, 0.5e-6) if args.smoke else ((1, 2, 3), 20, 0.25e-6)
    rows = check_identity(seeds, steps, size)
    print("1. bit-for-bit identity with serial opsplit (every recorded count and the final state)\n")
    print(markdown_table(["seed", "elements", "steps", "reaction events", "diffusion jumps", "identical",
                          "values differing", "values compared"], rows))

    t_end = 6e-4 if args.smoke else 0.5
    simple = simple_model(13009, t_end, args.repeats, smoke=args.smoke)
    median = statistics.median(simple["wall"])
    print(f"\n2. (a) STEPS 4 simple model, {t_end:g} s simulated, {simple['tets']} tets ({simple['mesh']}), "
          f"10 counts recorded every 1 ms: {simple['steps']} steps of tau = {simple['tau']:.3g} s\n")
    print(markdown_table(["wall (median)", "min", "max", "repeats", "target"],
                         [[f"{median:.4g} s", f"{min(simple['wall']):.4g} s", f"{max(simple['wall']):.4g} s",
                           len(simple["wall"]), "<= 0.1 s"]]))

    box_tets, box_steps = (200, 2) if args.smoke else (args.box_tets, args.box_steps)
    box = box_throughput(box_tets, box_steps, args.repeats)
    wall = statistics.median(box["wall"])
    visits = box["diffusing"] * box["steps"] / wall
    print(f"\n3. (b) structured box, {box['tets']} tets x 10 species, {box['steps']} steps per repeat "
          f"(set-up on the host: {box['build']:.1f} s)\n")
    print(markdown_table(["wall (median)", "steps/s", "tet·species visits/s", "target"],
                         [[f"{wall:.4g} s", f"{box['steps'] / wall:.4g}", f"{visits:.3g}", ">= 2e10"]]))
    per_pool = box["bytes_per_pool"]
    usable = box["free"] + box["device_bytes"]
    largest = "n/a (simulator)"
    if np.isfinite(usable):
        largest = f"~{usable / (per_pool * len(SPECIES)):.3g} tets"
    print("\n4. (c) device memory (graph, rates, work arrays and one run's counts)\n")
    headers = ["device bytes", "bytes per tet·species", "free after (b)", "largest 10-species box"]
    print(markdown_table(headers,
                         [[f"{box['device_bytes'] / 2**20:.1f} MiB", f"{per_pool:.1f}",
                           f"{box['free'] / 2**30:.1f} GiB", largest]]))
    print("\n(the largest box counts device memory only: the host must also compile and hold the model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
