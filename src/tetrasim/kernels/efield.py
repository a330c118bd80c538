"""numba kernels of the EField loop: voltage-dependent rates from tables, membrane currents."""

from __future__ import annotations

import numpy as np
from numba import njit

from .ode import ode_rhs

__all__ = ["refresh_vdep_rates", "ohmic_currents", "gather_open", "ghk_currents", "triangle_potentials",
           "vertex_conductance"]


@njit(cache=True)
def triangle_potentials(potential, tri_vertices, out):
    """Each membrane triangle sees the mean of its three vertex potentials."""
    for t in range(tri_vertices.shape[0]):
        out[t] = (
            potential[tri_vertices[t, 0]] + potential[tri_vertices[t, 1]] + potential[tri_vertices[t, 2]]
        ) / 3.0


@njit(cache=True)
def refresh_vdep_rates(
    tri_potential, process, table, tri, low, step, size, offset, values, rx_scale, rx_rate
):
    """rx_rate[p] = scale[p] · k_table(V of p's triangle), linear interpolation.

    Returns the index (into ``process``) of the first process whose potential lies outside its
    table, or -1 when all are inside (nothing is clipped: the caller raises).
    """
    for j in range(process.shape[0]):
        b = table[j]
        v = tri_potential[tri[j]]
        x = (v - low[b]) / step[b]
        last = size[b] - 1
        if not (x >= -1e-9 and x <= last + 1e-9):  # also catches NaN
            return j
        i = int(np.floor(x))
        if i >= last:
            i = last - 1
        if i < 0:
            i = 0
        frac = x - i
        base = offset[b] + i
        k = values[base] + frac * (values[base + 1] - values[base])
        p = process[j]
        rx_rate[p] = rx_scale[p] * k
    return -1


@njit(cache=True)
def ohmic_currents(counts, open_start, tri_potential, pools, conductance, reversal, out):
    """Outward current (A) of each ohmic current on each triangle over one step.

    The open-channel number is the mean of ``open_start`` (counts at the start of the step)
    and the counts at its end (trapezoid of the occupancy); the potential is the triangle's
    at the start of the step. The solver adds the implicit part, the conductance times the
    change of potential over the step (:func:`vertex_conductance`).
    """
    for c in range(pools.shape[0]):
        for t in range(pools.shape[1]):
            pool = pools[c, t]
            if pool < 0:
                out[c, t] = 0.0
                continue
            open_channels = 0.5 * (open_start[c, t] + float(counts[pool]))
            out[c, t] = conductance[c] * open_channels * (tri_potential[t] - reversal[c])


@njit(cache=True)
def vertex_conductance(counts, open_start, pools, conductance, tri_vertices, out):
    """out[v] = Σ over ohmic currents and the membrane triangles at v of g·(open channels)/3 (S).

    The step's open-channel conductance of each triangle, a third to each of its corners: the
    diagonal that makes the ohmic currents implicit in the backward-Euler potential step.
    """
    out[:] = 0.0
    for c in range(pools.shape[0]):
        for t in range(pools.shape[1]):
            pool = pools[c, t]
            if pool < 0:
                continue
            share = conductance[c] * 0.5 * (open_start[c, t] + float(counts[pool])) / 3.0
            for corner in range(3):
                out[tri_vertices[t, corner]] += share


@njit(cache=True)
def gather_open(counts, pools, out):
    """out[c, t] = counts[pools[c, t]] (0 where the pool is -1)."""
    for c in range(pools.shape[0]):
        for t in range(pools.shape[1]):
            pool = pools[c, t]
            out[c, t] = float(counts[pool]) if pool >= 0 else 0.0


@njit(cache=True)
def ghk_currents(counts, in_pools, out_pools, charge, dt, out):
    """Outward GHK current (A) per triangle from the ion events counted in one step; resets the counters."""
    for c in range(in_pools.shape[0]):
        for t in range(in_pools.shape[1]):
            pin = in_pools[c, t]
            pout = out_pools[c, t]
            if pin < 0:
                out[c, t] = 0.0
                continue
            net = float(counts[pout]) - float(counts[pin])
            out[c, t] = charge[c] * net / dt
            counts[pin] = 0
            counts[pout] = 0


@njit(cache=True)
def rk23_chemistry(y, span, h, rtol, atol, max_substeps, clamped, rx_rate, rx_reac_ptr, rx_reac_pool,
                   rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta, df_pool, df_ptr, df_dest, df_rate,
                   work):
    """Rate equations over ``span`` seconds with adaptive Bogacki–Shampine (RK23) substeps.

    ``y`` is advanced in place; ``work`` is (6, n) scratch. Returns the last accepted substep
    (> 0), or -1.0 when more than ``max_substeps`` were needed (stiff: ``y`` is then left at
    the partial state and the caller redoes the step with an implicit method).
    """

    n = y.shape[0]
    k1, k2, k3, k4, stage, y_new = work[0], work[1], work[2], work[3], work[4], work[5]
    ode_rhs(
        y,
        clamped,
        rx_rate,
        rx_reac_ptr,
        rx_reac_pool,
        rx_reac_count,
        rx_upd_ptr,
        rx_upd_pool,
        rx_upd_delta,
        df_pool,
        df_ptr,
        df_dest,
        df_rate,
        k1,
    )
    done = 0.0
    substeps = 0
    last = h
    while done < span * (1.0 - 1e-12):
        if h > span - done:
            h = span - done
        for i in range(n):
            stage[i] = y[i] + 0.5 * h * k1[i]
        ode_rhs(stage, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, k2)
        for i in range(n):
            stage[i] = y[i] + 0.75 * h * k2[i]
        ode_rhs(stage, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, k3)
        for i in range(n):
            y_new[i] = y[i] + h * (2.0 / 9.0 * k1[i] + 1.0 / 3.0 * k2[i] + 4.0 / 9.0 * k3[i])
        ode_rhs(y_new, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, k4)
        total = 0.0
        for i in range(n):
            error = h * (-5.0 / 72.0 * k1[i] + 1.0 / 12.0 * k2[i] + 1.0 / 9.0 * k3[i] - 1.0 / 8.0 * k4[i])
            scale = atol + rtol * max(abs(y[i]), abs(y_new[i]))
            total += (error / scale) ** 2
        norm = np.sqrt(total / max(n, 1))
        substeps += 1
        if norm <= 1.0:
            for i in range(n):
                y[i] = y_new[i]
                k1[i] = k4[i]
            done += h
            last = h
        factor = 5.0 if norm == 0.0 else min(5.0, max(0.2, 0.9 * norm ** (-1.0 / 3.0)))
        h *= factor
        if substeps > max_substeps:
            return -1.0
    return last
