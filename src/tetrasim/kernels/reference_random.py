"""Plain-Python twins of :mod:`tetrasim.kernels.philox` and :mod:`tetrasim.kernels.binomial`.

This module is the executable specification of the random numbers of ``opsplit``: the same
algorithms written with Python integers (explicit ``& MASK`` instead of machine wrap-around)
and the same float64 operations in the same order, so that the numba kernels must agree
with it bit for bit.  It is slow and meant for tests only.  The stream state is the same
``uint64[STREAM_WORDS]`` array as the kernels use, so states can be exchanged.
"""

import math

import numpy as np

from tetrasim.kernels.binomial import INVERSION_MAX_MEAN, SPLIT_PER_MOLECULE_MAX
from tetrasim.kernels.philox import STREAM_WORDS

__all__ = [
    "philox4x32_10",
    "philox4x64_10",
    "purpose_word",
    "word_to_uniform01",
    "uniform01",
    "uniform01x4",
    "stream_init",
    "stream_next_uint64",
    "stream_uniform01",
    "stirling_correction",
    "binomial",
    "multinomial_split",
]

_MASK32 = (1 << 32) - 1
_MASK64 = (1 << 64) - 1

_PHILOX_4X32_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_PHILOX_4X32_WEYL = (0x9E3779B9, 0xBB67AE85)
_PHILOX_4X64_MULTIPLIERS = (0xD2E7470EE14C6C93, 0xCA5A826395121157)
_PHILOX_4X64_WEYL = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)


