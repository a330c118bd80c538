"""A Purkinje-cell dendrite (10 µm × 2 µm) with P-type Ca, BK and SK channels and Ca buffers.

The "CaBurst" family of STEPS models, with the published constants of Anwar et al. (2013)
(listed with their sources in tetrasim.examples_purkinje). A current injected at one end
depolarises the dendrite; P-type channels let Ca in (GHK flux), Ca activates BK and SK.

    python examples/purkinje_dendrite.py                       # ode, 20 ms: seconds
    python examples/purkinje_dendrite.py --solver ssa          # stochastic channels and Ca
    python examples/purkinje_dendrite.py --t-end 0.005 --current 5e-12

Prints V, Ca and the currents and saves purkinje_dendrite.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tetrasim.examples_purkinje import run_purkinje


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="ode", help="ode (deterministic), ssa or opsplit")
    parser.add_argument("--t-end", type=float, default=0.02, help="simulated time (s), default 0.02")
    parser.add_argument("--current", type=float, default=20e-12, help="injected current (A), default 2e-11")
    parser.add_argument("--current-start", type=float, default=2e-3, help="injection onset (s), default 2e-3")
    parser.add_argument("--n-slices", type=int, default=5, help="mesh slices along the dendrite, default 5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=".", help="folder for purkinje_dendrite.png")
    args = parser.parse_args(argv)
    out = run_purkinje(solver=args.solver, t_end=args.t_end, n_slices=args.n_slices, current=args.current,
                       current_start=args.current_start, seed=args.seed)
    print(f"Purkinje dendrite ({args.solver}), {args.current:g} A from {args.current_start * 1e3:g} ms:")
    print(f"{'t (ms)':>8} {'V (mV)':>9} {'Ca (uM)':>9} {'ICaP (pA)':>10} {'IBK (pA)':>9} {'ISK (pA)':>9}")
    step = max(1, len(out["times"]) // 10)
    for k in range(0, len(out["times"]), step):
        print(f"{out['times'][k] * 1e3:8.2f} {out['V'][k] * 1e3:9.3f} {out['Ca'][k] * 1e6:9.4f} "
              f"{out['ICaP'][k] * 1e12:10.3f} {out['IBK'][k] * 1e12:9.3f} {out['ISK'][k] * 1e12:9.4f}")
    out["figure"] = plot(out, Path(args.out) / "purkinje_dendrite.png")
    return out


def plot(out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = out["times"] * 1e3
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    axes[0].plot(t, out["V"] * 1e3)
    axes[0].set_ylabel("V (mV)")
    axes[1].plot(t, out["Ca"] * 1e6)
    axes[1].set_ylabel("Ca (µM)")
    for name in ("ICaP", "IBK", "ISK"):
        axes[2].plot(t, out[name] * 1e12, label=name)
    axes[2].set_ylabel("current (pA, outward +)")
    axes[2].set_xlabel("time (ms)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


if __name__ == "__main__":
    main()
