"""Plain NumPy twins of the numba kernels: the executable specification the kernels are tested against.

Written for clarity, not speed. Each function takes the same arrays as its kernel twin.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ode_reaction_rates", "ode_rhs", "ode_jacobian_dense"]


def _owners(ptr: np.ndarray) -> np.ndarray:
    """Row index of every CSR entry."""
    return np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))


def ode_reaction_rates(y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count) -> np.ndarray:
    """a_p = rx_rate[p] · Π_r y[pool_r]^ν_r (deterministic mass action, continuous power)."""
    y = np.asarray(y, dtype=np.float64)
    product = np.ones(len(rx_rate))
    np.multiply.at(product, _owners(rx_reac_ptr), y[rx_reac_pool] ** rx_reac_count)
    return np.asarray(rx_rate, dtype=np.float64) * product


def ode_rhs(y, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
            rx_upd_delta, df_pool, df_ptr, df_dest, df_rate) -> np.ndarray:
    """dy/dt = Σ_p delta_p · a_p + Σ_targets (inflow − outflow); zero on clamped pools."""
    y = np.asarray(y, dtype=np.float64)
    a = ode_reaction_rates(y, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
    dydt = np.zeros(len(y))
    np.add.at(dydt, rx_upd_pool, rx_upd_delta * a[_owners(rx_upd_ptr)])
    source = df_pool[_owners(df_ptr)]
    flux = df_rate * y[source]
    np.add.at(dydt, df_dest, flux)
    np.subtract.at(dydt, source, flux)
    dydt[np.asarray(clamped, dtype=bool)] = 0.0
    return dydt


def ode_jacobian_dense(y, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                       rx_upd_delta, df_pool, df_ptr, df_dest, df_rate) -> np.ndarray:
    """Dense Jacobian ∂(dy/dt)/∂y by the product rule, entry by entry."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    jac = np.zeros((n, n))
    for p in range(len(rx_rate)):
        reac = range(rx_reac_ptr[p], rx_reac_ptr[p + 1])
        for r in reac:
            partial = rx_rate[p] * rx_reac_count[r] * y[rx_reac_pool[r]] ** (rx_reac_count[r] - 1)
            for s in reac:
                if s != r:
                    partial *= y[rx_reac_pool[s]] ** rx_reac_count[s]
            for u in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
                jac[rx_upd_pool[u], rx_reac_pool[r]] += rx_upd_delta[u] * partial
    for d in range(len(df_pool)):
        source = df_pool[d]
        for e in range(df_ptr[d], df_ptr[d + 1]):
            jac[source, source] -= df_rate[e]
            jac[df_dest[e], source] += df_rate[e]
    jac[np.asarray(clamped, dtype=bool), :] = 0.0
    return jac
