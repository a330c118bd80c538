"""Linear rate equations solved exactly in time: a rational Krylov exponential integrator.

When every reaction of a system has order 0 or 1 (diffusion, conversions, decay, sources), the
rate equations over one ``run`` segment are the constant-coefficient affine system

    dy/dt = A y + b          (A: sparse Jacobian, b: zero-order sources; both fixed in a segment)

whose solution is ``y(t) = exp(t A) y0 + t phi_1(t A) b``. This module evaluates it at every
record time from one sparse LU factorisation of ``I - gamma A`` (reused across samples, restarts
and ``run`` segments while the parameters stay the same):

* the subspace is the shift-and-invert Krylov space ``span{y0, R y0, R^2 y0, ...}`` with
  ``R = (I - gamma A)^{-1}`` (van den Eshof & Hochbruck 2006, SIAM J Sci Comput 27:1438), whose
  convergence does not depend on the stiffness ``|A|`` (the fast diffusion modes of small
  tets), only on the range of sample times relative to ``gamma``;
* the vectors are orthonormal in the inner product ``<u, v> = sum u_i v_i / w_i`` with ``w`` the
  volume (area) of each pool's element. Diffusion is self-adjoint in it (the flux from ``i`` to
  ``j`` is ``D g A_ij / V_i`` times ``y_i``, and ``A_ij / (V_i d_ij)`` times ``V_i`` is symmetric),
  so the projected matrix is symmetric up to the other processes;
* the equilibrium state of each conserved quantity (molecules of one species, or of all species,
  when ``A`` conserves it) is put in the basis first. With a Galerkin projection in this inner
  product the projected solution then conserves those totals exactly, to round-off, and it
  reaches the right equilibrium;
* the small projected problem is solved with dense ``expm`` for every distinct sample spacing;
  the error is estimated a posteriori as the difference between the solutions in the spaces of
  dimension ``m`` and ``m - check`` at every sample, and the space grows until it is below
  the tolerance at all samples (or restarts from the last sample that is converged).

The affine part ``b`` is carried by one extra coordinate that stays 1: ``d/dt [y; 1] =
[[A, b], [0, 0]] [y; 1]``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from ..kernels.ode import bicgstab_jacobi, combine_rows, row_dots

__all__ = ["LinearOperator", "KrylovExponential"]

_CHECK = 4  # vectors added between two error checks (the estimate compares m with m - _CHECK)
_MAX_BASIS_BYTES = 400 * 2**20  # the basis and its weighted copy: at most this many bytes
_MAX_SHRINKS = 6  # times the shift is divided by 4 when not even the first sample converges
# Iterations allowed to one BiCGSTAB solve of the "iterative" linear solver. Measured (one core):
# the LU wins wherever we looked, even where BiCGSTAB converges fast: Ca cylinder sampled every
# 25 µs (gamma = 25 µs, ~50 iterations), 8,744 tets 0.13-0.16 s (LU) vs 0.30 s, 69,020 tets
# 2.3 s vs 4.5 s; FRAP at gamma = 3.6 ms needs 116-317 iterations. So "auto" is the LU.
_ITERATIVE_LIMIT = 600


class LinearOperator:
    """``dy/dt = A y + b`` of one ``run`` segment, and the data the integrator needs with it.

    Parameters
    ----------
    matrix : scipy.sparse matrix (n, n)
        ``A``, the (constant) Jacobian with the rows of clamped pools zero.
    source : ndarray (n,)
        ``b``, the zero-order terms (zero in clamped rows).
    weights : ndarray (n,)
        Positive weight of each pool (the measure of its element, normalised): the inner
        product ``sum u v / w``.
    conserved : list of ndarray (n,)
        Vectors ``c`` with ``c^T A = 0`` and ``c^T b = 0`` (e.g. the indicator of one species):
        their totals are conserved exactly.
    """

    def __init__(self, matrix, source, weights, conserved=()):
        self.matrix = scipy.sparse.csr_matrix(matrix)
        self.source = np.asarray(source, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.conserved = [np.asarray(c, dtype=np.float64) for c in conserved]
        self.n = self.matrix.shape[0]
        self.affine = bool(np.any(self.source != 0.0))


class KrylovExponential:
    """Evaluate ``y(t)`` of a :class:`LinearOperator` at many times from one LU factorisation.

    Parameters
    ----------
    operator : LinearOperator
    gamma : float
        Shift (s) of ``R = (I - gamma A)^{-1}``: about the smallest time between samples.
    tolerance : float
        Target error at every sample, relative to the largest weighted norm of the state.
    linear_solver : str
        How ``(I - gamma A) x = v`` is solved: ``"direct"`` (sparse LU, factored once; also what
        ``"auto"`` means) or ``"iterative"`` (Jacobi-preconditioned BiCGSTAB, no factorisation:
        less memory; the LU is factored after all if it does not converge).
    """

    def __init__(self, operator: LinearOperator, gamma: float, tolerance: float, linear_solver: str = "auto"):
        self.stats = {"solves": 0, "windows": 0, "basis": 0, "factorisations": 0}
        self.operator = operator
        self.tolerance = float(tolerance)
        n = operator.n
        self._set_gamma(gamma)
        # the basis only has to span the right space (H is formed with exact products), so the
        # iterative solves need not be tight; 1e-3 of the target keeps the estimate honest
        self.solve_tolerance = min(1e-8, max(1e-13, 1e-3 * self.tolerance))
        self.lu = None  # factored on the first solve that needs it
        self.linear_solver = "direct" if linear_solver == "auto" else linear_solver
        width = n + 1 if operator.affine else n
        self.max_basis = int(max(40, min(120, _MAX_BASIS_BYTES // (16 * width))))

    # ------------------------------------------------------------------ pieces
    def _set_gamma(self, gamma: float) -> None:
        """The shift and ``I - gamma A`` (its LU, when used, is factored on the next solve)."""
        self.gamma = float(gamma)
        op = self.operator
        self.shifted = (scipy.sparse.identity(op.n, format="csr") - self.gamma * op.matrix).tocsr()
        self.shifted.sort_indices()
        diagonal = self.shifted.diagonal()
        self.inverse_diagonal = 1.0 / np.where(diagonal == 0.0, 1.0, diagonal)
        self.lu = None

    def _factor(self) -> None:
        # MMD on A + A^T in symmetric mode: the pattern is symmetric (diffusion goes both ways),
        # and this ordering gives about half the fill of COLAMD on 3-D meshes (measured)
        self.lu = scipy.sparse.linalg.splu(self.shifted.tocsc(), permc_spec="MMD_AT_PLUS_A",
                                           options={"SymmetricMode": True})
        self.linear_solver = "direct"
        self.stats["factorisations"] += 1

    def _solve_shifted(self, rhs: np.ndarray) -> np.ndarray:
        if self.linear_solver == "direct" and self.lu is None:
            self._factor()
        if self.linear_solver != "direct":
            m = self.shifted
            x = np.zeros(len(rhs))
            rhs = np.ascontiguousarray(rhs, dtype=np.float64)
            status = bicgstab_jacobi(m.indptr, m.indices, m.data, self.inverse_diagonal, rhs, x,
                                     self.solve_tolerance, _ITERATIVE_LIMIT)
            if status >= 0:
                return x
            self._factor()  # breakdown or no convergence: the LU after all
        return self.lu.solve(rhs)

    def _apply_resolvent(self, v: np.ndarray) -> np.ndarray:
        """``(I - gamma Ã)^{-1} v`` for the (possibly affine-augmented) operator Ã."""
        op = self.operator
        self.stats["solves"] += 1
        if not op.affine:
            return self._solve_shifted(v)
        out = np.empty_like(v)
        out[:-1] = self._solve_shifted(v[:-1] + self.gamma * op.source * v[-1])
        out[-1] = v[-1]
        return out

    def _apply_operator(self, v: np.ndarray) -> np.ndarray:
        op = self.operator
        if not op.affine:
            return op.matrix @ v
        out = np.zeros_like(v)
        out[:-1] = op.matrix @ v[:-1] + op.source * v[-1]
        return out

    def _weight_inverse(self) -> np.ndarray:
        inverse = 1.0 / self.operator.weights
        if self.operator.affine:
            inverse = np.append(inverse, 1.0)
        return inverse

    # ------------------------------------------------------------------ integration
    def solve(self, y0, times, t0, on_samples):
        """Advance from ``y0`` at ``t0`` through the sorted ``times`` (> ``t0``).

        ``on_samples(indices, basis_rows, coefficients)`` receives, per window, the indices of
        the samples it covers, the basis (rows: vectors) and the coefficients (one row per
        sample), so the caller reduces ``coefficients @ basis[:, pools]`` to what it records.
        Returns the state at ``times[-1]``.
        """
        times = np.asarray(times, dtype=np.float64)
        y = np.asarray(y0, dtype=np.float64).copy()
        start, t_now = 0, float(t0)
        horizon = len(times)  # samples a window attempts; shrinks after a window that filled up
        shrinks = 0
        while start < len(times):
            stop, t_now, y = self._window(y, t_now, times[:start + horizon], start, on_samples)
            covered = stop - start
            shrinks = shrinks + 1 if covered == 0 else 0
            if shrinks > _MAX_SHRINKS:
                raise RuntimeError("the Krylov space does not converge")
            if stop < min(start + horizon, len(times)):  # the space filled up before the last sample tried
                horizon = max(2 * covered, 4)
            else:
                horizon = max(horizon, 2 * covered)
            start = stop
        return y

    def _window(self, y, t_now, times, start, on_samples):
        """One Krylov space from ``y`` at ``t_now``; returns (next sample index, time, state)."""
        op = self.operator
        self.stats["windows"] += 1
        weight_inverse = self._weight_inverse()
        state = np.append(y, 1.0) if op.affine else y
        width = len(state)
        basis = np.zeros((self.max_basis, width))
        weighted = np.zeros((self.max_basis, width))  # basis / w, so projections are one product
        size = 0

        def add(vector) -> bool:
            nonlocal size
            norm0 = _weighted_norm(vector, weight_inverse)
            vector = np.array(vector, dtype=np.float64)
            for _ in range(2):  # classical Gram-Schmidt, twice ("twice is enough")
                if size:
                    vector -= _combine(_dots(weighted[:size], vector), basis[:size])
            norm = _weighted_norm(vector, weight_inverse)
            if norm <= 1e-12 * norm0 or norm == 0.0:
                return False  # in the span already: the space is invariant
            basis[size] = vector / norm
            weighted[size] = basis[size] * weight_inverse
            size += 1
            return True

        for c in op.conserved:
            equilibrium = c * op.weights  # uniform concentration over the pools of c
            add(np.append(equilibrium, 0.0) if op.affine else equilibrium)
        if op.affine:
            unit = np.zeros(width)
            unit[-1] = 1.0
            add(unit)
        # the projected operator H[i, j] = <v_i, Ã v_j> and initial state <v_i, y>, grown by the
        # new rows and columns only (each basis vector is multiplied by Ã once)
        applied = np.zeros((self.max_basis, width))
        small = np.zeros((self.max_basis, self.max_basis))
        projected_state = np.zeros(self.max_basis)
        done = 0
        norm_state = _weighted_norm(state, weight_inverse)
        # the Krylov sequence starts from the state even when the vectors above already span it
        generator = basis[size - 1] if add(state.copy()) else (state / norm_state if norm_state else None)
        targets = times[start:]
        while True:
            invariant = generator is None
            for _ in range(_CHECK):
                if invariant or size >= self.max_basis:
                    break
                if add(self._apply_resolvent(generator)):
                    generator = basis[size - 1]
                else:
                    invariant = True
            for j in range(done, size):
                applied[j] = self._apply_operator(basis[j])
            for j in range(done, size):  # new rows and columns of H
                small[j, :size] = _dots(applied[:size], weighted[j])
                small[:done, j] = _dots(weighted[:done], applied[j])
                projected_state[j] = _dots(weighted[j:j + 1], state)[0]
            done = size
            coefficients, error = self._project(small[:size, :size], projected_state[:size], t_now, targets,
                                                check=0 if invariant else _CHECK)
            scale = max(norm_state, float(np.max(np.linalg.norm(coefficients, axis=1))))
            converged = error <= self.tolerance * scale
            if np.all(converged) or invariant:
                count = len(targets)
                break
            if size >= self.max_basis:
                count = int(np.argmin(converged))  # the converged prefix (not all are)
                break
        self.stats["basis"] = max(self.stats["basis"], size)
        if count == 0:
            # not even the first sample: the shift is too long for the fast modes still alive;
            # a shorter one resolves them (the caller retries this window)
            self._set_gamma(self.gamma / 4)
            return start, t_now, y
        on_samples(np.arange(start, start + count), basis[:size, :op.n], coefficients[:count])
        final = _combine(coefficients[count - 1], basis[:size])
        return start + count, float(targets[count - 1]), final[:op.n] if op.affine else final

    @staticmethod
    def _project(small, start, t_now, targets, check):
        """Coefficients of the Galerkin solution at ``targets`` and the error estimate of each."""
        size = len(start)
        coefficients = _propagate(small, start, targets - t_now)
        if check <= 0 or size - check < 1:
            return coefficients, np.zeros(len(targets))
        coarse = _propagate(small[:size - check, :size - check], start[:size - check], targets - t_now)
        difference = coefficients.copy()
        difference[:, :size - check] -= coarse
        return coefficients, np.linalg.norm(difference, axis=1)


def _weighted_norm(vector, weight_inverse):
    return math.sqrt(max(float(_dots(vector[None, :], vector * weight_inverse)[0]), 0.0))


def _dots(rows, vector):
    out = np.empty(rows.shape[0])
    row_dots(rows, np.ascontiguousarray(vector), out)
    return out


def _combine(coefficients, rows):
    out = np.empty(rows.shape[1])
    combine_rows(np.ascontiguousarray(coefficients), rows, out)
    return out


def _propagate(small, start, offsets):
    """``expm(offset H) start`` for each of the increasing ``offsets``, as rows."""
    out = np.empty((len(offsets), len(start)))
    steps = np.diff(np.concatenate(([0.0], offsets)))
    vector = start.copy()
    cache = {}
    span = max(float(offsets[-1]), 1e-300)
    for k, step in enumerate(steps):
        key = round(step / span, 12)  # sample spacings equal up to round-off share one expm
        propagator = cache.get(key)
        if propagator is None:
            propagator = scipy.linalg.expm(step * small)
            cache[key] = propagator
        vector = propagator @ vector
        out[k] = vector
    return out
