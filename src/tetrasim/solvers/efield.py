"""The EField coupling loop: membrane potential around an ``ssa``, ``opsplit`` or ``ode`` solver.

Each EField step of length ``efield_dt`` (docs/concepts/efield.md):

1. voltage-dependent rates are set from their tables at the triangle potentials (mean of the
   three vertex potentials) predicted for the middle of the step, ``V + (h/2)·dV/dt`` with the
   slope of the previous step (the gating sees the mid-step potential, as in NEURON's
   staggered scheme);
2. the chemistry advances by the step with those rates frozen;
3. membrane currents of the step: ohmic currents from the open-channel occupancy (mean of
   the counts at the start and end of the step), implicit in the potential (linearised:
   ``g·(V_start − E)`` plus ``g·ΔV``, the conductance lumped a third to each corner), GHK
   currents from the ion events counted during the step (each carries ``z·e``);
4. a θ-step for the vertex potentials,
   ``(C/dt + θ(K + G_leak + G_open)) ΔV = I_clamp − I_membrane − K V − G_leak (V − E_leak)``,
   clamped vertices being fixed rows: Crank–Nicolson (θ = 1/2, second order with the
   mid-step rates and the trapezoid occupancy) for ``ode``, backward Euler (θ = 1, which damps
   the kicks of single channel events in the stiff modes) for ``ssa`` and ``opsplit``; rows
   without capacitance are constraints held at the end of the step. The sparse LU of
   ``C/dt + θ(K + G_leak)`` is kept while dt and the matrix stay; the changing ``G_open``
   diagonal is taken by conjugate gradients
   preconditioned with that factor (usually one or two iterations; the step's own matrix is
   factorised when they do not converge).

:class:`EFieldSolver` wraps the chemistry solver and keeps its contract, so the facade runs
it like any solver. :class:`EFieldMethods` holds the Simulation calls (``set_potential``...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from ..arguments import check_keywords
from ..errors import CapabilityError, SimulationError, did_you_mean
from ..kernels.efield import (
    gather_open,
    ghk_currents,
    ohmic_currents,
    refresh_vdep_rates,
    rk23_chemistry,
    triangle_potentials,
    vertex_conductance,
)
from ..recording.efield_probes import Potential, Vert, Verts
from ..recording.probes import ROI, Tri
from ..units import to_si
from .base import Solver

__all__ = ["EFieldSolver", "EFieldMethods", "wrap_efield", "DEFAULT_EFIELD_DT"]

DEFAULT_EFIELD_DT = 1e-5  # s
_MAX_RK_SUBSTEPS = 200  # explicit substeps per EField step before the ode chemistry falls back to BDF
_SWEEP_TOLERANCE = 1e-2  # relative change of ΔV that ends the open-channel iterations
_MAX_SWEEPS = 30  # iterations on the kept LU before the step's own matrix is factorised
_EMPTY_TIMES = np.zeros(0)
_EMPTY_INDEX = np.zeros(0, np.int64)


@dataclass
class EFieldRun:
    """Per-replicate state: the chemistry solver's, the vertex potentials and the last currents."""

    inner: object
    potential: np.ndarray  # (n_vertices,) V
    tri_current: np.ndarray  # (n_currents, n_tris) A outward, over the last step
    slope: np.ndarray | None = None  # (n_vertices,) V/s over the last step (None: none yet)
    substep: float = 0.0  # ode chemistry: last accepted explicit substep
    extra: dict = field(default_factory=dict)


def wrap_efield(solver, compiled, efield_dt):
    """The chemistry ``solver`` wrapped in an EField loop when the geometry has a membrane."""
    system = compiled.extra.get("efield")
    if system is None:
        if efield_dt is not None:
            raise SimulationError("efield_dt= was given but the geometry has no membrane; add one with "
                                  "geom.membrane('memb', patches=[...]) or drop efield_dt")
        return solver
    if solver.name not in ("ssa", "opsplit", "ode"):
        raise CapabilityError(
            f"the membrane potential runs with 'ssa', 'opsplit' or 'ode', not {solver.name!r}"
        )
    return EFieldSolver(solver, DEFAULT_EFIELD_DT if efield_dt is None else efield_dt)


