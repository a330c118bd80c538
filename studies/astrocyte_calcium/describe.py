"""Describe the kept runs of the astrocyte Ca²⁺ study without the peak rule: per run, the central
node's baseline, its response (mean over 1.5–5 s against the baseline, largest 250-ms mean) and
how slow its baseline noise is (autocorrelation of the 1-ms signal, all nodes).

    python studies/astrocyte_calcium/describe.py [RUNS_DIR]     # default: studies/astrocyte_calcium/runs

Prints a Markdown table; docs/examples/astrocyte_calcium.md quotes it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def autocorrelation(trace: np.ndarray, lag: int) -> float:
    x = trace - trace.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x)) if x.any() else float("nan")


def describe(path: Path) -> dict:
    with np.load(path) as data:
        task = json.loads(str(data["task"]))
        t, stim = data["times"], float(data["t_stimulus"])
        nodes = sorted(k for k in data.files if k.startswith("signal_"))
        central = data["signal_node2"][0]
        before = t < stim
        late = t >= stim + 0.5
        base = float(central[before].mean())
        windows = [central[(t >= a) & (t < a + 0.25)].mean() for a in np.arange(stim, t[-1] - 0.2, 0.25)]
        corr = {lag: np.mean([autocorrelation(data[k][0][before], lag) for k in nodes]) for lag in (10, 50)}
        return dict(geometry=task["geometry"], seed=task["seed"], wall=float(data["wall_s"]), base=base,
                    ratio=float(central[late].mean()) / base, top=float(max(windows)) / base,
                    r10=corr[10], r50=corr[50])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).parent / "runs"
    order = {"d0": 0, "d0/2": 1, "d0/3": 2}
    rows = sorted((describe(p) for p in folder.glob("*.npz")),
                  key=lambda r: (order.get(r["geometry"], 9), r["geometry"], r["seed"]))
    print("| geometry | seed | wall (s) | baseline (µM) | mean 1.5–5 s / baseline "
          "| largest 250-ms mean / baseline | baseline autocorrelation at 10 ms, 50 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['geometry']} | {r['seed']} | {r['wall']:.0f} | {r['base']:.3f} | {r['ratio']:.2f} | "
              f"{r['top']:.2f} | {r['r10']:.2f}, {r['r50']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
