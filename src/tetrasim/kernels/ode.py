"""Kernels of the deterministic solvers ``wm-ode`` and ``ode``: right-hand side and Jacobian.

The state ``y`` holds molecule counts as real numbers, one per pool (``element * n_species +
species``). Reaction process ``p`` runs at the deterministic mass-action rate

    a_p = rx_rate[p] * prod_r y[pool_r] ** nu_r          (continuous power, no falling factorial)

and changes each pool in its update list by ``delta * a_p``. Diffusion process ``d`` moves
molecules from ``df_pool[d]`` to ``df_dest[e]`` at ``df_rate[e] * y[df_pool[d]]`` for each of its
targets ``e``. Clamped pools have zero derivative (their rows of the Jacobian are zero).

The Jacobian is filled into a fixed sparsity pattern: :func:`jacobian_slots` lists, in the
order :func:`ode_jacobian` visits them, the (row, column) of every contribution; the solver
turns that list into a CSC pattern once and hands the kernel the position of each slot.
Plain NumPy twins of these kernels live in :mod:`tetrasim.kernels.reference`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["ode_rhs", "ode_jacobian", "jacobian_slots", "reaction_rates", "bicgstab_jacobi", "row_dots",
           "combine_rows"]


@njit(cache=True, inline="always")
def _rate(p, y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count):
    a = rx_rate[p]
    for e in range(rx_reac_ptr[p], rx_reac_ptr[p + 1]):
        x = y[rx_reac_pool[e]]
        for _ in range(rx_reac_count[e]):
            a *= x
    return a


@njit(cache=True)
def reaction_rates(y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, out):
    """Deterministic rate (events/s) of every reaction process into ``out``."""
    for p in range(len(rx_rate)):
        out[p] = _rate(p, y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)


@njit(cache=True)
def ode_rhs(y, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
            rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, dydt):
    """dy/dt of the reaction-diffusion rate equations, written into ``dydt``."""
    dydt[:] = 0.0
    for p in range(len(rx_rate)):
        a = _rate(p, y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
        if a == 0.0:
            continue
        for e in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
            dydt[rx_upd_pool[e]] += rx_upd_delta[e] * a
    for d in range(len(df_pool)):
        source = df_pool[d]
        n = y[source]
        for e in range(df_ptr[d], df_ptr[d + 1]):
            flux = df_rate[e] * n
            dydt[source] -= flux
            dydt[df_dest[e]] += flux
    for i in range(len(dydt)):
        if clamped[i]:
            dydt[i] = 0.0


def jacobian_slots(rx_reac_ptr, rx_reac_pool, rx_upd_ptr, rx_upd_pool, df_pool, df_ptr, df_dest):
    """(rows, cols) of every Jacobian contribution, in the order :func:`ode_jacobian` writes them.

    Reaction ``p``: one slot per (update entry, reactant entry) pair, update-major. Diffusion
    ``d``: one diagonal slot ``(source, source)``, then one ``(dest, source)`` per target.
    """
    n_reac = np.diff(rx_reac_ptr)
    n_upd = np.diff(rx_upd_ptr)
    rows, cols = [], []
    n_rx = len(n_reac)
    slots_per_rx = n_reac * n_upd
    rx_slot_ptr = np.zeros(n_rx + 1, np.int64)
    np.cumsum(slots_per_rx, out=rx_slot_ptr[1:])
    total_rx = int(rx_slot_ptr[-1])
    rx_rows = np.empty(total_rx, np.int64)
    rx_cols = np.empty(total_rx, np.int64)
    _fill_reaction_slots(rx_reac_ptr, rx_reac_pool, rx_upd_ptr, rx_upd_pool, rx_slot_ptr, rx_rows, rx_cols)
    rows.append(rx_rows)
    cols.append(rx_cols)
    n_targets = np.diff(df_ptr)
    df_slot_ptr = np.zeros(len(df_pool) + 1, np.int64)
    np.cumsum(n_targets + 1, out=df_slot_ptr[1:])
    total_df = int(df_slot_ptr[-1])
    df_rows = np.empty(total_df, np.int64)
    df_cols = np.empty(total_df, np.int64)
    _fill_diffusion_slots(df_pool, df_ptr, df_dest, df_slot_ptr, df_rows, df_cols)
    rows.append(df_rows)
    cols.append(df_cols)
    return np.concatenate(rows), np.concatenate(cols)


@njit(cache=True)
def _fill_reaction_slots(rx_reac_ptr, rx_reac_pool, rx_upd_ptr, rx_upd_pool, rx_slot_ptr, rows, cols):
    for p in range(len(rx_reac_ptr) - 1):
        k = rx_slot_ptr[p]
        for u in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
            for r in range(rx_reac_ptr[p], rx_reac_ptr[p + 1]):
                rows[k] = rx_upd_pool[u]
                cols[k] = rx_reac_pool[r]
                k += 1


@njit(cache=True)
def _fill_diffusion_slots(df_pool, df_ptr, df_dest, df_slot_ptr, rows, cols):
    for d in range(len(df_pool)):
        k = df_slot_ptr[d]
        source = df_pool[d]
        rows[k] = source
        cols[k] = source
        k += 1
        for e in range(df_ptr[d], df_ptr[d + 1]):
            rows[k] = df_dest[e]
            cols[k] = source
            k += 1


@njit(cache=True)
def ode_jacobian(y, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                 rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, slot_index, data):
    """Fill ``data`` (values of the sparse Jacobian) at positions ``slot_index``.

    ``slot_index[k]`` is where slot ``k`` of :func:`jacobian_slots` lands in ``data``; several
    slots may share a position (they are summed). Rows of clamped pools stay zero.
    """
    data[:] = 0.0
    k = 0
    max_reac = 0
    for p in range(len(rx_rate)):
        max_reac = max(max_reac, rx_reac_ptr[p + 1] - rx_reac_ptr[p])
    partial = np.empty(max(max_reac, 1))
    for p in range(len(rx_rate)):
        start, stop = rx_reac_ptr[p], rx_reac_ptr[p + 1]
        m = stop - start
        # d a_p / d y[pool_r] for each reactant entry r (product rule; no division, so y = 0 is fine)
        for r in range(m):
            value = rx_rate[p]
            for s in range(m):
                x = y[rx_reac_pool[start + s]]
                nu = rx_reac_count[start + s]
                if s == r:
                    value *= nu
                    for _ in range(nu - 1):
                        value *= x
                else:
                    for _ in range(nu):
                        value *= x
            partial[r] = value
        for u in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
            row = rx_upd_pool[u]
            delta = rx_upd_delta[u]
            for r in range(m):
                if not clamped[row]:
                    data[slot_index[k]] += delta * partial[r]
                k += 1
    for d in range(len(df_pool)):
        source = df_pool[d]
        total = 0.0
        for e in range(df_ptr[d], df_ptr[d + 1]):
            total += df_rate[e]
        if not clamped[source]:
            data[slot_index[k]] -= total
        k += 1
        for e in range(df_ptr[d], df_ptr[d + 1]):
            if not clamped[df_dest[e]]:
                data[slot_index[k]] += df_rate[e]
            k += 1


@njit(cache=True)
def _csr_matvec(indptr, indices, data, x, out):
    for i in range(len(indptr) - 1):
        acc = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        out[i] = acc


@njit(cache=True)
def bicgstab_jacobi(indptr, indices, data, inverse_diagonal, b, x, rtol, max_iterations):
    """Solve ``A x = b`` (A in CSR, real) by Jacobi-preconditioned BiCGSTAB, in place in ``x``.

    Starts from ``x``; stops when ``|b - A x| <= rtol |b|`` (2-norm). Returns the iterations
    used, -1 on breakdown, -2 without convergence (``x`` then holds the last iterate). No BLAS:
    single-threaded by construction, so it behaves the same on a busy node and under MPI.
    """
    n = len(b)
    r = np.empty(n)
    _csr_matvec(indptr, indices, data, x, r)
    b_norm = 0.0
    for i in range(n):
        r[i] = b[i] - r[i]
        b_norm += b[i] * b[i]
    b_norm = np.sqrt(b_norm)
    if b_norm == 0.0:
        x[:] = 0.0
        return 0
    target = rtol * b_norm
    r_hat = r.copy()
    p = np.zeros(n)
    v = np.zeros(n)
    p_hat = np.empty(n)
    s_hat = np.empty(n)
    t = np.empty(n)
    rho_old = alpha = omega = 1.0
    for iteration in range(max_iterations):
        rho = 0.0
        for i in range(n):
            rho += r_hat[i] * r[i]
        if rho == 0.0 or omega == 0.0:
            return -1
        beta = (rho / rho_old) * (alpha / omega)
        for i in range(n):
            p[i] = r[i] + beta * (p[i] - omega * v[i])
            p_hat[i] = inverse_diagonal[i] * p[i]
        _csr_matvec(indptr, indices, data, p_hat, v)
        denominator = 0.0
        for i in range(n):
            denominator += r_hat[i] * v[i]
        if denominator == 0.0:
            return -1
        alpha = rho / denominator
        s_norm = 0.0
        for i in range(n):
            r[i] -= alpha * v[i]  # r now holds s
            s_norm += r[i] * r[i]
        if np.sqrt(s_norm) <= target:
            for i in range(n):
                x[i] += alpha * p_hat[i]
            return iteration + 1
        for i in range(n):
            s_hat[i] = inverse_diagonal[i] * r[i]
        _csr_matvec(indptr, indices, data, s_hat, t)
        tt = 0.0
        ts = 0.0
        for i in range(n):
            tt += t[i] * t[i]
            ts += t[i] * r[i]
        omega = ts / tt if tt > 0.0 else 0.0
        r_norm = 0.0
        for i in range(n):
            x[i] += alpha * p_hat[i] + omega * s_hat[i]
            r[i] -= omega * t[i]
            r_norm += r[i] * r[i]
        if np.sqrt(r_norm) <= target:
            return iteration + 1
        rho_old = rho
    return -2


@njit(cache=True)
def row_dots(rows, vector, out):
    """``out[i] = rows[i] . vector`` for every row (a matrix-vector product without BLAS).

    The Krylov exponential's projections are products of a few tens of long rows; multithreaded
    BLAS on a busy 2-core node made the FRAP demo 4x slower than one thread (measured), so these
    loops are single-threaded by construction, like :func:`bicgstab_jacobi`.
    """
    for i in range(rows.shape[0]):
        acc = 0.0
        for j in range(rows.shape[1]):
            acc += rows[i, j] * vector[j]
        out[i] = acc


@njit(cache=True)
def combine_rows(coefficients, rows, out):
    """``out = coefficients @ rows`` (a linear combination of rows, without BLAS)."""
    out[:] = 0.0
    for i in range(rows.shape[0]):
        c = coefficients[i]
        if c != 0.0:
            for j in range(rows.shape[1]):
                out[j] += c * rows[i, j]
