"""The GPU back end's test runs, as a script run under numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is imported, so tests/unit/test_gpu_backend.py
runs this file in a subprocess; the serial runs and all the checks stay in the test process.

    NUMBA_ENABLE_CUDASIM=1 python tests/gpu/gpu_model.py identity OUT.npz
    NUMBA_ENABLE_CUDASIM=1 python tests/gpu/gpu_model.py point_source OUT.npz

``identity``: the reaction-diffusion model with surface reactions on the 3-tet and the 50-tet
mesh for several seeds, every (species, element) count recorded. ``point_source``: molecules
released in one tet of a small box, several runs, recorded per tet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for gridmesh and meshes

import tetrasim as ts  # noqa: E402
from meshes import tiny_mesh  # noqa: E402
from models import reaction_diffusion_model  # noqa: E402
from tetrasim.geometry import TetMesh  # noqa: E402

SEEDS = (1, 7, 2024)
POINT_RUNS = 4
POINT_MOLECULES = 4000
POINT_EVERY = 3  # steps of tau between samples
POINT_SAMPLES = 2  # samples after t = 0


def three_tet_mesh() -> TetMesh:
    """Three tets sharing faces (tests/unit/test_mesh.py's hand-computed mesh), sides of 1 µm."""
    vertices = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, -1]]
    tets = [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 1, 5]]
    return TetMesh.from_arrays(vertices, tets, length_unit="um", fix_orientation=True)


def fifty_tet_mesh() -> TetMesh:
    """The first 50 tets of a 3 x 3 x 1 box of cubes (54 tets), unused vertices dropped."""
    box = tiny_mesh(3, 3, 1, 0.3e-6)
    tets = box.tets[:50]
    used, local = np.unique(tets, return_inverse=True)
    return TetMesh.from_arrays(box.vertices[used], local.reshape(tets.shape), length_unit="m")


MESHES = {"three": three_tet_mesh, "fifty": fifty_tet_mesh}
MOLECULES = {"three": 3, "fifty": 60}  # molecules per unit of the initial state below



def identity_sim(mesh_name: str, seed: int, backend: str):
    """The identity model on a mesh, every count and two reaction extents recorded at 1.5 tau
    (samples inside steps)."""
    mesh = MESHES[mesh_name]()
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", systems=["vol"])
    geom.patch("pm", tris=mesh.surface_tris(), inner="cyto", systems=["memb"])
    sim = ts.Simulation(reaction_diffusion_model(), geom, solver="opsplit", seed=seed, progress=False,
                        backend=backend)
    scale = MOLECULES[mesh_name]  # the simulator runs a cluster's SSA in Python: keep events few
    sim.set_count("cyto", "A", 30 * scale)
    sim.set_count("cyto", "B", 15 * scale)
    sim.set_count(ts.Tet(0), "C", 4)
    sim.set_clamped(ts.Tet(0), "C", True)
    sim.set_count("pm", "R", 4 * scale)
    recorders = [sim.record(ts.Count(s, where="cyto", per_element=True), every=1.5 * sim.solver.tau)
                 for s in ("A", "B", "C")]
    recorders += [sim.record(ts.Count(s, where="pm", per_element=True), every=1.5 * sim.solver.tau)
                  for s in ("R", "RA")]
    # reaction extents: the kernels count firings in the state array past the pools
    recorders += [sim.record(ts.Extent(name, where=where), every=1.5 * sim.solver.tau)
                  for name, where in (("vol_r0", "cyto"), ("memb_r0", "pm"))]
    return sim, recorders


def run_identity(mesh_name: str, seed: int, backend: str, steps: int = 6, fused: bool = True) -> dict:
    """Recorded counts, the final state and the solver's event/jump/step counters of one run.

    ``fused``: the GPU takes many steps per launch (grid-wide barriers); False: three launches per step.
    """
    sim, recorders = identity_sim(mesh_name, seed, backend)
    if backend == "gpu":
        sim.solver.fused = fused
    tau = sim.solver.tau
    sim.run((steps / 2 + 0.5) * tau)  # ends inside a step: the continuation keeps that step's start
    sim.run((steps / 2 + 1) * tau)  # resumes from it
    # changes between runs: a rate, a diffusion coefficient (a new tau), a count
    sim.set_rate("vol_r1", 50.0)
    sim.set_diffusion_coefficient("A", 2e-12)
    sim.set_count(ts.Tet(1), "B", 7)
    results = sim.run(sim.time + steps / 2 * sim.solver.tau)
    out = {f"rec{i}": np.asarray(results[r]) for i, r in enumerate(recorders)}
    out["final"] = sim._states.copy()
    out["stats"] = sim.solver.stats.copy()
    return out


def point_source_sim(backend: str, seed: int = 5):
    """Molecules released in tet 0 of a 4 x 2 x 1 box (48 tets); one diffusing species."""
    mesh = tiny_mesh(4, 2, 1, 0.25e-6)
    model = ts.Model()
    model.species("A")
    model.volume_system("v").diffusion("A", 1e-12)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("c", systems=["v"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=seed, progress=False, backend=backend)
    sim.set_count(ts.Tet(0), "A", POINT_MOLECULES)
    return sim


def run_point_source(backend: str) -> dict:
    sim = point_source_sim(backend)
    tau = sim.solver.tau
    recorder = sim.record(ts.Count("A", where="c", per_element=True), every=POINT_EVERY * tau)
    results = sim.run(POINT_EVERY * POINT_SAMPLES * tau, runs=POINT_RUNS)
    return {"counts": np.asarray(results[recorder]), "times": results.times_of(recorder)}


def main(argv) -> None:
    case, path = argv
    out = {}
    if case == "identity":
        for mesh_name in MESHES:
            for i, seed in enumerate(SEEDS):  # both launch schemes of the GPU solver
                for key, value in run_identity(mesh_name, seed, "gpu", fused=i % 2 == 0).items():
                    out[f"{mesh_name}/{seed}/{key}"] = value
    elif case == "point_source":
        out = run_point_source("gpu")
    else:
        raise SystemExit(f"unknown case {case!r}")
    np.savez(path, **out)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1:])
