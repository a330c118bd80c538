"""The ``Simulation`` facade: one object to set state, record, run and get results.

A simulation holds ``runs`` replicate states (created by the first :meth:`Simulation.run`).
``run(t)`` advances every replicate to absolute time ``t``; calling it again continues, so a
protocol such as "run to 1 s, bleach, run to 2.5 s" is written as three plain statements.
Setters act on every replicate (and on the initial state used for new replicates); getters
return one value per replicate when there are several.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .compile import compile_system
from .errors import CapabilityError, SimulationError, did_you_mean
from .recording.probes import Conc, Count, concentration_factor, resolve_where
from .recording.results import RecordedSeries, Results
from .solvers.base import Runtime, canonical_solver_name, get_solver_class
from .solvers.efield import EFieldMethods, wrap_efield
from .units import AVOGADRO, rate_dims, to_si

__all__ = ["Simulation", "Recorder"]


@dataclass(eq=False)
class Recorder:
    """Handle returned by :meth:`Simulation.record`; index results with it."""

    name: str
    probe: Count
    every: float
    elements: np.ndarray
    pools: np.ndarray
    factor: np.ndarray | None  # per-element molar factor for Conc
    where_text: str
    next_index: int = 0
    chunks: list = field(default_factory=list)
    time_chunks: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Recorder({self.name!r}, every={self.every})"


def _where_text(where) -> str:
    return where if isinstance(where, str) else repr(where)


def _as_float_array(value, what: str) -> np.ndarray:
    """``value`` as a float array, or a SimulationError (never a NumPy traceback) for non-numbers."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SimulationError(f"{what}: expected a number of molecules, got {value!r}") from None


