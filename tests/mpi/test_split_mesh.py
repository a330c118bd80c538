"""Tier 3: a pre-split Gmsh 4.1 set (``ts.load_split_mesh``), each rank reading only its file.

* The per-rank layout built from the split files alone (each rank compiles its part and its
  halo) is identical, array for array, to the global compile cut with ``partition=`` the set's
  partition (the path where rank 0 reads the whole mesh) — on 2 and 3 ranks.
* For one seed, every recorded per-element count, a concentration and the getters are
  **bitwise identical** to serial ``opsplit`` on the unsplit file, for a model with volume
  reactions and diffusion, a diffusion boundary, surface reactions and surface diffusion on a
  patch carried by the set, a clamped species, ROIs of tets and of triangles, and triangles by
  their whole-mesh id (``ts.Tri``) set and recorded, on 2, 3 and 4 ranks; and with a second
  patch on the interface between the halves whose reactions read one side and write the other
  (reaction clusters that cross the files' partition).
* A set split into 2 run on 3 ranks (and 3 on 2), a missing file, an unsplit file, and a part
  run without MPI stop every rank with one message saying what to do (each run has a timeout:
  a hang fails).

The mesh is a gmsh box of about 370 tets, split by gmsh itself (``Mesh.PartitionSplitMeshFiles``).
"""

from __future__ import annotations

import shutil
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

sys.path.insert(0, str(Path(__file__).parent))
from test_mpi import TIMEOUT, _environment, assert_bitwise_equal  # noqa: E402

SCRIPT = Path(__file__).with_name("split_model.py")


def run_script(*arguments, ranks: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *map(str, arguments)]
    if ranks is not None:
        command = [find_mpiexec(), "-n", str(ranks)] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=_environment())


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    done = run_script("make", folder, 2, 3, 4, "2g")
    assert done.returncode == 0, done.stderr
    return folder


def _tris(meshes):
    """Whole-mesh ids of three 'pm' triangles (for ts.Tri), read here from the unsplit file."""
    import tetrasim as ts

    return [str(t) for t in ts.load_mesh(meshes / "box.msh", "um").tri_group("pm")[[0, 5, 9]]]


def _serial(meshes, folder, *options):
    out = folder / "serial.npz"
    done = run_script("run", out, meshes / "box.msh", "--backend", "serial", "--tri", *_tris(meshes),
                      *options)
    assert done.returncode == 0, done.stderr
    return np.load(out)


@pytest.fixture(scope="module")
def serial(meshes, tmp_path_factory):
    return _serial(meshes, tmp_path_factory.mktemp("serial"))


@pytest.fixture(scope="module")
def serial_interface(meshes, tmp_path_factory):
    return _serial(meshes, tmp_path_factory.mktemp("serial_interface"), "--interface")


def test_distributed_positions_match_a_serial_sort():
    """The sample sort that numbers tets, faces and region members over the ranks."""
    done = run_script("positions", ranks=3)
    assert done.returncode == 0, done.stderr
    assert "positions ok" in done.stdout


