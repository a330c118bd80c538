"""Cost per simulated second of the astrocyte IP3R/GCaMP6s model (d0 branchlet with ER): ssa vs opsplit.

    PYTHONPATH=src python benchmarks/astrocyte_calcium_cost.py --t 0.05

Each solver runs the model from the study's pre-equilibrated rest state for ``--t`` simulated seconds once after a short warm-up
(numba compilation); opsplit is then rerun with ``profile=True`` for its operator shares.
Prints wall seconds, seconds per simulated second, events, and the projection of the full
study (5 s x 20 seeds x 3 geometries) on ``--cores`` cores, assuming d0's cost for every geometry.
"""

from __future__ import annotations

import argparse
import resource
import time

from tetrasim.examples_calcium import EQUILIBRATE_S, build_simulation, calcium_geometry


def timed(geometry, solver, t, **options):
    sim = build_simulation(geometry, solver=solver, seed=1, equilibrate=EQUILIBRATE_S, **options)
    start = time.perf_counter()
    sim.run(t)
    return sim, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--t", type=float, default=0.05, help="simulated seconds per solver")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--solvers", nargs="+", default=["ssa", "opsplit"], choices=["ssa", "opsplit"])
    args = parser.parse_args(argv)
    geometry = calcium_geometry("d0")
    print(f"d0: {geometry.mesh.n_tets} tets, {len(geometry.er_membrane)} ER triangles")
    cases = [("ssa", {}), ("opsplit", {}), ("opsplit", {"profile": True})]
    for solver, options in [case for case in cases if case[0] in args.solvers]:
        timed(geometry, solver, 1e-4, **options)  # warm-up: compile
        sim, wall = timed(geometry, solver, args.t, **options)
        per_s = wall / args.t
        study_h = per_s * 5.0 * 20 * 3 / args.cores / 3600
        extra = ""
        if options.get("profile"):
            shares = ", ".join(f"{k} {v:.1f} s" for k, v in sim.solver.operator_seconds.items())
            extra = f" tau {sim.solver._tau:.3g} s; operators: {shares}"
        stats = getattr(sim.solver, "stats", None)
        events = getattr(sim.solver, "events", None)
        print(f"{solver}{' (profile)' if options else ''}: {wall:.1f} s for {args.t:g} s simulated = "
              f"{per_s:.0f} s per simulated s; study projection {study_h:.1f} h on {args.cores} cores; "
              f"events {events if stats is None else stats.tolist()}{extra}", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
