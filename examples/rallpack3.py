"""Rallpack 3: a Hodgkin–Huxley axon (1 mm × 1 µm, 0.1 nA into x = 0) against NEURON.

    python examples/rallpack3.py                                # 0.1 s, 200 slices, efield_dt 1 µs (long)
    python examples/rallpack3.py --t-end 0.006 --efield-dt 5e-6 --n-slices 50
    python examples/rallpack3.py --solver ssa --t-end 0.006     # stochastic channels

Deterministic channels with ``--solver ode``. NEURON (``pip install neuron``) runs the same
cable (1,000 segments, dt 1 µs, the hh mechanism at 6.3 °C without its rate tables,
Crank–Nicolson, the mesh's cross-section and membrane per length); without it only tetrasim's
trace is drawn. Prints the RMS difference at both ends, the spike times and the conduction
velocity, and saves rallpack3.png (V against t at x = 0 and x = 1 mm with NEURON's).
The model lives in tetrasim.examples_efield.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tetrasim.examples_efield import neuron_cable, plot_ends, run_cable, spike_times


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-end", type=float, default=0.1, help="simulated time (s), default 0.1")
    parser.add_argument("--n-slices", type=int, default=200, help="mesh slices along the axon, default 200")
    parser.add_argument("--efield-dt", type=float, default=1e-6, help="EField step (s), default 1e-6")
    parser.add_argument("--every", type=float, default=1e-5, help="sampling interval (s), default 1e-5")
    parser.add_argument("--solver", default="ode", help="ode (deterministic channels), ssa or opsplit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-neuron", action="store_true", help="do not run the NEURON reference")
    parser.add_argument("--out", default=".", help="folder for rallpack3.png")
    args = parser.parse_args(argv)
    out = run_cable("hh", solver=args.solver, n_slices=args.n_slices, efield_dt=args.efield_dt,
                    t_end=args.t_end, every=args.every, seed=args.seed)
    cable, times = out["cable"], out["times"]
    ours = [out["v_start"][0], out["v_end"][0]]
    spikes = [spike_times(times, v) for v in ours]
    print(f"Rallpack 3 ({args.solver}), {args.n_slices} slices, efield_dt {args.efield_dt:g} s, "
          f"{args.t_end:g} s:")
    for where, found in zip(("x = 0", "x = 1 mm"), spikes, strict=True):
        print(f"  spikes at {where} (ms): {np.round(found * 1e3, 4).tolist()}")
    velocity = cable.length / (spikes[1][0] - spikes[0][0]) if all(len(s) for s in spikes) else float("nan")
    print(f"  conduction velocity {velocity:.4f} m/s")
    reference, result = None, {"spikes": spikes, "velocity": velocity}
    if not args.no_neuron:
        try:
            t_ref, v0, v1 = neuron_cable("hh", cable.length, cable.area, cable.perimeter, t_end=args.t_end,
                                         every=args.every)
        except ImportError as error:
            print(f"  NEURON not available ({error}); pip install neuron for the reference")
        else:
            reference = [v0, v1]
            n = min(len(t_ref), len(times))
            rms = [float(np.sqrt(np.mean((a[:n] - b[:n]) ** 2)))
                   for a, b in zip(ours, reference, strict=True)]
            ref_spikes = [spike_times(t_ref, v) for v in reference]
            ref_velocity = cable.length / (ref_spikes[1][0] - ref_spikes[0][0])
            print(f"  NEURON spikes at x = 0 (ms): {np.round(ref_spikes[0] * 1e3, 4).tolist()}")
            print(f"  RMS vs NEURON: {rms[0] * 1e3:.4f} mV at x = 0 (limit 0.15), {rms[1] * 1e3:.4f} mV at "
                  f"x = 1 mm (limit 1.1); velocity {velocity:.4f} vs {ref_velocity:.4f} m/s "
                  f"({(velocity / ref_velocity - 1) * 100:+.2f} %, limit 3 %)")
            result.update(rms=rms, neuron_velocity=ref_velocity)
    figure = plot_ends(times, ours, reference or [], "NEURON", Path(args.out) / "rallpack3.png",
                       f"Rallpack 3 (HH axon, {args.solver}), 0.1 nA into x = 0")
    return {**result, "figure": figure, **out}


if __name__ == "__main__":
    main()
