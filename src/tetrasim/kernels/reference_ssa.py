"""Plain-Python twin of the exact SSA kernel (:func:`tetrasim.kernels.ssa.ssa_advance`).

The executable specification of Gillespie's direct method as tetrasim runs it, written for
clarity: every event recomputes *every* propensity from the counts (no dependency graph, no
incremental tree), rebuilds the sum tree from its leaves and draws from the same xoshiro256**
stream. Because a parent of the tree is always ``left + right`` of the same two leaves, the
rebuilt tree equals the kernel's incrementally updated one bit for bit, so the twin and the
kernel produce identical trajectories for the same state; a test checks exactly that. Slow
(O(processes) per event): for tiny models only.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Xoshiro256", "all_propensities", "reference_ssa_advance"]

_MASK = (1 << 64) - 1
_SCALE = 1.0 / 9007199254740992.0  # 2^-53


class Xoshiro256:
    """xoshiro256** (Blackman & Vigna) on Python integers; ``state`` is a uint64[4] array updated in place."""

    def __init__(self, state: np.ndarray):
        self.state = state

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & _MASK

    def next_u64(self) -> int:
        s0, s1, s2, s3 = (int(v) for v in self.state)
        result = (self._rotl((s1 * 5) & _MASK, 7) * 9) & _MASK
        t = (s1 << 17) & _MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self._rotl(s3, 45)
        self.state[:] = np.array([s0, s1, s2, s3], dtype=np.uint64)
        return result

    def uniform(self) -> float:
        """[0, 1): the top 53 bits."""
        return float(self.next_u64() >> 11) * _SCALE

    def uniform_open(self) -> float:
        """(0, 1]: safe for -log(u)."""
        return (float(self.next_u64() >> 11) + 1.0) * _SCALE


def all_propensities(counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, df_pool,
                     df_total) -> np.ndarray:
    """Reaction propensities c·Π n(n-1)…(n-ν+1) (STEPS convention), then diffusion n·Σd per (pool)."""
    n_rx = len(rx_rate)
    out = np.zeros(n_rx + len(df_pool))
    for p in range(n_rx):
        a = float(rx_rate[p])
        for e in range(rx_reac_ptr[p], rx_reac_ptr[p + 1]):
            n = int(counts[rx_reac_pool[e]])
            for j in range(int(rx_reac_count[e])):
                a *= n - j
        out[p] = a if a > 0.0 else 0.0
    for d in range(len(df_pool)):
        out[n_rx + d] = counts[df_pool[d]] * df_total[d]
    return out


def _sum_tree(leaves: np.ndarray, size: int) -> np.ndarray:
    tree = np.zeros(2 * size)
    tree[size:size + len(leaves)] = leaves
    for node in range(size - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]
    return tree


def _descend(tree: np.ndarray, size: int, r: float) -> int:
    node = 1
    while node < size:
        left = tree[2 * node]
        if r < left:
            node = 2 * node
        else:
            r -= left
            node = 2 * node + 1
    return node - size


def reference_ssa_advance(counts, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr,
                          rx_upd_pool, rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, df_total, state,
                          t_start, t_end, record_times, record_pools, record_columns, out, tree_size):
    """Advance ``counts`` in place from ``t_start`` to ``t_end``; same contract as the kernel.

    At each ``record_times[k]`` in [t_start, t_end] adds ``counts[record_pools[j]]`` into
    ``out[k, record_columns[j]]``. Returns (t_end, next record index, events fired).
    """
    rng = Xoshiro256(state)
    n_rx = len(rx_rate)
    t = float(t_start)
    k = 0
    events = 0
    while True:
        leaves = all_propensities(counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, df_pool,
                                  df_total)
        tree = _sum_tree(leaves, tree_size)
        a0 = tree[1]
        t_next = t - math.log(rng.uniform_open()) / a0 if a0 > 0.0 else math.inf
        while k < len(record_times) and record_times[k] <= t_end and record_times[k] < t_next:
            for j in range(len(record_pools)):
                out[k, record_columns[j]] += counts[record_pools[j]]
            k += 1
        if t_next > t_end:
            return t_end, k, events
        t = t_next
        while True:  # a draw that lands on a zero leaf through round-off is redrawn
            p = _descend(tree, tree_size, rng.uniform() * a0)
            if p < tree_size and tree[tree_size + p] > 0.0:
                break
        events += 1
        if p < n_rx:  # a reaction: apply its stoichiometry except on clamped pools
            for e in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
                if not clamped[rx_upd_pool[e]]:
                    counts[rx_upd_pool[e]] += rx_upd_delta[e]
        else:  # a diffusion hop: the destination by a second uniform over the targets' rates
            d = p - n_rx
            r = rng.uniform() * df_total[d]
            target = df_ptr[d + 1] - 1
            for e in range(df_ptr[d], df_ptr[d + 1]):
                r -= df_rate[e]
                if r < 0.0:
                    target = e
                    break
            if not clamped[df_pool[d]]:
                counts[df_pool[d]] -= 1
            if not clamped[df_dest[target]]:
                counts[df_dest[target]] += 1
