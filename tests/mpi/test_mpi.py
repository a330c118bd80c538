"""Tier 3: the MPI back end against serial opsplit, under ``mpiexec -n 1..4`` launched from pytest.

* Rank invariance: for one seed, every recorded per-element count (and a concentration, and
  the getters) is **bitwise identical** to serial ``opsplit`` on 1, 2, 3 and 4 ranks, for a
  model with volume and surface reactions, surface diffusion, a diffusion boundary and a
  clamped species — with the METIS partition and with an arbitrary one (tet i on rank i % n).
  Any draw keyed by a local id, a lost or doubled halo message, a τ that is not the global
  minimum or a placement that depends on the partition changes the counts.
* Failure: bad input seen on one rank stops every rank with the same message, printed by
  rank 0; an exception in the user's script on one rank aborts every rank (no hang: each
  run has a timeout).
* Only rank 0 writes files.

Ranks are oversubscribed on the test machine (MPICH allows it by default); meshes are tiny.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import mpi4py  # noqa: F401
except ImportError as error:  # the only reason to skip: the [mpi] extra is not installed
    pytest.skip(f"mpi4py cannot be imported ({error}); pip install 'tetrasim[mpi]'", allow_module_level=True)

from tetrasim.backends.launch import find_mpiexec

SCRIPT = Path(__file__).with_name("mpi_model.py")
SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 300  # s: a hang fails the test instead of blocking the suite


def _environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name in (
        "PMI_SIZE",
        "PMI_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "PMIX_SIZE",
    ):  # not inherited from a launcher
        env.pop(name, None)
    return env


def run_script(out: Path, *arguments, ranks: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), str(out), *arguments]
    if ranks is not None:
        command = [find_mpiexec(), "-n", str(ranks)] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=_environment())


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.npz"
    done = run_script(out, "--backend", "serial", "--t-end", "0.05")
    assert done.returncode == 0, done.stderr
    return np.load(out)


def assert_bitwise_equal(reference, other):
    assert sorted(reference.files) == sorted(other.files)
    for name in reference.files:
        assert reference[name].dtype == other[name].dtype, name
        assert np.array_equal(reference[name], other[name]), f"{name} differs from serial opsplit"


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_same_trajectory_as_serial_on_any_rank_count(serial, tmp_path, ranks):
    out = tmp_path / "mpi.npz"
    # ranks > 1: the back end is chosen automatically (mpi); 1 rank: mpi asked for (auto would pick serial)
    chosen = ("--backend", "mpi") if ranks == 1 else ()
    done = run_script(out, "--t-end", "0.05", *chosen, ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert serial["count_A_left"].shape[1] == 26  # 0..0.05 s every 2 ms
    assert serial["count_A_left"].sum() > 0 and serial["count_RA_pm"].sum() > 0  # reactions and diffusion ran
    assert_bitwise_equal(serial, np.load(out))
    written = sorted(p.name for p in tmp_path.glob("*.h5"))
    assert written == ["mpi.rank0.h5"], "only rank 0 writes the results file"


@pytest.mark.parametrize("ranks", [2, 3])
def test_any_partition_gives_the_serial_trajectory(serial, tmp_path, ranks):
    out = tmp_path / "mpi.npz"
    done = run_script(out, "--t-end", "0.05", "--modulo-partition", "--backend", "mpi", ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert_bitwise_equal(serial, np.load(out))


def test_bad_input_on_one_rank_stops_every_rank_with_one_message(tmp_path):
    done = run_script(tmp_path / "x.npz", "--fail-on-rank", "1", ranks=2)
    assert done.returncode != 0
    message = "count of 'A' in 'right' must be finite and >= 0 (on rank 1 of 2)"
    assert done.stderr.count(message) == 1, done.stderr  # printed once, by rank 0
    assert "Traceback" in done.stderr and "MPI_Abort" not in done.stderr + done.stdout


def test_crash_in_the_script_on_one_rank_aborts_every_rank(tmp_path):
    done = run_script(tmp_path / "x.npz", "--crash-on-rank", "2", ranks=3)
    assert done.returncode != 0
    assert "deliberate crash in the user's script" in done.stderr
    assert "rank 2 of 3 failed; aborting every rank" in done.stderr
