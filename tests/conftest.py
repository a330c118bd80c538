"""Shared fixtures: small well-mixed simulations and the validation-report recorder.

Validation tests call the ``validation_row`` fixture once per case; each call writes one JSON
file under ``.cache/validation/`` (or ``$TETRASIM_VALIDATION_DIR``), and
``scripts/make_validation_report.py`` renders those rows into ``docs/validation.md``. A
validation test that is skipped or errors before it records a row still gets a row (status
"skipped"/"error") through the report hook below, so the report never hides a case.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:  # so tests can ``from stats import ...``
    sys.path.insert(0, str(TESTS_DIR))


def validation_dir() -> Path:
    return Path(os.environ.get("TETRASIM_VALIDATION_DIR", REPO_ROOT / ".cache" / "validation"))


def _row_path(nodeid: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    return validation_dir() / f"{safe}.json"


def _write_row(nodeid: str, row: dict) -> None:
    folder = validation_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = _row_path(nodeid)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps({"nodeid": nodeid, **row}, indent=1, default=float))
    os.replace(tmp, path)


@pytest.fixture
def validation_row(request):
    """Record one row of the validation report for this test.

    Call with ``section, case, solver, runs, reference, tolerance, worst, passed`` and any
    extra fields (``notes``, ``wall_s``). ``worst`` is the largest deviation in units of its
    tolerance (<= 1 passes). The wall time since the fixture was set up is added unless given.
    """
    start = time.perf_counter()
    recorded = []

    def record(**row):
        row.setdefault("wall_s", time.perf_counter() - start)
        row.setdefault("recorded_at", time.time())
        row["status"] = "pass" if row.get("passed") else "fail"
        recorded.append(row)
        if request.node.get_closest_marker("validation") is not None:
            _write_row(request.node.nodeid, row)
        return row

    request.node._validation_recorded = recorded
    return record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.get_closest_marker("validation") is None:
        return
    if getattr(item, "_validation_recorded", None):
        return
    passed_without_row = report.when == "call" and report.passed
    if not (report.skipped or report.failed or passed_without_row):
        return
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("case")
    module_section = {"test_diffusion_table": "Diffusion", "test_mesh_kinetics": "Kinetics on a mesh"}
    row = {
        "section": getattr(case, "section", "") or getattr(item.module, "VALIDATION_SECTION", "")
        or module_section.get(item.module.__name__.rsplit(".", 1)[-1], ""),
        "case": getattr(case, "title", None) or item.name,
        "solver": str(params.get("solver", "")),
        "runs": None,
        "worst": None,
        "passed": False,
        "wall_s": getattr(report, "duration", 0.0),
        "recorded_at": time.time(),
    }
    if passed_without_row:
        row.update(status="pass", passed=True,
                   notes="passed its derived-tolerance assertions (see the test's docstring); "
                         "no per-case numbers recorded")
    elif hasattr(report, "wasxfail"):
        row.update(status="xfail", notes=f"expected failure: {report.wasxfail}")
    elif report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        row.update(status="skipped", notes=reason.removeprefix("Skipped: "))
    else:
        message = str(
            getattr(report.longrepr, "reprcrash", None)
            and report.longrepr.reprcrash.message
            or report.longrepr
        )
        row.update(status="error", notes=message.splitlines()[0][:300] if message else "")
    _write_row(item.nodeid, row)


# ---------------------------------------------------------------------- models
@pytest.fixture
def make_wm():
    """Factory: a one-compartment well-mixed :class:`tetrasim.Simulation`.

    ``make_wm([("A ->", 5.0), ("A <-> B", 10, 2)], volume=1e-18, solver="wm-ssa", seed=1)``;
    species are the names used in the reactions (plus ``species=``), the compartment is "c".
    """
    import tetrasim as ts

    def factory(reactions, volume=1e-18, solver="wm-ssa", seed=1, species=(), **options):
        model = ts.Model()
        names = list(species)
        for reaction in reactions:
            for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", reaction[0]):
                if token not in names:
                    names.append(token)
        if names:
            model.species(*names)
        system = model.volume_system("v")
        for reaction in reactions:
            equation, kf, *rest = reaction
            system.reaction(equation, kf=kf, kb=rest[0] if rest else None)
        geometry = ts.WellMixed()
        geometry.compartment("c", volume=volume, systems=["v"])
        return ts.Simulation(model, geometry, solver=solver, seed=seed, progress=False, **options)

    return factory
