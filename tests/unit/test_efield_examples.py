"""The membrane-potential examples run end to end (small): Rallpack 1 and 3, the Purkinje dendrite."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(monkeypatch, script, args):
    monkeypatch.setattr(sys, "argv", [script, *args])
    return runpy.run_path(str(REPO / "examples" / script), run_name="not_main")["main"](args)


def test_rallpack1_example_small(tmp_path, monkeypatch, capsys):
    out = _run(monkeypatch, "rallpack1.py", ["--t-end", "0.005", "--n-slices", "40", "--out", str(tmp_path)])
    assert "RMS" in capsys.readouterr().out
    assert (tmp_path / "rallpack1.png").stat().st_size > 10_000
    # the passive cable against its exact solution: the Rallpack limit holds already on a coarse mesh
    assert max(out["rms"]) < 1e-3


def test_rallpack3_example_small(tmp_path, monkeypatch, capsys):
    pytest.importorskip("neuron", reason="NEURON is not importable; pip install neuron (in [dev])")
    out = _run(monkeypatch, "rallpack3.py", ["--t-end", "0.005", "--n-slices", "50", "--efield-dt", "5e-6",
                                             "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "RMS vs NEURON" in text and (tmp_path / "rallpack3.png").stat().st_size > 10_000
    # one spike at each end, the velocity close to NEURON's (the validation test holds the 3 %)
    assert all(len(s) == 1 for s in out["spikes"])
    assert abs(out["velocity"] / out["neuron_velocity"] - 1) < 0.03


def test_purkinje_example_small(tmp_path, monkeypatch, capsys):
    out = _run(monkeypatch, "purkinje_dendrite.py", ["--t-end", "0.006", "--out", str(tmp_path)])
    assert "ICaP" in capsys.readouterr().out
    assert (tmp_path / "purkinje_dendrite.png").stat().st_size > 10_000
    before = out["times"] <= 2e-3
    # at rest (before the injection) V and Ca stay near their initial values; the injection then
    # depolarises, opens P-type channels (inward Ca current) and raises Ca, and K currents follow
    assert np.all(np.abs(out["V"][before] + 60e-3) < 1e-3)
    assert out["V"][-1] > -40e-3 and out["Ca"][-1] > 2 * out["Ca"][0]
    assert out["ICaP"][-1] < 0 and out["IBK"][-1] > 0 and out["ISK"][-1] > 0


def test_purkinje_stochastic_runs(tmp_path, monkeypatch):
    out = _run(monkeypatch, "purkinje_dendrite.py", ["--solver", "ssa", "--t-end", "0.003", "--current-start",
                                                     "0.001", "--out", str(tmp_path)])
    assert np.all(np.isfinite(out["V"])) and np.all(out["Ca"] > 0)
