"""Tier 0: progress reports (tetrasim.progress): modes, milestone lines, names, silence.

A fake wall clock drives the milestone logic, so nothing here depends on the machine's speed.
"""

from __future__ import annotations

import io
import logging
import re

import pytest

import tetrasim as ts
from tetrasim import progress as progress_module
from tetrasim.errors import SimulationError
from tetrasim.progress import Progress, describe_run, format_duration, progress_mode


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Pipe(io.StringIO):
    def isatty(self):
        return False


def test_modes_follow_the_terminal():
    assert progress_mode(None, Terminal()) == "bar"
    assert progress_mode(None, Pipe()) == "log"  # a library stays quiet unless logging is configured
    assert progress_mode(True, Terminal()) == "bar"
    assert progress_mode(True, Pipe()) == "lines"
    assert progress_mode(False, Terminal()) == "off"
    for mode in ("bar", "lines", "log"):
        assert progress_mode(mode, Pipe()) == mode


def test_bad_setting_is_a_typed_error_at_construction():
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=1.0)
    geom = ts.WellMixed()
    geom.compartment("c", volume=1e-18, systems=["v"])
    with pytest.raises(SimulationError, match="'lines'"):
        ts.Simulation(model, geom, solver="wm-ssa", seed=1, progress="line")


def test_one_line_per_tenth_after_the_delay():
    clock, out = FakeClock(), Pipe()
    report = Progress("lines", 10.0, "wm-ssa on well-mixed c, 1 run", stream=out, clock=clock)
    for step in range(1, 21):  # 0.5 simulated s per wall second, 20 wall seconds in all
        clock.now += 1.0
        report.update(0.5 * step)
    report.close()
    lines = out.getvalue().splitlines()
    # nothing in the first DELAY = 2 s; then the milestones 10 %, 20 %, ..., 100 %
    percents = [int(re.search(r"(\d+)% \(", line).group(1)) for line in lines]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert all(line.startswith("tetrasim: wm-ssa on well-mixed c, 1 run: ") for line in lines)
    assert "(5 of 10 s simulated), wall 10 s, 0.5 simulated s per wall s, about 10 s left" in lines[4]
    assert lines[-1].endswith(", done")


def test_short_run_is_silent():
    clock, out = FakeClock(), Pipe()
    report = Progress("lines", 1.0, "x", stream=out, clock=clock)
    for step in range(1, 11):
        clock.now += 0.19  # 1.9 s of wall time in all: under the delay
        report.update(0.1 * step)
    report.close()
    assert out.getvalue() == ""


def test_a_line_at_least_every_interval_without_milestones():
    clock, out = FakeClock(), Pipe()
    report = Progress("lines", 100.0, "slow", stream=out, clock=clock)
    for _ in range(4):
        clock.now += progress_module.LINE_INTERVAL
        report.update(report.done + 1.0)  # 1 % per minute: milestones too rare to be the only sign of life
    assert len(out.getvalue().splitlines()) == 4


def test_log_mode_uses_the_logger_not_the_stream(caplog):
    clock, out = FakeClock(), Pipe()
    report = Progress("log", 1.0, "quiet", stream=out, clock=clock)
    clock.now += 5.0
    with caplog.at_level(logging.INFO, logger="tetrasim.progress"):
        report.update(1.0)
    assert out.getvalue() == ""
    assert [r.name for r in caplog.records] == ["tetrasim.progress"]
    assert "quiet: 100% (1 of 1 s simulated)" in caplog.records[0].getMessage()


def test_durations_read_naturally():
    assert format_duration(3.25) == "3.2 s"
    assert format_duration(75) == "1 min 15 s"
    assert format_duration(5400) == "1 h 30 min"
    assert format_duration(float("inf")) == "?"


def _decay_simulation(progress, label=None):
    model = ts.Model()
    model.species("A")
    model.volume_system("v").reaction("A ->", kf=1.0)
    geom = ts.WellMixed()
    geom.compartment("cyto", volume=1e-18, systems=["v"])
    sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1, progress=progress)
    sim.label = label
    sim.set_count("cyto", "A", 100)
    return sim


def test_simulation_lines_name_the_model_geometry_and_solver(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)  # report even this quick run
    _decay_simulation("lines", label="decay demo").run(2.0, runs=3)
    lines = capsys.readouterr().err.splitlines()
    assert lines, "progress='lines' printed nothing"
    assert all(line.startswith("tetrasim: decay demo: wm-ssa on well-mixed cyto, 3 runs, t 0 -> 2 s: ")
               for line in lines)
    assert lines[-1].endswith(", done") and "100% (6 of 6 s simulated)" in lines[-1]


def test_simulation_progress_false_is_silent(monkeypatch, capsys, caplog):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    with caplog.at_level(logging.DEBUG):
        _decay_simulation(False).run(2.0, runs=2)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert not [r for r in caplog.records if r.name.startswith("tetrasim")]


def test_simulation_default_off_a_terminal_logs_only(monkeypatch, capsys, caplog):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setattr("sys.stderr", Pipe())
    with caplog.at_level(logging.INFO, logger="tetrasim.progress"):
        _decay_simulation(None).run(1.0)
    assert "wm-ssa on well-mixed cyto, 1 run" in caplog.text
    import sys

    assert sys.stderr.getvalue() == ""


def test_simulation_bar_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _decay_simulation(None, label="decay").run(2.0, runs=2)
    text = terminal.getvalue()
    assert "decay: wm-ssa on well-mixed cyto, 2 runs" in text
    assert "4/4 s simulated" in text and "s(sim)/s" in text  # simulated time and wall rate


def test_describe_mesh_run_names_the_mesh():
    mesh = ts.TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]],
                                  length_unit="um", source="/data/meshes/branch.msh")
    geom = ts.MeshGeometry(mesh)
    assert describe_run(geom, "ssa", 1, "FRAP d0") == "FRAP d0: ssa on branch.msh (1 tets), 1 run"
