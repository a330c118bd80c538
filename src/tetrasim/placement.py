"""Initial placement of molecules: random, in proportion to volume (area), per replicate.

``sim.set_count(where, species, n)`` on a region of several elements places each of the ``n``
molecules independently in an element chosen with probability proportional to its volume
(area on a patch): the per-element counts are multinomial(n, V_i / ΣV). This is what "n
molecules well mixed in the region" means (each molecule's position is uniform over the
region), and it is what STEPS does in expectation; it is neither an index-order fill nor a
rounded share.

Before the first run the number of replicates is not known yet, so the setters are kept as a
log: the initial state (what getters show, and replicate 0) is the log replayed with
replicate 0's streams, and ``run(..., runs=N)`` replays it once per replicate, so every
replicate gets its own placement. Each placement draws from its own stream, keyed by
(seed, placement number, replicate), so results do not depend on the order of replicates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["place", "placement_stream", "InitialStateLog"]

_PLACEMENT_KEY = 0x5E7C0  # separates placement streams from every other use of the seed


def placement_stream(seed: int, placement: int, replicate: int) -> np.random.Generator:
    """The random stream of placement number ``placement`` in replicate ``replicate``."""
    key = [int(seed), _PLACEMENT_KEY, int(placement), int(replicate)]
    return np.random.default_rng(np.random.SeedSequence(key))


def place(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``total`` molecules over elements of weights ``weights``: multinomial(total, w / Σw), int64."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(weights) == 1:
        return np.array([total], dtype=np.int64)
    probabilities = weights / weights.sum()
    return rng.multinomial(int(total), probabilities).astype(np.int64)


class InitialStateLog:
    """The setter calls made before the replicates exist, to be replayed once per replicate."""

    def __init__(self):
        self.entries: list[tuple] = []  # ("values", pools, values) | ("place", pools, weights, total, number)

    def add_values(self, pools, values) -> None:
        self.entries.append(("values", np.array(pools, np.int64), np.array(values)))

    def add_placement(self, pools, weights, total: int, number: int, positions=None) -> None:
        """``positions``: when ``weights`` cover a larger region than ``pools`` (an MPI rank's part),
        where in the placement over ``weights`` each of ``pools`` lies."""
        self.entries.append(("place", np.array(pools, np.int64), np.array(weights, np.float64), int(total),
                             int(number), None if positions is None else np.array(positions, np.int64)))

    @property
    def has_placements(self) -> bool:
        return any(entry[0] == "place" for entry in self.entries)

    def clear(self) -> None:
        self.entries.clear()

    def replay(self, state: np.ndarray, seed: int, replicate: int) -> np.ndarray:
        """Apply every logged setter to ``state`` (modified in place and returned) for ``replicate``."""
        for entry in self.entries:
            if entry[0] == "values":
                state[entry[1]] = entry[2]
            else:
                _, pools, weights, total, number, positions = entry
                placed = place(total, weights, placement_stream(seed, number, replicate))
                state[pools] = placed if positions is None else placed[positions]
        return state

    # ------------------------------------------------------------------ checkpoints
    def to_arrays(self) -> dict:
        arrays = {}
        for i, entry in enumerate(self.entries):
            if entry[0] == "values":
                arrays[f"{i}/pools"], arrays[f"{i}/values"] = entry[1], entry[2]
            else:
                arrays[f"{i}/pools"], arrays[f"{i}/weights"] = entry[1], entry[2]
                arrays[f"{i}/total_number"] = np.array([entry[3], entry[4]], np.int64)
                if entry[5] is not None:
                    arrays[f"{i}/positions"] = entry[5]
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> InitialStateLog:
        log = cls()
        indices = sorted({int(key.split("/")[0]) for key in arrays})
        for i in indices:
            if f"{i}/values" in arrays:
                log.add_values(arrays[f"{i}/pools"], arrays[f"{i}/values"])
            else:
                total, number = arrays[f"{i}/total_number"]
                log.add_placement(arrays[f"{i}/pools"], arrays[f"{i}/weights"], int(total), int(number),
                                  arrays.get(f"{i}/positions"))
        return log
