"""The ``tetrasim`` command: version, demo output files, running scripts, clean one-line errors."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tetrasim as ts
from tetrasim.cli import main


def test_version_flag_prints_package_version():
    done = subprocess.run([sys.executable, "-m", "tetrasim.cli", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"tetrasim {ts.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_demo_writes_results_and_figure(tmp_path, capsys):
    assert main(["demo", "--model", "calcium-buffering", "--runs", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    h5_files = sorted(tmp_path.glob("*.h5"))
    png_files = sorted(tmp_path.glob("*.png"))
    assert h5_files and len(png_files) == 1
    assert png_files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for path in h5_files + png_files:
        assert str(path) in printed  # the command says where its files are
    ssa = ts.load_results(tmp_path / "tetrasim_demo_calcium_buffering_wm-ssa.h5")
    ode = ts.load_results(tmp_path / "tetrasim_demo_calcium_buffering_wm-ode.h5")
    assert ssa.solver == "wm-ssa" and ssa.runs == 3 and ssa.seed == 2024
    assert ode.solver == "wm-ode" and ode.runs == 1
    assert ssa["Ca"].shape == (3, len(ssa.times_of("Ca")))
    np.testing.assert_array_equal(ssa.times_of("Ca"), ode.times_of("Ca"))
    assert np.all(ssa["Ca"] >= 0)
    # the buffer binds most of the pulse: bound Ca peaks well above its resting level in both solvers
    for res in (ssa, ode):
        assert res["CaBuf"].mean(axis=0).max() > 3 * res["CaBuf"][0, 0]


def test_astrocyte_calcium_demo_writes_per_node_traces(tmp_path, monkeypatch):
    """The astrocyte-calcium demo on a shortened protocol (2 ms + 3 ms; the default is 10 ms + 30 ms)."""
    import tetrasim.demo as demo

    monkeypatch.setitem(demo.CALCIUM_DEMO, "t_baseline", 0.002)
    monkeypatch.setitem(demo.CALCIUM_DEMO, "t_after", 0.003)
    assert main(["demo", "--model", "astrocyte-calcium", "--out", str(tmp_path)]) == 0
    res = ts.load_results(tmp_path / "tetrasim_demo_astrocyte_calcium_ssa.h5")
    assert (tmp_path / "tetrasim_demo_astrocyte_calcium.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.solver == "ssa" and res.runs == 1
    assert {f"signal_node{i}" for i in range(5)} <= set(res)
    times = res.times_of("signal_node2")
    assert times[-1] == pytest.approx(0.005)
    assert res["signal_node2"].shape == (1, len(times)) and np.all(res["signal_node2"] > 0)


def test_demo_single_solver_without_plot(tmp_path):
    assert main(["demo", "--model", "calcium-buffering", "--runs", "2", "--solver", "Wmdirect", "--no-plot",
                 "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["tetrasim_demo_calcium_buffering_wm-ssa.h5"]


def test_demo_is_reproducible_with_seed(tmp_path):
    for sub in ("a", "b"):
        assert main(["demo", "--model", "calcium-buffering", "--runs", "2", "--solver", "wm-ssa", "--no-plot",
                     "--seed", "5",
                     "--out", str(tmp_path / sub)]) == 0
    first, second = (ts.load_results(tmp_path / sub / "tetrasim_demo_calcium_buffering_wm-ssa.h5")
                     for sub in ("a", "b"))
    np.testing.assert_array_equal(first["Ca"], second["Ca"])


def test_demo_unknown_solver_is_one_clean_line(tmp_path, capsys):
    assert main(["demo", "--solver", "wm-sssa", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tetrasim: error: unknown solver 'wm-sssa'")
    assert "Traceback" not in err and err.count("\n") == 1


def test_demo_rejects_bad_runs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--runs", "0"])
    assert exit_info.value.code == 2
    assert "positive whole number" in capsys.readouterr().err


def test_run_missing_script_is_clean_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "no_such_script.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tetrasim: error: cannot run 'no_such_script.py'")
    assert "does not exist" in err and "Traceback" not in err


def test_run_executes_tiny_script_as_main_with_arguments(tmp_path, capsys):
    (tmp_path / "helper.py").write_text("VALUE = 41\n")
    script = tmp_path / "tiny.py"
    script.write_text(textwrap.dedent("""
        import sys
        import tetrasim as ts
        from helper import VALUE  # sibling modules import, as with `python tiny.py`

        model = ts.Model()
        model.species("A")
        model.volume_system("v").reaction("A ->", kf=1.0)
        geom = ts.WellMixed()
        geom.compartment("c", volume=1e-18, systems=["v"])
        sim = ts.Simulation(model, geom, solver="wm-ssa", seed=3)
        sim.set_count("c", "A", 10)
        rec = sim.record(ts.Count("A", where="c"), every=0.5)
        res = sim.run(1.0)
        print(__name__, sys.argv[1:], VALUE + 1, res[rec].shape)
    """))
    argv_before, path_before = sys.argv[:], sys.path[:]
    assert main(["run", str(script), "--flag", "x"]) == 0
    assert capsys.readouterr().out.strip() == "__main__ ['--flag', 'x'] 42 (1, 3)"
    assert sys.argv == argv_before and sys.path == path_before
    sys.modules.pop("helper", None)


def test_run_reports_tetrasim_error_with_script_line(tmp_path, capsys):
    script = tmp_path / "broken.py"
    script.write_text("import tetrasim as ts\nmodel = ts.Model()\nmodel.species('A')\nmodel.species('A')\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tetrasim: error: ") and "broken.py:4" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "line 4" not in err  # the model error names its line already: say it once (issue 15 item 9)


def test_run_adds_the_script_line_when_the_error_lacks_it(tmp_path, capsys):
    script = tmp_path / "late.py"
    script.write_text("import tetrasim as ts\n\nts.WellMixed().compartment('c', volume=-1)\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.count("line 3") == 1 and err.count("late.py") == 1


def test_traceback_flag_shows_traceback(tmp_path, capsys):
    script = tmp_path / "broken.py"
    script.write_text("import tetrasim as ts\nts.Model().species('A', 'A')\n")
    assert main(["--traceback", "run", str(script)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_mesh_info_of_one_tet(tmp_path, capsys):
    mesh = tmp_path / "one.msh"
    mesh.write_text("$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n4\n1 0 0 0\n2 1 0 0\n3 0 1 0\n4 0 0 1\n"
                    "$EndNodes\n$Elements\n1\n1 4 2 1 1 1 2 3 4\n$EndElements\n")
    assert main(["mesh-info", str(mesh), "--length-unit", "um"]) == 0
    out = capsys.readouterr().out
    assert "tets" in out and "1" in out


def test_mesh_info_missing_file_is_clean_error(tmp_path, capsys):
    assert main(["mesh-info", str(tmp_path / "absent.msh"), "--length-unit", "um"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tetrasim: error: no mesh file at") and "Traceback" not in err


def test_mesh_info_requires_length_unit(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mesh-info", str(tmp_path / "x.msh")])
    assert exit_info.value.code == 2
    assert "--length-unit" in capsys.readouterr().err


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests (installed package)")
def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The 15-line example of the README runs as printed and says what its comment says."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no python example"
    (tmp_path / "example.py").write_text(blocks[0])
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(tmp_path / "example.py"), run_name="__main__")
    assert capsys.readouterr().out.startswith("(10, 51) ")
    assert ts.load_results(tmp_path / "buffering.h5").runs == 10


def test_default_demo_is_the_astrocyte_photobleaching_model():
    from tetrasim.demo import DEFAULT_DEMO, DEMOS

    assert DEFAULT_DEMO == "astrocyte-frap"
    assert DEMOS[DEFAULT_DEMO].solvers == ("ode",)
