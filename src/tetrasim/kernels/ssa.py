"""The exact SSA kernel shared by ``wm-ssa`` and the spatial ``ssa`` solver.

Processes are reactions (CSR reactant/update lists over pools) and diffusion (a source pool and
CSR targets). Selection uses a partial-sums binary tree over process propensities: O(log P)
select and update, with no accumulated round-off (every internal node is recomputed from its
two children). After an event, only processes that read a changed pool are recomputed
(dependency graph from the compiler).

Performance notes (see docs/benchmarks.md, "Well-mixed SSA"): a reaction event refreshes each
dependent process once (:func:`reaction_dependents`, the union over the pools it changes,
built once per solver), a leaf whose propensity did not change is not written, and a leaf
update carries the running sum up the tree in a register (``value + sibling``). None of this
changes a single bit of a trajectory: every internal node is still the IEEE sum of its two
children (addition is commutative), and the tree is a function of its leaves alone, so the
same seed gives the same events as the straightforward kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .rng import uniform, uniform_open

__all__ = ["tree_size", "build_tree", "ssa_advance", "ssa_advance_dependents", "reaction_dependents",
           "propensities", "ssa_advance_small", "small_network_tables"]


def tree_size(n_processes: int) -> int:
    size = 1
    while size < max(n_processes, 1):
        size *= 2
    return size


@njit(cache=True, inline="always")
def _reaction_propensity(p, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count):
    a = rx_rate[p]
    for e in range(rx_reac_ptr[p], rx_reac_ptr[p + 1]):
        n = counts[rx_reac_pool[e]]
        nu = rx_reac_count[e]
        if nu == 1:
            a *= n
        else:
            for j in range(nu):  # falling factorial n (n-1) ... (n-nu+1), STEPS convention
                a *= n - j
    # one exit (cheaper once inlined); counts are finite, so a zero factor leaves a zero product
    return 0.0 if a <= 0.0 else a


@njit(cache=True)
def propensities(counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, df_pool, df_total, out):
    n_rx = len(rx_rate)
    for p in range(n_rx):
        out[p] = _reaction_propensity(p, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
    for d in range(len(df_pool)):
        out[n_rx + d] = counts[df_pool[d]] * df_total[d]


@njit(cache=True)
def build_tree(leaves, tree):
    size = len(tree) // 2
    tree[:] = 0.0
    for i in range(len(leaves)):
        tree[size + i] = leaves[i]
    for node in range(size - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]


@njit(cache=True, inline="always")
def _set_leaf(tree, size, p, value):
    node = size + p
    tree[node] = value
    while node > 1:
        # parent = left + right; IEEE addition is commutative, so value + sibling is that sum
        # exactly, and keeping it in a register avoids a store-to-load round trip per level
        value = value + tree[node ^ 1]
        node >>= 1
        tree[node] = value


@njit(cache=True, inline="always")
def _select(tree, size, r):
    node = 1
    while node < size:
        left = tree[2 * node]
        if r < left:
            node = 2 * node
        else:
            r -= left
            node = 2 * node + 1
    return node - size


@njit(cache=True, inline="always")
def _refresh_pool(pool, counts, tree, size, dep_ptr, dep_proc, rx_rate, rx_reac_ptr, rx_reac_pool,
                  rx_reac_count, df_pool, df_total):
    n_rx = len(rx_rate)
    for e in range(dep_ptr[pool], dep_ptr[pool + 1]):
        p = dep_proc[e]
        if p < n_rx:
            a = _reaction_propensity(p, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
        else:
            a = counts[df_pool[p - n_rx]] * df_total[p - n_rx]
        if a != tree[size + p]:  # the tree is a function of its leaves: an unchanged leaf changes nothing
            _set_leaf(tree, size, p, a)


@njit(cache=True)
def reaction_dependents(n_processes, rx_upd_ptr, rx_upd_pool, dep_ptr, dep_proc):
    """Per reaction, the processes that read a pool it changes, each once, ascending (CSR ``ptr, proc``).

    The union over the reaction's updated pools of ``dep_proc[dep_ptr[pool]:dep_ptr[pool + 1]]``.
    A pool that is clamped at run time keeps its count, so its dependents recompute to the
    values they had and are skipped by the kernel; the lists therefore do not depend on clamps.
    """
    n_rx = len(rx_upd_ptr) - 1
    stamp = np.full(max(n_processes, 1), -1, np.int64)
    ptr = np.zeros(n_rx + 1, np.int64)
    for r in range(n_rx):
        n = 0
        for e in range(rx_upd_ptr[r], rx_upd_ptr[r + 1]):
            pool = rx_upd_pool[e]
            for f in range(dep_ptr[pool], dep_ptr[pool + 1]):
                p = dep_proc[f]
                if stamp[p] != r:
                    stamp[p] = r
                    n += 1
        ptr[r + 1] = ptr[r] + n
    proc = np.empty(ptr[n_rx], np.int64)
    stamp[:] = -1
    for r in range(n_rx):
        i = ptr[r]
        for e in range(rx_upd_ptr[r], rx_upd_ptr[r + 1]):
            pool = rx_upd_pool[e]
            for f in range(dep_ptr[pool], dep_ptr[pool + 1]):
                p = dep_proc[f]
                if stamp[p] != r:
                    stamp[p] = r
                    proc[i] = p
                    i += 1
        proc[ptr[r]:ptr[r + 1]] = np.sort(proc[ptr[r]:ptr[r + 1]])
    return ptr, proc


@njit(cache=True)
def _write_samples(k, t_next, t_end, counts, record_times, record_pools, record_columns, out):
    """Add the counts into every sample at or after record ``k`` and before ``t_next`` (<= t_end);
    returns the next record index. Reached only when a sample is due, so a call is cheap."""
    while k < len(record_times) and record_times[k] <= t_end and record_times[k] < t_next:
        for j in range(len(record_pools)):
            out[k, record_columns[j]] += counts[record_pools[j]]
        k += 1
    return k


@njit(cache=True)
def ssa_advance(counts, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
                rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, df_total, dep_ptr, dep_proc, tree, state,
                t_start, t_end, record_times, record_pools, record_columns, out, record_index, max_events,
                pending=None, extent_offset=-1):
    """Advance one run from ``t_start`` to ``t_end`` exactly.

    Adds ``counts[record_pools[j]]`` into ``out[k, record_columns[j]]`` for each ``record_times[k]`` in
    [t_start, t_end], starting at ``record_index``. Stops early after ``max_events`` events
    (so a caller can show progress). Returns (time reached, next record index, events fired,
    finished).

    ``pending`` (float64[1]) carries the next event across calls: NaN means "draw a waiting
    time"; on return at ``t_end`` it holds the time of the event that was drawn but lies past
    ``t_end``. A caller that changed nothing since passes it back, so ``run(a); run(b)`` fires
    exactly the events of ``run(b)`` (bit for bit); a caller that changed counts, rates or
    clamps sets it to NaN, and the waiting time is redrawn (exact too: it is memoryless).
    ``extent_offset`` >= 0 counts each firing of reaction process ``p`` in
    ``counts[extent_offset + p]`` (reaction extents); -1 (the default) counts nothing.
    """
    if pending is None:
        pending = np.full(1, np.nan)
    rx_dep_ptr, rx_dep_proc = reaction_dependents(len(rx_rate) + len(df_pool), rx_upd_ptr, rx_upd_pool,
                                                  dep_ptr, dep_proc)
    return ssa_advance_dependents(
        counts, clamped, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool,
        rx_upd_delta, df_pool, df_ptr, df_dest, df_rate, df_total, dep_ptr, dep_proc, rx_dep_ptr, rx_dep_proc,
        tree, state, t_start, t_end, record_times, record_pools, record_columns, out, record_index,
        max_events, pending, extent_offset)


@njit(cache=True)
def ssa_advance_dependents(
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
    dep_ptr,
    dep_proc,
    rx_dep_ptr,
    rx_dep_proc,
    tree,
    state,
    t_start,
    t_end,
    record_times,
    record_pools,
    record_columns,
    out,
    record_index,
    max_events,
    pending,
    extent_offset,
):
    """:func:`ssa_advance` with the per-reaction dependents (:func:`reaction_dependents`) precomputed."""
    size = len(tree) // 2
    n_rx = len(rx_rate)
    n_records = len(record_times)
    t = t_start
    events = 0
    k = record_index
    next_check = min(record_times[k], t_end) if k < n_records else t_end
    while True:
        if events >= max_events:
            return t, k, events, False
        a0 = tree[1]
        if not math.isnan(pending[0]):  # the event drawn before the previous call stopped
            t_next = pending[0]
            pending[0] = math.nan
        elif a0 > 0.0:
            t_next = t - math.log(uniform_open(state)) / a0
        else:
            t_next = math.inf
        if t_next >= next_check:  # a sample time or the end lies before the next event
            k = _write_samples(k, t_next, t_end, counts, record_times, record_pools, record_columns, out)
            if t_next > t_end:
                pending[0] = t_next
                return t_end, k, events, True
            next_check = min(record_times[k], t_end) if k < n_records else t_end
        t = t_next
        # select, guarding against landing on a zero leaf through round-off
        while True:
            p = _select(tree, size, uniform(state) * a0)
            if p < size and tree[size + p] > 0.0:
                break
            a0 = tree[1]
        events += 1
        if p < n_rx:
            if extent_offset >= 0:
                counts[extent_offset + p] += 1
            for e in range(rx_upd_ptr[p], rx_upd_ptr[p + 1]):
                pool = rx_upd_pool[e]
                if not clamped[pool]:
                    counts[pool] += rx_upd_delta[e]
            # each process that reads a changed pool, once (written out here rather than through a
            # helper: numba's IR inlining of a nested helper made this loop ~40 % slower)
            for e in range(rx_dep_ptr[p], rx_dep_ptr[p + 1]):
                q = rx_dep_proc[e]
                if q < n_rx:
                    a = _reaction_propensity(q, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
                else:
                    a = counts[df_pool[q - n_rx]] * df_total[q - n_rx]
                if a != tree[size + q]:
                    _set_leaf(tree, size, q, a)
        else:
            d = p - n_rx
            source = df_pool[d]
            r = uniform(state) * df_total[d]
            target = df_ptr[d + 1] - 1
            for e in range(df_ptr[d], df_ptr[d + 1]):
                r -= df_rate[e]
                if r < 0.0:
                    target = e
                    break
            dest = df_dest[target]
            if not clamped[source]:
                counts[source] -= 1
                _refresh_pool(source, counts, tree, size, dep_ptr, dep_proc, rx_rate, rx_reac_ptr,
                              rx_reac_pool, rx_reac_count, df_pool, df_total)
            if not clamped[dest]:
                counts[dest] += 1
                _refresh_pool(dest, counts, tree, size, dep_ptr, dep_proc, rx_rate, rx_reac_ptr,
                              rx_reac_pool, rx_reac_count, df_pool, df_total)
    return t, k, events, True


def small_network_tables(rx_reac_ptr, rx_reac_pool, rx_reac_count, rx_upd_ptr, rx_upd_pool, rx_upd_delta,
                         clamped):
    """Flat int64 tables for :func:`ssa_advance_small`: each reaction's propensity form, and its
    updates with the deltas of clamped pools set to zero (adding 0 leaves a clamped count alone).

    Form: 0 ``c``; 1 ``c n_a``; 2 ``c n_a n_b``; 3 ``c n_a (n_a - 1)``; -1 anything else (the
    general falling-factorial product).
    """
    n_rx = len(rx_reac_ptr) - 1
    form = np.full(n_rx, -1, np.int64)
    first = np.zeros(n_rx, np.int64)
    second = np.zeros(n_rx, np.int64)
    for p in range(n_rx):
        pools = rx_reac_pool[rx_reac_ptr[p]:rx_reac_ptr[p + 1]]
        nus = rx_reac_count[rx_reac_ptr[p]:rx_reac_ptr[p + 1]]
        if len(pools) == 0:
            form[p] = 0
        elif len(pools) == 1 and nus[0] == 1:
            form[p], first[p] = 1, pools[0]
        elif len(pools) == 2 and nus[0] == 1 and nus[1] == 1:
            form[p], first[p], second[p] = 2, pools[0], pools[1]
        elif len(pools) == 1 and nus[0] == 2:
            form[p], first[p] = 3, pools[0]
    delta = np.where(np.asarray(clamped)[rx_upd_pool], 0, rx_upd_delta).astype(np.int64)
    return form, first, second, np.asarray(rx_upd_ptr, np.int64), np.asarray(rx_upd_pool, np.int64), delta


@njit(cache=True)
def ssa_advance_small(counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count, form, first, second, upd_ptr,
                      upd_pool, upd_delta, dep_ptr, dep_proc, leaves, state, t_start, t_end, record_times,
                      record_pools, record_columns, out, record_index, max_events, pending, extent_offset):
    """:func:`ssa_advance` for a small network of reactions only (no diffusion): Gillespie's
    direct method with a linear scan.

    ``leaves`` holds the propensities, kept up to date through the per-reaction dependents
    (``dep_ptr, dep_proc``, int64); the forms and clamp-aware updates come from
    :func:`small_network_tables`. The total is summed afresh after every event (no running
    sum, so no drift) and the reaction is found by a linear scan. For a few tens of reactions
    this beats the tree: no node stores and loads, one hard-to-predict branch instead of one
    per level (measured in docs/benchmarks.md). The random draws are those of the tree kernel
    (one for the waiting time, one for the selection, in that order) and the propensities are
    the same numbers; the total and the cumulative sums are formed in a different order, so a
    trajectory equals the tree kernel's except where round-off in the last bit moves a waiting
    time or a selection boundary. ``pending`` and ``extent_offset`` as in :func:`ssa_advance`.
    """
    n_rx = len(rx_rate)
    n_records = len(record_times)
    t = t_start
    events = 0
    k = record_index
    next_check = min(record_times[k], t_end) if k < n_records else t_end
    while True:
        if events >= max_events:
            return t, k, events, False
        a0 = 0.0
        for q in range(n_rx):
            a0 += leaves[q]
        if not math.isnan(pending[0]):  # the event drawn before the previous call stopped
            t_next = pending[0]
            pending[0] = math.nan
        elif a0 > 0.0:
            t_next = t - math.log(uniform_open(state)) / a0
        else:
            t_next = math.inf
        if t_next >= next_check:
            k = _write_samples(k, t_next, t_end, counts, record_times, record_pools, record_columns, out)
            if t_next > t_end:
                pending[0] = t_next
                return t_end, k, events, True
            next_check = min(record_times[k], t_end) if k < n_records else t_end
        t = t_next
        r = uniform(state) * a0
        p = 0
        while p < n_rx - 1 and r >= leaves[p]:  # r >= 0, so zero leaves are passed over
            r -= leaves[p]
            p += 1
        while leaves[p] <= 0.0:  # round-off ran past the last positive leaf: take that one
            p -= 1
        events += 1
        if extent_offset >= 0:
            counts[extent_offset + p] += 1
        for e in range(upd_ptr[p], upd_ptr[p + 1]):
            counts[upd_pool[e]] += upd_delta[e]
        for e in range(dep_ptr[p], dep_ptr[p + 1]):
            q = dep_proc[e]
            # the propensity forms written out here: through a helper function this loop ran 7x slower
            kind = form[q]
            a = rx_rate[q]
            if kind == 2:
                a = a * counts[first[q]] * counts[second[q]]
            elif kind == 1:
                a = a * counts[first[q]]
            elif kind == 3:
                a = a * counts[first[q]] * (counts[first[q]] - 1)
            elif kind != 0:
                a = _reaction_propensity(q, counts, rx_rate, rx_reac_ptr, rx_reac_pool, rx_reac_count)
            leaves[q] = a if a > 0.0 else 0.0
    return t, k, events, True
