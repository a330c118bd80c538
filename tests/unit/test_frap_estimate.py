"""Tier 0: the FRAP example states its expected cost before a stochastic study."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

from tetrasim.examples_frap import estimate_frap_cost

REPO = Path(__file__).resolve().parents[2]


def test_estimate_scales_with_runs_and_time():
    """The estimate is wall-per-simulated-second x t_end x runs; ode gets none (cost not linear)."""
    one = estimate_frap_cost(["d0"], solver="ssa", runs=1, t_end=1.0, conc=2e-7, target_wall=0.2)["d0"]
    assert math.isfinite(one) and one > 0
    assert estimate_frap_cost(["d0"], solver="ode", runs=3) == {"d0": None}


def test_example_prints_the_estimate_before_running(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["astrocyte_frap.py", "--solver", "ssa", "--runs", "2", "--conc", "2e-7",
                                      "--t-end", "0.02", "--geometries", "d0", "--no-published",
                                      "--out", str(tmp_path)])
    runpy.run_path(str(REPO / "examples" / "astrocyte_frap.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "expected wall time: about" in out
    assert out.index("expected wall time") < out.index("tau =")  # stated before the study runs
