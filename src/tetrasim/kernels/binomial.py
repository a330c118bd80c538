"""Binomial and multinomial draws from the keyed Philox streams (numba kernels).

* :func:`binomial` ``(n, p, state) -> int64``: one Binomial(n, p) variate drawn from the
  stream ``state`` (a ``uint64[STREAM_WORDS]`` array, see :mod:`tetrasim.kernels.philox`).
  With ``p' = min(p, 1 - p)``: sequential-search inversion (Kachitvichyanukul and Schmeiser
  1988, "BINV") when ``n * p' < 10``, otherwise BTRD, the transformed rejection with
  decomposition of Hörmann (1993), "The generation of binomial random variates", J. Statist.
  Comput. Simul. 46:101-110.  ``p > 1/2`` is drawn as ``n - Binomial(n, 1 - p)``.  Exact
  limits: ``n <= 0`` or ``p <= 0`` (or NaN) gives 0, ``p >= 1`` gives ``n``.
* :func:`multinomial_split` ``(total, weights, state, out) -> int64``: splits ``total``
  molecules over ``len(weights)`` destinations with probabilities proportional to the
  positive weights; per-molecule draws when ``total <= SPLIT_PER_MOLECULE_MAX`` (10),
  conditional binomials above.

Only ``+ - * /``, ``sqrt``, ``log``, ``log1p`` and ``exp`` on float64 are used, with no
allocation, so the sources also compile with ``numba.cuda.jit(device=True)`` (see
:func:`make_cuda_device_functions`).  ``n`` must be below 2**53 so that it converts to
float64 exactly.
"""

import math

import numba
import numpy as np

from tetrasim.kernels.philox import DEVICE_SOURCES as PHILOX_DEVICE_SOURCES
from tetrasim.kernels.philox import rebuild_functions, stream_uniform01

__all__ = [
    "INVERSION_MAX_MEAN",
    "SPLIT_PER_MOLECULE_MAX",
    "binomial",
    "multinomial_split",
    "stirling_correction",
    "make_cuda_device_functions",
]

#: ``n * min(p, 1 - p)`` below which inversion is used (BTRD requires at least 10).
INVERSION_MAX_MEAN = 10.0

#: ``multinomial_split`` draws molecule by molecule up to this many molecules.
SPLIT_PER_MOLECULE_MAX = 10

# fc(k) = log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2 for k = 0..15, computed
# with 50-digit decimal arithmetic.  Above 15 the Stirling series to 1/(1680 (k+1)^7) is used
# (truncation error < 1e-14; Hörmann's paper tabulates to 9 and stops at 1/1260, error 3e-11).
_BINOMIAL_FC_TABLE = (
    0.08106146679532726,
    0.0413406959554093,
    0.02767792568499834,
    0.020790672103765093,
    0.016644691189821193,
    0.013876128823070748,
    0.01189670994589177,
    0.010411265261972096,
    0.009255462182712733,
    0.00833056343336287,
    0.007573675487951841,
    0.00694284010720953,
    0.006408994188004207,
    0.0059513701127588475,
    0.005554733551962801,
    0.0052076559196096404,
)


def _jit(func):
    return numba.njit(cache=True)(func)


def _stirling_correction_py(k):
    """fc(k) = log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2, for k >= 0."""
    if k < 16:
        return _BINOMIAL_FC_TABLE[k]
    inverse = 1.0 / (k + 1.0)
    inverse_squared = inverse * inverse
    series = 1.0 / 1260.0 - (1.0 / 1680.0) * inverse_squared
    return (1.0 / 12.0 - (1.0 / 360.0 - series * inverse_squared) * inverse_squared) * inverse


stirling_correction = _jit(_stirling_correction_py)


def _binomial_inversion_py(n, p, state):
    """Binomial(n, p) by sequential search from 0, for p <= 1/2 and n p < 10."""
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    first = math.exp(n * math.log1p(-p))  # P(X = 0) = q**n
    while True:
        u = stream_uniform01(state)
        r = first
        x = 0
        while u > r:
            u = u - r
            x += 1
            if x > n:
                x = -1  # rounding left some mass over: draw again
                break
            r = r * (a / x - s)
            if not (r > 0.0):
                x = -1  # the tail underflowed: draw again
                break
        if x >= 0:
            return x


_binomial_inversion = _jit(_binomial_inversion_py)


