"""Astrocyte Ca²⁺ signals against shaft width: the IP3R/GCaMP6s model on node-shaft branchlets.

Each (geometry, seed) runs a 1-s baseline, an IP3 infusion into the central node and 4 s more;
the central node's Ca-GCaMP6s trace gives the peak probability, time to first peak, amplitude
and duration (threshold: a run's pre-stimulus mean + n·σ of a 150-ms running mean, σ pooled over
the geometry's runs, n derived per geometry from the pre-stimulus baselines for a false-alarm
budget), mean ± std over the seeds, with Mann-Whitney / Fisher
p-values between geometries and a figure.

    python examples/astrocyte_calcium.py --seeds 20                       # the study (long)
    python examples/astrocyte_calcium.py --seeds 2 --t-baseline 0.02 --t-after 0.02 --geometries d0

Every finished run is kept in ``--runs-dir`` (default ``OUT/astrocyte_calcium_runs``): stop the
study at any time and start the same command again; it simulates only the runs not yet there.
``--analyse-only`` reads what is kept and simulates nothing (a study in progress).

The study is expensive: see docs/examples/astrocyte_calcium.md for measured costs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tetrasim.examples_calcium import (
    CHANNELS_PER_CLUSTER,
    EQUILIBRATE_S,
    FALSE_ALARM,
    IP3R_DENSITY,
    PEAK_SIGMA,
    PEAK_SMOOTH,
    plot_study,
    run_study,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--geometries", nargs="+", default=["d0", "d0/2", "d0/3"],
                        help="generated d0, d0/2, d0/3 or 'published d0' ... (needs TETRASIM_DATA)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per geometry")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="seeds --first-seed ... --seeds are used (e.g. 4: the runs made after the "
                        "peak rule's amendment)")
    parser.add_argument("--solver", default="ssa", help="ssa or opsplit")
    parser.add_argument("--t-baseline", type=float, default=1.0,
                        help="seconds of baseline before the stimulus")
    parser.add_argument("--t-after", type=float, default=4.0, help="seconds simulated after the stimulus")
    parser.add_argument("--mesh-size", type=float, default=None,
                        help="target edge length (m) of generated meshes")
    parser.add_argument("--ip3r-density", type=float, default=IP3R_DENSITY,
                        help="IP3R per m^2 of ER membrane")
    parser.add_argument("--channels-per-cluster", type=int, default=CHANNELS_PER_CLUSTER,
                        help="IP3R per cluster (a random ER triangle and its edge neighbours)")
    parser.add_argument("--equilibrate", type=float, default=EQUILIBRATE_S,
                        help="seconds of well-mixed wm-ode pre-equilibration before the baseline "
                        "(0: the specified start, whose baseline drifts)")
    parser.add_argument("--smooth", type=int, default=PEAK_SMOOTH,
                        help="samples (1 ms each) in the trailing running mean before peak detection")
    parser.add_argument("--n-sigma", type=float, default=None,
                        help="peak threshold: baseline mean + n sigma (default: n derived per geometry from "
                        "the pre-stimulus baselines of all nodes for the --false-alarm budget)")
    parser.add_argument("--false-alarm", type=float, default=FALSE_ALARM,
                        help="expected spurious peaks per run in the window after the stimulus")
    parser.add_argument("--sigma", choices=("pooled", "per-run"), default=PEAK_SIGMA,
                        help="the threshold's sigma: pooled over a geometry's runs (per node), or each "
                        "run's own (the rule first fixed: --smooth 20 --sigma per-run)")
    parser.add_argument("--analyse-only", action="store_true",
                        help="analyse the runs kept in --runs-dir; simulate nothing")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the figure")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="folder keeping each finished run (default: OUT/astrocyte_calcium_runs); runs "
                        "already there with the same parameters are read, not simulated again")
    args = parser.parse_args(argv)
    if not 1 <= args.first_seed <= args.seeds:
        parser.error(f"--first-seed {args.first_seed} must be between 1 and --seeds {args.seeds}")
    try:
        study = run_study(args.geometries, range(args.first_seed, args.seeds + 1), args.solver, args.t_after,
                          args.mesh_size, args.ip3r_density, args.n_sigma, args.workers,
                          t_baseline=args.t_baseline,
                          channels_per_cluster=args.channels_per_cluster,
                          runs_dir=args.runs_dir or args.out / "astrocyte_calcium_runs",
                          equilibrate=args.equilibrate, smooth=args.smooth, false_alarm=args.false_alarm,
                          simulate=not args.analyse_only, sigma=args.sigma)
    except ValueError as error:  # e.g. too little baseline to derive the threshold from
        parser.exit(2, f"astrocyte_calcium.py: error: {error}\n")
    if not study["runs"]:
        parser.exit(1, "astrocyte_calcium.py: no runs kept yet: run without --analyse-only first\n")
    whose = "pooled over the geometry's runs" if args.sigma == "pooled" else "of each run's own baseline"
    print(f"\nthreshold: baseline mean + n sigma ({whose}) of the {args.smooth}-ms trailing running mean; "
          "central node")
    for g, n in study["n_sigma"].items():
        derived = study["thresholds"].get(g)
        how = (f"derived: {derived.alpha:g} spurious peaks expected in {derived.window_s:g} s, from "
               f"{derived.null_seconds:.0f} s of baselines; {derived.observed_at_n} crossings of it there"
               if derived else "given")
        print(f"{g:>6}: n = {n:.2f} ({how}); {len(study['runs'][g])} seeds")
    if study.get("n_missing"):
        print(f"{study['n_missing']} runs of the study are not kept yet: a partial result")
    for g, measures in study["summary"].items():
        parts = [f"{key} {mean:.3g} ± {std:.2g} (n={n})" if std is not None else f"{key} {mean:.2f} (n={n})"
                 for key, (mean, std, n) in measures.items() if key != "censored"]
        censored, _, found = measures["censored"]
        parts.append(f"{censored} of {found} peaks still above threshold at the end (duration a lower bound)")
        print(f"{g:>6}: " + "; ".join(parts))
    for pair, pvalues in study["tests"].items():
        how = ("one-sided Jonckheere-Terpstra, published direction" if pair.startswith("trend")
               else "two-sided Fisher / Mann-Whitney")
        print(f"{pair} ({how}): " + ", ".join(f"p({key}) = {p:.3g}" for key, p in pvalues.items()))
    per_seed = ", ".join(f"{g} {seconds:.0f} s" for g, seconds in study["seconds_per_seed"].items())
    print(f"wall time per seed (median, {args.solver}, one process): {per_seed}")
    args.out.mkdir(parents=True, exist_ok=True)
    figure = plot_study(study, args.out / "astrocyte_calcium.png")
    print(f"figure: {figure}; wall {study['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