@pytest.mark.parametrize(("ranks", "options"), [(2, ()), (3, ()), (3, ("--interface",))])
def test_split_layout_equals_the_global_cut_with_the_files_partition(meshes, ranks, options):
    done = run_script("layouts", meshes / "box.msh", meshes / str(ranks) / "box.msh", *options, ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert f"layouts identical on {ranks} ranks" in done.stdout


@pytest.mark.parametrize("files", ["2", "3", "4", "2g"])  # 2g: the files also hold Gmsh's ghost cells
def test_split_set_gives_the_serial_trajectory(meshes, serial, tmp_path, files):
    out = tmp_path / "split.npz"
    ranks = int(files.rstrip("g"))
    done = run_script("run", out, meshes / files / "box.msh", "--split", "--tri", *_tris(meshes), ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert serial["count_A_left"].shape[1] == 16  # 0..0.03 s every 2 ms
    assert serial["count_RA_pm"].sum() > 0  # surface reactions ran
    assert serial["count_A_right"].sum() > 0  # A crossed the diffusion boundary
    assert_bitwise_equal(serial, np.load(out))


def test_clusters_across_the_partition_give_the_serial_trajectory(meshes, serial_interface, tmp_path):
    """A patch on the left/right interface whose reactions read the left tet and write the right one."""
    out = tmp_path / "split.npz"
    done = run_script("run", out, meshes / "3" / "box.msh", "--split", "--interface", "--tri", *_tris(meshes),
                      ranks=3)
    assert done.returncode == 0, done.stderr
    assert serial_interface["count_SA_iface"].sum() > 0
    assert_bitwise_equal(serial_interface, np.load(out))


def _one_message(done, message, rank, ranks):
    assert done.returncode != 0
    # the failing rank's message, agreed by every rank and printed once, by rank 0
    agreed = [line for line in done.stderr.splitlines() if line.endswith(f" (on rank {rank} of {ranks})")]
    assert len(agreed) == 1 and message in agreed[0], done.stderr
    assert "MPI_Abort" not in done.stderr + done.stdout  # an agreed error, not an abort


@pytest.mark.parametrize(("files", "ranks"), [(2, 3), (3, 2)])
def test_wrong_number_of_ranks_stops_every_rank(meshes, tmp_path, files, ranks):
    done = run_script("run", tmp_path / "x.npz", meshes / str(files) / "box.msh", "--split", ranks=ranks)
    _one_message(done, f"the set is split into {files} parts but this run has {ranks} ranks; "
                       f"run with mpiexec -n {files}", 0, ranks)


def test_missing_file_stops_every_rank(meshes, tmp_path):
    for name in ("box_1.msh", "box_3.msh"):  # box_2.msh is missing
        shutil.copy(meshes / "3" / name, tmp_path / name)
    done = run_script("run", tmp_path / "x.npz", tmp_path / "box.msh", "--split", ranks=3)
    _one_message(done, "box_2.msh: no such file", 1, 3)


def test_unsplit_file_stops_every_rank(meshes, tmp_path):
    done = run_script("run", tmp_path / "x.npz", meshes / "box.msh", "--split", ranks=2)
    _one_message(done, "box.msh is not split: no box_1.msh", 0, 2)
    shutil.copy(meshes / "box.msh", tmp_path / "whole_1.msh")  # an unsplit file named as a part
    done = run_script("run", tmp_path / "x.npz", tmp_path / "whole.msh", "--split", ranks=2)
    _one_message(done, "not a partitioned Gmsh file", 0, 2)


def test_a_part_without_mpiexec_says_how_to_run(meshes, tmp_path):
    done = run_script("run", tmp_path / "x.npz", meshes / "2" / "box.msh", "--split")
    assert done.returncode != 0
    assert "run with mpiexec -n 2 (one rank per file)" in done.stderr


def test_too_thin_a_halo_says_which_halo_to_use(meshes, tmp_path):
    """halo=2 keeps one layer beyond the file's tets: an owned interface triangle whose tet on the
    other side lies in another file needs its edge neighbours one layer further."""
    done = run_script("run", tmp_path / "x.npz", meshes / "3" / "box.msh", "--split", "--interface",
                      "--halo", "2", ranks=3)
    assert done.returncode != 0
    assert "load the mesh with ts.load_split_mesh(..., halo=3)" in done.stderr, done.stderr
    assert "MPI_Abort" not in done.stderr + done.stdout


def test_a_region_empty_in_every_part_is_refused(meshes, tmp_path):
    done = run_script("run", tmp_path / "x.npz", meshes / "2" / "box.msh", "--split", "--empty-compartment",
                      ranks=2)
    _one_message(done, "compartment 'nowhere': the selection is empty in every part of the mesh", 0, 2)
