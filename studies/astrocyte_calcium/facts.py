"""The numbers that the prose of the study's results quotes, read from the kept runs.

docs/examples/astrocyte_calcium.md quotes, beside the tables of ``summarise.py`` and
``describe.py``: every peak (seed, time, amplitude, duration) of each geometry, the regenerative
runs, how many runs rise above 1.4x their baseline on average, the range of d0's responses, the
wall times, and the derived n of a geometry without a run whose baseline is not null data. This
prints them, so that the prose is copied from output rather than counted by hand.

    python studies/astrocyte_calcium/facts.py [RUNS_DIR] [--without GEOMETRY:SEED ...]

``--without d0/3:6`` adds the geometry's derived n and peak count over its other runs (the
spontaneous-baseline finding). Simulates nothing; the peak rule is the study's, unchanged.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from tetrasim.examples_calcium import FIRST_RULE, run_study


def _describe_module():
    """describe.py beside this file (the study's scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("describe", Path(__file__).with_name("describe.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEOMETRIES = ("d0", "d0/2", "d0/3")
#: A run is "regenerative" when its largest 250-ms mean reaches this multiple of its baseline.
REGENERATIVE = 10.0
#: A run "rises" when its mean over 1.5-5 s exceeds this multiple of its baseline.
RISES = 1.4


def _seeds_where(rows, test) -> list:
    return [r["seed"] for r in rows if test(r)]


def facts(folder: Path, without=()) -> list[str]:
    lines = []
    describe = _describe_module().describe
    rows = [describe(p) for p in sorted(folder.glob("*.npz"))]
    by_geometry = {g: sorted((r for r in rows if r["geometry"] == g), key=lambda r: r["seed"])
                   for g in GEOMETRIES}
    lines.append("## Runs without the rule (describe.py)")
    for g, runs in by_geometry.items():
        if not runs:
            continue
        walls = [r["wall"] for r in runs]
        ratios = [r["ratio"] for r in runs]
        regenerative = _seeds_where(runs, lambda r: r["top"] >= REGENERATIVE)
        rising = _seeds_where(runs, lambda r: r["ratio"] > RISES)
        lines.append(
            f"- {g}: {len(runs)} runs (seeds {runs[0]['seed']}-{runs[-1]['seed']}); wall "
            f"{min(walls):,.0f}-{max(walls):,.0f} s (mean {sum(walls) / len(walls):,.0f} s); "
            f"mean 1.5-5 s / baseline {min(ratios):.2f}-"
            f"{max(ratios):.2f}; largest 250-ms mean / baseline up to {max(r['top'] for r in runs):.2f}; "
            f"regenerative (>= {REGENERATIVE:g}x) {len(regenerative)} of {len(runs)} {regenerative}; "
            f"mean above {RISES}x {len(rising)} of {len(runs)}")
    walls = [r["wall"] for r in rows]
    # Each run occupies one core for its wall time, so two cores take half the summed wall.
    lines.append(f"- all: {len(walls)} runs, {sum(walls) / 3600:.1f} h of one core "
                 f"({sum(walls) / 7200:.1f} h on 2 cores)")
    for title, options in (("amended rule", {}), ("first rule", FIRST_RULE)):
        study = run_study(runs_dir=folder, simulate=False, verbose=False, **options)
        lines.append(f"## Peaks, {title} (central node; time in s, amplitude dF/F0, duration in ms)")
        for g in study["runs"]:
            found = [(r.seeds[0], p) for r, p in zip(study["runs"][g], study["peaks"][g], strict=True)
                     if p["peak"]]
            listed = "; ".join(
                f"s{seed} {p['time_to_peak']:.2f} s, {p['amplitude']:.2f}, {1e3 * p['duration']:.0f} ms"
                + (" (above at end)" if p["censored"] else "") for seed, p in found)
            lines.append(f"- {g} (n = {study['n_sigma'][g]:.2f}): {len(found)} of {len(study['peaks'][g])}: "
                         f"{listed or 'none'}")
    for item in without:
        g, seed = item.rsplit(":", 1)
        seeds = [r["seed"] for r in by_geometry.get(g, []) if r["seed"] != int(seed)]
        study = run_study(geometries=(g,), seeds=seeds, runs_dir=folder, simulate=False, verbose=False)
        found = sum(p["peak"] for p in study["peaks"][g])
        lines.append(f"## {g} without seed {seed}: n = {study['n_sigma'][g]:.2f}, "
                     f"{found} of {len(seeds)} with a peak (seeds {seeds})")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", nargs="?", type=Path, default=Path(__file__).parent / "runs")
    parser.add_argument("--without", nargs="*", default=[], metavar="GEOMETRY:SEED",
                        help="also the geometry's derived n and peaks without that run")
    args = parser.parse_args(argv)
    for item in args.without:
        geometry, _, seed = item.rpartition(":")
        if geometry not in GEOMETRIES or not seed.isdigit():
            parser.error(f"--without {item!r}: expected GEOMETRY:SEED with GEOMETRY one of "
                         f"{', '.join(GEOMETRIES)}, e.g. d0/3:6")
    print("\n".join(facts(args.runs_dir, args.without)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
