"""Helpers shared by the benchmark scripts: timing, memory, machine description, tables.

Every benchmark prints (1) the machine, (2) the command that produced the numbers and
(3) a markdown table, so its output can be pasted into docs/benchmarks.md as it is.
Timings are the median of ``repeats`` runs after one untimed warm-up (JIT compilation).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "Timing", "time_repeats", "peak_rss_mib", "children_peak_rss_mib", "run_isolated", "machine_description",
    "machine_markdown", "command_line", "markdown_table", "format_rate", "format_seconds", "format_mib",
]


class Timing:
    """Wall times (s) of repeated runs; ``median`` is what the tables report."""

    def __init__(self, seconds: Sequence[float], results: Sequence[Any] = ()):
        self.seconds = list(seconds)
        self.results = list(results)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.seconds), max(self.seconds)

    def __repr__(self) -> str:
        lo, hi = self.spread
        return f"Timing(median={self.median:.4g} s, min={lo:.4g}, max={hi:.4g}, n={len(self.seconds)})"


def time_repeats(function: Callable[[int], Any], repeats: int = 3, warmup: int = 1) -> Timing:
    """Call ``function(i)`` ``warmup`` times untimed, then ``repeats`` times timed.

    ``function`` receives the repeat index (use it as a seed) and may return a value (e.g. an
    event count), kept in ``Timing.results`` in the order of ``Timing.seconds``.
    """
    for i in range(warmup):
        function(-1 - i)
    seconds, results = [], []
    for i in range(repeats):
        start = time.perf_counter()
        result = function(i)
        seconds.append(time.perf_counter() - start)
        results.append(result)
    return Timing(seconds, results)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB; Linux reports ru_maxrss in KiB)."""
    scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def children_peak_rss_mib() -> float:
    """Largest peak RSS of any waited-for child process so far (MiB)."""
    scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 1024**2
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale


def run_isolated(function: Callable[..., Any], *args, **kwargs) -> Any:
    """Run ``function(*args, **kwargs)`` in a fresh (spawned) Python process and return its result.

    A fresh process makes ``peak_rss_mib()`` inside ``function`` the peak of that measurement
    alone. ``function`` must be importable (defined at module level).
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except Exception:  # noqa: BLE001 - a missing optional package is reported, not raised
        return "not installed"
    return getattr(module, "__version__", "?")


def machine_description() -> dict[str, str]:
    """CPU, cores, memory, OS and the versions that matter for the numbers."""
    info = {"cpu": _cpu_model()}
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    info["cores"] = f"{usable} usable of {logical} logical"
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages * page_size / 1024**3:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    for name in ("numpy", "numba", "tetrasim"):
        info[name] = _version(name)
    return info


def machine_markdown(extra: dict[str, str] | None = None) -> str:
    info = machine_description()
    if extra:
        info.update(extra)
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


def command_line() -> str:
    """The command that ran this script, for the report (relative script path, as typed)."""
    return " ".join(shlex.quote(a) for a in ["python", *sys.argv])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; numeric-looking columns are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def numeric(i: int) -> bool:
        return all(r[i].replace(",", "").replace(".", "").replace("×", "").replace("e", "").replace("+", "")
                   .replace("-", "").strip().isdigit() or r[i] == "n/a" for r in cells) if cells else False

    align = [numeric(i) for i in range(len(headers))]
    line = lambda values: "| " + " | ".join(  # noqa: E731
        v.rjust(w) if a else v.ljust(w) for v, w, a in zip(values, widths, align, strict=True)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if a else ("-" * (w + 2))
                          for w, a in zip(widths, align, strict=True)) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


def format_rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if value < 1e3 else f"{value:,.0f}"


def format_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def format_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
