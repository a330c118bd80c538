"""Kernels of the operator-splitting solver (STEPS 4 / Hepburn et al. 2016).

One step of length ``h`` (≤ τ = 1 / max leaving rate):

1. ``ssa_operator``: in every reaction *cluster* (a tet with the triangles whose surface
   reactions touch it; usually one tet), run the exact SSA of its reactions for ``h`` and
   integrate each changed pool's count over time, giving its occupancy (time-averaged count).
2. ``diffusion_operator``: for every (element, species) that diffuses, stochastically round
   the occupancy (or take the count when no reaction changed it), cap it at the current
   count, draw the number leaving ~ Binomial(m, h·Σd), split it over the faces, and add all
   moves into ``delta``; then apply ``delta`` synchronously.

Randomness comes from counter-based Philox streams keyed by (seed, run, step, key, purpose)
where key is the cluster's smallest element id (SSA) or the pool id (diffusion). No draw
depends on the order in which clusters or pools are visited, so any processing order (and
any partition of the mesh over ranks) gives the same trajectory.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .binomial import binomial, multinomial_split
from .philox import (
    PURPOSE_LEAVE,
    PURPOSE_SSA,
    STREAM_WORDS,
    philox4x64_10,
    stream_init,
    stream_uniform01,
    word_to_uniform01,
)
from .ssa import _reaction_propensity  # the one definition of a propensity (falling factorials)

_NEXT_BLOCK = 5  # index of the next-block word in a Philox stream state (see philox.py)


@njit(cache=True, inline="always")
def _first_block(seed, run, step, key, purpose):
    """The four uniforms of block 0 of a keyed stream, drawn without touching a stream state."""
    w0, w1, w2, w3 = philox4x64_10(
        np.uint64(0), np.uint64(key), np.uint64(step), np.uint64(purpose), seed, run
    )
    return word_to_uniform01(w0), word_to_uniform01(w1), word_to_uniform01(w2), word_to_uniform01(w3)


@njit(cache=True, inline="always")
def _continue_stream(stream, seed, run, step, key, purpose):
    """Point ``stream`` at block 1 of the keyed stream, after the uniforms of :func:`_first_block`."""
    stream_init(stream, seed, run, step, key, purpose)
    stream[_NEXT_BLOCK] = np.uint64(1)

__all__ = [
    "ssa_operator",
    "diffusion_operator",
    "keyed_diffusion_operator",
    "clear_touched",
    "opsplit_steps",
    "STREAM_WORDS",
]


@njit(cache=True, inline="always")
def _cluster_propensities(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, propensity):
    """Recompute the propensities of processes start..stop-1 (one cluster); returns their sum."""
    a0 = 0.0
    for p in range(start, stop):
        a = _reaction_propensity(p, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
        propensity[p] = a
        a0 += a
    return a0


@njit(cache=True, inline="always")
def _cluster_total(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count):
    """The summed propensity of processes start..stop-1, in the order of :func:`_cluster_propensities`
    (so the same float), without storing each one: most clusters do not fire in a step."""
    a0 = 0.0
    for p in range(start, stop):
        a0 += _reaction_propensity(p, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
    return a0


@njit(cache=True, inline="always")
def _touch(pool, t, counts, occ_integral, occ_last, touched, touched_list, n_touched):
    """Integrate the count of ``pool`` up to ``t`` before it changes; returns the new list size."""
    if touched[pool]:
        occ_integral[pool] += counts[pool] * (t - occ_last[pool])
    else:
        touched[pool] = True
        touched_list[n_touched] = pool
        n_touched += 1
        occ_integral[pool] = counts[pool] * t
    occ_last[pool] = t
    return n_touched


@njit(cache=True)
def ssa_operator(h, seed, run, step, order, cluster_ptr, cluster_key, counts, clamped, rx_rate,
                 rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta, propensity,
                 occ_integral, occ_last, touched, touched_list, stream, extent_offset=-1):
    """Exact SSA of every cluster's reactions over [0, h]; returns (number of touched pools, events).

    Reaction arrays are in cluster order: cluster ``c`` owns processes cluster_ptr[c]..cluster_ptr[c+1]-1.
    ``extent_offset`` >= 0 counts each firing of (cluster-ordered) process ``p`` in
    ``counts[extent_offset + p]`` (reaction extents); -1 counts nothing.
    """
    n_touched = 0
    events = 0
    natural = len(order) == 0  # an empty order means clusters 0, 1, 2, ...
    for oc in range(len(cluster_key)):
        c = oc if natural else order[oc]
        start, stop = cluster_ptr[c], cluster_ptr[c + 1]
        a0 = _cluster_total(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
        if a0 <= 0.0:
            continue
        u0, u1, _u2, _u3 = _first_block(seed, run, step, cluster_key[c], PURPOSE_SSA)
        t = -math.log(1.0 - u0) / a0
        if t >= h:  # the common case: no reaction in this cluster during this step
            continue
        _cluster_propensities(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count,
                              propensity)
        _continue_stream(stream, seed, run, step, cluster_key[c], PURPOSE_SSA)
        first = True
        while True:
            if not first:
                t -= math.log(1.0 - stream_uniform01(stream)) / a0
                if t >= h:
                    break
            r = (u1 if first else stream_uniform01(stream)) * a0
            first = False
            chosen = stop - 1
            for p in range(start, stop):
                r -= propensity[p]
                if r < 0.0:
                    chosen = p
                    break
            if propensity[chosen] <= 0.0:  # round-off at the end of the scan
                for p in range(stop - 1, start - 1, -1):
                    if propensity[p] > 0.0:
                        chosen = p
                        break
            events += 1
            if extent_offset >= 0:
                counts[extent_offset + chosen] += 1
            for e in range(rx_upd_ptr[chosen], rx_upd_ptr[chosen + 1]):
                pool = rx_upd_pool[e]
                if not clamped[pool]:
                    n_touched = _touch(
                        pool, t, counts, occ_integral, occ_last, touched, touched_list, n_touched
                    )
                    counts[pool] += rx_upd_delta[e]
            a0 = _cluster_propensities(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count,
                                       propensity)
            if a0 <= 0.0:
                break
    # close the occupancy integrals at h
    for i in range(n_touched):
        pool = touched_list[i]
        occ_integral[pool] += counts[pool] * (h - occ_last[pool])
    return n_touched, events


@njit(cache=True, inline="always")
def _binomial_from_uniform(m, p, u):
    """Binomial(m, p) by inversion from one uniform, for m·p < 10 and p <= 1/2; -1 if the search fails."""
    q = 1.0 - p
    if m <= 16:
        r = q
        for _ in range(m - 1):
            r *= q
    else:
        r = math.exp(m * math.log1p(-p))
    ratio = p / q
    a = (m + 1) * ratio
    x = 0
    while u > r:
        u -= r
        x += 1
        if x > m:
            return -1
        r *= a / x - ratio
        if not (r > 0.0):
            return -1
    return x


@njit(cache=True)
def diffusion_operator(
    h,
    seed,
    run,
    step,
    order,
    df_pool,
    df_ptr,
    df_dest,
    df_rate,
    df_total,
    counts,
    clamped,
    occ_integral,
    touched,
    incoming,
    stream,
    split_out,
):
    """Binomial diffusion of every (element, species) over h, applied synchronously. Returns jumps.

    Each pool draws from its own count only, so leaving molecules are taken off their source at
    once, while arrivals wait in ``incoming`` (one small integer per pool, zero between steps)
    until every pool has drawn: a molecule moves at most one face per step.
    """
    return keyed_diffusion_operator(h, seed, run, step, order, df_pool, df_ptr, df_dest, df_rate, df_total,
                                    counts, clamped, occ_integral, touched, incoming, stream, split_out,
                                    np.zeros(0, np.int64))


@njit(cache=True)
def keyed_diffusion_operator(h, seed, run, step, order, df_pool, df_ptr, df_dest, df_rate, df_total, counts,
                             clamped, occ_integral, touched, incoming, stream, split_out, pool_key):
    """:func:`diffusion_operator` on a part of a mesh: ``pool_key[pool]`` is the pool's global id.

    A back end that holds only its part of the pools (with local ids) passes the global id of
    each local pool, so every pool draws from the stream keyed by its global id and the result
    does not depend on the partition. An empty ``pool_key`` means local ids are global ids.
    """
    jumps = 0
    natural = len(order) == 0  # an empty order means processes 0, 1, 2, ...
    global_ids = len(pool_key) == 0
    for od in range(len(df_pool)):
        d = od if natural else order[od]
        pool = df_pool[d]
        n = counts[pool]
        if n <= 0:
            continue
        key = pool if global_ids else pool_key[pool]
        # Uniforms: block 0 gives u_round, u_leave, u_split (enough for one molecule);
        # anything more comes from the same keyed stream from block 1 on.
        u_round, u_leave, u_split, _u3 = _first_block(seed, run, step, key, PURPOSE_LEAVE)
        if touched[pool]:
            occupancy = occ_integral[pool] / h
            m = np.int64(math.floor(occupancy))
            if u_round < occupancy - m:
                m += 1
            if m > n:
                m = n
            if m <= 0:
                continue
        else:
            m = n
        p = h * df_total[d]
        if p > 1.0:
            p = 1.0
        streaming = False
        if m == 1:  # the common case on fine meshes: one uniform instead of a binomial set-up
            leaving = 1 if u_leave < p else 0
        else:
            leaving = -1
            if p <= 0.5 and m * p < 10.0:
                leaving = _binomial_from_uniform(m, p, u_leave)
            elif p > 0.5 and m * (1.0 - p) < 10.0:
                staying = _binomial_from_uniform(m, 1.0 - p, u_leave)
                if staying >= 0:
                    leaving = m - staying
            if leaving < 0:  # large m·p (BTRD) or a failed search: continue the keyed stream
                _continue_stream(stream, seed, run, step, key, PURPOSE_LEAVE)
                streaming = True
                leaving = binomial(m, p, stream)
        if leaving <= 0:
            continue
        jumps += leaving
        start, stop = df_ptr[d], df_ptr[d + 1]
        if not clamped[pool]:  # a clamped pool is a source: molecules leave, its count stays
            counts[pool] -= leaving
        if stop - start == 1:
            if not clamped[df_dest[start]]:
                incoming[df_dest[start]] += leaving
            continue
        if leaving == 1:
            target = u_split * df_total[d]
            chosen = stop - 1
            for e in range(start, stop):
                target -= df_rate[e]
                if target < 0.0:
                    chosen = e
                    break
            if not clamped[df_dest[chosen]]:
                incoming[df_dest[chosen]] += 1
            continue
        if not streaming:
            _continue_stream(stream, seed, run, step, key, PURPOSE_LEAVE)
        multinomial_split(leaving, df_rate[start:stop], stream, split_out)
        for k in range(stop - start):
            dest = df_dest[start + k]
            if split_out[k] > 0 and not clamped[dest]:
                incoming[dest] += split_out[k]
    # arrivals: every draw above saw the counts of the start of the step
    if jumps > 0:
        for pool in range(len(incoming)):
            if incoming[pool] != 0:
                counts[pool] += incoming[pool]
                incoming[pool] = 0
    return jumps


@njit(cache=True)
def clear_touched(touched, touched_list, n_touched):
    for i in range(n_touched):
        touched[touched_list[i]] = False


@njit(cache=True)
def opsplit_steps(
    t,
    t_stop,
    tau,
    step,
    max_steps,
    seed,
    run,
    cluster_order,
    df_order,
    cluster_ptr,
    cluster_key,
    counts,
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
    df_total,
    propensity,
    occ_integral,
    occ_last,
    touched,
    touched_list,
    incoming,
    stream,
    split_out,
    stats,
    extent_offset=-1,
):
    """Take steps of length ≤ tau from t until t_stop exactly (or max_steps). Returns (t, step).

    ``stats`` accumulates [reaction events, diffusion jumps, steps].
    """
    taken = 0
    while t < t_stop and taken < max_steps:
        h = t_stop - t
        last = True
        if h > tau * (1.0 + 1e-12):
            h = tau
            last = False
        n_touched, events = ssa_operator(
            h,
            seed,
            run,
            step,
            cluster_order,
            cluster_ptr,
            cluster_key,
            counts,
            clamped,
            rx_rate,
            rx_reac_ptr,
            rx_reac_pool,
            rx_reac_count,
            rx_upd_ptr,
            rx_upd_pool,
            rx_upd_delta,
            propensity,
            occ_integral,
            occ_last,
            touched,
            touched_list,
            stream,
            extent_offset,
        )
        jumps = diffusion_operator(h, seed, run, step, df_order, df_pool, df_ptr, df_dest, df_rate, df_total,
                                   counts, clamped, occ_integral, touched, incoming, stream, split_out)
        clear_touched(touched, touched_list, n_touched)
        stats[0] += events
        stats[1] += jumps
        stats[2] += 1
        step += 1
        taken += 1
        t = t_stop if last else t + h
    return t, step
