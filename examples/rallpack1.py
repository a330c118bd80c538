"""Rallpack 1: a passive cable (1 mm × 1 µm, Ra 1 Ω·m, Rm 4 Ω·m², Cm 0.01 F/m², rest −65 mV,
0.1 nA into x = 0) against the exact cable solution.

    python examples/rallpack1.py                          # 250 ms, 200 slices, efield_dt 10 µs
    python examples/rallpack1.py --t-end 0.02 --n-slices 50

Prints the RMS difference from the analytic solution at both ends and saves rallpack1.png
(V against t at x = 0 and x = 1 mm, with the reference). The model lives in
tetrasim.examples_efield.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tetrasim.examples_efield import RALLPACK, cable_analytic, plot_ends, run_cable


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-end", type=float, default=0.25, help="simulated time (s), default 0.25")
    parser.add_argument("--n-slices", type=int, default=200, help="mesh slices along the cable, default 200")
    parser.add_argument("--efield-dt", type=float, default=1e-5, help="EField step (s), default 1e-5")
    parser.add_argument("--every", type=float, default=1e-4, help="sampling interval (s), default 1e-4")
    parser.add_argument("--solver", default="ode", help="ode, ssa or opsplit (no channels: all the same)")
    parser.add_argument("--out", default=".", help="folder for rallpack1.png")
    args = parser.parse_args(argv)
    out = run_cable("passive", solver=args.solver, n_slices=args.n_slices, efield_dt=args.efield_dt,
                    t_end=args.t_end, every=args.every)
    cable, times = out["cable"], out["times"]
    exact = [cable_analytic(x, times, cable.length, cable.area, cable.perimeter) for x in (0.0, cable.length)]
    ours = [out["v_start"][0], out["v_end"][0]]
    rms = [float(np.sqrt(np.mean((a - b) ** 2))) for a, b in zip(ours, exact, strict=True)]
    print(f"Rallpack 1, {args.n_slices} slices, efield_dt {args.efield_dt:g} s, {args.t_end:g} s:")
    print(f"  V(0) at the end {ours[0][-1] * 1e3:.3f} mV (exact {exact[0][-1] * 1e3:.3f}); "
          f"RMS {rms[0] * 1e3:.4f} mV")
    print(f"  V(L) at the end {ours[1][-1] * 1e3:.3f} mV (exact {exact[1][-1] * 1e3:.3f}); "
          f"RMS {rms[1] * 1e3:.4f} mV  (Rallpack limit: 1 mV)")
    figure = plot_ends(times, ours, exact, "exact cable", Path(args.out) / "rallpack1.png",
                  f"Rallpack 1 (passive), {RALLPACK['current'] * 1e9:g} nA into x = 0")
    return {"rms": rms, "figure": figure, **out}


if __name__ == "__main__":
    main()
