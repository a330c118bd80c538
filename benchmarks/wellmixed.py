"""Well-mixed exact SSA (``wm-ssa``): events per second, against GillesPy2's C++ SSA in the same run.

Models
------
(a) ``simple``: the 8 reactions (4 reversible) of the STEPS 4 "simple model" (species SA..SJ,
    initial counts 1000, 2000, ..., 10000), well-mixed in V = 1e-15 m^3.
(b) ``random``: a seeded random network of 1,000 species and 2,000 reactions of order 0, 1 and 2
    with a stationary state (see :func:`random_network`).

Method
------
tetrasim counts its events. GillesPy2 does not report events, so its rate is
``E[events over its simulated span] / its wall time``, where the expectation is the mean event
count of independent tetrasim runs of the same model over the same span from the same initial
state (both simulate the same Markov chain, so the expected event counts are equal). Each
simulator gets its own span, chosen from a pilot run so that one timed run takes about
``--seconds`` (default 2 s); both record only 3 time points. GillesPy2's one-time C++
compilation is excluded from its timing and reported separately. Timings are medians of
``--repeats`` runs (default 3) after an untimed warm-up. Each measurement runs in a fresh
process, so "peak RSS" is that measurement's own peak.

Usage
-----
    python benchmarks/wellmixed.py                 # both models, with GillesPy2 if installed
    python benchmarks/wellmixed.py --quick         # seconds, for a smoke test
    python benchmarks/wellmixed.py --models simple --repeats 5

GillesPy2 goes in a separate environment (see benchmarks/README.md):

    python -m venv .bench-env && .bench-env/bin/pip install -e ".[bench]"
    .bench-env/bin/python benchmarks/wellmixed.py
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    command_line,
    format_mib,
    format_rate,
    format_seconds,
    machine_markdown,
    markdown_table,
    peak_rss_mib,
    run_isolated,
)

AVOGADRO = 6.02214076e23

# One reaction: (reactants, products, k) with sides as ((species, count), ...) and k in STEPS units
# (order-n rate in M^-(n-1) s^-1).
Side = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Network:
    name: str
    description: str
    volume: float  # m^3
    species: tuple[str, ...]
    initial: tuple[int, ...]
    reactions: tuple[tuple[Side, Side, float], ...]

    def mesoscopic_rate(self, reactants: Side, k: float) -> float:
        """Count-based constant c = k (1e3 V N_A)^(1 - order) (tetrasim's and STEPS' convention)."""
        order = sum(n for _, n in reactants)
        return k * (1e3 * self.volume * AVOGADRO) ** (1 - order)


def simple_model() -> Network:
    """(a) STEPS 4 simple model, well-mixed in 1e-15 m^3 (shared/data/README.md)."""
    names = tuple(f"S{c}" for c in "ABCDEFGHIJ")
    pairs = [("SA", "SB", "SC", 1e9, 100.0), ("SC", "SD", "SE", 1e8, 10.0),
             ("SF", "SG", "SH", 1e7, 1.0), ("SH", "SI", "SJ", 1e6, 1.0)]
    reactions = []
    for a, b, c, kf, kb in pairs:
        reactions.append((((a, 1), (b, 1)), ((c, 1),), kf))
        reactions.append((((c, 1),), ((a, 1), (b, 1)), kb))
    return Network("simple", "STEPS 4 simple model, 10 species, 8 reactions, V = 1e-15 m³", 1e-15, names,
                   tuple(1000 * (i + 1) for i in range(10)), tuple(reactions))


def random_network(seed: int = 2024, n_monomers: int = 600, n_dimers: int = 400, n_associations: int = 400,
                   n_dissociations: int = 400, n_sources: int = 100, n_sinks: int = 100,
                   volume: float = 1e-18, initial_count: int = 300) -> Network:
    """(b) A seeded random network (default 1,000 species, 2,000 reactions) with a stationary state.

    Species are monomers M (mass 1) and dimers D (mass 2). Reactions: a ring of first-order
    conversions through all monomers and one through all dimers (so every species is reached),
    random associations M_a + M_b -> D_c (a != b, so no homodimer reactions and no propensity
    convention question), random dissociations D_c -> M_a + M_b, zero-order sources -> M and
    first-order sinks X ->. The core conserves mass, so the molecule numbers are held by the
    balance of sources and sinks and neither die out nor grow without bound. Rates are
    log-uniform, given as count-based constants c and converted to STEPS units for ``volume``.
    """
    rng = np.random.default_rng(seed)
    mono = [f"M{i:03d}" for i in range(n_monomers)]
    dimer = [f"D{i:03d}" for i in range(n_dimers)]
    factor = 1e3 * volume * AVOGADRO  # molecules per M

    def loguniform(lo, hi):
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    reactions = []
    seen: set[tuple[Side, Side]] = set()

    def add(reactants: Side, products: Side, c: float):
        order = sum(n for _, n in reactants)
        key = (tuple(sorted(reactants)), tuple(sorted(products)))
        if key in seen:
            return False
        seen.add(key)
        reactions.append((reactants, products, c * factor ** (order - 1)))
        return True

    for ring in (mono, dimer):
        for i, name in enumerate(ring):
            add(((name, 1),), ((ring[(i + 1) % len(ring)], 1),), loguniform(0.5, 5.0))
    while sum(len(r[0]) == 2 for r in reactions) < n_associations:
        a, b = rng.choice(n_monomers, size=2, replace=False)
        add(((mono[a], 1), (mono[b], 1)), ((dimer[rng.integers(n_dimers)], 1),), loguniform(1e-3, 1e-2))
    target = len(reactions) + n_dissociations
    while len(reactions) < target:
        a, b = rng.choice(n_monomers, size=2, replace=False)
        add(((dimer[rng.integers(n_dimers)], 1),), ((mono[a], 1), (mono[b], 1)), loguniform(0.5, 5.0))
    target = len(reactions) + n_sources
    while len(reactions) < target:
        add((), ((mono[rng.integers(n_monomers)], 1),), loguniform(100.0, 1000.0))
    everyone = mono + dimer
    target = len(reactions) + n_sinks
    while len(reactions) < target:
        add(((everyone[rng.integers(len(everyone))], 1),), (), loguniform(0.5, 5.0))
    species = tuple(everyone)
    return Network("random", f"random network, {len(species)} species, {len(reactions)} reactions "
                   f"(orders 0/1/2), seed {seed}", volume, species, (initial_count,) * len(species),
                   tuple(reactions))


NETWORKS = {"simple": simple_model, "random": random_network}


def _equation(reactants: Side, products: Side) -> str:
    side = lambda terms: " + ".join(f"{n} {s}" if n > 1 else s for s, n in terms)  # noqa: E731
    return f"{side(reactants)} -> {side(products)}".strip()


# ---------------------------------------------------------------------------------------- tetrasim
def _tetrasim_simulation(network: Network, seed: int):
    import tetrasim as ts

    model = ts.Model()
    model.species(*network.species)
    system = model.volume_system("reactions")
    for reactants, products, k in network.reactions:
        system.reaction(_equation(reactants, products), kf=k)
    geometry = ts.WellMixed()
    geometry.compartment("cell", volume=network.volume, systems=["reactions"])
    sim = ts.Simulation(model, geometry, solver="wm-ssa", seed=seed, progress=False)
    for name, count in zip(network.species, network.initial, strict=True):
        sim.set_count("cell", name, count)
    return sim, ts


def _tetrasim_run(network: Network, span: float, seed: int) -> tuple[int, float, float, np.ndarray]:
    """One run over [0, span], recording 3 time points. Returns (events, wall s, CPU s, final counts)."""
    sim, ts = _tetrasim_simulation(network, seed)
    sim.record(ts.Count(network.species[0], where="cell"), every=span / 2)
    start, start_cpu = time.perf_counter(), time.process_time()
    sim.run(span)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    final = np.array([sim.get_count("cell", name) for name in network.species])
    return sim.solver.events, wall, cpu, final


def measure_tetrasim(network_name: str, seconds: float, repeats: int) -> dict:
    """Worker (fresh process): tetrasim events/s on ``network_name``."""
    network = NETWORKS[network_name]()
    # warm-up (numba JIT or cache load) and pilot: a simulated span giving about 2e5 events
    span = 1e-3
    while True:
        events, wall, _, _ = _tetrasim_run(network, span, seed=10_000)
        if events >= 200_000 or span > 1e6:
            break
        span *= max(2.0, min(100.0, 2e5 / max(events, 1)))
    events, wall, cpu, _ = _tetrasim_run(network, span, seed=10_001)
    # a second pilot of about a quarter of the target, where fixed costs no longer skew the estimate
    span *= 0.25 * seconds / max(cpu, 1e-6)
    events, wall, cpu, _ = _tetrasim_run(network, span, seed=10_002)
    events_per_simulated_second = events / span
    timed_span = span * seconds / max(cpu, 1e-6)
    runs = [_tetrasim_run(network, timed_span, seed=i) for i in range(repeats)]
    events = [e for e, _, _, _ in runs]
    return dict(span=timed_span, events=events, walls=[w for _, w, _, _ in runs],
                cpus=[c for _, _, c, _ in runs],
                rate=statistics.median(e / w for e, w, _, _ in runs),
                rate_cpu=statistics.median(e / c for e, _, c, _ in runs),
                events_per_simulated_second=events_per_simulated_second, peak_rss=peak_rss_mib())


# ---------------------------------------------------------------------------- a bare numba loop
def _direct_method_arrays(network: Network):
    """CSR arrays of the network for :func:`bare_direct_method` (a reactant listed once per molecule)."""
    index = {name: i for i, name in enumerate(network.species)}
    rates, reac_ptr, reac_species, upd_ptr, upd_species, upd_delta = [], [0], [], [0], [], []
    for reactants, products, k in network.reactions:
        rates.append(network.mesoscopic_rate(reactants, k))
        for name, n in reactants:
            reac_species += [index[name]] * n
        reac_ptr.append(len(reac_species))
        delta: dict[str, int] = {}
        for name, n in reactants:
            delta[name] = delta.get(name, 0) - n
        for name, n in products:
            delta[name] = delta.get(name, 0) + n
        for name, d in delta.items():
            if d:
                upd_species.append(index[name])
                upd_delta.append(d)
        upd_ptr.append(len(upd_species))
    as_int = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    return (np.array(rates), as_int(reac_ptr), as_int(reac_species), as_int(upd_ptr), as_int(upd_species),
            as_int(upd_delta))


def _bare_direct_method():
    from numba import njit

    from tetrasim.kernels.rng import uniform, uniform_open

    @njit(cache=True)
    def bare_direct_method(counts, rate, reac_ptr, reac_species, upd_ptr, upd_species, upd_delta, t_end,
                           state):
        """Gillespie's direct method as a minimal hand-written loop: recompute every propensity,
        sum, draw, scan. The same xoshiro256** draws as tetrasim; no recording, no clamps, and
        c n^2 instead of c n (n - 1) for a repeated reactant (neither model here has one)."""
        n_rx = len(rate)
        a = np.empty(n_rx)
        t = 0.0
        events = 0
        while True:
            total = 0.0
            for r in range(n_rx):
                value = rate[r]
                for e in range(reac_ptr[r], reac_ptr[r + 1]):
                    value *= counts[reac_species[e]]
                a[r] = value
                total += value
            if total <= 0.0:
                break
            t -= math.log(uniform_open(state)) / total
            if t > t_end:
                break
            target = uniform(state) * total
            r = 0
            while r < n_rx - 1 and target >= a[r]:
                target -= a[r]
                r += 1
            for e in range(upd_ptr[r], upd_ptr[r + 1]):
                counts[upd_species[e]] += upd_delta[e]
            events += 1
        return events

    return bare_direct_method


def _bare_run(loop, arrays, network: Network, span: float, seed: int) -> tuple[int, float, float]:
    from tetrasim.kernels.rng import seed_states

    counts = np.array(network.initial, dtype=np.int64)
    state = seed_states(seed, 1)[0].copy()
    start, start_cpu = time.perf_counter(), time.process_time()
    events = loop(counts, *arrays, span, state)
    return events, time.perf_counter() - start, time.process_time() - start_cpu


def measure_bare_loop(network_name: str, seconds: float, repeats: int) -> dict:
    """Worker (fresh process): events/s of the minimal numba direct-method loop."""
    network = NETWORKS[network_name]()
    loop, arrays = _bare_direct_method(), _direct_method_arrays(network)
    span = 1e-3
    while True:
        events, wall, cpu = _bare_run(loop, arrays, network, span, seed=10_000)
        if events >= 200_000 or span > 1e6:
            break
        span *= max(2.0, min(100.0, 2e5 / max(events, 1)))
    span *= seconds / max(cpu, 1e-6)
    runs = [_bare_run(loop, arrays, network, span, seed=i) for i in range(repeats)]
    return dict(span=span, events=[e for e, _, _ in runs], walls=[w for _, w, _ in runs],
                cpus=[c for _, _, c in runs], rate=statistics.median(e / w for e, w, _ in runs),
                rate_cpu=statistics.median(e / c for e, _, c in runs))


def expected_events(network_name: str, span: float, runs: int) -> dict:
    """Worker: mean and sd of the event count over [0, span] from tetrasim runs, and final counts."""
    network = NETWORKS[network_name]()
    results = [_tetrasim_run(network, span, seed=50_000 + i) for i in range(runs)]
    events = np.array([r[0] for r in results], dtype=float)
    finals = np.array([r[3] for r in results], dtype=float)
    return dict(mean=float(events.mean()), sd=float(events.std(ddof=1)) if runs > 1 else 0.0,
                final_mean=finals.mean(axis=0), final_sd=finals.std(axis=0, ddof=1) if runs > 1 else None)


# ---------------------------------------------------------------------------------------- GillesPy2
def gillespy2_available() -> bool:
    return importlib.util.find_spec("gillespy2") is not None


class _RusagePopen(subprocess.Popen):
    """Popen that keeps its child's resource usage (os.wait4): CPU time and peak RSS of GillesPy2's run."""

    last_usage = None

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            _RusagePopen.last_usage = usage
        return pid, status


def _compiler_wrapper(flags: str) -> str:
    """A directory holding a ``g++`` that adds ``flags`` (GillesPy2 1.8 compiles with no -O flag at all)."""
    import shutil
    import tempfile

    real = shutil.which("g++")
    if real is None:
        raise RuntimeError("g++ not found")
    folder = tempfile.mkdtemp(prefix="gxx-wrapper-")
    path = os.path.join(folder, "g++")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nexec {real} {flags} "$@"\n')
    os.chmod(path, 0o755)
    return folder


def _gillespy2_model(network: Network):
    import gillespy2

    # volume = 1 and count-based constants: GillesPy2's mass-action propensities are then
    # c, c*A, c*A*B -- the same as tetrasim's (no reaction here has a repeated reactant).
    model = gillespy2.Model(name=f"bench_{network.name}", volume=1.0)
    species = {name: gillespy2.Species(name=name, initial_value=int(n), mode="discrete")
               for name, n in zip(network.species, network.initial, strict=True)}
    model.add_species(list(species.values()))
    model.timespan(np.linspace(0.0, 1.0, 3))  # replaced before each run
    for i, (reactants, products, k) in enumerate(network.reactions):
        if any(n > 1 for _, n in reactants):
            raise ValueError("homodimer reactions need a propensity conversion for GillesPy2")
        rate = gillespy2.Parameter(name=f"c{i}", expression=repr(network.mesoscopic_rate(reactants, k)))
        model.add_parameter(rate)
        model.add_reaction(gillespy2.Reaction(
            name=f"r{i}", rate=rate, reactants={species[s]: n for s, n in reactants},
            products={species[s]: n for s, n in products}))
    return model


def measure_gillespy2(network_name: str, seconds: float, repeats: int, events_per_simulated_second: float,
                      cxxflags: str = "") -> dict:
    """Worker (fresh process): GillesPy2 SSACSolver wall and CPU times.

    The one-time C++ compilation is timed apart. Every run of GillesPy2's executable also pays
    a set-up (building its reaction dependency graph, O(reactions^2 * species)), measured with
    runs over a negligible span and subtracted: the rate reported is the simulation's alone.
    """
    # GillesPy2 looks for `scons` on PATH and otherwise runs `python -m SCons` with the *resolved*
    # interpreter, which loses a virtual environment; put this environment's bin/ first on PATH.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if cxxflags:
        os.environ["PATH"] = _compiler_wrapper(cxxflags) + os.pathsep + os.environ["PATH"]
    import gillespy2

    network = NETWORKS[network_name]()
    model = _gillespy2_model(network)
    start = time.perf_counter()
    solver = gillespy2.SSACSolver(model=model)
    compile_seconds = time.perf_counter() - start
    subprocess.Popen = _RusagePopen  # only simulations run from here on
    peak_kib = 0

    def run(span, seed):
        nonlocal peak_kib
        solver.model.timespan(np.linspace(0.0, span, 3))
        start = time.perf_counter()
        result = solver.run(number_of_trajectories=1, seed=seed)
        wall = time.perf_counter() - start
        usage = _RusagePopen.last_usage
        peak_kib = max(peak_kib, usage.ru_maxrss)
        final = np.array([result[0][name][-1] for name in network.species], dtype=float)
        return wall, usage.ru_utime + usage.ru_stime, final

    # set-up: runs over a span with (almost surely) no event; one run if it is slow
    setup = [run(1e-12, seed=1)]
    while len(setup) < 3 and setup[0][0] < 10.0:
        setup.append(run(1e-12, seed=1 + len(setup)))
    setup_wall = statistics.median(w for w, _, _ in setup)
    setup_cpu = statistics.median(c for _, c, _ in setup)
    # pilot: about 2e5 events; then size the timed span so the simulation part takes ~`seconds`
    # (and at least a quarter of the set-up, so that subtracting the set-up stays accurate)
    span = 2e5 / events_per_simulated_second
    _, cpu, _ = run(span, seed=7)
    per_span = max(cpu - setup_cpu, 1e-3) / span
    timed_span = max(seconds, 0.25 * setup_cpu) / per_span
    runs = [run(timed_span, seed=100 + i) for i in range(repeats)]
    return dict(span=timed_span, walls=[w for w, _, _ in runs], cpus=[c for _, c, _ in runs],
                wall=statistics.median(w for w, _, _ in runs), cpu=statistics.median(c for _, c, _ in runs),
                setup_wall=setup_wall, setup_cpu=setup_cpu, finals=np.array([f for _, _, f in runs]),
                compile_seconds=compile_seconds, peak_rss=peak_kib / 1024, version=gillespy2.__version__,
                cxxflags=cxxflags)


# ---------------------------------------------------------------------------------------- main
def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "NOT met")


def _gillespy2_row(name, network, ts_result, gp, expected, event_runs, target):
    """Table row and detail line for one GillesPy2 build against tetrasim."""
    sim_wall = max(gp["wall"] - gp["setup_wall"], 1e-9)
    sim_cpu = max(gp["cpu"] - gp["setup_cpu"], 1e-9)
    rate, rate_cpu = expected["mean"] / sim_wall, expected["mean"] / sim_cpu
    ratio, ratio_cpu = ts_result["rate"] / rate, ts_result["rate_cpu"] / rate_cpu
    build = f"`{gp['cxxflags']}`" if gp["cxxflags"] else "as shipped (no -O)"
    z = ""
    if expected["final_sd"] is not None:  # same model? GillesPy2's final counts against tetrasim's
        sd = np.sqrt(expected["final_sd"] ** 2 * (1 + 1 / event_runs)) + 1.0
        z = f"; final counts vs tetrasim's: max |z| over species = " \
            f"{float(np.max(np.abs(gp['finals'].mean(axis=0) - expected['final_mean']) / sd)):.2f}"
    detail = (f"- {name}, GillesPy2 {build}: span {gp['span']:.4g} s simulated, {expected['mean']:,.0f} ± "
              f"{expected['sd']:,.0f} events (mean ± sd of {event_runs} tetrasim runs); wall "
              f"{', '.join(f'{w:.3g}' for w in gp['walls'])} s, "
              f"CPU {', '.join(f'{c:.3g}' for c in gp['cpus'])} s, "
              f"minus a per-run set-up of {gp['setup_wall']:.3g} s wall / {gp['setup_cpu']:.3g} s CPU "
              f"(with it: {expected['mean'] / gp['wall']:,.0f} events/s); C++ compile "
              f"{gp['compile_seconds']:.1f} s (excluded); simulation process peak RSS "
              f"{gp['peak_rss']:.0f} MiB{z}")
    label, met = target
    row = [f"{network.description}; GillesPy2 {build}", format_rate(ts_result["rate"]),
           format_rate(ts_result["rate_cpu"]), format_rate(rate), format_rate(rate_cpu), f"{ratio:.1f}×",
           f"{ratio_cpu:.1f}×", format_mib(ts_result["peak_rss"]), format_mib(gp["peak_rss"]),
           f"{label}: {_verdict(met(ts_result['rate'], ratio))}"]
    return row, detail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="simple,random", help="comma-separated: simple, random")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--seconds", type=float, default=2.0, help="target time of one timed run (s)")
    parser.add_argument("--event-runs", type=int, default=5,
                        help="tetrasim runs averaged for the expected event count of GillesPy2's span")
    parser.add_argument("--no-gillespy2", action="store_true", help="tetrasim only")
    parser.add_argument("--gillespy2-cxxflags", action="append", default=None, metavar="FLAGS",
                        help="also measure GillesPy2 built with these g++ flags, e.g. '-O3 -march=native' "
                             "(repeatable; GillesPy2 1.8 builds with no optimisation flag by default)")
    parser.add_argument("--quick", action="store_true",
                        help="short runs (smoke test): --seconds 0.2 --repeats 1")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats, args.event_runs = 0.2, 1, 2
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {sorted(NETWORKS)}")
    use_gillespy2 = not args.no_gillespy2 and gillespy2_available()
    builds = [""] + list(args.gillespy2_cxxflags or [])
    targets = {"simple": ("≥ 5× GillesPy2", lambda ts_rate, ratio: None if ratio is None else ratio >= 5.0),
               "random": ("≥ 3e6 events/s", lambda ts_rate, ratio: ts_rate >= 3e6)}
    load_before = os.getloadavg()

    rows, details, extra = [], [], {}
    bare_rows = []
    bare_models = {"simple"}  # the bare loop recomputes every propensity: meant for small networks
    for name in names:
        network = NETWORKS[name]()
        print(f"[{name}] {network.description}: tetrasim ...", file=sys.stderr, flush=True)
        ts_result = run_isolated(measure_tetrasim, name, args.seconds, args.repeats)
        details.append(f"- {name}, tetrasim: span {ts_result['span']:.4g} s simulated, events "
                       f"{', '.join(f'{e:,}' for e in ts_result['events'])}, wall "
                       f"{', '.join(format_seconds(w) for w in ts_result['walls'])} s, CPU "
                       f"{', '.join(format_seconds(c) for c in ts_result['cpus'])} s")
        if name in bare_models:
            bare = run_isolated(measure_bare_loop, name, args.seconds, args.repeats)
            bare_rows.append([network.description, format_rate(ts_result["rate"]), format_rate(bare["rate"]),
                              f"{ts_result['rate'] / bare['rate']:.2f}×",
                              format_rate(ts_result["rate_cpu"]), format_rate(bare["rate_cpu"]),
                              f"{ts_result['rate_cpu'] / bare['rate_cpu']:.2f}×"])
            details.append(f"- {name}, bare numba loop: span {bare['span']:.4g} s simulated, events "
                           f"{', '.join(f'{e:,}' for e in bare['events'])}, wall "
                           f"{', '.join(format_seconds(w) for w in bare['walls'])} s, CPU "
                           f"{', '.join(format_seconds(c) for c in bare['cpus'])} s")
        if not use_gillespy2:
            label, met = targets[name]
            rows.append([network.description, format_rate(ts_result["rate"]),
                         format_rate(ts_result["rate_cpu"]),
                         "n/a", "n/a", "n/a", "n/a", format_mib(ts_result["peak_rss"]), "n/a",
                         f"{label}: {_verdict(met(ts_result['rate'], None))}"])
            continue
        for flags in builds:
            print(f"[{name}] GillesPy2 SSACSolver, compiling C++ {flags or '(default flags)'} ...",
                  file=sys.stderr, flush=True)
            gp = run_isolated(measure_gillespy2, name, args.seconds, args.repeats,
                              ts_result["events_per_simulated_second"], flags)
            expected = run_isolated(expected_events, name, gp["span"], args.event_runs)
            extra["gillespy2"] = gp["version"]
            row, detail = _gillespy2_row(name, network, ts_result, gp, expected, args.event_runs,
                                         targets[name])
            rows.append(row)
            details.append(detail)
    load_after = os.getloadavg()
    extra["load average (1/5/15 min) before, after"] = \
        f"{' '.join(f'{x:.2f}' for x in load_before)}; {' '.join(f'{x:.2f}' for x in load_after)}"

    print("## Well-mixed SSA\n")
    print("Machine:\n")
    print(machine_markdown(extra))
    print(f"\nCommand: `{command_line()}` — each number is the median of {args.repeats} timed runs.\n")
    print(markdown_table(["model", "tetrasim events/s", "tetrasim events/CPU-s", "GillesPy2 events/s",
                          "GillesPy2 events/CPU-s", "ratio", "ratio (CPU)", "tetrasim peak RSS (MiB)",
                          "GillesPy2 peak RSS (MiB)", "target"], rows))
    if bare_rows:
        print("\ntetrasim `wm-ssa` against a minimal hand-written numba direct-method loop "
              "(`bare_direct_method` in this script; target: ratio ≥ 1.0):\n")
        print(markdown_table(["model", "tetrasim events/s", "bare loop events/s", "ratio",
                              "tetrasim events/CPU-s", "bare loop events/CPU-s", "ratio (CPU)"], bare_rows))
    print()
    print("\n".join(details))
    if not use_gillespy2:
        why = ("--no-gillespy2 given" if args.no_gillespy2
               else "GillesPy2 is not installed in this environment")
        print(f"\nNote: GillesPy2 columns are n/a ({why}). To compare, create the benchmark environment:\n"
              "    python -m venv .bench-env && .bench-env/bin/pip install -e \".[bench]\"\n"
              "    .bench-env/bin/python benchmarks/wellmixed.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