def _binomial_btrd_py(n, p, state):
    """Binomial(n, p) by Hörmann's BTRD, for p <= 1/2 and n p >= 10."""
    q = 1.0 - p
    m = int((n + 1) * p)  # the mode
    r = p / q
    nr = (n + 1) * r
    npq = n * p * q
    spq = math.sqrt(npq)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    vr = 0.92 - 4.2 / b
    urvr = 0.86 * vr
    upper = n + 1.0
    nm = n - m + 1
    h = 0.0
    have_h = False
    while True:
        # step 1: the box of immediate acceptance
        v = stream_uniform01(state)
        if v <= urvr:
            u = v / vr - 0.43
            y = (2.0 * a / (0.5 - abs(u)) + b) * u + c
            if y >= 0.0 and y < upper:
                return int(y)
            continue
        # step 2: a point (u, v) of the hat
        if v >= vr:
            u = stream_uniform01(state) - 0.5
        else:
            u = v / vr - 0.93
            u = math.copysign(0.5, u) - u
            v = stream_uniform01(state) * vr
        # step 3.0
        us = 0.5 - abs(u)
        if not (us > 0.0):
            continue
        y = (2.0 * a / us + b) * u + c
        if y < 0.0 or y >= upper:
            continue
        k = int(y)
        v = v * alpha / (a / (us * us) + b)
        km = abs(k - m)
        if km <= 15:
            # step 3.1: recursive evaluation of f(k) / f(m)
            f = 1.0
            if m < k:
                i = m
                while i < k:
                    i += 1
                    f = f * (nr / i - r)
            elif m > k:
                i = k
                while i < m:
                    i += 1
                    v = v * (nr / i - r)
            if v <= f:
                return k
            continue
        # step 3.2: squeeze on log(v)
        if v > 0.0:
            v = math.log(v)
        else:
            v = -math.inf
        kmf = float(km)
        rho = (kmf / npq) * (((kmf / 3.0 + 0.625) * kmf + 1.0 / 6.0) / npq + 0.5)
        t = -kmf * kmf / (2.0 * npq)
        if v < t - rho:
            return k
        if v > t + rho:
            continue
        # step 3.3: the constant part of the log density ratio, once per call
        if not have_h:
            h = (m + 0.5) * math.log((m + 1) / (r * nm)) + stirling_correction(m) + stirling_correction(n - m)
            have_h = True
        # step 3.4: final acceptance test
        nk = n - k + 1
        bound = (
            h
            + (n + 1) * math.log(nm / nk)
            + (k + 0.5) * math.log(nk * r / (k + 1))
            - stirling_correction(k)
            - stirling_correction(n - k)
        )
        if v <= bound:
            return k


_binomial_btrd = _jit(_binomial_btrd_py)


def _binomial_py(n, p, state):
    """One Binomial(n, p) variate (int64) drawn from the stream ``state``."""
    n = np.int64(n)
    if n <= 0 or not (p > 0.0):
        return np.int64(0)
    if p >= 1.0:
        return n
    if p > 0.5:
        p_low = 1.0 - p
        if n * p_low < INVERSION_MAX_MEAN:
            return n - np.int64(_binomial_inversion(n, p_low, state))
        return n - np.int64(_binomial_btrd(n, p_low, state))
    if n * p < INVERSION_MAX_MEAN:
        return np.int64(_binomial_inversion(n, p, state))
    return np.int64(_binomial_btrd(n, p, state))


binomial = _jit(_binomial_py)


def _multinomial_split_py(total, weights, state, out):
    """Split ``total`` molecules over the destinations of ``weights`` into ``out``.

    ``out[i]`` (for ``i < len(weights)``) receives the number sent to destination ``i``,
    chosen with probability ``weights[i] / sum(positive weights)``; destinations with a
    weight that is not positive receive none.  Returns the number left unplaced: 0, or
    ``total`` when no weight is positive.
    """
    count = weights.shape[0]
    weight_sum = 0.0
    last = -1
    for i in range(count):
        out[i] = 0
        if weights[i] > 0.0:
            weight_sum += weights[i]
            last = i
    if total <= 0:
        return np.int64(0)
    if last < 0:
        return np.int64(total)
    if total <= SPLIT_PER_MOLECULE_MAX:
        for _ in range(total):
            target = stream_uniform01(state) * weight_sum
            chosen = last
            cumulative = 0.0
            for i in range(last):
                if weights[i] > 0.0:
                    cumulative += weights[i]
                    if target < cumulative:
                        chosen = i
                        break
            out[chosen] += 1
        return np.int64(0)
    remaining = np.int64(total)
    for i in range(last):
        if remaining <= 0:
            break
        weight = weights[i]
        if not (weight > 0.0):
            continue
        tail = 0.0
        for j in range(i, count):
            if weights[j] > 0.0:
                tail += weights[j]
        moved = binomial(remaining, weight / tail, state)
        out[i] = moved
        remaining -= moved
    out[last] = remaining
    return np.int64(0)


multinomial_split = _jit(_multinomial_split_py)

#: (global name, Python source) of this module, in dependency order
DEVICE_SOURCES = (
    ("stirling_correction", _stirling_correction_py),
    ("_binomial_inversion", _binomial_inversion_py),
    ("_binomial_btrd", _binomial_btrd_py),
    ("binomial", _binomial_py),
    ("multinomial_split", _multinomial_split_py),
)


def make_cuda_device_functions():
    """The Philox and binomial functions compiled with ``numba.cuda.jit(device=True)``.

    ``numba.cuda`` is imported only here.  Returns a ``types.SimpleNamespace`` holding the
    names of ``tetrasim.kernels.philox.DEVICE_SOURCES`` and of this module's
    ``DEVICE_SOURCES``.
    """
    import types

    from numba import cuda

    built = rebuild_functions(PHILOX_DEVICE_SOURCES + DEVICE_SOURCES, cuda.jit(device=True))
    return types.SimpleNamespace(**built)
