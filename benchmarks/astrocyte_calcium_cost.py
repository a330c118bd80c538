"""Cost per simulated second of the astrocyte IP3R/GCaMP6s model on the branchlets with ER: ssa vs opsplit.

    PYTHONPATH=src python benchmarks/astrocyte_calcium_cost.py --t 0.05
    PYTHONPATH=src python benchmarks/astrocyte_calcium_cost.py --t 0.01 --solvers ssa \
        --geometries d0 d0/2 d0/3 "published d0" "published d0/2" "published d0/3"

Each solver runs the model from the study's pre-equilibrated rest state for ``--t`` simulated
seconds ``--repeats`` times (the median is reported) after a short warm-up (numba
compilation); opsplit is then rerun with ``profile=True`` for its operator shares.
Prints wall seconds, seconds per simulated second, events (``ssa``'s event count does not depend
on the machine's load, its wall time does), and the projection of the full study (5 s x 20 seeds
per geometry) on ``--cores`` cores, per geometry and for the geometries given together.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

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
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per solver (median reported)")
    parser.add_argument("--solvers", nargs="+", default=["ssa", "opsplit"], choices=["ssa", "opsplit"])
    parser.add_argument("--geometries", nargs="+", default=["d0"],
                        help="generated d0, d0/2, d0/3 and/or 'published d0' ... (needs the reference data)")
    args = parser.parse_args(argv)
    total_h = {}
    for name in args.geometries:
        total_h[name] = measure(name, args)
    for solver in args.solvers:
        hours = sum(h[solver] for h in total_h.values() if solver in h)
        print(f"{solver}: the study on {', '.join(args.geometries)} (5 s x 20 seeds each) takes "
              f"{hours:.1f} h on {args.cores} cores at these rates")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


def measure(name, args) -> dict:
    geometry = calcium_geometry(name)
    cytosol = geometry.mesh.tet_volumes[geometry.cytosol]
    median_nm3 = 1e27 * float(np.median(cytosol))
    print(f"{name}: {len(geometry.cytosol)} cytosol tets (median {median_nm3:,.0f} nm³), "
          f"{len(geometry.er_membrane)} ER triangles", flush=True)
    cases = [("ssa", {}), ("opsplit", {}), ("opsplit", {"profile": True})]
    hours = {}
    for solver, options in [case for case in cases if case[0] in args.solvers]:
        timed(geometry, solver, 1e-4, **options)  # warm-up: compile
        walls = []
        for _ in range(max(1, args.repeats)):  # the same seed: the same events, only the wall time varies
            sim, seconds = timed(geometry, solver, args.t, **options)
            walls.append(seconds)
        wall = float(np.median(walls))
        per_s = wall / args.t
        study_h = per_s * 5.0 * 20 / args.cores / 3600
        hours.setdefault(solver, study_h)
        extra = ""
        if options.get("profile"):
            shares = ", ".join(f"{k} {v:.1f} s" for k, v in sim.solver.operator_seconds.items())
            extra = f" tau {sim.solver._tau:.3g} s; operators: {shares}"
        stats = getattr(sim.solver, "stats", None)
        events = getattr(sim.solver, "events", None)
        rate = "" if events is None else f" ({events / args.t:.3g} events per simulated s)"
        spread = f" (median of {len(walls)}: {min(walls):.2f}-{max(walls):.2f} s)" if len(walls) > 1 else ""
        label = f"{solver}{' (profile)' if options else ''}"
        print(f"  {label}: {wall:.2f} s{spread} for {args.t:g} s simulated = {per_s:.0f} s per simulated s; "
              f"20 seeds x 5 s: {study_h:.1f} h on {args.cores} cores; "
              f"events {events if stats is None else stats.tolist()}{rate}{extra}", flush=True)
    return hours


if __name__ == "__main__":
    raise SystemExit(main())
