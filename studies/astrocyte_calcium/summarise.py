"""The astrocyte Ca²⁺ study's analyses of the kept runs, as Markdown tables.

Three analyses of the same runs (docs/examples/astrocyte_calcium.md, "The peak rule"):

- **all runs**, amended rule (150-ms mean, σ pooled over a geometry's runs): the study's result;
- **confirmatory**, amended rule on the seeds from 4 on, made after the amendment;
- **first rule** (20-ms mean, each run's own σ), for the record.

    python studies/astrocyte_calcium/summarise.py [RUNS_DIR]   # default: studies/astrocyte_calcium/runs

Simulates nothing. docs/examples/astrocyte_calcium.md quotes its output.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from tetrasim.examples_calcium import FIRST_RULE, run_study

ANALYSES = (
    ("all runs, amended rule", dict(seeds=range(1, 21))),
    ("confirmatory (seeds 4-20), amended rule", dict(seeds=range(4, 21))),
    ("all runs, first rule", dict(seeds=range(1, 21), **FIRST_RULE)),
)


def _mean_std(value) -> str:
    mean, std, n = value
    if n == 0 or math.isnan(mean):
        return "—"
    return f"{mean:.2f}" if std is None or math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def summarise(folder: Path, analyses=ANALYSES) -> list[str]:
    lines = ["| analysis | geometry | runs | derived n | peak probability | time to first peak (s) "
             "| amplitude (ΔF/F0) | duration (s) | still above at 5 s |",
             "|---|---|---|---|---|---|---|---|---|"]
    tests = []
    for name, options in analyses:
        study = run_study(runs_dir=folder, simulate=False, verbose=False, **options)
        for g, summary in study["summary"].items():
            found = summary["censored"][2]
            lines.append(
                f"| {name} | {g} | {summary['probability'][2]} | {study['n_sigma'][g]:.1f} "
                f"| {summary['probability'][0]:.2f} ({found}/{summary['probability'][2]}) "
                f"| {_mean_std(summary['time_to_peak'])} | {_mean_std(summary['amplitude'])} "
                f"| {_mean_std(summary['duration'])} | {summary['censored'][0]} of {found} |")
        for pair, pvalues in study["tests"].items():
            tests.append(f"| {name} | {pair} | " + " | ".join(
                "—" if math.isnan(pvalues[key]) else f"{pvalues[key]:.3g}"
                for key in ("probability", "time_to_peak", "amplitude", "duration")) + " |")
    lines += ["", "| analysis | comparison | p probability | p time to peak | p amplitude | p duration |",
              "|---|---|---|---|---|---|", *tests]
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).parent / "runs"
    print("\n".join(summarise(folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
