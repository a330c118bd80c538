"""Tier 0: the demo command names the real cause of a refused solver, describes its models, and
prints milestone lines when its output is not a terminal."""

from __future__ import annotations

import textwrap

import pytest

from tetrasim import progress as progress_module
from tetrasim.cli import main
from tetrasim.demo import DEFAULT_DEMO, DEMOS, run_demo
from tetrasim.errors import CapabilityError


def test_well_mixed_solver_on_the_mesh_demo_names_cause_and_fix(tmp_path, capsys):
    """The documented `tetrasim demo --runs 50 --solver wm-ssa` used to say 'not available in this build'."""
    assert main(["demo", "--runs", "50", "--solver", "wm-ssa", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not available" not in err
    assert "'astrocyte-frap' runs on tetrahedral meshes" in err and "'wm-ssa' is a well-mixed solver" in err
    assert "--solver ssa, opsplit or ode" in err and "--model calcium-buffering --solver wm-ssa" in err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or was written


def test_mesh_solver_on_the_well_mixed_demo_is_refused_too(tmp_path):
    expected = (r"one well-mixed compartment.*'ssa' is a mesh solver.*--solver wm-ssa or wm-ode.*"
                r"--model astrocyte-frap --solver ssa")
    with pytest.raises(CapabilityError, match=expected):
        run_demo(out_dir=tmp_path, model="calcium-buffering", solver="wm-ode,ssa", echo=None)


def test_demo_help_describes_the_default_model(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert f"{DEFAULT_DEMO} (the default): tetrahedral meshes; solvers ode" in out
    first_words = " ".join(DEMOS[DEFAULT_DEMO].description.split()[:6])
    assert first_words in " ".join(out.split())
    assert "calcium-buffering: well-mixed; solvers wm-ssa, wm-ode" in out


def test_command_prints_milestone_lines_off_a_terminal(tmp_path, capsys, monkeypatch):
    """Under `tetrasim run`, a simulation left at progress=None prints milestone lines on stderr."""
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    script = tmp_path / "decay.py"
    script.write_text(textwrap.dedent("""
        import tetrasim as ts
        model = ts.Model()
        model.species("A")
        model.volume_system("v").reaction("A ->", kf=1.0)
        geom = ts.WellMixed()
        geom.compartment("cyto", volume=1e-18, systems=["v"])
        sim = ts.Simulation(model, geom, solver="wm-ssa", seed=1)
        sim.set_count("cyto", "A", 100)
        sim.run(1.0, runs=2)
    """))
    assert main(["run", str(script)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("tetrasim: wm-ssa on well-mixed cyto, 2 runs") for line in lines)
    assert lines[-1].endswith(", done")
    assert not progress_module.logger.handlers  # the command removes its handler afterwards
