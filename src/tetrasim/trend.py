"""An ordered trend across groups: the Jonckheere–Terpstra statistic with a permutation p-value.

A study that expects a measure to grow along an ordering of its conditions (Ca²⁺ signals more
likely and larger as astrocyte shafts thin: d0 → d0/2 → d0/3) asks one question, "does it grow
along the order?", rather than one per pair of neighbours. Jonckheere–Terpstra answers it: the
sum, over every pair of groups (i before j), of the Mann–Whitney count of pairs (a in i, b in j)
with b above a (ties count one half). With two groups it is the Mann–Whitney U. Its null
distribution is taken by permuting the group labels (exact in expectation, no normal
approximation, right with the ties of a 0/1 measure such as "had a peak"), with a fixed seed so
that a reported p-value is reproducible.

Examples
--------
>>> round(jonckheere_terpstra([[1, 2], [3, 4], [5, 6]])[0], 1)
12.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["jonckheere_terpstra"]


def jonckheere_terpstra(groups, alternative: str = "increasing", permutations: int = 20_000,
                        seed: int = 0) -> tuple[float, float]:
    """``(statistic, p)`` for a trend along ``groups`` (a sequence of 1-d samples, in order).

    ``alternative``: "increasing" (later groups larger) or "decreasing". The p-value is
    ``(1 + #permutations at least as extreme) / (1 + permutations)``, one-sided. Groups may be
    empty (they then add nothing); NaN values are refused.
    """
    if alternative not in ("increasing", "decreasing"):
        raise ValueError(f"alternative must be 'increasing' or 'decreasing', got {alternative!r}")
    samples = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if len(samples) < 2:
        raise ValueError("a trend needs at least two groups")
    values = np.concatenate(samples)
    if np.isnan(values).any():
        raise ValueError("NaN in a group: drop the runs where the measure is undefined first")
    labels = np.concatenate([np.full(len(s), i) for i, s in enumerate(samples)])
    if alternative == "decreasing":
        values = -values
    # above[a, b]: 1 if sample b lies above sample a, 1/2 if tied
    above = (values[None, :] > values[:, None]) + 0.5 * (values[None, :] == values[:, None])

    def statistic(lab):  # lab: (m, n) label rows -> (m,) statistics
        return np.einsum("ab,mab->m", above, lab[:, :, None] < lab[:, None, :])

    observed = float(statistic(labels[None, :])[0])
    if np.count_nonzero([len(s) for s in samples]) < 2:
        return observed, 1.0  # fewer than two non-empty groups: nothing is ordered
    rng = np.random.default_rng(seed)
    extreme, done, chunk = 0, 0, max(1, 2_000_000 // max(1, len(values) ** 2))
    while done < permutations:
        m = min(chunk, permutations - done)
        shuffled = rng.permuted(np.broadcast_to(labels, (m, len(labels))), axis=1)
        # the statistic is a multiple of 1/2: a quarter below it is "at least as extreme", exactly
        extreme += int(np.count_nonzero(statistic(shuffled) >= observed - 0.25))
        done += m
    return observed, (1 + extreme) / (1 + permutations)