class EFieldSolver(Solver):
    """Membrane potential (vertex-based EField) coupled to the chemistry solver ``inner``."""

    record_dtype = np.float64  # recorded potentials and currents are not counts
    needs_mesh = True

    def __init__(self, inner, efield_dt):
        super().__init__(inner.compiled, inner.runtime)
        self.inner = inner
        self.name = inner.name
        self.state_dtype = inner.state_dtype
        self.stochastic = inner.stochastic
        try:
            dt = float(to_si(efield_dt, "time", "efield_dt"))
        except TypeError:
            raise SimulationError(f"efield_dt must be a time in s, got {efield_dt!r}") from None
        if not (math.isfinite(dt) and dt > 0):
            raise SimulationError(f"efield_dt must be a positive time (s), got {efield_dt!r}")
        self.dt = dt
        # Crank–Nicolson for deterministic channels; backward Euler (L-stable) for stochastic ones
        self.theta = 0.5 if inner.name == "ode" else 1.0
        system = self.compiled.extra["efield"]
        self.system = system
        n = system.n_vertices
        self.initial_potential = np.zeros(n)
        self.leak_conductance = np.zeros(n)  # S per vertex
        self.leak_current_source = np.zeros(n)  # G_leak · E_leak (A)
        self.clamp_current = np.zeros(n)  # A into the cell
        self.clamped = np.zeros(n, dtype=bool)
        self._factors: dict[float, object] = {}
        self._matrices: dict[float, scipy.sparse.csr_matrix] = {}  # the factorised matrices
        self._rx_scale = np.ascontiguousarray(self.compiled.rx_scale, dtype=np.float64)
        self._tri_potential = np.zeros(system.n_tris)
        self._open_start = np.zeros(system.ohmic_pool.shape)
        self._open_conductance = np.zeros(n)  # S per vertex over the step
        self._midpoint = np.zeros(n)
        self._quantities: list[tuple[np.ndarray, np.ndarray]] = []  # rows over [V, I_flat]
        self._probe_matrix = None
        self._work = None  # ode chemistry scratch
        self._y_start = None
        self.seconds = {"chemistry": 0.0, "efield": 0.0}
        self.events = 0

    # ------------------------------------------------------------------ contract
    def new_runs(self, seed, n_runs):
        inner = self.inner.new_runs(seed, n_runs)
        n_currents = len(self.system.current_names)
        return [EFieldRun(state, self.initial_potential.copy(), np.zeros((n_currents, self.system.n_tris)))
                for state in inner]

    def parameters_changed(self) -> None:
        self.inner.parameters_changed()

    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        import time

        n_pools = self.compiled.n_pools
        record_pools = np.asarray(record_pools, dtype=np.int64)
        real = record_pools < n_pools
        real_pools, real_columns = record_pools[real], np.asarray(record_columns)[real]
        virtual_rows, virtual_columns = record_pools[~real] - n_pools, np.asarray(record_columns)[~real]
        matrix = self._probe_rows()

        def sample(k):
            if len(real_pools):
                np.add.at(out[k], real_columns, counts[real_pools])
            if len(virtual_rows):
                vector = np.concatenate([run_state.potential, run_state.tri_current.ravel()])
                np.add.at(out[k], virtual_columns, (matrix @ vector)[virtual_rows])

        t, k = float(t_start), 0
        n_records = len(record_times)
        eps = 1e-12 * max(1.0, abs(t_end))
        while k < n_records and record_times[k] <= t + eps:
            sample(k)
            k += 1
        while t < t_end - eps:
            target = t + self.dt
            t_next = min(target, t_end, float(record_times[k]) if k < n_records else math.inf)
            if target - t_next < 1e-9 * self.dt:
                t_next = target  # round-off: a record time or t_end one ulp before the full step
            h = t_next - t
            start = time.perf_counter()
            self._refresh_rates(self._mid_step_potential(run_state, h))
            gather_open(counts, self.system.ohmic_pool, self._open_start)
            self._chemistry(run_state, counts, t, t_next)
            middle = time.perf_counter()
            self._potential_step(run_state, counts, h)
            self.seconds["chemistry"] += middle - start
            self.seconds["efield"] += time.perf_counter() - middle
            t = t_next
            while k < n_records and record_times[k] <= t + eps:
                sample(k)
                k += 1
            if progress is not None:
                progress(t)
        while k < n_records:  # record times within round-off of t_end
            sample(k)
            k += 1

    # ------------------------------------------------------------------ one step
    def _mid_step_potential(self, run_state, h) -> np.ndarray:
        """Vertex potentials predicted for the middle of a step of length ``h`` (second order)."""
        if run_state.slope is None:
            return run_state.potential
        np.multiply(run_state.slope, 0.5 * h, out=self._midpoint)
        self._midpoint += run_state.potential
        return self._midpoint

    def _chemistry(self, run_state, counts, t, t_next) -> None:
        if self.inner.name == "ode":
            self._ode_chemistry(run_state, counts, t, t_next)
            return
        self.inner.advance(run_state.inner, counts, t, t_next, _EMPTY_TIMES, _EMPTY_INDEX, _EMPTY_INDEX,
                           np.zeros((0, 0), dtype=self.inner.state_dtype))

    def _ode_chemistry(self, run_state, counts, t, t_next) -> None:
        """Rate equations over one EField step: adaptive Bogacki–Shampine (RK23) substeps.

        Channel kinetics are not stiff on the scale of an EField step, so a few explicit
        substeps (a numba kernel) beat restarting an implicit integrator every step. When the
        chemistry is stiff (more than 200 substeps), the step is redone with the ode solver's BDF.
        """
        inner, c, rt = self.inner, self.compiled, self.runtime
        if c.n_reactions == 0 and c.n_diffusions == 0:
            return
        if self._work is None:
            self._work = np.zeros((6, c.n_pools))
            self._y_start = np.zeros(c.n_pools)
        self._y_start[:] = counts
        atol = inner.atol if inner.atol is not None else inner.default_atol(counts)
        if np.ndim(atol) != 0:
            atol = float(np.min(atol))  # the kernel takes one absolute tolerance
        span = t_next - t
        h = min(run_state.substep or span, span)
        last = rk23_chemistry(
            counts,
            span,
            h,
            inner.rtol,
            float(atol),
            _MAX_RK_SUBSTEPS,
            rt.clamped,
            rt.rx_rate,
            c.rx_reac_ptr,
            c.rx_reac_pool,
            c.rx_reac_count,
            c.rx_upd_ptr,
            c.rx_upd_pool,
            c.rx_upd_delta,
            c.df_pool,
            c.df_ptr,
            c.df_dest,
            rt.df_rate,
            self._work,
        )
        if last < 0:  # stiff chemistry: the implicit solver takes this step
            counts[:] = self._y_start
            inner.advance(None, counts, t, t_next, _EMPTY_TIMES, _EMPTY_INDEX, _EMPTY_INDEX, np.zeros((0, 0)))
            return
        run_state.substep = last

    def _potential_step(self, run_state, counts, h) -> None:
        s = self.system
        triangle_potentials(run_state.potential, s.tri_vertices, self._tri_potential)
        n_ohmic = s.ohmic_pool.shape[0]
        currents = run_state.tri_current
        if n_ohmic:
            ohmic_currents(counts, self._open_start, self._tri_potential, s.ohmic_pool, s.ohmic_conductance,
                           s.ohmic_reversal, currents[:n_ohmic])
        if s.ghk_in_pool.shape[0]:
            ghk_currents(counts, s.ghk_in_pool, s.ghk_out_pool, s.ghk_charge, h, currents[n_ohmic:])
        outward = s.tri_to_vertex @ currents.sum(axis=0) if len(currents) else 0.0
        potential = run_state.potential
        # θ-step on the change: (C/h + θ(K + G + G_open)) dV = I_clamp - I_membrane - K V - G V + G E.
        # K annihilates constants, so K acts on V minus its mean: round-off then scales with the
        # spread of V, not with the resting offset (charge balance to ~1e-14 relative).
        rhs = (self.clamp_current - outward - s.stiffness @ (potential - potential.mean())
               - self.leak_conductance * potential + self.leak_current_source)
        rhs[self.clamped] = 0.0
        if self.theta != 1.0:
            # rows without capacitance (the volume's inner vertices) are constraints, not ODEs: they
            # hold at the end of the step (backward Euler), which is the θ-row scaled by θ (the
            # matrix stays symmetric); a θ = 1/2 constraint would flip sign around its solution
            rhs[self.system.capacitance == 0] *= self.theta
        if n_ohmic:
            vertex_conductance(counts, self._open_start, s.ohmic_pool, s.ohmic_conductance, s.tri_vertices,
                               self._open_conductance)
            self._open_conductance[self.clamped] = 0.0
            self._open_conductance *= self.theta
            change = self._solve_with_open_channels(rhs, h)
        else:
            change = self._factor(h).solve(rhs)
        potential += change
        if run_state.slope is None:
            run_state.slope = np.zeros_like(potential)
        np.divide(change, h, out=run_state.slope)

    def _solve_with_open_channels(self, rhs, h) -> np.ndarray:
        """Solve (A + G_open) x = rhs, A the kept factor's matrix and G_open a diagonal ≥ 0.

        Conjugate gradients preconditioned with the kept LU of A, from x = A⁻¹ rhs. On the free
        vertices A + G_open is symmetric positive definite and the preconditioned matrix has its
        eigenvalues in [1, 1 + ρ], ρ = ρ(A⁻¹G_open) ≤ max(G_open·h/C) and in practice much less
        (the stiffness ties a vertex to its neighbours), so each iteration shrinks the error by
        about ρ/4: one or two iterations. It stops when an update changes x by less than
        ``_SWEEP_TOLERANCE`` of its size (the error left is a small fraction of that: a term of
        second order in dt); this step's own matrix is factorised if it does not converge.
        """
        diagonal = self._open_conductance
        factor = self._factor(h)
        x = factor.solve(rhs)
        if not diagonal.any():
            return x
        matrix = self._matrices[round(h / self.dt, 9)]
        residual = -diagonal * x  # rhs − (A + G) x with A x = rhs
        z = factor.solve(residual)
        direction = z.copy()
        rz = float(residual @ z)
        for _iteration in range(_MAX_SWEEPS):
            q = matrix @ direction + diagonal * direction
            curvature = float(direction @ q)
            if not curvature > 0:  # converged to round-off (or broken down): nothing more to gain
                break
            alpha = rz / curvature
            x += alpha * direction
            if abs(alpha) * float(np.max(np.abs(direction))) <= _SWEEP_TOLERANCE * float(np.max(np.abs(x))):
                return x
            residual -= alpha * q
            z = factor.solve(residual)
            rz_next = float(residual @ z)
            direction = z + (rz_next / rz) * direction
            rz = rz_next
        if np.all(np.isfinite(x)) and _iteration < _MAX_SWEEPS - 1:
            return x
        return self._direct_solve(rhs, h, diagonal)

    def _direct_solve(self, rhs, h, extra_diagonal) -> np.ndarray:
        """This step's full matrix, factorised once (open channels with little capacitance under them)."""
        return self._factorise(h, extra_diagonal)[0].solve(rhs)

    def _factor(self, h):
        """The kept LU of ``C/h + K + G_leak`` (clamped rows as identity rows)."""
        key = round(h / self.dt, 9)
        factor = self._factors.get(key)
        if factor is None:
            factor, matrix = self._factorise(h, 0.0)
            if len(self._factors) >= 8:
                self._factors.clear()
                self._matrices.clear()
            self._factors[key] = factor
            self._matrices[key] = matrix.tocsr()
        return factor

    def _factorise(self, h, extra_diagonal):
        s = self.system
        diagonal = s.capacitance / h + self.theta * self.leak_conductance + extra_diagonal
        # K is singular (constants) and the volume is connected: K + a non-negative diagonal is
        # invertible exactly when the diagonal or a clamp pins the potential somewhere
        message = ("the membrane potential equations are singular: with zero capacitance somewhere and no "
                   "leak (set_membrane_resistivity) or voltage clamp, the potential is not determined; "
                   "give the membrane a capacitance, a resistivity or clamp a vertex")
        if not (np.any(diagonal > 0) or np.any(self.clamped)):
            raise SimulationError(message)
        matrix = (self.theta * s.stiffness + scipy.sparse.diags(diagonal)).tocsr()
        free = scipy.sparse.diags((~self.clamped).astype(np.float64))
        matrix = (free @ matrix + scipy.sparse.diags(self.clamped.astype(np.float64))).tocsc()
        try:
            return scipy.sparse.linalg.splu(matrix), matrix
        except RuntimeError:
            raise SimulationError(message) from None

    def _refresh_rates(self, potential) -> None:
        s = self.system
        if not len(s.vdep_process):
            return
        triangle_potentials(potential, s.tri_vertices, self._tri_potential)
        bad = refresh_vdep_rates(self._tri_potential, s.vdep_process, s.vdep_table, s.vdep_tri, s.vdep_low,
                                 s.vdep_step, s.vdep_size, s.vdep_offset, s.vdep_values, self._rx_scale,
                                 self.runtime.rx_rate)
        if bad >= 0:
            table = int(s.vdep_table[bad])
            value = float(self._tri_potential[s.vdep_tri[bad]])
            low = s.vdep_low[table]
            high = low + s.vdep_step[table] * (s.vdep_size[table] - 1)
            raise SimulationError(
                f"the potential {value:.6g} V of membrane triangle {int(s.tri_ids[s.vdep_tri[bad]])} is"
                f" outside the rate table of voltage-dependent transition {s.vdep_names[table]!r}"
                f" ({low:g}..{high:g} V); widen it with vrange=, or check the currents and efield_dt (an"
                " unstable step blows V up)"
            )
        self.inner.parameters_changed()

    def invalidate(self) -> None:
        """Leak, clamps or capacitance changed: factorisations must be rebuilt."""
        self._factors.clear()
        self._matrices.clear()

    # ------------------------------------------------------------------ probes
    def add_quantity(self, columns: np.ndarray, weights: np.ndarray) -> int:
        """Register a linear functional over [V, I_flat]; returns its virtual pool id."""
        self._quantities.append((np.asarray(columns, np.int64), np.asarray(weights, np.float64)))
        self._probe_matrix = None
        return self.compiled.n_pools + len(self._quantities) - 1

    def _probe_rows(self):
        if self._probe_matrix is None:
            s = self.system
            width = s.n_vertices + len(s.current_names) * s.n_tris
            rows = [np.full(len(c), q) for q, (c, _) in enumerate(self._quantities)]
            cols = [c for c, _ in self._quantities]
            vals = [w for _, w in self._quantities]

            def cat(parts, dtype):
                return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

            self._probe_matrix = scipy.sparse.csr_matrix(
                (cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
                shape=(len(self._quantities), width))
        return self._probe_matrix


# ---------------------------------------------------------------------- locations
def _efield(sim) -> EFieldSolver:
    solver = sim.solver
    if not isinstance(solver, EFieldSolver):
        raise SimulationError(
            "this simulation has no membrane potential: add geom.membrane(...) to the geometry"
        )
    return solver


def _local_vertices(solver: EFieldSolver, mesh_ids, what: str) -> np.ndarray:
    s = solver.system
    ids = np.atleast_1d(np.asarray(mesh_ids, dtype=np.int64))
    position = np.searchsorted(s.vertex_ids, ids)
    position = np.minimum(position, len(s.vertex_ids) - 1)
    bad = s.vertex_ids[position] != ids
    if np.any(bad):
        raise SimulationError(f"{what}: vertices {ids[bad][:5].tolist()} are not in the conducting volume of "
                              f"membrane {s.membrane!r}")
    return position


def _membrane_tris(sim, solver: EFieldSolver, where, what: str) -> np.ndarray | None:
    """Positions (membrane-triangle numbers) selected by ``where``, or None when it names no triangles."""
    s = solver.system
    if isinstance(where, str) and where == s.membrane:
        return np.arange(s.n_tris)
    patches = getattr(sim.geometry, "patches", {})
    if isinstance(where, str) and where in patches:
        ids = np.asarray(patches[where].tris, np.int64)
    elif isinstance(where, Tri):
        ids = np.atleast_1d(np.asarray(where.index, np.int64))
    elif isinstance(where, ROI) and getattr(sim.geometry, "rois", {}).get(where.name) is not None \
            and sim.geometry.rois[where.name].kind == "tris":
        ids = np.asarray(sim.geometry.rois[where.name].indices, np.int64)
    else:
        return None
    lookup = {int(t): k for k, t in enumerate(s.tri_ids)}
    missing = [int(i) for i in ids if int(i) not in lookup]
    if missing:
        raise SimulationError(f"{what}: triangles {missing[:5]} are not on membrane {s.membrane!r}")
    return np.array([lookup[int(i)] for i in ids], np.int64)


def _where_vertices(sim, solver: EFieldSolver, where, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Local vertices and weights (summing to 1) of ``where``: equal per vertex, area-weighted for
    triangles."""
    s = solver.system
    if where is None:
        where = s.membrane
    if isinstance(where, Vert):
        return _local_vertices(solver, [where.index], what), np.ones(1)
    if isinstance(where, Verts):
        local = _local_vertices(solver, where.indices, what)
        return local, np.full(len(local), 1.0 / len(local))
    if isinstance(where, str) and where == s.membrane:
        return np.arange(s.n_vertices), np.full(s.n_vertices, 1.0 / s.n_vertices)
    rois = getattr(sim.geometry, "rois", {}) or {}
    if isinstance(where, (ROI, str)) and getattr(where, "name", where) in rois:
        roi = rois[getattr(where, "name", where)]
        if roi.kind == "vertices":
            local = _local_vertices(solver, roi.indices, what)
            return local, np.full(len(local), 1.0 / len(local))
        if roi.kind == "tets":
            local = _local_vertices(solver, np.unique(sim.geometry.mesh.tets[roi.indices]), what)
            return local, np.full(len(local), 1.0 / len(local))
        where = ROI(roi.name)
    tris = _membrane_tris(sim, solver, where, what)
    if tris is None:
        raise SimulationError(f"{what}: cannot use {where!r} as a place on the membrane: give ts.Vert(i), "
                              f"ts.Verts([...]), ts.Tri(i), ts.ROI(name) or the membrane name {s.membrane!r}")
    weights = np.repeat(s.tri_areas[tris] / s.tri_areas[tris].sum() / 3.0, 3)
    vertices = s.tri_vertices[tris].ravel()
    unique, inverse = np.unique(vertices, return_inverse=True)
    return unique, np.bincount(inverse.ravel(), weights=weights)


def _value(value, dims: str, what: str) -> float:
    try:
        number = float(to_si(value, dims, what))
    except TypeError:
        raise SimulationError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise SimulationError(f"{what} must be finite, got {value!r}")
    return number


@check_keywords
class EFieldMethods:
    """Membrane-potential calls of :class:`~tetrasim.Simulation` (need ``geom.membrane``)."""

    def set_potential(self, where, potential) -> None:
        """Set the potential (V) of ``where``: the membrane name (every vertex of its volume),
        ``ts.Vert``/``ts.Verts``, ``ts.Tri`` or an ROI; in every replicate."""
        solver = _efield(self)
        value = _value(potential, "potential", "set_potential")
        vertices, _ = _where_vertices(self, solver, where, "set_potential")
        solver.initial_potential[vertices] = value
        for run in self._run_states or ():
            run.potential[vertices] = value
            run.slope = None  # a set potential starts a new history: no mid-step extrapolation

    def get_potential(self, where=None, per_element: bool = False):
        """Potential (V) of ``where`` (weighted mean, or per vertex); per replicate when runs > 1."""
        solver = _efield(self)
        vertices, weights = _where_vertices(self, solver, where, "get_potential")
        runs = [r.potential for r in self._run_states] if self._run_states else [solver.initial_potential]
        data = np.array([p[vertices] if per_element else float(p[vertices] @ weights) for p in runs])
        return data[0] if len(data) == 1 else data

    def set_membrane_resistivity(self, membrane, resistivity, reversal) -> None:
        """Passive leak of ``membrane``: specific resistance ``resistivity`` (Ω·m²) towards
        ``reversal`` (V)."""
        solver = _efield(self)
        s = solver.system
        if membrane != s.membrane:
            raise SimulationError(
                f"no membrane named {membrane!r}{did_you_mean(str(membrane), [s.membrane])}"
            )
        rm = _value(resistivity, "specific membrane resistance", "set_membrane_resistivity: resistivity")
        if rm <= 0:
            raise SimulationError(f"membrane resistivity must be > 0 Ω·m², got {resistivity!r}")
        e = _value(reversal, "potential", "set_membrane_resistivity: reversal")
        conductance = np.bincount(s.tri_vertices.ravel(), weights=np.repeat(s.tri_areas / (3.0 * rm), 3),
                                  minlength=s.n_vertices)
        solver.leak_conductance[:] = conductance
        solver.leak_current_source[:] = conductance * e
        solver.invalidate()

    def set_current_clamp(self, where, current) -> None:
        """Inject ``current`` (A, positive into the cell) in total into ``where``: split equally over
        ``ts.Vert``/``ts.Verts``, by area over triangles (``ts.Tri``, a patch, the membrane)."""
        solver = _efield(self)
        amps = _value(current, "current", "set_current_clamp")
        vertices, weights = _where_vertices(self, solver, where, "set_current_clamp")
        solver.clamp_current[vertices] = 0.0
        np.add.at(solver.clamp_current, vertices, amps * weights)

    def set_voltage_clamped(self, where, clamped: bool = True) -> None:
        """Hold the potential of ``where``'s vertices at their present value (set it with set_potential)."""
        solver = _efield(self)
        vertices, _ = _where_vertices(self, solver, where, "set_voltage_clamped")
        solver.clamped[vertices] = bool(clamped)
        solver.invalidate()

    def _efield_probe_pools(self, probe) -> tuple[np.ndarray, np.ndarray]:
        """Virtual pools (one per output column) of a Potential or Current probe."""
        solver = _efield(self)
        s = solver.system
        what = f"{type(probe).__name__} probe"
        if isinstance(probe, Potential):
            if isinstance(probe.where, Tri) or (isinstance(probe.where, str) and probe.where != s.membrane) \
                    or (isinstance(probe.where, ROI) and self.geometry.rois[probe.where.name].kind == "tris"):
                tris = _membrane_tris(self, solver, probe.where, what)
                if probe.per_element:
                    pools = [solver.add_quantity(s.tri_vertices[t], np.full(3, 1.0 / 3.0)) for t in tris]
                    return tris, np.array(pools, np.int64)
            vertices, weights = _where_vertices(self, solver, probe.where, what)
            if probe.per_element:
                pools = [solver.add_quantity([v], [1.0]) for v in vertices]
                return vertices, np.array(pools, np.int64)
            return vertices, np.array([solver.add_quantity(vertices, weights)], np.int64)
        if probe.name not in s.current_names:
            raise SimulationError(
                f"no membrane current named {probe.name!r}{did_you_mean(probe.name, s.current_names)}"
            )
        tris = _membrane_tris(self, solver, s.membrane if probe.where is None else probe.where, what)
        if tris is None:
            raise SimulationError(
                f"{what}: give the membrane, a patch, ts.Tri(...) or a triangle ROI as where="
            )
        columns = s.n_vertices + s.current_names.index(probe.name) * s.n_tris + tris
        if probe.per_element:
            return tris, np.array([solver.add_quantity([c], [1.0]) for c in columns], np.int64)
        return tris, np.array([solver.add_quantity(columns, np.ones(len(columns)))], np.int64)
