"""Deterministic solvers: ``wm-ode`` (STEPS Wmrk4) and ``ode`` (STEPS TetODE).

Both integrate the reaction-diffusion rate equations of a :class:`~tetrasim.CompiledSystem`
(see docs/concepts/ode.md): counts are real numbers, reactions follow deterministic mass
action with the same count-based constants as the SSA, diffusion is the same first-order
exchange between neighbouring elements.

Linear systems (reactions of order 0 and 1 only) are solved exactly in time by the ``expm``
method (:mod:`tetrasim.solvers.ode_linear`: a shift-and-invert Krylov space, one LU or a few
BiCGSTAB iterations per basis vector, no time steps). Nonlinear systems use one of SciPy's
``OdeSolver`` classes (the ones behind :func:`scipy.integrate.solve_ivp`), stepped here so that
samples land on the exact record times and progress can be reported. Implicit methods get the
analytic Jacobian as a sparse matrix whose pattern is built once from the compiled CSR arrays.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.integrate
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg

from ..errors import CapabilityError, SimulationError, did_you_mean
from ..kernels.ode import bicgstab_jacobi, jacobian_slots, ode_jacobian, ode_rhs
from .base import Solver
from .ode_continuation import (
    SAVABLE_METHODS,
    Continuation,
    integrator_arrays,
    remember_factored_matrix,
    restore_integrator,
)
from .ode_linear import KrylovExponential, LinearOperator

__all__ = ["ODESolver", "WellMixedODESolver"]

_METHODS = {name.lower(): name
            for name in ("auto", "expm", "BDF", "Radau", "LSODA", "RK45", "RK23", "DOP853")}
_SPARSE_JACOBIAN = {"BDF", "Radau"}
_DENSE_JACOBIAN_LIMIT = 4000  # LSODA works on dense matrices: n^2 doubles
_OPTIONS = ("rtol", "atol", "method", "max_step", "linear_solver")
_LINEAR_SOLVERS = ("auto", "direct", "krylov")
_DIRECT_PROFILE_LIMIT = 1_000_000  # "auto": direct LU while the RCM envelope of the Jacobian stays below this
# expm factors I - gamma A once per segment (not per step), so its LU pays off far longer. It was
# faster than BiCGSTAB at every size measured (Ca cylinder, 2 ms sampled every 25 µs: 291,497
# tets, RCM envelope 1.6e8, 21.9 s against 68.9 s); the limit is on memory: above this envelope
# (an upper bound on the fill; 14.6e6 for 69,020 tets whose LU has 10.9e6 entries) no LU
_EXPM_DIRECT_LIMIT = 300_000_000
_PROGRESS_INTERVAL = 0.2  # seconds of wall time between progress reports
# The facade computes record times as index * every; round-off may put the last one a few
# ulps past t_end. Times within this relative distance of t_end are sampled at t_end.
_END_SLACK = 2e-9
# rtol and atol are targets for the error of every sample (global). SciPy's step controllers bound
# the error of one step (local); over a run the global error of BDF on the kinetics table grows
# to 7-55x the local tolerance (measured at rtol 1e-6 to 1e-8), so their controller gets this
# fraction of the user's tolerances. The expm method estimates the global error itself.
_LOCAL_FRACTION = 0.01


class ODESolver(Solver):
    """Deterministic reaction-diffusion: the rate equations of the compiled system.

    Parameters (passed as ``ts.Simulation(..., rtol=, atol=, method=, max_step=)``)
    ----------
    rtol : float
        Target relative error of every recorded sample (default 1e-6). ``expm`` estimates its
        error and meets it; the SciPy methods bound the local error per step, so their
        controller gets 1/100 of ``rtol`` and ``atol`` (docs/concepts/ode.md §4).
    atol : float or array of shape (n_pools,), optional
        Absolute tolerance in molecules. Default ``0.01 * rtol * max(1, N)`` with ``N`` the
        total number of molecules (all pools) when an integration starts (the first ``run``, or
        the first after a setter): errors far below a molecule in pools that hold almost nothing
        are not worth steps.
    method : str
        ``"auto"`` (default: ``"expm"`` for linear models, else ``"BDF"``), ``"expm"`` (linear
        models only: exact in time), ``"BDF"`` (stiff, sparse Jacobian), ``"Radau"`` (stiff,
        sparse Jacobian), ``"LSODA"`` (dense Jacobian, at most 4000 pools), or the explicit
        ``"RK45"``, ``"RK23"``, ``"DOP853"`` (non-stiff problems only).
    max_step : float
        Largest step (s); default unbounded.
    linear_solver : str
        How BDF/Radau solve their Newton systems ``(I - c J) dx = b``: ``"direct"`` (sparse LU,
        SuperLU), ``"krylov"`` (BiCGSTAB, GMRES as fallback, Jacobi-preconditioned, like the
        CVODE GMRES solver STEPS TetODE uses) or ``"auto"`` (default: direct while the
        envelope of the Jacobian in reverse Cuthill-McKee order, a bound on the LU's fill, is
        below 1e6 entries, as for well-mixed systems, chains and meshes of < ~1000 tets; Krylov
        otherwise: SuperLU on a 3-D mesh fills in badly, 2,564 tets already 30x slower).
        For ``expm``: ``"direct"`` and ``"auto"`` (LU of ``I - gamma A``, factored once) or
        ``"krylov"`` (BiCGSTAB: no factorisation, less memory, slower in every case measured).
    """

    name = "ode"
    state_dtype = np.float64
    stochastic = False
    needs_mesh = False
    accepted_options = _OPTIONS

    def __init__(self, compiled, runtime, **options):
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise CapabilityError(f"solver {self.name!r} has no option {unknown[0]!r}"
                                  f"{did_you_mean(unknown[0], _OPTIONS)}; its options are "
                                  f"{', '.join(_OPTIONS)}")
        super().__init__(compiled, runtime, **options)
        self.rtol = self._positive("rtol", options.get("rtol", 1e-6))
        smallest = 100 * np.finfo(float).eps / _LOCAL_FRACTION
        if self.rtol < smallest:
            raise SimulationError(f"solver {self.name!r}: rtol={self.rtol!r} is below what float64 can "
                                  f"resolve (>= {smallest:.3g})")
        atol = options.get("atol")
        if atol is None:
            self.atol = None
        else:
            atol = np.asarray(atol, dtype=np.float64)
            bad_shape = atol.ndim > 1 or (atol.ndim == 1 and len(atol) != compiled.n_pools)
            if bad_shape or not np.all(np.isfinite(atol)) or np.any(atol <= 0):
                raise SimulationError(f"solver {self.name!r}: atol must be a positive count of molecules "
                                      f"(or one per pool, {compiled.n_pools}), got {options['atol']!r}")
            self.atol = float(atol) if atol.ndim == 0 else atol
        method = str(options.get("method", "auto"))
        if method.lower() not in _METHODS:
            raise CapabilityError(f"solver {self.name!r}: unknown method {method!r}"
                                  f"{did_you_mean(method, list(_METHODS.values()))}; choose one of "
                                  f"{', '.join(_METHODS.values())}")
        self.method = _METHODS[method.lower()]
        process = np.repeat(np.arange(compiled.n_reactions), np.diff(compiled.rx_reac_ptr))
        orders = np.bincount(process, weights=compiled.rx_reac_count, minlength=compiled.n_reactions)
        #: every reaction of order 0 or 1: the rate equations are linear (affine) in the counts
        self.linear = bool(np.all(orders <= 1))
        if self.method == "expm" and not self.linear:
            raise CapabilityError(f"solver {self.name!r}: method 'expm' needs a linear system (reactions "
                                  "of order 0 or 1 only); this model has higher-order reactions: use "
                                  "method='BDF'")
        if self.method == "auto":
            self.method = "expm" if self.linear else "BDF"
        self._exponential = None  # (key, KrylovExponential): the factorisation, reused while valid
        if self.method == "LSODA" and compiled.n_pools > _DENSE_JACOBIAN_LIMIT:
            raise CapabilityError(f"method 'LSODA' needs a dense Jacobian, too large for {compiled.n_pools} "
                                  f"pools (limit {_DENSE_JACOBIAN_LIMIT}); use method='BDF' (sparse)")
        self.max_step = self._positive("max_step", options.get("max_step", math.inf), allow_inf=True)
        linear = str(options.get("linear_solver", "auto")).lower()
        if linear not in _LINEAR_SOLVERS:
            raise CapabilityError(f"solver {self.name!r}: unknown linear_solver "
                                  f"{options['linear_solver']!r}; choose one of {', '.join(_LINEAR_SOLVERS)}")
        self._build_pattern()
        self._linear_option = linear  # "auto" for expm: iterative or LU decided on the first solve
        self._envelope = self.envelope_size() if linear == "auto" else None
        if linear == "auto":
            linear = "direct" if self._envelope <= _DIRECT_PROFILE_LIMIT else "krylov"
        self.linear_solver = linear
        self.stats = {"steps": 0, "nfev": 0, "njev": 0, "nlu": 0}
        self.last_stats = dict(self.stats)
        self.generation = 0  # parameter (or count) changes so far: a kept integrator is void after one

    def _positive(self, option, value, allow_inf=False):
        message = f"solver {self.name!r}: {option} must be a positive number, got {value!r}"
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SimulationError(message) from None
        if not (value > 0 and (math.isfinite(value) or allow_inf)):
            raise SimulationError(message)
        return value

    # ------------------------------------------------------------------ Jacobian pattern
    def _build_pattern(self) -> None:
        """CSC pattern of the Jacobian and the position of each kernel slot in it (structure only)."""
        c = self.compiled
        n = c.n_pools
        rows, cols = jacobian_slots(c.rx_reac_ptr, c.rx_reac_pool, c.rx_upd_ptr, c.rx_upd_pool, c.df_pool,
                                    c.df_ptr, c.df_dest)
        key = cols.astype(np.int64) * n + rows.astype(np.int64)  # column-major order
        unique, inverse = np.unique(key, return_inverse=True)
        self._slot_index = np.ascontiguousarray(inverse.ravel(), dtype=np.int64)
        self._indices = np.ascontiguousarray(unique % n, dtype=np.int32 if n < 2**31 else np.int64)
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(unique // n, minlength=n), out=indptr[1:])
        self._indptr = indptr.astype(self._indices.dtype)
        self._nnz = len(unique)

    def envelope_size(self) -> int:
        """Entries in the lower envelope of the symmetrised Jacobian pattern in reverse
        Cuthill-McKee order: an upper bound on the fill of its LU factor without pivoting."""
        n = self.compiled.n_pools
        if n == 0:  # nothing to factor (a model without species); RCM has no order to find
            return 0
        pattern = scipy.sparse.csc_matrix((np.ones(self._nnz), self._indices, self._indptr), shape=(n, n))
        pattern = (pattern + pattern.T + scipy.sparse.eye(n, format="csc")).tocsr()
        order = scipy.sparse.csgraph.reverse_cuthill_mckee(pattern, symmetric_mode=True)
        permuted = pattern[order][:, order].tocsr()
        first = np.minimum.reduceat(permuted.indices, permuted.indptr[:-1])  # every row has its diagonal
        return int(np.sum(np.arange(n) - first) + n)

    def parameters_changed(self) -> None:
        """Nothing to rebuild: rates and clamps are read from the runtime at every evaluation,
        and the Jacobian pattern depends only on the network's structure. An integrator kept
        from the last run no longer applies (counts, rates or clamps changed)."""
        self.generation += 1

    # ------------------------------------------------------------------ evaluations
    def rhs(self, y, clamped=None) -> np.ndarray:
        """dy/dt at state ``y`` with the current runtime rates (clamps from the runtime unless given)."""
        c, rt = self.compiled, self.runtime
        dydt = np.empty(c.n_pools)
        ode_rhs(np.ascontiguousarray(y, dtype=np.float64), rt.clamped if clamped is None else clamped,
                rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr, c.rx_upd_pool,
                c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest, rt.df_rate, dydt)
        return dydt

    def jacobian(self, y, clamped=None) -> scipy.sparse.csc_matrix:
        """Analytic Jacobian ∂(dy/dt)/∂y at ``y`` as a sparse CSC matrix."""
        c, rt = self.compiled, self.runtime
        data = np.empty(self._nnz)
        ode_jacobian(np.ascontiguousarray(y, dtype=np.float64), rt.clamped if clamped is None else clamped,
                     rt.rx_rate, c.rx_reac_ptr, c.rx_reac_pool, c.rx_reac_count, c.rx_upd_ptr, c.rx_upd_pool,
                     c.rx_upd_delta, c.df_pool, c.df_ptr, c.df_dest, rt.df_rate, self._slot_index, data)
        return scipy.sparse.csc_matrix((data, self._indices, self._indptr), shape=(c.n_pools, c.n_pools))

    # ------------------------------------------------------------------ contract
    def new_runs(self, seed, n_runs):
        return [{} for _ in range(n_runs)]  # deterministic: only the integrator kept between runs

    def default_atol(self, y) -> float:
        """Absolute tolerance (molecules) used when none is given: 0.01 · rtol · max(1, Σ|y|)."""
        return 0.01 * self.rtol * max(1.0, float(np.sum(np.abs(y))))

    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        t_start, t_end = float(t_start), float(t_end)
        record_times = np.asarray(record_times, dtype=np.float64)
        record_pools = np.asarray(record_pools, dtype=np.int64)
        # out[k, record_columns[j]] sums y[record_pools[j]]: one sparse matrix does every sample
        n_record = len(record_pools)
        columns = np.asarray(record_columns, dtype=np.int64)
        reducer = scipy.sparse.csr_matrix((np.ones(n_record), (columns, np.arange(n_record))),
                                          shape=(out.shape[1], n_record))

        def reduce(values):
            return reducer @ values

        y0 = np.array(counts, dtype=np.float64)
        clamped = np.array(self.runtime.clamped, dtype=bool)  # fixed for this segment
        horizon = t_end + _END_SLACK * abs(t_end)
        wanted = np.flatnonzero(record_times <= horizon)
        wanted = wanted[np.argsort(record_times[wanted], kind="stable")]
        times = np.minimum(record_times[wanted], t_end)
        # samples at (or before) the start: the initial state
        k = int(np.searchsorted(times, t_start, side="right"))
        out[wanted[:k]] = reduce(y0[record_pools])
        c = self.compiled
        self.last_stats = {"steps": 0, "nfev": 0, "njev": 0, "nlu": 0}
        if t_end <= t_start or (c.n_reactions == 0 and c.n_diffusions == 0):
            out[wanted[k:]] = reduce(y0[record_pools])
            if progress is not None:
                progress(t_end)
            return
        if self.method == "expm":
            counts[:] = self._advance_linear(y0, clamped, t_start, t_end, times[k:], wanted[k:], record_pools,
                                             reduce, out, progress)
            for key, value in self.last_stats.items():
                self.stats[key] += value
            return

        continuation = run_state.get("continuation") if isinstance(run_state, dict) else None
        if continuation is not None and continuation.continues(t_start, y0, self.generation, clamped):
            integrator = continuation.integrator  # the same steps as one uninterrupted run
        else:
            atol = self.atol if self.atol is not None else self.default_atol(y0)
            integrator = self._new_integrator(t_start, y0, clamped, atol)
        # samples before t_end come from the interpolant of the step that covers them; the ones at
        # t_end (and round-off past it) take the final state exactly
        before_end = int(np.searchsorted(times, t_end, side="left"))

        def sample_covered(k):
            stop = min(int(np.searchsorted(times, integrator.t, side="right")), before_end)
            if stop > k and integrator.t_old is not None:
                out[wanted[k:stop]] = reduce(integrator.dense_output()(times[k:stop])[record_pools]).T
                return stop
            return k

        k = sample_covered(k)  # a kept integrator's last step may reach past this run's start
        last_report = time.perf_counter()
        while integrator.t < t_end:  # no end time of its own: a step may pass t_end (interpolated)
            message = integrator.step()
            self.last_stats["steps"] += 1
            if integrator.status == "failed":
                raise SimulationError(f"solver {self.name!r} ({self.method}) failed at t = "
                                      f"{integrator.t:.6g} s: {message}. Try method='BDF', a larger "
                                      "rtol/atol, or check for rates that make counts blow up")
            k = sample_covered(k)
            if progress is not None and time.perf_counter() - last_report > _PROGRESS_INTERVAL:
                progress(min(integrator.t, t_end))
                last_report = time.perf_counter()
        if integrator.t > t_end and integrator.t_old is not None:
            y = np.array(integrator.dense_output()(t_end), dtype=np.float64)  # inside the last step
        else:
            y = np.array(integrator.y, dtype=np.float64)
        y[clamped] = y0[clamped]
        if k < len(times):  # samples at t_end (and round-off past it) take the final state exactly
            out[wanted[k:]] = reduce(y[record_pools])
        if progress is not None:
            progress(t_end)
        for key in ("nfev", "njev", "nlu"):
            total = int(getattr(integrator, key, 0))
            self.last_stats[key] = total - integrator.counted.get(key, 0)
            integrator.counted[key] = total
        for key, value in self.last_stats.items():
            self.stats[key] += value
        counts[:] = y
        if isinstance(run_state, dict):
            run_state["continuation"] = Continuation(integrator, t_end, y.copy(), self.generation,
                                                     clamped.tobytes())

    def _new_integrator(self, t_start, y0, clamped, atol):
        """A SciPy integrator from ``y0`` at ``t_start`` with no end time (its steps ignore run ends)."""

        def fun(t, y):
            return self.rhs(y, clamped)

        kwargs = {"rtol": _LOCAL_FRACTION * self.rtol, "atol": _LOCAL_FRACTION * np.asarray(atol),
                  "max_step": self.max_step}
        if self.method in _SPARSE_JACOBIAN:
            kwargs["jac"] = lambda t, y: self.jacobian(y, clamped)
        elif self.method == "LSODA":
            kwargs["jac"] = lambda t, y: self.jacobian(y, clamped).toarray()
        integrator = getattr(scipy.integrate, self.method)(fun, t_start, y0, math.inf, **kwargs)
        if self.method in _SPARSE_JACOBIAN and self.linear_solver == "krylov":
            _use_krylov(integrator, _LOCAL_FRACTION * self.rtol)
        if self.method == "BDF" and getattr(integrator, "D", None) is not None:
            # SciPy allocates the difference table with np.empty; rows above the current order are
            # read (harmlessly) before being written, and garbage NaNs there raise RuntimeWarnings
            integrator.D[2:] = 0.0
        remember_factored_matrix(integrator)
        integrator.counted = {}  # evaluations already added to self.stats
        integrator.user_atol = atol
        return integrator

    # ------------------------------------------------------------------ checkpoints
    def run_state_arrays(self, run_state) -> dict:
        """What a checkpoint keeps of one replicate: the integrator, when the next run would continue it."""
        continuation = run_state.get("continuation") if isinstance(run_state, dict) else None
        if (continuation is None or continuation.generation != self.generation
                or self.method not in SAVABLE_METHODS):
            return {}
        saved = integrator_arrays(continuation.integrator)
        arrays = {f"integrator/{key}": value for key, value in saved.items()}
        arrays["continuation/t"] = np.array(continuation.t)
        arrays["continuation/y"] = continuation.y
        arrays["continuation/clamped"] = np.frombuffer(continuation.clamped, dtype=bool)
        arrays["continuation/atol"] = np.asarray(continuation.integrator.user_atol, dtype=np.float64)
        return arrays

    def run_state_from_arrays(self, arrays) -> dict:
        if "continuation/t" not in arrays:
            return {}
        flat = arrays  # 'a/b' names: the checkpoint's datasets
        t, y = float(flat["continuation/t"]), np.array(flat["continuation/y"], np.float64)
        clamped = np.array(flat["continuation/clamped"], dtype=bool)
        atol = np.array(flat["continuation/atol"], np.float64)
        atol = float(atol) if atol.ndim == 0 else atol
        prefix = "integrator/"
        saved = {key[len(prefix):]: value for key, value in flat.items() if key.startswith(prefix)}
        integrator = self._new_integrator(float(saved["attr/t"]), np.array(saved["attr/y"]), clamped, atol)
        restore_integrator(integrator, saved)
        return {"continuation": Continuation(integrator, t, y, self.generation, clamped.tobytes())}

    # ------------------------------------------------------------------ linear systems
    def linear_operator(self, clamped) -> LinearOperator:
        """``dy/dt = A y + b`` of a linear system with the current rates and these clamps.

        This is where the operator of a segment is assembled: ``A`` is the (constant) Jacobian,
        ``b`` the zero-order terms. A coupling that adds linear terms (e.g. a membrane current
        proportional to a count) adds them to ``A`` and ``b`` here.
        """
        c = self.compiled
        n = c.n_pools
        matrix = self.jacobian(np.zeros(n), clamped)
        source = self.rhs(np.zeros(n), clamped)
        measure = np.asarray(c.measure, dtype=np.float64).copy()
        for part in (slice(0, c.n_volume), slice(c.n_volume, len(measure))):
            if measure[part].size:  # volumes and areas on their own scales
                measure[part] /= np.median(measure[part])
        weights = np.repeat(measure, c.n_species)
        present = np.asarray(c.present, dtype=np.float64).reshape(-1)
        candidates = [np.tile(np.eye(c.n_species)[s], c.n_elements) * present for s in range(c.n_species)]
        candidates.append(present)
        scale = abs(matrix).T @ np.ones(n) + 1e-300
        conserved = [v for v in candidates if np.any(v) and np.all(np.abs(matrix.T @ v) <= 1e-12 * scale)
                     and abs(source @ v) <= 1e-12 * abs(source).sum()]
        # only totals whose uniform-concentration state is stationary (A e = 0): the Krylov
        # sequence is then unchanged by having e in the basis (R e = e). A conserved catalyst
        # that feeds another species (A -> A + X) is not, and is left to the error control.
        row_scale = abs(matrix) @ weights + 1e-300
        conserved = [v for v in conserved if np.all(np.abs(matrix @ (v * weights)) <= 1e-12 * row_scale)]
        return LinearOperator(matrix, source, weights, conserved)

    def _exponential_for(self, clamped, gamma):
        """The Krylov integrator (and its LU) for these rates, clamps and shift; built when they change."""
        rt = self.runtime
        key = (gamma, clamped.tobytes())
        if self._exponential is not None:
            old_key, old_rates, integrator = self._exponential
            if old_key == key and np.array_equal(old_rates[0], rt.rx_rate) and np.array_equal(old_rates[1],
                                                                                             rt.df_rate):
                return integrator
        linear_solver = {"auto": "direct", "direct": "direct", "krylov": "iterative"}[self._linear_option]
        if self._linear_option == "auto" and self._envelope > _EXPM_DIRECT_LIMIT:
            linear_solver = "iterative"  # the LU would not fit comfortably: no factorisation
        integrator = KrylovExponential(self.linear_operator(clamped), gamma, self.rtol, linear_solver)
        self._exponential = (key, (rt.rx_rate.copy(), rt.df_rate.copy()), integrator)
        return integrator

    def _advance_linear(self, y0, clamped, t_start, t_end, times, wanted, record_pools, reduce, out,
                        progress):
        """The ``expm`` method: exact-in-time samples from a rational Krylov space (ode_linear.py)."""
        targets = times[times > t_start]
        at_start = len(times) - len(targets)  # already written (the initial state)
        wanted = wanted[at_start:]
        if len(targets) == 0 or targets[-1] < t_end:
            targets = np.append(targets, t_end)  # the final state, not a sample
        spacing = np.diff(np.concatenate(([t_start], targets)))
        # shift: the sample spacing times ~(samples)^(1/4), measured to need the fewest vectors
        # (Ca cylinder, 400 samples: 64 vectors at 1x the spacing, 36 at 4x, 44 at 10x; FRAP,
        # 417 samples: 30-33 at 1x, 30-38 at 3x)
        # (rounded to a power of two, so segments of similar length share one factorisation)
        gamma = float(np.median(spacing[spacing > 0])) * 2.0 ** round(math.log2(len(targets)) / 4)
        gamma = float(f"{min(gamma, t_end - t_start):.3g}")
        integrator = self._exponential_for(clamped, gamma)
        before = dict(integrator.stats)

        def on_samples(indices, basis, coefficients):
            keep = indices < len(wanted)
            if np.any(keep):
                recorded = reduce(np.ascontiguousarray(basis[:, record_pools].T))  # (columns, basis): small
                out[wanted[indices[keep]]] = coefficients[keep] @ recorded.T
            if progress is not None:
                progress(min(float(targets[indices[-1]]), t_end))

        try:
            y = integrator.solve(y0, targets, t_start, on_samples)
        except RuntimeError as error:
            raise SimulationError(f"solver {self.name!r} (expm): {error} between t = {t_start:.6g} and "
                                  f"{t_end:.6g} s; try method='BDF'") from None
        self.last_stats["steps"] += integrator.stats["windows"] - before["windows"]
        self.last_stats["nfev"] += integrator.stats["solves"] - before["solves"]
        self.last_stats["nlu"] += integrator.stats["factorisations"] - before["factorisations"]
        y[clamped] = y0[clamped]
        if progress is not None:
            progress(t_end)
        return y


class _JacobiKrylov:
    """Stands in for the LU factors of ``A = I - c J`` (or Radau's ``mu/h I - J``): Krylov solves.

    Real systems (BDF, Radau's real block) use the numba BiCGSTAB kernel; complex ones (Radau's
    complex pair) and the rare kernel breakdown fall back on SciPy's GMRES.
    """

    def __init__(self, matrix, tolerance):
        self.matrix = matrix.tocsr()
        self.matrix.sort_indices()
        diagonal = self.matrix.diagonal()
        tiny = np.abs(diagonal) < 1e-300
        self.inverse_diagonal = 1.0 / np.where(tiny, 1.0, diagonal)
        self.tolerance = tolerance
        self.real = not np.iscomplexobj(self.matrix.data)

    def solve(self, rhs):
        if not np.any(rhs):
            return np.zeros_like(rhs)
        if self.real and not np.iscomplexobj(rhs):
            x = np.zeros(len(rhs))
            m = self.matrix
            status = bicgstab_jacobi(m.indptr, m.indices, m.data, self.inverse_diagonal,
                                     np.ascontiguousarray(rhs, dtype=np.float64), x, self.tolerance, 1000)
            if status >= 0:
                return x
        else:
            x = None
        inverse = self.inverse_diagonal
        preconditioner = scipy.sparse.linalg.LinearOperator(self.matrix.shape, matvec=lambda v: inverse * v,
                                                            dtype=self.matrix.dtype)
        x, _info = scipy.sparse.linalg.gmres(self.matrix, rhs, x0=x, M=preconditioner, rtol=self.tolerance,
                                             atol=0.0, restart=50, maxiter=50)
        return x  # an inexact solve only slows Newton; BDF/Radau then cut the step


def _use_krylov(integrator, rtol: float) -> None:
    """Replace the integrator's sparse LU by Jacobi-preconditioned Krylov solves (SciPy OdeSolver hook)."""
    if not (hasattr(integrator, "lu") and hasattr(integrator, "solve_lu")):
        return  # an integrator without the hook keeps its own LU
    tolerance = min(1e-6, max(1e-12, 1e-3 * rtol))

    def factor(matrix):
        integrator.nlu += 1
        return _JacobiKrylov(matrix, tolerance)

    integrator.lu = factor
    integrator.solve_lu = lambda factors, rhs: factors.solve(rhs)


class WellMixedODESolver(ODESolver):
    """``wm-ode``: the rate equations of well-mixed compartments and patches (STEPS Wmrk4)."""

    name = "wm-ode"
