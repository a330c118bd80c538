"""xoshiro256** in numba: a fast stream generator with explicit state (uint64[4]).

Used by the exact SSA kernels, where draws are sequential within a run. Each run's state is
seeded from ``numpy.random.SeedSequence(seed).spawn(...)`` so runs are independent and
reproducible. (The operator-splitting solver uses the counter-based Philox in philox.py.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

__all__ = ["seed_states", "next_u64", "uniform", "uniform_open"]

_SCALE = 1.0 / 9007199254740992.0  # 2^-53


def seed_states(seed: int, n_runs: int) -> np.ndarray:
    """Independent xoshiro states, one row per run: shape (n_runs, 4) uint64."""
    children = np.random.SeedSequence(seed).spawn(n_runs)
    states = np.stack([child.generate_state(4, dtype=np.uint64) for child in children])
    states[np.all(states == 0, axis=1), 0] = 1  # the all-zero state is a fixed point
    return np.ascontiguousarray(states)


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(cache=True, inline="always")
def next_u64(state):
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return result


@njit(cache=True, inline="always")
def uniform(state):
    """Uniform double in [0, 1)."""
    return float(next_u64(state) >> uint64(11)) * _SCALE


@njit(cache=True, inline="always")
def uniform_open(state):
    """Uniform double in (0, 1], safe for ``-log(u)``."""
    return (float(next_u64(state) >> uint64(11)) + 1.0) * _SCALE
