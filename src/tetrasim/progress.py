"""Progress of long runs: a bar on a terminal, one line per milestone elsewhere.

What :meth:`tetrasim.Simulation.run` shows is chosen by its ``progress`` setting:

===============  ==============================================================================
``None``         (the default) a bar when stderr is a terminal; otherwise milestone lines sent to
                 the :mod:`logging` logger ``"tetrasim.progress"`` at level INFO. A library must
                 not write to a log file or a notebook cell unasked: Python drops INFO records
                 until the application configures logging, so a script or a batch job stays
                 silent unless it opts in (``logging.basicConfig(level=logging.INFO)``).
``True``         show progress on stderr: a bar on a terminal, milestone lines otherwise.
``False``        nothing.
``"bar"``        a bar (tqdm) even when stderr is not a terminal.
``"lines"``      milestone lines on stderr (what ``tetrasim demo`` and the examples use when their
                 output is not a terminal, e.g. in a batch job's log).
``"log"``        milestone lines through the logger, as the default does off a terminal.
===============  ==============================================================================

Nothing is shown for a run that ends within :data:`DELAY` seconds of wall time. A bar
reports the simulated time, the wall rate (simulated seconds per wall second) and the time
left; a milestone line says the same at every tenth of the run (:data:`LINE_STEP`) and at
least every :data:`LINE_INTERVAL` seconds. Both name the geometry, the solver and the
replicates (and ``Simulation.label`` when set), so a log of several runs says which is which.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time

from .errors import SimulationError

__all__ = ["Progress", "progress_mode", "describe_run", "format_duration", "MODES", "DELAY", "LINE_STEP",
           "LINE_INTERVAL", "logger"]

logger = logging.getLogger("tetrasim.progress")

MODES = (None, True, False, "bar", "lines", "log")
DELAY = 2.0  #: seconds of wall time before anything is shown (short runs stay silent)
LINE_STEP = 0.10  #: fraction of the run between two milestone lines
LINE_INTERVAL = 60.0  #: seconds of wall time: a milestone line at least this often


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_mode(progress, stream=None) -> str:
    """What a ``progress`` setting means here: ``"off"``, ``"bar"``, ``"lines"`` or ``"log"``."""
    stream = sys.stderr if stream is None else stream
    if progress is None:
        return "bar" if _is_terminal(stream) else "log"
    if progress is True:
        return "bar" if _is_terminal(stream) else "lines"
    if progress is False:
        return "off"
    if isinstance(progress, str) and progress in ("bar", "lines", "log"):
        return progress
    raise SimulationError(f"progress={progress!r}: expected None (automatic), True, False, 'bar', 'lines' "
                          "or 'log'")


def terminal_or_lines(stream=None):
    """The setting for a command-line program: a bar on a terminal, milestone lines otherwise."""
    return True if _is_terminal(sys.stderr if stream is None else stream) else "lines"


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``'1 min 15 s'``; ``5400`` -> ``'1 h 30 min'``; ``'?'`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{int(minutes)} min {int(seconds % 60)} s"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{hours / 24:.1f} days"


def describe_run(geometry, solver_name: str, n_runs: int, label: str | None = None) -> str:
    """``"FRAP d0: ssa on branchlet.msh (9,195 tets), 3 runs"``: what a progress report is about."""
    mesh = getattr(geometry, "mesh", None)
    if mesh is not None:
        source = str(getattr(mesh, "source", "") or "mesh")
        if os.sep in source and not source.startswith("shapes."):
            source = os.path.basename(source)
        where = f"{source} ({mesh.n_tets:,} tets)"
    else:
        names = list(getattr(geometry, "compartments", {}))
        where = "well-mixed " + ", ".join(names) if names else "well-mixed"
    text = f"{solver_name} on {where}, {n_runs} run{'s' if n_runs != 1 else ''}"
    return f"{label}: {text}" if label else text


class Progress:
    """One progress report over ``total`` simulated seconds (summed over the replicates).

    Parameters
    ----------
    mode : str
        ``"off"``, ``"bar"``, ``"lines"`` or ``"log"`` (see :func:`progress_mode`).
    total : float
        Simulated seconds to cover (runs × duration).
    description : str
        What runs (see :func:`describe_run`).
    stream : file, optional
        Where bars and ``"lines"`` go (stderr by default).
    clock : callable, optional
        Wall clock in seconds (``time.perf_counter``; tests pass a fake one).
    """

    def __init__(self, mode: str, total: float, description: str, stream=None, clock=time.perf_counter):
        self.mode = mode
        self.total = float(total)
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.start = clock()
        self.done = 0.0
        self.lines = 0  # milestone lines written
        self._last_step = -1
        self._last_line = self.start
        self._bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=description, unit="s(sim)", delay=DELAY, file=self.stream,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3g}/{total:.3g} s simulated "
                                        "[{elapsed}<{remaining}, {rate_fmt}]")

    def update(self, done: float) -> None:
        """The replicates have covered ``done`` simulated seconds in all (absolute, not an increment)."""
        self.done = min(max(float(done), 0.0), self.total)
        if self._bar is not None:
            self._bar.n = round(self.done, 12)
            self._bar.refresh()
            return
        if self.mode not in ("lines", "log") or self.total <= 0:
            return
        now = self.clock()
        elapsed = now - self.start
        if elapsed < DELAY:
            return  # a short run stays silent; the milestones it passes are not reported late
        fraction = self.done / self.total
        step = int(math.floor(fraction / LINE_STEP + 1e-9))
        if step > self._last_step or now - self._last_line >= LINE_INTERVAL:
            self._last_step, self._last_line = step, now
            self._emit(self.message(elapsed))

    def message(self, elapsed: float) -> str:
        """The milestone line for the state reached after ``elapsed`` wall seconds."""
        rate = self.done / elapsed if elapsed > 0 else math.nan
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        text = (f"{self.description}: {100 * self.done / self.total:3.0f}% "
                f"({self.done:.4g} of {self.total:.4g} s simulated), wall {format_duration(elapsed)}, "
                f"{rate:.3g} simulated s per wall s")
        return text + (", done" if self.done >= self.total else f", about {format_duration(left)} left")

    def _emit(self, text: str) -> None:
        self.lines += 1
        if self.mode == "log":
            logger.info(text)
        else:
            print(f"tetrasim: {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
