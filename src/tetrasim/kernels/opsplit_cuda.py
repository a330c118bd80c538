"""The opsplit operators as CUDA kernels (numba.cuda), from the serial kernels' sources.

One step is three operators (docs/concepts/gpu.md), either three launches per step or, in
``steps_kernel``, many steps in one cooperative launch with grid-wide barriers between them:

1. ``ssa_kernel`` — one thread per reaction cluster: :func:`_cluster_ssa`, the body of the
   cluster loop of :func:`tetrasim.kernels.opsplit.ssa_operator`, then the cluster closes the
   occupancy integrals of the pools its reactions update. A pool belongs to exactly one cluster,
   so no two threads write the same memory.
2. ``diffusion_kernel`` — one thread per diffusing (element, species): :func:`_pool_diffusion`,
   the body of the serial diffusion loop; a thread decrements only its own pool and adds arrivals
   to ``incoming`` with atomic adds (integer, so the order of the adds does not matter).
3. ``apply_kernel`` — one thread per pool: ``counts += incoming``, clear ``incoming`` and ``touched``.

``record_kernel`` sums recorded pools into their columns on the device (one thread per column),
so only the recorded values cross to the host.

Everything these call — Philox, the binomial samplers, propensities, the first-block uniforms,
the inversion sampler — is the serial njit functions' Python source recompiled with
``cuda.jit(device=True)`` (:func:`tetrasim.kernels.philox.rebuild_functions`). Random numbers
therefore come from the same Philox streams keyed by (seed, run, step, cluster key or pool id,
purpose) as on the CPU. ``numba.cuda`` is imported only by :func:`build_kernels`.
"""

from __future__ import annotations

import math  # noqa: F401  (used by the kernel sources once rebuilt)
import os
import types
from functools import lru_cache

import numpy as np

from . import binomial as _binomial_module
from . import opsplit as _opsplit
from . import ssa as _ssa
from .binomial import binomial, multinomial_split  # noqa: F401  (rebuilt for the device)
from .opsplit import _binomial_from_uniform, _cluster_propensities, _continue_stream, _first_block  # noqa: F401
from .philox import DEVICE_SOURCES as PHILOX_SOURCES
from .philox import PURPOSE_LEAVE, PURPOSE_SSA, STREAM_WORDS, rebuild_functions, stream_uniform01  # noqa: F401

__all__ = ["MAX_TARGETS", "THREADS_PER_BLOCK", "build_kernels", "launch_shape"]

#: The most destinations one pool diffuses to (a tet has 4 faces; a triangle 3 edges); the
#: per-thread split buffer is a fixed-size local array of this length.
MAX_TARGETS = 16
THREADS_PER_BLOCK = 128

cuda = None  # numba.cuda, bound in the shared globals by build_kernels (never imported here)
uint64 = np.uint64
int64 = np.int64
float64 = np.float64


def _mul_rn(a, b):
    """a * b, rounded on its own. On a device this is libdevice's ``dmul_rn``, which the compiler
    never fuses with a following add (NVVM contracts a * b + c into one FMA by default, rounding
    once instead of twice, unlike the CPU); the simulator has no libdevice and needs none."""
    return a * b


