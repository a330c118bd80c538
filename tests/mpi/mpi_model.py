"""The model the MPI tests run, as a script: the same file runs under ``python`` and ``mpiexec``.

Volume reactions in two compartments joined by a diffusion boundary, surface
reactions on a membrane patch with surface diffusion, a clamped species (a source of C in
one tet). Every (species, element) count is recorded; rank 0 writes them to an .npz file.

    python tests/mpi/mpi_model.py OUT.npz [--backend serial|mpi] [--t-end 0.02] [--fail-on-rank R]
        [--crash-on-rank R] [--modulo-partition]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for gridmesh

import tetrasim as ts  # noqa: E402
from gridmesh import grid_mesh  # noqa: E402
from models import reaction_diffusion_model  # noqa: E402

SPECIES_VOLUME = ("A", "B", "C")
SPECIES_SURFACE = ("R", "RA")


def build(backend, seed=11, partition=None):
    model = reaction_diffusion_model()
    mesh = grid_mesh(4, 2, 2, 0.25e-6)  # 96 tets
    left = np.flatnonzero(mesh.tet_barycenters[:, 0] < 0.5e-6)
    right = np.flatnonzero(mesh.tet_barycenters[:, 0] >= 0.5e-6)
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=left, systems=["vol"])
    geom.compartment("right", tets=right, systems=["vol"])
    surface = mesh.surface_tris()
    inner = mesh.face_tets[surface][:, 0]
    geom.patch("pm", tris=surface[np.isin(inner, left)], inner="left", systems=["memb"])
    geom.diffusion_boundary("gate", between=("left", "right"))
    sim = ts.Simulation(
        model, geom, solver="opsplit", seed=seed, progress=False, backend=backend, partition=partition
    )
    sim.set_count("left", "A", 3000)
    sim.set_count("right", "B", 1500)
    sim.set_count(ts.Tet(int(left[0])), "C", 40)
    sim.set_clamped(ts.Tet(int(left[0])), "C", True)
    sim.set_count("pm", "R", 400)
    recorders = [
        sim.record(ts.Count(s, where=c, per_element=True), every=2e-3)
        for s in SPECIES_VOLUME
        for c in ("left", "right")
    ]
    recorders += [sim.record(ts.Count(s, where="pm", per_element=True), every=2e-3) for s in SPECIES_SURFACE]
    recorders.append(sim.record(ts.Conc("A", where="left"), every=2e-3))
    return sim, recorders


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--t-end", type=float, default=0.02)
    parser.add_argument("--fail-on-rank", type=int, default=-1)
    parser.add_argument("--crash-on-rank", type=int, default=-1)
    parser.add_argument(
        "--modulo-partition", action="store_true", help="tet i on rank i %% ranks (not METIS)"
    )
    args = parser.parse_args(argv)
    partition = None
    if args.modulo_partition:
        from tetrasim.backends.registry import launched_ranks

        partition = np.arange(96) % launched_ranks()
    sim, recorders = build(args.backend, partition=partition)
    rank = getattr(getattr(sim, "backend", None), "rank", 0)
    # bad input seen on one rank only: every rank must stop, with the message printed by rank 0
    sim.set_count("right", "A", -5 if args.fail_on_rank == rank else 5)
    if args.crash_on_rank == rank:  # an error outside tetrasim on one rank: the others must not hang
        raise RuntimeError("deliberate crash in the user's script")
    results = sim.run(args.t_end)
    totals = {
        "A_left": sim.get_count("left", "A"),
        "R_pm": sim.get_count("pm", "R"),
        "conc_B_right": sim.get_conc("right", "B"),
    }
    arrays = {r.name: results[r] for r in recorders}
    arrays.update({f"total_{k}": np.asarray(v) for k, v in totals.items()})
    if rank == 0:
        np.savez(args.out, **arrays)
    results.save(Path(args.out).with_suffix(f".rank{rank}.h5"))


if __name__ == "__main__":
    main()
