"""The ``Simulation`` facade: one object to set state, record, run and get results.

A simulation holds ``runs`` replicate states (created by the first :meth:`Simulation.run`).
``run(t)`` advances every replicate to absolute time ``t``; calling it again continues, so a
protocol such as "run to 1 s, bleach, run to 2.5 s" is written as three plain statements.
Setters act on every replicate (and on the initial state used for new replicates); getters
return one value per replicate when there are several.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .access import DataAccessMixin
from .arguments import check_keywords, flag, seed_value
from .backends.registry import refuse_part_of_split_mesh, resolve_backend_name, simulation_class
from .backends.serial import SerialBackend
from .checkpoint import CheckpointMixin
from .compile import compile_system
from .diffusion_control import DiffusionControl, refresh_diffusion_rates
from .errors import CapabilityError, ModelError, SimulationError, did_you_mean
from .placement import InitialStateLog, place, placement_stream
from .plausibility import warn_concentration, warn_diffusion_coefficient
from .progress import Progress, describe_run, progress_mode
from .recording.extent import Extent
from .recording.probes import (
    Amount,
    Conc,
    Count,
    concentration_factor,
    concentration_unit,
    is_surface,
    molecules_per_unit,
    resolve_where,
)
from .recording.results import RecordedSeries, Results
from .recording.xdmf import mesh_layout
from .solvers.base import Runtime
from .solvers.efield import EFieldMethods, wrap_efield
from .solvers.registry import canonical_solver_name, get_solver_class
from .units import AVOGADRO, rate_dims, to_si

__all__ = ["Simulation", "Recorder"]

_MAX_SAMPLES = 10**8  # samples one recorder may take in one run call (1e-300 s steps would exhaust memory)


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
    unit: str = "molecules"
    next_index: int = 0
    positions: np.ndarray | None = None  # MPI: output column of each local pool (per_element)
    n_total: int | None = None  # MPI: elements of the whole selection (per_element width)
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


def _quantity(probe) -> str:
    """What a probe measures: "count", "conc", "amount", or its own ``quantity`` (extent, potential...)."""
    own = getattr(probe, "quantity", None)
    if own:
        return own
    return "conc" if isinstance(probe, Conc) else "amount" if isinstance(probe, Amount) else "count"


def _identical_replicates(states: np.ndarray) -> np.ndarray:
    """For each replicate, the first replicate whose state equals its own (itself if none)."""
    first = np.arange(states.shape[0])
    seen: dict[bytes, int] = {}
    for r in range(states.shape[0]):
        first[r] = seen.setdefault(states[r].tobytes(), r)
    return first


@check_keywords
class Simulation(DataAccessMixin, CheckpointMixin, EFieldMethods):
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
        ``None`` (a bar on a terminal, else milestone lines to the ``tetrasim.progress`` logger),
        ``True``, ``False``, ``"bar"``, ``"lines"`` or ``"log"``; see :mod:`tetrasim.progress`.
    backend
        ``"serial"`` (one process) or ``"mpi"`` (the mesh split over MPI ranks, ``opsplit`` only;
        see docs/concepts/parallel.md). ``None``: ``"mpi"`` under ``mpiexec`` with more than one rank.
    partition
        MPI only: one rank per tet, instead of the METIS partition.
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

    def __new__(cls, *args, backend=None, **kwargs):
        # backend="mpi" (or mpiexec with > 1 rank) gives the distributed subclass
        subclass = simulation_class(resolve_backend_name(backend)) if cls is Simulation else None
        return super().__new__(subclass or cls)

    def __init__(self, model, geometry, solver: str = "ssa", seed: int | None = None, progress=None,
                 backend=None, partition=None, efield_dt=None, **options):
        if partition is not None:
            raise SimulationError("partition= splits a mesh over MPI ranks: pass backend='mpi' too")
        self.backend = SerialBackend()
        refuse_part_of_split_mesh(geometry)
        self.solver_name = canonical_solver_name(solver)
        is_mesh = getattr(geometry, "is_mesh", False) or hasattr(geometry, "mesh")
        if self.solver_name.startswith("wm-") and is_mesh:
            raise CapabilityError(f"solver {solver!r} is well-mixed; on a mesh use 'ssa', 'opsplit' or 'ode'")
        solver_class = get_solver_class(self.solver_name)
        # a misspelt keyword (sed=1) must not vanish into the solver options
        solver_class.check_options(options, ("model", "geometry", "solver", "seed", "progress", "backend",
                                             "partition", "efield_dt"))
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
        self._diffusion = DiffusionControl(c)  # diffusion boundaries: open/closed and D, per species
        self._options = dict(options)  # kept for checkpoints
        if efield_dt is not None:
            self._options["efield_dt"] = efield_dt
        # the membrane potential (solvers/efield.py) wraps the chemistry solver when the geometry has one
        self.solver = wrap_efield(solver_class(c, self.runtime, **options), c, efield_dt)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = seed_value(seed, SimulationError)
        progress_mode(progress)  # a bad setting fails here, not at the first run
        self.progress = progress
        self.label = None  # a name for progress reports, e.g. "FRAP d0" (tetrasim.progress)
        self._template = np.zeros(c.n_pools, dtype=self.solver.state_dtype)
        self._states: np.ndarray | None = None
        self._run_states: list | None = None
        self.time = 0.0
        self._recorders: dict[str, Recorder] = {}
        self._placements = 0  # set_count calls so far: keys their random placement
        self._initial_log = InitialStateLog()  # setters before the replicates exist, replayed per replicate
        self._auto_checkpoint = None

    # ------------------------------------------------------------------ locations
    def _select(self, where, species) -> tuple[np.ndarray, np.ndarray, int]:
        c = self.compiled
        species_index = c.species_index(species)
        elements, _kind = resolve_where(c, self.geometry, where)
        absent = ~c.present[elements, species_index]
        if np.all(absent):
            raise SimulationError(
                f"species {str(species)!r} is not in {_where_text(where)!r}: no system placed there uses it"
            )
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
            try:
                self._states = np.repeat(self._template[None, :], n, axis=0)
            except MemoryError:
                raise SimulationError(f"{n} runs of {len(self._template)} pools do not fit in memory; "
                                      "use fewer runs per simulation") from None
            if self._initial_log.has_placements:  # each replicate places its molecules anew
                for r in range(1, n):
                    self._initial_log.replay(self._states[r], self.seed, r)
            self._run_states = self.solver.new_runs(self.seed, n)
        elif self._states.shape[0] != n:
            raise SimulationError(
                f"this simulation holds {self._states.shape[0]} runs, not {n}; call sim.reset() to start over"
            )

    def _apply(self, pools, values) -> None:
        """Write per-pool values (shape (n,) or (runs, n)) into the template and every replicate."""
        values = np.asarray(values)
        if values.ndim == 2 and self._states is None:
            self._ensure_runs(values.shape[0])  # one value per replicate: the replicates exist from now on
        if values.ndim == 1:
            self._template[pools] = values
            self._initial_log.add_values(pools, values)  # replayed over each new replicate's placements
        if self._states is not None:
            self._states[:, pools] = values
        self.solver.parameters_changed()

    def _unpack(self, values: np.ndarray, per_element: bool, keep_runs=None):
        """Getter result: scalar per replicate, or per element; the run axis only when runs > 1.

        ``keep_runs=True`` always keeps the run axis (shape (runs,) or (runs, elements)), like
        :class:`Results`. The default drops it for a single run; per element that is deprecated.
        """
        data = values if per_element else values.sum(axis=1)
        if keep_runs:
            return data
        if keep_runs is None and per_element and data.shape[0] == 1:
            warnings.warn("per-element getters will keep the run axis (shape (runs, elements)) like Results; "
                          "pass keep_runs=True for that now, or keep_runs=False to keep dropping it",
                          FutureWarning, stacklevel=3)
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
        per_element = flag(per_element, "set_count(per_element=...)", SimulationError)
        elements, pools, _ = self._select(where, species)
        integer = np.issubdtype(self.solver.state_dtype, np.integer)
        if per_element:
            values = _as_float_array(count, f"set_count of {species!r} in {_where_text(where)!r}")
            if values.ndim == 0 or values.shape[-1] != len(elements) or values.ndim > 2:
                raise SimulationError(
                    f"set_count(per_element=True) for {_where_text(where)!r} needs "
                    f"{len(elements)} values (or (runs, {len(elements)})), got shape {values.shape}"
                )
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
        # Random placement in proportion to volume (multinomial), one stream per set_count call and
        # replicate (see placement.py); before the first run it is logged and redone per replicate.
        self._placements += 1
        n = int(round(total))
        if self._states is None:
            self._template[pools] = place(n, weights, placement_stream(self.seed, self._placements, 0))
            self._initial_log.add_placement(pools, weights, n, self._placements)
            self.solver.parameters_changed()
        else:
            per_run = np.stack([place(n, weights, placement_stream(self.seed, self._placements, r))
                                for r in range(self.n_runs)])
            self._apply(pools, per_run)

    def _check_counts(self, values, species, where, integer: bool) -> None:
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise SimulationError(f"count of {species!r} in {_where_text(where)!r} must be finite and >= 0")
        if integer and np.any(np.abs(values - np.round(values)) > 1e-9):
            raise SimulationError(f"stochastic solver {self.solver_name!r} needs whole molecule counts for "
                                  f"{species!r}; use set_conc for concentrations")
        if integer and np.any(values > 2**62):
            raise SimulationError(f"count of {species!r} is too large for a stochastic solver")

    def get_count(self, where, species, per_element: bool = False, *, keep_runs=None):
        """Molecules of ``species`` in ``where``.

        One value per replicate when runs > 1, or always with ``keep_runs=True``.
        """
        per_element = flag(per_element, "get_count(per_element=...)", SimulationError)
        _, pools, _ = self._select(where, species)
        return self._unpack(self._states_view()[:, pools], per_element, keep_runs)

    def set_conc(self, where, species, conc, per_element: bool = False) -> None:
        """Set the concentration of ``species`` in ``where``: M (or a quantity like ``ts.Q('25 uM')``) in a
        compartment, mol/m² (or ``ts.Q('1e-9 mol/m^2')``) on a patch."""
        per_element = flag(per_element, "set_conc(per_element=...)", SimulationError)
        elements, pools, _ = self._select(where, species)
        factor = molecules_per_unit(self.compiled, elements)
        dims = "surface concentration" if is_surface(self.compiled, elements) else "concentration"
        if per_element:
            values = np.asarray([to_si(v, dims, f"concentration of {species}")
                                 for v in np.ravel(conc)]).reshape(np.shape(conc))
            if values.ndim not in (1, 2) or values.shape[-1] != len(elements):
                raise SimulationError(f"set_conc(per_element=True) for {_where_text(where)!r} needs "
                                      f"{len(elements)} values (or (runs, {len(elements)})), "
                                      f"got shape {values.shape}")
            for value in np.unique(values):
                warn_concentration(value, dims, f"concentration of {species} in {_where_text(where)}")
            values = values * factor
            if np.issubdtype(self.solver.state_dtype, np.integer):
                values = np.round(values)
            self.set_count(where, species, values, per_element=True)
            return
        value = to_si(conc, dims, f"concentration of {species}")
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"concentration of {species!r} must be finite and >= 0, got {conc!r}")
        warn_concentration(value, dims, f"concentration of {species} in {_where_text(where)}")
        total = value * factor.sum()
        if np.issubdtype(self.solver.state_dtype, np.integer):
            total = round(total)
        self.set_count(where, species, total)

    def get_conc(self, where, species, per_element: bool = False, *, keep_runs=None):
        """Concentration of ``species`` in ``where``: M in a compartment, mol/m² on a patch
        (``keep_runs`` as in
        :meth:`get_count`)."""
        per_element = flag(per_element, "get_conc(per_element=...)", SimulationError)
        elements, pools, _ = self._select(where, species)
        counts = self._states_view()[:, pools].astype(np.float64)
        capacity = molecules_per_unit(self.compiled, elements)
        if per_element:
            return self._unpack(counts / capacity, True, keep_runs)
        data = counts.sum(axis=1) / capacity.sum()
        return data if keep_runs else (data[0].item() if data.shape[0] == 1 else data)

    def set_clamped(self, where, species, clamped: bool = True) -> None:
        """Hold the count of ``species`` in ``where`` fixed (sources and sinks)."""
        clamped = flag(clamped, "set_clamped(..., clamped)", SimulationError)
        _, pools, _ = self._select(where, species)
        self.runtime.clamped[pools] = clamped
        self.solver.parameters_changed()

    # ------------------------------------------------------------------ parameters
    def set_rate(self, reaction: str, k, backward: bool = False) -> None:
        """Change the macroscopic rate constant of a reaction (STEPS units) from now on."""
        c = self.compiled
        if not isinstance(reaction, str):
            raise ModelError(f"set_rate takes a reaction name (a string such as 'binding'), got {reaction!r}")
        backward = flag(backward, "set_rate(backward=...)", SimulationError)
        if reaction.endswith("#back"):  # a rule name selects that direction
            rules = [i for i in c.rule_indices(reaction) if c.reaction_rules[i].name == reaction]
        else:
            rules = [i for i in c.rule_indices(reaction) if c.reaction_rules[i].backward == backward]
        if not rules:
            raise SimulationError(
                f"reaction {reaction!r} has no {'backward' if backward else 'forward'} direction"
            )
        first = c.reaction_rules[rules[0]]
        value = float(to_si(k, rate_dims(first.order, first.surface_only), f"rate of {reaction}"))
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"rate constant of {reaction!r} must be finite and >= 0, got {k!r}")
        mask = np.isin(c.rx_rule, rules)
        efield = c.extra.get("efield")
        if efield is not None and np.isin(np.flatnonzero(mask), efield.vdep_process).any():
            raise SimulationError(
                f"reaction {reaction!r} is voltage-dependent: every EField step takes its rate from its "
                "table at the membrane potential, so set_rate would be overwritten; build the model with the "
                "rate you want (a rate function of V with that factor), or a voltage-independent reaction")
        for i in rules:
            self._rule_k[i] = value
        self.runtime.rx_rate[mask] = c.rx_scale[mask] * value
        self.solver.parameters_changed()

    def get_rate(self, reaction: str, backward: bool = False) -> float:
        c = self.compiled
        backward = flag(backward, "get_rate(backward=...)", SimulationError)
        for i in c.rule_indices(reaction):
            if c.reaction_rules[i].backward == backward:
                return float(self._rule_k[i])
        raise SimulationError(
            f"reaction {reaction!r} has no {'backward' if backward else 'forward'} direction"
        )

    def set_diffusion_coefficient(self, species, coefficient, where: str | None = None) -> None:
        """Change the diffusion coefficient (m²/s) of ``species`` in compartment/patch ``where``
        (``None``: everywhere)."""
        c = self.compiled
        if where is not None and not isinstance(where, str):
            raise SimulationError("set_diffusion_coefficient(where=...) takes a compartment or patch name, "
                                  f"got {where!r}")
        value = to_si(coefficient, "diffusion coefficient", f"diffusion coefficient of {species}")
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"diffusion coefficient of {species!r} must be finite and >= 0")
        warn_diffusion_coefficient(value, f"diffusion coefficient of {species}")
        rules = [i for i, r in enumerate(c.diffusion_rules)
                 if r.species == str(species) and (where is None or r.location == where)]
        if not rules:
            known = sorted({r.species for r in c.diffusion_rules})
            raise SimulationError(f"{str(species)!r} does not diffuse{' in ' + repr(where) if where else ''}"
                                  f"{did_you_mean(str(species), known)}")
        self._diffusion_coefficient[rules] = value
        refresh_diffusion_rates(self)  # boundaries keep their own state (diffusion_control.py)

    # ------------------------------------------------------------------ recording
    def record(self, probe: Count, every: float, name: str | None = None) -> Recorder:
        """Sample ``probe`` every ``every`` seconds from the current time on; returns the handle."""
        # ts.Potential / ts.Current: the membrane potential's probes
        efield_probe = getattr(probe, "quantity", None) in ("potential", "current")
        if not isinstance(probe, (Count, Extent)) and not efield_probe:
            raise SimulationError(
                "record() takes ts.Count(...), ts.Conc(...), ts.Amount(...), ts.Extent(...), "
                f"ts.Potential(...) or ts.Current(...), got {probe!r}"
            )
        every = float(to_si(every, "time", "every"))
        if not (math.isfinite(every) and every > 0):
            raise SimulationError(f"record(every=...) must be a positive time, got {every!r}")
        if self._states is not None and self.time > 0:
            raise SimulationError("add recorders before the first run (or call sim.reset())")
        if efield_probe:
            elements, pools = self._efield_probe_pools(probe)
        elif isinstance(probe, Extent):
            elements, pools = self._extent_columns(probe.reaction, probe.where)
        else:
            elements, pools, _ = self._select(probe.where, probe.species)
        if name is not None and not isinstance(name, str):
            raise SimulationError(f"record(name=...) must be a string, got {name!r}")
        quantity = _quantity(probe)
        name = name or f"{quantity}_{probe.species}_" \
                       f"{_where_text(probe.where) if probe.where is not None else 'all'}"
        name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
        base, i = name, 1
        while name in self._recorders:
            i += 1
            name = f"{base}_{i}"
        factor = concentration_factor(self.compiled, elements) if isinstance(probe, Conc) else None
        unit = concentration_unit(self.compiled, elements) if isinstance(probe, Conc) else probe.unit
        recorder = Recorder(name, probe, every, elements, pools, factor, _where_text(probe.where), unit)
        self._recorders[name] = recorder
        return recorder

    def _new_times(self, recorder: Recorder, t_end: float) -> np.ndarray:
        last = math.floor(t_end / recorder.every * (1 + 1e-12) + 1e-9)
        if last - recorder.next_index > _MAX_SAMPLES:
            samples = last - recorder.next_index + 1
            raise SimulationError(f"recorder {recorder.name!r} would take {samples:.3g} samples "
                                  f"(every={recorder.every:g} s up to {t_end:g} s); record less often "
                                  "(at most "
                                  f"{_MAX_SAMPLES:.0e} samples per run call)")
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
        self._template[self.compiled.n_pools:] = 0  # reaction extents, when counted
        for recorder in self._recorders.values():
            recorder.next_index = 0
            recorder.chunks.clear()
            recorder.time_chunks.clear()

    def run(self, t_end, runs: int | None = None, progress=None) -> Results:
        """Advance every replicate to absolute time ``t_end`` and return all results so far."""
        progress = None if progress is None else flag(progress, "run(progress=...)", SimulationError)
        t_end = float(to_si(t_end, "time", "t_end"))
        if self._auto_checkpoint is not None and not self._auto_checkpoint.busy:
            return self._auto_checkpoint.run(
                self, t_end, runs, progress
            )  # segments + a checkpoint after each
        if not math.isfinite(t_end) or t_end < self.time:
            raise SimulationError(f"run({t_end!r}): the end time must be >= the current time {self.time}")
        if runs is not None and (not isinstance(runs, (int, np.integer)) or runs < 1):
            raise SimulationError(f"runs must be a positive integer, got {runs!r}")
        if self._states is None:
            self._ensure_runs(int(runs or 1))
        elif runs is not None and runs != self._states.shape[0]:
            raise SimulationError(
                f"this simulation holds {self._states.shape[0]} runs; call sim.reset() to start "
                f"over with {runs}"
            )
        recorders = list(self._recorders.values())
        new_times = [self._new_times(r, t_end) for r in recorders]
        union_times = np.unique(np.concatenate(new_times)) if recorders else np.zeros(0)
        # Each recorder owns output columns: one (a sum over its elements) or one per element.
        # Solvers add counts[record_pools[j]] into column record_columns[j], so a sum over a big
        # region costs one column, not one per element.
        pools, columns, widths = [], [], []
        offset = 0
        for r in recorders:
            width = (len(r.pools) if r.n_total is None else r.n_total) if r.probe.per_element else 1
            pools.append(r.pools)
            per_element = np.arange(width) if r.positions is None else r.positions
            columns.append(
                offset + (per_element if r.probe.per_element else np.zeros(len(r.pools), np.int64))
            )
            widths.append((offset, width))
            offset += width
        record_pools = np.concatenate(pools).astype(np.int64) if pools else np.zeros(0, np.int64)
        record_columns = np.concatenate(columns).astype(np.int64) if columns else np.zeros(0, np.int64)
        n_runs = self._states.shape[0]
        try:
            raw = np.zeros((n_runs, len(union_times), offset),
                           dtype=getattr(self.solver, "record_dtype", self.solver.state_dtype))
        except MemoryError:
            raise SimulationError(f"the recorders' {len(union_times)} samples x {offset} columns x {n_runs} "
                                  "runs do not fit in memory; record less often or fewer elements") from None
        bar = self._progress_bar(progress, n_runs, t_end)
        # a deterministic solver gives identical replicates from identical states: solve each
        # distinct state once and copy (issue: runs=3 with ode must not cost 3 solves)
        same_as = _identical_replicates(self._states) if not self.solver.stochastic else np.arange(n_runs)
        try:
            for r in range(n_runs):
                counts = self._states[r]
                if same_as[r] != r:
                    counts[:] = self._states[same_as[r]]
                    raw[r] = raw[same_as[r]]
                    continue
                t0 = self.time

                def report(t, r=r, t0=t0):
                    if bar is not None:
                        bar.update(r * (t_end - self.time) + (t - t0))

                self.solver.advance(
                    self._run_states[r],
                    counts,
                    t0,
                    t_end,
                    union_times,
                    record_pools,
                    record_columns,
                    raw[r],
                    report if bar is not None else None,
                )
        finally:
            if bar is not None:
                bar.close()
        raw = self._combine_ranks(raw)
        for recorder, times, (start, width) in zip(recorders, new_times, widths, strict=True):
            rows = np.searchsorted(union_times, times)
            data = raw[:, rows, start:start + width]
            recorder.time_chunks.append(times)
            recorder.chunks.append(self._reduce(recorder, data))
            recorder.next_index += len(times)
        self.time = t_end
        return self.results

    def _combine_ranks(self, raw: np.ndarray) -> np.ndarray:
        """Recorded samples of every process (one process: these)."""
        return raw

    def _reduce(self, recorder: Recorder, data: np.ndarray) -> np.ndarray:
        """(runs, times, columns) of summed counts -> the recorder's quantity."""
        if isinstance(recorder.probe, Conc):
            data = data.astype(np.float64)
            if recorder.probe.per_element:
                return data * recorder.factor
            return data[:, :, 0] / molecules_per_unit(self.compiled, recorder.elements).sum()
        if isinstance(recorder.probe, Amount):
            data = data.astype(np.float64) / AVOGADRO
            return data if recorder.probe.per_element else data[:, :, 0]
        return data if recorder.probe.per_element else data[:, :, 0]

    def _progress_bar(self, progress, n_runs: int, t_end: float):
        """A :class:`tetrasim.progress.Progress` for this run, or None (see that module for the modes)."""
        mode = progress_mode(self.progress if progress is None else progress)
        if mode == "off" or t_end <= self.time:
            return None
        what = describe_run(self.geometry, self.solver_name, n_runs, self.label)
        return Progress(mode, n_runs * (t_end - self.time), f"{what}, t {self.time:g} -> {t_end:g} s")

    @property
    def results(self) -> Results:
        """Everything recorded since time 0."""
        from ._version import __version__

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
                name=name, quantity=_quantity(r.probe), species=r.probe.species,
                where=r.where_text, unit=r.unit, times=times, data=data,
                elements=r.elements if r.probe.per_element else None)
        return Results(series, self.seed, self.solver_name, self.compiled.model_hash, __version__, n_runs,
                       meta={"t_end": self.time}, layout=mesh_layout(self.compiled, self.geometry))

    def __repr__(self) -> str:
        return (f"Simulation(solver={self.solver_name!r}, seed={self.seed}, time={self.time}, "
                f"runs={self.n_runs}, recorders={list(self._recorders)})")