def launch_shape(n: int) -> tuple[int, int]:
    """(blocks, threads per block) with one thread per item for ``n`` items.

    Blocks of :data:`THREADS_PER_BLOCK` threads, smaller (a multiple of a 32-thread warp) when
    there are fewer items: the CUDA simulator runs every thread as a Python thread.
    """
    threads = min(THREADS_PER_BLOCK, 32 * max(1, -(-int(n) // 32)))
    return max(1, -(-int(n) // threads)), threads


# ------------------------------------------------------------------ one thread's work
# The serial kernels keep these bodies inline in their loops: factoring them out into functions
# that both call made the CPU operators 2-3 times slower (13,009-tet simple model, with or
# without numba's IR inlining; the ~18 array arguments per pool and step are the likely cost).
# The simulator test (tests/unit/test_gpu_backend.py) checks that GPU and serial runs stay
# identical bit for bit, so the two copies cannot drift apart unnoticed.
def _cluster_ssa(c, h, seed, run, step, cluster_ptr, cluster_key, counts, clamped, rx_rate, rx_reac_ptr,
                 rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta, propensity, occ_integral,
                 occ_last, touched, touched_list, n_touched, stream, extent_offset):
    """Exact SSA of cluster ``c`` over [0, h]; returns (number of touched pools, events).

    The body of the cluster loop of :func:`tetrasim.kernels.opsplit.ssa_operator`, statement for
    statement, as one thread's work: a cluster's pools belong to no other cluster, so clusters
    never write the same memory.
    """
    events = 0
    start, stop = cluster_ptr[c], cluster_ptr[c + 1]
    a0 = _cluster_propensities(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count,
                               propensity)
    if a0 <= 0.0:
        return n_touched, events
    u0, u1, _u2, _u3 = _first_block(seed, run, step, cluster_key[c], PURPOSE_SSA)
    t = -math.log(1.0 - u0) / a0
    if t >= h:  # the common case: no reaction in this cluster during this step
        return n_touched, events
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
                n_touched = _touch_device(pool, t, counts, occ_integral, occ_last, touched, touched_list,
                                           n_touched)
                counts[pool] += rx_upd_delta[e]
        a0 = _cluster_propensities(start, stop, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count,
                                   propensity)
        if a0 <= 0.0:
            break
    return n_touched, events


def _pool_diffusion(d, h, seed, run, step, key, df_pool, df_ptr, df_dest, df_rate, df_total, counts, clamped,
                    occ_integral, touched, incoming, stream, split_out):
    """Binomial diffusion out of the pool of diffusion process ``d`` (stream ``key``); returns the jumps.

    The body of the loop of :func:`tetrasim.kernels.opsplit.keyed_diffusion_operator`, statement
    for statement, as one thread's work: it reads and decrements only its own pool's count, and
    arrivals go to ``incoming`` by atomic adds.
    """
    pool = df_pool[d]
    n = counts[pool]
    if n <= 0:
        return 0
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
            return 0
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
        return 0
    start, stop = df_ptr[d], df_ptr[d + 1]
    if not clamped[pool]:  # a clamped pool is a source: molecules leave, its count stays
        counts[pool] -= leaving
    if stop - start == 1:
        if not clamped[df_dest[start]]:
            _arrive_device(incoming, df_dest[start], leaving)
        return leaving
    if leaving == 1:
        target = u_split * df_total[d]
        chosen = stop - 1
        for e in range(start, stop):
            target -= df_rate[e]
            if target < 0.0:
                chosen = e
                break
        if not clamped[df_dest[chosen]]:
            _arrive_device(incoming, df_dest[chosen], 1)
        return leaving
    if not streaming:
        _continue_stream(stream, seed, run, step, key, PURPOSE_LEAVE)
    multinomial_split(leaving, df_rate[start:stop], stream, split_out)
    for k in range(stop - start):
        dest = df_dest[start + k]
        if split_out[k] > 0 and not clamped[dest]:
            _arrive_device(incoming, dest, split_out[k])
    return leaving


# ------------------------------------------------------------------ device-only replacements
def _touch_device(pool, t, counts, occ_integral, occ_last, touched, touched_list, n_touched):
    """:func:`tetrasim.kernels.opsplit._touch` without the touched list (each cluster closes its pools)."""
    if touched[pool]:
        occ_integral[pool] = occ_integral[pool] + _mul_rn(float64(counts[pool]), t - occ_last[pool])
    else:
        touched[pool] = True
        occ_integral[pool] = counts[pool] * t
    occ_last[pool] = t
    return n_touched


def _arrive_device(incoming, dest, n):
    """Arrivals from several threads into one pool: an atomic integer add."""
    cuda.atomic.add(incoming, dest, n)


def _close_cluster(c, h, cluster_ptr, rx_upd_ptr, rx_upd_pool, counts, occ_integral, occ_last, touched):
    """Close the occupancy integrals of cluster ``c``'s touched pools at ``h`` (closing one twice
    adds counts * 0.0: no change), as the serial operator does after all clusters."""
    for p in range(cluster_ptr[c], cluster_ptr[c + 1]):
        for e in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
            pool = rx_upd_pool[e]
            if touched[pool]:
                occ_integral[pool] = occ_integral[pool] + _mul_rn(float64(counts[pool]), h - occ_last[pool])
                occ_last[pool] = h


# ------------------------------------------------------------------ kernels
def _ssa_kernel(h, seed, run, step, cluster_ptr, cluster_key, counts, clamped, rx_rate, rx_reac_ptr,
                rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta, propensity, occ_integral,
                occ_last, touched, stats, extent_offset):
    c = cuda.grid(1)
    if c >= cluster_key.shape[0]:
        return
    stream = cuda.local.array(STREAM_WORDS, uint64)
    _n, events = _cluster_ssa(c, h, seed, run, step, cluster_ptr, cluster_key, counts, clamped, rx_rate,
                              rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta,
                              propensity, occ_integral, occ_last, touched, touched, 0, stream, extent_offset)
    if events == 0:
        return
    _close_cluster(c, h, cluster_ptr, rx_upd_ptr, rx_upd_pool, counts, occ_integral, occ_last, touched)
    cuda.atomic.add(stats, 0, int64(events))


def _diffusion_kernel(h, seed, run, step, df_pool, df_ptr, df_dest, df_rate, df_total, counts, clamped,
                      occ_integral, touched, incoming, stats):
    d = cuda.grid(1)
    if d >= df_pool.shape[0]:
        return
    stream = cuda.local.array(STREAM_WORDS, uint64)
    split_out = cuda.local.array(MAX_TARGETS, int64)
    jumps = _pool_diffusion(d, h, seed, run, step, df_pool[d], df_pool, df_ptr, df_dest, df_rate, df_total,
                            counts, clamped, occ_integral, touched, incoming, stream, split_out)
    if jumps > 0:
        cuda.atomic.add(stats, 1, int64(jumps))


def _apply_kernel(counts, incoming, touched):
    pool = cuda.grid(1)
    if pool >= incoming.shape[0]:
        return
    if incoming[pool] != 0:
        counts[pool] += incoming[pool]
        incoming[pool] = 0
    touched[pool] = False


def _steps_kernel(n_steps, t, t_stop, tau, step, seed, run, cluster_ptr, cluster_key, counts, clamped,
                  rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta,
                  propensity, occ_integral, occ_last, touched, df_pool, df_ptr, df_dest, df_rate, df_total,
                  incoming, stats, extent_offset):
    """``n_steps`` whole steps in one cooperative launch: the three operators of each step over
    grid-stride loops, separated by grid-wide barriers (the host's step rule for ``h``)."""
    grid = cuda.cg.this_grid()
    first, stride = cuda.grid(1), cuda.gridsize(1)
    stream = cuda.local.array(STREAM_WORDS, uint64)
    split_out = cuda.local.array(MAX_TARGETS, int64)
    events = int64(0)
    jumps = int64(0)
    for _ in range(n_steps):
        h = t_stop - t
        if h > tau * (1.0 + 1e-12):
            h = tau
        for c in range(first, cluster_key.shape[0], stride):
            _n, fired = _cluster_ssa(c, h, seed, run, step, cluster_ptr, cluster_key, counts, clamped,
                                     rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr,
                                     rx_upd_pool, rx_upd_delta, propensity, occ_integral, occ_last, touched,
                                     touched, 0, stream, extent_offset)
            if fired > 0:
                events += fired
                _close_cluster(c, h, cluster_ptr, rx_upd_ptr, rx_upd_pool, counts, occ_integral, occ_last,
                               touched)
        grid.sync()
        for d in range(first, df_pool.shape[0], stride):
            jumps += _pool_diffusion(d, h, seed, run, step, df_pool[d], df_pool, df_ptr, df_dest, df_rate,
                                     df_total, counts, clamped, occ_integral, touched, incoming, stream,
                                     split_out)
        grid.sync()
        for pool in range(first, incoming.shape[0], stride):
            if incoming[pool] != 0:
                counts[pool] += incoming[pool]
                incoming[pool] = 0
            touched[pool] = False
        grid.sync()
        t = t + h
        step += 1
    if events > 0:
        cuda.atomic.add(stats, 0, events)
    if jumps > 0:
        cuda.atomic.add(stats, 1, jumps)


def _record_kernel(counts, column_ptr, column_pools, out_row):
    """One thread per recorded column: the sum of its pools (``column_pools`` in CSR by column)."""
    col = cuda.grid(1)
    if col < out_row.shape[0]:
        total = int64(0)
        for i in range(column_ptr[col], column_ptr[col + 1]):
            total += counts[column_pools[i]]
        out_row[col] = total


#: device functions in dependency order: Philox, binomial sampling, then the opsplit bodies
_DEVICE_SOURCES = PHILOX_SOURCES + _binomial_module.DEVICE_SOURCES + (
    ("_reaction_propensity", _ssa._reaction_propensity.py_func),
    ("_first_block", _opsplit._first_block.py_func),
    ("_continue_stream", _opsplit._continue_stream.py_func),
    ("_cluster_propensities", _opsplit._cluster_propensities.py_func),
    ("_touch_device", _touch_device),
    ("_cluster_ssa", _cluster_ssa),
    ("_binomial_from_uniform", _opsplit._binomial_from_uniform.py_func),
    ("_arrive_device", _arrive_device),
    ("_pool_diffusion", _pool_diffusion),
    ("_close_cluster", _close_cluster),
)

_KERNEL_SOURCES = (
    ("ssa_kernel", _ssa_kernel),
    ("diffusion_kernel", _diffusion_kernel),
    ("apply_kernel", _apply_kernel),
    ("record_kernel", _record_kernel),
    ("steps_kernel", _steps_kernel),
)


@lru_cache(maxsize=1)
def build_kernels():
    """Compile the device functions and kernels with ``numba.cuda`` (imported here); a namespace.

    Raises ImportError when ``numba.cuda`` cannot be imported; the back end turns that into a
    :class:`~tetrasim.errors.CapabilityError` that says what to install.
    """
    from numba import cuda as numba_cuda

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):  # the simulator has no libdevice
        multiply = numba_cuda.jit(device=True)(_mul_rn)
    else:
        from numba.cuda.libdevice import dmul_rn as multiply

    def device(function):
        shared = function.__globals__  # every copy shares one globals dict
        shared["cuda"] = numba_cuda
        shared["_mul_rn"] = multiply
        return numba_cuda.jit(device=True)(function)

    built = rebuild_functions(_DEVICE_SOURCES, device)
    kernel_globals = dict(globals())
    kernel_globals.update(built)
    kernel_globals["cuda"] = numba_cuda
    kernels = {}
    for name, source in _KERNEL_SOURCES:
        copy = types.FunctionType(source.__code__, kernel_globals, name, source.__defaults__,
                                  source.__closure__)
        kernels[name] = numba_cuda.jit(copy)
    return types.SimpleNamespace(cuda=numba_cuda, **kernels)
