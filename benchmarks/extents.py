"""Cost of counting reaction extents in the exact SSA: ``wm-ssa`` events/s with and without.

Runs the STEPS 4 simple model (benchmarks/wellmixed.py) well-mixed, once without extents (the
kernel's counting branch not taken) and once with ``sim.track_extents()`` (one integer add per
event). Medians of ``--repeats`` runs of ``--span`` simulated seconds each (~1e6 events at the
default) after a warm-up; the machine
is shared, so compare the two rows of one invocation, not numbers across invocations.

    PYTHONPATH=src python benchmarks/extents.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, machine_markdown, markdown_table  # noqa: E402
from wellmixed import _tetrasim_simulation, simple_model  # noqa: E402


def rate(span: float, seed: int, extents: bool) -> tuple[float, int]:
    sim, _ts = _tetrasim_simulation(simple_model(), seed)
    if extents:
        sim.track_extents()
    start = time.perf_counter()
    sim.run(span)
    wall = time.perf_counter() - start
    return sim.solver.events / wall, sim.solver.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--span", type=float, default=5.0, help="simulated seconds per run")
    args = parser.parse_args()
    rate(0.001, 1, False), rate(0.001, 1, True)  # JIT / cache warm-up
    rows = []
    results = {False: [], True: []}
    for repeat in range(args.repeats):  # interleaved, so machine load hits both alike
        for extents in (False, True):
            results[extents].append(rate(args.span, 100 + repeat, extents))
    for extents in (False, True):
        rates = [r for r, _ in results[extents]]
        events = statistics.median(e for _, e in results[extents])
        rows.append(["track_extents()" if extents else "no extents", f"{events:.3g}",
                     f"{statistics.median(rates) / 1e6:.2f} M/s",
                     f"{min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}"])
    print(machine_markdown())
    print(f"command: `{command_line()}`\n")
    print(markdown_table(["wm-ssa, simple model", "events/run", "median rate", "range"], rows))


if __name__ == "__main__":
    main()