def _philox(counter, key, bits, multipliers, weyl, rounds=10):
    """Generic Philox4xW: W-bit words, products split into (high, low) W-bit halves."""
    mask = (1 << bits) - 1
    x0, x1, x2, x3 = (int(word) & mask for word in counter)
    k0, k1 = (int(word) & mask for word in key)
    for _ in range(rounds):
        product0 = multipliers[0] * x0
        product1 = multipliers[1] * x2
        x0, x1, x2, x3 = (
            (product1 >> bits) ^ x1 ^ k0,
            product1 & mask,
            (product0 >> bits) ^ x3 ^ k1,
            product0 & mask,
        )
        k0 = (k0 + weyl[0]) & mask
        k1 = (k1 + weyl[1]) & mask
    return x0, x1, x2, x3


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block as four Python ints."""
    return _philox((c0, c1, c2, c3), (k0, k1), 32, _PHILOX_4X32_MULTIPLIERS, _PHILOX_4X32_WEYL)


def philox4x64_10(c0, c1, c2, c3, k0, k1):
    """Philox4x64-10 block as four Python ints."""
    return _philox((c0, c1, c2, c3), (k0, k1), 64, _PHILOX_4X64_MULTIPLIERS, _PHILOX_4X64_WEYL)


def purpose_word(purpose, substream):
    """Counter word 3: purpose code in bits 0-7, sub-stream id above (mod 2**64)."""
    return (int(purpose) + (int(substream) << 8)) & _MASK64


def word_to_uniform01(word):
    """Top 53 bits of a 64-bit word, times 2**-53."""
    return float((int(word) & _MASK64) >> 11) * (1.0 / 9007199254740992.0)


def uniform01x4(seed, run, step, element, purpose, block):
    """Uniforms 4*block .. 4*block+3 of the keyed stream."""
    words = philox4x64_10(block, element, step, purpose, seed, run)
    return tuple(word_to_uniform01(word) for word in words)


def uniform01(seed, run, step, element, purpose, index):
    """Uniform ``index`` of the keyed stream (seed, run, step, element, purpose)."""
    block, lane = divmod(int(index), 4)
    return word_to_uniform01(philox4x64_10(block, element, step, purpose, seed, run)[lane])


def stream_init(state, seed, run, step, element, purpose):
    """Same layout as :func:`tetrasim.kernels.philox.stream_init`."""
    if state.shape != (STREAM_WORDS,) or state.dtype != np.uint64:
        raise ValueError(f"stream state must be uint64[{STREAM_WORDS}], got {state.dtype}{state.shape}")
    state[:] = 0
    state[0] = int(seed) & _MASK64
    state[1] = int(run) & _MASK64
    state[2] = int(element) & _MASK64
    state[3] = int(step) & _MASK64
    state[4] = int(purpose) & _MASK64
    state[6] = 4


def stream_next_uint64(state):
    """Next word of the stream (updates ``state``)."""
    position = int(state[6])
    if position >= 4:
        block = int(state[5])
        words = philox4x64_10(
            block, int(state[2]), int(state[3]), int(state[4]), int(state[0]), int(state[1])
        )
        state[8:12] = words
        state[5] = (block + 1) & _MASK64
        position = 0
    word = int(state[8 + position])
    state[6] = position + 1
    return word


def stream_uniform01(state):
    """Next double in [0, 1) of the stream."""
    return word_to_uniform01(stream_next_uint64(state))


_FC_TABLE = (
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


def stirling_correction(k):
    """fc(k) = log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2."""
    if k < 16:
        return _FC_TABLE[k]
    inverse = 1.0 / (k + 1.0)
    inverse_squared = inverse * inverse
    series = 1.0 / 1260.0 - (1.0 / 1680.0) * inverse_squared
    return (1.0 / 12.0 - (1.0 / 360.0 - series * inverse_squared) * inverse_squared) * inverse


def _binomial_inversion(n, p, state):
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    first = math.exp(n * math.log1p(-p))
    while True:
        u = stream_uniform01(state)
        r = first
        x = 0
        while u > r:
            u = u - r
            x += 1
            if x > n:
                x = -1
                break
            r = r * (a / x - s)
            if not (r > 0.0):
                x = -1
                break
        if x >= 0:
            return x


def _binomial_btrd(n, p, state):
    q = 1.0 - p
    m = int((n + 1) * p)
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
    h = None
    while True:
        v = stream_uniform01(state)
        if v <= urvr:
            u = v / vr - 0.43
            y = (2.0 * a / (0.5 - abs(u)) + b) * u + c
            if 0.0 <= y < upper:
                return int(y)
            continue
        if v >= vr:
            u = stream_uniform01(state) - 0.5
        else:
            u = v / vr - 0.93
            u = math.copysign(0.5, u) - u
            v = stream_uniform01(state) * vr
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
            f = 1.0
            if m < k:
                for i in range(m + 1, k + 1):
                    f = f * (nr / i - r)
            elif m > k:
                for i in range(k + 1, m + 1):
                    v = v * (nr / i - r)
            if v <= f:
                return k
            continue
        v = math.log(v) if v > 0.0 else -math.inf
        kmf = float(km)
        rho = (kmf / npq) * (((kmf / 3.0 + 0.625) * kmf + 1.0 / 6.0) / npq + 0.5)
        t = -kmf * kmf / (2.0 * npq)
        if v < t - rho:
            return k
        if v > t + rho:
            continue
        if h is None:
            h = (m + 0.5) * math.log((m + 1) / (r * nm)) + stirling_correction(m) + stirling_correction(n - m)
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


def binomial(n, p, state):
    """Binomial(n, p) from the stream: inversion below n min(p, 1-p) = 10, BTRD above."""
    n = int(n)
    p = float(p)
    if n <= 0 or not (p > 0.0):
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        p_low = 1.0 - p
        if n * p_low < INVERSION_MAX_MEAN:
            return n - _binomial_inversion(n, p_low, state)
        return n - _binomial_btrd(n, p_low, state)
    if n * p < INVERSION_MAX_MEAN:
        return _binomial_inversion(n, p, state)
    return _binomial_btrd(n, p, state)


def multinomial_split(total, weights, state, out):
    """Twin of :func:`tetrasim.kernels.binomial.multinomial_split`."""
    weights = [float(w) for w in weights]
    total = int(total)
    count = len(weights)
    positive = [i for i in range(count) if weights[i] > 0.0]
    weight_sum = 0.0
    for i in positive:
        weight_sum += weights[i]
    out[:count] = 0
    if total <= 0:
        return 0
    if not positive:
        return total
    last = positive[-1]
    if total <= SPLIT_PER_MOLECULE_MAX:
        for _ in range(total):
            target = stream_uniform01(state) * weight_sum
            chosen = last
            cumulative = 0.0
            for i in positive[:-1]:
                cumulative += weights[i]
                if target < cumulative:
                    chosen = i
                    break
            out[chosen] += 1
        return 0
    remaining = total
    for i in positive[:-1]:
        if remaining <= 0:
            break
        tail = 0.0
        for j in range(i, count):
            if weights[j] > 0.0:
                tail += weights[j]
        moved = binomial(remaining, weights[i] / tail, state)
        out[i] = moved
        remaining -= moved
    out[last] = remaining
    return 0
