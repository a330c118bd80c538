#!/usr/bin/env python
"""Run the validation suite and write docs/validation.md.

Every validation test (``@pytest.mark.validation``) records one row per case through the
``validation_row`` fixture of tests/conftest.py: a JSON file under ``.cache/validation/``
(``$TETRASIM_VALIDATION_DIR``) with the case, solver, runs, the worst deviation in units of
its tolerance, pass/fail and wall time. Skipped or crashed validation tests get a row too.
This script clears those rows, runs ``pytest -m validation``, and renders the rows as one
markdown table per section (well-mixed kinetics, diffusion, membrane potential, ...), so
new cases appear in the report without touching this script.

Usage::

    python scripts/make_validation_report.py                 # run pytest -m validation, write the report
    python scripts/make_validation_report.py --from-cache    # only render rows already in the cache
    python scripts/make_validation_report.py -- -k wellmixed # extra arguments go to pytest

Exit status: pytest's (0 when every case passed), or 0 with ``--from-cache`` when every row passed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "validation"
DEFAULT_OUTPUT = ROOT / "docs" / "validation.md"
SECTION_ORDER = ["Well-mixed kinetics", "Kinetics on a mesh", "Diffusion", "Membrane potential", "Science",
                 "Power (the tables can fail)"]
SOLVER_ORDER = ["wm-ssa", "wm-ode", "ssa", "opsplit", "ode", "efield"]
STATUS_MARK = {"pass": "pass", "fail": "**FAIL**", "error": "**ERROR**", "skipped": "skipped",
               "xfail": "known failure (xfail)"}


def run_pytest(cache: Path, marker: str, extra: list[str]) -> tuple[int, float]:
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("*.json"):
        old.unlink()
    env = dict(os.environ, TETRASIM_VALIDATION_DIR=str(cache))
    command = [sys.executable, "-m", "pytest", "-m", marker, "-p", "no:cacheprovider", "-q", *extra]
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env)
    return completed.returncode, time.perf_counter() - start


def load_rows(cache: Path) -> list[dict]:
    rows = []
    for path in sorted(cache.glob("*.json")):
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            print(f"warning: skipping unreadable row {path}: {error}", file=sys.stderr)
    return rows


def _rank(value, order):
    return order.index(value) if value in order else len(order)


def sort_rows(rows: list[dict]) -> list[dict]:
    first_seen: dict[tuple, float] = {}
    for row in rows:
        key = (row.get("section", ""), row.get("case", ""))
        first_seen[key] = min(first_seen.get(key, float("inf")), row.get("recorded_at", 0.0))
    return sorted(
        rows,
        key=lambda r: (
            _rank(r.get("section", ""), SECTION_ORDER),
            r.get("section", ""),
            first_seen[(r.get("section", ""), r.get("case", ""))],
            r.get("case", ""),
            _rank(r.get("solver", ""), SOLVER_ORDER),
            r.get("solver", ""),
        ),
    )


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _number(value, digits=3) -> str:
    if value is None:
        return "–"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _cell(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:.{digits}g}"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = out.stdout.strip() or "unknown"
        return commit + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for name in ("tetrasim", "numpy", "scipy", "numba"):
        try:
            module = __import__(name)
            parts.append(f"{name} {module.__version__}")
        except Exception:  # noqa: BLE001 - a missing package only shortens the line
            continue
    return ", ".join(parts)


def render(rows: list[dict], returncode: int | None, wall: float | None, command: str) -> str:
    rows = sort_rows(rows)
    counts = {status: sum(1 for r in rows if r.get("status") == status) for status in STATUS_MARK}
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "# Validation report",
        "",
        f"Generated by `scripts/make_validation_report.py` on {now}: git {_git_commit()}; {_versions()}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs.",
        "",
        f"Command: `{command}`"
        + (f" (exit status {returncode}, {wall:.0f} s wall)" if returncode is not None else ""),
        "",
        f"**{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
        f"{counts['skipped']} skipped, {counts['xfail']} known failures (xfail)** ({len(rows)} rows).",
        "",
        "How to read it: each row is one validation case (docs/validation_cases.md) for one solver. "
        "*worst* is the largest deviation from the reference in units of its tolerance, so a row passes "
        "when worst ≤ 1. Tolerances are derived, never tuned (docs/validation_cases.md): "
        "stochastic solvers use "
        "z-tests (standard errors from the run-to-run spread) or chi-square tests with a false-alarm "
        "budget α = 1e-4 per case, Bonferroni over its sample times; deterministic solvers use a bound "
        "from the integrator's rtol/atol. The *tolerance* column states each rule; the notes give the "
        "numbers behind the worst deviation. Test sources: `tests/validation/`.",
        "",
        "References are independent of the code under test: the diffusion table compares with the mean "
        "of the discrete model solved exactly on an operator the test assembles from the raw mesh arrays "
        "(and, for opsplit, the exact mean of the split-step method), never with the code's own couplings. "
        "The section *Power (the tables can fail)* proves it: each of its rows injects an error into the "
        "code (every diffusion coupling x1.03 or x0.97, one rate constant x1.01) and passes only when the "
        "table then FAILS; its *worst* is 1 / (the mutated run's worst deviation), so ≤ 1 means detected.",
        "",
    ]
    sections: dict[str, list[dict]] = {}
    for row in rows:
        sections.setdefault(row.get("section") or "Other", []).append(row)
    for section, section_rows in sections.items():
        lines += [
            f"## {section}",
            "",
            "| case | solver | runs | worst / tol | result | wall (s) | reference | tolerance |",
            "|---|---|---:|---:|---|---:|---|---|",
        ]
        for row in section_rows:
            lines.append(
                "| "
                + " | ".join(
                    [
                        _cell(row.get("case")),
                        _cell(row.get("solver")),
                        _cell(
                            f"{row['runs']:,}" if isinstance(row.get("runs"), int) else row.get("runs") or "–"
                        ),
                        _number(row.get("worst")),
                        STATUS_MARK.get(row.get("status"), _cell(row.get("status"))),
                        _number(row.get("wall_s"), 2),
                        _cell(row.get("reference")),
                        _cell(row.get("tolerance")),
                    ]
                )
                + " |"
            )
        notes = [
            row for row in section_rows if row.get("notes") or row.get("details") or row.get("parameters")
        ]
        if notes:
            lines += ["", "Notes:", ""]
            for row in notes:
                pieces = [_cell(row.get(key)) for key in ("parameters", "details", "notes") if row.get(key)]
                lines.append(
                    f"- **{_cell(row.get('case'))}** [{_cell(row.get('solver'))}]: " + "; ".join(pieces)
                )
        lines.append("")
    if not rows:
        lines += ["No validation rows were recorded.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--from-cache", action="store_true", help="render rows already in the cache; run nothing"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(os.environ.get("TETRASIM_VALIDATION_DIR", DEFAULT_CACHE))
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "-m", "--marker", default="validation", help="pytest -m expression (default: validation)"
    )
    parser.add_argument(
        "--allow-dirty", action="store_true",
        help="run although the work tree has uncommitted changes (the report then says so)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if not args.from_cache and not args.allow_dirty and "uncommitted" in _git_commit():
        print("make_validation_report: the work tree has uncommitted changes; the report must describe "
              "the commit it names. Commit (or stash) first, or pass --allow-dirty.", file=sys.stderr)
        return 2
    returncode, wall = None, None
    command = f"pytest -m {args.marker!r}" + (" " + " ".join(args.pytest_args) if args.pytest_args else "")
    if not args.from_cache:
        returncode, wall = run_pytest(args.cache_dir, args.marker, args.pytest_args)
    rows = load_rows(args.cache_dir)
    text = render(
        rows, returncode, wall, command if not args.from_cache else "rows from " + str(args.cache_dir)
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(args.output.suffix + ".part")
    tmp.write_text(text)
    os.replace(tmp, args.output)  # never a half file over a good one
    print(f"wrote {args.output} ({len(rows)} rows)")
    if returncode is not None:
        return 0 if returncode == 5 and not rows else returncode
    return 0 if all(r.get("status") in ("pass", "skipped", "xfail") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
