"""Keeping a SciPy integrator across ``run`` calls and in checkpoints (issue 10 item 1).

A run of the ``ode``/``wm-ode`` solvers with a SciPy method (BDF, Radau, LSODA, RK45, ...)
steps one :class:`scipy.integrate.OdeSolver` from the start with no end time of its own
(``t_bound = inf``): the steps it takes depend on the rate equations and the tolerances, never
on where a ``run`` call stops. A run that ends inside a step takes its final state from the
step's interpolant and keeps the integrator (:class:`Continuation`); the next ``run`` goes on
with it when nothing changed in between, so ``run(a); run(b)`` takes exactly the steps of
``run(b)``.

For a checkpoint the integrator's numbers are written out (:func:`integrator_arrays`) and put
back into a fresh integrator of the same method (:func:`restore_integrator`): its state vector,
difference table or stages, step size and order, the Jacobian, and the matrix its current
factorisation was made from (factored again, with the same result). Methods whose state lives
outside Python (LSODA's Fortran work arrays) cannot be saved; a restored run with them starts
a new integration at the checkpoint, within the tolerance of the uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

__all__ = ["Continuation", "integrator_arrays", "restore_integrator", "remember_factored_matrix",
           "SAVABLE_METHODS"]

#: methods whose whole state is Python numbers and arrays (saved in checkpoints; LSODA's is Fortran's)
SAVABLE_METHODS = ("BDF", "Radau", "RK45", "RK23", "DOP853")
# attributes rebuilt by the integrator's constructor or held by its functions, never saved
_SKIP = {"fun", "fun_single", "fun_vectorized", "_fun", "jac", "lu", "solve_lu", "I", "sol", "LU", "LU_real",
         "LU_complex", "J", "t_bound", "direction", "nfev", "njev", "nlu", "n", "vectorized", "max_step",
         "rtol", "atol", "newton_tol", "_factored"}


@dataclass
class Continuation:
    """An integrator stopped at ``t`` (inside or at the end of its last step) with state ``y``.

    It continues the next ``run`` only when that run starts at ``t`` from exactly ``y`` and
    nothing changed in between (``generation``: the solver's count of parameter changes;
    ``clamped``: the clamps it was built with).
    """

    integrator: object
    t: float
    y: np.ndarray
    generation: int
    clamped: bytes

    def continues(self, t, y, generation, clamped) -> bool:
        return (self.t == t and self.generation == generation and self.clamped == clamped.tobytes()
                and np.array_equal(self.y, y))


def remember_factored_matrix(integrator) -> None:
    """Wrap the integrator's ``lu`` so it keeps the last matrix it factored (for checkpoints).

    BDF and Radau keep a factorisation across steps, sometimes of a matrix from an earlier step
    size; a restored integrator factors that same matrix again, not the current one.
    """
    factor = getattr(integrator, "lu", None)
    if factor is None or not callable(factor):
        return
    integrator._factored = []

    def lu(matrix):
        integrator._factored.append(matrix)
        del integrator._factored[:-2]  # Radau factors two matrices (real and complex) in turn
        return factor(matrix)

    integrator.lu = lu


def _sparse_arrays(prefix: str, matrix) -> dict:
    if scipy.sparse.issparse(matrix):
        m = scipy.sparse.csc_matrix(matrix)
        return {f"{prefix}/data": m.data, f"{prefix}/indices": m.indices, f"{prefix}/indptr": m.indptr,
                f"{prefix}/shape": np.array(m.shape, np.int64)}
    return {f"{prefix}/dense": np.asarray(matrix)}


def _sparse_from(arrays: dict, prefix: str):
    if f"{prefix}/dense" in arrays:
        return np.array(arrays[f"{prefix}/dense"])
    shape = tuple(int(v) for v in arrays[f"{prefix}/shape"])
    return scipy.sparse.csc_matrix((np.array(arrays[f"{prefix}/data"]), np.array(arrays[f"{prefix}/indices"]),
                                    np.array(arrays[f"{prefix}/indptr"])), shape=shape)


def integrator_arrays(integrator) -> dict:
    """The integrator's state as named arrays (``None`` values are left out)."""
    arrays = {}
    for name, value in vars(integrator).items():
        if name in _SKIP or value is None:
            continue
        if isinstance(value, (bool, np.bool_)):
            arrays[f"attr/{name}"] = np.array(bool(value))
        elif isinstance(value, (int, float, np.integer, np.floating)):
            arrays[f"attr/{name}"] = np.array(value)
        elif isinstance(value, str):
            arrays[f"text/{name}"] = np.array(value.encode())
        elif isinstance(value, np.ndarray) and value.dtype != object:
            arrays[f"attr/{name}"] = value
    if getattr(integrator, "J", None) is not None:
        arrays.update(_sparse_arrays("J", integrator.J))
    for k, matrix in enumerate(getattr(integrator, "_factored", [])):
        arrays.update(_sparse_arrays(f"factored/{k}", matrix))
    arrays["current_factorisation"] = np.array(_current_factorisations(integrator), np.int64)
    return arrays


def _current_factorisations(integrator) -> list[int]:
    """Which remembered matrices the integrator's live factorisations were made from."""
    names = ("LU",) if hasattr(integrator, "LU") else ("LU_real", "LU_complex")
    live = [name for name in names if getattr(integrator, name, None) is not None]
    factored = getattr(integrator, "_factored", [])
    # the live factorisations are the most recent ones, in the order the method makes them
    return list(range(len(factored) - len(live), len(factored))) if len(live) <= len(factored) else []


def restore_integrator(integrator, arrays: dict) -> None:
    """Put the saved state into a fresh integrator of the same method and problem."""
    for key, value in arrays.items():
        if key.startswith("attr/"):
            value = np.array(value)
            setattr(integrator, key[5:], value.item() if value.ndim == 0 else value)
        elif key.startswith("text/"):
            setattr(integrator, key[5:], bytes(np.array(value).item()).decode())
    for name in ("t_old", "h_abs_old", "error_norm_old", "h_previous"):
        if hasattr(integrator, name) and f"attr/{name}" not in arrays:
            setattr(integrator, name, None)
    if "J/data" in arrays or "J/dense" in arrays:
        integrator.J = _sparse_from(arrays, "J")
    if hasattr(integrator, "sol"):  # Radau: the last step's interpolant (its next Newton guess)
        has_step = all(getattr(integrator, name, None) is not None for name in ("t_old", "y_old", "Z"))
        integrator.sol = integrator._compute_dense_output() if has_step else None
    names = ("LU",) if hasattr(integrator, "LU") else ("LU_real", "LU_complex")
    for name in names:
        if hasattr(integrator, name):
            setattr(integrator, name, None)
    current = [int(k) for k in np.atleast_1d(arrays.get("current_factorisation", []))]
    live = [name for name in names if hasattr(integrator, name)][-len(current):] if current else []
    for name, k in zip(live, current, strict=True):
        setattr(integrator, name, integrator.lu(_sparse_from(arrays, f"factored/{k}")))