def _spread_integer(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` molecules over elements in proportion to ``weights``, integer-exact.

    Each element gets the whole part of its share; the leftover molecules go to distinct
    elements chosen with probability equal to their fractional parts (systematic sampling), so
    every element ends within one molecule of its exact share and the expected count is
    exactly proportional. (Handing the leftovers to the largest remainders instead would put
    every molecule in the biggest tets whenever there is less than one per tet.)
    """
    weights = np.asarray(weights, dtype=np.float64)
    share = total * weights / weights.sum()
    base = np.floor(share).astype(np.int64)
    remainder = int(total - base.sum())
    if remainder > 0:
        fraction = np.clip(share - base, 0.0, 1.0)
        edges = np.cumsum(fraction)
        edges *= remainder / edges[-1]  # the fractions sum to the remainder up to round-off
        points = rng.random() + np.arange(remainder)
        chosen = np.searchsorted(edges, points, side="right")
        base[np.minimum(chosen, len(base) - 1)] += 1
    return base


class Simulation(EFieldMethods):
    """Simulate ``model`` on ``geometry`` with ``solver``.

    Parameters
    ----------
    model, geometry
        A :class:`tetrasim.Model` and a :class:`tetrasim.WellMixed` or :class:`tetrasim.MeshGeometry`.
    solver
        ``"wm-ssa"``, ``"wm-ode"``, ``"ssa"``, ``"opsplit"`` or ``"ode"`` (STEPS names accepted).
    seed
        Seed of all randomness; ``None`` draws one (stored in the results).
    progress
        Show a progress bar: ``None`` (when attached to a terminal), ``True`` or ``False``.
    **options
        Solver options (e.g. ``rtol``/``atol`` for ODE solvers, ``dt`` for opsplit).

    Examples
    --------
    >>> import tetrasim as ts
    >>> model = ts.Model()
    >>> A = model.species("A")
    >>> model.volume_system("v").reaction("A ->", kf=5.0)
    Reaction('v_r0': 'A ->')
    >>> geom = ts.WellMixed()
    >>> _ = geom.compartment("c", volume=1e-18, systems=["v"])
    >>> sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1)
    >>> sim.set_count("c", "A", 50)
    >>> rec = sim.record(ts.Count("A", where="c"), every=0.1)
    >>> sim.run(1.0)[rec].shape
    (1, 11)
    """

    def __init__(self, model, geometry, solver: str = "ssa", seed: int | None = None, progress=None, **options):
        self.solver_name = canonical_solver_name(solver)
        is_mesh = getattr(geometry, "is_mesh", False) or hasattr(geometry, "mesh")
        if self.solver_name.startswith("wm-") and is_mesh:
            raise CapabilityError(f"solver {solver!r} is well-mixed; on a mesh use 'ssa', 'opsplit' or 'ode'")
        solver_class = get_solver_class(self.solver_name)
        if getattr(solver_class, "needs_mesh", False) and not is_mesh:
            raise CapabilityError(f"solver {solver!r} needs a mesh geometry (ts.MeshGeometry); use 'wm-ssa' "
                                  "or 'wm-ode' for a well-mixed one")
        self.model = model
        self.geometry = geometry
        self.compiled = compile_system(model, geometry)
        c = self.compiled
        df_rate = c.df_rate
        self.runtime = Runtime(rx_rate=c.rx_rate, df_rate=df_rate, df_total=c.leaving_rates(df_rate),
                               clamped=np.zeros(c.n_pools, dtype=bool))
        self._rule_k = np.array([r.k for r in c.reaction_rules], dtype=np.float64)
        self._diffusion_coefficient = np.array([r.coefficient for r in c.diffusion_rules], dtype=np.float64)
        efield_dt = options.pop("efield_dt", None)  # membrane potential: solvers/efield.py
        self.solver = wrap_efield(solver_class(c, self.runtime, **options), c, efield_dt)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.progress = progress
        self._template = np.zeros(c.n_pools, dtype=self.solver.state_dtype)
        self._states: np.ndarray | None = None
        self._run_states: list | None = None
        self.time = 0.0
        self._recorders: dict[str, Recorder] = {}
        self._placements = 0  # set_count calls so far: keys their random placement

    # ------------------------------------------------------------------ locations
    def _select(self, where, species) -> tuple[np.ndarray, np.ndarray, int]:
        c = self.compiled
        species_index = c.species_index(species)
        elements, _kind = resolve_where(c, self.geometry, where)
        absent = ~c.present[elements, species_index]
        if np.all(absent):
            raise SimulationError(f"species {str(species)!r} is not in {_where_text(where)!r}: no system placed "
                                  "there uses it")
        if np.any(absent):
            elements = elements[~absent]  # e.g. an ROI that straddles compartments
        return elements, elements * c.n_species + species_index, species_index

    def _states_view(self) -> np.ndarray:
        return self._states if self._states is not None else self._template[None, :]

    @property
    def n_runs(self) -> int:
        return 0 if self._states is None else self._states.shape[0]

    def _ensure_runs(self, n: int) -> None:
        """Create ``n`` replicate states from the initial state (once per simulation or reset)."""
        if self._states is None:
            self._states = np.repeat(self._template[None, :], n, axis=0)
            self._run_states = self.solver.new_runs(self.seed, n)
        elif self._states.shape[0] != n:
            raise SimulationError(f"this simulation holds {self._states.shape[0]} runs, not {n}; call sim.reset() "
                                  "to start over")

    def _apply(self, pools, values) -> None:
        """Write per-pool values (shape (n,) or (runs, n)) into the template and every replicate."""
        values = np.asarray(values)
        if values.ndim == 2 and self._states is None:
            self._ensure_runs(values.shape[0])  # one value per replicate: the replicates exist from now on
        if values.ndim == 1:
            self._template[pools] = values
        if self._states is not None:
            self._states[:, pools] = values
        self.solver.parameters_changed()

    def _unpack(self, values: np.ndarray, per_element: bool):
        """Getter result: scalar per replicate, or per element; the run axis only when runs > 1."""
        data = values if per_element else values.sum(axis=1)
        if data.shape[0] == 1:
            data = data[0]
            return data if per_element else data.item()
        return data

    # ------------------------------------------------------------------ counts
    def set_count(self, where, species, count, per_element: bool = False) -> None:
        """Set the number of molecules of ``species`` in ``where``.

        A total is spread over the region's elements in proportion to their volume (area),
        integer-exact for stochastic solvers. ``per_element=True`` takes one value per element
        (or an array of shape (runs, elements)).
        """
        elements, pools, _ = self._select(where, species)
        integer = np.issubdtype(self.solver.state_dtype, np.integer)
        if per_element:
            values = _as_float_array(count, f"set_count of {species!r} in {_where_text(where)!r}")
            if values.ndim == 0 or values.shape[-1] != len(elements) or values.ndim > 2:
                raise SimulationError(f"set_count(per_element=True) for {_where_text(where)!r} needs "
                                      f"{len(elements)} values (or (runs, {len(elements)})), got shape {values.shape}")
            self._check_counts(values, species, where, integer)
            self._apply(pools, values.astype(self.solver.state_dtype))
            return
        total = _as_float_array(count, f"set_count of {species!r} in {_where_text(where)!r}")
        if total.ndim != 0:
            raise SimulationError(f"set_count of {species!r} in {_where_text(where)!r} takes one total; "
                                  "pass per_element=True for one value per element")
        total = float(total)
        self._check_counts(np.array([total]), species, where, integer)
        weights = self.compiled.measure[elements]
        if not integer:
            self._apply(pools, total * weights / weights.sum())
            return
        # Reproducible placement: a stream per set_count call, derived from the seed.
        self._placements += 1
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5E7C0, self._placements]))
        if self._states is None:
            self._apply(pools, _spread_integer(int(round(total)), weights, rng))
        else:  # every replicate gets its own placement
            per_run = np.stack([_spread_integer(int(round(total)), weights, rng) for _ in range(self.n_runs)])
            self._apply(pools, per_run)

    def _check_counts(self, values, species, where, integer: bool) -> None:
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise SimulationError(f"count of {species!r} in {_where_text(where)!r} must be finite and >= 0")
        if integer and np.any(np.abs(values - np.round(values)) > 1e-9):
            raise SimulationError(f"stochastic solver {self.solver_name!r} needs whole molecule counts for "
                                  f"{species!r}; use set_conc for concentrations")
        if integer and np.any(values > 2**62):
            raise SimulationError(f"count of {species!r} is too large for a stochastic solver")

    def get_count(self, where, species, per_element: bool = False):
        """Molecules of ``species`` in ``where`` (per replicate when runs > 1)."""
        _, pools, _ = self._select(where, species)
        return self._unpack(self._states_view()[:, pools], per_element)

    def set_conc(self, where, species, conc, per_element: bool = False) -> None:
        """Set the concentration (M, or a quantity like ``ts.Q('25 uM')``) of ``species`` in ``where``."""
        elements, pools, _ = self._select(where, species)
        factor = 1e3 * AVOGADRO * self.compiled.measure[elements]
        if per_element:
            values = np.asarray([to_si(v, "concentration", f"concentration of {species}")
                                 for v in np.ravel(conc)]).reshape(np.shape(conc)) * factor
            if np.issubdtype(self.solver.state_dtype, np.integer):
                values = np.round(values)
            self.set_count(where, species, values, per_element=True)
            return
        value = to_si(conc, "concentration", f"concentration of {species}")
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"concentration of {species!r} must be finite and >= 0, got {conc!r}")
        total = value * factor.sum()
        if np.issubdtype(self.solver.state_dtype, np.integer):
            total = round(total)
        self.set_count(where, species, total)

    def get_conc(self, where, species, per_element: bool = False):
        """Concentration (M) of ``species`` in ``where``."""
        elements, pools, _ = self._select(where, species)
        counts = self._states_view()[:, pools].astype(np.float64)
        measure = self.compiled.measure[elements]
        if per_element:
            data = counts / (1e3 * AVOGADRO * measure)
            return data[0] if data.shape[0] == 1 else data
        data = counts.sum(axis=1) / (1e3 * AVOGADRO * measure.sum())
        return data[0].item() if data.shape[0] == 1 else data

    def set_clamped(self, where, species, clamped: bool = True) -> None:
        """Hold the count of ``species`` in ``where`` fixed (sources and sinks)."""
        _, pools, _ = self._select(where, species)
        self.runtime.clamped[pools] = bool(clamped)
        self.solver.parameters_changed()

    # ------------------------------------------------------------------ parameters
    def set_rate(self, reaction: str, k, backward: bool = False) -> None:
        """Change the macroscopic rate constant of a reaction (STEPS units) from now on."""
        c = self.compiled
        if reaction.endswith("#back"):  # a rule name selects that direction
            rules = [i for i in c.rule_indices(reaction) if c.reaction_rules[i].name == reaction]
        else:
            rules = [i for i in c.rule_indices(reaction) if c.reaction_rules[i].backward == backward]
        if not rules:
            raise SimulationError(f"reaction {reaction!r} has no {'backward' if backward else 'forward'} direction")
        first = c.reaction_rules[rules[0]]
        value = float(to_si(k, rate_dims(first.order, first.surface_only), f"rate of {reaction}"))
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"rate constant of {reaction!r} must be finite and >= 0, got {k!r}")
        for i in rules:
            self._rule_k[i] = value
        mask = np.isin(c.rx_rule, rules)
        self.runtime.rx_rate[mask] = c.rx_scale[mask] * value
        self.solver.parameters_changed()

    def get_rate(self, reaction: str, backward: bool = False) -> float:
        c = self.compiled
        for i in c.rule_indices(reaction):
            if c.reaction_rules[i].backward == backward:
                return float(self._rule_k[i])
        raise SimulationError(f"reaction {reaction!r} has no {'backward' if backward else 'forward'} direction")

    def set_diffusion_coefficient(self, species, coefficient, where: str | None = None) -> None:
        """Change the diffusion coefficient (m²/s) of ``species`` (in compartment/patch ``where``, or everywhere)."""
        c = self.compiled
        value = to_si(coefficient, "diffusion coefficient", f"diffusion coefficient of {species}")
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"diffusion coefficient of {species!r} must be finite and >= 0")
        rules = [i for i, r in enumerate(c.diffusion_rules)
                 if r.species == str(species) and (where is None or r.location == where)]
        if not rules:
            known = sorted({r.species for r in c.diffusion_rules})
            raise SimulationError(f"{str(species)!r} does not diffuse{' in ' + repr(where) if where else ''}"
                                  f"{did_you_mean(str(species), known)}")
        self._diffusion_coefficient[rules] = value
        target_rule = np.repeat(c.df_rule, np.diff(c.df_ptr))
        self.runtime.df_rate[:] = c.df_geom * self._diffusion_coefficient[target_rule]
        if len(c.df_ptr) > 1:
            self.runtime.df_total[:] = np.add.reduceat(self.runtime.df_rate, c.df_ptr[:-1]) \
                if len(self.runtime.df_rate) else 0.0
        self.solver.parameters_changed()

    # ------------------------------------------------------------------ recording
    def record(self, probe: Count, every: float, name: str | None = None) -> Recorder:
        """Sample ``probe`` every ``every`` seconds from the current time on; returns the handle."""
        efield_probe = hasattr(probe, "quantity")  # ts.Potential / ts.Current (membrane potential)
        if not isinstance(probe, Count) and not efield_probe:
            raise SimulationError(f"record() takes ts.Count(...) or ts.Conc(...), got {probe!r}")
        every = float(to_si(every, "time", "every"))
        if not (math.isfinite(every) and every > 0):
            raise SimulationError(f"record(every=...) must be a positive time, got {every!r}")
        if self._states is not None and self.time > 0:
            raise SimulationError("add recorders before the first run (or call sim.reset())")
        if efield_probe:
            elements, pools = self._efield_probe_pools(probe)
        else:
            elements, pools, _ = self._select(probe.where, probe.species)
        kind = getattr(probe, "quantity", "conc" if isinstance(probe, Conc) else "count")
        name = name or f"{kind}_{probe.species}_" \
                       f"{_where_text(probe.where) if probe.where is not None else 'all'}"
        name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
        base, i = name, 1
        while name in self._recorders:
            i += 1
            name = f"{base}_{i}"
        factor = concentration_factor(self.compiled, elements) if isinstance(probe, Conc) else None
        recorder = Recorder(name, probe, every, elements, pools, factor, _where_text(probe.where))
        self._recorders[name] = recorder
        return recorder

    def _new_times(self, recorder: Recorder, t_end: float) -> np.ndarray:
        last = int(math.floor(t_end / recorder.every * (1 + 1e-12) + 1e-9))
        if last < recorder.next_index:
            return np.zeros(0)
        times = np.arange(recorder.next_index, last + 1, dtype=np.float64) * recorder.every
        # k * every may land a few ulps past t_end (0.1 * 3 > 0.3): that sample is the one at t_end
        return np.minimum(times, t_end)

    # ------------------------------------------------------------------ running
    def reset(self) -> None:
        """Back to time 0 with the initial state; recorded data are dropped."""
        self._states = None
        self._run_states = None
        self.time = 0.0
        for recorder in self._recorders.values():
            recorder.next_index = 0
            recorder.chunks.clear()
            recorder.time_chunks.clear()

    def run(self, t_end, runs: int | None = None, progress=None) -> Results:
        """Advance every replicate to absolute time ``t_end`` and return all results so far."""
        t_end = float(to_si(t_end, "time", "t_end"))
        if not math.isfinite(t_end) or t_end < self.time:
            raise SimulationError(f"run({t_end!r}): the end time must be >= the current time {self.time}")
        if runs is not None and (not isinstance(runs, (int, np.integer)) or runs < 1):
            raise SimulationError(f"runs must be a positive integer, got {runs!r}")
        if self._states is None:
            self._ensure_runs(int(runs or 1))
        elif runs is not None and runs != self._states.shape[0]:
            raise SimulationError(f"this simulation holds {self._states.shape[0]} runs; call sim.reset() to start "
                                  f"over with {runs}")
        recorders = list(self._recorders.values())
        new_times = [self._new_times(r, t_end) for r in recorders]
        union_times = np.unique(np.concatenate(new_times)) if recorders else np.zeros(0)
        # Each recorder owns output columns: one (a sum over its elements) or one per element.
        # Solvers add counts[record_pools[j]] into column record_columns[j], so a sum over a big
        # region costs one column, not one per element.
        pools, columns, widths = [], [], []
        offset = 0
        for r in recorders:
            width = len(r.pools) if r.probe.per_element else 1
            pools.append(r.pools)
            columns.append(offset + (np.arange(width) if r.probe.per_element else np.zeros(len(r.pools), np.int64)))
            widths.append((offset, width))
            offset += width
        record_pools = np.concatenate(pools).astype(np.int64) if pools else np.zeros(0, np.int64)
        record_columns = np.concatenate(columns).astype(np.int64) if columns else np.zeros(0, np.int64)
        n_runs = self._states.shape[0]
        raw = np.zeros((n_runs, len(union_times), offset),
                       dtype=getattr(self.solver, "record_dtype", self.solver.state_dtype))
        bar = self._progress_bar(progress, n_runs, t_end)
        try:
            for r in range(n_runs):
                counts = self._states[r]
                t0 = self.time

                def report(t, r=r, t0=t0):
                    if bar is not None:
                        bar.n = round(r * (t_end - self.time) + (t - t0), 12)
                        bar.refresh()

                self.solver.advance(self._run_states[r], counts, t0, t_end, union_times, record_pools, record_columns,
                                    raw[r], report if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        for recorder, times, (start, width) in zip(recorders, new_times, widths):
            rows = np.searchsorted(union_times, times)
            data = raw[:, rows, start:start + width]
            recorder.time_chunks.append(times)
            recorder.chunks.append(self._reduce(recorder, data))
            recorder.next_index += len(times)
        self.time = t_end
        return self.results

    def _reduce(self, recorder: Recorder, data: np.ndarray) -> np.ndarray:
        """(runs, times, columns) of summed counts -> the recorder's quantity."""
        if isinstance(recorder.probe, Conc):
            data = data.astype(np.float64)
            if recorder.probe.per_element:
                return data * recorder.factor
            volume = self.compiled.measure[recorder.elements].sum()
            return data[:, :, 0] / (1e3 * AVOGADRO * volume)
        return data if recorder.probe.per_element else data[:, :, 0]

    def _progress_bar(self, progress, n_runs: int, t_end: float):
        show = self.progress if progress is None else progress
        if show is None:
            show = sys.stderr.isatty()
        if not show or t_end <= self.time:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=n_runs * (t_end - self.time), unit="s(sim)", desc=f"{self.solver_name} x{n_runs}",
                    bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} simulated s [{elapsed}<{remaining}]")

    @property
    def results(self) -> Results:
        """Everything recorded since time 0."""
        from . import __version__

        series = {}
        n_runs = self.n_runs or 1
        for name, r in self._recorders.items():
            times = np.concatenate(r.time_chunks) if r.time_chunks else np.zeros(0)
            if r.chunks:
                data = np.concatenate(r.chunks, axis=1)
            else:
                shape = (n_runs, 0) + ((len(r.elements),) if r.probe.per_element else ())
                data = np.zeros(shape)
            series[name] = RecordedSeries(
                name=name, quantity=getattr(r.probe, "quantity", "conc" if isinstance(r.probe, Conc) else "count"),
                species=r.probe.species,
                where=r.where_text, unit=r.probe.unit, times=times, data=data,
                elements=r.elements if r.probe.per_element else None)
        return Results(series, self.seed, self.solver_name, self.compiled.model_hash, __version__, n_runs,
                       meta={"t_end": self.time})

    def __repr__(self) -> str:
        return (f"Simulation(solver={self.solver_name!r}, seed={self.seed}, time={self.time}, "
                f"runs={self.n_runs}, recorders={list(self._recorders)})")
