"""The validation tables can fail: a 3 % coupling error or a 1 % rate-constant error is caught.

A table that passes whatever the code does proves nothing. These tests inject a small error into
the code under test -- every diffusion coupling scaled by 1.03 or 0.97 (what a wrong face area,
volume or barycentre distance does), or one rate constant off by 1 % -- and assert that the
table's own check then FAILS. The injection is a monkeypatch of the code's geometry (or of the
compiled rates), never of the test's reference, which is assembled independently from the raw
mesh (tests/meshes.py: ``independent_diffusion_rates``) or comes from the analytic solution.

The statistical cases keep their false-alarm budget (α = 1e-4), so "fails" here means a
detection at that level; a power test that did not detect would be the finding.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_diffusion_table as table  # noqa: E402

pytestmark = pytest.mark.validation


@pytest.fixture
def scaled_couplings(monkeypatch):
    """Scale every volume and surface coupling the code computes by ``factor``."""
    from tetrasim.geometry.mesh import TetMesh

    def apply(factor: float) -> None:
        volume, surface = TetMesh.diffusion_couplings, TetMesh.tri_diffusion_couplings

        def scaled_volume(self, *args, **kwargs):
            return volume(self, *args, **kwargs) * factor

        def scaled_surface(self, *args, **kwargs):
            couplings, neighbors = surface(self, *args, **kwargs)
            return couplings * factor, neighbors

        monkeypatch.setattr(TetMesh, "diffusion_couplings", scaled_volume)
        monkeypatch.setattr(TetMesh, "tri_diffusion_couplings", scaled_surface)

    return apply


# The cases that carry the most information about D for each solver: the deterministic solver is
# checked on every case; the stochastic ones on the 3-D point source (10 runs x 100,000 molecules).
POWER_CASES = [("ode", key) for key in table.CASES] + [("ssa", "point_3d"), ("opsplit", "point_3d")]


@pytest.mark.parametrize("factor", [1.03, 0.97])
@pytest.mark.parametrize("solver,case_key", POWER_CASES)
def test_diffusion_table_detects_coupling_error(solver, case_key, factor, scaled_couplings, validation_row):
    table.require_solver(solver)
    scaled_couplings(factor)
    out = table.run_case(case_key, solver)
    detection = out["report"]["worst_ratio"]
    validation_row(section="Power (the tables can fail)",
                   case=f"{out['report']['case']}, couplings x{factor}",
                   solver=solver, runs=out["report"]["runs"], reference="the diffusion table must FAIL",
                   tolerance="worst/tol of the mutated run must exceed 1",
                   worst=1.0 / detection if detection > 0 else float("inf"), passed=detection > 1.0,
                   notes=f"mutated run's worst/tol = {detection:.2f}")
    assert out["report"]["worst_ratio"] > 1.0, (
        f"{case_key}/{solver}: couplings x{factor} went undetected (worst ratio "
        f"{out['report']['worst_ratio']:.2f}); the table has no power against this error")


@pytest.fixture
def scaled_first_rate(monkeypatch):
    """Make the code's mesoscopic rate of the model's first reaction rule ``factor`` times too large."""
    from tetrasim.compile.compiler import CompiledSystem

    def apply(factor: float) -> None:
        original = CompiledSystem.rx_rate

        def rx_rate(self):
            rates = np.array(original.fget(self), dtype=np.float64)
            rates[np.asarray(self.rx_rule) == 0] *= factor
            return rates

        monkeypatch.setattr(CompiledSystem, "rx_rate", property(rx_rate))

    return apply


def _kinetics_rows():
    import test_wellmixed_table as kinetics

    # birth-death: wm-ssa's stationary histogram needs the >= 2e5 s run of the validation row itself
    return [(case.key, solver) for case in kinetics.CASES for solver in kinetics.SOLVERS
            if not (case.key == "birth_death" and solver == "wm-ssa")]


@pytest.mark.parametrize("key,solver", _kinetics_rows())
def test_kinetics_table_detects_rate_error(key, solver, scaled_first_rate, validation_row):
    import test_wellmixed_table as kinetics

    kinetics._check_solver(solver)
    scaled_first_rate(1.01)
    case = kinetics.CASE_BY_KEY[key]
    outcome = case.run(solver)
    validation_row(section="Power (the tables can fail)", case=f"{case.title}, first rate x1.01",
                   solver=solver,
                   runs=outcome.runs, reference="the kinetics table must FAIL",
                   tolerance="worst/tol of the mutated run must exceed 1",
                   worst=1.0 / outcome.worst if outcome.worst > 0 else float("inf"),
                   passed=not outcome.passed,
                   notes=f"mutated run's worst/tol = {outcome.worst:.3g}")
    assert not outcome.passed, (f"{key}/{solver}: a 1 % error in the first rate constant went undetected "
                                f"({outcome.details})")
