"""Photobleaching (FRAP) in astrocyte branchlets: recovery slows as the shafts narrow.

Runs the Glia 2022 protocol (ZsGreen 25 µM, D = 9 µm²/s, 60 % of the bleach region bleached
at t = 1 s, sampled every 3.6 ms) on generated node-shaft branchlets with shaft widths d0,
d0/2 and d0/3, and on the three published meshes when the reference data are present
($TETRASIM_DATA or ../shared/data). Prints the fitted recovery time constant per geometry and
saves the recovery curves (mean ± SD over runs) as frap_recovery.png.

    python examples/astrocyte_frap.py --solver ode                 # seconds per geometry
    python examples/astrocyte_frap.py --solver ssa --runs 3        # hours: prints its estimate first
    python examples/astrocyte_frap.py --solver ssa --estimate-only # only the estimate
    python examples/astrocyte_frap.py --solver ssa --conc 1e-6     # 25x cheaper, noisier

Before a stochastic study it prints the expected wall time per geometry, measured by a short
calibration run on each mesh. Long runs report their progress: a bar on a terminal, one line
per 10 % on stderr otherwise (a batch job's log).

The code lives in tetrasim.examples_frap (``tetrasim demo`` uses it too).
"""

from __future__ import annotations

import argparse

from tetrasim.examples_frap import GENERATED, PUBLISHED, estimate_frap_cost, published_data_dir, run_frap
from tetrasim.progress import format_duration


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="replicates per geometry (ssa/opsplit)")
    parser.add_argument("--solver", default="ssa", help="ssa, opsplit or ode (default ssa)")
    parser.add_argument("--out", default=".", help="folder for frap_recovery.png")
    parser.add_argument("--t-end", type=float, default=2.5, help="end time (s), default 2.5")
    parser.add_argument("--conc", type=float, default=25e-6, help="ZsGreen concentration (M), default 25e-6")
    parser.add_argument("--mesh-size", type=float, default=None, help="edge length of generated meshes (m)")
    parser.add_argument("--geometries", nargs="+", default=list(GENERATED), help="generated: d0 d0/2 d0/3")
    parser.add_argument("--no-published", action="store_true", help="skip the published meshes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--estimate-only", action="store_true",
                        help="print the expected wall time (from a short calibration) and stop")
    args = parser.parse_args(argv)
    print_estimate(args)
    if args.estimate_only:
        return {}
    out = run_frap(geometries=args.geometries, runs=args.runs, solver=args.solver, t_end=args.t_end,
                   out_dir=args.out, mesh_size=args.mesh_size, use_published=not args.no_published,
                   seed=args.seed, conc=args.conc, progress=True)
    grows = out["tau_grows_as_shaft_narrows"]
    if grows is not None:
        print(f"tau grows as the shaft narrows (d0 -> d0/2 -> d0/3): {'yes' if grows else 'NO'}")
    return out


def print_estimate(args):
    """Print the expected wall time of the study; returns it in seconds (None for ode)."""
    names = list(args.geometries)
    if not args.no_published and published_data_dir() is not None:
        names += list(PUBLISHED)
    if args.solver.lower() in ("ode", "tetode"):
        print("ode: no estimate (its cost is not linear in the simulated time): seconds to minutes per "
              "geometry, most for the finest mesh", flush=True)
        return None
    print(f"estimating the cost of {args.solver} x {args.runs} run(s) x {len(names)} geometries, "
          f"{args.t_end:g} s simulated each (short calibration runs)...", flush=True)
    estimate = estimate_frap_cost(names, solver=args.solver, runs=args.runs, t_end=args.t_end, conc=args.conc,
                                  mesh_size=args.mesh_size, seed=args.seed)
    for name, seconds in estimate.items():
        print(f"  {name:>16}: about {format_duration(seconds)}", flush=True)
    total = sum(estimate.values())
    print(f"expected wall time: about {format_duration(total)} in all (plus mesh generation)", flush=True)
    return total


if __name__ == "__main__":
    main()
