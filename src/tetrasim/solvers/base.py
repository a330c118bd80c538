"""The small contract every solver implements (the registry of names is :mod:`.registry`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, did_you_mean

__all__ = ["Runtime", "Solver"]


@dataclass
class Runtime:
    """Parameters a user may change during a simulation (copies of the compiled arrays)."""

    rx_rate: np.ndarray
    df_rate: np.ndarray
    df_total: np.ndarray
    clamped: np.ndarray  # (n_pools,) bool


class Solver:
    """A solver advances one run's state from t_start to t_end, sampling at record times.

    Subclasses set ``name``, ``state_dtype`` and ``stochastic``, declare the keyword options
    they take in ``accepted_options`` and implement :meth:`new_runs` and :meth:`advance`.
    """

    name = "base"
    state_dtype = np.int64
    stochastic = True
    needs_mesh = False
    accepted_options: tuple[str, ...] = ()  # keyword options of ts.Simulation(..., **options) for this solver

    @classmethod
    def check_options(cls, options, other_keywords=()) -> None:
        """Refuse options the solver does not declare, with a did-you-mean (a typo must not be ignored).

        ``other_keywords`` are the caller's own keywords (``seed``...), offered as suggestions too.
        """
        for key in options:
            if key not in cls.accepted_options:
                taken = ", ".join(cls.accepted_options) or "none"
                known = (*other_keywords, *cls.accepted_options)
                also = f"; the call itself takes {', '.join(other_keywords)}" if other_keywords else ""
                raise ArgumentError(f"solver {cls.name!r} has no option {key!r}{did_you_mean(key, known)} "
                                    f"(its options: {taken}){also}")

    def __init__(self, compiled, runtime: Runtime, **options):
        self.check_options(options)
        self.compiled = compiled
        self.runtime = runtime
        self.options = options

    def new_runs(self, seed: int, n_runs: int) -> list:
        """Per-run solver states (e.g. RNG states), one per replicate; opaque to the caller."""
        raise NotImplementedError

    def advance(self, run_state, counts, t_start, t_end, record_times, record_pools, record_columns, out,
                progress=None):
        """Advance ``counts`` in place from ``t_start`` to ``t_end``.

        At each ``record_times[k]`` in [t_start, t_end], add ``counts[record_pools[j]]`` into
        ``out[k, record_columns[j]]`` (``out`` starts zeroed). ``progress(t)``, when given, is
        called now and then with the time reached.
        """
        raise NotImplementedError

    def parameters_changed(self) -> None:
        """Called after rates, diffusion coefficients or clamps change."""
